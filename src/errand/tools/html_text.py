"""Readable text from HTML, with the standard library's tolerant parser.

Scripts, styles and other non-content elements are dropped; headings become ``#`` lines,
block elements paragraph breaks, list items ``-`` lines, and links ``text (url)`` with the
URL made absolute. Entities are decoded. The output is for a model to read, not a faithful
rendering: it keeps what carries meaning and little else.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

_SKIPPED = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "math",
        "iframe",
        "object",
        "canvas",
        "select",
        "button",
    }
)
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "main",
        "ul",
        "ol",
        "dl",
        "table",
        "blockquote",
        "pre",
        "form",
        "fieldset",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "hr",
        "body",
        "html",
    }
)
_LINES = frozenset({"tr", "dt", "dd", "caption"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)
_SPACE = re.compile(r"\s+")
_MAX_BLANK = re.compile(r"\n{3,}")


def html_to_text(html: str, base_url: str | None = None) -> str:
    """Return the readable text of ``html``; relative links are resolved against
    ``base_url`` (or the page's own ``<base href>``)."""
    parser = _TextParser(base_url)
    parser.feed(html)
    parser.close()
    return parser.text()


class _TextParser(HTMLParser):
    def __init__(self, base_url: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self._base = base_url
        self._chunks: list[str] = []
        self._pending_break = 0
        self._at_line_start = True
        self._skip_depth = 0
        self._pre_depth = 0
        self._list_depth = 0
        self._links: list[tuple[str | None, int]] = []
        self._in_title = False
        self._title: list[str] = []

    # -- parser callbacks -------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_depth:
            if tag in _SKIPPED:
                self._skip_depth += 1
            return
        attributes = dict(attrs)
        if tag in _SKIPPED:
            self._skip_depth = 1
        elif tag == "title":
            self._in_title = True
        elif tag == "base" and attributes.get("href"):
            self._base = urljoin(self._base or "", attributes["href"] or "")
        elif tag in _HEADINGS:
            self._break(2)
            self._emit("#" * _HEADINGS[tag] + " ")
        elif tag in ("ul", "ol"):
            self._list_depth += 1
            self._break(1 if self._list_depth > 1 else 2)
        elif tag == "li":
            self._break(1)
            self._emit("  " * max(self._list_depth - 1, 0) + "- ")
        elif tag == "br":
            self._break(1, force=True)
        elif tag in ("td", "th"):
            if not self._at_line_start and not self._pending_break:
                self._emit(" | ")
        elif tag == "img":
            alt = (attributes.get("alt") or "").strip()
            if alt:
                self._text(alt)
        elif tag == "a":
            self._links.append((attributes.get("href"), len(self._chunks)))
        elif tag in _BLOCKS or tag in _LINES:
            if tag == "pre":
                self._pre_depth += 1
            self._break(1 if tag in _LINES else 2)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip_depth:
            if tag in _SKIPPED:
                self._skip_depth -= 1
            return
        if tag == "title":
            self._in_title = False
        elif tag in _HEADINGS:
            self._break(2)
        elif tag in ("ul", "ol"):
            self._list_depth = max(self._list_depth - 1, 0)
            self._break(2 if self._list_depth == 0 else 1)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())
        elif tag in _BLOCKS or tag in _LINES:
            if tag == "pre":
                self._pre_depth = max(self._pre_depth - 1, 0)
            self._break(1 if tag in _LINES else 2)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self._title.append(data)
        elif self._pre_depth:
            self._flush_break()
            self._chunks.append(data)
            self._at_line_start = data.endswith("\n")
        else:
            self._text(data)

    # -- output -----------------------------------------------------------------------------

    def text(self) -> str:
        body = "".join(self._chunks)
        body = "\n".join(line.rstrip() for line in body.split("\n"))
        body = _MAX_BLANK.sub("\n\n", body).strip("\n")
        title = _SPACE.sub(" ", "".join(self._title)).strip()
        if title and not body.startswith(f"# {title}"):
            return f"{title}\n\n{body}" if body else title
        return body

    def _text(self, data: str) -> None:
        text = _SPACE.sub(" ", data)
        if self._at_line_start or self._pending_break:
            text = text.lstrip()
        elif self._chunks and self._chunks[-1].endswith(" ") and text.startswith(" "):
            text = text[1:]
        if text:
            self._emit(text)

    def _emit(self, text: str) -> None:
        self._flush_break()
        self._chunks.append(text)
        self._at_line_start = False

    def _break(self, lines: int, *, force: bool = False) -> None:
        if self._chunks or force:
            self._pending_break = max(self._pending_break, lines)
        if force and self._pending_break:
            self._flush_break()

    def _flush_break(self) -> None:
        if self._pending_break:
            if self._chunks:
                self._chunks.append("\n" * self._pending_break)
            self._pending_break = 0
            self._at_line_start = True

    def _close_link(self, href: str | None, start: int) -> None:
        label = "".join(self._chunks[start:]).strip()
        if not href or not label or href.startswith(("#", "javascript:")):
            return
        url = urljoin(self._base, href) if self._base else href
        if url not in label:
            self._emit(f" ({url})")
