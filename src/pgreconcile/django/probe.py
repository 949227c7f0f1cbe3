"""Runs INSIDE the Django project's own interpreter (not imported by pgreconcile).

Usage: python probe.py state|preflight|migrate_to|field_defaults
Prints one JSON document on stdout. Uses only Django and the standard library,
because the project's interpreter may not have pgreconcile installed.
"""
import json
import os
import sys
import traceback

# Run as a script, this file's folder is sys.path[0]: drop it, so that the engine's own
# modules (project.py, preflight.py) can never shadow an app of the project.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _setup():
    import django
    django.setup()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    return connection, MigrationExecutor(connection)


def state() -> dict:
    connection, executor = _setup()
    loader = executor.loader
    graph = loader.graph
    applied = sorted(f"{a}.{n}" for a, n in loader.applied_migrations)
    known = set(graph.nodes)
    targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    pending = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
    unknown = sorted(f"{a}.{n}" for a, n in loader.applied_migrations if (a, n) not in known)
    conflicts = {app: names for app, names in loader.detect_conflicts().items()}
    applied_targets = {}
    for app_label, name in loader.applied_migrations:
        if (app_label, name) not in known:
            continue
        depth = len(loader.graph.forwards_plan((app_label, name)))
        if depth > applied_targets.get(app_label, (0, None))[0]:
            applied_targets[app_label] = (depth, name)
    return {"tables_by_migration": _tables_by_migration(loader),
            "migrations_digest": _digest(loader),
            "applied_targets": sorted(f"{a}.{n}" for a, (_, n) in applied_targets.items()),
            "applied": applied, "pending": pending, "unknown_applied": unknown,
            "conflicts": conflicts, "leaf_nodes": sorted(f"{a}.{n}" for a, n in targets),
            "vendor": connection.vendor}


def _digest(loader) -> str:
    """sha256 over every migration file the project would run (its apps and Django's own):
    the same digest means the same migrations, so a reference schema can be reused."""
    import hashlib
    digest = hashlib.sha256()
    for key in sorted(loader.graph.nodes):
        module = sys.modules.get(type(loader.graph.nodes[key]).__module__)
        path = getattr(module, "__file__", None)
        digest.update(f"{key[0]}.{key[1]}\n".encode())
        if path:
            with open(path, "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()


def _tables_by_migration(loader) -> dict:
    """Which tables each migration creates or alters (for "was an applied one edited?")."""
    from django.apps import apps
    from django.db.migrations import operations as ops
    result = {}
    for (app_label, name), migration in loader.graph.nodes.items():
        tables = set()
        for op in migration.operations:
            model_name = getattr(op, "name", None) if isinstance(op, ops.CreateModel) else \
                getattr(op, "model_name", None)
            if not model_name:
                continue
            try:
                tables.add(apps.get_model(app_label, model_name)._meta.db_table)
            except LookupError:
                tables.add(f"{app_label}_{model_name.lower()}")
        if tables:
            result[f"{app_label}.{name}"] = sorted(tables)
    return result


def field_defaults() -> dict:
    """What the migration state (of PGRECONCILE_TARGETS, default: every migration) says each
    column's default is, where Django keeps it in Python and the database has none:
    {"schema.table.column": {"sql": literal or None, "callable": dotted name or None}}.

    Constants are quoted the way Django's own schema editor writes the DEFAULT of an AddField
    (effective_default, then quote_value); callables are named, never called, except the
    builtin containers (dict, list, ...) whose value is a constant."""
    import re

    from django.db.models.fields import NOT_PROVIDED
    connection, executor = _setup()
    loader = executor.loader
    wanted = json.loads(os.environ.get("PGRECONCILE_TARGETS") or "null")
    nodes = (loader.graph.leaf_nodes() if wanted is None
             else [tuple(t.split(".", 1)) for t in wanted])
    result = {}
    if not nodes:
        return {"defaults": result}
    apps = loader.project_state(nodes, at_end=True).apps
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        default_schema = cursor.fetchone()[0] or "public"
    editor = connection.schema_editor(collect_sql=True, atomic=False)
    quoted = re.compile(r'^"([^"]+)"\."([^"]+)"$')
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy:
            continue
        m = quoted.match(meta.db_table)
        schema, table = (m.group(1), m.group(2)) if m else (default_schema, meta.db_table)
        for f in meta.local_concrete_fields:
            if not f.column or getattr(f, "generated", False):
                continue
            if getattr(f, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
                continue  # a database default (Django 5+): the schema has it already
            entry = _field_default(f, editor)
            if entry:
                result[f"{schema}.{table}.{f.column}"] = entry
    return {"defaults": result}


def _dotted(fn) -> str:
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}"


def _field_default(f, editor):
    """One field's default: {"sql", "callable"} or None when Django would add it NULL."""
    if f.has_default():
        default = f.default
        if callable(default):
            name = _dotted(default)
            if default in (dict, list, tuple, set, str, int, float, bool):
                try:
                    value = f.get_db_prep_save(default(), editor.connection)
                    return {"sql": editor.quote_value(value), "callable": name}
                except Exception as exc:  # noqa: BLE001 - reported, not fatal
                    return {"sql": None, "callable": name, "error": str(exc)}
            return {"sql": None, "callable": name}
        if default is None:
            return None
    elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
        # Django fills existing rows with "now" when it adds such a column.
        now = {"DateTimeField": "django.utils.timezone.now", "DateField": "datetime.date.today",
               "TimeField": "datetime.datetime.now"}.get(f.get_internal_type())
        return {"sql": None, "callable": now} if now else None
    elif f.null or not (f.blank and f.empty_strings_allowed):
        return None
    try:
        value = editor.effective_default(f)
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return {"sql": None, "callable": None, "error": f"{type(exc).__name__}: {exc}"}
    if value is None:
        return None
    try:
        return {"sql": editor.quote_value(value), "callable": None}
    except Exception as exc:  # noqa: BLE001
        return {"sql": None, "callable": None, "error": f"{type(exc).__name__}: {exc}"}


def migrate_to() -> dict:
    """Migrate to exactly the given targets (the migration state live claims to be in)."""
    import os
    connection, executor = _setup()
    wanted = json.loads(os.environ.get("PGRECONCILE_TARGETS") or "null")
    targets = (executor.loader.graph.leaf_nodes() if wanted is None
               else [tuple(t.split(".", 1)) for t in wanted])
    plan = executor.migration_plan(targets)
    executor.migrate(targets, plan=plan)
    return {"ok": True, "applied": [f"{m.app_label}.{m.name}" for m, _ in plan]}


def preflight() -> dict:
    """Apply pending migrations the way `migrate` does, and say exactly where it fails."""
    connection, executor = _setup()
    targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    pending = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
    where = {"migration": None, "operation": None, "operation_index": None, "sql": None}

    def record_sql(execute, sql, params, many, context):
        where["sql"] = sql
        return execute(sql, params, many, context)

    for migration, _ in plan:
        for index, operation in enumerate(migration.operations):
            original = operation.database_forwards

            def wrapped(app_label, schema_editor, from_state, to_state, _op=operation,
                        _orig=original, _mig=migration, _i=index):
                where.update(migration=f"{_mig.app_label}.{_mig.name}",
                             operation=_op.describe(), operation_index=_i,
                             deferred=False)
                result = _orig(app_label, schema_editor, from_state, to_state)
                # After the last operation, the schema editor runs its deferred SQL
                # (foreign keys, indexes): a failure from here on belongs to that.
                where["deferred"] = _i == len(_mig.operations) - 1
                return result

            operation.database_forwards = wrapped

    def progress(action, migration=None, fake=False):
        if action == "apply_start":
            where.update(migration=f"{migration.app_label}.{migration.name}", operation=None,
                         operation_index=None)
        elif action == "apply_success":
            applied.append(f"{migration.app_label}.{migration.name}")

    applied: list = []
    executor.progress_callback = progress
    try:
        with connection.execute_wrapper(record_sql):
            executor.migrate(targets, plan=plan)
    except Exception as exc:  # the whole point is to report it
        error = {"type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                 "message": str(exc).strip(), **where,
                 "traceback_tail": traceback.format_exc().strip().splitlines()[-6:]}
        return {"ok": False, "pending": pending, "applied": applied, "error": error}
    return {"ok": True, "pending": pending, "applied": applied, "error": None}


if __name__ == "__main__":
    action = sys.argv[1]
    result = {"state": state, "preflight": preflight, "migrate_to": migrate_to,
              "field_defaults": field_defaults}[action]()
    sys.stdout.write("\n@@PGRECONCILE-JSON@@" + json.dumps(result) + "\n")
