"""Remote MCP servers (streamable HTTP), reached only through an egress proxy.

Errand itself makes a remote server's connection (the SDK's streamable HTTP client over
httpx2), so nothing runs in a sandbox; instead every request goes through an egress proxy of
the server's own (:func:`errand.sandbox.host_egress`), which applies the same rules as for a
sandboxed server: its ``allow_domains`` and ``allow_cidrs``, the task's denied domains, and
never loopback, link-local, metadata or this computer's own addresses. The host's proxy
settings and ``.netrc`` are ignored. Each decision is recorded as the sandbox's are, with the
call id ``mcp-<server>``; a refusal becomes the reason the server failed.

Headers come from the server's ``headers``, with its secrets filled in; their values never
appear in a message or a log.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx2

from errand.mcp.config import McpConfigError, ServerConfig
from errand.mcp.connection import Launcher, RemoteLink, ServerFailed
from errand.sandbox import (
    DecisionSink,
    NetworkDecision,
    Resolver,
    SandboxPolicy,
    Verdict,
    host_egress,
)

_MIN_READ_TIMEOUT = 300.0
"""Seconds a response stream may stay silent: the SDK holds one open for server messages."""
_PROXY_REASON = "x-errand-reason"
_MAX_PROBLEMS = 8


@dataclass(slots=True)
class _Problems:
    """What went wrong with requests, newest last (a few kept), each the end of a sentence
    that starts with the server's name: the proxy's refusals and failures, and the error
    statuses the server answered a message with."""

    reasons: list[str] = field(default_factory=list)

    def note(self, reason: str) -> None:
        self.reasons.append(reason)
        del self.reasons[:-_MAX_PROBLEMS]

    def decided(self, decision: NetworkDecision) -> None:
        if decision.verdict is Verdict.DENY:
            self.note(f"could not be reached through the egress proxy: {decision.reason}")

    async def answered(self, response: httpx2.Response) -> None:
        if response.status_code < 400:
            return
        # The proxy says why it could not forward a plain-HTTP request (it could not connect,
        # for instance) in this header of its own error response.
        reason = response.headers.get(_PROXY_REASON)
        if reason:
            detail = " ".join(reason.split())[:300]
            self.note(f"could not be reached through the egress proxy: {detail}")
        elif response.request.method == "POST":
            phrase = " ".join(response.reason_phrase.split())[:60]
            self.note(f"answered HTTP {response.status_code} {phrase}".rstrip())


def proxied(
    config: ServerConfig,
    policy: SandboxPolicy,
    *,
    on_decision: DecisionSink | None = None,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
) -> Launcher:
    """A launcher that opens the way to ``config``'s remote server through an egress proxy
    under ``policy.network`` (``resolver`` replaces the host's name resolution: tests)."""

    @contextlib.asynccontextmanager
    async def launch() -> AsyncIterator[RemoteLink]:
        if config.url is None:
            raise ServerFailed(f"MCP server {config.name} has no url")
        try:
            headers = config.header_values(environ)
        except McpConfigError as exc:
            raise ServerFailed(str(exc)) from exc
        problems = _Problems()

        def decided(decision: NetworkDecision) -> None:
            problems.decided(decision)
            if on_decision is not None:
                on_decision(decision)

        timeout = httpx2.Timeout(
            config.start_timeout, read=max(config.call_timeout, _MIN_READ_TIMEOUT)
        )
        async with (
            host_egress(
                policy.session,
                policy.network,
                call_id=f"mcp-{config.name}",
                on_decision=decided,
                resolver=resolver,
            ) as proxy,
            httpx2.AsyncClient(
                proxy=proxy,
                trust_env=False,
                headers=headers,
                timeout=timeout,
                event_hooks={"response": [problems.answered]},
            ) as client,
        ):
            yield RemoteLink(config.url, client, problems.reasons)

    return launch
