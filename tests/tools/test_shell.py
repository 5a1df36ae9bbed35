"""run_shell in a real sandbox: exit codes, output caps, time limits, refused network."""

from __future__ import annotations

import shutil

from errand.sandbox.policy import Limits
from errand.tools import Action, ActionKind
from errand.tools.shell import STDERR_CHARS, STDOUT_CHARS
from tools.tool_harness import WORK, Harness, MakeHarness


async def test_run_shell_runs_in_the_working_folder(harness: Harness) -> None:
    (harness.work / "a.txt").write_text("from the host\n", encoding="utf-8")
    out = await harness.call("run_shell", command="pwd; cat a.txt; echo oops >&2")
    assert not out.is_error
    assert out.content == (
        f"exit code: 0\n--- stdout ---\n{WORK}\nfrom the host\n--- stderr ---\noops"
    )


async def test_a_non_zero_exit_is_a_normal_result(harness: Harness) -> None:
    out = await harness.call("run_shell", command="echo partial; exit 3")
    assert not out.is_error
    assert out.content.startswith("exit code: 3\n--- stdout ---\npartial")


async def test_commands_can_write_granted_folders_but_not_read_only_ones(
    harness: Harness,
) -> None:
    out = await harness.call(
        "run_shell", command="echo made > made.txt && echo x > ../docs/guide.md"
    )
    assert out.content.startswith("exit code: 1")
    assert "Read-only file system" in out.content
    assert (harness.work / "made.txt").read_text(encoding="utf-8") == "made\n"
    assert (harness.docs / "guide.md").read_text(encoding="utf-8") == "# Guide\nread me\n"


async def test_long_output_keeps_head_and_tail_and_says_what_was_cut(harness: Harness) -> None:
    out = await harness.call(
        "run_shell",
        command="echo FIRST; head -c 100000 /dev/zero | tr '\\0' x; echo; echo LAST;"
        " head -c 50000 /dev/zero | tr '\\0' e >&2",
    )
    stdout, stderr = out.content.split("--- stderr ---")
    assert "FIRST" in stdout and "LAST" in stdout
    assert "characters cut ...]" in stdout
    assert len(stdout) < STDOUT_CHARS + 100
    assert "characters cut ...]" in stderr
    assert len(stderr) < STDERR_CHARS + 100


async def test_output_past_the_sandbox_cap_is_reported_as_dropped(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(limits=Limits(output_bytes=4096))
    out = await harness.call("run_shell", command="head -c 10000 /dev/zero | tr '\\0' y")
    assert "[5.8 KiB more stdout dropped by the sandbox]" in out.content


async def test_a_command_that_runs_too_long_is_stopped_and_says_so(harness: Harness) -> None:
    out = await harness.call("run_shell", command="echo started; sleep 30", timeout=1)
    assert not out.is_error
    assert out.content.startswith("exit code: 124 (timed out after 1 s;")
    assert "started" in out.content


async def test_the_requested_timeout_never_exceeds_the_policy(make_harness: MakeHarness) -> None:
    harness = await make_harness(limits=Limits(timeout_seconds=1))
    out = await harness.call("run_shell", command="sleep 30", timeout=3600)
    assert "timed out after 1 s" in out.content


async def test_network_refusals_are_listed_with_the_proxys_reason(harness: Harness) -> None:
    out = await harness.call(
        "run_shell", command="curl -sS --max-time 5 https://example.com/ >/dev/null"
    )
    assert not out.content.startswith("exit code: 0")
    assert "--- network refused ---" in out.content
    assert "example.com:443: no domains are allowed for this session" in out.content


async def test_an_empty_command_is_an_error(harness: Harness) -> None:
    out = await harness.call("run_shell", command="  ")
    assert out.is_error


async def test_run_shell_describes_as_a_shell_action_with_the_command(harness: Harness) -> None:
    action = harness.builtin.describe(harness.call_of("run_shell", command="ls -la"), harness.ctx)
    assert action == Action("run_shell", ActionKind.SHELL, "ls -la")


async def test_a_sandbox_that_cannot_start_is_a_tool_error_not_an_exit_status(
    harness: Harness,
) -> None:
    shutil.rmtree(harness.docs)  # a granted folder vanished: the sandbox cannot mount it
    out = await harness.call("run_shell", command="echo hi")
    assert out.is_error
    assert out.content.startswith("The sandbox could not be set up, so the command did not run: ")
    assert "the folder 'docs' no longer exists on the computer" in out.content
