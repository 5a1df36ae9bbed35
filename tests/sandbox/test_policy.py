"""Policies are validated when built: a policy that exists is one the sandbox can enforce."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.sandbox import FolderGrant, FolderMode, PolicyError, SandboxPolicy
from errand.sandbox.policy import policy_from_request


def test_folder_specs_parse_with_read_only_by_default(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    ro = FolderGrant.parse("x", base=tmp_path)
    rw = FolderGrant.parse("x:rw", base=tmp_path)
    assert ro.mode is FolderMode.READ_ONLY and rw.mode is FolderMode.READ_WRITE
    assert ro.path == (tmp_path / "x").resolve() and ro.name == "x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [("missing:rw", "does not exist"), ("x:rx", "mode must be"), ("x:wr", "mode must be")],
)
def test_bad_folder_specs_are_refused(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(PolicyError, match=message):
        FolderGrant.parse(spec, base=tmp_path)


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(PolicyError, match="not a directory"):
        FolderGrant.parse("f", base=tmp_path)


def test_name_clashes_and_overlaps_are_refused(tmp_path: Path) -> None:
    for sub in ("a/data", "b/data", "a/data/inner"):
        (tmp_path / sub).mkdir(parents=True)
    clash = [FolderGrant(path=tmp_path / "a/data"), FolderGrant(path=tmp_path / "b/data")]
    with pytest.raises(PolicyError, match="would both appear as 'data'"):
        SandboxPolicy.build(folders=clash)
    overlap = [FolderGrant(path=tmp_path / "a/data"), FolderGrant(path=tmp_path / "a/data/inner")]
    with pytest.raises(PolicyError, match="overlap"):
        SandboxPolicy.build(folders=overlap)
    renamed = [
        FolderGrant(path=tmp_path / "a/data"),
        FolderGrant(path=tmp_path / "b/data", name="other"),
    ]
    policy = SandboxPolicy.build(folders=renamed)
    assert [policy.mount_point(g) for g in policy.folders] == [
        "/sessions/default/mnt/data",
        "/sessions/default/mnt/other",
    ]
    assert policy.workdir == "/sessions/default/mnt/data"


@pytest.mark.parametrize(
    "domain",
    [
        "*",
        "*.com",
        "*.co.uk",
        "exa*mple.com",
        "a.*.com",
        "1.2.3.4",
        "user@host",
        "host/path",
        "bad domain",
        "ex%61mple.com",
        "",
    ],
)
def test_unsafe_domains_are_refused(domain: str) -> None:
    with pytest.raises(PolicyError):
        SandboxPolicy.build(network={"allow_domains": [domain]})


def test_domains_are_normalised_and_deduplicated() -> None:
    policy = SandboxPolicy.build(
        network={"allow_domains": ["Example.COM.", "example.com", "*.GitHub.com", "bücher.de"]}
    )
    assert policy.network.allow_domains == ("example.com", "*.github.com", "xn--bcher-kva.de")


@pytest.mark.parametrize("cidr", ["10.0.0.1/8", "not-a-net", "300.1.1.0/24"])
def test_bad_ranges_are_refused(cidr: str) -> None:
    with pytest.raises(PolicyError):
        SandboxPolicy.build(network={"allow_cidrs": [cidr]})


def test_session_names_are_checked() -> None:
    with pytest.raises(PolicyError, match="session name"):
        SandboxPolicy.build(session="../etc")


def test_the_config_file_table_loads_and_refuses_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    table = {
        "folders": [{"path": str(tmp_path / "site"), "mode": "rw"}],
        "network": {"allow_domains": ["pypi.org"], "deny_domains": ["evil.example"]},
        "limits": {"timeout_seconds": 30},
    }
    policy = SandboxPolicy.from_toml(table, base=tmp_path / "errand.toml")
    assert policy.folders[0].mode is FolderMode.READ_WRITE
    assert policy.limits.timeout_seconds == 30
    with pytest.raises(PolicyError, match="must be absolute"):
        SandboxPolicy.from_toml({"folders": [{"path": "site"}]}, base=tmp_path)
    with pytest.raises(PolicyError):
        SandboxPolicy.from_toml({"limits": {"timeout_seconds": -1}}, base=tmp_path)
    with pytest.raises(PolicyError):
        SandboxPolicy.from_toml({"surprise": True}, base=tmp_path)


def test_request_flags_widen_the_config(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = {
        "folders": [{"path": str(tmp_path / "a")}],
        "network": {"deny_domains": ["ads.example"]},
    }
    policy = policy_from_request(
        config,
        folders=[f"{tmp_path / 'b'}:rw"],
        allow_domains=["example.com"],
        timeout=9,
        session="s1",
    )
    assert [g.name for g in policy.folders] == ["a", "b"]
    assert policy.network.deny_domains == ("ads.example",)
    assert policy.network.allow_domains == ("example.com",)
    assert policy.limits.timeout_seconds == 9 and policy.session == "s1"
