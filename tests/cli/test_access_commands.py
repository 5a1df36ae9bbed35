"""``errand devices``, ``errand folders`` and ``errand tokens`` as a user runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from errand.access import authenticate
from errand.store import open_store
from errand_cli import Ran, errand_here


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def errand(home: Path, *args: str) -> Ran:
    return errand_here(home, *args)


def authenticates(home: Path, token: str) -> bool:
    async def check() -> bool:
        store = await open_store(f"sqlite+aiosqlite:///{home / 'errand.db'}")
        try:
            return await authenticate(store, f"Bearer {token}") is not None
        finally:
            await store.aclose()

    return asyncio.run(check())


def test_folders_add_list_remove(home: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    added = errand(home, "folders", "add", str(notes), "--mode", "rw")
    assert added.returncode == 0, added.stderr
    listed = errand(home, "folders", "list")
    assert "notes" in listed.stdout and "rw" in listed.stdout and str(notes) in listed.stdout
    again = errand(home, "folders", "add", str(tmp_path), "--name", "notes")
    assert again.returncode == 2 and "already allowed" in again.stderr
    missing = errand(home, "folders", "add", str(tmp_path / "absent"))
    assert missing.returncode == 2 and "not an existing folder" in missing.stderr
    bad_mode = errand(home, "folders", "add", str(tmp_path), "--mode", "all")
    assert bad_mode.returncode == 2
    assert errand(home, "folders", "remove", "notes").returncode == 0
    assert "No allowed folders" in errand(home, "folders", "list").stdout
    gone = errand(home, "folders", "remove", "notes")
    assert gone.returncode == 2 and "no allowed folder" in gone.stderr


def test_folders_add_names_what_stays_hidden(home: Path, tmp_path: Path) -> None:
    added = errand(home, "folders", "add", str(tmp_path), "--mode", "rw")
    assert added.returncode == 0, added.stderr
    assert f"{home} is Errand's own and stays hidden from tasks." in added.stdout
    home.mkdir(exist_ok=True)
    refused = errand(home, "folders", "add", str(home), "--name", "data")
    assert refused.returncode == 2
    assert "is Errand's own directory; allow a folder outside it." in refused.stderr
    assert "data" not in errand(home, "folders", "list").stdout


def test_tokens_create_list_revoke(home: Path) -> None:
    created = errand(home, "tokens", "create", "--name", "backup", "--scope", "tasks:read")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("errand_tok_")
    assert "shown only once" in created.stderr
    assert authenticates(home, token)
    listed = errand(home, "tokens", "list")
    assert "backup" in listed.stdout and "tasks:read" in listed.stdout
    assert token.split("_", 3)[3] not in listed.stdout
    token_id = token.split("_", 3)[2]
    assert errand(home, "tokens", "revoke", token_id).returncode == 0
    assert not authenticates(home, token)
    assert errand(home, "tokens", "revoke", token_id).returncode == 2
    bad = errand(home, "tokens", "create", "--name", "x", "--scope", "root")
    assert bad.returncode == 2 and "unknown scope" in bad.stderr
    assert errand(home, "tokens", "create").returncode == 2


def test_devices_list_and_revoke(home: Path) -> None:
    from errand.access import PairingService, PendingPairing

    async def approve(pending: PendingPairing) -> bool:
        return True

    async def pair_two() -> list[str]:
        store = await open_store(f"sqlite+aiosqlite:///{home / 'errand.db'}")
        service = PairingService(store, confirm=approve, on_warning=lambda _: None)
        tokens = []
        try:
            for name in ("Ana's phone", "tablet"):
                code = await service.new_code("http://127.0.0.1:8765")
                claim = await service.claim(code.secret, name, "127.0.0.1")
                issued = await service.wait(claim.claim_id, claim.claim_token, timeout=5)
                assert issued is not None
                tokens.append(issued.device_token)
        finally:
            await service.aclose()
            await store.aclose()
        return tokens

    home.mkdir(parents=True)
    first, second = asyncio.run(pair_two())
    listed = errand(home, "devices", "list")
    assert "Ana's phone" in listed.stdout and "tablet" in listed.stdout
    assert "active" in listed.stdout
    first_id = first.split("_", 3)[2]
    assert errand(home, "devices", "revoke", first_id).returncode == 0
    assert not authenticates(home, first) and authenticates(home, second)
    assert "Ana's phone" not in errand(home, "devices", "list").stdout
    assert errand(home, "devices", "revoke", first_id).returncode == 2
    assert errand(home, "devices", "revoke").returncode == 2
    assert errand(home, "devices", "revoke", "--all").returncode == 0
    assert not authenticates(home, second)
    assert "No paired devices" in errand(home, "devices", "list").stdout
