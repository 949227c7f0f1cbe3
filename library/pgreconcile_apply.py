#!/usr/bin/python
"""Ansible face of `pgreconcile apply`: carry out a plan, step by step, in the ledger."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_apply
short_description: Apply a pgreconcile plan to a live PostgreSQL database, idempotently and lock-aware
description:
  - Carries out the steps of a plan made by M(pgreconcile_plan) under a session advisory lock
    (one run per database), recording every step in the C(pgreconcile.ledger) table of the
    target database. A step whose probe says it is already done is skipped, so running the same
    plan again changes nothing and reports C(changed=false).
  - Every statement runs with C(lock_timeout) and is retried with backoff; backfills run in short
    keyset-paginated batches and resume from the ledger after an interruption.
  - Refuses (exit code 4, nothing changed) a plan with destructive steps unless
    O(allow_destructive=true), a plan made for another state of the schema, and any change
    outside O(maintenance_window). Needs a verified O(backup) (checked again here) unless
    O(no_backup=true).
  - In check mode nothing is changed; the steps not done yet are returned as the diff. With
    O(pending_steps) (from M(pgreconcile_plan)) check mode connects to nothing.
  - This module is a thin face of the C(pgreconcile) engine, like C(pgreconcile apply).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  plan:
    description:
      - The C(plan.json) written by M(pgreconcile_plan), on the managed host.
      - Exactly one of O(plan) and O(plan_data) is required.
    type: path
  plan_data:
    description:
      - The plan itself, as returned by M(pgreconcile_plan) in its C(plan) value.
    type: dict
  pending_steps:
    description:
      - In check mode, the ids of the steps known not to be done yet (C(pending_steps) of
        M(pgreconcile_plan)); the module then connects to nothing. Ignored outside check mode,
        where every step's probe is asked again.
    type: list
    elements: str
  backup:
    description:
      - A verified backup taken before (the dump or its manifest, from M(pgreconcile_backup));
        verified again against its manifest before the first change.
    type: path
  no_backup:
    description:
      - Apply without a backup; you take responsibility.
    type: bool
    default: false
  allow_destructive:
    description:
      - Allow steps flagged destructive (dropping or replacing objects).
    type: bool
    default: false
  show_samples:
    description:
      - When existing rows would make a step fail, name them by their values in the refusal
        message. By default only their primary keys are shown, since the message reaches
        Ansible's output and the run's report.
    type: bool
    default: false
  maintenance_window:
    description:
      - When changes may run, for example V(Sat 01:00-03:00 UTC); several windows as a list or
        separated by V(;). Outside it the module refuses (exit code 4) and changes nothing; a
        backfill that would run past the window's end pauses and resumes in the next run.
      - Empty means no window.
    type: raw
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) for every statement, for example V(2s) or V(500ms).
    type: str
    default: 2s
  retries:
    description:
      - Attempts per step when its lock is not granted in time.
    type: int
    default: 5
  batch_size:
    description:
      - Rows per backfill batch, each in its own short transaction.
    type: int
    default: 5000
  batch_delay:
    description:
      - Seconds to pause between backfill batches.
    type: float
    default: 0
attributes:
  check_mode:
    support: full
    description: Changes nothing; returns the steps a real run would carry out.
  diff_mode:
    support: full
    description: The SQL of the steps that are (or would be) carried out.
extends_documentation_fragment:
  - pgreconcile
seealso:
  - module: pgreconcile_plan
  - module: pgreconcile_backup
  - module: pgreconcile_rollback
"""

EXAMPLES = r"""
- name: Apply the reviewed plan after a verified backup
  pgreconcile_apply:
    db_name: pettycash
    plan: /var/lib/pgreconcile/reports/plan.json
    backup: "{{ backup.manifest }}"
    maintenance_window: Sat 01:00-03:00 UTC
    lock_timeout: 2s
  register: applied

- name: Show what the plan would do (check mode, no connection)
  pgreconcile_apply:
    plan_data: "{{ plan.plan }}"
    pending_steps: "{{ plan.pending_steps }}"
  check_mode: true
"""

RETURN = r"""
plan_id:
  description: Id of the plan applied.
  returned: always
  type: str
database:
  description: Name of the database.
  returned: success, not in check mode
  type: str
steps:
  description: Outcome of every step (C(done), C(already-done), C(skipped-ledger)) with rows,
    seconds and lock attempts.
  returned: success, not in check mode
  type: list
  elements: dict
seconds:
  description: Time the apply took (in check mode, the time the module took).
  returned: success
  type: float
backup:
  description: The backup verified before the first change.
  returned: success, not in check mode
  type: str
pending_steps:
  description: Ids of the steps a real run would carry out.
  returned: check mode
  type: list
  elements: str
sql:
  description: The SQL of the steps carried out (or that would be, in check mode).
  returned: success
  type: str
maintenance_window:
  description: State of O(maintenance_window) when one is set (C(open), C(message), ...).
  returned: when O(maintenance_window) is set
  type: dict
exit_code:
  description: Exit code the CLI would give for the failure (4 when refused).
  returned: failure
  type: int
error:
  description: Type of the engine error, for example C(OutsideMaintenanceWindow),
    C(DestructiveStepRefused), C(PlanOutdated), C(LockNotAcquired) or C(BackupUnverified).
  returned: failure
  type: str
hint:
  description: What to do next.
  returned: failure
  type: str
"""

import dataclasses

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "plan": {"type": "path"},
    "plan_data": {"type": "dict"},
    "pending_steps": {"type": "list", "elements": "str"},
    "backup": {"type": "path"},
    "no_backup": {"type": "bool", "default": False},
    "allow_destructive": {"type": "bool", "default": False},
    "show_samples": {"type": "bool", "default": False},
    "maintenance_window": {"type": "raw"},
    "lock_timeout": {"type": "str", "default": "2s"},
    "retries": {"type": "int", "default": 5},
    "batch_size": {"type": "int", "default": 5000},
    "batch_delay": {"type": "float", "default": 0.0},
}


def plan_script(plan, step_ids) -> str:
    """The plan's SQL script for `step_ids` only, in plan order."""
    wanted = set(step_ids)
    return dataclasses.replace(plan, steps=tuple(s for s in plan.steps if s.id in wanted)) \
        .sql_script()


def apply(run) -> None:
    from pgreconcile.apply.options import ApplyOptions
    from pgreconcile.apply.probes import pending_steps
    from pgreconcile.apply.refusals import refuse_destructive
    from pgreconcile.runbook.stages import apply_changes
    from pgreconcile.runbook.window import window_status

    params, result = run.params, run.result
    plan = run.plan()
    windows = run.windows()
    options = ApplyOptions(allow_destructive=params["allow_destructive"],
                           lock_timeout=params["lock_timeout"], retries=params["retries"],
                           batch_size=params["batch_size"], batch_delay=params["batch_delay"],
                           run_id=params["run_id"], show_samples=params["show_samples"])
    result["plan_id"] = plan.id
    if windows is not None:
        result["maintenance_window"] = window_status(windows)

    if run.check_mode:
        refuse_destructive(plan, options.allow_destructive)
        todo = params["pending_steps"]
        if todo is None:
            todo = pending_steps(run.live, plan)
        known = {step.id for step in plan.steps}
        todo = [step_id for step_id in todo if step_id in known]
        if todo and windows is not None and not result["maintenance_window"]["open"]:
            run.warn("a real run would refuse: " + result["maintenance_window"]["message"])
        result.update(changed=bool(todo), pending_steps=todo, sql=plan_script(plan, todo))
        run.show_diff("", result["sql"], f"{plan.database}: plan {plan.id}",
                      f"{plan.database}: {len(todo)} of {len(plan.steps)} steps to apply")
        return

    applied = apply_changes(run.live, plan, options, backup=params["backup"],
                            no_backup=params["no_backup"], windows=windows,
                            pg_bin_dir=params["pg_bin_dir"]).to_dict()
    done = [step["id"] for step in applied["steps"] if step["outcome"] == "done"]
    result.update(applied, sql=plan_script(plan, done))
    run.show_diff("", result["sql"], f"{plan.database}: plan {plan.id}",
                  f"{plan.database}: {len(done)} of {len(plan.steps)} steps applied")


def main() -> None:
    run_module(apply, OPTIONS, mutually_exclusive=[("plan", "plan_data"), ("backup", "no_backup")],
               required_one_of=[("plan", "plan_data")], supports_check_mode=True)


if __name__ == "__main__":
    main()
