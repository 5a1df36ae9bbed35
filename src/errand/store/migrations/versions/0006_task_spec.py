"""Tasks carry a typed spec instead of a policy blob, and what needs the user's attention.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-05

Each task's ``policy`` JSON (``{"sandbox": {...}}``) and ``max_steps`` become the ``spec``
column: a ``TaskSpec`` of version 1 (see ``errand.tasks.spec``). Folders of tasks started
at the computer become host grants; the others were allowed folders chosen by name. The
``webhook`` source is now called ``hook``. ``attention`` holds what the user should look at
in a finished task.

Written out in full rather than imported from the table modules: a migration must keep
describing the schema as it was when it was written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NETWORK_KEYS = ("allow_domains", "deny_domains", "allow_cidrs")


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("spec", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("attention", sa.Text(), nullable=False, server_default="[]"))
    if not op.get_context().as_sql:  # rendered SQL (--sql) is for empty databases
        _convert_rows()
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("policy")
        batch.drop_column("max_steps")


def _convert_rows() -> None:
    conn = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("model", sa.String),
        sa.column("policy", sa.Text),
        sa.column("source", sa.String),
        sa.column("max_steps", sa.Integer),
        sa.column("spec", sa.Text),
    )
    rows = conn.execute(
        sa.select(tasks.c.id, tasks.c.model, tasks.c.policy, tasks.c.source, tasks.c.max_steps)
    ).all()
    for task_id, model, policy, source, max_steps in rows:
        spec, kind = _spec_of(model, policy, source, max_steps)
        conn.execute(tasks.update().where(tasks.c.id == task_id).values(spec=spec, source=kind))


def _spec_of(model: str, policy_text: str, source: str, max_steps: int | None) -> tuple[str, str]:
    try:
        policy = json.loads(policy_text)
    except ValueError:
        policy = {}
    sandbox = policy.get("sandbox") if isinstance(policy, dict) else None
    sandbox = sandbox if isinstance(sandbox, dict) else {}
    kind = "hook" if source == "webhook" else source
    origin = "host" if kind == "cli" else "allowed"
    folders = []
    for grant in sandbox.get("folders") or []:
        if isinstance(grant, dict) and isinstance(grant.get("path"), str):
            path = grant["path"]
            name = grant.get("name") or path.rstrip("/").rsplit("/", 1)[-1] or "root"
            mode = "rw" if grant.get("mode") == "rw" else "ro"
            folders.append({"name": name, "path": path, "mode": mode, "origin": origin})
    network = sandbox.get("network")
    spec: dict[str, object] = {
        "version": 1,
        "model": model,
        "folders": folders,
        "source": {"kind": kind, "ref": None},
        "max_steps": max_steps,
        "review": isinstance(policy, dict) and policy.get("review") is True,
    }
    if isinstance(network, dict):
        spec["network"] = {k: network[k] for k in _NETWORK_KEYS if k in network}
    if isinstance(sandbox.get("limits"), dict):
        spec["limits"] = sandbox["limits"]
    return json.dumps(spec, separators=(",", ":")), kind


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("policy", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("max_steps", sa.Integer(), nullable=True))
    if not op.get_context().as_sql:
        _restore_policies()
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("spec")
        batch.drop_column("attention")


def _restore_policies() -> None:
    conn = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("policy", sa.Text),
        sa.column("max_steps", sa.Integer),
        sa.column("spec", sa.Text),
    )
    for task_id, spec_text in conn.execute(sa.select(tasks.c.id, tasks.c.spec)).all():
        spec = json.loads(spec_text)
        sandbox = {
            "folders": [
                {"path": f["path"], "mode": f["mode"], "name": f["name"]}
                for f in spec.get("folders", [])
            ],
            **{k: spec[k] for k in ("network", "limits") if k in spec},
        }
        conn.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(
                policy=json.dumps({"sandbox": sandbox}, separators=(",", ":")),
                max_steps=spec.get("max_steps"),
            )
        )
