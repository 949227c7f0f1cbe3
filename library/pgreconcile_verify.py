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
  - Checks that every constraint and index is valid, and with a Django project that
    C(migrate --check) and C(makemigrations --check) are clean; with O(run_tests=true) also runs
    the project's tests.
  - With O(backup), the row count of every table is compared with the backup's manifest (tables
    C(migrate) itself writes to are left out).
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
  description: Each check's details (drift, invalid constraints or indexes, row counts,
    C(migrate --check), C(makemigrations --check), tests).
  returned: always
  type: dict
drift:
  description: Live against the latest reference, before the plan's kept differences are accepted -
    C(counts), C(empty) and every difference in C(changes) (C(cosmetic) marks the harmless ones),
    as C(pgreconcile diff --json) shows it.
  returned: always
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
    "inject_failure": {"type": "bool", "default": False},
}


def verify(run) -> None:
    from pgreconcile.errors import VerificationFailed
    from pgreconcile.runbook.stages import verify_target
    from pgreconcile.runbook.verify import counts_to_preserve

    params = run.params
    target = run.target()
    plan = run.plan(missing_ok=True)
    counts = None
    if params["backup"]:
        from pgreconcile.pg.backup import load_manifest
        counts = counts_to_preserve(load_manifest(params["backup"]).row_counts)

    verification, diagnosis = verify_target(
        target, residual=list(plan.residual) if plan else [], expected_counts=counts,
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
