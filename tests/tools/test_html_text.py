"""HTML to readable text: what is kept, what is dropped."""

from __future__ import annotations

from errand.tools.html_text import html_to_text


def test_scripts_styles_and_other_non_content_are_dropped() -> None:
    html = """<html><head><title>T</title><style>p { color: red }</style>
    <script>alert("x")</script></head><body><p>Visible</p>
    <noscript>enable js</noscript><svg><text>drawn</text></svg>
    <script type="module">let a = "<p>fake</p>";</script></body></html>"""
    text = html_to_text(html)
    assert text == "T\n\nVisible"


def test_entities_are_decoded() -> None:
    assert html_to_text("<p>Fish &amp; chips &lt;3 &eacute;t&#233; &#x263A;</p>") == (
        "Fish & chips <3 été ☺"
    )


def test_headings_paragraphs_and_lists_keep_their_structure() -> None:
    html = (
        "<h1>Title</h1><p>First   paragraph\nwrapped.</p><p>Second.</p>"
        "<h2>Part</h2><ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>"
        "<p>line<br>break</p>"
    )
    assert html_to_text(html) == (
        "# Title\n\nFirst paragraph wrapped.\n\nSecond.\n\n## Part\n\n"
        "- one\n- two\n  - nested\n\nline\nbreak"
    )


def test_links_keep_their_text_and_absolute_url() -> None:
    html = (
        '<p>See <a href="/docs/install">the install guide</a> or '
        '<a href="https://other.test/x">https://other.test/x</a>.'
        ' <a href="#top">top</a> <a href="javascript:void(0)">js</a></p>'
    )
    assert html_to_text(html, "https://example.test/start/page") == (
        "See the install guide (https://example.test/docs/install) or https://other.test/x. top js"
    )


def test_a_base_element_sets_where_links_resolve() -> None:
    html = '<head><base href="https://cdn.test/root/"></head><a href="a.html">A</a>'
    assert html_to_text(html, "https://example.test/") == "A (https://cdn.test/root/a.html)"


def test_preformatted_text_keeps_its_whitespace() -> None:
    html = "<p>Code:</p><pre>def f():\n    return  1\n</pre><p>after</p>"
    assert html_to_text(html) == "Code:\n\ndef f():\n    return  1\n\nafter"


def test_tables_become_lines_of_cells() -> None:
    html = "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
    assert html_to_text(html) == "a | b\n1 | 2"


def test_broken_markup_does_not_lose_text() -> None:
    assert html_to_text("<div><p>unclosed <b>bold<p>next</div>tail") == (
        "unclosed bold\n\nnext\n\ntail"
    )
