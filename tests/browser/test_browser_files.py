"""Downloads saved into granted folders, and a browser that runs out of memory.

Real Chromium in a real sandbox session granted real folders: a download reaches a read-write
folder (through its change layer) under a safe name, and nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser.conftest import ALLOWED, open_browsing
from browser.site import Site
from browser.test_browser_toolset import ref_of
from errand.sandbox import FolderGrant, FolderMode
from errand.sandbox.cgroup import memory_base
from errand.tools import Action

pytestmark = [pytest.mark.browser, pytest.mark.netns]


def grants(tmp_path: Path) -> tuple[Path, Path, list[FolderGrant]]:
    notes, papers = tmp_path / "notes", tmp_path / "papers"
    notes.mkdir()
    papers.mkdir()
    (notes / "report.txt").write_text("mine\n", encoding="utf-8")
    return (
        notes,
        papers,
        [
            FolderGrant(path=notes, mode=FolderMode.READ_WRITE, name="notes"),
            FolderGrant(path=papers, mode=FolderMode.READ_ONLY, name="papers"),
        ],
    )


async def test_a_download_is_saved_in_a_read_write_folder_under_a_safe_new_name(
    site: Site, tmp_path: Path
) -> None:
    _, _, folders = grants(tmp_path)
    async with open_browsing(site, tmp_path, folders) as browsing:
        notes = browsing.ctx.policy.mount_point(folders[0])
        page = await browsing.call(
            "browser_navigate", url=browsing.url(ALLOWED, "/downloads?name=report.txt")
        )
        clicked = await browsing.call("browser_click", ref=ref_of(page.content, "Get the report"))
        assert "Downloads so far" in clicked.content and "report.txt" in clicked.content
        action = browsing.describe("browser_save_download", download="report.txt", folder=notes)
        assert isinstance(action, Action), action
        assert (action.kind, action.folder) == ("write", "notes")

        saved = await browsing.call("browser_save_download", download="report.txt", folder=".")
        assert not saved.is_error, saved.content
        assert "report (2).txt" in saved.content
        assert saved.files == (f"{notes}/report (2).txt",)
        renamed = await browsing.call(
            "browser_save_download", download="report.txt", folder=notes, filename="../../x.sh"
        )
        assert not renamed.is_error and "as x.sh" in renamed.content, renamed.content
        # Written through the folder's change layer: applied once the browser has closed.
        await browsing.toolset.aclose()
        await browsing.ctx.sandbox.aclose()
    assert files_of(tmp_path) == {
        "notes/report (2).txt": "report body\n",
        "notes/report.txt": "mine\n",
        "notes/x.sh": "report body\n",
    }


def files_of(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and "artifacts" not in p.parts
    }


async def test_saving_a_download_elsewhere_is_refused_in_one_sentence(
    site: Site, tmp_path: Path
) -> None:
    _, papers, folders = grants(tmp_path)
    async with open_browsing(site, tmp_path, folders) as browsing:
        mount = browsing.ctx.policy.mount_point(folders[1])
        for folder, says in [
            (mount, "read-only"),
            ("/tmp", "outside the granted folders"),
            ("../../etc", "outside the granted folders"),
        ]:
            out = await browsing.call("browser_save_download", download="x.pdf", folder=folder)
            assert out.is_error and says in out.content, out.content
        missing = await browsing.call("browser_save_download", download="x.pdf", folder="notes")
        assert missing.is_error and "no download called 'x.pdf'" in missing.content
        assert not browsing.toolset.session.running
    assert list(papers.iterdir()) == []


async def test_a_page_that_eats_memory_ends_as_a_tool_error_and_the_browser_comes_back(
    site: Site, tmp_path: Path
) -> None:
    if memory_base() is None or os.geteuid() != 0:
        pytest.skip("no memory cgroup this process may create here")
    async with open_browsing(site, tmp_path) as browsing:
        browsing.toolset.session.memory_mb = 640
        out = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/memory"))
        if not out.is_error:
            out = await browsing.call("browser_wait_for", text="100000 MB")
        assert out.is_error
        assert "The browser ran out of memory" in out.content, out.content
        assert "at most 640 MB" in out.content
        again = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/form/1"))
        assert "Order, step 1 of 2" in again.content, again.content
        assert not browsing.toolset.session.ran_out_of_memory()
