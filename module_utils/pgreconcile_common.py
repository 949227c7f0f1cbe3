"""What every pgreconcile_* module shares: connection options, the engine import, error rendering.

The modules are a face of the engine (src/pgreconcile); this file only turns module
parameters into engine inputs and engine errors into ``fail_json``. The options are
documented once, in plugins/doc_fragments/pgreconcile.py.
"""
from __future__ import annotations

import copy
import sys
import traceback

try:
    from pgreconcile.errors import ReconcileError
    from pgreconcile.pg.connection import ConnectionSpec, redact
except ImportError:
    ConnectionSpec = redact = ReconcileError = None
    ENGINE_IMPORT_ERROR = traceback.format_exc()
else:
    ENGINE_IMPORT_ERROR = None

CONNECTION_ARGUMENT_SPEC = {
    "db_name": {"type": "str", "default": ""},
    "db_host": {"type": "str", "default": ""},
    "db_port": {"type": "int"},
    "db_user": {"type": "str", "default": ""},
    "db_password": {"type": "str", "default": "", "no_log": True},
    "pg_bin_dir": {"type": "path"},
}


def connection_argument_spec(**module_options) -> dict:
    """The shared connection options plus a module's own."""
    spec = copy.deepcopy(CONNECTION_ARGUMENT_SPEC)
    spec.update(module_options)
    return spec


def require_engine(module) -> None:
    """Fail with a message a person can act on when the engine is not importable."""
    if ENGINE_IMPORT_ERROR:
        module.fail_json(
            msg=f"the pgreconcile engine is not importable by {sys.executable} on this host "
                "(hint: install it with playbooks/toolkit.yml, or set ansible_python_interpreter "
                "to the Python that has it)",
            error="EngineMissing", exit_code=1, exception=ENGINE_IMPORT_ERROR)


def connection_spec(module):
    """ConnectionSpec from module parameters; empty values are left to libpq (PG*, ~/.pgpass)."""
    params = module.params
    port = params.get("db_port")
    keywords = {
        "host": params.get("db_host"),
        "port": str(port) if port else "",
        "dbname": params.get("db_name"),
        "user": params.get("db_user"),
        "password": params.get("db_password"),
    }
    return ConnectionSpec({key: value for key, value in keywords.items() if value})


def run_engine(module, call, *args, **kwargs):
    """Call the engine; render its typed errors (and anything unexpected) with fail_json.

    fail_json strips every no_log value (the password) from what it returns.
    """
    try:
        return call(*args, **kwargs)
    except ReconcileError as exc:
        details = exc.to_dict()
        message = details.pop("message")
        hint = details.get("hint")
        module.fail_json(msg=f"{message} (hint: {hint})" if hint else message, **details)
    except Exception as exc:  # noqa: BLE001 - a module must answer in JSON, never a bare traceback
        module.fail_json(msg=f"pgreconcile failed unexpectedly: {type(exc).__name__}: "
                             f"{redact(str(exc))}",
                         error=type(exc).__name__, exit_code=1,
                         exception=redact(traceback.format_exc()))
    return None


# --------------------------------------------------------------------------- the reference
# The Django project whose migrations say what live should look like, or another reference
# (documented in the DOCUMENTATION of each module that takes them).
DJANGO_ARGUMENT_SPEC = {
    "project_dir": {"type": "path"},
    "settings": {"type": "str"},
    "python": {"type": "str"},
}

TARGET_ARGUMENT_SPEC = {
    **DJANGO_ARGUMENT_SPEC,
    "reference_dsn": {"type": "str"},
    "reference_sql": {"type": "path"},
    "scratch_dsn": {"type": "str"},
    "schemas": {"type": "list", "elements": "str"},
    "exclude_schemas": {"type": "list", "elements": "str"},
}


def django_argument_spec(**module_options) -> dict:
    """Connection options, the Django project options, and a module's own."""
    return connection_argument_spec(**copy.deepcopy(DJANGO_ARGUMENT_SPEC), **module_options)


def target_argument_spec(**module_options) -> dict:
    """Connection options, the reference options (Django project, DSN or SQL file), scratch
    server and schema filters, and a module's own."""
    return connection_argument_spec(**copy.deepcopy(TARGET_ARGUMENT_SPEC), **module_options)


def django_project(module, required: bool = True):
    """DjangoProject from project_dir/settings/python, or None when no project is given."""
    params = module.params
    if not params.get("project_dir") and not required:
        return None
    from pgreconcile.django.project import DjangoProject
    return run_engine(module, DjangoProject.from_args, params.get("project_dir"),
                      params.get("settings"), params.get("python"))


def engine_target(module, need_reference: bool = True):
    """The engine's Target: live connection, reference (when given or needed), scratch server."""
    from pgreconcile.pg.connection import ConnectionSpec as Spec
    from pgreconcile.runbook.reference import ReferenceSource
    from pgreconcile.runbook.stages import Target

    params = module.params
    keys = ("project_dir", "reference_dsn", "reference_sql")
    reference = None
    if need_reference or any(params.get(key) for key in keys):
        reference = run_engine(module, ReferenceSource.from_args,
                               project_dir=params.get("project_dir"),
                               settings=params.get("settings"), python=params.get("python"),
                               reference_dsn=params.get("reference_dsn"),
                               reference_sql=params.get("reference_sql"))
    scratch = params.get("scratch_dsn")
    return Target(connection_spec(module), reference,
                  run_engine(module, Spec.resolve, scratch) if scratch else None,
                  tuple(params["schemas"]) if params.get("schemas") else None,
                  tuple(params["exclude_schemas"]) if params.get("exclude_schemas") else None,
                  params.get("pg_bin_dir"))


def maintenance_windows(module, option: str = "maintenance_window"):
    """MaintenanceWindows from a string ("Sat 01:00-03:00 UTC; Sun 01:00-03:00 UTC") or a
    list of strings; None when no window is set."""
    from pgreconcile.runbook.window import MaintenanceWindows
    spec = module.params.get(option)
    if isinstance(spec, (list, tuple)):
        spec = [str(item) for item in spec if str(item).strip()]
    elif spec is not None:
        spec = str(spec)
    return run_engine(module, MaintenanceWindows.parse, spec or None)


def load_plan(module, path_option: str = "plan", data_option: str = "plan_data"):
    """A Plan from a plan.json path or from a plan dict returned by pgreconcile_plan."""
    from pgreconcile.plan.steps import Plan
    from pgreconcile.runbook.stages import load_plan as load_plan_file
    params = module.params
    if params.get(data_option):
        return run_engine(module, Plan.from_dict, params[data_option])
    if params.get(path_option):
        return run_engine(module, load_plan_file, params[path_option])
    return None


def drift_facts(diagnosis) -> dict:
    """A diagnosis (live against the reference) as facts: counts and significant changes."""
    diff = diagnosis.diff
    return {"reference": diagnosis.reference, "reference_state": diagnosis.reference_state,
            "empty": diff.is_empty, "counts": diff.counts(),
            "changes": [change.to_dict() for change in diff.significant],
            "live_fingerprint": diff.live_fingerprint,
            "expected_fingerprint": diff.expected_fingerprint}


def window_facts(windows) -> dict:
    """Whether changing stages may run now, in the engine's own words."""
    from pgreconcile.runbook.window import window_status
    return window_status(windows)


