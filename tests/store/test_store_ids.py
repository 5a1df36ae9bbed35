"""Ids: URL-safe, unique, and in creation order within a process."""

from __future__ import annotations

from errand.store.ids import looks_like_id, new_id


def test_ids_are_unique_increasing_and_url_safe() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(looks_like_id(value) for value in ids)


def test_junk_does_not_look_like_an_id() -> None:
    assert not looks_like_id("../../etc/passwd")
    assert not looks_like_id("A" * 26)
    assert not looks_like_id("")
