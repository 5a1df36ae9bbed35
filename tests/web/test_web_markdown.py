"""The app's pure logic (Markdown renderer, SSE parser, domain input), run in the browser on
the page ``errand serve`` serves.

Agent output is untrusted: nothing in it may run or become markup beyond the safe subset.
These tests render a corpus of injection attempts with the page's CSP *bypassed*, so that
if the renderer let markup through, its handlers would really fire; the strict CSP is a
second wall, not the one under test here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from web.web_harness import DialogLog, GatewayProcess, new_phone_context

pytestmark = pytest.mark.browser

XSS_CORPUS = r"""
<script>window.__xss.push('script')</script>
<img src=x onerror="window.__xss.push('img')">
<svg onload="window.__xss.push('svg')"><circle r="1"/></svg>
<svg><script>window.__xss.push('svg-script')</script></svg>
<iframe src="javascript:window.__xss.push('iframe')"></iframe>
<a href="javascript:window.__xss.push('raw-a')">raw link</a>
<details open ontoggle="window.__xss.push('details')">x</details>
[click me](javascript:window.__xss.push('md-link'))
[x](javascript:alert(1))
[spaced]( javascript:alert(1) )
[mixed case](JaVaScRiPt:alert(1))
[tabbed](java	script:alert(1))
[entity](javascript&#58;alert(1))
[encoded](%6Aavascript:alert(1))
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)
[vb](vbscript:msgbox(1))
[relative](/api/v1/devices)
![image](javascript:alert(1))
![tracker](https://tracker.example/pixel.png)
`<img src=x onerror="window.__xss.push('code-span')">`
**<b onmouseover="window.__xss.push('bold')">bold</b>**
<style>body{display:none}</style>
<math><mtext><img src=x onerror="window.__xss.push('math')"></mtext></math>

```html
<script>window.__xss.push('fenced')</script>
```

- list <img src=x onerror="window.__xss.push('list')">
> quote <svg onload="window.__xss.push('quote')">
[![nested](https://example.com/a.png)](javascript:alert(1))
[good](https://example.com/safe "title") and <https://example.org/auto>
"""


@pytest.fixture()
def page(browser: Browser, gateway: GatewayProcess) -> Iterator[Page]:
    context = new_phone_context(browser, bypass_csp=True)
    page = context.new_page()
    page.goto(gateway.url("/"))
    page.wait_for_selector("#app > *")
    try:
        yield page
    finally:
        context.close()


def _render(page: Page, text: str) -> None:
    dialogs = DialogLog()
    page.on("dialog", dialogs)
    page.evaluate(
        """async (text) => {
            window.__xss = [];
            const { renderMarkdown } = await import('/markdown.js');
            const box = document.createElement('div');
            box.id = 'rendered';
            box.appendChild(renderMarkdown(text));
            document.body.appendChild(box);
        }""",
        text,
    )
    # Give any handler (onload, onerror, a timer) the chance to fire.
    page.wait_for_timeout(300)
    assert dialogs.messages == []


def test_injection_corpus_never_runs_and_never_becomes_markup(page: Page) -> None:
    _render(page, XSS_CORPUS)

    assert page.evaluate("window.__xss") == []
    found = page.evaluate(
        """() => {
            const box = document.getElementById('rendered');
            const all = [...box.querySelectorAll('*')];
            return {
                tags: [...new Set(all.map((el) => el.tagName.toLowerCase()))].sort(),
                handlers: all.flatMap((el) => [...el.attributes].map((a) => a.name))
                    .filter((name) => name.startsWith('on') || name === 'style' || name === 'src'),
                hrefs: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
                rels: [...box.querySelectorAll('a')].map((a) => a.rel + '|' + a.target),
                text: box.textContent,
            };
        }"""
    )
    allowed = {"p", "br", "em", "strong", "del", "code", "pre", "ul", "ol", "li", "blockquote", "a"}
    allowed |= {"h3", "h4", "h5", "h6", "hr"}
    assert set(found["tags"]) <= allowed, found["tags"]
    assert found["handlers"] == []
    # An image becomes a plain link to it: nothing loads by itself.
    assert found["hrefs"] == [
        "https://tracker.example/pixel.png",
        "https://example.com/safe",
        "https://example.org/auto",
    ]
    assert set(found["rels"]) == {"noopener noreferrer|_blank"}
    # The would-be markup is still shown to the user, as text.
    assert "<script>window.__xss.push('script')</script>" in found["text"]
    assert "click me" in found["text"]


def test_the_safe_subset_renders(page: Page) -> None:
    _render(
        page,
        "# Title\n\nSome *emphasis*, **strong** and `code`.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n```\nprint('hi')\n```\n\n"
        "Mail [me](mailto:me@example.com).",
    )
    structure = page.evaluate(
        """() => {
            const box = document.getElementById('rendered');
            return {
                heading: box.querySelector('h3')?.textContent,
                em: box.querySelector('em')?.textContent,
                strong: box.querySelector('strong')?.textContent,
                code: box.querySelector('p code')?.textContent,
                bullets: [...box.querySelectorAll('ul li')].map((li) => li.textContent),
                ordered: [...box.querySelectorAll('ol li')].map((li) => li.textContent),
                pre: box.querySelector('pre code')?.textContent,
                mail: box.querySelector('a')?.getAttribute('href'),
            };
        }"""
    )
    assert structure == {
        "heading": "Title",
        "em": "emphasis",
        "strong": "strong",
        "code": "code",
        "bullets": ["one", "two"],
        "ordered": ["first", "second"],
        "pre": "print('hi')",
        "mail": "mailto:me@example.com",
    }


def test_sse_parser_gives_the_same_events_however_the_stream_is_cut(page: Page) -> None:
    result = page.evaluate(
        r"""async () => {
            const { SseParser } = await import('/sse.js');
            const stream = ': keepalive\r\n\r\n'
                + 'id: 1\r\nevent: message.delta\r\ndata: {"a":1}\r\n\r\n'
                + 'id: 2\nevent: message\ndata: line one\ndata: line two\n\n'
                + 'data: no id\r\r: comment\n\nid: 3\nevent: x\n\n';
            const whole = new SseParser().push(stream);
            const mismatches = [];
            for (let cut = 1; cut < stream.length; cut += 1) {
                const parser = new SseParser();
                const events = [
                    ...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut)),
                ];
                if (JSON.stringify(events) !== JSON.stringify(whole)) mismatches.push(cut);
            }
            return { whole, mismatches };
        }"""
    )
    assert result["mismatches"] == []
    assert result["whole"] == [
        {"id": "1", "event": "message.delta", "data": '{"a":1}'},
        {"id": "2", "event": "message", "data": "line one\nline two"},
        {"id": "2", "event": "message", "data": "no id"},
    ]


def test_hostile_markdown_renders_in_bounded_time(page: Page) -> None:
    # Unclosed delimiters and brackets by the tens of thousands: linear work, not quadratic.
    elapsed = page.evaluate(
        """async () => {
            const { renderMarkdown } = await import('/markdown.js');
            const inputs = ['*a '.repeat(30000), '['.repeat(90000), '`a '.repeat(30000),
                            '_x '.repeat(30000), '[a](' .repeat(20000)];
            const started = performance.now();
            for (const text of inputs) renderMarkdown(text);
            return performance.now() - started;
        }"""
    )
    assert elapsed < 10_000


def test_websites_typed_by_hand_become_host_names(page: Page) -> None:
    parsed = page.evaluate(
        """async (typed) => {
            const { parseDomains } = await import('/new-task.js');
            return parseDomains(typed);
        }""",
        "Example.com, https://docs.python.org/3/ \n api.github.com example.com",
    )
    assert parsed == ["example.com", "docs.python.org", "api.github.com"]


def test_tables_render_and_their_cells_stay_text(page: Page) -> None:
    _render(
        page,
        "Prices:\n\n| Item | Price |\n|:-----|------:|\n| Tea | **3** |\n"
        "| <img src=x onerror=\"window.__xss.push('cell')\"> | a \\| b |\n\nAfter.",
    )
    box = page.locator("#rendered")
    assert box.locator("table th").all_inner_texts() == ["Item", "Price"]
    assert box.locator("table tbody tr").count() == 2
    assert box.locator("td strong").inner_text() == "3"
    assert box.locator("td.align-right").count() == 2
    assert box.locator("td").nth(3).inner_text() == "a | b"
    assert box.locator("img").count() == 0
    assert page.evaluate("window.__xss") == []
    assert box.locator("p").all_inner_texts() == ["Prices:", "After."]


def test_streaming_text_holds_back_an_unfinished_delimiter(page: Page) -> None:
    shown = page.evaluate(
        """async () => {
            const { settledMarkdown } = await import('/task-view.js');
            const cases = ['Done **bo', 'Done **bold**', 'run `ls', 'a\\n```py\\nx = 1'];
            return cases.map(settledMarkdown);
        }"""
    )
    assert shown == ["Done bo", "Done **bold**", "run ls", "a\n```py\nx = 1\n```"]
