#!/usr/bin/python
"""Ansible face of `pgreconcile migrate`: the project's pending migrations, with its own interpreter."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_migrate
short_description: Run a Django project's pending migrations against a live PostgreSQL database
description:
  - Runs C(migrate --plan), then C(migrate) for the pending migrations, with the project's own
    interpreter and settings; only the C(default) database is swapped for the target (through a
    generated settings module; the password travels in the child's environment only).
  - Reports C(changed) only when migrations were applied; with nothing pending it changes nothing.
  - Every statement of the migrations runs under O(lock_timeout) (C(PGOPTIONS) of the Django
    child), so a migration waiting for a lock gives up instead of queueing the application's
    writers behind it; and C(migrate) is retried with backoff (O(retries)). Django runs each
    migration in one transaction on PostgreSQL, so a retry starts from the first migration not
    applied; a non-atomic migration is never retried. After the last attempt the module fails
    with C(LockNotAcquired) (exit code 4) and no migration is half applied.
  - Refuses (exit code 4) outside O(maintenance_window) when something is pending.
  - In check mode only C(migrate --plan) runs; it is returned as the diff.
  - This module is a thin face of the C(pgreconcile) engine, like C(pgreconcile migrate).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  project_dir:
    description:
      - Directory holding the Django project's C(manage.py), on the managed host.
    type: path
    required: true
  maintenance_window:
    description:
      - When changes may run, for example V(Sat 01:00-03:00 UTC); several windows as a list or
        separated by V(;). Outside it pending migrations are refused (exit code 4).
      - Empty means no window.
    type: raw
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) for every statement the migrations run, for example V(2s).
    type: str
    default: 2s
  retries:
    description:
      - Attempts of C(migrate) when a lock stays busy, with backoff.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    description: Runs C(migrate --plan) only.
  diff_mode:
    support: full
    description: The output of C(migrate --plan) for the pending migrations.
extends_documentation_fragment:
  - pgreconcile
  - pgreconcile.django
seealso:
  - module: pgreconcile_apply
  - module: pgreconcile_verify
"""

EXAMPLES = r"""
- name: Run the pending migrations once the plan is applied
  pgreconcile_migrate:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    settings: pettycash_system.settings
    python: /srv/pettycash/venv/bin/python
    maintenance_window: Sat 01:00-03:00 UTC
  register: migrated
"""

RETURN = r"""
pending:
  description: Migrations pending before the run.
  returned: success
  type: list
  elements: str
applied:
  description: Migrations applied by this run.
  returned: when migrations were applied
  type: list
  elements: str
plan:
  description: Output of C(migrate --plan).
  returned: success
  type: str
output:
  description: The end of C(migrate)'s output.
  returned: when migrations were applied
  type: str
attempts:
  description: Runs of C(migrate) it took (more than one when a lock was busy).
  returned: when migrations were applied
  type: int
maintenance_window:
  description: State of O(maintenance_window) when one is set.
  returned: when O(maintenance_window) is set
  type: dict
seconds:
  description: Time the module took.
  returned: success
  type: float
exit_code:
  description: Exit code the CLI would give for the failure (4 when refused).
  returned: failure
  type: int
error:
  description: Type of the engine error, for example C(MigrationPreflightFailed),
    C(LockNotAcquired), C(OutsideMaintenanceWindow) or C(ProjectError).
  returned: failure
  type: str
"""

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "project_dir": {"type": "path", "required": True},
    "maintenance_window": {"type": "raw"},
    "lock_timeout": {"type": "str", "default": "2s"},
    "retries": {"type": "int", "default": 5},
}


def migrate(run) -> None:
    from pgreconcile.apply.options import ApplyOptions
    from pgreconcile.runbook.stages import run_migrations
    from pgreconcile.runbook.window import window_status

    result = run.result
    project = run.project()
    windows = run.windows()
    if windows is not None:
        result["maintenance_window"] = window_status(windows)
    options = ApplyOptions(lock_timeout=run.params["lock_timeout"], retries=run.params["retries"])
    with run.run_lock("migrate"):
        outcome = run_migrations(project, run.live, dry_run=run.check_mode, windows=windows,
                                 options=options)
    result.update(outcome)
    pending = outcome.get("pending", [])
    if run.check_mode:
        result["changed"] = bool(pending)
        if pending and windows is not None and not result["maintenance_window"]["open"]:
            run.warn("a real run would refuse: " + result["maintenance_window"]["message"])
    if pending:
        verb = "applied" if result.get("applied") else "to apply"
        run.show_diff("", (outcome.get("plan") or "") + "\n", f"{len(pending)} pending migrations",
                      f"migrate --plan ({verb}: {', '.join(pending)})")


def main() -> None:
    run_module(migrate, OPTIONS, reference="django", supports_check_mode=True)


if __name__ == "__main__":
    main()
