"""Turning bytes and long text into what the model reads.

Binary detection and decoding for file and web content, and the cuts that keep output within
a budget while saying exactly how much was left out.
"""

from __future__ import annotations

import codecs
import contextlib

SNIFF_BYTES = 8192
"""How much of the start of some content decides whether it is text."""
_MAX_REPLACEMENT_SHARE = 0.1


def looks_binary(data: bytes) -> bool:
    """Whether ``data`` is better not shown as text: a NUL byte near the start, or mostly
    not UTF-8 there (a few stray bytes in a text file do not count)."""
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return True
    if not head:
        return False
    # Not final: a multibyte character cut at the sniff boundary is held back, not counted.
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(head, final=False)
    return text.count("\ufffd") > _MAX_REPLACEMENT_SHARE * max(len(text), 1)


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Decode with ``charset`` when it names a known codec, else UTF-8; bad bytes become U+FFFD."""
    encoding = "utf-8"
    if charset:
        with contextlib.suppress(LookupError):
            encoding = codecs.lookup(charset.strip().strip("\"'")).name
    return data.decode(encoding, errors="replace")


def cut_middle(text: str, limit: int) -> str:
    """``text`` itself when it fits in ``limit`` characters; else its head and tail around a
    note ``[... N characters cut ...]`` (the note is included in the limit when it can be)."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    note = f"\n[... {cut} characters cut ...]\n"
    keep = max(limit - len(note), 0)
    cut = len(text) - keep
    note = f"\n[... {cut} characters cut ...]\n"
    head = keep - keep // 3
    tail = keep - head
    return text[:head] + note + (text[len(text) - tail :] if tail else "")


def cut_line(line: str, limit: int) -> str:
    """One line cut to ``limit`` characters, saying how many more it had."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… [{len(line) - limit} more characters]"


def format_size(size: int) -> str:
    """A byte count as a person reads it: ``512 bytes``, ``3.2 KiB``, ``1.0 MiB``."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"
