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
    from pgreconcile.connection import ConnectionSpec, redact
    from pgreconcile.errors import ReconcileError
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
