"""The egress proxy, driven over real sockets with raw bytes, curl and httpx.

The proxy listens on a loopback socket made by the test. Loopback is never an allowed target,
so tests that need a reachable upstream use a namespace test host (``tests/nethost.py``); the
rest only ever see refusals, and no traffic leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import os
import shutil
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errand.sandbox.addresses import HostAddresses, IPAddress
from errand.sandbox.audit import AskUser, NetworkDecision, Verdict
from errand.sandbox.policy import NetworkPolicy
from errand.sandbox.proxy import EgressProxy, ProxyLimits
from nethost import TestHost, nethost_or_skip

FAST = ProxyLimits(head_timeout=1.0, resolve_timeout=1.0, connect_timeout=2.0, ask_timeout=1.0)
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


@dataclass
class RecordingResolver:
    """Answers every name with fixed addresses and remembers what it was asked."""

    addresses: list[IPAddress] = field(default_factory=lambda: [LOOPBACK])
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return list(self.addresses)


@dataclass
class Running:
    proxy: EgressProxy
    port: int
    user: str
    password: str
    resolver: RecordingResolver
    seen: list[NetworkDecision]

    @property
    def auth(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Proxy-Authorization: Basic {token}\r\n"

    @property
    def http_url(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}"

    def last(self) -> NetworkDecision:
        assert self.seen, "no decision was recorded"
        return self.seen[-1]


@asynccontextmanager
async def running(
    allow: tuple[str, ...] = ("example.com",),
    deny: tuple[str, ...] = (),
    cidrs: tuple[str, ...] = (),
    *,
    addresses: list[IPAddress] | None = None,
    ask: AskUser | None = None,
    limits: ProxyLimits = FAST,
) -> AsyncIterator[Running]:
    resolver = RecordingResolver(addresses if addresses is not None else [LOOPBACK])
    seen: list[NetworkDecision] = []
    network = NetworkPolicy.model_validate(
        {"allow_domains": allow, "deny_domains": deny, "allow_cidrs": cidrs}
    )
    proxy = EgressProxy(
        "test",
        network,
        on_decision=seen.append,
        ask=ask,
        resolver=resolver,
        limits=limits,
    )
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    await proxy.serve(listener)
    user, password = proxy.new_credential("call-1")
    try:
        yield Running(proxy, port, user, password, resolver, seen)
    finally:
        await proxy.aclose()


async def exchange(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send ``data`` to the proxy and return everything it answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


def connect_request(target: str, run: Running, host: str | None = None) -> bytes:
    host_line = f"Host: {host if host is not None else target}\r\n"
    return f"CONNECT {target} HTTP/1.1\r\n{host_line}{run.auth}\r\n".encode()


def get_request(url: str, host: str, run: Running) -> bytes:
    return f"GET {url} HTTP/1.1\r\nHost: {host}\r\n{run.auth}\r\n".encode()


def status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


def socks_hello(user: str, password: str) -> bytes:
    u, p = user.encode(), password.encode()
    return b"\x05\x01\x02" + b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p


def socks_domain(name: str | bytes, port: int) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    return b"\x05\x01\x00\x03" + bytes([len(raw)]) + raw + struct.pack(">H", port)


async def socks(run: Running, request: bytes) -> bytes:
    """The SOCKS5 reply code to a request after a successful login."""
    answer = await exchange(run.port, socks_hello(run.user, run.password) + request)
    assert answer[:4] == b"\x05\x02\x01\x00", answer
    return answer[4:]


# -- credentials --------------------------------------------------------------------------


async def test_request_without_credential_gets_407_and_is_recorded() -> None:
    async with running() as run:
        answer = await exchange(run.port, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
        assert status(answer) == 407
        assert b'Proxy-Authenticate: Basic realm="errand"' in answer
        assert run.last().verdict is Verdict.DENY
        assert run.last().host == "example.com"
        assert "credential" in run.last().reason
        assert run.resolver.asked == []


@pytest.mark.parametrize("which", ["wrong-password", "dropped", "other-session", "not-basic"])
async def test_invalid_credentials_are_refused(which: str) -> None:
    async with running() as run, running() as other:
        user, password = run.user, run.password
        if which == "wrong-password":
            password = password[:-1] + ("0" if password[-1] != "0" else "1")
        elif which == "dropped":
            run.proxy.drop_credential(run.user)
        elif which == "other-session":
            user, password = other.user, other.password
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        scheme = "Bearer" if which == "not-basic" else "Basic"
        request = (
            f"CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: {scheme} {token}\r\n\r\n"
        )
        assert status(await exchange(run.port, request.encode())) == 407
        assert run.last().verdict is Verdict.DENY
        assert run.resolver.asked == []
        if which != "not-basic":
            hello = socks_hello(user, password)
            answer = await exchange(run.port, hello + socks_domain("example.com", 80))
            assert answer == b"\x05\x02\x01\x01"


async def test_decisions_are_attributed_to_the_call_whose_credential_was_used() -> None:
    async with running(allow=(), deny=()) as run:
        user, password = run.proxy.new_credential("call-2")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request = f"CONNECT a.test:443 HTTP/1.1\r\nProxy-Authorization: Basic {token}\r\n\r\n"
        await exchange(run.port, request.encode())
        assert run.last().call_id == "call-2"
        await exchange(run.port, connect_request("a.test:443", run))
        assert run.last().call_id == "call-1"
        assert run.proxy.decisions == run.seen
        assert all(d.session == "test" for d in run.seen)


async def test_socks_client_must_offer_username_password_login() -> None:
    async with running() as run:
        answer = await exchange(run.port, b"\x05\x01\x00" + socks_domain("example.com", 80))
        assert answer == b"\x05\xff"
        assert run.last().verdict is Verdict.DENY


# -- policy order -------------------------------------------------------------------------


async def test_empty_allowlist_denies_everything_without_resolving() -> None:
    async with running(allow=()) as run:
        answer = await exchange(run.port, connect_request("example.com:443", run))
        assert status(answer) == 403
        assert b"no domains are allowed" in answer
        assert run.resolver.asked == []


async def test_denied_domains_win_over_allowed_ones_and_never_reach_the_resolver() -> None:
    async with running(allow=("*.example.com",), deny=("bad.example.com",)) as run:
        for request in (
            connect_request("bad.example.com:443", run),
            get_request("http://BAD.example.com./x", "bad.example.com", run),
        ):
            answer = await exchange(run.port, request)
            assert status(answer) == 403
            assert b"X-Errand-Reason: bad.example.com is in the denied domains" in answer
        assert await socks(
            run, socks_domain("bad.example.com", 443)
        ) == b"\x05\x02\x00\x01" + bytes(6)
        assert run.resolver.asked == []
        assert [d.verdict for d in run.seen] == [Verdict.DENY] * 3


async def test_unlisted_domain_is_denied_when_nobody_can_be_asked() -> None:
    async with running() as run:
        answer = await exchange(run.port, connect_request("example.org:443", run))
        assert status(answer) == 403
        assert b"example.org is not in the allowed domains" in answer
        assert run.resolver.asked == []


async def test_allowed_name_resolving_to_loopback_is_refused() -> None:
    async with running() as run:
        answer = await exchange(run.port, connect_request("example.com:443", run))
        assert status(answer) == 403
        assert b"example.com resolves to 127.0.0.1, a loopback address" in answer
        assert run.resolver.asked == ["example.com"]
        assert run.last().verdict is Verdict.DENY


@pytest.mark.parametrize(
    ("address", "cidrs", "reason"),
    [
        ("10.254.0.2", (), "a private address"),
        ("100.64.1.1", (), "a shared (carrier-grade NAT) address"),
        ("fd12::1", (), "a private (unique local) address"),
        ("169.254.169.254", ("169.254.0.0/16",), "a cloud metadata address"),
        ("fd00:ec2::254", ("fd00::/8",), "a cloud metadata address"),
        ("100.100.100.200", ("100.64.0.0/10",), "a cloud metadata address"),
        ("::ffff:127.0.0.1", ("127.0.0.0/8",), "a loopback address"),
        ("169.254.1.1", ("169.254.0.0/16",), "a link-local address"),
        ("224.0.0.1", ("224.0.0.0/4",), "a multicast address"),
        ("0.0.0.0", ("0.0.0.0/8",), "an unspecified address"),
        ("240.0.0.1", ("240.0.0.0/4",), "a reserved address"),
    ],
)
async def test_forbidden_addresses_are_refused_after_resolution(
    address: str, cidrs: tuple[str, ...], reason: str
) -> None:
    async with running(cidrs=cidrs, addresses=[ipaddress.ip_address(address)]) as run:
        answer = await exchange(run.port, connect_request("example.com:443", run))
        assert status(answer) == 403
        assert f"a{reason[1:]}".encode() in answer
        assert run.last().reason.endswith(reason)


async def test_the_hosts_own_addresses_are_refused_even_inside_allowed_ranges() -> None:
    own = sorted(
        (a for a in HostAddresses().current() if not a.is_loopback and not a.is_link_local),
        key=str,
    )
    if not own:
        pytest.skip("this machine has no non-loopback address")
    cidr = str(ipaddress.ip_network(own[0]))
    async with running(cidrs=(cidr,), addresses=[own[0]]) as run:
        answer = await exchange(run.port, connect_request("example.com:443", run))
        assert status(answer) == 403
        assert b"one of this computer's own addresses" in answer


async def test_ip_literal_targets_need_an_allowed_range() -> None:
    async with running() as run:
        answer = await exchange(run.port, connect_request("192.0.2.10:80", run))
        assert status(answer) == 403
        assert b"192.0.2.10 is an IP address outside the allowed ranges" in answer
        ipv4 = b"\x05\x01\x00\x01" + bytes([192, 0, 2, 10]) + struct.pack(">H", 80)
        assert (await socks(run, ipv4))[:2] == b"\x05\x02"
        ipv6 = b"\x05\x01\x00\x04" + ipaddress.IPv6Address("::1").packed + struct.pack(">H", 80)
        assert (await socks(run, ipv6))[:2] == b"\x05\x02"
    async with running(cidrs=("127.0.0.0/8",)) as run:
        answer = await exchange(run.port, connect_request("[::ffff:127.0.0.1]:80", run))
        assert b"127.0.0.1 is a loopback address" in answer
        assert run.resolver.asked == []


# -- asking the user ----------------------------------------------------------------------


async def test_user_approval_lets_a_domain_through_for_the_rest_of_the_session() -> None:
    questions: list[tuple[str, int, str]] = []

    async def approve(host: str, port: int, call_id: str) -> bool:
        questions.append((host, port, call_id))
        return True

    async with running(ask=approve) as run:
        for _ in range(2):
            answer = await exchange(run.port, connect_request("Example.ORG.:443", run))
            # Approved, so it is resolved; the test resolver's loopback answer is then refused.
            assert b"example.org resolves to 127.0.0.1" in answer
        assert questions == [("example.org", 443, "call-1")]
        assert [d.verdict for d in run.seen] == [Verdict.DENY, Verdict.DENY]
        assert run.resolver.asked == ["example.org", "example.org"]


@pytest.mark.parametrize("answer", ["no", "slow", "broken"])
async def test_declined_slow_or_failed_questions_deny(answer: str) -> None:
    async def ask(host: str, port: int, call_id: str) -> bool:
        if answer == "slow":
            await asyncio.sleep(30)
        if answer == "broken":
            raise RuntimeError("the phone is off")
        return False

    async with running(ask=ask, limits=ProxyLimits(ask_timeout=0.1)) as run:
        reply = await exchange(run.port, connect_request("example.org:443", run))
        assert status(reply) == 403
        expected = {"no": "did not allow", "slow": "nobody answered", "broken": "failed"}[answer]
        assert expected in run.last().reason
        assert run.resolver.asked == []


async def test_denied_and_allowed_domains_are_never_asked_about() -> None:
    asked: list[str] = []

    async def ask(host: str, port: int, call_id: str) -> bool:
        asked.append(host)
        return True

    async with running(deny=("evil.test",), ask=ask) as run:
        await exchange(run.port, connect_request("evil.test:443", run))
        await exchange(run.port, connect_request("example.com:443", run))
        assert asked == []


# -- parser tricks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["EVIL.test:443", "evil.test.:443", "eViL.TeSt.:443", "evil.test:0443"],
)
async def test_spelling_variants_get_the_verdict_of_the_plain_name(target: str) -> None:
    async with running(deny=("evil.test",)) as run:
        answer = await exchange(run.port, connect_request(target, run))
        assert status(answer) == 403
        assert run.last().host == "evil.test"
        assert run.last().reason == "evil.test is in the denied domains"


async def test_unicode_names_are_matched_as_punycode() -> None:
    async with running(deny=("xn--bcher-kva.example",)) as run:
        answer = await socks(run, socks_domain("BÜCHER.example.", 443))
        assert answer[:2] == b"\x05\x02"
        assert run.last().host == "xn--bcher-kva.example"
        assert run.resolver.asked == []


@pytest.mark.parametrize(
    "target",
    [
        "exa\x00mple.com:443",
        "example.com\x00.evil.test:443",
        "user@example.com:443",
        "example.com:80@evil.test:443",
        "example.com:80:81",
        "example.com",
        "example.com:",
        "example.com:65536",
        "example.com:+443",
        "exa%6dple.com:443",
        "2130706433:80",
        "0177.0.0.1:80",
        "0x7f000001:80",
        "127.1:80",
        "::1:80",
        "[127.0.0.1]:80",
        "example.com/:443",
        "example.com\\evil:443",
    ],
)
async def test_connect_targets_that_do_not_parse_cleanly_are_refused(target: str) -> None:
    async with running() as run:
        answer = await exchange(run.port, connect_request(target, run, host=""))
        assert status(answer) == 400
        assert run.last().verdict is Verdict.DENY
        assert run.resolver.asked == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user@example.com/",
        "http://example.com:80@evil.test/",
        "http://example.com:80:81/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://exa%6dple.com/",
        "https://example.com/",
        "ftp://example.com/",
        "/relative",
        "http://example.com/#frag",
    ],
)
async def test_absolute_uri_tricks_are_refused(url: str) -> None:
    async with running() as run:
        answer = await exchange(run.port, get_request(url, "example.com", run))
        assert status(answer) == 400
        assert run.resolver.asked == []


@pytest.mark.parametrize(
    "name", [b"exa\x00mple.com", b"user@example.com", b"2130706433", b"0x7f000001", b"\xff\xfe"]
)
async def test_socks_names_that_do_not_parse_cleanly_are_refused(name: bytes) -> None:
    async with running() as run:
        assert (await socks(run, socks_domain(name, 443)))[:2] == b"\x05\x02"
        assert run.resolver.asked == []


@pytest.mark.parametrize(
    ("request_line", "host"),
    [
        ("GET http://example.com/ HTTP/1.1", "evil.test"),
        ("GET http://example.com/ HTTP/1.1", "example.com:8080"),
        ("GET http://example.com:8080/ HTTP/1.1", "example.com"),
        ("CONNECT example.com:443 HTTP/1.1", "evil.test:443"),
        ("CONNECT example.com:443 HTTP/1.1", "example.com:80"),
    ],
)
async def test_host_header_must_name_the_request_target(request_line: str, host: str) -> None:
    async with running(allow=("example.com", "evil.test")) as run:
        request = f"{request_line}\r\nHost: {host}\r\n{run.auth}\r\n".encode()
        answer = await exchange(run.port, request)
        assert status(answer) == 400
        assert b"the Host header names" in answer
        assert run.resolver.asked == []


async def test_duplicate_host_headers_are_refused() -> None:
    async with running() as run:
        request = (
            f"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nHost: evil.test\r\n"
            f"{run.auth}\r\n"
        )
        assert status(await exchange(run.port, request.encode())) == 400
        assert run.resolver.asked == []


@pytest.mark.parametrize(
    "extra",
    [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Content-Length: -1\r\n",
    ],
)
async def test_ambiguous_body_framing_is_refused_before_connecting(extra: str) -> None:
    async with running() as run:
        request = f"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\n{extra}{run.auth}\r\n"
        assert status(await exchange(run.port, request.encode())) == 400
        assert run.resolver.asked == []


# -- robustness ---------------------------------------------------------------------------


async def test_oversized_heads_are_refused() -> None:
    async with running() as run:
        request = b"GET http://example.com/ HTTP/1.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
        assert status(await exchange(run.port, request)) == 431


async def test_a_stalled_request_head_is_dropped_after_the_timeout() -> None:
    async with running(limits=ProxyLimits(head_timeout=0.2)) as run:
        reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
        writer.write(b"CONNECT example.com:443 HTTP/1.1\r\n")
        async with asyncio.timeout(3):
            assert await reader.read() == b""
        writer.close()


async def test_aclose_stops_accepting() -> None:
    async with running() as run:
        port = run.port
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


class _ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


_PREFIXES = [
    b"",
    b"\x05",
    b"\x05\x01\x02\x01\x04user\x04pass",
    b"CONNECT ",
    b"GET http://example.com/ HTTP/1.1\r\n",
    b"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(_PREFIXES), noise=st.binary(max_size=300))
def test_random_bytes_are_refused_without_escaping_exceptions(prefix: bytes, noise: bytes) -> None:
    counter = _ErrorCounter()
    logger = logging.getLogger("errand.sandbox.proxy")
    logger.addHandler(counter)
    try:
        answer, decisions = asyncio.run(_fuzz_once(prefix + noise))
    finally:
        logger.removeHandler(counter)
    assert counter.count == 0
    assert all(d.verdict is Verdict.DENY for d in decisions)
    data = prefix + noise
    if data[:1] == b"\x05":
        assert answer == b"" or answer.startswith(b"\x05")
    elif data:
        assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.1 5")), answer[:60]


async def _fuzz_once(data: bytes) -> tuple[bytes, list[NetworkDecision]]:
    async with running(limits=ProxyLimits(head_timeout=0.5, ask_timeout=0.1)) as run:
        return await exchange(run.port, data), run.proxy.decisions


# -- end to end through a namespace test host ---------------------------------------------


@pytest.fixture(scope="module")
def test_host() -> Iterator[TestHost]:
    with nethost_or_skip() as host:
        yield host


def _curl() -> str:
    path = shutil.which("curl")
    if path is None:
        pytest.skip("curl is not installed")
    return path


async def curl(*args: str) -> tuple[int, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = await asyncio.create_subprocess_exec(
        _curl(), "-sS", "--max-time", "5", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode() + err.decode()


@pytest.mark.netns
async def test_allowed_domain_works_over_http_connect_and_socks5(test_host: TestHost) -> None:
    cidr = str(test_host.network)
    async with running(cidrs=(cidr,), addresses=[test_host.address]) as run:
        url = f"http://example.com:{test_host.http_port}/hello?x=1"
        socks_url = f"socks5h://{run.user}:{run.password}@127.0.0.1:{run.port}"
        for args in (["-x", run.http_url], ["-p", "-x", run.http_url], ["-x", socks_url]):
            code, out = await curl(*args, url)
            assert code == 0, out
            assert "errand test host" in out
            assert "path: /hello?x=1" in out
            assert f"host: example.com:{test_host.http_port}" in out
            assert "proxy-authorization: None" in out
        assert [d.verdict for d in run.seen] == [Verdict.ALLOW] * 3
        assert run.last().reason == "example.com is in the allowed domains"
        assert run.resolver.asked == ["example.com"] * 3


@pytest.mark.netns
async def test_request_bodies_are_forwarded_with_their_framing(test_host: TestHost) -> None:
    cidr = str(test_host.network)
    async with running(cidrs=(cidr,), addresses=[test_host.address]) as run:
        url = f"http://example.com:{test_host.http_port}/upload"
        async with httpx.AsyncClient(proxy=run.http_url, timeout=5) as client:
            plain = await client.post(url, content=b"fixed body")

            async def chunks() -> AsyncIterator[bytes]:
                for part in (b"chunked ", b"body"):
                    yield part

            chunked = await client.post(url, content=chunks())
        assert plain.status_code == chunked.status_code == 200
        assert "body: fixed body" in plain.text
        assert "body: chunked body" in chunked.text
        assert "connection: close" in plain.text


@pytest.mark.netns
async def test_test_host_is_refused_as_private_without_its_range(test_host: TestHost) -> None:
    async with running(addresses=[test_host.address]) as run:
        _, out = await curl("-x", run.http_url, f"http://example.com:{test_host.http_port}/")
        assert f"example.com resolves to {test_host.address}, a private address" in out
        assert run.last().reason.endswith("a private address")
        assert run.last().verdict is Verdict.DENY
        answer = await socks(run, socks_domain("example.com", test_host.http_port))
        assert answer[:2] == b"\x05\x02"


@pytest.mark.netns
async def test_host_side_of_the_test_host_is_refused_as_own_address(test_host: TestHost) -> None:
    cidr = str(test_host.network)
    async with running(cidrs=(cidr,), addresses=[test_host.host_address]) as run:
        answer = await exchange(run.port, connect_request("example.com:80", run))
        assert status(answer) == 403
        assert b"one of this computer's own addresses" in answer


@pytest.mark.netns
async def test_unreachable_upstream_is_reported_not_hung(test_host: TestHost) -> None:
    cidr = str(test_host.network)
    async with running(cidrs=(cidr,), addresses=[test_host.address]) as run:
        answer = await exchange(run.port, connect_request("example.com:9", run))
        assert status(answer) == 502
        assert (await socks(run, socks_domain("example.com", 9)))[:2] == b"\x05\x05"


@pytest.mark.netns
async def test_aclose_closes_open_tunnels(test_host: TestHost) -> None:
    cidr = str(test_host.network)
    async with running(cidrs=(cidr,), addresses=[test_host.address]) as run:
        reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
        writer.write(connect_request(f"example.com:{test_host.http_port}", run))
        async with asyncio.timeout(5):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        await run.proxy.aclose()
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        writer.close()
