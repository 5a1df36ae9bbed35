"""Node.js's compile cache for the sandboxed driver: Errand makes it, the driver's sandbox reads
it, and nothing in a sandbox can change it."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import pytest

from errand.browser.compile_cache import cache_path, ensure_compile_cache, unpack
from errand.browser.driver import (
    ADDRESS_SPACE,
    SANDBOX_CLI,
    SANDBOX_COMPILE_CACHE,
    SANDBOX_NODE,
    driver_mounts,
)
from errand.sandbox import Sandbox, SandboxPolicy

TAG = "./v26.13.1-x64-310b2ce3-1000"

# Run in the driver's sandbox, with its mounts: every way of changing the cache, each line
# saying whether it worked.
ATTEMPTS = """
cd "$1" && for entry in */*; do
  (echo poison > "$entry") 2>/dev/null && echo "wrote $entry"
  rm -f "$entry" 2>/dev/null && echo "removed $entry"
done
touch "$1/new" 2>/dev/null && echo "created a file"
mkdir "$1/vnew" 2>/dev/null && echo "created a folder"
mv "$1"/v* "$1/moved" 2>/dev/null && echo "renamed"
chmod -R u+w "$1" 2>/dev/null && (echo poison > "$(ls -d "$1"/*/* | head -1)") 2>/dev/null \
  && echo "wrote after chmod"
NODE_DEBUG_NATIVE=COMPILE_CACHE "$2" "$3" --version >/dev/null
"""


async def test_the_driver_reads_the_cache_errand_made_and_cannot_change_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    # Two browsers starting together: one makes the cache, the other starts without it.
    made = await asyncio.gather(ensure_compile_cache(), ensure_compile_cache())
    assert made.count(None) == 1 and cache_path() in made
    cache = await ensure_compile_cache()
    assert cache == cache_path() and cache.is_dir()
    before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    assert before, "the cache holds the driver's compiled modules"

    mounts, env = driver_mounts(cache)
    async with Sandbox(SandboxPolicy.build(session="compile-cache")) as sandbox:
        process = await sandbox.spawn(
            ["/bin/sh", "-c", ATTEMPTS, "sh", SANDBOX_COMPILE_CACHE, SANDBOX_NODE, SANDBOX_CLI],
            env=env,
            extra_mounts=mounts,
            address_space=ADDRESS_SPACE,
        )
        out = (await process.stdout.read()).decode()
        err = (await process.stderr.read()).decode()
        assert await process.wait() == 0, err
        await process.aclose()
        task = await sandbox.run(["/bin/sh", "-c", f"ls {SANDBOX_COMPILE_CACHE}"])

    assert out == "", f"the sandbox changed the cache: {out}"
    assert "lib/coreBundle.js was accepted" in err, err[-2000:]
    assert {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()} == before
    assert task.exit_code != 0, "a task's own commands do not see the cache at all"


def _tar(*entries: tuple[str, bytes | None, bytes]) -> bytes:
    """A tar stream of ``(name, file data or None for a folder, tar type)`` entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def test_a_well_formed_cache_is_unpacked(tmp_path: Path) -> None:
    unpack(
        _tar((TAG, None, tarfile.DIRTYPE), (f"{TAG}/3cf3cca3", b"v8", tarfile.REGTYPE)), tmp_path
    )
    assert (tmp_path / TAG / "3cf3cca3").read_bytes() == b"v8"


@pytest.mark.parametrize(
    "entries",
    [
        [(f"{TAG}/../../escape", b"x", tarfile.REGTYPE)],
        [("./3cf3cca3", b"x", tarfile.REGTYPE)],
        [(TAG, None, tarfile.DIRTYPE), (f"{TAG}/3cf3cca3", b"", tarfile.SYMTYPE)],
        [(TAG, None, tarfile.DIRTYPE), (f"{TAG}/3cf3cca3", None, tarfile.DIRTYPE)],
        [(TAG, None, tarfile.DIRTYPE), (f"{TAG}/cafe", b"x" * (33 << 20), tarfile.REGTYPE)],
        [],
    ],
    ids=["traversal", "file-outside-tag", "symlink", "nested-folder", "too-large", "empty"],
)
def test_anything_else_is_refused_whole(
    tmp_path: Path, entries: list[tuple[str, bytes | None, bytes]]
) -> None:
    with pytest.raises(ValueError, match="not a compile cache"):
        unpack(_tar(*entries), tmp_path)
    assert list(tmp_path.iterdir()) == []
