"""``errand run --browser`` end to end: a scripted model fills a two-page order form on a
local site through the real agent loop, sandbox, proxy and Chromium; the site checks what it
received, and the screenshot is kept as a task artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from browser.site import PORT, Site

pytestmark = [
    pytest.mark.browser,
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes and test hosts run as root here"),
]


def _call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


def order_script(origin: str) -> dict[str, object]:
    # Refs as Playwright numbers them on these pages: a fresh document after a navigation
    # that was not the first gets a frame prefix (f1).
    return {
        "version": 1,
        "turns": [
            {"text": "Opening the shop.", "tool_calls": [_call("browser_navigate", url=origin)]},
            {
                "expect_tool_results": [{"contains": 'textbox "Full name" [ref=e5]'}],
                "tool_calls": [
                    _call(
                        "browser_fill_form",
                        fields=[
                            {"ref": "e5", "value": "Ada Lovelace", "type": "textbox"},
                            {"ref": "e7", "value": "Italy", "type": "combobox"},
                        ],
                    )
                ],
            },
            {"tool_calls": [_call("browser_click", ref="e8", element="Next")]},
            {
                "expect_tool_results": [{"contains": "Hello Ada Lovelace."}],
                "tool_calls": [
                    _call("browser_click", ref="f1e6", element="newsletter checkbox"),
                    _call("browser_select_option", ref="f1e8", values=["Pro"]),
                    _call("browser_type", ref="f1e10", text="Ring twice"),
                ],
            },
            {"tool_calls": [_call("browser_click", ref="f1e11", element="Place order")]},
            {
                "expect_tool_results": [{"contains": "Order received for Ada Lovelace."}],
                "tool_calls": [_call("browser_take_screenshot")],
            },
            {
                "expect_tool_results": [{"contains": "screenshot-1.png"}],
                "text": "The order is placed.",
            },
        ],
    }


def test_a_scripted_model_places_an_order_through_errand_run(site: Site, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "errand.toml").write_text(
        f'[sandbox.network]\nallow_cidrs = ["{site.host.network}"]\n', encoding="utf-8"
    )
    script = tmp_path / "order.json"
    origin = f"http://{site.host.address}:{PORT}/form/1"
    script.write_text(json.dumps(order_script(origin)), encoding="utf-8")
    before = len(site.received())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "ERRAND_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "errand", "run", "place my order", "--browser",
         "--model", f"script:{script}", "--json"],
        cwd=tmp_path, env={**env, "ERRAND_HOME": str(home)},
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]

    posts = [r for r in site.received()[before:] if r.method == "POST"]
    assert [(p.path, p.body) for p in posts] == [
        ("/form/2", "name=Ada+Lovelace&country=it"),
        ("/form/done", "name=Ada+Lovelace&country=it&newsletter=yes&plan=pro&comment=Ring+twice"),
    ]
    (shot,) = (home / "artifacts").glob("*/screenshot-1.png")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    results = [e for e in events if e.get("type") == "tool.result"]
    assert len(results) == 8 and not any(e["payload"]["is_error"] for e in results), results
