#!/usr/bin/python
"""Ansible face of `pgreconcile plan`: the smallest lock-aware change, written for review."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_plan
short_description: Plan the smallest safe change that reconciles a live PostgreSQL database with its migrations
description:
  - Diffs live against the reference (for a Django project, the schema its applied migrations
    build in a scratch database) and turns the differences into ordered steps, each with its SQL,
    the lock it takes, an "already done?" probe, a reverse step where one exists and a
    C(destructive) flag.
  - Asks every step's probe (read-only) to tell which steps are still to do (C(pending_steps)).
  - With a Django project and steps to do, proves the plan with O(prove) - applies it to a
    structure-only clone and runs the pending migrations there - so a plan that would not make
    C(migrate) succeed is refused before anything changes.
  - Writes C(plan.json) (for M(pgreconcile_apply) and M(pgreconcile_verify)) and C(plan.sql)
    (for review) to O(out_dir). A plan file is not a change to the database, so the module
    never reports C(changed); C(would_change) says whether applying it would change anything.
  - A plan with differences it cannot fix safely (C(unsupported)), or one the proof rejects, fails
    the task (exit code 4) after the plan files are written; in check mode both are warnings.
  - In check mode the plan is computed and returned (as the diff with C(--diff)) and nothing is written.
  - This module is a thin face of the C(pgreconcile) engine, like C(pgreconcile plan).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  out_dir:
    description:
      - Directory C(plan.json) and C(plan.sql) are written to, on the managed host; created when
        missing. Without it nothing is written.
    type: path
  pk_strategy:
    description:
      - How a changed primary key is reconciled. V(keep) adds the new key beside the old one
        (non-destructive); V(swap) moves the foreign keys and swaps the primary key (destructive
        steps, which M(pgreconcile_apply) only runs with O(pgreconcile_apply#module:allow_destructive=true)).
    type: str
    choices: [keep, swap]
    default: keep
  backfill:
    description:
      - Values for a new key column. V(stable) derives a name-based UUID from table and old key,
        the same in every environment; V(random) uses C(gen_random_uuid()).
    type: str
    choices: [stable, random]
    default: stable
  drop_extra:
    description:
      - What to do with objects only live has (tables, columns, constraints, indexes, views,
        triggers, sequences, types, policies, comments, grants, ...). V(false) keeps them and
        reports them in C(kept). V(true) plans a destructive drop step for each, after every
        other step and in reverse dependency order, which M(pgreconcile_apply) only runs with
        O(pgreconcile_apply#module:allow_destructive=true). A dropped table or column has no
        reverse step (its data is gone); the other drops recreate the object on rollback.
    type: bool
    default: false
  prove:
    description:
      - With a Django project and steps to do, apply the plan to a structure-only clone and run
        the pending migrations there; refuse the plan when they still fail.
    type: bool
    default: true
  lint:
    description:
      - Lint the plan's SQL with C(squawk) when it is installed; findings are returned in C(lint).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Computes, probes and proves the plan; writes nothing.
  diff_mode:
    support: full
    description: Before is the live drift, after is the plan's SQL script.
extends_documentation_fragment:
  - pgreconcile
  - pgreconcile.django
  - pgreconcile.reference
seealso:
  - module: pgreconcile_apply
  - module: pgreconcile_inspect
"""

EXAMPLES = r"""
- name: Plan the repair and write plan.json and plan.sql for review
  pgreconcile_plan:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    settings: pettycash_system.settings
    python: /srv/pettycash/venv/bin/python
    out_dir: /var/lib/pgreconcile/reports
  register: plan

- name: Plan the destructive primary-key swap (applied only with allow_destructive)
  pgreconcile_plan:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    pk_strategy: swap
    out_dir: /var/lib/pgreconcile/reports

- name: Plan to drop what only live has (applied only with allow_destructive)
  pgreconcile_plan:
    db_name: pettycash_staging
    reference_dsn: "host=db.example.internal dbname=pettycash_prod user=reader"
    drop_extra: true
    out_dir: /tmp/plan

- name: Plain database-to-database plan
  pgreconcile_plan:
    db_name: pettycash_staging
    reference_dsn: "host=db.example.internal dbname=pettycash_prod user=reader"
    out_dir: /tmp/plan
"""

RETURN = r"""
plan:
  description: The plan (id, strategy, live fingerprint, steps with SQL, probe, reverse, lock,
    kept, unsupported and residual differences), as written to C(plan.json).
  returned: success
  type: dict
plan_id:
  description: Id of the plan (a hash of the live fingerprint and the steps).
  returned: success
  type: str
plan_json:
  description: Path of C(plan.json) (written unless in check mode or without O(out_dir)).
  returned: success
  type: str
plan_sql:
  description: Path of C(plan.sql).
  returned: success
  type: str
written:
  description: Whether the plan files were written.
  returned: success
  type: bool
sql:
  description: The plan's SQL script, for review.
  returned: success
  type: str
steps:
  description: Number of steps.
  returned: success
  type: int
pending_steps:
  description: Ids of the steps whose probe says they are not done yet.
  returned: success
  type: list
  elements: str
promotion:
  description: What the promotion gate (M(pgreconcile_promotion)) matches on -
    C(migrations_digest), C(plan_shape_digest) (the steps and migrations, not the database)
    and C(changes) (whether the run changes anything).
  returned: success
  type: dict
pending_migrations:
  description: Migrations pending on live (with a Django project).
  returned: success
  type: list
  elements: str
would_change:
  description: True when applying the plan or running the pending migrations would change the database.
  returned: success
  type: bool
destructive:
  description: Ids of the destructive steps.
  returned: success
  type: list
  elements: str
unsupported:
  description: Differences the plan cannot fix safely.
  returned: success
  type: list
  elements: dict
drift:
  description: The differences the plan starts from - live against the reference (for a Django
    project, the state its applied migrations build) - with C(counts) (missing, extra, different,
    cosmetic), C(empty) and every difference in C(changes) (bucket, object, live and expected
    values, risk note, C(cosmetic)), as C(pgreconcile diff --json) shows it.
  returned: success
  type: dict
migrations:
  description: Migration state of live (applied, pending, applied_targets, suspect_edited).
  returned: with a Django project
  type: dict
proof:
  description: The pending migrations on a clone with the plan applied (C(ok), C(summary), C(error)),
    or null when not proved.
  returned: success
  type: dict
lint:
  description: Findings of C(squawk) on the plan's SQL.
  returned: success
  type: list
  elements: dict
seconds:
  description: Time the module took.
  returned: success
  type: float
exit_code:
  description: Exit code the CLI would give for the failure (4 when the plan is refused).
  returned: failure
  type: int
error:
  description: Type of the engine error, for example C(Refused) or C(ProjectError).
  returned: failure
  type: str
"""

from pathlib import Path

from ansible.module_utils.pgreconcile_common import REFERENCE_CHOICE, run_module

OPTIONS = {
    "out_dir": {"type": "path"},
    "pk_strategy": {"type": "str", "choices": ["keep", "swap"], "default": "keep"},
    "backfill": {"type": "str", "choices": ["stable", "random"], "default": "stable"},
    "drop_extra": {"type": "bool", "default": False},
    "prove": {"type": "bool", "default": True},
    "lint": {"type": "bool", "default": True},
}


def _drift_text(diagnosis) -> str:
    lines = [f"live {diagnosis.live.database} against {diagnosis.reference}"]
    for change in diagnosis.diff.significant:
        lines.append(f"{change.bucket} {change.kind} {change.object}"
                     + (f": {change.risk}" if change.risk else ""))
    if diagnosis.diff.is_empty:
        lines.append("no significant drift")
    return "\n".join(lines) + "\n"


def make_plan(run) -> None:
    from pgreconcile.apply.probes import pending_steps
    from pgreconcile.apply.refusals import unsupported_refusal
    from pgreconcile.errors import Refused
    from pgreconcile.files import write_private_json, write_private_text
    from pgreconcile.runbook.stages import plan_changes, prove_plan

    params, result = run.params, run.result
    target = run.target()
    plan, diagnosis = plan_changes(target, strategy=params["pk_strategy"],
                                   backfill=params["backfill"], lint=params["lint"],
                                   drop_extra=params["drop_extra"])
    pending = pending_steps(target.live, plan)
    migrations = diagnosis.migrations or {}
    pending_migrations = list(migrations.get("pending", []))
    proof = None
    if params["prove"] and target.project is not None and pending:
        outcome = prove_plan(target, plan)
        proof = {**outcome.to_dict(), "summary": outcome.summary()}

    script = plan.sql_script()
    out_dir = Path(params["out_dir"]).absolute() if params["out_dir"] else None
    result.update({
        "plan": plan.to_dict(), "plan_id": plan.id, "sql": script,
        "steps": len(plan.steps), "pending_steps": pending,
        "pending_migrations": pending_migrations,
        "would_change": bool(pending or pending_migrations),
        "destructive": [s.id for s in plan.destructive_steps],
        "unsupported": [u.to_dict() for u in plan.unsupported], "drift": diagnosis.to_dict(),
        "proof": proof, "lint": list(plan.lint), "written": False,
        "plan_json": str(out_dir / "plan.json") if out_dir else None,
        "plan_sql": str(out_dir / "plan.sql") if out_dir else None,
    })
    if diagnosis.migrations is not None:
        result["migrations"] = migrations
    # What the promotion gate matches on (pgreconcile_promotion): migrations and plan shape.
    from pgreconcile.runbook.promotion import Fingerprints
    result["promotion"] = Fingerprints.of(plan.to_dict(), diagnosis.migrations,
                                          diagnosis.expected.fingerprint(), pending).to_dict()
    run.show_diff(_drift_text(diagnosis), script, f"{plan.database} (live drift)",
                  f"plan {plan.id} ({len(pending)} of {len(plan.steps)} steps to do)")

    if out_dir is not None and not run.check_mode:
        try:
            write_private_json(out_dir / "plan.json", plan.to_dict())
            write_private_text(out_dir / "plan.sql", script)
        except OSError as exc:
            run.fail(f"cannot write the plan to {out_dir}: {exc}", error="OSError", exit_code=1)
        result["written"] = True

    refusals = []
    unsupported = unsupported_refusal(plan)
    if unsupported is not None:
        refusals.append(f"{unsupported} ({unsupported.hint})")
    if proof is not None and not proof["ok"]:
        refusals.append("the plan does not make the pending migrations apply: "
                        + proof["summary"])
    if refusals and run.check_mode:
        for refusal in refusals:
            run.warn(f"a real run would refuse this plan: {refusal}")
    elif refusals:
        raise Refused("; ".join(refusals) + "; nothing was changed")


def main() -> None:
    run_module(make_plan, OPTIONS, reference="reference",
               mutually_exclusive=[REFERENCE_CHOICE], required_one_of=[REFERENCE_CHOICE],
               supports_check_mode=True)


if __name__ == "__main__":
    main()
