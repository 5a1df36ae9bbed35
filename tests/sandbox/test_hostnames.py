"""Host names are normalised one way and anything unclean is refused, never guessed at."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from errand.sandbox.hostnames import (
    Authority,
    HostnameError,
    is_ip_literal,
    normalize_host,
    parse_authority,
    parse_domain_pattern,
    parse_port,
)

ALLOWED = parse_domain_pattern("example.com")
ALLOWED_SUBDOMAINS = parse_domain_pattern("*.example.com")


def verdict(name: str) -> str:
    """What a policy allowing example.com and *.example.com makes of a raw name."""
    try:
        host = normalize_host(name)
    except HostnameError:
        return "refused"
    if ALLOWED.matches(host) or ALLOWED_SUBDOMAINS.matches(host):
        return "allowed"
    return "other"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_normalises_case_trailing_dot_unicode_and_ip_literals(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "exa\x00mple.com",
        "example.com\x00.evil.test",
        "exa mple.com",
        "example.com\t",
        "example.com\n",
        "exa%6dple.com",
        "user@example.com",
        "example.com/evil",
        "example.com\\evil",
        "example.com:80",
        "example..com",
        "example.com..",
        ".example.com",
        "-example.com",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "*.example.com",
        "exam_ple.com",
        "[127.0.0.1]",
        "[example.com]",
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
    ],
)
def test_refuses_names_that_are_not_clean(raw: str) -> None:
    with pytest.raises(HostnameError):
        normalize_host(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f000001",  # ... as hex
        "017700000001",  # ... as octal
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.1",
        "127.0.1",
        "127.000.000.001",
        "0x7f.1",
        "1.2.3.0x4",
        "evil.test.2130706433",
    ],
)
def test_numeric_ip_spellings_are_never_names(raw: str) -> None:
    """Resolvers read these as IPv4 addresses; the proxy must not treat them as domains."""
    with pytest.raises(HostnameError):
        normalize_host(raw)


def test_canonical_ip_literals_are_recognised() -> None:
    assert is_ip_literal(normalize_host("192.0.2.1"))
    assert is_ip_literal(normalize_host("[2001:db8::1]"))
    assert not is_ip_literal(normalize_host("example.com"))


@pytest.mark.parametrize(
    "pattern", ["*", "*.com", "*.co.uk", "a.*.com", "ex*ample.com", "10.0.0.1"]
)
def test_domain_patterns_refuse_wildcards_over_public_suffixes_and_ips(pattern: str) -> None:
    with pytest.raises(HostnameError):
        parse_domain_pattern(pattern)


def test_wildcard_pattern_covers_subdomains_only() -> None:
    assert ALLOWED_SUBDOMAINS.matches("a.example.com")
    assert ALLOWED_SUBDOMAINS.matches("a.b.example.com")
    assert not ALLOWED_SUBDOMAINS.matches("example.com")
    assert not ALLOWED_SUBDOMAINS.matches("evilexample.com")
    assert str(parse_domain_pattern("*.Example.COM.")) == "*.example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com:443", Authority("example.com", 443)),
        ("EXAMPLE.com.:8080", Authority("example.com", 8080)),
        ("[2001:db8::1]:443", Authority("2001:db8::1", 443)),
        ("[::ffff:10.1.2.3]:80", Authority("10.1.2.3", 80)),
        ("example.com", Authority("example.com", 80)),
    ],
)
def test_authorities_parse_to_normalised_host_and_port(raw: str, expected: Authority) -> None:
    assert parse_authority(raw, default_port=80) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "example.com:80@evil.test",
        "user@example.com:80",
        "user:pass@example.com",
        "example.com:80:81",
        "example.com:",
        "example.com:0",
        "example.com:65536",
        "example.com:+80",
        "example.com:-1",
        "example.com: 80",
        "example.com:0x50",
        "example.com:٨٠",  # Arabic-Indic digits
        "example.com:080000",
        "2001:db8::1",
        "[2001:db8::1]x",
        "[2001:db8::1",
        "[10.0.0.1]:80",
        "example.com:80/",
        ":80",
    ],
)
def test_authorities_that_do_not_parse_cleanly_are_refused(raw: str) -> None:
    with pytest.raises(HostnameError):
        parse_authority(raw, default_port=80)


def test_authority_without_port_needs_a_default() -> None:
    with pytest.raises(HostnameError):
        parse_authority("example.com")
    assert str(parse_authority("[::1]:8080")) == "[::1]:8080"
    assert parse_port("65535") == 65535


_label = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)


@settings(max_examples=200)
@given(
    sub=st.lists(_label, max_size=3),
    flips=st.lists(st.booleans(), min_size=40, max_size=40),
    dot=st.booleans(),
)
def test_case_and_trailing_dot_variants_get_the_plain_verdict(
    sub: list[str], flips: list[bool], dot: bool
) -> None:
    plain = ".".join([*sub, "example", "com"])
    variant = "".join(
        ch.upper() if flip else ch for ch, flip in zip(plain, flips * 10, strict=False)
    )
    variant += "." if dot else ""
    assert verdict(variant) == verdict(plain) == "allowed"


@settings(max_examples=200)
@given(name=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30))
def test_unicode_spellings_get_the_verdict_of_their_punycode(name: str) -> None:
    try:
        normalised = normalize_host(name)
    except HostnameError:
        return
    assert normalize_host(normalised) == normalised
    assert verdict(normalised) == verdict(name)
    assert normalised.isascii()


@settings(max_examples=300)
@given(
    prefix=st.text(max_size=12),
    junk=st.sampled_from(["\x00", "%", "@", "/", "\\", " ", "\r", "\n", "\t", "\x7f", "?", "#"]),
    suffix=st.text(max_size=12),
)
def test_garbage_never_normalises_to_an_allowed_name(prefix: str, junk: str, suffix: str) -> None:
    raw = prefix + junk + suffix
    assert verdict(raw) == "refused"
    with pytest.raises(HostnameError):
        normalize_host(f"example.com{junk}{suffix}")


@settings(max_examples=200)
@given(number=st.integers(min_value=0, max_value=2**32 - 1), form=st.sampled_from("dox"))
def test_numeric_spellings_of_any_address_are_refused(number: int, form: str) -> None:
    spelled = {"d": str(number), "o": "0" + format(number, "o"), "x": hex(number)}[form]
    with pytest.raises(HostnameError):
        normalize_host(spelled)


@settings(max_examples=200)
@given(octets=st.lists(st.integers(0, 255), min_size=4, max_size=4))
def test_dotted_quads_are_canonical_ip_literals(octets: list[int]) -> None:
    text = ".".join(map(str, octets))
    assert normalize_host(text) == text
    assert is_ip_literal(text)
    padded = ".".join(f"0{o}" for o in octets)
    with pytest.raises(HostnameError):
        normalize_host(padded)
