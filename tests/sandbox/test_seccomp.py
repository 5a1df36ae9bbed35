"""The seccomp filter, loaded into a real bwrap and attacked from inside."""

from __future__ import annotations

import errno
import json
import os
import platform
import struct
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from errand.sandbox import seccomp
from errand.sandbox.errors import SandboxUnavailable
from errand.sandbox.seccomp import seccomp_program, seccomp_version

BWRAP = "/usr/bin/bwrap"
PYTHON = "/usr/bin/python3"

needs_bwrap = pytest.mark.skipif(
    not (Path(BWRAP).exists() and Path(PYTHON).exists()) or seccomp_version() is None,
    reason="needs /usr/bin/bwrap, /usr/bin/python3 and libseccomp",
)
x86_64_only = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the probes use x86_64 system call numbers"
)

# Runs inside the sandbox. Each probe reports errno (0 on success) under its name.
PROBES = """
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(number, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    return 0 if rc >= 0 else ctypes.get_errno()

def family(domain, kind=socket.SOCK_STREAM):
    try:
        socket.socket(domain, kind).close()
        return 0
    except OSError as exc:
        return exc.errno

def status(field):
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1]

buf = ctypes.create_string_buffer(256)
out = {
    "ptrace_traceme": call(101, 0, 0, 0, 0),
    "process_vm_readv": call(310, os.getpid(), 0, 0, 0, 0, 0),
    "unshare_user": call(272, 0x10000000),
    "unshare_net_bad_flag": call(272, 0x40000000 | 0x1),  # EINVAL if unfiltered
    "unshare_user_high_bits": call(272, 0x7FFF000010000000),
    "clone_newuser": call(56, 0x10000000 | 17, 0, 0, 0, 0),
    "mount": call(165, 0, ctypes.addressof(ctypes.create_string_buffer(b"/tmp")), 0, 0x1000, 0),
    "umount2": call(166, ctypes.addressof(ctypes.create_string_buffer(b"/tmp")), 0),
    "pivot_root": call(155, 0, 0),
    "open_tree": call(428, -100, ctypes.addressof(ctypes.create_string_buffer(b"/")), 0),
    "fsopen": call(430, ctypes.addressof(ctypes.create_string_buffer(b"tmpfs")), 0),
    "setns": call(308, 0, 0),
    "io_uring_setup": call(425, 8, ctypes.addressof(buf)),
    "bpf": call(321, 0, ctypes.addressof(buf), 48),
    "perf_event_open": call(298, ctypes.addressof(buf), 0, -1, -1, 0),
    "userfaultfd": call(323, 0),
    "keyctl": call(250, 0, -3, 0),
    "add_key": call(248, 0, 0, 0, 0, 0),
    "init_module": call(175, 0, 0, 0),
    "kexec_load": call(246, 0, 0, 0, 0),
    "reboot": call(169, 0, 0, 0, 0),
    "name_to_handle_at": call(303, -100, 0, 0, 0, 0),
    "clone3": call(435, 0, 0),
    "tiocsti": call(16, 0, 0x5412, ctypes.addressof(ctypes.create_string_buffer(b"x"))),
    "tiocsti_high_bits": call(16, 0, 0x7FFFFFFF00005412, ctypes.addressof(buf)),
    "tioclinux": call(16, 0, 0x541C, ctypes.addressof(buf)),
    "af_netlink": family(socket.AF_NETLINK, socket.SOCK_RAW),
    "af_packet": family(socket.AF_PACKET, socket.SOCK_RAW),
    "af_vsock": family(socket.AF_VSOCK),
    "af_bluetooth": family(31),
    "af_alg": family(38, socket.SOCK_SEQPACKET),
    "af_unknown_large": family(200),
    "af_netlink_high_bits": call(41, 0x100000010, 3, 0),
    "af_inet": family(socket.AF_INET),
    "af_inet6": family(socket.AF_INET6),
    "af_unix": family(socket.AF_UNIX),
    "socketpair_netlink": call(53, 16, 3, 0, ctypes.addressof(buf)),
    "seccomp": status("Seccomp"),
    "no_new_privs": status("NoNewPrivs"),
}
print(json.dumps(out))
"""


def run_filtered(program: bytes, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run argv in a hardened bwrap with ``program`` as its seccomp filter."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)
        os.close(write_end)
        write_end = -1
        return subprocess.run(
            [
                BWRAP,
                "--unshare-all",
                "--unshare-user",
                "--die-with-parent",
                "--disable-userns",
                "--cap-drop",
                "ALL",
                "--ro-bind",
                "/usr",
                "/usr",
                "--symlink",
                "usr/bin",
                "/bin",
                "--symlink",
                "usr/lib",
                "/lib",
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--tmpfs",
                "/tmp",
                "--seccomp",
                str(read_end),
                "--",
                *argv,
            ],
            pass_fds=(read_end,),
            close_fds=True,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def probe(*, allow_unix: bool) -> dict[str, object]:
    done = run_filtered(seccomp_program(allow_unix=allow_unix), [PYTHON, "-c", PROBES])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def inside() -> dict[str, object]:
    return probe(allow_unix=True)


def test_version_is_reported() -> None:
    version = seccomp_version()
    assert version is not None
    assert version.count(".") == 2


def test_program_is_raw_bpf_and_cached() -> None:
    program = seccomp_program()
    assert len(program) % 8 == 0 and len(program) > 8 * 20
    for _ in range(3):
        assert seccomp_program() is program  # built once, then served from the cache
    assert seccomp_program(allow_unix=False) != program


def test_missing_library_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp, "_library", lambda: None)
    seccomp._build.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="libseccomp") as caught:
            seccomp_program()
        assert "install" in caught.value.hint
        assert seccomp_version() is None
    finally:
        seccomp._build.cache_clear()


@needs_bwrap
@x86_64_only
def test_filter_is_active_with_no_new_privs(inside: dict[str, object]) -> None:
    assert inside["seccomp"] == "2"
    assert inside["no_new_privs"] == "1"


@needs_bwrap
@x86_64_only
@pytest.mark.parametrize(
    "probe_name",
    [
        "ptrace_traceme",
        "process_vm_readv",
        "unshare_user",
        "unshare_net_bad_flag",
        "unshare_user_high_bits",
        "clone_newuser",
        "mount",
        "umount2",
        "pivot_root",
        "open_tree",
        "fsopen",
        "setns",
        "io_uring_setup",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "keyctl",
        "add_key",
        "init_module",
        "kexec_load",
        "reboot",
        "name_to_handle_at",
        "tiocsti",
        "tiocsti_high_bits",
        "tioclinux",
    ],
)
def test_denied_calls_fail_with_eperm(inside: dict[str, object], probe_name: str) -> None:
    assert inside[probe_name] == errno.EPERM


@needs_bwrap
@x86_64_only
def test_clone3_answers_enosys_so_libc_falls_back(inside: dict[str, object]) -> None:
    assert inside["clone3"] == errno.ENOSYS


@needs_bwrap
@x86_64_only
@pytest.mark.parametrize(
    "probe_name",
    [
        "af_netlink",
        "af_packet",
        "af_vsock",
        "af_bluetooth",
        "af_alg",
        "af_unknown_large",
        "af_netlink_high_bits",
        "socketpair_netlink",
    ],
)
def test_other_socket_families_are_unsupported(inside: dict[str, object], probe_name: str) -> None:
    assert inside[probe_name] == errno.EAFNOSUPPORT


@needs_bwrap
@x86_64_only
def test_inet_and_unix_sockets_work(inside: dict[str, object]) -> None:
    assert inside["af_inet"] == 0
    assert inside["af_inet6"] in (0, 97)  # EAFNOSUPPORT only if the kernel lacks IPv6
    assert inside["af_unix"] == 0


@needs_bwrap
@x86_64_only
def test_unix_sockets_can_be_denied() -> None:
    result = probe(allow_unix=False)
    assert result["af_unix"] == errno.EAFNOSUPPORT
    assert result["af_inet"] == 0


@needs_bwrap
@x86_64_only
def test_foreign_abi_system_calls_kill_the_process() -> None:
    # getpid through the x32 ABI would skip every rule if the filter let it through.
    script = textwrap.dedent("""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.syscall(ctypes.c_long(0x40000000 | 39))
        print("survived")
    """)
    done = run_filtered(seccomp_program(), [PYTHON, "-c", script])
    assert "survived" not in done.stdout
    assert done.returncode != 0


@needs_bwrap
def test_ordinary_programs_still_work() -> None:
    script = textwrap.dedent("""
        import subprocess, tempfile, threading
        results = []
        threads = [threading.Thread(target=lambda: results.append(sum(range(1000))))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shell = subprocess.run(["sh", "-c", "echo ok | cat"], capture_output=True, text=True)
        with tempfile.NamedTemporaryFile(dir="/tmp") as f:
            f.write(b"data")
            f.flush()
        print(len(results), shell.stdout.strip())
    """)
    done = run_filtered(seccomp_program(), [PYTHON, "-c", script])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4", "ok"]


@needs_bwrap
def test_shell_runs_under_the_filter() -> None:
    done = run_filtered(seccomp_program(), ["/usr/bin/sh", "-c", "echo ok"])
    assert (done.returncode, done.stdout) == (0, "ok\n")


def test_rules_for_unknown_syscalls_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp, "_DENIED", (*seccomp._DENIED, "no_such_syscall_anywhere"))
    seccomp._build.cache_clear()
    try:
        assert len(seccomp_program()) % 8 == 0
    finally:
        seccomp._build.cache_clear()


# The exact semantics of each rule, checked by running the exported program in a small
# classic-BPF interpreter over ``struct seccomp_data``. This reaches what the real kernel
# cannot show from inside bwrap (calls that fail with EPERM anyway once capabilities are
# dropped) and lets hypothesis try every bit pattern of the compared arguments.

AUDIT_ARCH_X86_64 = 0xC000003E
ALLOW = 0x7FFF0000
NR = {
    "ptrace": 101,
    "pivot_root": 155,
    "fsopen": 430,
    "reboot": 169,
    "userfaultfd": 323,
    "socket": 41,
    "socketpair": 53,
    "ioctl": 16,
    "unshare": 272,
    "clone": 56,
    "clone3": 435,
    "read": 0,
    "openat": 257,
}


def errno_action(code: int) -> int:
    return 0x00050000 | code


def evaluate(
    program: bytes, nr: int, args: tuple[int, ...] = (), arch: int = AUDIT_ARCH_X86_64
) -> int:
    """The action the program returns for one system call (little-endian seccomp_data)."""
    words = [nr, arch, 0, 0]
    for value in (*args, *(0,) * (6 - len(args))):
        words += [value & 0xFFFFFFFF, value >> 32]
    data = b"".join(w.to_bytes(4, "little") for w in words)
    acc, pc = 0, 0
    for _ in range(len(program) // 8):
        code, jt, jf, k = struct.unpack("=HBBI", program[pc * 8 : pc * 8 + 8])
        pc += 1
        if code == 0x20:  # ld [k]
            acc = int.from_bytes(data[k : k + 4], "little")
        elif code == 0x54:  # and #k
            acc &= k
        elif code in (0x15, 0x25, 0x35):  # jeq, jgt, jge #k
            taken = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k}[code]
            pc += jt if taken else jf
        elif code == 0x06:  # ret #k
            return int(k)
        else:
            raise AssertionError(f"instruction {code:#x} not understood by the test")
    raise AssertionError("program ran off its end")


@x86_64_only
@pytest.mark.parametrize("name", ["ptrace", "pivot_root", "fsopen", "reboot", "userfaultfd"])
def test_program_denies_calls_that_fail_anyway_without_capabilities(name: str) -> None:
    assert evaluate(seccomp_program(), NR[name]) == errno_action(errno.EPERM)


@x86_64_only
def test_program_allows_ordinary_calls_and_kills_foreign_abis() -> None:
    program = seccomp_program()
    assert evaluate(program, NR["read"], (0, 0, 0)) == ALLOW
    assert evaluate(program, NR["openat"], (0, 0, 0)) == ALLOW
    assert evaluate(program, NR["clone3"]) == errno_action(errno.ENOSYS)
    assert evaluate(program, 0x40000000 | NR["read"]) != ALLOW  # x32
    assert evaluate(program, NR["read"], arch=0x40000003) != ALLOW  # i386


@x86_64_only
@settings(max_examples=300, deadline=None)
@given(
    domain=st.one_of(
        st.integers(0, 80),
        st.integers(0, 2**64 - 1),
        st.sampled_from([1, 2, 10]).map(lambda f: f | (1 << 32)),
        st.sampled_from([16, 17, 40]).map(lambda f: f | (0xFFFFFFFF << 32)),
    ),
    allow_unix=st.booleans(),
    name=st.sampled_from(["socket", "socketpair"]),
)
def test_program_allows_exactly_the_chosen_socket_families(
    domain: int, allow_unix: bool, name: str
) -> None:
    allowed = {2, 10} | ({1} if allow_unix else set())
    action = evaluate(seccomp_program(allow_unix=allow_unix), NR[name], (domain, 1, 0))
    assert action == (ALLOW if domain in allowed else errno_action(errno.EAFNOSUPPORT))


@x86_64_only
@settings(max_examples=300, deadline=None)
@given(
    request=st.one_of(
        st.integers(0, 2**64 - 1),
        st.sampled_from([0x5412, 0x541C, 0x5413, 0x541B]),
        st.tuples(st.sampled_from([0x5412, 0x541C]), st.integers(0, 2**32 - 1)).map(
            lambda pair: pair[0] | (pair[1] << 32)
        ),
    )
)
def test_program_denies_terminal_injection_on_the_low_32_bits(request: int) -> None:
    denied = request & 0xFFFFFFFF in (0x5412, 0x541C)
    action = evaluate(seccomp_program(), NR["ioctl"], (0, request, 0))
    assert action == (errno_action(errno.EPERM) if denied else ALLOW)


NAMESPACE_FLAGS = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
NAMESPACE_FLAGS |= 0x40000000 | 0x00020000


@x86_64_only
@settings(max_examples=300, deadline=None)
@given(
    flags=st.one_of(
        st.integers(0, 2**64 - 1),
        st.integers(0, 0xFFFF) | st.integers(0, 0xFFFF).map(lambda f: f | 0x10000000),
    )
)
def test_program_denies_new_namespaces(flags: int) -> None:
    program = seccomp_program()
    unshare_denied = bool(flags & (NAMESPACE_FLAGS | 0x80))
    clone_denied = bool(flags & NAMESPACE_FLAGS)
    eperm = errno_action(errno.EPERM)
    assert evaluate(program, NR["unshare"], (flags,)) == (eperm if unshare_denied else ALLOW)
    assert evaluate(program, NR["clone"], (flags, 0, 0)) == (eperm if clone_denied else ALLOW)
