"""A file from a phone into an allowed read-write folder: POST /folders/{name}/files."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from errand.access import MAX_UPLOAD_BYTES, create_token, safe_file_name
from errand.store.access_store import AccessStore
from server.gateway_harness import LiveGateway, live_gateway

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path, start_runner=False):
        yield running


@pytest.mark.parametrize(
    ("sent", "saved"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ana\\scan.pdf", "scan.pdf"),
        (".bashrc", "bashrc"),
        ("..", "upload"),
        ("bell\x07\x1b[31m.txt", "bell[31m.txt"),
        ("right\u202eto-left.txt", "rightto-left.txt"),
        ("trailing. . ", "trailing"),
        ("x" * 300 + ".jpg", "x" * 251 + ".jpg"),
    ],
)
def test_safe_file_name(sent: str, saved: str) -> None:
    assert safe_file_name(sent) == saved


async def test_a_file_lands_in_the_folder_under_a_safe_free_name(
    live: LiveGateway, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "photo.jpg").write_bytes(b"the first photo")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"not yours")
    (notes / "link.jpg").symlink_to(outside)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    access = AccessStore(live.store)
    now = datetime.now(UTC)
    await access.add_folder("notes", str(notes), "rw", now=now)
    await access.add_folder("shelf", str(shelf), "ro", now=now)
    nas = tmp_path / "nas"  # the nas's folder is on the nas; this path here is another one
    nas.mkdir()
    await access.add_folder("nas", str(nas), "rw", now=now, worker="nas")

    async with live.client() as client:
        sent = await client.post(
            "/api/v1/folders/notes/files", params={"name": "photo.jpg"}, content=b"\xff\xd8 new"
        )
        assert sent.status_code == 201, sent.text
        assert sent.json() == {"folder": "notes", "name": "photo (2).jpg", "size": 6}
        assert (notes / "photo (2).jpg").read_bytes() == b"\xff\xd8 new"
        assert (notes / "photo.jpg").read_bytes() == b"the first photo"

        # A path in the name goes nowhere but the top of the folder; a link is not followed.
        sent = await client.post(
            "/api/v1/folders/notes/files", params={"name": "../../link.jpg"}, content=b"mine"
        )
        assert sent.json()["name"] == "link (2).jpg"
        assert outside.read_bytes() == b"not yours"
        assert sorted(p.name for p in notes.iterdir()) == [
            "link (2).jpg",
            "link.jpg",
            "photo (2).jpg",
            "photo.jpg",
        ]  # no temporary file left behind

        refused = {
            "folder_mode_not_allowed": await client.post(
                "/api/v1/folders/shelf/files", params={"name": "a.txt"}, content=b"x"
            ),
            "unknown_folder": await client.post(
                "/api/v1/folders/secrets/files", params={"name": "a.txt"}, content=b"x"
            ),
            "empty_file": await client.post(
                "/api/v1/folders/notes/files", params={"name": "a.txt"}, content=b""
            ),
            "folder_unavailable": await client.post(
                "/api/v1/folders/nas/files", params={"name": "a.txt"}, content=b"x"
            ),
        }
        for code, answer in refused.items():
            assert answer.json()["error"]["code"] == code, answer.text
        assert refused["folder_unavailable"].json()["error"]["message"] == (
            "The folder 'nas' is on the worker 'nas', not on this computer, so files cannot be "
            "added to it from here."
        )
        assert list(shelf.iterdir()) == [] and list(nas.iterdir()) == []
        assert not (notes / "a.txt").exists()

    # Too large: refused with one sentence before a byte of the body is read.
    reader, writer = await asyncio.open_connection("127.0.0.1", live.server.port)
    writer.write(
        (
            "POST /api/v1/folders/notes/files?name=big.mov HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{live.server.port}\r\nAuthorization: Bearer {live.token}\r\n"
            f"Content-Length: {MAX_UPLOAD_BYTES + 1}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    raw = (await asyncio.wait_for(reader.read(), timeout=10)).decode()
    writer.close()
    assert raw.startswith("HTTP/1.1 413"), raw
    assert json.loads(raw.split("\r\n\r\n", 1)[1])["error"] == {
        "code": "body_too_large",
        "message": "The file is larger than 25 MB, the most Errand takes from a phone; "
        "copy it into the folder on the computer instead.",
    }
    assert not (notes / "big.mov").exists()

    # Reading tasks is not enough to write into a folder.
    read_only = (await create_token(live.store, "reader", ["tasks:read"])).token
    async with live.client(read_only) as client:
        sent = await client.post(
            "/api/v1/folders/notes/files", params={"name": "r.txt"}, content=b"x"
        )
        assert sent.status_code == 403
    assert not (notes / "r.txt").exists()
