"""pgreconcile.ledger: one row per (plan, step), so a run knows what an earlier one did.

A step is `running` while it works, `done` or `failed` after, `reverted` once a rollback
undid it. A backfill's progress (rows, last key) commits with each batch. A step found done
before any run of the plan touched it is `done` with `detail.found_done`: it was made outside
this plan, and a rollback never reverts it.

`detail.writes` is the own-writes audit (apply/audit.py) summed over the step's committed
transactions: {"schema.table": {"inserted": n, "updated": n, "deleted": n}}, non-zero
tables only, and `detail.allowed_updates` the rows its own UPDATEs reported. Both are
added inside the audited transaction itself, so they are exactly what committed. A paused
step stays `running` with its progress (`rows`, `last_key`, `detail.paused`); a revert
resets the progress, so the next apply starts the step afresh.

The schema is pgreconcile's own: created by, and owned by, the role pgreconcile connects
as. Its tables are written with the operator's privileges, so a schema or table someone
else made beforehand (the application's role needs only CREATE on the database), or one
carrying triggers, rules or policies, or a schema others may create objects in, is refused
before anything is written (`refuse_untrusted`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from pgreconcile.errors import Refused
from pgreconcile.plan.steps import Plan

LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS pgreconcile;
CREATE TABLE IF NOT EXISTS pgreconcile.ledger (
    plan_id     text NOT NULL,
    step_id     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'reverted')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows        bigint NOT NULL DEFAULT 0,
    last_key    text,
    attempts    int NOT NULL DEFAULT 0,
    detail      jsonb,
    PRIMARY KEY (plan_id, step_id)
);
"""
KNOWN_STATUSES = {"running", "done", "failed", "reverted"}


@dataclass(frozen=True)
class LedgerEntry:
    status: str
    rows: int = 0
    last_key: str | None = None
    attempts: int = 0


def _jsonb(detail: dict) -> str:
    """jsonb text without \\u escapes: a SQL_ASCII database refuses any escape above
    U+007F (and LATIN1 those it has no character for), while the characters themselves
    pass (SQL_ASCII keeps the UTF-8 bytes; LATIN1 converts the names it can hold)."""
    return json.dumps(detail, ensure_ascii=False)


#: pgreconcile's tables in its schema (the ledger, the run lock's lease: apply/lock.py).
OWN_TABLES = ("ledger", "run_lock")

# What makes the schema untrusted, one row per problem: (what, detail).
_UNTRUSTED_SQL = """
WITH me AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
     s AS (SELECT oid, nspowner, nspacl FROM pg_namespace WHERE nspname = 'pgreconcile'),
     t AS (SELECT c.oid, c.relname, c.relkind, c.relowner FROM pg_class c JOIN s
           ON c.relnamespace = s.oid WHERE c.relname = ANY (%(tables)s))
SELECT 'schema pgreconcile is owned by ' || pg_get_userbyid(s.nspowner)
  FROM s WHERE s.nspowner <> (SELECT oid FROM me)
UNION ALL
SELECT 'role ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
       || ' may create objects in schema pgreconcile'
  FROM s, aclexplode(s.nspacl) AS a
 WHERE a.privilege_type = 'CREATE' AND a.grantee <> s.nspowner
UNION ALL
SELECT 'pgreconcile.' || t.relname || ' is not a plain table (relkind ' || t.relkind::text || ')'
  FROM t WHERE t.relkind <> 'r'
UNION ALL
SELECT 'pgreconcile.' || t.relname || ' is owned by ' || pg_get_userbyid(t.relowner)
  FROM t WHERE t.relowner <> (SELECT oid FROM me)
UNION ALL
SELECT 'pgreconcile.' || t.relname || ' has trigger ' || tg.tgname
  FROM t JOIN pg_trigger tg ON tg.tgrelid = t.oid WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'pgreconcile.' || t.relname || ' has rule ' || r.rulename
  FROM t JOIN pg_rewrite r ON r.ev_class = t.oid
UNION ALL
SELECT 'pgreconcile.' || t.relname || ' has row-level security policy ' || p.polname
  FROM t JOIN pg_policy p ON p.polrelid = t.oid
"""


def refuse_untrusted(conn) -> None:
    """Refuse (exit 4), before anything is written, when schema pgreconcile or its tables
    were made or changed by another role: not owned by the connecting role, others may
    CREATE in the schema, or a table carries triggers, rules or policies (which would run
    with the operator's privileges). Nothing when the schema does not exist yet."""
    problems = [r[0] for r in conn.execute(_UNTRUSTED_SQL,
                                           {"tables": list(OWN_TABLES)}).fetchall()]
    if problems:
        raise Refused("pgreconcile's own schema cannot be trusted: " + "; ".join(problems)
                      + "; nothing was changed",
                      hint="check what is in schema pgreconcile and who made it; then drop "
                           "it (DROP SCHEMA pgreconcile CASCADE) or make the role pgreconcile "
                           "connects as its owner (ALTER SCHEMA/TABLE ... OWNER TO) and remove "
                           "the triggers, rules, policies and CREATE grants")


def exists(conn) -> bool:
    """Whether the ledger exists (refusing an untrusted one: see `refuse_untrusted`)."""
    if conn.execute("SELECT to_regclass('pgreconcile.ledger')").fetchone()[0] is None:
        return False
    refuse_untrusted(conn)
    return True


def read(conn, plan: Plan) -> dict[str, LedgerEntry]:
    """The plan's entries by step id (creating the ledger the first time). Refuses when
    the ledger holds entries this plan does not know, or cannot be trusted."""
    refuse_untrusted(conn)
    conn.execute(LEDGER_DDL)
    rows = conn.execute("SELECT step_id, status, rows, last_key, attempts FROM "
                        "pgreconcile.ledger WHERE plan_id = %s", (plan.id,)).fetchall()
    entries = {r[0]: LedgerEntry(r[1], r[2], r[3], r[4]) for r in rows}
    ids = {s.id for s in plan.steps}
    unknown = [k for k, v in entries.items() if k not in ids or v.status not in KNOWN_STATUSES]
    if unknown:
        raise Refused(f"the ledger holds entries for plan {plan.id} that this plan does not "
                      f"know: {unknown}; nothing was changed",
                      hint="inspect pgreconcile.ledger; re-plan or clear the entries")
    return entries


def record(conn, plan_id: str, step_id: str, status: str, *, rows: int = 0,
           last_key: str | None = None, attempts: int = 0, detail: dict | None = None) -> None:
    """Insert or update the step's entry; rows only grow and attempts add up."""
    conn.execute(
        "INSERT INTO pgreconcile.ledger (plan_id, step_id, status, rows, last_key, attempts, "
        "detail, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
        "CASE WHEN %s IN ('done', 'failed') THEN now() END) "
        "ON CONFLICT (plan_id, step_id) DO UPDATE SET status = EXCLUDED.status, "
        "rows = GREATEST(ledger.rows, EXCLUDED.rows), "
        "last_key = COALESCE(EXCLUDED.last_key, ledger.last_key), "
        "attempts = ledger.attempts + EXCLUDED.attempts, "
        # The audit and the estimate outlive a status change; other keys are replaced.
        "detail = NULLIF(jsonb_strip_nulls(jsonb_build_object("
        "'writes', ledger.detail->'writes', 'allowed_updates', "
        "ledger.detail->'allowed_updates', 'estimate', ledger.detail->'estimate')) "
        "|| COALESCE(EXCLUDED.detail, '{}'::jsonb), '{}'::jsonb), "
        "finished_at = EXCLUDED.finished_at",
        (plan_id, step_id, status, rows, last_key, attempts,
         _jsonb(detail) if detail else None, status))


def started(conn, plan_id: str) -> set[str]:
    """Steps of the plan that changed (or may have changed) the database: not those found
    already done when no run of the plan had touched them (someone else made them)."""
    return {r[0] for r in conn.execute(
        "SELECT step_id FROM pgreconcile.ledger WHERE plan_id = %s AND status IN "
        "('done', 'running', 'failed') AND NOT COALESCE((detail->>'found_done')::boolean, "
        "false)", (plan_id,)).fetchall()}


def mark_reverted(conn, plan_id: str, step_id: str) -> None:
    """The step was undone: its progress goes back to nothing (rows 0, no last key), so a
    re-apply starts it afresh instead of resuming from a key of the undone run."""
    conn.execute("UPDATE pgreconcile.ledger SET status = 'reverted', finished_at = now(), "
                 "rows = 0, last_key = NULL WHERE plan_id = %s AND step_id = %s",
                 (plan_id, step_id))


def add_writes(conn, plan_id: str, step_id: str, writes: dict[str, dict[str, int]],
               allowed_updates: int) -> None:
    """Add one transaction's audit to the step's `detail.writes` and
    `detail.allowed_updates`; call it inside that transaction, before it commits."""
    row = conn.execute("SELECT detail FROM pgreconcile.ledger WHERE plan_id = %s AND "
                       "step_id = %s FOR UPDATE", (plan_id, step_id)).fetchone()
    detail = dict(row[0] or {}) if row else {}
    total = {k: dict(v) for k, v in (detail.get("writes") or {}).items()}
    for table, counts in writes.items():
        into = total.setdefault(table, {"inserted": 0, "updated": 0, "deleted": 0})
        for key, n in counts.items():
            into[key] = into.get(key, 0) + n
    detail["writes"] = {t: c for t, c in total.items() if any(c.values())}
    detail["allowed_updates"] = int(detail.get("allowed_updates") or 0) + allowed_updates
    if row is None:
        record(conn, plan_id, step_id, "running", detail=detail)
    else:
        conn.execute("UPDATE pgreconcile.ledger SET detail = %s WHERE plan_id = %s AND "
                     "step_id = %s", (_jsonb(detail), plan_id, step_id))


def restart(conn, plan_id: str, step_id: str) -> None:
    """A step starting afresh (never run, reverted, or after a reverted step): no progress,
    and its audit counts from zero."""
    conn.execute("UPDATE pgreconcile.ledger SET rows = 0, last_key = NULL, detail = "
                 "NULLIF(COALESCE(detail, '{}'::jsonb) - 'writes' - 'allowed_updates', "
                 "'{}'::jsonb) WHERE plan_id = %s AND step_id = %s", (plan_id, step_id))


def writes(conn, plan_id: str) -> dict[str, dict]:
    """Step id -> its audited writes {"schema.table": {"inserted", "updated", "deleted"}}
    for the plan's steps that are not reverted and were audited (an empty dict: audited,
    wrote nothing). Steps run outside a transaction (CREATE INDEX CONCURRENTLY) and steps
    found done are not in it. See `audit_records` for allowed_updates too."""
    return {step: rec["writes"] for step, rec in audit_records(conn, plan_id).items()}


def audit_records(conn, plan_id: str) -> dict[str, dict]:
    """Step id -> {"writes": {...}, "allowed_updates": n, "status": s} (as `writes`)."""
    if not exists(conn):
        return {}
    return {r[0]: {"writes": r[1] or {}, "allowed_updates": int(r[2] or 0), "status": r[3]}
            for r in conn.execute(
                "SELECT step_id, detail->'writes', detail->>'allowed_updates', status FROM "
                "pgreconcile.ledger WHERE plan_id = %s AND status <> 'reverted' AND detail ? "
                "'writes'", (plan_id,)).fetchall()}
