"""What every pgreconcile_* module does, written once.

A module is its documentation, its own options and a body that calls the engine
(src/pgreconcile) directly. :func:`run_module` does the rest, the same way for all of them:
it builds the AnsibleModule with the shared options, makes sure the engine is importable,
times the body (``seconds``), renders the engine's typed errors with ``fail_json`` while
keeping what the body already found, and returns the body's diff only under ``--diff``.

The shared options are documented once, in plugins/doc_fragments/pgreconcile.py
(``pgreconcile`` for the connection, ``pgreconcile.reference`` for the reference).
"""
from __future__ import annotations

import contextlib
import copy
import os
import sys
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

try:
    from pgreconcile.errors import Paused, ReconcileError
    from pgreconcile.pg.connection import ConnectionSpec, redact
except ImportError:
    ConnectionSpec = redact = None
    ReconcileError = type("ReconcileError", (Exception,), {})  # never raised without the engine
    Paused = type("Paused", (ReconcileError,), {})
    ENGINE_IMPORT_ERROR = traceback.format_exc()
else:
    ENGINE_IMPORT_ERROR = None

#: The live database (doc fragment ``pgreconcile``). Every module but pgreconcile_report.
CONNECTION_OPTIONS = {
    "db_name": {"type": "str", "default": ""},
    "db_host": {"type": "str", "default": ""},
    "db_port": {"type": "int"},
    "db_user": {"type": "str", "default": ""},
    "db_password": {"type": "str", "default": "", "no_log": True},
    "pg_bin_dir": {"type": "path"},
    "run_id": {"type": "str"},
}

#: The Django project whose migrations are the reference.
DJANGO_OPTIONS = {
    "project_dir": {"type": "path"},
    "settings": {"type": "str"},
    "python": {"type": "str"},
}

#: The reference, whichever it is, and the scope of the comparison (doc fragment
#: ``pgreconcile.reference``). A DSN may carry a password, so both DSNs are no_log.
REFERENCE_OPTIONS = {
    **DJANGO_OPTIONS,
    "reference_dsn": {"type": "str", "no_log": True},
    "reference_sql": {"type": "path"},
    "scratch_dsn": {"type": "str", "no_log": True},
    "schemas": {"type": "list", "elements": "str"},
    "exclude_schemas": {"type": "list", "elements": "str"},
}

#: The options that name the reference; a module takes at most one of them.
REFERENCE_CHOICE = ("project_dir", "reference_dsn", "reference_sql")

_OPTION_SETS = {None: {}, "django": DJANGO_OPTIONS, "reference": REFERENCE_OPTIONS}


def argument_spec(options: dict | None = None, *, reference: str | None = None,
                  connection: bool = True) -> dict:
    """The argument spec of a module: the shared options it takes, then its own."""
    spec = copy.deepcopy(CONNECTION_OPTIONS) if connection else {}
    spec.update(copy.deepcopy(_OPTION_SETS[reference]))
    spec.update(copy.deepcopy(options or {}))
    return spec


def run_module(body, options: dict | None = None, *, reference: str | None = None,
               connection: bool = True, **module_kwargs) -> None:
    """Run one module: `body(run)` fills ``run.result``; this answers Ansible.

    `reference` adds the shared ``django`` or ``reference`` options; `module_kwargs` go to
    AnsibleModule (mutually_exclusive, required_one_of, supports_check_mode, ...). An engine
    error raised by the body fails the task with its type, hint and exit code, and with the
    fields the body had already put into ``run.result``.
    """
    module = AnsibleModule(argument_spec=argument_spec(options, reference=reference,
                                                       connection=connection),
                           **module_kwargs)
    if ENGINE_IMPORT_ERROR:
        module.fail_json(
            msg=f"the pgreconcile engine is not importable by {sys.executable} on this host "
                "(hint: install it with playbooks/toolkit.yml, or set ansible_python_interpreter "
                "to the Python that has it)",
            error="EngineMissing", exit_code=1, exception=ENGINE_IMPORT_ERROR)
    run = ModuleRun(module)
    try:
        body(run)
    except Paused as exc:
        # Stopped at the maintenance window's end: its own result, not a failure. What was
        # done stays done and the next run resumes it; the role skips the later stages.
        details = exc.to_dict()
        details.update(message=redact(details["message"]), hint=redact(details["hint"]))
        run.result.update(changed=True, paused=True, status="paused",
                          msg=f"{details['message']} (hint: {details['hint']})",
                          error=details["error"], exit_code=details["exit_code"],
                          hint=details["hint"])
    except ReconcileError as exc:
        details = exc.to_dict()
        message = details.pop("message")
        run.fail(message, **details)
    except Exception as exc:  # noqa: BLE001 - a module must answer in JSON, never a bare traceback
        run.fail(f"pgreconcile failed unexpectedly: {type(exc).__name__}: {redact(str(exc))}",
                 error=type(exc).__name__, exit_code=1,
                 exception=redact(traceback.format_exc()))
    module.exit_json(**run.finished())


class ModuleRun:
    """One call of a module: its parameters, the result it builds, its diff."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.result: dict = {"changed": False}
        self.started = time.monotonic()
        self._diff: dict | None = None

    # ------------------------------------------------------------------ answering
    def show_diff(self, before: str, after: str, before_header: str,
                  after_header: str) -> None:
        """The change, as ``--diff`` shows it (left out of the result without --diff)."""
        self._diff = {"before": before, "after": after, "before_header": before_header,
                      "after_header": after_header}

    def warn(self, message: str) -> None:
        self.module.warn(redact(message) if redact is not None else message)

    def fail(self, message: str, *, error: str, exit_code: int, hint: str | None = None,
             **extra) -> None:
        """Fail the task, keeping the result so far; fail_json strips every no_log value, and
        the message, hint and any text field pass through `redact` (a DSN option's password
        may reach an error in another spelling than the option's own)."""
        fields = {k: v for k, v in self.result.items() if k != "changed"}
        fields.update(extra, error=error, exit_code=exit_code)
        if redact is not None:
            message, hint = redact(message), None if hint is None else redact(hint)
            fields = {k: redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        if hint is not None:
            fields["hint"] = hint
        self.module.fail_json(msg=f"{message} (hint: {hint})" if hint else message, **fields)

    def finished(self) -> dict:
        result = dict(self.result)
        result.setdefault("seconds", round(time.monotonic() - self.started, 3))
        if self._diff is not None and self.module._diff:
            result["diff"] = self._diff
        return result

    # ------------------------------------------------------------------ engine inputs
    @contextlib.contextmanager
    def run_lock(self, action: str):
        """Hold the run's lock (run_id) around a stage that changes or judges the database:
        renews the run's lease, refuses while another run holds the lock. Nothing without
        run_id (the engine's own calls take the lock they need)."""
        run_id = self.params.get("run_id")
        if not run_id or self.check_mode:
            yield
            return
        from pgreconcile.apply.lock import reconcile_lock
        live = self.live
        with live.connect(autocommit=True) as conn, \
                reconcile_lock(conn, live.dbname, action, run_id):
            yield

    @property
    def live(self):
        """The live database; empty values are left to libpq (PG*, ~/.pgpass)."""
        params = self.params
        port = params.get("db_port")
        keywords = {"host": params.get("db_host"), "port": str(port) if port else "",
                    "dbname": params.get("db_name"), "user": params.get("db_user"),
                    "password": params.get("db_password")}
        return ConnectionSpec({key: value for key, value in keywords.items() if value})

    def project(self):
        """The Django project of project_dir/settings/python, or None without project_dir."""
        if not self.params.get("project_dir"):
            return None
        from pgreconcile.django.project import DjangoProject
        return DjangoProject.from_args(self.params["project_dir"], self.params.get("settings"),
                                       self.params.get("python"))

    def target(self, need_reference: bool = True):
        """The engine's Target: live, the reference (when given or needed), scratch server,
        schema scope."""
        from pgreconcile.runbook.reference import ReferenceSource
        from pgreconcile.runbook.target import Target

        params = self.params
        reference = None
        if need_reference or any(params.get(key) for key in REFERENCE_CHOICE):
            reference = ReferenceSource.from_args(
                project_dir=params.get("project_dir"), settings=params.get("settings"),
                python=params.get("python"), reference_dsn=params.get("reference_dsn"),
                reference_sql=params.get("reference_sql"))
        return Target(self.live, reference, self.scratch(),
                      tuple(params["schemas"]) if params.get("schemas") else None,
                      tuple(params["exclude_schemas"]) if params.get("exclude_schemas") else None,
                      params.get("pg_bin_dir"))

    def scratch(self):
        """The server for scratch databases (scratch_dsn), or None for the live one."""
        dsn = self.params.get("scratch_dsn")
        return ConnectionSpec.resolve(dsn) if dsn else None

    def windows(self, option: str = "maintenance_window"):
        """The maintenance windows of a string ("Sat 01:00-03:00 UTC; Sun ...") or a list;
        None when no window is set."""
        from pgreconcile.runbook.window import MaintenanceWindows
        spec = self.params.get(option)
        if isinstance(spec, (list, tuple)):
            spec = [str(item) for item in spec if str(item).strip()]
        elif spec is not None:
            spec = str(spec)
        return MaintenanceWindows.parse(spec or None)

    def plan(self, path_option: str = "plan", data_option: str = "plan_data",
             missing_ok: bool = False):
        """The plan of a plan.json path or of a plan dict returned by pgreconcile_plan.

        With `missing_ok`, a path that does not exist means no plan.
        """
        from pgreconcile.plan.planner import Plan
        from pgreconcile.runbook.stages import load_plan
        params = self.params
        if params.get(data_option):
            return Plan.from_dict(params[data_option])
        path = params.get(path_option)
        if not path or (missing_ok and not os.path.exists(path)):
            return None
        return load_plan(path)
