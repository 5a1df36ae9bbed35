"""The seccomp filter every sandboxed command runs under, built with libseccomp.

The filter allows by default and denies a fixed list of system calls that reach kernel
attack surface or let a process step outside its namespaces (see SANDBOX.md): tracing other
processes, io_uring, new namespaces, the mount family, bpf, keyrings, module loading, handle
based opens, terminal injection, and every socket family but IPv4, IPv6 and (optionally) unix.
``clone3`` answers ENOSYS, so libc falls back to ``clone``, whose flags the filter can see.

The program is exported as raw BPF for ``bwrap --seccomp FD`` and is built for the native
architecture only; system calls of any other ABI (x32, i386 on x86_64) kill the process.
libseccomp is reached through ctypes, so no Python binding is needed; the library itself
(``libseccomp.so.2``) is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from errand.sandbox.errors import SandboxUnavailable

_INSTALL_HINT = (
    "install it: apt-get install libseccomp2 (or your distribution's libseccomp package)"
)

# Actions and comparison operators, from <seccomp.h>.
_ACT_ALLOW = 0x7FFF0000
_ACT_KILL_PROCESS = 0x80000000
_FILTER_ATTR_BAD_ARCH = 2
_CMP_GE = 5
_CMP_MASKED_EQ = 7


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


# Namespace flags of clone(2) and unshare(2), from <linux/sched.h>. CLONE_NEWTIME (0x80)
# only exists for unshare: in clone's flags that byte is the exit signal.
_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWTIME = 0x00000080
_CLONE_NAMESPACES = (
    _CLONE_NEWNS,
    _CLONE_NEWCGROUP,
    _CLONE_NEWUTS,
    _CLONE_NEWIPC,
    _CLONE_NEWUSER,
    _CLONE_NEWPID,
    _CLONE_NEWNET,
)

_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C

_AF_UNIX = 1
_AF_INET = 2
_AF_INET6 = 10
# Families below this bound are denied one by one; everything from it up is denied by one
# GE rule. AF_MAX is 46 in Linux 6.x, so new families land below the bound or are caught.
_FAMILY_BOUND = 64
_LOW_32_BITS = 0xFFFFFFFF

_DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "quotactl_fd",
    "name_to_handle_at",
    "open_by_handle_at",
)
"""System calls denied outright with EPERM."""


class _ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _Version(ctypes.Structure):
    """``struct scmp_version``."""

    _fields_ = (("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint))


@dataclass(frozen=True)
class _Rule:
    """One libseccomp rule: an action for a system call when every comparison holds."""

    action: int
    syscall: str
    compares: tuple[tuple[int, int, int, int], ...] = ()  # (arg, op, datum_a, datum_b)


_lock = threading.Lock()


@cache
def _library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    for candidate in dict.fromkeys((name, "libseccomp.so.2")):
        try:
            lib = ctypes.CDLL(candidate, use_errno=True)
        except OSError:
            continue
        lib.seccomp_init.argtypes = (ctypes.c_uint32,)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_release.argtypes = (ctypes.c_void_p,)
        lib.seccomp_release.restype = None
        lib.seccomp_attr_set.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32)
        lib.seccomp_attr_set.restype = ctypes.c_int
        lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_rule_add_array.argtypes = (
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        )
        lib.seccomp_rule_add_array.restype = ctypes.c_int
        lib.seccomp_export_bpf.argtypes = (ctypes.c_void_p, ctypes.c_int)
        lib.seccomp_export_bpf.restype = ctypes.c_int
        lib.seccomp_version.argtypes = ()
        lib.seccomp_version.restype = ctypes.POINTER(_Version)
        return lib
    return None


def seccomp_version() -> str | None:
    """The version of the loaded libseccomp, such as ``"2.5.4"``; None when it cannot load."""
    lib = _library()
    if lib is None:
        return None
    version = lib.seccomp_version().contents
    return f"{version.major}.{version.minor}.{version.micro}"


def seccomp_program(*, allow_unix: bool = True) -> bytes:
    """The filter as raw BPF, ready to be written to the fd given to ``bwrap --seccomp``.

    ``allow_unix`` keeps AF_UNIX sockets; without it only AF_INET and AF_INET6 remain. The
    program is built once per argument and cached, so later calls cost nothing.

    Raises:
        SandboxUnavailable: libseccomp cannot be loaded, or refused a rule or the export.
    """
    with _lock:
        return _build(allow_unix)


@cache
def _build(allow_unix: bool) -> bytes:
    lib = _library()
    if lib is None:
        raise SandboxUnavailable("libseccomp could not be loaded", _INSTALL_HINT)
    ctx = lib.seccomp_init(_ACT_ALLOW)
    if not ctx:
        raise SandboxUnavailable("libseccomp could not create a filter", _INSTALL_HINT)
    try:
        # A system call of a foreign ABI skips every rule below, so it must not run at all.
        _check(lib.seccomp_attr_set(ctx, _FILTER_ATTR_BAD_ARCH, _ACT_KILL_PROCESS), "set")
        for rule in _rules(allow_unix):
            number = lib.seccomp_syscall_resolve_name(rule.syscall.encode())
            if number < 0:
                continue  # unknown to this kernel or architecture: nothing to deny
            compares = (_ArgCmp * max(1, len(rule.compares)))(
                *(_ArgCmp(*compare) for compare in rule.compares)
            )
            rc = lib.seccomp_rule_add_array(ctx, rule.action, number, len(rule.compares), compares)
            _check(rc, f"add a rule for {rule.syscall}")
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    fd = os.memfd_create("errand-seccomp", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_export_bpf(ctx, fd), "export the filter")
        size = os.fstat(fd).st_size
        if size == 0 or size % 8:
            raise SandboxUnavailable(
                f"libseccomp exported a malformed filter of {size} bytes", _INSTALL_HINT
            )
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _check(rc: int, what: str) -> None:
    if rc < 0:
        reason = os.strerror(-rc)
        raise SandboxUnavailable(f"libseccomp could not {what} ({reason})", _INSTALL_HINT)


def _rules(allow_unix: bool) -> Iterator[_Rule]:
    eperm = _act_errno(errno.EPERM)
    for name in _DENIED:
        yield _Rule(eperm, name)
    yield _Rule(_act_errno(errno.ENOSYS), "clone3")

    for flag in (*_CLONE_NAMESPACES, _CLONE_NEWTIME):
        yield _Rule(eperm, "unshare", ((0, _CMP_MASKED_EQ, flag, flag),))
    clone_flags_arg = 1 if platform.machine() in ("s390", "s390x") else 0
    for flag in _CLONE_NAMESPACES:
        yield _Rule(eperm, "clone", ((clone_flags_arg, _CMP_MASKED_EQ, flag, flag),))

    # The request is an unsigned int in the kernel: compare its low 32 bits only, so high
    # garbage cannot disguise TIOCSTI.
    for request in (_TIOCSTI, _TIOCLINUX):
        yield _Rule(eperm, "ioctl", ((1, _CMP_MASKED_EQ, _LOW_32_BITS, request),))

    allowed = {_AF_INET, _AF_INET6} | ({_AF_UNIX} if allow_unix else set())
    no_family = _act_errno(errno.EAFNOSUPPORT)
    for syscall in ("socket", "socketpair"):
        # The kernel reads the family as a 32-bit int. libseccomp takes one comparison per
        # argument in a rule, so each forbidden small family gets its own masked rule; any
        # value whose low 32 bits reach the bound is itself at least the bound, which one
        # unmasked GE rule catches (along with values whose high bits are merely set).
        for family in range(_FAMILY_BOUND):
            if family not in allowed:
                yield _Rule(no_family, syscall, ((0, _CMP_MASKED_EQ, _LOW_32_BITS, family),))
        yield _Rule(no_family, syscall, ((0, _CMP_GE, _FAMILY_BOUND, 0),))
