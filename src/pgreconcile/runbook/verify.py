"""Verification: is live now what the migrations expect, with every row still there?"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from psycopg import sql

from pgreconcile.django.project import DjangoProject, manage
from pgreconcile.pg import census
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.schema.diff import Diff

#: Tables `migrate` itself writes to; every other table must keep its rows.
MIGRATE_WRITES = frozenset({"django_migrations", "django_content_type", "auth_permission"})


def counts_to_preserve(counts: dict[str, int]) -> dict[str, int]:
    """Row counts verify holds live to: every table except those `migrate` writes."""
    return {t: n for t, n in counts.items() if t.split(".", 1)[-1] not in MIGRATE_WRITES}


@dataclass
class Verification:
    ok: bool
    checks: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def residual_filter(diff: Diff, residual: list[dict]) -> list[dict]:
    """Significant changes that the plan did not announce as kept."""
    allowed = {(r["bucket"], r["kind"], r["object"]) for r in residual}
    allowed_objects = {r["object"] for r in residual}
    left = []
    for change in diff.significant:
        key = (change.bucket, change.kind, change.object)
        if key in allowed or change.object in allowed_objects:
            continue
        left.append(change.to_dict())
    return left


def invalid_constraints(conn) -> list[str]:
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname || '.' || k.conname FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT k.convalidated AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "UNION ALL SELECT n.nspname || '.' || x.relname FROM pg_index i "
        "JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_namespace n ON n.oid = x.relnamespace "
        "WHERE NOT i.indisvalid ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def data_fingerprints(conn, tables: dict[str, list[str]]) -> dict[str, str]:
    """md5 over the given columns of each table, in key order: the data itself, not a count."""
    out = {}
    for table, columns in tables.items():
        schema, name = table.split(".", 1)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        query = sql.SQL("SELECT md5(string_agg(md5(row({cols})::text), '' ORDER BY {key})) "
                        "FROM {t}").format(cols=cols, key=sql.Identifier(columns[0]),
                                           t=sql.Identifier(schema, name))
        out[table] = conn.execute(query).fetchone()[0] or "empty"
    return out


def verify_live(live: ConnectionSpec, diff: Diff, residual: list[dict], *,
                project: DjangoProject | None = None, expected_counts: dict | None = None,
                fingerprints_before: dict | None = None, fingerprint_columns: dict | None = None,
                run_tests: bool = False, test_settings: str | None = None,
                inject_failure: str | None = None) -> Verification:
    """`inject_failure` names the drill (`--fail-verify`, `inject_failure`) that makes
    verification fail on purpose, so that rollback can be rehearsed on staging."""
    v = Verification(ok=True)
    unexpected = residual_filter(diff, residual)
    v.checks["drift"] = {"unexpected": unexpected, "kept": len(diff.significant) -
                         len(unexpected)}
    if unexpected:
        v.problems.append(f"{len(unexpected)} unexpected difference(s) from the reference: "
                          + ", ".join(c["object"] for c in unexpected[:5]))
    with live.connect() as conn:
        invalid = invalid_constraints(conn)
        counts = census.row_counts(conn)
        fps = data_fingerprints(conn, fingerprint_columns) if fingerprint_columns else {}
    v.checks["invalid_constraints_or_indexes"] = invalid
    if invalid:
        v.problems.append(f"not valid: {', '.join(invalid)}")
    if expected_counts is not None:
        changed = {t: {"before": n, "after": counts.get(t)} for t, n in expected_counts.items()
                   if counts.get(t) != n}
        v.checks["row_counts"] = {"tables": len(expected_counts), "changed": changed}
        if changed:
            v.problems.append(f"row counts changed: {sorted(changed)}")
    if fingerprints_before:
        changed = sorted(t for t, f in fingerprints_before.items() if fps.get(t) != f)
        v.checks["data_fingerprints"] = {"tables": sorted(fingerprints_before),
                                         "changed": changed}
        if changed:
            v.problems.append(f"data changed in {changed}")
    if project is not None:
        mc = manage(project, live, "migrate", "--check", "--no-input")
        mm = manage(project, live, "makemigrations", "--check", "--dry-run", "--no-input")
        v.checks["migrate_check"] = {"ok": mc.ok, "output": (mc.stdout + mc.stderr)[-400:]}
        v.checks["makemigrations_check"] = {"ok": mm.ok, "output": (mm.stdout + mm.stderr)[-400:]}
        if not mc.ok:
            v.problems.append("migrate --check: migrations are still pending")
        if not mm.ok:
            v.problems.append("makemigrations --check: models and migrations disagree")
        if run_tests:
            args = ["test", "--noinput"] + ([f"--settings={test_settings}"] if test_settings
                                            else [])
            tr = manage(project, live, *args)
            v.checks["tests"] = {"ok": tr.ok, "output": (tr.stdout + tr.stderr)[-1500:]}
            if not tr.ok:
                v.problems.append("the project's tests failed")
    if inject_failure:
        v.problems.append(f"fault injected by {inject_failure} (rollback drill)")
    v.ok = not v.problems
    return v
