#!/usr/bin/python
"""Ansible face of `pgreconcile report`: a run's report.json, report.md and report.html."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_report
short_description: Write the report of a pgreconcile runbook run as JSON, Markdown and one HTML page
description:
  - Turns the registered results of the runbook's stages (M(pgreconcile_inspect),
    M(pgreconcile_preflight), M(pgreconcile_plan), M(pgreconcile_backup), M(pgreconcile_apply),
    M(pgreconcile_migrate), M(pgreconcile_verify), M(pgreconcile_rollback)) into the report
    C(pgreconcile reconcile) writes - the same C(report.json) contract, built by the same engine
    code (C(pgreconcile.report.build)) and described in C(docs/report-format.md) - and renders
    C(report.md) (for a ticket or pull request) and C(report.html) (one page, inline CSS, no
    network) from it.
  - Every string is redacted before it is written, and any value under a key naming a password
    or secret is replaced, so a report never carries a password.
  - A report records a run; it changes no database, so the module never reports C(changed).
    In check mode nothing is written.
  - Connects to nothing.
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  stages:
    description:
      - The registered result of each stage that ran, by stage name, in the order they ran.
        Known names are V(window), V(inspect), V(preflight), V(plan), V(backup), V(apply),
        V(migrate), V(verify) and V(rollback); results of skipped tasks are left out.
    type: dict
    required: true
  run:
    description:
      - Facts about the run placed at the top of the report, for example C(database),
        C(server), C(strategy), C(started_at), C(dry_run) (check mode), and C(failure) (why the
        run stopped, when no stage result says so).
    type: dict
    default: {}
  out_dir:
    description:
      - Directory for C(report.json), C(report.md) and C(report.html); created when missing.
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Writes nothing; returns the report and the paths that would be written.
  diff_mode:
    support: none
    description: Reports are not compared.
requirements:
  - The C(pgreconcile) Python package on the host running the module.
seealso:
  - module: pgreconcile_plan
  - module: pgreconcile_verify
"""

EXAMPLES = r"""
- name: Write the report of this run on the controller
  pgreconcile_report:
    out_dir: /var/lib/pgreconcile/reports
    stages:
      inspect: "{{ inspected }}"
      plan: "{{ planned }}"
      apply: "{{ applied }}"
    run:
      database: pettycash
      strategy: keep
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: Paths of the report files (C(json), C(markdown), C(html)).
  returned: always
  type: dict
  sample: {"json": "/var/lib/pgreconcile/reports/report.json",
           "markdown": "/var/lib/pgreconcile/reports/report.md",
           "html": "/var/lib/pgreconcile/reports/report.html"}
written:
  description: Whether the files were written (not in check mode).
  returned: always
  type: bool
ok:
  description: Whether the run succeeded, as the report says.
  returned: always
  type: bool
error:
  description: Why the run failed (error type, message, hint, exit code), or null.
  returned: always
  type: dict
status:
  description: The run's outcome in one word, as report.json says (C(ok), C(nothing-to-do),
    C(paused), C(refused), C(rolled-back), C(failed)).
  returned: always
  type: str
run_id:
  description: The run's id, as report.json says (null when none was given).
  returned: always
  type: str
seconds:
  description: Time the module took.
  returned: success
  type: float
"""

from pathlib import Path

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "stages": {"type": "dict", "required": True},
    "run": {"type": "dict", "default": {}},
    "out_dir": {"type": "path", "required": True},
}


def write_report(run) -> None:
    from pgreconcile.report.build import assemble_report

    out_dir = Path(run.params["out_dir"]).absolute()
    report = assemble_report(run.params["stages"], run.params["run"], face="ansible")
    files = {"json": str(out_dir / "report.json"), "markdown": str(out_dir / "report.md"),
             "html": str(out_dir / "report.html")}
    if not run.check_mode:
        try:
            files = report.write(out_dir)
        except OSError as exc:
            run.fail(f"cannot write the report to {out_dir}: {exc}", error="OSError",
                     exit_code=1)
        for warning in report.get("warnings", []):
            run.warn(warning)
    run.result.update(written=not run.check_mode, files=files, ok=report["ok"],
                      error=report["error"], status=report.get("status"),
                      run_id=report.get("run_id"))


def main() -> None:
    run_module(write_report, OPTIONS, connection=False, supports_check_mode=True)


if __name__ == "__main__":
    main()
