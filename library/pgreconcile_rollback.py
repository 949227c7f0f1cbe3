#!/usr/bin/python
"""Ansible face of the runbook's rollback: undo this run, or restore its backup beside live."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_rollback
short_description: Roll back a failed pgreconcile run - reverse its steps, or restore its backup into a new database
description:
  - With O(method=reverse), unapplies the migrations this run applied (the project's own
    migrations back to O(applied_targets_before)) and undoes the plan's started steps with their
    reverse SQL, newest first, all in one transaction under O(lock_timeout) (retried with backoff
    when a lock stays busy), and marks the steps C(reverted) in the ledger. All of it or none of
    it happens.
  - Checked whole before the first statement, with nothing changed when refused (exit code 4,
    C(RollbackRefused)) for a started step with no reverse (the primary-key swap), a reverse
    statement that fails, and, unless O(allow_destructive=true), a table the rollback would drop
    that holds any row or a column holding values pgreconcile did not write itself; the message
    names each object and its row count. O(method=restore) stays available then.
  - With O(method=restore), restores O(backup) (verified against its manifest) into a new
    database beside live and returns how to switch; live is left as it is.
  - Reports C(changed) when anything was reverted, unapplied or restored.
  - The same rollback C(pgreconcile reconcile) runs on failure; this module is a thin face of it.
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  method:
    description:
      - V(reverse) undoes the finished steps (and this run's migrations); V(restore) restores the
        backup into a new database.
    type: str
    choices: [reverse, restore]
    default: reverse
  plan:
    description:
      - The C(plan.json) that was applied. Exactly one of O(plan) and O(plan_data) is required.
    type: path
  plan_data:
    description:
      - The plan itself, as returned by M(pgreconcile_plan) in its C(plan) value.
    type: dict
  migrated:
    description:
      - Whether this run applied migrations (C(changed) of M(pgreconcile_migrate)).
    type: bool
    default: false
  applied_migrations:
    description:
      - The migrations this run applied (C(applied) of M(pgreconcile_migrate)).
    type: list
    elements: str
    default: []
  applied_targets_before:
    description:
      - The migration state before this run, one C(app.migration) per app (C(applied_targets) of
        the migration state from M(pgreconcile_plan) or M(pgreconcile_inspect)).
    type: list
    elements: str
    default: []
  backup:
    description:
      - The verified backup of this run, restored with O(method=restore) or when reversing is impossible.
    type: path
  reason:
    description:
      - Why the run is rolled back; returned and written to the report.
    type: str
    default: the run failed
  project_dir:
    description:
      - Directory holding the Django project's C(manage.py), on the managed host; needed to unapply
        migrations.
    type: path
  allow_destructive:
    description:
      - Roll back even when that drops tables or columns holding data written since the change
        (they are named in C(dropped_data)).
    type: bool
    default: false
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) for every statement of the rollback, for example V(2s).
    type: str
    default: 2s
  retries:
    description:
      - Attempts of the rollback's transaction when a lock stays busy, with backoff.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    description: Changes nothing and says what would be rolled back.
  diff_mode:
    support: none
    description: The result lists what was reverted.
extends_documentation_fragment:
  - pgreconcile
  - pgreconcile.django
seealso:
  - module: pgreconcile_apply
  - module: pgreconcile_restore
"""

EXAMPLES = r"""
- name: Undo this run's migrations and steps
  pgreconcile_rollback:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    plan: /var/lib/pgreconcile/reports/plan.json
    migrated: "{{ migrated.changed }}"
    applied_migrations: "{{ migrated.applied | default([]) }}"
    applied_targets_before: "{{ plan.migrations.applied_targets }}"
    backup: "{{ backup.path }}"
    reason: verification failed
"""

RETURN = r"""
method:
  description: What was done - C(reverse), C(restore), or C(none) when there was nothing to restore from.
  returned: success
  type: str
reverted:
  description: Ids of the steps undone, newest first.
  returned: success
  type: list
  elements: str
unapplied_migrations:
  description: Migrations unapplied.
  returned: with O(method=reverse)
  type: list
  elements: str
restored_into:
  description: The new database holding the backup.
  returned: with O(method=restore)
  type: str
advice:
  description: How to switch to the restored database, or what to do without a backup.
  returned: with O(method=restore) or without a backup
  type: str
dropped_data:
  description: Tables and columns holding data that the rollback dropped because
    O(allow_destructive=true) (each C(kind), C(object), C(rows)).
  returned: when data was dropped
  type: list
  elements: dict
opaque_operations:
  description: RunSQL/RunPython operations of the unapplied migrations, whose effect pgreconcile
    cannot check.
  returned: when there were any
  type: list
  elements: str
why:
  description: O(reason).
  returned: success
  type: str
seconds:
  description: Time the module took.
  returned: success
  type: float
exit_code:
  description: Exit code the CLI would give for the failure (4 when refused, with nothing reverted).
  returned: failure
  type: int
error:
  description: Type of the engine error, for example C(RollbackRefused) or C(LockNotAcquired).
  returned: failure
  type: str
"""

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "method": {"type": "str", "choices": ["reverse", "restore"], "default": "reverse"},
    "plan": {"type": "path"},
    "plan_data": {"type": "dict"},
    "migrated": {"type": "bool", "default": False},
    "applied_migrations": {"type": "list", "elements": "str", "default": []},
    "applied_targets_before": {"type": "list", "elements": "str", "default": []},
    "backup": {"type": "path"},
    "reason": {"type": "str", "default": "the run failed"},
    "allow_destructive": {"type": "bool", "default": False},
    "lock_timeout": {"type": "str", "default": "2s"},
    "retries": {"type": "int", "default": 5},
}


def rollback(run) -> None:
    from pgreconcile.apply.options import ApplyOptions
    from pgreconcile.progress import NULL
    from pgreconcile.runbook.reference import ReferenceSource
    from pgreconcile.runbook.stages import ReconcileOptions, Target, rollback_run

    params = run.params
    plan = run.plan()
    project = run.project()
    if run.check_mode:
        run.result.update(method=params["method"], reverted=[], why=params["reason"],
                          advice="check mode: nothing was applied, so nothing is rolled back")
        return

    live = run.live
    target = Target(live, ReferenceSource("django", project=project) if project else None,
                    pg_bin_dir=params["pg_bin_dir"])
    # The run so far, as the engine's own rollback reads it.
    so_far = {"migrate": {"changed": params["migrated"], "applied": params["applied_migrations"]},
              "diff_before": {"migrations": {"applied_targets": params["applied_targets_before"]}},
              "backup": {"path": params["backup"]} if params["backup"] else None,
              "run_id": params["run_id"]}
    options = ApplyOptions(allow_destructive=params["allow_destructive"],
                           lock_timeout=params["lock_timeout"], retries=params["retries"],
                           run_id=params["run_id"])
    outcome = rollback_run(live, plan, so_far,
                           ReconcileOptions(rollback=params["method"], apply=options),
                           target, params["reason"], NULL)
    run.result.update(outcome, changed=bool(outcome.get("reverted")
                                             or outcome.get("unapplied_migrations")
                                             or outcome.get("restored_into")))


def main() -> None:
    run_module(rollback, OPTIONS, reference="django",
               mutually_exclusive=[("plan", "plan_data")],
               required_one_of=[("plan", "plan_data")], supports_check_mode=True)


if __name__ == "__main__":
    main()
