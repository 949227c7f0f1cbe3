"""Verification: is live now what the migrations expect, and did pgreconcile itself write
nothing it must not?

With the application writing during a run, whole-table row counts and data fingerprints
change for reasons that are not pgreconcile's. What decides is therefore what pgreconcile's
own transactions wrote (the executor's per-step audit in the ledger: `detail.writes` and
`detail.allowed_updates`), and which invalid objects *this run* made (compared with a
baseline taken before the first change, the plan's own objects, in-progress index builds of
other sessions left out). Counts and fingerprints before/after stay in the report as
evidence; they decide only in a standalone verify without a plan (docs/guarantees.md,
"What verify proves under concurrent writes, and what it cannot").
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from psycopg import sql

from pgreconcile.django.project import DjangoProject, manage
from pgreconcile.pg import census
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.steps import Plan
from pgreconcile.schema.diff import Diff
from pgreconcile.schema.model import Schema

#: Tables `migrate` itself writes to; every other table must keep its rows.
MIGRATE_WRITES = frozenset({"django_migrations", "django_content_type", "auth_permission"})

#: Schemas whose invalid objects are never the application's or pgreconcile's business:
#: the catalogs, and other sessions' temporary schemas.
_SKIP_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                 "AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
                 "AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'")

#: Invalid indexes and NOT VALID constraints, each with its table and whether another
#: backend of this database is building it right now (CREATE INDEX CONCURRENTLY keeps its
#: index invalid until it ends; REINDEX CONCURRENTLY's new copy too). The progress view
#: exists from PostgreSQL 12 with these columns through 18; its relid/index_relid are only
#: shown for the backends of roles whose statistics this role may read (its own role,
#: pg_read_all_stats): a build by another role is then not recognised and counts as invalid.
INVALID_OBJECTS_SQL = f"""
WITH building AS (
    SELECT p.relid, p.index_relid, p.command
    FROM pg_stat_progress_create_index p
    WHERE p.pid <> pg_backend_pid()
      AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT 'index' AS kind, n.nspname, t.relname, x.relname,
       EXISTS (SELECT 1 FROM building b
               WHERE b.index_relid = x.oid
                  OR (b.relid = t.oid AND (COALESCE(b.index_relid, 0) = 0
                                           OR b.command LIKE 'REINDEX%%'))) AS building
FROM pg_index i
JOIN pg_class x ON x.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = x.relnamespace
WHERE NOT i.indisvalid AND {_SKIP_SCHEMAS}
UNION ALL
SELECT 'constraint', n.nspname, c.relname, k.conname, false
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT k.convalidated AND {_SKIP_SCHEMAS}
ORDER BY 2, 3, 4, 1
"""

#: Ledger rows of a plan, with the executor's per-step audit (detail jsonb) when present.
LEDGER_AUDIT_SQL = ("SELECT step_id, status, detail FROM pgreconcile.ledger "
                    "WHERE plan_id = %s ORDER BY step_id")


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


# --------------------------------------------------------------------------- invalid objects
def invalid_objects(conn) -> list[dict]:
    """Every invalid index and NOT VALID constraint: {object "schema.table.name", kind,
    table "schema.table", building (another backend is building it now)}."""
    return [{"object": f"{schema}.{table}.{name}", "kind": kind, "table": f"{schema}.{table}",
             "building": bool(building)}
            for kind, schema, table, name, building in conn.execute(INVALID_OBJECTS_SQL)]


def invalid_constraints(conn) -> list[str]:
    """Names of the invalid objects no other backend is building (the standalone check)."""
    return [o["object"] for o in invalid_objects(conn) if not o["building"]]


def plan_objects(plan: Plan | None) -> tuple[set[str], set[str]]:
    """What the plan makes: constraint/index names ("schema.table.name"; a constraint's
    backing index has its name) and the tables it creates."""
    names: set[str] = set()
    tables: set[str] = set()
    for step in plan.steps if plan else ():
        for ref in (step.target, *step.creates):
            if ref is None:
                continue
            if ref.kind in ("index", "constraint"):
                names.add(ref.qualified)
            elif ref.kind == "table":
                tables.add(ref.qualified)
    return names, tables


def declared_objects(expected: Schema | None) -> set[str]:
    """Constraints and indexes the reference (today's migrations) declares, by name."""
    out: set[str] = set()
    for t in expected.tables if expected else ():
        out.update(f"{t.qualified_name}.{c.name}" for c in t.constraints)
        out.update(f"{t.qualified_name}.{i.name}" for i in t.indexes)
    return out


def judge_invalid(now: list[dict], *, plan: Plan | None = None, baseline: dict | None = None,
                  expected: Schema | None = None) -> dict:
    """Sort invalid objects into: made by this run (these fail verify), invalid before the
    run, being built by another backend, and the rest (appeared, not this run's doing, or
    not attributable without a baseline).

    * with a baseline: an object counts when it was not invalid before and is the plan's,
      on a table that did not exist before, or declared by the migrations `migrate` ran;
    * with a plan only: the plan's own objects count; the rest cannot be attributed;
    * with neither: every invalid object counts (there is nothing to compare with).
    An object another backend is building never counts."""
    names, tables = plan_objects(plan)
    building = sorted(o["object"] for o in now if o["building"])
    settled = [o for o in now if not o["building"]]
    made, before, other = [], [], []
    if baseline is not None and baseline.get("invalid") is not None:
        basis = "baseline"
        was_invalid = set(baseline.get("invalid") or ())
        old_tables = baseline.get("tables")
        declared = declared_objects(expected)
        for o in settled:
            if o["object"] in names or o["table"] in tables:
                made.append(o["object"])      # the plan's own: invalid after it is a failure
            elif o["object"] in was_invalid:
                before.append(o["object"])
            elif (old_tables is not None and o["table"] not in set(old_tables)) \
                    or o["object"] in declared:
                made.append(o["object"])
            else:
                other.append(o["object"])
        note = ("compared with the invalid objects before the run; only those this run "
                "made count")
    elif plan is not None:
        basis = "plan"
        for o in settled:
            (made if o["object"] in names or o["table"] in tables else other).append(
                o["object"])
        note = ("no baseline from before the run: only the plan's own objects count; the "
                "others cannot be attributed and are listed only")
    else:
        basis = "none"
        made = [o["object"] for o in settled]
        note = "no plan and no baseline: every invalid object counts"
    return {"basis": basis, "made_by_run": made, "before": before, "building": building,
            "other": other, "note": note}


# --------------------------------------------------------------------------- own writes
def ledger_audit(conn, plan_id: str) -> dict[str, dict]:
    """The plan's ledger rows by step id: {status, detail}. Empty without a ledger."""
    from pgreconcile.apply import ledger
    if not ledger.exists(conn):  # refuses a ledger someone else made (a view, a trigger)
        return {}
    out = {}
    for step_id, status, detail in conn.execute(LEDGER_AUDIT_SQL, (plan_id,)):
        if isinstance(detail, str):
            detail = json.loads(detail)
        out[step_id] = {"status": status, "detail": detail or {}}
    return out


def _n(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def judge_own_writes(plan: Plan, entries: dict[str, dict]) -> dict:
    """What pgreconcile's own transactions wrote, step by step, from the executor's audit:
    no row inserted or deleted anywhere, rows updated only in the step's own table (a
    backfill's) and no more than `allowed_updates` (what the backfill reported; 0 for
    other steps). Steps without an audit record are listed (found
    done: pgreconcile did not run them; otherwise an older ledger) and prove nothing."""
    audited, unaudited, not_run, violations = [], [], [], []
    totals: dict[str, dict[str, int]] = {}
    allowed_total = 0
    for step in plan.steps:
        entry = entries.get(step.id)
        if entry is None:
            not_run.append(step.id)
            continue
        detail = entry["detail"]
        if entry["status"] == "reverted":
            unaudited.append({"step": step.id, "why": "reverted by a rollback"})
            continue
        if detail.get("found_done"):
            unaudited.append({"step": step.id, "why": "found done: pgreconcile did not run "
                                                      "it, so it wrote nothing"})
            continue
        writes = detail.get("writes")
        if not isinstance(writes, dict):
            unaudited.append({"step": step.id, "why": "no audit record (a ledger written "
                                                      "before audits, or a step still "
                                                      "running)"})
            continue
        audited.append(step.id)
        allowed = _n(detail.get("allowed_updates"))
        allowed_total += allowed
        # A backfill updates its own table; any other step updates nothing unless the
        # executor recorded rows it was allowed to update (in the step's table).
        own_table = step.backfill.qualified_table if step.backfill else step.table
        updated = 0
        for table, w in sorted(writes.items()):
            w = w if isinstance(w, dict) else {}
            ins, upd, dele = _n(w.get("inserted")), _n(w.get("updated")), _n(w.get("deleted"))
            t = totals.setdefault(table, {"inserted": 0, "updated": 0, "deleted": 0})
            t["inserted"] += ins
            t["updated"] += upd
            t["deleted"] += dele
            if ins:
                violations.append({"step": step.id, "table": table, "rows": ins,
                                   "what": f"inserted {ins} row(s)"})
            if dele:
                violations.append({"step": step.id, "table": table, "rows": dele,
                                   "what": f"deleted {dele} row(s)"})
            if upd and table != own_table:
                violations.append({"step": step.id, "table": table, "rows": upd,
                                   "what": f"updated {upd} row(s) of a table it may not "
                                           "update"})
            elif upd:
                updated += upd
        if updated > allowed:
            violations.append({"step": step.id, "table": own_table, "rows": updated,
                               "what": f"updated {updated} row(s), {allowed} reported by "
                                       "the backfill" if step.backfill else
                                       f"updated {updated} row(s), {allowed} allowed"})
    return {"ok": not violations, "audited": audited, "unaudited": unaudited,
            "not_run": not_run, "writes": totals, "allowed_updates": allowed_total,
            "violations": violations}


# --------------------------------------------------------------------------- data evidence
def data_fingerprints(conn, tables: dict[str, list[str]]) -> dict[str, str]:
    """md5 over the given columns of each table, in key order: the data itself, not a count."""
    out = {}
    for table, wanted in tables.items():
        schema, name = table.split(".", 1)
        # Only the columns still there: a plan may drop one (swap drops the old key), and
        # evidence must never turn into an error that skips the rollback.
        present = {r[0] for r in conn.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND "
            "c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped", (schema, name))}
        columns = [c for c in wanted if c in present]
        if not columns:
            out[table] = "missing"
            continue
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        query = sql.SQL("SELECT md5(string_agg(md5(row({cols})::text), '' ORDER BY {key})) "
                        "FROM {t}").format(cols=cols, key=sql.Identifier(columns[0]),
                                           t=sql.Identifier(schema, name))
        out[table] = conn.execute(query).fetchone()[0] or "empty"
    return out


#: A table's columns in key order: primary key columns first, then the rest by position.
_COLUMNS_SQL = """
SELECT a.attname, pk.n
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN LATERAL (
    SELECT array_position(i.indkey::int2[], a.attnum) AS n
    FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) pk ON true
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
ORDER BY pk.n NULLS LAST, a.attnum
"""


def fingerprint_columns(conn, plan: Plan | None) -> dict[str, list[str]]:
    """The columns to fingerprint of each table the plan's steps work on (tables without a
    primary key are left out: their rows have no order)."""
    out: dict[str, list[str]] = {}
    for step in plan.steps if plan else ():
        for table in (step.table, step.backfill.qualified_table if step.backfill else None):
            if not table or table in out:
                continue
            schema, _, name = table.partition(".")
            rows = conn.execute(_COLUMNS_SQL, (schema, name)).fetchall()
            if rows and rows[0][1] is not None:
                out[table] = [r[0] for r in rows]
    return out


def verify_baseline(conn, plan: Plan | None = None) -> dict:
    """The state verify compares with, taken right before the first change: invalid objects
    (and which tables exist) to tell this run's from older ones, and row counts plus data
    fingerprints of the plan's tables as evidence. The report stores it as `data_before`."""
    fp_columns = fingerprint_columns(conn, plan)
    counts = census.row_counts(conn)
    return {"taken_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "plan_id": plan.id if plan else None,
            "fingerprints": data_fingerprints(conn, fp_columns),
            "fingerprint_columns": fp_columns,
            "row_counts": counts_to_preserve(counts),
            "tables": sorted(counts),
            "invalid": [o["object"] for o in invalid_objects(conn)]}


def _data_checks(v: Verification, counts: dict, fps: dict, *, expected_counts: dict | None,
                 fingerprints_before: dict | None, decides: bool) -> None:
    role = ("decides: without a plan nothing tells pgreconcile's writes from others'"
            if decides else "evidence: the application and migrations write these tables "
                            "during a run; pgreconcile's own writes are checked by own_writes")
    if expected_counts is not None:
        changed = {t: {"before": n, "after": counts.get(t)} for t, n in expected_counts.items()
                   if counts.get(t) != n}
        v.checks["row_counts"] = {"tables": len(expected_counts), "changed": changed,
                                  "decides": decides, "role": role}
        if changed and decides:
            v.problems.append(f"row counts changed: {sorted(changed)}")
    if fingerprints_before:
        changed = sorted(t for t, f in fingerprints_before.items() if fps.get(t) != f)
        v.checks["data_fingerprints"] = {"tables": sorted(fingerprints_before),
                                         "changed": changed, "decides": decides, "role": role}
        if changed and decides:
            v.problems.append(f"data changed in {changed}")


def verify_live(live: ConnectionSpec, diff: Diff, residual: list[dict], *,
                project: DjangoProject | None = None, plan: Plan | None = None,
                baseline: dict | None = None, expected: Schema | None = None,
                expected_counts: dict | None = None,
                fingerprints_before: dict | None = None, fingerprint_columns: dict | None = None,
                run_tests: bool = False, test_settings: str | None = None,
                inject_failure: str | None = None) -> Verification:
    """`plan`: the plan this run applied (its ledger audit is checked, its objects are this
    run's); `baseline`: what `verify_baseline` took before the first change (invalid
    objects before, counts and fingerprints as evidence); `expected`: the reference schema,
    whose declared objects count as made by the run's migrations when new since the
    baseline. Without a plan, counts and fingerprints decide, as nothing else can.
    `inject_failure` names the drill (`--fail-verify`, `inject_failure`) that makes
    verification fail on purpose, so that rollback can be rehearsed on staging."""
    if baseline is not None:
        if expected_counts is None:
            expected_counts = baseline.get("row_counts")
        if fingerprints_before is None:
            fingerprints_before = baseline.get("fingerprints")
        if fingerprint_columns is None:
            fingerprint_columns = baseline.get("fingerprint_columns")
    v = Verification(ok=True)
    unexpected = residual_filter(diff, residual)
    v.checks["drift"] = {"unexpected": unexpected, "kept": len(diff.significant) -
                         len(unexpected)}
    if unexpected:
        v.problems.append(f"{len(unexpected)} unexpected difference(s) from the reference: "
                          + ", ".join(c["object"] for c in unexpected[:5]))
    with live.connect() as conn:
        entries = ledger_audit(conn, plan.id) if plan is not None else {}
        invalid = invalid_objects(conn)
        counts = census.row_counts(conn) if expected_counts is not None else {}
        fps = data_fingerprints(conn, fingerprint_columns) if fingerprint_columns else {}
    if plan is not None:
        own = judge_own_writes(plan, entries)
        v.checks["own_writes"] = own
        for bad in own["violations"]:
            v.problems.append(f"pgreconcile's step {bad['step']} {bad['what']} in "
                              f"{bad['table']}")
    judged = judge_invalid(invalid, plan=plan, baseline=baseline, expected=expected)
    v.checks["invalid_objects"] = judged
    if judged["made_by_run"]:
        v.problems.append(("not valid (made by this run): " if judged["basis"] != "none"
                           else "not valid: ") + ", ".join(judged["made_by_run"]))
    _data_checks(v, counts, fps, expected_counts=expected_counts,
                 fingerprints_before=fingerprints_before, decides=plan is None)
    if project is not None:
        # Two read-only Django children, side by side: each spends most of its time
        # starting Django, which the other need not wait for.
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=2) as pool:
            check = pool.submit(manage, project, live, "migrate", "--check", "--no-input")
            mm = manage(project, live, "makemigrations", "--check", "--dry-run", "--no-input")
            mc = check.result()
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
