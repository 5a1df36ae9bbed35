"""The generated Seatbelt profile: its rules, read as s-expressions, and its command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errand.sandbox.policy import FolderGrant, FolderMode, PolicyError, SandboxPolicy
from errand.sandbox.protected import PROTECTED_PATHS
from errand.sandbox.seatbelt import SANDBOX_EXEC, seatbelt_argv, seatbelt_profile

SExpr = str | list["SExpr"]
PORT = 3128


def parse(text: str) -> list[SExpr]:
    """Parse SBPL into nested lists; strings keep their quotes so they stay apart from atoms."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in "()":
            tokens.append(c)
            i += 1
        elif c == ";":
            i = text.index("\n", i)
        elif c.isspace():
            i += 1
        elif c == '"':
            end = text.index('"', i + 1)
            assert "\\" not in text[i:end], "no escapes are expected in the profile"
            tokens.append(text[i : end + 1])
            i = end + 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in '()";':
                i += 1
            tokens.append(text[start:i])
    stack: list[list[SExpr]] = [[]]
    for token in tokens:
        if token == "(":
            stack.append([])
        elif token == ")":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    assert len(stack) == 1, "unbalanced parentheses"
    return stack[0]


def rules(profile: str, verdict: str, operation: str) -> list[list[SExpr]]:
    """The filters of each ``(verdict operation filter...)`` form, in order."""
    out: list[list[SExpr]] = []
    for form in parse(profile):
        assert isinstance(form, list)
        if form[:1] == [verdict] and operation in form[1:]:
            out.append([f for f in form[1:] if isinstance(f, list)])
    return out


def param(name: str) -> SExpr:
    return ["param", f'"{name}"']


def under(name: str, suffix: str) -> SExpr:
    return ["string-append", param(name), f'"/{suffix}"']


def index_of(profile: str, verdict: str, operation: str, filter_: SExpr) -> int:
    for index, form in enumerate(parse(profile)):
        assert isinstance(form, list)
        if form[:1] == [verdict] and operation in form and filter_ in form:
            return index
    raise AssertionError(f"no ({verdict} {operation} ... {filter_})")


@pytest.fixture
def policy(tmp_path: Path) -> SandboxPolicy:
    (tmp_path / "project").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "notes").mkdir()
    return SandboxPolicy(
        session="s1",
        folders=(
            FolderGrant(path=tmp_path / "project", mode=FolderMode.READ_WRITE),
            FolderGrant(path=tmp_path / "docs", mode=FolderMode.READ_ONLY),
            FolderGrant(path=tmp_path / "notes", mode=FolderMode.READ_WRITE),
        ),
    )


def test_profile_denies_by_default(policy: SandboxPolicy) -> None:
    forms = parse(seatbelt_profile(policy, proxy_port=PORT))
    assert forms[0] == ["version", "1"]
    assert forms[1] == ["deny", "default"]
    assert not any(isinstance(f, list) and f[:2] == ["allow", "default"] for f in forms)


def test_read_write_folders_are_writable_through_parameters(policy: SandboxPolicy) -> None:
    profile = seatbelt_profile(policy, proxy_port=PORT)
    writable = [f for form in rules(profile, "allow", "file-write*") for f in form]
    assert writable == [["subpath", param("FOLDER_0")], ["subpath", param("FOLDER_2")]]
    readable = [f for form in rules(profile, "allow", "file-read*") for f in form]
    for name in ("FOLDER_0", "FOLDER_1", "FOLDER_2"):
        assert ["subpath", param(name)] in readable


def test_read_only_folders_get_no_write_rule_at_all(policy: SandboxPolicy) -> None:
    profile = seatbelt_profile(policy, proxy_port=PORT)
    for verdict_forms in parse(profile):
        assert isinstance(verdict_forms, list)
        if verdict_forms[0] == "allow" and any(
            isinstance(op, str) and op.startswith("file-write") for op in verdict_forms
        ):
            assert "FOLDER_1" not in str(verdict_forms)
    write_data = [f for form in rules(profile, "allow", "file-write-data") for f in form]
    assert write_data == [["literal", '"/dev/null"']]


@pytest.mark.parametrize("folder", ["FOLDER_0", "FOLDER_2"])
def test_protected_paths_are_denied_after_the_folder_is_allowed(
    policy: SandboxPolicy, folder: str
) -> None:
    profile = seatbelt_profile(policy, proxy_port=PORT)
    allowed_at = index_of(profile, "allow", "file-write*", ["subpath", param(folder)])
    for protected in PROTECTED_PATHS:
        denied_at = index_of(profile, "deny", "file-write*", ["subpath", under(folder, protected)])
        assert denied_at > allowed_at  # the last matching rule wins in Seatbelt
    for parent in (".git", ".github"):
        denied_at = index_of(profile, "deny", "file-write*", ["literal", under(folder, parent)])
        assert denied_at > allowed_at
    assert index_of(profile, "deny", "file-write*", ["literal", param(folder)]) > allowed_at


def test_read_only_folders_need_no_protected_rules(policy: SandboxPolicy) -> None:
    profile = seatbelt_profile(policy, proxy_port=PORT)
    denied = [f for form in rules(profile, "deny", "file-write*") for f in form]
    assert not any("FOLDER_1" in str(f) for f in denied)


def test_only_the_proxy_port_on_localhost_is_reachable(policy: SandboxPolicy) -> None:
    profile = seatbelt_profile(policy, proxy_port=41234)
    outbound = rules(profile, "allow", "network-outbound")
    assert outbound == [[["remote", "ip", '"localhost:41234"']]]
    forms = parse(profile)
    for form in forms:
        assert isinstance(form, list)
        if form[0] == "allow":
            ops = [op for op in form[1:] if isinstance(op, str)]
            assert not any(op in ("network*", "network-inbound", "network-bind") for op in ops)
    assert "*:" not in profile


def test_the_system_resolver_is_out_of_reach(policy: SandboxPolicy) -> None:
    profile = seatbelt_profile(policy, proxy_port=PORT)
    denied = [f for form in rules(profile, "deny", "mach-lookup") for f in form]
    assert ["global-name", '"com.apple.dnssd.service"'] in denied
    allowed = [f for form in rules(profile, "allow", "mach-lookup") for f in form]
    assert not any("dnssd" in str(f) or "mDNSResponder" in str(f) for f in allowed)
    sockets = [f for form in rules(profile, "deny", "network-outbound") for f in form]
    assert ["literal", '"/private/var/run/mDNSResponder"'] in sockets


def test_no_host_path_appears_in_the_profile(policy: SandboxPolicy, tmp_path: Path) -> None:
    profile = seatbelt_profile(policy, proxy_port=PORT, scratch=tmp_path)
    assert str(tmp_path) not in profile
    for grant in policy.folders:
        assert str(grant.path) not in profile
        assert grant.name not in profile


def test_profile_depends_on_the_shape_of_the_policy_only(tmp_path: Path) -> None:
    (tmp_path / "one" / "a").mkdir(parents=True)
    (tmp_path / "two" / "b").mkdir(parents=True)
    first = SandboxPolicy(
        folders=(FolderGrant(path=tmp_path / "one" / "a", mode=FolderMode.READ_WRITE),)
    )
    second = SandboxPolicy(
        folders=(FolderGrant(path=tmp_path / "two" / "b", mode=FolderMode.READ_WRITE),)
    )
    assert seatbelt_profile(first, proxy_port=PORT) == seatbelt_profile(second, proxy_port=PORT)


def test_argv_passes_every_path_as_a_parameter(policy: SandboxPolicy, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    argv = seatbelt_argv(policy, ["-n", "ls", "-la"], proxy_port=PORT, scratch=scratch)
    assert argv[:3] == [
        SANDBOX_EXEC,
        "-p",
        seatbelt_profile(policy, proxy_port=PORT, scratch=scratch),
    ]
    separator = argv.index("--")
    assert argv[separator + 1 :] == ["-n", "ls", "-la"]  # never read as sandbox-exec options
    options = argv[3:separator]
    assert options[0::2] == ["-D"] * (len(options) // 2)
    defined = dict(option.split("=", 1) for option in options[1::2])
    assert defined["FOLDER_0"] == str(tmp_path / "project")
    assert defined["FOLDER_1"] == str(tmp_path / "docs")
    assert defined["FOLDER_2"] == str(tmp_path / "notes")
    assert defined["SCRATCH"] == str(scratch)
    # Parents of the folders can be looked at (stat), nothing more.
    ancestors = {v for k, v in defined.items() if k.startswith("ANCESTOR_")}
    assert str(tmp_path) in ancestors
    profile = argv[2]
    used = {
        name.strip('"') for name in profile.split("(param ")[1:] for name in [name.split(")")[0]]
    }
    assert used == set(defined)  # every parameter used, none missing


def test_a_hostile_folder_name_only_ever_appears_in_a_parameter(tmp_path: Path) -> None:
    hostile = tmp_path / 'x") (allow default) (allow file-write* (subpath "/'
    hostile.mkdir()
    newline = tmp_path / "y\n(allow network*)\n;"
    newline.mkdir()
    policy = SandboxPolicy(
        folders=(
            FolderGrant(path=hostile, mode=FolderMode.READ_WRITE, name="hostile"),
            FolderGrant(path=newline, mode=FolderMode.READ_ONLY, name="newline"),
        )
    )
    argv = seatbelt_argv(policy, ["true"], proxy_port=PORT)
    profile = argv[2]
    assert "allow default" not in profile and "network*" not in profile
    holders = [arg for arg in argv if str(hostile) in arg or str(newline) in arg]
    assert holders == [f"FOLDER_0={hostile}", f"FOLDER_1={newline}"]
    assert parse(profile)[1] == ["deny", "default"]


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(
        alphabet=st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]),
        min_size=1,
        max_size=40,
    ).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)
)
def test_any_folder_name_leaves_the_profile_unchanged(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "grants" / name
    folder.mkdir(parents=True, exist_ok=True)
    plain = tmp_path / "grants" / "plain"
    plain.mkdir(parents=True, exist_ok=True)
    hostile = SandboxPolicy(
        folders=(FolderGrant(path=folder, mode=FolderMode.READ_WRITE, name="f"),)
    )
    ordinary = SandboxPolicy(
        folders=(FolderGrant(path=plain, mode=FolderMode.READ_WRITE, name="f"),)
    )
    assert seatbelt_profile(hostile, proxy_port=PORT) == seatbelt_profile(ordinary, proxy_port=PORT)
    assert f"FOLDER_0={folder}" in seatbelt_argv(hostile, ["true"], proxy_port=PORT)


@pytest.mark.parametrize("port", [0, -1, 65536, True])
def test_a_bad_proxy_port_is_refused(policy: SandboxPolicy, port: int) -> None:
    with pytest.raises(ValueError, match="port"):
        seatbelt_profile(policy, proxy_port=port)


def test_bad_paths_and_empty_commands_are_refused(policy: SandboxPolicy) -> None:
    with pytest.raises(ValueError, match="absolute"):
        seatbelt_argv(policy, ["true"], proxy_port=PORT, scratch=Path("relative"))
    with pytest.raises(ValueError, match="NUL"):
        seatbelt_argv(policy, ["true"], proxy_port=PORT, scratch=Path("/tmp/a\x00b"))
    with pytest.raises(ValueError, match="command"):
        seatbelt_argv(policy, [], proxy_port=PORT)
    with pytest.raises(PolicyError, match="whole file system"):
        seatbelt_profile(SandboxPolicy(folders=(FolderGrant(path=Path("/")),)), proxy_port=PORT)


def test_a_policy_without_folders_still_runs_programs() -> None:
    profile = seatbelt_profile(SandboxPolicy(), proxy_port=PORT)
    assert rules(profile, "allow", "file-write*") == []
    assert rules(profile, "allow", "process-exec") == [[]]
    assert ["subpath", '"/usr"'] in rules(profile, "allow", "file-read*")[0]
