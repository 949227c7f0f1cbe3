"""The executor on a database the application is writing to: its own writes audited, long
steps paused by estimate or at the window's end and resumed, the sweep batched, index builds
that wait for old transactions without a rebuild loop. Real server, writers running."""
from __future__ import annotations

import dataclasses
import math
import threading
import time
import uuid

import pytest

from pgreconcile.apply import ledger
from pgreconcile.apply.audit import FAULT_ENV, concurrent_mode
from pgreconcile.apply.executor import Executor
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.apply.revert import revert_plan
from pgreconcile.errors import EXIT_PAUSED, BackfillPaused, Paused, Refused, UnexpectedWrite
from pgreconcile.plan.backfill import STABLE_UUID_NAMESPACE
from pgreconcile.runbook.stages import load_plan

from .support import drifted_db, make_plan_file, query, run_sql

ROWS = 10_000
ROW = ("SELECT id, reference, payee, amount, currency, memo, created_at FROM treasury_payment "
       "WHERE id = %s")


def seed(make_db, tmp_path, rows: int = ROWS):
    spec = drifted_db(make_db, rows)
    make_plan_file(spec, tmp_path)
    return spec, load_plan(tmp_path / "plan.json")


def step(plan, kind: str):
    return next(s for s in plan.steps if s.kind.value == kind)


def upto(plan, kind: str):
    """The plan cut before its first step of `kind` (same plan id: one ledger)."""
    first = next(i for i, s in enumerate(plan.steps) if s.kind.value == kind)
    return dataclasses.replace(plan, steps=plan.steps[:first])


def entry(spec, step_id: str) -> tuple:
    rows = query(spec, "SELECT status, rows, last_key, detail FROM pgreconcile.ledger WHERE "
                       "step_id = %s", (step_id,))
    return rows[0] if rows else None


def assert_writers_fine(w, max_wait: float = 1.0) -> None:
    assert not w.errors, w.summary()
    assert w.counts["insert"] and w.counts["update"], w.summary()
    assert w.max_wait <= max_wait, w.summary()


def assert_stable_ids(spec) -> None:
    """Every row has a payment_id; the seed's rows the stable one."""
    assert query(spec, "SELECT count(*) FROM treasury_payment WHERE payment_id IS NULL") \
        == [(0,)]
    rows = query(spec, "SELECT id, payment_id FROM treasury_payment WHERE payee <> 'writer'")
    assert rows and all(p == uuid.uuid3(STABLE_UUID_NAMESPACE, f"treasury_payment:{i}")
                        for i, p in rows)


# --------------------------------------------------------------------------- the audit
def test_a_normal_apply_records_its_own_writes_exactly_with_writers_running(
        make_db, tmp_path, writers):
    spec, plan = seed(make_db, tmp_path)
    w = writers(spec, connections=2, rate=100)
    result = Executor(spec, plan, ApplyOptions(batch_size=1000)).run()
    w.stop()
    assert_writers_fine(w)
    assert_stable_ids(spec)
    backfill = step(plan, "backfill")
    with spec.connect() as conn:
        writes = ledger.writes(conn, plan.id)
        records = ledger.audit_records(conn, plan.id)
    # Every step run in a transaction was audited; only the backfill wrote rows: updates
    # of its own table, exactly as many as its UPDATEs reported, no insert, no delete.
    audited = {s.id for s in plan.steps if s.kind.value != "concurrent"}
    assert set(writes) == audited
    outcome = next(o for o in result.steps if o.id == backfill.id)
    # The seed's rows and the writers' rows inserted before the column existed.
    assert outcome.rows >= ROWS and outcome.estimate["seconds"] > 0
    assert {k: v for k, v in writes.items() if v} == {
        backfill.id: {"public.treasury_payment": {"inserted": 0, "updated": outcome.rows,
                                                  "deleted": 0}}}
    assert records[backfill.id]["allowed_updates"] == outcome.rows


@pytest.mark.parametrize("fault, kind", [("delete-row", "backfill"),
                                         ("change-value", "backfill"),
                                         ("delete-row", "ddl"),
                                         ("change-value", "ddl")])
def test_a_step_that_writes_a_row_it_must_not_is_caught_and_rolled_back(
        fault, kind, make_db, tmp_path, writers, monkeypatch):
    spec, plan = seed(make_db, tmp_path, 5000)
    target = step(plan, kind)
    first_id = query(spec, "SELECT min(id) FROM treasury_payment")[0][0]
    before = query(spec, ROW, (first_id,))
    monkeypatch.setenv(FAULT_ENV, f"{fault}:{target.id[:2]}")
    w = writers(spec, connections=2, rate=100)
    with pytest.raises(UnexpectedWrite) as caught:
        Executor(spec, plan, ApplyOptions(batch_size=1000)).run()
    w.stop()
    assert_writers_fine(w)
    assert caught.value.exit_code == 3
    # The bad transaction was rolled back: the row is still there, its values unchanged.
    assert query(spec, ROW, (first_id,)) == before
    status, _, _, detail = entry(spec, target.id)
    assert status == "failed"
    assert detail["rejected_writes"]["public.treasury_payment"]["deleted" if fault ==
                                                                "delete-row" else "updated"]
    if kind == "ddl":  # the step's own DDL went with it
        assert query(spec, "SELECT count(*) FROM pg_attribute WHERE attrelid = "
                           "'treasury_payment'::regclass AND attname = 'payment_id'") == [(0,)]
    else:  # batches committed before are kept, none after
        assert query(spec, "SELECT count(*) FROM treasury_payment WHERE payment_id IS NOT NULL "
                           "AND payee <> 'writer'") == [(0,)]


def test_a_concurrent_step_holds_only_index_statements():
    assert concurrent_mode(("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c)",)) \
        == "autocommit"
    assert concurrent_mode(("DROP INDEX CONCURRENTLY IF EXISTS s.i",)) == "autocommit"
    assert concurrent_mode(("REINDEX (VERBOSE) INDEX CONCURRENTLY i",)) == "autocommit"
    assert concurrent_mode(("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'x' AFTER 'ok'",)) \
        == "transaction"
    for bad in ("DELETE FROM t", "CREATE INDEX CONCURRENTLY i ON t (c); DELETE FROM t",
                "CREATE INDEX CONCURRENTLY i ON t (c) -- x\n; DELETE FROM t",
                "UPDATE t SET c = 1"):
        with pytest.raises(Refused):
            concurrent_mode((bad,))
    assert concurrent_mode(("CREATE INDEX CONCURRENTLY i ON t (c) WHERE c <> ';'",)) \
        == "autocommit"


# --------------------------------------------------------------------------- pauses
def test_an_index_build_that_cannot_finish_in_the_window_is_not_started(make_db, tmp_path):
    spec, plan = seed(make_db, tmp_path, 5000)
    Executor(spec, upto(plan, "concurrent"), ApplyOptions()).run()
    index = step(plan, "concurrent")
    with pytest.raises(Paused) as caught:
        Executor(spec, plan, ApplyOptions(deadline=time.time() + 0.5)).run()
    exc = caught.value
    assert exc.exit_code == EXIT_PAUSED == 5
    assert exc.detail["step"] == index.id and exc.detail["started"] is False
    assert exc.detail["estimate"]["seconds"] > 0.5
    assert "paused" in exc.to_dict()
    # Nothing touched: no index, no ledger row for the step.
    assert query(spec, "SELECT count(*) FROM pg_class WHERE relname = %s",
                 (index.target.name,)) == [(0,)]
    assert entry(spec, index.id) is None
    result = Executor(spec, plan, ApplyOptions()).run()
    assert next(o for o in result.steps if o.id == index.id).outcome == "done"


def test_backfill_paused_at_the_window_end_resumes_from_its_last_key(make_db, tmp_path,
                                                                     writers):
    rows, size = 20_000, 500
    spec, plan = seed(make_db, tmp_path, rows)
    backfill = step(plan, "backfill")
    # The column and its DEFAULT first, so every writer's row gets a value and the
    # backfill's own count is exactly the seed's rows.
    Executor(spec, upto(plan, "backfill"), ApplyOptions()).run()
    w = writers(spec, connections=2, rate=100)
    opts = ApplyOptions(batch_size=size, batch_delay=0.05, deadline=time.time() + 2.0)
    with pytest.raises(BackfillPaused) as caught:
        Executor(spec, plan, opts).run()
    assert isinstance(caught.value, Paused) and caught.value.exit_code == 5
    status, done, last_key, detail = entry(spec, backfill.id)
    assert status == "running" and 0 < done < rows and last_key is not None
    assert detail["paused"]["rows"] == done and detail["writes"][
        "public.treasury_payment"]["updated"] == done
    result = Executor(spec, plan, ApplyOptions(batch_size=size)).run()
    w.stop()
    assert_writers_fine(w)
    outcome = next(o for o in result.steps if o.id == backfill.id)
    # Resumed, not restarted: only the batches after last_key ran (plus the empty last).
    assert outcome.attempts <= math.ceil((rows - done) / size) + 2, (outcome, done)
    assert outcome.rows == rows
    status, total, _, detail = entry(spec, backfill.id)
    assert status == "done" and total == rows
    assert detail["writes"]["public.treasury_payment"] == {"inserted": 0, "updated": rows,
                                                           "deleted": 0}
    assert_stable_ids(spec)


def test_the_final_sweep_is_batched_audited_and_under_lock_timeout(make_db, tmp_path):
    rows, size, nulled = 6000, 100, 1000
    spec, plan = seed(make_db, tmp_path, rows)
    backfill = step(plan, "backfill")
    with pytest.raises(BackfillPaused):
        Executor(spec, plan, ApplyOptions(batch_size=size, batch_delay=0.05,
                                          deadline=time.time() + 2.0)).run()
    _, done, last_key, _ = entry(spec, backfill.id)
    assert int(last_key) > nulled
    # Old code wrote NULL into rows the batches had already passed: only the sweep sees them.
    run_sql(spec, f"UPDATE treasury_payment SET payment_id = NULL WHERE id <= {nulled}")
    hold = threading.Event()

    def holder():  # a writer holding one of those rows for a while
        with spec.connect(autocommit=False) as conn:
            conn.execute("SELECT 1 FROM treasury_payment WHERE id = 5 FOR UPDATE")
            hold.set()
            time.sleep(1.0)
            conn.rollback()
    t = threading.Thread(target=holder)
    t.start()
    hold.wait(5)
    result = Executor(spec, plan, ApplyOptions(batch_size=size, lock_timeout="300ms",
                                               retries=6, backoff=0.2)).run()
    t.join()
    outcome = next(o for o in result.steps if o.id == backfill.id)
    main_batches = math.ceil((rows - done) / size) + 1
    sweep_batches = math.ceil(nulled / size) + 1
    # Each sweep batch is its own transaction; the first waited for the held row under
    # lock_timeout and was retried (at least one attempt more than the batches).
    assert outcome.attempts >= main_batches + sweep_batches, outcome
    assert outcome.rows == rows + nulled
    status, _, _, detail = entry(spec, backfill.id)
    assert detail["writes"]["public.treasury_payment"]["updated"] == rows + nulled
    assert detail["allowed_updates"] == rows + nulled
    assert_stable_ids(spec)


def test_a_revert_resets_the_ledger_so_a_reapply_starts_afresh(make_db, tmp_path):
    rows, size = 10_000, 500
    spec, plan = seed(make_db, tmp_path, rows)
    add, backfill = plan.steps[0], step(plan, "backfill")
    with pytest.raises(BackfillPaused):
        Executor(spec, plan, ApplyOptions(batch_size=size, batch_delay=0.1,
                                          deadline=time.time() + 1.6)).run()
    assert entry(spec, backfill.id)[1] > 0
    # The rollback drops the column; the backfill's progress must not survive it.
    assert add.id in revert_plan(spec, plan)
    assert entry(spec, add.id)[:3] == ("reverted", 0, None)
    with spec.connect() as conn:
        ledger.mark_reverted(conn, plan.id, backfill.id)
        assert backfill.id not in ledger.writes(conn, plan.id)
    status, done, last_key, _ = entry(spec, backfill.id)
    assert (status, done, last_key) == ("reverted", 0, None)
    result = Executor(spec, plan, ApplyOptions(batch_size=size)).run()
    outcome = next(o for o in result.steps if o.id == backfill.id)
    # Started from the first key: every batch of the table ran again, every row filled.
    assert outcome.attempts >= math.ceil(rows / size) and outcome.rows == rows
    status, done, _, detail = entry(spec, backfill.id)
    assert status == "done" and done == rows
    assert detail["writes"]["public.treasury_payment"]["updated"] == rows
    assert_stable_ids(spec)


def test_a_backfill_after_a_reverted_step_does_not_resume_from_a_stale_key(make_db,
                                                                          tmp_path):
    """revert_plan leaves a step without reverse SQL (the backfill) as it was; the executor
    still starts it afresh once an earlier step was reverted."""
    rows, size = 10_000, 500
    spec, plan = seed(make_db, tmp_path, rows)
    backfill = step(plan, "backfill")
    with pytest.raises(BackfillPaused):
        Executor(spec, plan, ApplyOptions(batch_size=size, batch_delay=0.1,
                                          deadline=time.time() + 1.6)).run()
    revert_plan(spec, plan)
    result = Executor(spec, plan, ApplyOptions(batch_size=size)).run()
    outcome = next(o for o in result.steps if o.id == backfill.id)
    assert outcome.rows == rows and outcome.attempts >= math.ceil(rows / size)
    assert entry(spec, backfill.id)[:2] == ("done", rows)
    assert_stable_ids(spec)


# --------------------------------------------------------------------------- index builds
def _waiting_for_old_transactions(spec, seconds: float) -> None:
    """Until the build has waited on an old transaction's virtualxid for `seconds`."""
    since = None
    limit = time.monotonic() + 60
    while time.monotonic() < limit:
        waiting = query(spec, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE "
                              "'CREATE UNIQUE INDEX CONCURRENTLY%%' AND wait_event = "
                              "'virtualxid'")[0][0]
        if waiting:
            since = since or time.monotonic()
            if time.monotonic() - since >= seconds:
                return
        time.sleep(0.05)
    raise AssertionError("the index build never waited for the old transaction")


def before_the_index_build(make_db, tmp_path):
    """The seed case applied up to its index build, and an open REPEATABLE READ transaction
    holding a snapshot the build must wait out: (spec, plan, the build step, that
    connection)."""
    spec, plan = seed(make_db, tmp_path, 5000)
    Executor(spec, upto(plan, "concurrent"), ApplyOptions()).run()
    old = spec.connect(autocommit=False)
    old.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    old.execute("SELECT 1")
    return spec, plan, step(plan, "concurrent"), old


def test_index_build_waits_for_a_long_transaction_without_queuing_writers_or_rebuilding(
        make_db, tmp_path, writers):
    spec, plan, index, old = before_the_index_build(make_db, tmp_path)
    w = writers(spec, connections=2, rate=100)
    box: dict = {}
    run = threading.Thread(target=lambda: box.update(
        result=Executor(spec, plan, ApplyOptions(lock_timeout="300ms", retries=3)).run()))
    run.start()
    try:
        # Far past lock_timeout (300 ms): the build waits, nothing fails, writers write.
        _waiting_for_old_transactions(spec, 2.0)
        wait_stats = (w.max_wait, w.statements)
        assert run.is_alive()
    finally:
        old.rollback()
        old.close()
    run.join(60)
    w.stop()
    assert "result" in box, "apply did not finish"
    assert wait_stats[0] < 0.5 and w.statements > wait_stats[1], w.summary()
    assert_writers_fine(w, max_wait=1.0)
    outcome = next(o for o in box["result"].steps if o.id == index.id)
    assert outcome.outcome == "done" and outcome.attempts == 1  # built once
    # Valid, and (a later step) attached as the UNIQUE constraint: one index on the column.
    assert query(spec, "SELECT count(*), bool_and(i.indisvalid) FROM pg_index i JOIN "
                       "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY "
                       "(i.indkey) WHERE i.indrelid = 'treasury_payment'::regclass AND "
                       "a.attname = 'payment_id'") == [(1, True)]
    assert_stable_ids(spec)


def test_index_build_still_waiting_at_the_window_end_pauses_and_drops_its_invalid_index(
        make_db, tmp_path, writers):
    spec, plan, index, old = before_the_index_build(make_db, tmp_path)
    w = writers(spec, connections=2, rate=100)
    started = time.monotonic()
    try:
        with pytest.raises(Paused) as caught:
            Executor(spec, plan, ApplyOptions(deadline=time.time() + 4.0)).run()
    finally:
        old.rollback()
        old.close()
    w.stop()
    assert_writers_fine(w)
    assert time.monotonic() - started < 15
    assert caught.value.detail["step"] == index.id and caught.value.detail["started"]
    assert caught.value.detail["invalid_index_left"] is False
    assert query(spec, "SELECT count(*) FROM pg_class WHERE relname = %s",
                 (index.target.name,)) == [(0,)]
    assert entry(spec, index.id)[0] == "running"
    result = Executor(spec, plan, ApplyOptions()).run()
    assert next(o for o in result.steps if o.id == index.id).outcome == "done"
