"""Binary detection, decoding and cutting of what the model reads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from errand.tools.text_output import cut_line, cut_middle, decode_text, format_size, looks_binary


def test_text_with_a_few_odd_bytes_is_text_and_nul_bytes_are_binary() -> None:
    assert not looks_binary("naïve café\n".encode() * 100)
    assert not looks_binary(b"latin-1 caf\xe9 in a long line of otherwise plain text\n" * 20)
    assert not looks_binary(b"")
    assert looks_binary(b"text\x00more")
    assert looks_binary(bytes(range(128, 256)) * 10)


def test_a_multibyte_character_cut_at_the_sniff_boundary_is_still_text() -> None:
    assert not looks_binary(b"a" * 8191 + "é".encode())


def test_decode_honours_a_known_charset_and_ignores_an_unknown_one() -> None:
    assert decode_text(b"caf\xe9", "ISO-8859-1") == "café"
    assert decode_text("café".encode(), "no-such-charset") == "café"
    assert decode_text(b"\xff") == "\ufffd"


@given(st.text(max_size=3000), st.integers(min_value=80, max_value=2000))
def test_cut_middle_stays_within_the_limit_and_says_how_much_was_cut(text: str, limit: int) -> None:
    out = cut_middle(text, limit)
    if len(text) <= limit:
        assert out == text
        return
    assert len(out) <= limit
    cut = int(out.split("[... ")[1].split(" ")[0])
    note = f"\n[... {cut} characters cut ...]\n"
    assert len(out) - len(note) + cut == len(text)
    head, tail = out.split(note)
    assert text.startswith(head) and text.endswith(tail)


def test_cut_line_and_sizes_read_well() -> None:
    assert cut_line("abcdef", 3) == "abc… [3 more characters]"
    assert cut_line("abc", 3) == "abc"
    assert [format_size(n) for n in (5, 2048, 3 * 1024**2, 5 * 1024**3)] == [
        "5 bytes",
        "2.0 KiB",
        "3.0 MiB",
        "5.0 GiB",
    ]
