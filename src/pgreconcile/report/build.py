"""report.json, built in one place for every face.

A run's report is a :class:`RunReport`: `pgreconcile reconcile` (runbook.stages.reconcile)
records each stage into it as the stage runs; the Ansible role's report module hands it the
registered results of the stage modules (:func:`assemble_report`). Either way the same code
decides the header, the stage entries, which section a stage's outcome goes to, how the
outcome (`ok`, `changed`, `error`) follows from the stages, and how the files are written
(redacted, atomically, then rendered as report.md and report.html).

The contract is ``report.schema.json`` beside this file (shipped with the package); the
format is described in docs/report-format.md.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pgreconcile import __version__
from pgreconcile.errors import EXIT_PAUSED, EXIT_REFUSED, ReconcileError
from pgreconcile.files import utc_now, write_private_json

T = TypeVar("T")

SCHEMA_FILE = "report.schema.json"
#: Who ran the runbook. The PowerShell scripts call the CLI, so their reports say "cli".
FACES = ("cli", "ansible")
#: Stages whose `changed` means the live database was changed.
CHANGING_STAGES = ("apply", "migrate", "rollback")
#: Stages whose outcome is kept whole, under the stage's own name.
_WHOLE = ("backup", "apply", "migrate", "rollback")

#: Keys of a registered Ansible result that are Ansible's bookkeeping, not the stage's outcome.
ANSIBLE_BOOKKEEPING = frozenset({
    "invocation", "censored", "diff", "warnings", "deprecations", "failed", "skipped",
    "skip_reason", "false_condition", "msg", "exception", "_ansible_no_log",
    "_ansible_verbose_always", "_ansible_delegated_vars"})


@lru_cache(maxsize=1)
def report_schema() -> dict:
    """The JSON Schema of report.json (draft 2020-12)."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE)
                      .read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def report_keys() -> frozenset[str]:
    """The top-level keys report.json may have."""
    return frozenset(report_schema()["properties"])


def error_entry(error: str, message: str, hint: str | None = "", exit_code: int = 1) -> dict:
    """The one shape of an error, in the report and in each stage entry."""
    return {"error": error, "message": message, "hint": hint or "", "exit_code": exit_code}


def run_status(report: Mapping) -> str:
    """The run's outcome in one word (report.json `status`, docs/report-format.md)."""
    error = report.get("error")
    if error is None:
        if not report.get("ok"):
            return "running"
        return "ok" if report.get("changed") or report.get("dry_run") else "nothing-to-do"
    if error.get("exit_code") == EXIT_PAUSED:
        return "paused"
    rollback = report.get("rollback") or {}
    if rollback.get("method") in ("reverse", "restore") and not rollback.get("refused"):
        return "rolled-back"
    if error.get("exit_code") == EXIT_REFUSED:
        return "refused"
    return "failed"


class RunReport(dict):
    """report.json of one run, built as the run goes.

    It is the dict every face prints or writes, but it takes only the top-level keys the
    schema names, so a new section is added to the contract before it is added to a report.
    """

    def __init__(self, face: str, *, database: str | None = None, server: str | None = None,
                 strategy: str | None = None, dry_run: bool = False,
                 started_at: str | None = None):
        if face not in FACES:
            raise ValueError(f"face must be one of {FACES}, not {face!r}")
        super().__init__()
        for key, value in (("tool", "pgreconcile"), ("version", __version__), ("face", face),
                           ("database", database or None), ("server", server or None),
                           ("strategy", strategy or None), ("dry_run", bool(dry_run)),
                           ("started_at", started_at or utc_now()), ("finished_at", None),
                           ("ok", False), ("changed", False), ("error", None),
                           ("stages", [])):
            self[key] = value

    # ------------------------------------------------------------------ the contract
    def __setitem__(self, key: str, value: Any) -> None:
        if key not in report_keys():
            raise KeyError(f"{key!r} is not a key of report.json; add it to "
                           f"pgreconcile/report/{SCHEMA_FILE} and docs/report-format.md first")
        super().__setitem__(key, value)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    # ------------------------------------------------------------------ stages
    def add_stage(self, name: str, *, ok: bool = False, seconds: float = 0.0,
                  started_at: str | None = None, error: dict | None = None) -> dict:
        """Append a stage entry; returned so a running stage can complete it."""
        entry: dict = {"stage": name, "ok": bool(ok) and not error,
                       "seconds": _seconds(seconds)}
        if started_at:
            entry["started_at"] = started_at
        if error:
            entry["error"] = error
        self["stages"].append(entry)
        return entry

    def run_stage(self, name: str, fn: Callable[[], T],
                  section: Callable[[T], Mapping] | None = None) -> T:
        """Run one stage: timed, recorded (failed until it returns), its engine error kept.

        With `section`, the stage's outcome goes into the report through :meth:`put`.
        """
        started = time.monotonic()
        entry = self.add_stage(name, started_at=utc_now())
        try:
            value = fn()
        except ReconcileError as exc:
            entry["error"] = exc.to_dict()
            raise
        finally:
            entry["seconds"] = _seconds(time.monotonic() - started)
        entry["ok"] = True
        if section is not None:
            self.put(name, section(value))
        return value

    def put(self, stage: str, body: Mapping) -> None:
        """The sections of report.json that one stage's outcome fills.

        `body` is the stage's outcome as plain data: a module's result, or the engine's
        (``to_dict()``) result of the same stage.
        """
        body = dict(body)
        if stage == "window":
            if body:
                self["maintenance_window"] = body.get("windows") or None
                self["maintenance_window_state"] = body
        elif stage == "inspect":
            if body.get("database") and not self.get("database"):
                self["database"] = body["database"]
            if isinstance(body.get("drift"), dict):
                self["diff_before"] = _diff(body["drift"], body.get("database"),
                                            body.get("migrations"))
        elif stage == "preflight":
            self["preflight_before"] = body
        elif stage == "preflight-with-plan":
            self["preflight_after"] = body
        elif stage == "plan":
            plan = body.get("plan") if isinstance(body.get("plan"), dict) else {}
            if plan:
                self["plan"] = plan
            if isinstance(body.get("proof"), dict):
                self["preflight_after"] = body["proof"]
            if isinstance(body.get("drift"), dict) and "diff_before" not in self:
                self["diff_before"] = _diff(body["drift"], plan.get("database"),
                                            body.get("migrations"))
        elif stage == "verify":
            if isinstance(body.get("drift"), dict):
                self["diff_after"] = body["drift"]
            self["verify"] = {k: body[k] for k in ("ok", "checks", "problems") if k in body}
        elif stage == "rehearsal":
            if isinstance(body.get("promotion"), dict):
                self["promotion"] = body["promotion"]
        elif stage in _WHOLE:
            self[stage] = body
        else:
            raise KeyError(f"stage {stage!r} has no section in report.json")
        if stage in CHANGING_STAGES and body.get("changed") is True and not self["dry_run"]:
            self["changed"] = True

    # ------------------------------------------------------------------ outcome and files
    def finish(self, error: dict | None = None) -> RunReport:
        """Close the report: the run's error (given, else the first failed stage's), and
        `ok` false whenever there is one."""
        if error is not None:
            self["error"] = error
        if self["error"] is None:
            failed = next((s for s in self["stages"] if s.get("error")), None)
            if failed is not None:
                self["error"] = failed["error"]
        if self["error"] is not None:
            self["ok"] = False
        self["status"] = run_status(self)
        self["finished_at"] = utc_now()
        return self

    def write(self, out_dir: str | Path) -> dict[str, str]:
        """report.json (redacted), report.md and report.html in `out_dir`; their paths.

        A rendering problem never hides the run's own outcome: it becomes a warning in
        the report (the one returned; report.json is written first) and the paths of what
        was written are returned.
        """
        from pgreconcile.report.render import redact_data, render_reports
        out = Path(out_dir)
        json_path = out / "report.json"
        data = redact_data(dict(self))
        write_private_json(json_path, data)
        try:
            return render_reports(data, out, json_path)
        except Exception as exc:  # noqa: BLE001 - the report must not mask the run's error
            self.setdefault("warnings", []).append(f"report not rendered: {exc}")
            return {"json": str(json_path)}


def assemble_report(results: Mapping[str, Any], run: Mapping[str, Any],
                    face: str = "ansible") -> RunReport:
    """report.json from the stages' results, each as its module returned it.

    `results` maps stage names (in run order) to registered results; a stage that did not
    run (missing, empty or skipped) is left out. `run` holds the header: database, server,
    strategy, started_at, dry_run, and `failure`, the message of a failure no stage result
    records (a failed assertion between stages).
    """
    dry_run = _truthy(run.get("dry_run"))
    report = RunReport(face, database=run.get("database"), server=run.get("server"),
                       strategy=run.get("strategy"), dry_run=dry_run,
                       started_at=run.get("started_at") or None)
    if run.get("run_id"):
        report["run_id"] = str(run["run_id"])
    for name, result in results.items():
        if not isinstance(result, Mapping) or not result or result.get("skipped"):
            continue
        body = {k: v for k, v in result.items() if k not in ANSIBLE_BOOKKEEPING}
        seconds = body.get("seconds", 0)
        # A paused stage (the window's end) did not fail, but the run did not finish: its
        # Paused error (exit 5) makes the report's status `paused`.
        error = _result_error(result) if result.get("failed") or result.get("paused") else None
        if name == "window":
            # The window stage reads the window (pgreconcile_inspect's maintenance_window
            # fact); refusing outside it is the role's next task, so it is judged here.
            body = dict(body.get("maintenance_window") or {})
            if error is None and body.get("open") is False and not dry_run:
                error = error_entry("OutsideMaintenanceWindow", body.get("message", ""),
                                    body.get("hint"), body.get("exit_code", 4))
        report.add_stage(name, ok=error is None, seconds=seconds, error=error)
        if name not in _WHOLE:
            body.pop("changed", None)
        report.put(name, body)
    failure = run.get("failure")
    report["ok"] = True
    if failure and not any(s.get("error") for s in report["stages"]):
        return report.finish(error_entry("Failed", str(failure)))
    return report.finish()


def _result_error(result: Mapping) -> dict:
    kind = result.get("error")
    return error_entry(kind if isinstance(kind, str) else "Failed", str(result.get("msg", "")),
                       result.get("hint"), result.get("exit_code", 1))


def _diff(drift: Mapping, database: str | None, migrations: Any) -> dict:
    out = {**drift}
    if database and not out.get("database"):
        out["database"] = database
    if migrations is not None:
        out["migrations"] = migrations
    return out


def _seconds(value: Any) -> float:
    try:
        return max(round(float(value), 3), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)
