"""plan / apply / reconcile on the seed example: real server, real manage.py, real kills."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg
import pytest

from pgreconcile.pg.scratch import list_scratch_databases
from pgreconcile.plan.backfill import STABLE_UUID_NAMESPACE

from .support import (
    P,
    as_json,
    cli,
    drifted_db,
    fingerprint_and_counts,
    make_plan_file,
    query,
    run_sql,
)


@pytest.fixture
def drifted(make_db):
    """The seed case with 2,000 payments (conftest's has 300)."""
    return drifted_db(make_db, 2000)


def payments(spec, with_uuid: bool = True) -> list[tuple]:
    extra = ", payment_id" if with_uuid else ""
    return query(spec, "SELECT id, reference, payee, amount, status, created_at" + extra
                       + " FROM treasury_payment ORDER BY id")


def test_plan_for_seed_is_option_a_and_safe(drifted, tmp_path):
    plan = make_plan_file(drifted, tmp_path)
    titles = [s["title"] for s in plan["steps"]]
    assert plan["strategy"] == "keep" and plan["destructive"] == []
    kinds = [s["kind"] for s in plan["steps"]]
    assert kinds.count("backfill") == 1 and kinds.count("concurrent") == 1
    assert any("CONCURRENTLY" in t for t in titles)
    assert all(s["probe"] and s["lock"] for s in plan["steps"])
    sql = (tmp_path / "plan.sql").read_text()
    assert "NOT VALID" in sql and "VALIDATE CONSTRAINT" in sql and "USING INDEX" in sql
    draft = (tmp_path / "0003_reconcile.py").read_text()
    compile(draft, "0003_reconcile.py", "exec")
    assert "SeparateDatabaseAndState" in draft
    assert {k["object"] for k in plan["kept"]} >= {"public.treasury_payment.id"}


def test_reconcile_end_to_end_applies_0002_keeps_every_row_and_is_idempotent(
        drifted, server, tmp_path):
    before = payments(drifted, with_uuid=False)
    args = ["reconcile", *P, "--out-dir", str(tmp_path / "b"), "--report-dir",
            str(tmp_path / "r"), "--json"]
    proc = cli(*args, spec=drifted)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    report = as_json(proc)
    assert report["ok"] and report["changed"]
    assert report["preflight_before"]["ok"] is False
    assert report["migrate"]["applied"] == ["treasury.0002_phase6_dashboard_models"]
    assert report["verify"]["checks"]["migrate_check"]["ok"]
    assert report["verify"]["checks"]["makemigrations_check"]["ok"]
    assert report["backup"]["verified"] and report["backup"]["test_restore"]["ok"]
    after = payments(drifted)
    assert [r[:6] for r in after] == [r[:6] for r in before]
    expected_ids = [uuid.uuid3(STABLE_UUID_NAMESPACE, f"treasury_payment:{r[0]}") for r in after]
    assert [r[6] for r in after] == expected_ids
    # Django can now write through the new FK.
    run_sql(drifted, "INSERT INTO treasury_alert (payment_id, level, message, created_at, "
                     "acknowledged) SELECT payment_id, 'warning', 'x', now(), false "
                     "FROM treasury_payment LIMIT 1")
    backups = sorted((tmp_path / "b").glob("*.dump"))
    again = as_json(cli(*args, spec=drifted))
    assert again["ok"] and again["changed"] is False
    assert "skipped" in again["backup"]  # nothing to change: no new backup either
    assert sorted((tmp_path / "b").glob("*.dump")) == backups
    assert all(s["outcome"] != "done" for s in again["apply"]["steps"])
    # Nothing to do (docs/cli.md): no clone, no migrate child, and no lease left behind
    # that would refuse the next run for 15 minutes.
    ran = [s["stage"] for s in again["stages"]]
    assert not {"preflight", "preflight-with-plan", "migrate", "backup"} & set(ran), ran
    assert "skipped" in again["preflight_before"] and "skipped" in again["migrate"]
    assert again["verify"]["checks"]["migrate_check"]["ok"]
    if query(drifted, "SELECT to_regclass('pgreconcile.run_lock')") != [(None,)]:
        assert query(drifted, "SELECT run_id FROM pgreconcile.run_lock") == []
    assert (tmp_path / "r" / "report.json").exists()
    assert list_scratch_databases(server) == []


def test_swap_strategy_needs_allow_destructive_then_leaves_zero_drift(drifted, tmp_path):
    plan = make_plan_file(drifted, tmp_path, "--pk-strategy", "swap")
    assert plan["destructive"]
    before = fingerprint_and_counts(drifted)
    refused = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json", spec=drifted)
    assert refused.returncode == 4
    assert as_json(refused)["error"] == "DestructiveStepRefused"
    assert fingerprint_and_counts(drifted) == before
    ok = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--allow-destructive",
             "--json", spec=drifted)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert cli("migrate", *P, "--json", spec=drifted).returncode == 0
    diff = cli("diff", *P, "--reference-state", "latest", "--json", spec=drifted)
    assert diff.returncode == 0, [c["object"] for c in as_json(diff)["changes"]
                                  if not c["cosmetic"]]


def test_apply_refuses_without_backup_decision(drifted, tmp_path):
    make_plan_file(drifted, tmp_path)
    proc = cli("apply", str(tmp_path / "plan.json"), "--json", spec=drifted)
    assert proc.returncode == 1 and as_json(proc)["error"] == "BackupUnverified"
    assert query(drifted, "SELECT to_regclass('pgreconcile.ledger')") == [(None,)]


def test_apply_refuses_a_plan_made_for_another_schema_state(drifted, tmp_path):
    make_plan_file(drifted, tmp_path)
    run_sql(drifted, "ALTER TABLE treasury_payment ADD COLUMN note text")
    proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json", spec=drifted)
    assert proc.returncode == 4 and as_json(proc)["error"] == "PlanOutdated"
    assert query(drifted, "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                          "'treasury_payment' AND column_name = 'payment_id'") == [(0,)]


def test_second_concurrent_run_is_refused_with_the_holder(drifted, tmp_path):
    make_plan_file(drifted, tmp_path)
    with drifted.connect() as holder:
        holder.execute("SET application_name = 'other-reconcile'")
        holder.execute("SELECT pg_advisory_lock(%s)", (0x70677263,))
        proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json", spec=drifted)
    assert proc.returncode == 4
    err = as_json(proc)
    assert err["error"] == "LockNotAcquired" and "other-reconcile" in err["message"]


def test_held_table_lock_makes_step_retry_then_refuse_without_blocking_writers(drifted,
                                                                             tmp_path):
    make_plan_file(drifted, tmp_path)
    waits: list[float] = []
    stop = threading.Event()

    def writer():
        with drifted.connect() as conn:
            while not stop.is_set():
                t0 = time.monotonic()
                conn.execute("UPDATE treasury_payment SET memo = memo WHERE id = 1")
                waits.append(time.monotonic() - t0)
                time.sleep(0.02)

    with drifted.connect(autocommit=False) as blocker:
        blocker.execute("SELECT * FROM treasury_payment LIMIT 1")  # ACCESS SHARE, held
        thread = threading.Thread(target=writer)
        thread.start()
        proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json",
                   "--lock-timeout", "300ms", "--retries", "3", spec=drifted)
        stop.set()
        thread.join()
        blocker.rollback()
    assert proc.returncode == 4, proc.stdout + proc.stderr
    err = as_json(proc)
    assert err["error"] == "LockNotAcquired" and "3 attempts" in err["message"]
    assert waits and max(waits) < 0.3 + 0.5, f"a writer waited {max(waits):.2f}s"
    ledger = query(drifted, "SELECT step_id, status FROM pgreconcile.ledger")
    assert all(status != "done" for _, status in ledger)


def test_interrupted_concurrent_index_is_rebuilt_not_counted_as_done(drifted, tmp_path):
    plan = make_plan_file(drifted, tmp_path)
    index_name = next(s for s in plan["steps"] if s["kind"] == "concurrent")["target"]["name"]
    run_sql(drifted, "ALTER TABLE treasury_payment ADD COLUMN payment_id uuid")
    run_sql(drifted, "UPDATE treasury_payment SET payment_id = "
                     "'00000000-0000-0000-0000-000000000001' WHERE id IN (1, 2)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        run_sql(drifted, f'CREATE UNIQUE INDEX CONCURRENTLY "{index_name}" '
                         "ON treasury_payment (payment_id)")
    assert query(drifted, "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
                 (index_name,)) == [(False,)]
    run_sql(drifted, "UPDATE treasury_payment SET payment_id = NULL")
    # The plan was made before; the column already exists: its probes say so.
    proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json", spec=drifted)
    if proc.returncode == 4 and as_json(proc)["error"] == "PlanOutdated":
        make_plan_file(drifted, tmp_path)
        proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json", spec=drifted)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert query(drifted, "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = "
                          "'treasury_payment'::regclass") == [(True,)]



def test_invalid_index_of_the_same_name_in_another_schema_is_left_alone(drifted, tmp_path):
    """The executor drops an INVALID index by the step's own schema and name only."""
    plan = make_plan_file(drifted, tmp_path)
    step = next(s for s in plan["steps"] if s["kind"] == "concurrent")
    name = step["target"]["name"]
    assert step["target"]["schema"] == "public"
    run_sql(drifted, "CREATE SCHEMA other; CREATE TABLE other.t (v int); "
                     "INSERT INTO other.t VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        run_sql(drifted, f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON other.t (v)')
    plan = make_plan_file(drifted, tmp_path)  # the new schema changed the fingerprint
    proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json", spec=drifted)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    valid = ("SELECT indisvalid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN "
             "pg_namespace n ON n.oid = x.relnamespace WHERE x.relname = %s AND n.nspname = %s")
    assert query(drifted, valid, (name, "other")) == [(False,)]
    assert query(drifted, "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = "
                          "'treasury_payment'::regclass") == [(True,)]
    assert query(drifted, "SELECT count(*) FROM pg_constraint WHERE conname = "
                          "'treasury_payment_payment_id_key'") == [(1,)]

def test_backfill_resumes_after_kill_and_matches_uninterrupted_run(make_db, tmp_path):
    killed_db = drifted_db(make_db, 30000)
    clean_db = drifted_db(make_db, 30000)
    plan = make_plan_file(killed_db, tmp_path)
    plan_path = tmp_path / "plan.json"
    base = [sys.executable, "-m", "pgreconcile", "apply", str(plan_path), "--no-backup",
            "--json", "--batch-size", "200", "--batch-delay", "0.05"]
    env = {**os.environ, "DATABASE_URL": killed_db.conninfo()}
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Killed while the backfill makes progress (not while the CLI is still starting,
        # which under load can take longer than any fixed sleep), at a random point.
        start_rows = _backfill_rows(killed_db)
        deadline = time.monotonic() + 120
        while (proc.poll() is None and time.monotonic() < deadline
               and _backfill_rows(killed_db) <= start_rows):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2, "apply finished before it could be killed; use more rows"
    progress = query(killed_db, "SELECT rows FROM pgreconcile.ledger WHERE step_id LIKE "
                                "'%backfill%'")
    assert progress and 0 < progress[0][0] < 30000 or progress[0][0] == 30000
    final = subprocess.run(base, env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stdout + final.stderr
    clean_plan = make_plan_file(clean_db, tmp_path / "clean" if (tmp_path / "clean").mkdir()
                                or True else None)
    assert [s["id"] for s in clean_plan["steps"]] == [s["id"] for s in plan["steps"]]
    clean = cli("apply", str(tmp_path / "clean" / "plan.json"), "--no-backup", "--json",
                "--batch-size", "500", spec=clean_db)
    assert clean.returncode == 0
    assert payments(killed_db) == payments(clean_db)
    assert query(killed_db, "SELECT count(*) FROM treasury_payment WHERE payment_id IS NULL") \
        == [(0,)]


def _backfill_rows(spec) -> int:
    """Rows the backfill's ledger entry holds so far (-1 before the ledger exists)."""
    try:
        found = query(spec, "SELECT rows FROM pgreconcile.ledger WHERE step_id LIKE "
                            "'%backfill%'")
    except psycopg.Error:
        return -1
    return found[0][0] or 0 if found else -1


def test_plan_sql_script_runs_by_hand_and_fixes_the_seed(drifted, tmp_path):
    """The reviewable plan.sql is not pseudo-code: psql runs it and 0002 then applies."""
    from pgreconcile.pg.toolchain import find_tool
    make_plan_file(drifted, tmp_path)
    with drifted.connect() as conn:
        psql = find_tool("psql", int(conn.info.server_version) // 10000)
    proc = subprocess.run([psql.path, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                           drifted.public_conninfo(), "-f", str(tmp_path / "plan.sql")],
                          env=drifted.child_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert query(drifted, "SELECT count(*) FROM treasury_payment WHERE payment_id IS NULL") \
        == [(0,)]
    assert cli("migrate", *P, "--json", spec=drifted).returncode == 0
    ids = [r[0] for r in query(drifted, "SELECT id FROM treasury_payment ORDER BY id")]
    got = [r[0] for r in query(drifted, "SELECT payment_id FROM treasury_payment ORDER BY id")]
    assert got == [uuid.uuid3(STABLE_UUID_NAMESPACE, f"treasury_payment:{i}") for i in ids]


def test_swap_moves_referencing_foreign_keys_to_the_new_key(drifted, tmp_path):
    run_sql(drifted, """
        CREATE TABLE treasury_refund (
            id serial PRIMARY KEY,
            payment_id integer NOT NULL REFERENCES treasury_payment(id) ON DELETE CASCADE,
            amount numeric(12,2) NOT NULL);
        CREATE INDEX treasury_refund_payment_id_idx ON treasury_refund (payment_id);
        INSERT INTO treasury_refund (payment_id, amount)
            SELECT 1 + (g * 7) % 2000, g FROM generate_series(1, 600) g;
        ANALYZE;""")
    before = query(drifted, "SELECT id, payment_id FROM treasury_refund ORDER BY id")
    plan = make_plan_file(drifted, tmp_path, "--pk-strategy", "swap")
    assert plan["unsupported"] == []
    proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--allow-destructive",
               "--batch-size", "100", "--json", spec=drifted)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = query(drifted, "SELECT id, payment_id FROM treasury_refund ORDER BY id")
    assert after == [(i, uuid.uuid3(STABLE_UUID_NAMESPACE, f"treasury_payment:{p}"))
                     for i, p in before]
    fk = query(drifted, "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                        "WHERE conrelid = 'treasury_refund'::regclass AND contype = 'f'")
    assert fk == [("FOREIGN KEY (payment_id) REFERENCES treasury_payment(payment_id) "
                   "ON DELETE CASCADE", True)]
    assert query(drifted, "SELECT attnotnull FROM pg_attribute WHERE attrelid = "
                          "'treasury_refund'::regclass AND attname = 'payment_id'") == [(True,)]
    assert cli("migrate", *P, "--json", spec=drifted).returncode == 0
    again = as_json(cli("apply", str(tmp_path / "plan.json"), "--no-backup",
                        "--allow-destructive", "--json", spec=drifted))
    assert again.get("changed") is False, [s for s in again["steps"] if s["outcome"] == "done"]


def test_a_step_someone_else_did_is_recorded_as_found_and_never_reverted(db, tmp_path):
    """A resumed apply finds step 2 already done by someone else (no run of the plan touched
    it): the ledger says so, and rolling the plan back leaves it where it was."""
    from pgreconcile.apply import ledger
    from pgreconcile.apply.revert import revert_plan
    from pgreconcile.plan.steps import Plan

    run_sql(db, "CREATE TABLE inventory (id int PRIMARY KEY)")
    reference = tmp_path / "reference.sql"
    reference.write_text("CREATE TABLE inventory (id int PRIMARY KEY, a int, b int);\n")
    out = tmp_path / "plan.json"
    proc = cli("plan", "--reference-sql", str(reference), "--out", str(out), "--json", spec=db)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    plan = Plan.from_dict(json.loads(out.read_text()))
    add_a, add_b = plan.steps
    assert add_a.target.name == "a" and add_b.target.name == "b"

    # An earlier run of this plan did step 1 and was stopped; then a person added column b.
    with db.connect() as conn:
        for statement in add_a.sql:
            conn.execute(statement)
        ledger.read(conn, plan)
        ledger.record(conn, plan.id, add_a.id, "done")
    run_sql(db, "ALTER TABLE inventory ADD COLUMN b int")

    proc = cli("apply", str(out), "--no-backup", "--json", spec=db)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcomes = {s["id"]: s for s in json.loads(proc.stdout)["steps"]}
    assert outcomes[add_a.id]["outcome"] == "skipped-ledger"
    assert outcomes[add_b.id]["outcome"] == "already-done"
    assert "outside this plan" in outcomes[add_b.id]["detail"]

    assert revert_plan(db, plan) == [add_a.id]
    columns = [r[0] for r in query(db, "SELECT attname FROM pg_attribute WHERE attrelid = "
                                       "'inventory'::regclass AND attnum > 0 AND NOT "
                                       "attisdropped ORDER BY attnum")]
    assert columns == ["id", "b"]
