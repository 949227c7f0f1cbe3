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
    C(pgreconcile reconcile) writes - the same C(report.json) contract - and renders C(report.md)
    (for a ticket or pull request) and C(report.html) (one page, inline CSS, no network) from it.
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
"""

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgreconcile_common import require_engine, run_engine

#: Keys of a registered result that are Ansible's bookkeeping, not the stage's outcome.
BOOKKEEPING = {"invocation", "censored", "diff", "warnings", "deprecations", "changed",
               "failed", "skipped", "skip_reason", "false_condition", "msg", "exception",
               "_ansible_no_log", "_ansible_verbose_always", "_ansible_delegated_vars"}


def _error(result: dict) -> dict:
    return {"error": result.get("error") if isinstance(result.get("error"), str) else "Failed",
            "message": result.get("msg", ""), "hint": result.get("hint", ""),
            "exit_code": result.get("exit_code", 1)}


def build_report(stages: dict, run: dict) -> dict:
    """The report.json contract of `pgreconcile reconcile`, from the stages' results."""
    report: dict = {"tool": "pgreconcile", "face": "ansible", "stages": [], "ok": False,
                    "changed": False, "finished_at": datetime.now(timezone.utc)
                    .isoformat(timespec="seconds"),
                    **{k: v for k, v in run.items() if k != "failure"}}
    errors = []
    for name, result in stages.items():
        if not isinstance(result, dict) or not result or result.get("skipped"):
            continue
        body = {k: v for k, v in result.items() if k not in BOOKKEEPING}
        entry = {"stage": name, "ok": not result.get("failed"),
                 "seconds": body.get("seconds", 0)}
        if result.get("failed"):
            entry["error"] = _error(result)
            errors.append(entry["error"])
        window = body.get("maintenance_window") if name == "window" else None
        if window:
            report["maintenance_window"] = window.get("windows") or None
            report["maintenance_window_state"] = window
            if not window.get("open") and not run.get("dry_run"):
                entry["ok"] = False
                entry["error"] = {"error": "OutsideMaintenanceWindow",
                                  "message": window.get("message", ""),
                                  "hint": window.get("hint", ""), "exit_code": 4}
                errors.append(entry["error"])
        report["stages"].append(entry)
        if name in ("apply", "migrate", "rollback") and result.get("changed") \
                and not run.get("dry_run"):
            report["changed"] = True
        if name == "inspect" and body.get("drift"):
            report["diff_before"] = {**body["drift"], "database": body.get("database"),
                                     "migrations": body.get("migrations")}
            report.setdefault("database", body.get("database"))
        elif name == "preflight":
            report["preflight_before"] = body
        elif name == "plan":
            report["plan"] = body.get("plan") or {}
            if body.get("proof"):
                report["preflight_after"] = body["proof"]
            if isinstance(body.get("drift"), dict) and "diff_before" not in report:
                report["diff_before"] = {**body["drift"], "database": report["plan"].get(
                    "database"), "migrations": body.get("migrations")}
        elif name == "verify":
            if isinstance(body.get("drift"), dict):
                report["diff_after"] = body["drift"]
            report["verify"] = {k: body[k] for k in ("ok", "checks", "problems") if k in body}
        elif name in ("backup", "apply", "migrate", "rollback"):
            report[name] = body
    if run.get("failure") and not errors:
        errors.append({"error": "Failed", "message": run["failure"], "hint": "",
                       "exit_code": 1})
    report["ok"] = not errors
    report["error"] = errors[0] if errors else None
    return report


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        os.chmod(temp, 0o640)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "stages": {"type": "dict", "required": True},
            "run": {"type": "dict", "default": {}},
            "out_dir": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    require_engine(module)
    from pgreconcile.report.render import redact_data, render_reports

    out_dir = Path(module.params["out_dir"]).absolute()
    json_path = out_dir / "report.json"
    report = redact_data(build_report(module.params["stages"], module.params["run"]))
    files = {"json": str(json_path), "markdown": str(out_dir / "report.md"),
             "html": str(out_dir / "report.html")}
    if module.check_mode:
        module.exit_json(changed=False, written=False, files=files, ok=report["ok"],
                         error=report["error"])
    try:
        _write_json(json_path, report)
    except OSError as exc:
        module.fail_json(msg=f"cannot write {json_path}: {exc}", error="OSError", exit_code=1)
    files = run_engine(module, render_reports, report, out_dir, json_path)
    module.exit_json(changed=False, written=True, files=files, ok=report["ok"],
                     error=report["error"])


if __name__ == "__main__":
    main()
