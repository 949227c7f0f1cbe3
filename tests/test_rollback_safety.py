"""Rollback never destroys data written after the change, and never stops half way;
migrations run under lock_timeout (issue 11, points 3 and 5).

Every test runs on a real PostgreSQL server with the seed case (small row counts) or a tiny
reference, through the CLI, the Ansible module or the engine function the faces call.
"""
from __future__ import annotations

import json
import threading
import time

import pytest

from pgreconcile.apply.options import ApplyOptions
from pgreconcile.errors import EXIT_REFUSED, LockNotAcquired, RollbackRefused
from pgreconcile.plan.steps import Plan

from .support import (
    EXAMPLE,
    P,
    ansible,
    as_json,
    cli,
    drifted_db,
    fingerprint_and_counts,
    query,
    run_sql,
)

MIGRATION_0002 = "treasury.0002_phase6_dashboard_models"


def _reconcile(spec, tmp_path, *extra):
    reports = tmp_path / "reports"
    proc = cli("reconcile", *P, "--out-dir", str(tmp_path / "backups"), "--no-test-restore",
               "--report-dir", str(reports), "--json", *extra, spec=spec)
    return proc, json.loads((reports / "report.json").read_text())


def _ledger(spec) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in query(spec, "SELECT step_id, status, rows, last_key FROM "
                                             "pgreconcile.ledger")}


def _applied(spec) -> set[str]:
    return {f"{a}.{n}" for a, n in query(spec, "SELECT app, name FROM django_migrations")}


def _has_column(spec, table: str, column: str) -> bool:
    return bool(query(spec, "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND "
                            "attname = %s AND NOT attisdropped", (table, column)))


def _rollback(spec, report: dict, plan: Plan, **options):
    """The rollback the Ansible module and `reconcile` run, on what a finished run left."""
    from pgreconcile.django.project import DjangoProject
    from pgreconcile.runbook.reference import ReferenceSource
    from pgreconcile.runbook.stages import ReconcileOptions, Target, rollback_run
    project = DjangoProject.from_args(str(EXAMPLE), None)
    target = Target(spec, ReferenceSource("django", project=project))
    so_far = {"migrate": report.get("migrate"), "diff_before": report["diff_before"],
              "backup": report.get("backup")}
    return rollback_run(spec, plan, so_far,
                        ReconcileOptions(apply=ApplyOptions(**options)), target, "drill")


# --------------------------------------------------------------------------- the drill
def test_drill_under_writers_rolls_back_everything_at_once_and_resets_the_ledger(
        make_db, writers, tmp_path):
    """`--fail-verify` with the old application writing: the run's migration and every step
    are undone together, the ledger says reverted, no writer failed or waited long, and the
    writers' rows (inserted while the column existed) are all still there."""
    spec = drifted_db(make_db, 300)
    w = writers(spec, connections=2, rate=50)
    proc, report = _reconcile(spec, tmp_path, "--fail-verify")
    w.stop()

    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    rollback = report["rollback"]
    assert rollback["method"] == "reverse", rollback
    assert rollback["unapplied_migrations"] == [MIGRATION_0002]
    assert "01-add-column-treasury_payment-payment_id" in rollback["reverted"]
    assert "dropped_data" not in rollback
    assert MIGRATION_0002 not in _applied(spec)
    assert not _has_column(spec, "treasury_payment", "payment_id")
    assert query(spec, "SELECT to_regclass('treasury_alert')") == [(None,)]
    ledger = _ledger(spec)
    assert {status for status, *_ in ledger.values()} == {"reverted"}, ledger
    assert w.errors == [] and w.max_wait < 1.0, w.summary()
    kept = {r[0] for r in query(spec, "SELECT id FROM treasury_payment")}
    assert w.inserted - w.deleted <= kept and not w.deleted & kept


# --------------------------------------------------------------------------- data written since
def test_rollback_refuses_to_drop_a_table_the_application_wrote_to(make_db, tmp_path):
    """After a successful run the application writes alerts (0002's table); rolling the run
    back would drop them: refused before anything changes, naming the table and its rows,
    through the Ansible module (exit 4) and the engine; allowed with allow_destructive."""
    spec = drifted_db(make_db, 300)
    proc, report = _reconcile(spec, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_sql(spec, "INSERT INTO treasury_alert (level, message, created_at, acknowledged, "
                  "payment_id) SELECT 'info', 'written by the new code', now(), false, payment_id "
                  "FROM treasury_payment ORDER BY id LIMIT 3")
    before = fingerprint_and_counts(spec), _ledger(spec), _applied(spec)
    plan = Plan.from_dict(report["plan"])

    args = {"plan": str(tmp_path / "reports" / "plan.json"), "migrated": True,
            "applied_migrations": report["migrate"]["applied"],
            "applied_targets_before": report["diff_before"]["migrations"]["applied_targets"],
            "project_dir": str(EXAMPLE), "db_name": spec.dbname, "reason": "drill"}
    run = ansible("ansible", "localhost", "-m", "pgreconcile_rollback", "-a", json.dumps(args),
                  spec=spec)
    assert run.returncode != 0, run.stdout[-3000:]
    assert '"exit_code": 4' in run.stdout and "RollbackRefused" in run.stdout, run.stdout
    assert "public.treasury_alert holds 3 row(s)" in run.stdout
    assert "--rollback restore" in run.stdout or "method=restore" in run.stdout

    with pytest.raises(RollbackRefused) as refused:
        _rollback(spec, report, plan)
    assert refused.value.exit_code == EXIT_REFUSED
    assert "table public.treasury_alert holds 3 row(s)" in str(refused.value)
    assert "--rollback restore" in refused.value.hint
    assert (fingerprint_and_counts(spec), _ledger(spec), _applied(spec)) == before

    outcome = _rollback(spec, report, plan, allow_destructive=True)
    assert outcome["unapplied_migrations"] == [MIGRATION_0002]
    assert outcome["dropped_data"] == [{"kind": "table", "object": "public.treasury_alert",
                                        "rows": 3}]
    assert not _has_column(spec, "treasury_payment", "payment_id")
    assert {s for s, *_ in _ledger(spec).values()} == {"reverted"}


def test_rollback_refuses_to_drop_a_column_holding_values_pgreconcile_did_not_write(db, tmp_path):
    """A column the plan added (no default, no backfill) that the application has filled
    since: the reverse DROP COLUMN is refused, naming it and its rows; nothing changes."""
    from pgreconcile.apply.revert import revert_plan
    run_sql(db, "CREATE TABLE inventory (id int PRIMARY KEY); "
                "INSERT INTO inventory SELECT generate_series(1, 10)")
    reference = tmp_path / "reference.sql"
    reference.write_text("CREATE TABLE inventory (id int PRIMARY KEY, note text, qty int);\n")
    out = tmp_path / "plan.json"
    assert cli("plan", "--reference-sql", str(reference), "--out", str(out), "--json",
               spec=db).returncode == 3
    assert cli("apply", str(out), "--no-backup", "--json", spec=db).returncode == 0
    run_sql(db, "UPDATE inventory SET note = 'counted' WHERE id <= 4")
    plan = Plan.from_dict(json.loads(out.read_text()))
    before = fingerprint_and_counts(db), _ledger(db)

    with pytest.raises(RollbackRefused) as refused:
        revert_plan(db, plan)
    assert "column public.inventory.note holds 4 row(s)" in str(refused.value)
    assert "qty" not in str(refused.value)  # empty: dropping it loses nothing
    assert (fingerprint_and_counts(db), _ledger(db)) == before

    assert revert_plan(db, plan, options=ApplyOptions(allow_destructive=True)) == [
        s.id for s in reversed(plan.steps)]
    assert not _has_column(db, "inventory", "note") and not _has_column(db, "inventory", "qty")


# --------------------------------------------------------------------------- never half done
def test_a_reverse_that_fails_half_way_changes_nothing(make_db, tmp_path):
    """The keep plan applied; a view now depends on payment_id, so the last reverse
    statement (DROP COLUMN) fails after four others ran: all of them are rolled back, the
    error names the statement, the ledger is untouched."""
    from pgreconcile.apply.revert import revert_plan
    spec = drifted_db(make_db, 200)
    out = tmp_path / "plan.json"
    assert cli("plan", *P, "--out", str(out), "--json", spec=spec).returncode == 3
    assert cli("apply", str(out), "--no-backup", "--json", spec=spec).returncode == 0
    run_sql(spec, "CREATE VIEW payment_ids AS SELECT id, payment_id FROM treasury_payment")
    plan = Plan.from_dict(json.loads(out.read_text()))
    before = fingerprint_and_counts(spec), _ledger(spec)

    with pytest.raises(RollbackRefused) as refused:
        revert_plan(spec, plan)
    message = str(refused.value)
    assert "DROP COLUMN IF EXISTS \"payment_id\"" in message or "payment_id" in message
    assert "nothing was reverted" in message and "DependentObjectsStillExist" in message
    assert (fingerprint_and_counts(spec), _ledger(spec)) == before


def test_swap_plan_reverse_is_refused_with_nothing_changed(make_db, tmp_path):
    """--pk-strategy swap, applied and migrated: the swap has no reverse, so the rollback is
    refused before its first statement (today it failed half way), even with
    allow_destructive; the database, its migrations and the ledger are as they were."""
    spec = drifted_db(make_db, 200)
    out = tmp_path / "plan.json"
    assert cli("plan", *P, "--pk-strategy", "swap", "--out", str(out), "--json",
               spec=spec).returncode == 3
    proc = cli("apply", str(out), "--no-backup", "--allow-destructive", "--json", spec=spec)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    applied_before = sorted(_applied(spec))
    assert cli("migrate", *P, "--json", spec=spec).returncode == 0
    plan = Plan.from_dict(json.loads(out.read_text()))
    targets = [t for t in _state_targets(applied_before)]
    report = {"migrate": {"changed": True, "applied": [MIGRATION_0002]},
              "diff_before": {"migrations": {"applied_targets": targets}}}
    before = fingerprint_and_counts(spec), _ledger(spec), _applied(spec)

    for allow in (False, True):
        with pytest.raises(RollbackRefused) as refused:
            _rollback(spec, report, plan, allow_destructive=allow)
        assert "swap-primary-key-treasury_payment" in str(refused.value)
        assert "no reverse SQL" in str(refused.value)
        assert (fingerprint_and_counts(spec), _ledger(spec), _applied(spec)) == before


def _state_targets(applied: list[str]) -> list[str]:
    """The latest applied migration of each app (numbered names sort in order)."""
    latest: dict[str, str] = {}
    for name in sorted(applied):
        app, _, migration = name.partition(".")
        latest[app] = migration
    return [f"{a}.{m}" for a, m in sorted(latest.items())]


# --------------------------------------------------------------------------- migrate, blocked
def _block_payment(spec, hold: threading.Event, held: threading.Event):
    """A long transaction holding an uncommitted UPDATE on one treasury_payment row (a row the
    writers never touch) until `hold` is set."""
    import psycopg
    with psycopg.connect(spec.conninfo(), autocommit=True,
                         application_name="test long transaction") as conn:
        row = conn.execute("INSERT INTO treasury_payment (reference, payee, amount, currency, "
                           "memo, status, created_at, updated_at) VALUES ('LONG', 'x', 1, "
                           "'USD', '', 'pending', now(), now()) RETURNING id").fetchone()[0]
        with conn.transaction():
            conn.execute("UPDATE treasury_payment SET memo = 'held' WHERE id = %s", (row,))
            held.set()
            hold.wait(120)


def _release_after_a_wait(spec, hold: threading.Event) -> None:
    """Set `hold` 1.5 s after a session was first seen waiting for SHARE ROW EXCLUSIVE on
    treasury_payment (the migration's foreign key): by then that attempt has timed out."""
    deadline = time.monotonic() + 120
    while not hold.is_set() and time.monotonic() < deadline:
        waiting = query(spec, "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = "
                              "'ShareRowExclusiveLock' AND relation = "
                              "'treasury_payment'::regclass")[0][0]
        if waiting:
            time.sleep(1.5)
            break
        time.sleep(0.05)
    hold.set()


@pytest.mark.parametrize("released", [True, False], ids=["released", "never-released"])
def test_migrate_blocked_by_a_long_transaction_never_queues_writers(make_db, writers, tmp_path,
                                                                     released):
    """0002's foreign keys need SHARE ROW EXCLUSIVE on treasury_payment, which a long
    transaction's uncommitted UPDATE blocks. Under lock_timeout=500ms the writers, queued
    behind the waiting migration, never wait much longer than 500ms; migrate retries and
    succeeds once the transaction ends, or fails with LockNotAcquired with 0002 not applied
    and none of its tables left behind."""
    spec = drifted_db(make_db, 300)
    out = tmp_path / "plan.json"
    assert cli("plan", *P, "--out", str(out), "--json", spec=spec).returncode == 3
    assert cli("apply", str(out), "--no-backup", "--json", spec=spec).returncode == 0
    w = writers(spec, connections=2, rate=50)
    hold, held = threading.Event(), threading.Event()
    blocker = threading.Thread(target=_block_payment, args=(spec, hold, held), daemon=True)
    blocker.start()
    assert held.wait(30)
    if released:  # once the migration has waited for its lock, end the long transaction
        threading.Thread(target=_release_after_a_wait, args=(spec, hold), daemon=True).start()
    started = time.monotonic()
    try:
        proc = cli("migrate", *P, "--lock-timeout", "500ms", "--retries",
                   "6" if released else "3", "--json", spec=spec)
    finally:
        hold.set()
        blocker.join(30)
        w.stop()
    seconds = time.monotonic() - started

    assert w.errors == [], w.summary()
    assert w.max_wait < 0.5 + 0.4, w.summary()
    if released:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        result = as_json(proc)
        assert result["applied"] == [MIGRATION_0002] and result["attempts"] >= 2, result
        assert seconds > 1.5
        assert MIGRATION_0002 in _applied(spec)
        assert query(spec, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
                           "confrelid = 'treasury_payment'::regclass") == [(2,)]
    else:
        assert w.max_wait > 0.25, w.summary()  # they did queue behind the waiting migration
        assert proc.returncode == EXIT_REFUSED, proc.stdout[-3000:] + proc.stderr[-3000:]
        error = as_json(proc)
        assert error["error"] == "LockNotAcquired", error
        assert "lock_timeout=500ms after 3 attempts" in error["message"]
        assert MIGRATION_0002 not in _applied(spec)
        assert query(spec, "SELECT to_regclass('treasury_alert'), to_regclass("
                           "'treasury_paymenttracking'), to_regclass('treasury_dashboardsnapshot')"
                           ) == [(None, None, None)]


def test_run_migrations_takes_the_apply_options(make_db):
    """The engine call `reconcile` and the faces use: ApplyOptions' lock_timeout, retries and
    backoff; a lock that never frees ends in LockNotAcquired after exactly `retries` runs."""
    from pgreconcile.django.project import DjangoProject
    from pgreconcile.runbook.stages import run_migrations
    spec = drifted_db(make_db, 100)
    # 0002 cannot apply on the drifted database, but 0002 is not the point: a table lock is.
    run_sql(spec, "ALTER TABLE treasury_payment ADD COLUMN payment_id uuid UNIQUE")
    hold, held = threading.Event(), threading.Event()
    blocker = threading.Thread(target=_block_payment, args=(spec, hold, held), daemon=True)
    blocker.start()
    assert held.wait(30)
    project = DjangoProject.from_args(str(EXAMPLE), None)
    messages: list[str] = []

    class Collect:
        def info(self, text):
            messages.append(text)

        def __getattr__(self, name):
            return lambda *a, **k: None
    try:
        with pytest.raises(LockNotAcquired) as failed:
            run_migrations(project, spec, reporter=Collect(),
                           options=ApplyOptions(lock_timeout="200ms", retries=2, backoff=0.1))
    finally:
        hold.set()
        blocker.join(30)
    assert "lock_timeout=200ms after 2 attempts" in str(failed.value)
    assert len([m for m in messages if "retry" in m]) == 1
    assert MIGRATION_0002 not in _applied(spec)


def test_the_django_child_gets_lock_timeout_merged_into_pgoptions():
    from pgreconcile.django.project import lock_timeout_env
    env = lock_timeout_env("500ms", {"PGOPTIONS": "-c search_path=app -c lock_timeout=9s",
                                     "PGPASSWORD": "secret"})
    assert env["PGOPTIONS"] == "-c search_path=app -c lock_timeout=500ms"
    assert env["PGRECONCILE_DB_EXTRA_OPTIONS"] == "-c lock_timeout=500ms"
    assert "secret" not in json.dumps(env)
    assert lock_timeout_env("2 s", {})["PGOPTIONS"] == "-c lock_timeout=2s"
