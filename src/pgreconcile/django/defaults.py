"""Django field defaults, from the project's migration state (probe.py `field_defaults`).

A reference schema built by running migrations has no column defaults: Django keeps field
defaults in Python and drops the database default right after an AddField. The planner
still needs them to add a missing NOT NULL column to a populated table the way Django's own
AddField does (`ADD COLUMN … DEFAULT <constant> NOT NULL`, then `DROP DEFAULT`), or, for a
callable default with an SQL equivalent, with a batched backfill.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from pgreconcile.plan.context import FieldDefault

#: Callables whose value SQL computes the same way, row by row (volatile: a backfill).
VOLATILE_SQL: Mapping[str, str] = {
    "uuid.uuid4": "gen_random_uuid()",
    "django.utils.timezone.now": "now()",
    "datetime.datetime.now": "now()",  # cast to the column type: local time for timestamp
    "datetime.datetime.utcnow": "(now() AT TIME ZONE 'UTC')",
    "datetime.date.today": "current_date",
}


def parse_field_defaults(data: Mapping | None) -> dict[str, FieldDefault]:
    """{"schema.table.column": FieldDefault} from the probe's answer ({"defaults": {…}}, or
    the inner mapping itself). A constant keeps its SQL literal; a callable gets its SQL
    equivalent when VOLATILE_SQL knows one; an entry the probe could not quote (and that
    names no callable) is left out: the column is then planned as if it had no default."""
    raw = (data or {}).get("defaults", data or {})
    result: dict[str, FieldDefault] = {}
    for key, entry in sorted(raw.items()):
        if not isinstance(entry, Mapping) or key.count(".") < 2:
            continue
        sql, name = entry.get("sql") or None, entry.get("callable") or None
        if sql is None and name is None:
            continue
        result[key] = FieldDefault(sql=sql, callable=name,
                                   volatile_sql=None if sql else VOLATILE_SQL.get(name or ""))
    return result


def dumps(defaults: Mapping[str, FieldDefault]) -> str:
    return json.dumps({k: v.to_dict() for k, v in sorted(defaults.items())})


def loads(text: str) -> dict[str, FieldDefault]:
    return {k: FieldDefault.from_dict(v) for k, v in json.loads(text).items()}


def field_defaults(project, target, targets: list[str] | None) -> dict[str, FieldDefault]:
    """Run the probe in the project's interpreter against `target` (it only reads its
    search_path): the defaults of the migration state at `targets` (None: every
    migration)."""
    from pgreconcile.django.project import _Runner
    data = _Runner(project, target).probe(
        "field_defaults", extra_env={"PGRECONCILE_TARGETS": json.dumps(targets)})
    return parse_field_defaults(data)
