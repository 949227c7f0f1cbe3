#!/usr/bin/python
"""Ansible face of `pgreconcile inspect` / `migrations` / `diff`: facts, never a change."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_inspect
short_description: Gather facts about a live PostgreSQL database and how it differs from its migrations
description:
  - Reads the live schema from C(pg_catalog) (one query per object kind) and returns its summary
    and fingerprint.
  - With a Django project (O(project_dir)), also returns the migration state (applied, pending,
    applied but unknown) and the drift between live and the schema the applied migrations
    build (built in a scratch database that is always dropped), with the applied migrations whose
    file was most likely edited after it ran.
  - With O(facts) containing V(preflight), also runs the pending migrations on a structure-only
    clone of live and reports the exact error a real C(migrate) would hit.
  - With O(facts) containing V(window), says whether the maintenance window is open now; that
    fact alone needs no connection.
  - Never changes the live database, so it never reports C(changed) and runs the same in check mode.
  - This module is a thin face of the C(pgreconcile) engine, like C(pgreconcile inspect),
    C(pgreconcile migrations) and C(pgreconcile diff).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  facts:
    description:
      - Which facts to gather.
      - V(schema) is the live schema summary and fingerprint; V(migrations) the migration state
        and V(drift) the differences from the reference (both need a reference, usually
        O(project_dir)); V(preflight) the outcome of the pending migrations on a clone (needs
        O(project_dir)); V(window) the state of O(maintenance_window).
      - V(migrations) and V(drift) are skipped without a reference.
    type: list
    elements: str
    choices: [schema, migrations, drift, preflight, window]
    default: [schema, migrations, drift]
  full_schema:
    description:
      - Also return the whole schema model (tables, columns, constraints, indexes, ...), not only
        its summary.
    type: bool
    default: false
  maintenance_window:
    description:
      - When changing stages may run, for example V(Sat 01:00-03:00 UTC); several windows as a list
        or separated by V(;). Only read for the V(window) fact.
    type: raw
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
  - module: pgreconcile_plan
  - module: pgreconcile_preflight
"""

EXAMPLES = r"""
- name: Facts about the live database and its drift from the project's migrations
  pgreconcile_inspect:
    db_name: pettycash
    project_dir: /srv/pettycash/current
    settings: pettycash_system.settings
    python: /srv/pettycash/venv/bin/python
  register: live

- name: Schema summary only (no Django project)
  pgreconcile_inspect:
    db_name: pettycash
    facts: [schema]

- name: Is the maintenance window open? (connects to nothing)
  pgreconcile_inspect:
    facts: [window]
    maintenance_window: Sat 01:00-03:00 UTC
  register: window
"""

RETURN = r"""
database:
  description: Name of the live database.
  returned: when a fact other than V(window) was asked for
  type: str
server_version:
  description: Version of the PostgreSQL server.
  returned: when V(schema) or V(drift) was asked for
  type: str
fingerprint:
  description: Fingerprint of the live schema (sha256 of its structural model).
  returned: when V(schema) or V(drift) was asked for
  type: str
summary:
  description: Number of schemas, tables, columns, constraints, indexes, sequences, enums,
    extensions, views and triggers.
  returned: when V(schema) or V(drift) was asked for
  type: dict
  sample: {"tables": 12, "columns": 80, "constraints": 30, "indexes": 25}
schema:
  description: The whole live schema model.
  returned: when O(full_schema=true)
  type: dict
migrations:
  description: Applied, pending and applied-but-unknown migrations, and the applied migrations
    suspected of having been edited after they ran.
  returned: with a Django project and V(migrations) or V(drift)
  type: dict
  sample: {"applied": ["treasury.0001_initial"], "pending": ["treasury.0002_phase6_dashboard_models"],
           "unknown_applied": [], "suspect_edited": [{"migration": "treasury.0001_initial",
           "tables": ["treasury_payment"]}]}
drift:
  description: Live against the reference (for a Django project, the state its applied migrations
    build), as C(pgreconcile diff --json) and C(diff_before) of the report show it. C(empty) is true
    when nothing significant differs; C(counts) has the number per bucket (missing, extra,
    different, cosmetic); C(changes) lists every difference with bucket, object, live and
    expected values, a risk note and whether it is only cosmetic.
  returned: with a reference and V(drift)
  type: dict
preflight:
  description: Outcome of the pending migrations on a structure-only clone of live
    (C(ok), C(summary), C(error) with migration, operation and message, C(pending)).
  returned: when V(preflight) was asked for
  type: dict
maintenance_window:
  description: Whether changing stages may run now (C(open)), the windows, when the current one
    closes, the next opening, and a message.
  returned: when V(window) was asked for
  type: dict
  sample: {"set": true, "open": false, "windows": "Sat 01:00-03:00 UTC",
           "next_opening": "2025-01-04T01:00:00+00:00",
           "message": "outside the maintenance window (Sat 01:00-03:00 UTC); ..."}
seconds:
  description: Time the module took.
  returned: success
  type: float
exit_code:
  description: Exit code the CLI would give for the failure (2 usage, 4 refused, 1 otherwise).
  returned: failure
  type: int
error:
  description: Type of the engine error, for example C(ConnectionFailed) or C(ProjectError).
  returned: failure
  type: str
"""

from ansible.module_utils.pgreconcile_common import REFERENCE_CHOICE, run_module

OPTIONS = {
    "facts": {"type": "list", "elements": "str",
              "choices": ["schema", "migrations", "drift", "preflight", "window"],
              "default": ["schema", "migrations", "drift"]},
    "full_schema": {"type": "bool", "default": False},
    "maintenance_window": {"type": "raw"},
}


def inspect(run) -> None:
    from pgreconcile.runbook.inspection import inspect_live
    from pgreconcile.runbook.stages import diagnose
    from pgreconcile.runbook.window import window_status

    facts, result = set(run.params["facts"]), run.result
    if "window" in facts:
        result["maintenance_window"] = window_status(run.windows())
    if not facts & {"schema", "migrations", "drift", "preflight"}:
        return

    target = run.target(need_reference=False)
    result["database"] = target.live.dbname
    if target.reference is not None and "drift" in facts:
        diagnosis = diagnose(target, "applied")
        live = diagnosis.live
        result.update(server_version=live.server_version, fingerprint=live.fingerprint(),
                      summary=live.summary(), drift=diagnosis.to_dict())
        if diagnosis.migrations is not None:
            result["migrations"] = diagnosis.migrations
        if run.params["full_schema"]:
            result["schema"] = live.to_dict()
    elif facts & {"schema", "migrations"}:
        inspected = inspect_live(target)
        schema = inspected.pop("schema")
        result.update(inspected)
        if run.params["full_schema"]:
            result["schema"] = schema
    if "preflight" in facts:
        from pgreconcile.django.preflight import run_preflight
        from pgreconcile.errors import UsageError
        if target.project is None:
            raise UsageError("the preflight fact needs a Django project (project_dir)")
        outcome = run_preflight(target.project, target.live, scratch_server=target.scratch,
                                pg_bin_dir=target.pg_bin_dir)
        result["preflight"] = {**outcome.to_dict(), "summary": outcome.summary()}
        if not outcome.ok:
            run.warn(f"preflight: a real migrate would fail: {outcome.summary()}")


def main() -> None:
    run_module(inspect, OPTIONS, reference="reference",
               mutually_exclusive=[REFERENCE_CHOICE], supports_check_mode=True)


if __name__ == "__main__":
    main()
