"""fetch_url: through the sandbox's egress proxy, with its verdicts and reasons.

Refusals need no network at all (the proxy decides before any lookup). Successful fetches
use a namespace test host (``tests/nethost.py``) serving files, reached under a test name
that the session allows explicitly.
"""

from __future__ import annotations

import ipaddress
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from errand.sandbox.addresses import IPAddress
from errand.sandbox.policy import NetworkPolicy
from errand.sandbox.proxy import Resolver
from errand.tools import Action, ActionKind
from errand.tools.web import MAX_TEXT_CHARS
from nethost import TestHost, nethost_or_skip
from tools.tool_harness import Harness, MakeHarness

_PORT = 8081
_READY_SECONDS = 10.0


async def test_a_domain_outside_the_allowlist_is_refused_with_the_proxys_reason(
    harness: Harness,
) -> None:
    for url in ("https://example.com/page", "http://example.com/page"):
        out = await harness.call("fetch_url", url=url)
        assert out.is_error, url
        assert out.content == (
            "example.com was not reachable: no domains are allowed for this session, "
            "so not example.com"
        )


async def test_a_denied_domain_is_refused_even_when_others_are_allowed(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(
        network=NetworkPolicy(allow_domains=("*.example.com",), deny_domains=("bad.example.com",))
    )
    out = await harness.call("fetch_url", url="https://bad.example.com/")
    assert out.is_error
    assert out.content.startswith("bad.example.com was not reachable: ")
    assert "denied" in out.content


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("file:///etc/passwd", "Only http:// and https://"),
        ("ftp://example.com/", "Only http:// and https://"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http:///path", "no host"),
        ("http://example.com:99999/", "does not parse"),
        ("http://2130706433/", "not usable"),
    ],
)
async def test_bad_urls_are_refused_before_anything_runs(
    harness: Harness, url: str, complaint: str
) -> None:
    out = await harness.call("fetch_url", url=url)
    assert out.is_error
    assert complaint in out.content


async def test_fetch_describes_as_a_network_action_on_the_normalised_host(
    harness: Harness,
) -> None:
    action = harness.builtin.describe(
        harness.call_of("fetch_url", url="https://Docs.Example.COM./a?b=c"), harness.ctx
    )
    assert isinstance(action, Action)
    assert (action.kind, action.domain) == (ActionKind.NETWORK, "docs.example.com")


# -- through a namespace test host -----------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[TestHost, Path]]:
    root = tmp_path / "site"
    root.mkdir()
    with nethost_or_skip(http_server=False) as host:
        server = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, sys.executable, "-u", "-m", "http.server",
             str(_PORT), "--bind", str(host.address), "--directory", str(root)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            ready, _, _ = select.select([server.stdout], [], [], _READY_SECONDS)
            if not ready or "Serving HTTP" not in server.stdout.readline():
                pytest.skip("the test host's file server did not start")
            yield host, root
        finally:
            server.kill()
            server.communicate(timeout=10)


def _resolver(host: TestHost) -> Resolver:
    async def resolve(name: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(str(host.address))]

    return resolve


@pytest.fixture
async def web(make_harness: MakeHarness, site: tuple[TestHost, Path]) -> tuple[Harness, Path]:
    host, root = site
    harness = await make_harness(
        network=NetworkPolicy(allow_domains=("pages.test",), allow_cidrs=(host.network,)),
        resolver=_resolver(host),
    )
    return harness, root


@pytest.mark.netns
async def test_an_allowed_html_page_comes_back_as_text(web: tuple[Harness, Path]) -> None:
    harness, root = web
    (root / "index.html").write_text(
        "<html><head><title>Home</title><script>track()</script></head>"
        '<body><h1>Welcome</h1><p>Read <a href="/docs.html">the docs</a>.</p></body></html>',
        encoding="utf-8",
    )
    out = await harness.call("fetch_url", url=f"http://pages.test:{_PORT}/index.html")
    assert not out.is_error, out.content
    assert out.content == (
        f"http://pages.test:{_PORT}/index.html (200, text/html)\n\nHome\n\n# Welcome\n\n"
        f"Read the docs (http://pages.test:{_PORT}/docs.html)."
    )


@pytest.mark.netns
async def test_redirects_are_followed_and_errors_flagged(web: tuple[Harness, Path]) -> None:
    harness, root = web
    (root / "sub").mkdir()
    (root / "sub" / "notes.txt").write_text("plain words\n", encoding="utf-8")
    listing = await harness.call("fetch_url", url=f"http://pages.test:{_PORT}/sub")
    assert listing.content.startswith(f"http://pages.test:{_PORT}/sub/ (200, text/html)")
    assert "notes.txt" in listing.content
    text = await harness.call("fetch_url", url=f"http://pages.test:{_PORT}/sub/notes.txt")
    assert text.content.endswith("(200, text/plain)\n\nplain words\n")
    missing = await harness.call("fetch_url", url=f"http://pages.test:{_PORT}/nope")
    assert missing.is_error
    assert "(404, text/html)" in missing.content


@pytest.mark.netns
async def test_binary_content_is_described_and_long_pages_are_cut(
    web: tuple[Harness, Path],
) -> None:
    harness, root = web
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    image = await harness.call("fetch_url", url=f"http://pages.test:{_PORT}/logo.png")
    assert image.content.endswith("(200, image/png)\n\n[binary content, 1.0 KiB; not shown]")
    (root / "long.txt").write_text("word " * 10_000, encoding="utf-8")
    long = await harness.call("fetch_url", url=f"http://pages.test:{_PORT}/long.txt")
    assert f"[page cut: showing {MAX_TEXT_CHARS} of 50000 characters]" in long.content


@pytest.mark.netns
@pytest.mark.parametrize("approve", [True, False])
async def test_an_unlisted_domain_goes_through_the_users_approval(
    make_harness: MakeHarness, site: tuple[TestHost, Path], approve: bool
) -> None:
    host, root = site
    (root / "a.txt").write_text("approved content\n", encoding="utf-8")
    asked: list[tuple[str, int, str]] = []

    async def ask(name: str, port: int, call_id: str) -> bool:
        asked.append((name, port, call_id))
        return approve

    harness = await make_harness(
        # The proxy asks only when something is allowed: an empty allowlist denies outright.
        network=NetworkPolicy(allow_domains=("pages.test",), allow_cidrs=(host.network,)),
        resolver=_resolver(host),
        ask=ask,
    )
    call = harness.call_of("fetch_url", url=f"http://new.test:{_PORT}/a.txt")
    out = await harness.toolbox.invoke(call, harness.ctx)
    assert asked == [("new.test", _PORT, call.id)]
    assert out.is_error is not approve
    if approve:
        assert out.content.endswith("approved content\n")
    else:
        assert out.content.startswith("new.test was not reachable: ")
