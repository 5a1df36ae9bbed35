"""A task's ``verify`` commands: run after the task, in a fresh sandbox, over its folders.

Graders never run what the agent wrote on the host: a fixed script's tests, say, run here,
with every folder read-only and no network, starting in the first folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from errand.evals.results import Verified
from errand.sandbox import FolderGrant, FolderMode, Sandbox, SandboxPolicy

_VERIFY_SECONDS = 60.0
_VERIFY_OUTPUT_BYTES = 64 * 1024


async def run_verify(
    commands: Mapping[str, str], grants: Sequence[FolderGrant]
) -> dict[str, Verified]:
    """Run the task's ``verify`` commands over its folders as it left them: read-only, no
    network, in the first folder."""
    folders = tuple(
        FolderGrant(path=g.path, mode=FolderMode.READ_ONLY, name=g.name) for g in grants
    )
    policy = SandboxPolicy(folders=folders)
    outcomes: dict[str, Verified] = {}
    async with Sandbox(policy) as sandbox:
        for name, command in commands.items():
            done = await sandbox.run(["/bin/sh", "-c", command], timeout=_VERIFY_SECONDS)
            output = (done.stdout + done.stderr)[:_VERIFY_OUTPUT_BYTES]
            outcomes[name] = Verified(done.exit_code, output.decode("utf-8", errors="replace"))
    return outcomes
