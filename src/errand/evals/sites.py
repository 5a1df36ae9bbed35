"""Local web sites for errands, served from a namespace host (:mod:`errand.evals.nethost`).

One server (standard library only) runs inside the namespace and serves a folder of sites:
each run of a task that has a site gets a fresh copy of its ``site/`` folder under its own
path prefix, so runs never see each other's requests. The server records every request
(method, path, body) and answers any POST with a short "received" page; the harness reads the
record back over the veth pair and gives each task the requests under its prefix.
"""

from __future__ import annotations

import http.client
import json
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from errand.evals.nethost import NamespaceHost, NetHostUnavailable
from errand.evals.results import SiteRequest

PORT = 8090
_READY_SECONDS = 10.0
_LOG_PATH = "/__errand_requests"

_SERVER = r"""
import functools, http.server, json, sys, threading

LOG = []
LOCK = threading.Lock()

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _record(self, body):
        with LOCK:
            LOG.append({"method": self.command, "path": self.path,
                        "body": body.decode("utf-8", "replace")})

    def do_GET(self):
        if self.path == "__LOG__":
            with LOCK:
                out = json.dumps(LOG).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        self._record(b"")
        super().do_GET()

    def do_HEAD(self):
        self._record(b"")
        super().do_HEAD()

    def _post(self):
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
        self._record(self.rfile.read(length))
        out = b"<!doctype html><html><head><title>Received</title></head>" \
              b"<body><h1>Received</h1><p>Thank you.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_POST = do_PUT = do_DELETE = do_PATCH = _post

    def log_message(self, *args):
        pass

handler = functools.partial(Handler, directory=sys.argv[3])
server = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), handler)
print("ready", flush=True)
server.serve_forever()
""".replace("__LOG__", _LOG_PATH)


class SiteHost:
    """The namespace host and its site server; a context manager.

    Raises (on entering):
        NetHostUnavailable: no namespace host on this machine, or the server did not start.
    """

    def __init__(self) -> None:
        self._host = NamespaceHost()
        self._root = Path(tempfile.mkdtemp(prefix="errand-eval-sites-"))
        self._server: subprocess.Popen[str] | None = None

    @property
    def network(self) -> str:
        """The address range tasks must be allowed to reach, in CIDR form."""
        return str(self._host.network)

    def __enter__(self) -> Self:
        try:
            self._host.__enter__()
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start(self) -> None:
        argv = [sys.executable, "-I", "-c", _SERVER, str(self._host.address), str(PORT)]
        self._server = subprocess.Popen(
            [*self._host.command(argv), str(self._root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._server.stdout is not None
        ready, _, _ = select.select([self._server.stdout], [], [], _READY_SECONDS)
        if not ready or self._server.stdout.readline().strip() != "ready":
            raise NetHostUnavailable("the local site server did not start")

    def publish(self, source: Path, prefix: str) -> str:
        """Copy the site in ``source`` under ``/prefix/`` and return its URL (no final /)."""
        shutil.copytree(source, self._root / prefix)
        return f"http://{self._host.address}:{PORT}/{prefix}"

    def requests(self, prefix: str) -> tuple[SiteRequest, ...]:
        """What the server received under ``/prefix/``, paths relative to it (``/form``)."""
        connection = http.client.HTTPConnection(str(self._host.address), PORT, timeout=10.0)
        try:
            connection.request("GET", _LOG_PATH)
            entries = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        start = f"/{prefix}"
        return tuple(
            SiteRequest(
                method=str(e["method"]), path=str(e["path"])[len(start) :] or "/", body=e["body"]
            )
            for e in entries
            if str(e["path"]) == start or str(e["path"]).startswith(start + "/")
        )

    def close(self) -> None:
        if self._server is not None:
            self._server.kill()
            self._server.communicate(timeout=10)
            self._server = None
        self._host.close()
        shutil.rmtree(self._root, ignore_errors=True)
