#!/usr/bin/python
"""Ansible face of `pgreconcile preflight`: the pending migrations, tried on a clone."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_preflight
short_description: Run a Django project's pending migrations on a structure-only clone of live
description:
  - Clones the live schema (no data, plus the C(django_migrations) rows) into a scratch database,
    runs C(migrate --plan) and the pending migrations there with the project's own interpreter and
    settings, and reports the exact outcome - for a drifted database the error a real C(migrate)
    would raise, with the migration and operation that raised it.
  - The scratch database is always dropped. The live database is only read, so the module never
    reports C(changed) and runs the same in check mode.
  - A failing preflight is a finding, not an error of the module; it is returned in C(error) and
    as a warning. With O(must_pass=true) it fails the task instead.
  - This module is a thin face of the C(pgreconcile) engine, like C(pgreconcile preflight).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  project_dir:
    description:
      - Directory holding the Django project's C(manage.py), on the managed host.
    type: path
    required: true
  scratch_dsn:
    description:
      - Server where the clone is created and dropped, as a libpq URI or key=value string without a
        password. Default is the live server.
      - Treated as a secret (C(no_log)), since a DSN can carry a password.
    type: str
  must_pass:
    description:
      - Fail the task when the pending migrations would fail.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Changes nothing on live; the same in check mode.
  diff_mode:
    support: none
    description: Never changes anything, so there is nothing to show.
extends_documentation_fragment:
  - pgreconcile
  - pgreconcile.django
seealso:
  - module: pgreconcile_inspect
  - module: pgreconcile_plan
"""

EXAMPLES = r"""
- name: Would the pending migrations apply to live?
  pgreconcile_preflight:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    settings: pettycash_system.settings
    python: /srv/pettycash/venv/bin/python
  register: preflight

- name: Gate a deployment on clean migrations
  pgreconcile_preflight:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    must_pass: true
"""

RETURN = r"""
ok:
  description: True when every pending migration applied on the clone.
  returned: success
  type: bool
summary:
  description: One line, for example C(treasury.0002_phase6_dashboard_models (operation 1 ...)
    fails with ProgrammingError ...).
  returned: success
  type: str
pending:
  description: Migrations pending on live.
  returned: success
  type: list
  elements: str
applied_on_clone:
  description: Migrations that applied on the clone before the first failure.
  returned: success
  type: list
  elements: str
error:
  description:
    - On success, the failure the pending migrations hit on the clone (type, message, migration,
      operation and its index, SQL), or null.
    - When the module fails, the type of the engine error, for example C(ProjectError),
      C(ScratchUnavailable) or C(MigrationPreflightFailed).
  returned: always
  type: raw
migrate_plan:
  description: Output of C(migrate --plan) on the clone.
  returned: success
  type: str
clone:
  description: How the clone was made (the C(pg_dump) used, the tables whose rows were copied).
  returned: success
  type: dict
seconds:
  description: Time the module took.
  returned: success
  type: float
preflight_error:
  description: The failure the pending migrations hit on the clone, when O(must_pass) fails the task.
  returned: failure with O(must_pass)
  type: dict
exit_code:
  description: Exit code the CLI would give for the failure (3 when O(must_pass) and migrations fail).
  returned: failure
  type: int
"""

from ansible.module_utils.pgreconcile_common import REFERENCE_OPTIONS, run_module

OPTIONS = {
    "project_dir": {"type": "path", "required": True},
    "scratch_dsn": REFERENCE_OPTIONS["scratch_dsn"],
    "must_pass": {"type": "bool", "default": False},
}


def preflight(run) -> None:
    from pgreconcile.django.preflight import run_preflight

    outcome = run_preflight(run.project(), run.live, scratch_server=run.scratch(),
                            pg_bin_dir=run.params["pg_bin_dir"])
    run.result.update(outcome.to_dict(), summary=outcome.summary())
    if outcome.ok:
        return
    if run.params["must_pass"]:
        run.fail(f"preflight failed: {outcome.summary()}", error="MigrationPreflightFailed",
                 exit_code=3, preflight_error=outcome.error)
    run.warn(f"preflight: a real migrate would fail: {outcome.summary()}")


def main() -> None:
    run_module(preflight, OPTIONS, reference="django", supports_check_mode=True)


if __name__ == "__main__":
    main()
