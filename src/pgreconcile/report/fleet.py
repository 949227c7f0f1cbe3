"""The fleet report: one summary of a rollout over many hosts and databases, written by the
controller beside the per-database reports (fleet.json, fleet.md, fleet.html).

Two ways in (`pgreconcile fleet-report`, docs/cli.md):

* ``runs``: what the Ansible role recorded, host by host (``reconcile_fleet_outcomes``): every
  database of every host the play targeted, with its status, run id and report directory;
  hosts that never ran (a later batch after a failure) carry no outcome and become
  ``not-run``. A database's report.json is read only when its run id is the one recorded,
  so a stale report of an earlier rollout never stands in for this one.
* no ``runs``: every report.json under the report directory, as found.

Statuses are report.json's (`ok`, `nothing-to-do`, `paused`, `refused`, `rolled-back`,
`failed`) plus `not-run`, which always says why.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from pgreconcile import __version__
from pgreconcile.errors import UsageError
from pgreconcile.files import utc_now, write_private_text
from pgreconcile.pg.connection import redact
from pgreconcile.report.load import load_report

STATUSES = ("ok", "nothing-to-do", "paused", "refused", "rolled-back", "failed", "not-run")
#: Statuses after which the host's later databases are not run.
STOPPING = frozenset({"paused", "refused", "rolled-back", "failed"})
#: Statuses that fail a host (paused stops the host's later databases but is not a failure).
FAILING = frozenset({"refused", "rolled-back", "failed"})
FILES = {"json": "fleet.json", "markdown": "fleet.md", "html": "fleet.html"}
_HINT = "pass the JSON the reconcile role writes (`hosts`: a list of hosts and their databases)"


def build_fleet(report_dir: str | Path, runs: dict | None = None) -> dict:
    """fleet.json's content for the reports under `report_dir` (links are relative to it)."""
    base = Path(report_dir).absolute()
    entries = _from_runs(base, runs) if runs is not None else _from_scan(base)
    counts = Counter(e["status"] for e in entries)
    hosts = list(dict.fromkeys(e["host"] for e in entries))
    return {
        "tool": "pgreconcile", "version": __version__, "kind": "fleet",
        "generated_at": utc_now(), "dry_run": bool((runs or {}).get("dry_run", False)),
        "ok": bool(entries) and all(e["status"] in ("ok", "nothing-to-do") for e in entries),
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "hosts": [{"host": h, "status": _host_status([e for e in entries if e["host"] == h]),
                   "databases": [e for e in entries if e["host"] == h]} for h in hosts],
    }


def write_fleet(fleet: dict, out_dir: str | Path) -> dict[str, str]:
    """Write fleet.json, fleet.md and fleet.html into `out_dir`; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    texts = {"json": json.dumps(fleet, indent=2, sort_keys=True, default=str) + "\n",
             "markdown": _render("fleet.md", fleet), "html": _render("fleet.html", fleet)}
    for key, name in FILES.items():
        paths[key] = str(write_private_text(out / name, redact(texts[key])))
    return paths


def load_runs(text: str, source: str = "the runs file") -> dict:
    """The role's record of a rollout (see the module docstring), checked; UsageError if not."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not JSON ({str(exc)[:200]})", hint=_HINT) from None
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, list) or not all(
            isinstance(h, dict) and isinstance(h.get("host"), str)
            and isinstance(h.get("databases", []), list)
            and all(isinstance(d, (dict, str)) for d in h.get("databases", [])) for h in hosts):
        raise UsageError(f"{source} has no list of hosts, each with a name and databases",
                         hint=_HINT)
    return data


# --------------------------------------------------------------------------- entries
def _from_runs(base: Path, runs: dict) -> list[dict]:
    entries: list[dict] = []
    stopped = [f"{h['host']}/{d.get('database')}" for h in runs["hosts"] if h.get("ran")
               for d in h.get("databases", []) if d.get("status") in FAILING]
    waiting = (f"the rollout stopped after {', '.join(stopped)} failed" if stopped
               else "its batch had not started when this summary was written")
    for host in runs["hosts"]:
        for db in host.get("databases", []):
            db = db if isinstance(db, dict) else {"database": db}  # a name: not run
            name = str(db.get("database") or "")
            if not host.get("ran"):
                entries.append(_entry(host["host"], name, "not-run", reason=waiting))
                continue
            if db.get("status") == "not-run":
                entries.append(_entry(host["host"], name, "not-run",
                                      reason=str(db.get("reason") or "not run")))
                continue
            entries.append(_ran(base, host["host"], name, db))
    return entries


def _ran(base: Path, host: str, name: str, db: dict) -> dict:
    directory = Path(db["report_dir"]) if db.get("report_dir") else None
    report = _read(directory / "report.json") if directory else None
    if report is not None and db.get("run_id") and report.get("run_id") not in (
            None, db.get("run_id")):
        report = None  # another run's report: this run's was overwritten or never written
    status = (report or {}).get("status") or db.get("status") or "failed"
    if status not in STATUSES:
        status = "failed"
    plan = (report or {}).get("plan") or {}
    error = (report or {}).get("error") or {}
    seconds = db.get("seconds")
    if not isinstance(seconds, (int, float)):
        seconds = _report_seconds(report or {})
    return _entry(host, name, status, plan_id=plan.get("id") or db.get("plan_id") or None,
                  seconds=seconds, run_id=db.get("run_id") or (report or {}).get("run_id"),
                  reason=error.get("message") or str(db.get("reason") or ""),
                  report=_link(base, directory) if report is not None else None,
                  started_at=(report or {}).get("started_at"),
                  finished_at=(report or {}).get("finished_at"))


def _from_scan(base: Path) -> list[dict]:
    if not base.is_dir():
        raise UsageError(f"{base} is not a directory",
                         hint="pass the reconcile_report_dir the runs wrote into")
    entries = []
    for path in sorted(base.rglob("report.json")):
        report = _read(path)
        if report is None:
            continue
        status = report.get("status") if report.get("status") in STATUSES else "failed"
        entries.append(_entry(str(report.get("server") or path.parent.parent.name),
                              str(report.get("database") or path.parent.name), status,
                              plan_id=(report.get("plan") or {}).get("id"),
                              seconds=_report_seconds(report), run_id=report.get("run_id"),
                              reason=(report.get("error") or {}).get("message") or "",
                              report=_link(base, path.parent),
                              started_at=report.get("started_at"),
                              finished_at=report.get("finished_at")))
    return entries


def _entry(host: str, database: str, status: str, *, plan_id=None, seconds=None, run_id=None,
           reason: str = "", report=None, started_at=None, finished_at=None) -> dict:
    return {"host": host, "database": database, "status": status, "reason": reason,
            "plan_id": plan_id, "seconds": round(float(seconds), 1) if seconds is not None
            else None, "run_id": run_id, "report": report, "started_at": started_at,
            "finished_at": finished_at}


def _read(path: Path) -> dict | None:
    try:
        return load_report(path) if path.is_file() else None
    except UsageError:
        return None


def _report_seconds(report: dict) -> float | None:
    try:
        start = datetime.fromisoformat(report["started_at"])
        end = datetime.fromisoformat(report["finished_at"])
        return max(0.0, (end - start).total_seconds())
    except (KeyError, TypeError, ValueError):
        stages = [s.get("seconds") for s in report.get("stages", []) if isinstance(s, dict)]
        numbers = [s for s in stages if isinstance(s, (int, float))]
        return sum(numbers) if numbers else None


def _link(base: Path, directory: Path) -> dict:
    rel = Path(os.path.relpath(directory.absolute(), base)).as_posix()
    return {"html": f"{rel}/report.html", "markdown": f"{rel}/report.md",
            "json": f"{rel}/report.json"}


def _host_status(entries: list[dict]) -> str:
    statuses = [e["status"] for e in entries]
    for status in ("failed", "rolled-back", "refused", "paused"):
        if status in statuses:
            return status
    if statuses and all(s == "not-run" for s in statuses):
        return "not-run"
    return "ok" if "ok" in statuses else "nothing-to-do"


# --------------------------------------------------------------------------- rendering
def _render(template: str, fleet: dict) -> str:
    from pgreconcile.report.render import _env
    return _env().get_template(template).render(fleet=fleet, label=_label, statuses=STATUSES)


def _label(status: str) -> str:
    return status.replace("-", " ")


def fleet_schema() -> dict[str, Any]:
    return json.loads((Path(__file__).with_name("fleet.schema.json")).read_text("utf-8"))
