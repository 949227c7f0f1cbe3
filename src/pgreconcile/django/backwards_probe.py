"""Runs INSIDE the Django project's own interpreter (not imported by pgreconcile).

Usage: python backwards_probe.py drops|unapply|forwards
  drops    what migrating back to $PGRECONCILE_TARGETS would drop: tables and columns, from
           Django's own project states before and after (so renames, custom db_table and
           auto-created many-to-many tables count as Django builds them)
  unapply  migrate back to $PGRECONCILE_TARGETS, then run the SQL statements of
           $PGRECONCILE_SQL, all in ONE transaction: everything or nothing
  forwards the pending migrations and which of them are not atomic
Prints one JSON document on stdout after a marker line. Only Django and the standard library.
"""
import json
import os
import sys
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _setup():
    import django
    django.setup()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    return connection, MigrationExecutor(connection)


def _targets(executor):
    wanted = json.loads(os.environ.get("PGRECONCILE_TARGETS") or "null")
    if wanted is None:
        return executor.loader.graph.leaf_nodes()
    return [tuple(t.split(".", 1)) for t in wanted]


def _shape(loader, nodes):
    """{table: [columns]} of the models Django manages in the state made of `nodes`."""
    graph = loader.graph
    leaves = [n for n in nodes if not any(c.key in nodes for c in graph.node_map[n].children)]
    if not leaves:
        return {}
    state = loader.project_state(nodes=leaves, at_end=True)
    shape = {}
    for model in state.apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.swapped:
            continue
        shape[meta.db_table] = sorted(f.column for f in meta.local_concrete_fields if f.column)
    return shape


def drops() -> dict:
    _, executor = _setup()
    loader = executor.loader
    plan = executor.migration_plan(_targets(executor))
    backwards = [m for m, back in plan if back]
    applied = {k for k in loader.applied_migrations if k in loader.graph.nodes}
    after = applied - {(m.app_label, m.name) for m in backwards}
    now, then = _shape(loader, applied), _shape(loader, after)
    tables = sorted(t for t in now if t not in then)
    columns = {t: sorted(set(cols) - set(then[t])) for t, cols in now.items()
               if t in then and set(cols) - set(then[t])}
    from django.db.migrations import operations as ops
    opaque = [f"{m.app_label}.{m.name}: {op.describe()}" for m in backwards
              for op in m.operations if isinstance(op, (ops.RunSQL, ops.RunPython))]
    return {"migrations": [f"{m.app_label}.{m.name}" for m in backwards], "tables": tables,
            "columns": columns, "opaque": opaque,
            "non_atomic": [f"{m.app_label}.{m.name}" for m in backwards if not m.atomic]}


def _sqlstate(exc):
    while exc is not None:
        code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if code:
            return code
        exc = exc.__cause__ or exc.__context__
    return None


def unapply() -> dict:
    connection, executor = _setup()
    from django.db import transaction
    statements = json.loads(os.environ.get("PGRECONCILE_SQL") or "[]")
    targets = _targets(executor)
    plan = executor.migration_plan(targets)
    done, where = [], {"migration": None, "statement": None}

    def progress(action, migration=None, fake=False):
        if action == "unapply_start":
            where["migration"] = f"{migration.app_label}.{migration.name}"
        elif action == "unapply_success":
            done.append(f"{migration.app_label}.{migration.name}")

    executor.progress_callback = progress
    try:
        with transaction.atomic():
            if plan:
                executor.migrate(targets, plan=plan)
            where["migration"] = None
            with connection.cursor() as cursor:
                for statement in statements:
                    where["statement"] = statement
                    cursor.execute(statement)
    except Exception as exc:  # reported to the engine, which decides
        return {"ok": False, "unapplied": [], "error": {
            "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "message": str(exc).strip(), "sqlstate": _sqlstate(exc), **where,
            "traceback_tail": traceback.format_exc().strip().splitlines()[-4:]}}
    return {"ok": True, "unapplied": done, "error": None}


def forwards() -> dict:
    _, executor = _setup()
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [m for m, back in plan if not back]
    return {"pending": [f"{m.app_label}.{m.name}" for m in pending],
            "non_atomic": [f"{m.app_label}.{m.name}" for m in pending if not m.atomic]}


if __name__ == "__main__":
    result = {"drops": drops, "unapply": unapply, "forwards": forwards}[sys.argv[1]]()
    sys.stdout.write("\n@@PGRECONCILE-JSON@@" + json.dumps(result) + "\n")
