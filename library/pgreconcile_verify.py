#!/usr/bin/python
"""Ansible face of `pgreconcile verify`: is live now what the migrations expect, every row kept?"""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_verify
short_description: Verify a live PostgreSQL database against its migrations and fail the task when anything is off
description:
  - Diffs live against the latest state of the reference (for a Django project, the schema all of
    today's migrations build in a scratch database); only the differences the plan kept on purpose
    (its C(residual), from O(plan) or O(plan_data)) are accepted.
  - With a plan, checks what pgreconcile's own transactions wrote (the executor's per-step audit
    in C(pgreconcile.ledger)) - no row inserted or deleted, rows updated only by a backfill and no
    more than it reported - so the application may write during the run.
  - Checks that no constraint or index is left invalid by this run. With O(baseline) (taken
    with O(capture_baseline) before the first change) only invalid objects that appeared during
    the run and are the plan's or the migrations' count; with a plan only, the plan's own
    objects; with neither, every invalid object. An index another session is building is never
    counted.
  - With a Django project, C(migrate --check) and C(makemigrations --check) must be clean; with
    O(run_tests=true) also runs the project's tests.
  - With O(backup) or O(baseline), row counts (tables C(migrate) itself writes to are left out)
    and data fingerprints are compared and reported; they fail the task only without a plan,
    when nothing tells pgreconcile's writes from the application's.
  - Fails the task (exit code 3) with the list of problems when anything is off. Reads only, so it
    never reports C(changed) and runs the same in check mode.
  - O(inject_failure) is for rollback drills only.
  - This module is a thin face of the C(pgreconcile) engine, like C(pgreconcile verify).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  plan:
    description:
      - The C(plan.json) applied before; the differences it kept on purpose are accepted.
        A path that does not exist is treated as no plan.
    type: path
  plan_data:
    description:
      - The plan itself, as returned by M(pgreconcile_plan) in its C(plan) value.
    type: dict
  backup:
    description:
      - The backup taken before the changes (dump or manifest); row counts are compared with its manifest.
    type: path
  run_tests:
    description:
      - Also run the project's tests (C(manage.py test)); needs the right to create the test database.
    type: bool
    default: false
  test_settings:
    description:
      - Settings module for the tests, for example V(staging_settings).
    type: str
  baseline:
    description:
      - What O(capture_baseline=true) returned in its C(baseline) value before the first change
        (invalid objects, tables, row counts and data fingerprints before the run).
    type: dict
  capture_baseline:
    description:
      - Only take the baseline (nothing is verified) and return it as C(baseline), for a later
        call's O(baseline). Run it right before the first change.
    type: bool
    default: false
  inject_failure:
    description:
      - Rollback drill - report verification as failed even when it passed, so the
        rollback path can be rehearsed. Never set it on a real run.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Never changes anything, so there is nothing to show.
extends_documentation_fragment:
  - pgreconcile
  - pgreconcile.django
  - pgreconcile.reference
seealso:
  - module: pgreconcile_apply
  - module: pgreconcile_rollback
"""

EXAMPLES = r"""
- name: Verify live after the plan and the migrations
  pgreconcile_verify:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    settings: pettycash_system.settings
    plan: /var/lib/pgreconcile/reports/plan.json
    backup: "{{ backup.manifest }}"

- name: Verify and run the project's tests on staging
  pgreconcile_verify:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    run_tests: true
    test_settings: staging_settings
"""

RETURN = r"""
ok:
  description: True when nothing is off.
  returned: always
  type: bool
problems:
  description: What is off, one sentence each.
  returned: always
  type: list
  elements: str
checks:
  description: Each check's details (drift, own_writes, invalid_objects, row_counts,
    data_fingerprints, C(migrate --check), C(makemigrations --check), tests).
  returned: always
  type: dict
drift:
  description: Live against the latest reference, before the plan's kept differences are accepted -
    C(counts), C(empty) and every difference in C(changes) (C(cosmetic) marks the harmless ones),
    as C(pgreconcile diff --json) shows it.
  returned: always
  type: dict
baseline:
  description: With O(capture_baseline=true), the state before the run to pass as O(baseline).
  returned: when capture_baseline is true
  type: dict
seconds:
  description: Time the module took.
  returned: success
  type: float
exit_code:
  description: Exit code the CLI would give for the failure (3 when verification failed).
  returned: failure
  type: int
error:
  description: Type of the engine error, C(VerificationFailed) when verification failed.
  returned: failure
  type: str
"""

from ansible.module_utils.pgreconcile_common import REFERENCE_CHOICE, run_module

OPTIONS = {
    "plan": {"type": "path"},
    "plan_data": {"type": "dict"},
    "backup": {"type": "path"},
    "run_tests": {"type": "bool", "default": False},
    "test_settings": {"type": "str"},
    "baseline": {"type": "dict"},
    "capture_baseline": {"type": "bool", "default": False},
    "inject_failure": {"type": "bool", "default": False},
}


def verify(run) -> None:
    from pgreconcile.errors import VerificationFailed
    from pgreconcile.runbook.stages import verify_target
    from pgreconcile.runbook.verify import counts_to_preserve

    params = run.params
    plan = run.plan(missing_ok=True)
    if params["capture_baseline"]:
        from pgreconcile.runbook.verify import verify_baseline
        with run.live.connect() as conn:
            run.result.update(baseline=verify_baseline(conn, plan),
                              plan_id=plan.id if plan else None)
        return
    target = run.target()
    counts = None
    if params["backup"] and not params["baseline"]:
        from pgreconcile.pg.backup import load_manifest
        counts = counts_to_preserve(load_manifest(params["backup"]).row_counts)

    with run.run_lock("verify"):
        verification, diagnosis = verify_target(
            target, residual=list(plan.residual) if plan else [], plan=plan,
            baseline=params["baseline"], expected_counts=counts,
            run_tests=params["run_tests"], test_settings=params["test_settings"],
            inject_failure="inject_failure" if params["inject_failure"] else None)
    run.result.update(verification.to_dict(), drift=diagnosis.to_dict(),
                      plan_id=plan.id if plan else None)
    if not verification.ok:
        raise VerificationFailed(
            "verification failed: " + "; ".join(verification.problems),
            hint="see the report; the runbook rolls back with the plan's reverse steps or "
                 "restores the backup")


def main() -> None:
    run_module(verify, OPTIONS, reference="reference",
               mutually_exclusive=[REFERENCE_CHOICE, ("plan", "plan_data")],
               required_one_of=[REFERENCE_CHOICE], supports_check_mode=True)


if __name__ == "__main__":
    main()
