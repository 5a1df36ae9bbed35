"""Pairing confirmations on the computer, attacked as the owner's terminal meets them.

A confirmation applies to exactly the pairing it shows: the owner types the number their own
phone shows, so an answer can never pair another phone; ``errand pair`` withdraws every claim
still waiting; ``errand devices pending`` and ``approve NUMBER`` work where ``errand serve``
has no terminal (systemd, nohup).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

ERRAND = [sys.executable, "-m", "errand"]


class _Output:
    """What the server printed, read from a file descriptor as it comes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def mark(self) -> int:
        return len(self.text)

    def wait_for(self, pattern: str, *, since: int = 0, timeout: float = 30) -> re.Match[str]:
        """The first match of ``pattern`` in what was printed after position ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text[since:])
            if found:
                return found
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.text += chunk.decode(errors="replace").replace("\r\n", "\n")
        raise AssertionError(f"{pattern!r} never printed; got:\n{self.text}")


@contextmanager
def _serve(
    home: Path, *, with_terminal: bool
) -> Iterator[tuple[_Output, int | None, dict[str, str]]]:
    env = {**os.environ, "ERRAND_HOME": str(home), "COLUMNS": "200"}
    env.pop("ERRAND_DATABASE_URL", None)
    if with_terminal:
        controller, device = pty.openpty()
        proc = subprocess.Popen(
            [*ERRAND, "serve", "--port", "0"], env=env, stdin=device, stdout=device, stderr=device
        )
        os.close(device)
        out, keys = _Output(controller), controller
    else:
        reader, writer = os.pipe()
        proc = subprocess.Popen(
            [*ERRAND, "serve", "--port", "0"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=writer,
        )
        os.close(writer)
        out, keys = _Output(reader), None
    try:
        yield out, keys, env
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        os.close(out.fd)


def _claim(url: str, link: str, name: str) -> dict[str, str]:
    secret = link.split("#", 1)[1]
    answer = httpx.post(
        f"{url}/api/v1/pair", json={"secret": secret, "device_name": name}, trust_env=False
    )
    assert answer.status_code == 202, answer.text
    claimed: dict[str, str] = answer.json()
    return claimed


def _outcome(url: str, claim: dict[str, str]) -> httpx.Response:
    """The phone's long poll, repeated until the computer decided."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.post(
            f"{url}/api/v1/pair/{claim['claim_id']}/wait",
            json={"claim_token": claim["claim_token"]},
            trust_env=False,
            timeout=40,
        )
        if answer.status_code != 202:
            return answer
    raise AssertionError("the computer never decided")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ERRAND, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_an_answer_pairs_only_the_phone_whose_number_was_typed(tmp_path: Path) -> None:
    with _serve(tmp_path / "home", with_terminal=True) as (out, keys, env):
        assert keys is not None
        url = out.wait_for(r"serving at (http://127\.0\.0\.1:\d+)").group(1)
        startup_link = out.wait_for(r"or open (\S+)").group(1)
        # An attacker who saw the start-up QR claims it under the owner's phone's name.
        attacker = _claim(url, startup_link, "Owner's phone")
        out.wait_for(r"A phone \"Owner's phone\" \(from 127\.0\.0\.1\) asks to pair\.")
        # The owner, not expecting it, makes a fresh code: the attacker's claim is withdrawn,
        # visibly, and can no longer be confirmed.
        since = out.mark()
        fresh = _cli(env, "pair", "--json")
        assert fresh.returncode == 0, fresh.stderr
        out.wait_for(r"is no longer waiting; ignore it", since=since)
        assert _outcome(url, attacker).json()["error"]["code"] == "pairing_refused"
        # The owner's phone claims the fresh code; the owner types the attacker's number
        # (the wrong phone): refused. Then the right one pairs the owner's phone.
        link = re.search(r'"link": "([^"]+)"', fresh.stdout)
        assert link is not None
        since = out.mark()
        owner = _claim(url, link.group(1), "Owner's phone")
        out.wait_for(r"asks to pair\.\nType the number", since=since)
        since = out.mark()
        os.write(keys, f"{attacker['confirmation']}\n".encode())
        out.wait_for(r"That is not the number this phone shows: pairing refused\.", since=since)
        assert _outcome(url, owner).json()["error"]["code"] == "pairing_refused"

        again = _cli(env, "pair", "--json")
        link = re.search(r'"link": "([^"]+)"', again.stdout)
        assert link is not None
        since = out.mark()
        owner = _claim(url, link.group(1), "Owner's phone")
        out.wait_for(r"asks to pair\.\nType the number", since=since)
        os.write(keys, f"{owner['confirmation']}\n".encode())
        paired = _outcome(url, owner)
        assert paired.status_code == 200, paired.text
        assert paired.json()["device"]["name"] == "Owner's phone"


def test_without_a_terminal_the_owner_approves_from_another_one(tmp_path: Path) -> None:
    with _serve(tmp_path / "home", with_terminal=False) as (out, _keys, env):
        url = out.wait_for(r"serving at (http://127\.0\.0\.1:\d+)").group(1)
        link = out.wait_for(r"or open (\S+)").group(1)
        claim = _claim(url, link, "Kitchen tablet")
        out.wait_for(r"run `errand devices approve NUMBER`")
        pending = _cli(env, "devices", "pending")
        assert pending.returncode == 0, pending.stderr
        assert '"Kitchen tablet" from 127.0.0.1' in pending.stdout
        assert claim["confirmation"] not in pending.stdout  # read it from the phone
        wrong = "000000" if claim["confirmation"] != "000000" else "111111"
        refused = _cli(env, "devices", "approve", wrong)
        assert refused.returncode == 1
        assert "No phone waiting to pair shows that number." in refused.stderr
        approved = _cli(env, "devices", "approve", claim["confirmation"])
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.strip() == 'Paired "Kitchen tablet" (from 127.0.0.1).'
        paired = _outcome(url, claim)
        assert paired.status_code == 200, paired.text
        assert paired.json()["device_token"].startswith("errand_dev_")
        assert "No phone is waiting" in _cli(env, "devices", "pending").stdout


def test_devices_pending_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    env = {**os.environ, "ERRAND_HOME": str(tmp_path / "home")}
    answer = _cli(env, "devices", "pending")
    assert answer.returncode == 1
    assert "errand serve is not running" in answer.stderr
