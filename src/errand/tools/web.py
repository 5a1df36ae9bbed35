"""``fetch_url``: read a web page through the sandbox's egress proxy.

The request is made by ``curl`` inside the sandbox, so it takes exactly the path any command
takes: the session's allowlist, the user's approvals, the proxy's address checks and audit
log. Nothing about the network is decided here; a refused domain comes back as a tool error
quoting the proxy's reason. The body is turned into text on the host side (HTML through
:func:`~errand.tools.html_text.html_to_text`), and binary content is described, not shown.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from errand.sandbox import ExecResult, HostnameError, Verdict, normalize_host
from errand.tools.base import Action, ActionKind, ToolContext, ToolOutput
from errand.tools.errors import ToolError
from errand.tools.html_text import html_to_text
from errand.tools.shell import sandbox_timeout
from errand.tools.text_output import cut_line, decode_text, format_size, looks_binary

FETCH_SECONDS = 150
"""Longer than the proxy waits for the user to answer about an unlisted domain (120 s), so a
fetch that is waiting for approval is not given up by curl first; capped by the policy."""
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 24_000
MAX_URL_CHARS = 4_000
MAX_REDIRECTS = 5
_META = "\nERRAND-FETCH\t"
_CURL_TIMEOUT = 28
_CURL_TOO_LARGE = 63
_TEXT_TYPES = re.compile(r"^(text/|application/([\w.+-]*\+)?(json|xml|javascript|x-yaml|yaml)\b)")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)


class FetchUrlArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) URL.")


class FetchUrl:
    """Fetch a URL; HTML comes back as readable text."""

    name: ClassVar[str] = "fetch_url"
    description: ClassVar[str] = (
        "Fetch a web page or file over http(s); HTML is returned as text. "
        "Domains outside the allowlist need the user's approval."
    )
    Args: ClassVar[type[BaseModel]] = FetchUrlArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, FetchUrlArgs)
        host = checked_host(args.url)
        return Action(
            self.name, ActionKind.NETWORK, cut_line(f"fetch {args.url}", 200), domain=host
        )

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, FetchUrlArgs)
        checked_host(args.url)
        seconds = sandbox_timeout(ctx, FETCH_SECONDS)
        result = await ctx.sandbox.run(
            _curl_argv(args.url, seconds),
            call_id=ctx.call_id,
            timeout=seconds + 5,  # curl stops itself first and says so
            extra_mounts=list(ctx.extra_mounts),
        )
        if result.launch_failed is not None:
            raise ToolError("The sandbox could not be set up: " + result.launch_failed)
        refused = [d for d in result.network if d.verdict is Verdict.DENY]
        if refused:
            first = refused[0]
            raise ToolError(f"{first.host} was not reachable: {first.reason}")
        return _page(result, args.url, seconds)


def checked_host(url: str) -> str:
    """The normalised host of an http(s) URL.

    Raises:
        ToolError: another scheme, credentials in the URL, a bad host or port, spaces or
            control characters, or an over-long URL.
    """
    if len(url) > MAX_URL_CHARS:
        raise ToolError(f"The URL is longer than {MAX_URL_CHARS} characters.")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise ToolError("The URL contains spaces or control characters; percent-encode them.")
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsing the port is the check
    except ValueError as exc:
        raise ToolError(f"The URL does not parse: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise ToolError("Only http:// and https:// URLs can be fetched.")
    if "@" in parts.netloc:
        raise ToolError("URLs with credentials (user@host) are not fetched.")
    if not parts.hostname:
        raise ToolError("The URL has no host.")
    try:
        return normalize_host(parts.hostname)
    except HostnameError as exc:
        raise ToolError(f"The URL's host is not usable: {exc}.") from None


def _curl_argv(url: str, seconds: float) -> list[str]:
    # Metadata goes to stderr after a marker, so stdout is the body and nothing else.
    write_out = "%{stderr}" + _META + "%{http_code}\t%{content_type}\t%{url_effective}\n"
    return [
        "curl", "--silent", "--show-error", "--location",
        "--max-redirs", str(MAX_REDIRECTS),
        "--max-time", f"{seconds:g}",
        "--max-filesize", str(MAX_BODY_BYTES),
        "--proto", "=http,https", "--proto-redir", "=http,https",
        "--compressed",
        "--user-agent", "Errand-fetch/1",
        "--write-out", write_out,
        "--url", url,
    ]  # fmt: skip


def _page(result: ExecResult, url: str, seconds: float) -> ToolOutput:
    errors, _, meta = result.stderr.decode("utf-8", errors="replace").partition(_META)
    status, content_type, final_url = [*meta.strip("\n").split("\t"), "", "", ""][:3]
    if result.exit_code == _CURL_TIMEOUT or result.timed_out:
        raise ToolError(f"Fetching {url} took longer than {seconds:g} s and was stopped.")
    if result.exit_code == _CURL_TOO_LARGE:
        raise ToolError(f"{url} is larger than {format_size(MAX_BODY_BYTES)}; not fetched.")
    if result.exit_code != 0:
        reason = errors.strip().removeprefix("curl: ") or f"curl exit code {result.exit_code}"
        raise ToolError(f"Fetching {url} failed: {cut_line(reason, 500)}")
    body = result.stdout
    kind = content_type.split(";")[0].strip().lower()
    head = f"{final_url or url} ({status or '?'}, {kind or 'no content type'})"
    if (kind and not kind.startswith(_HTML_TYPES) and not _TEXT_TYPES.match(kind)) or looks_binary(
        body
    ):
        text = f"[binary content, {format_size(len(body))}; not shown]"
    else:
        charset = _CHARSET.search(content_type)
        text = decode_text(body, charset.group(1) if charset else None)
        if kind.startswith(_HTML_TYPES) or (
            not kind and text.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))
        ):
            text = html_to_text(text, final_url or url)
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + (
                f"\n[page cut: showing {MAX_TEXT_CHARS} of {len(text)} characters]"
            )
        if result.stdout_dropped:
            text += f"\n[{format_size(result.stdout_dropped)} more were dropped by the sandbox]"
    error = status.isdigit() and int(status) >= 400
    return ToolOutput(f"{head}\n\n{text}", is_error=error)
