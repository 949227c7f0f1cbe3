"""Verify under concurrent writes (issue 11, point 2): exact for what pgreconcile itself did,
blind to what the application does. Invalid objects count only when this run made them;
pgreconcile's own writes are judged from the executor's per-step audit in the ledger."""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import psycopg
import pytest

from pgreconcile.apply import ledger
from pgreconcile.cli.render import verify_checks_table
from pgreconcile.pg.scratch import drop_database
from pgreconcile.plan.steps import Plan, StepKind
from pgreconcile.report.render import render_html, render_markdown
from pgreconcile.runbook.reference import ReferenceSource
from pgreconcile.runbook.stages import verify_target
from pgreconcile.runbook.target import Target
from pgreconcile.runbook.verify import verify_baseline, verify_live
from pgreconcile.schema.diff import Diff

from .support import (
    EXAMPLE,
    P,
    ansible,
    build_drifted,
    cli,
    create_test_db,
    drifted_db,
    make_plan_file,
    query,
    run_sql,
    schema_errors,
)

NO_DRIFT = Diff()  # the checks below are about data and validity, not about drift


@pytest.fixture(scope="module")
def seed(server):
    """The seed case (300 payments, as conftest's `drifted`), built once for the module; the
    tests change copies of it, never it."""
    spec = build_drifted(server.with_dbname(create_test_db(server, "vonline_seed")), rows=300)
    yield spec
    drop_database(server, spec.dbname)


@pytest.fixture
def drifted(server, seed):
    """A copy of the module's seed (CREATE DATABASE … TEMPLATE): the seed drift without its
    Django migrate each time. Dropped after the test."""
    name = create_test_db(server, "vonline", template=seed.dbname)
    yield server.with_dbname(name)
    drop_database(server, name)


def seed_plan(db, tmp_path) -> Plan:
    return Plan.from_dict(make_plan_file(db, tmp_path))


def baseline_of(db, plan: Plan | None) -> dict:
    with db.connect() as conn:
        return verify_baseline(conn, plan)


def autocommit(db, statement: str) -> None:
    """One statement outside a transaction block (CREATE INDEX CONCURRENTLY needs that)."""
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(statement)


def failed_concurrent_index(db, statement: str) -> None:
    """Run a CREATE UNIQUE INDEX CONCURRENTLY that fails on duplicates: it leaves its
    index behind, INVALID, as a real interrupted build does."""
    try:
        autocommit(db, statement)
    except psycopg.errors.UniqueViolation:
        return
    raise AssertionError(f"expected a unique violation from {statement}")


def other_table_with_invalid_objects(db) -> None:
    """An application table with an INVALID index and a NOT VALID constraint of its own."""
    run_sql(db, "CREATE TABLE app_note (id int PRIMARY KEY, code int); "
                "INSERT INTO app_note VALUES (1, 7), (2, 7), (3, -1); "
                "ALTER TABLE app_note ADD CONSTRAINT app_note_code_positive CHECK (code > 0) "
                "NOT VALID")
    failed_concurrent_index(db, "CREATE UNIQUE INDEX CONCURRENTLY app_note_code_uniq "
                                "ON app_note (code)")


def report_with(verification, baseline: dict) -> dict:
    """A stored run report (tests/data/ok_report.json) carrying this verification and
    baseline, as reconcile writes them."""
    data = json.loads((Path(__file__).resolve().parent / "data" / "ok_report.json")
                      .read_text())
    data["verify"] = verification.to_dict()
    data["data_before"] = baseline
    data["ok"] = verification.ok
    return data


def terminal_text(checks: dict) -> str:
    from rich.console import Console
    console = Console(width=200, record=True, color_system=None)
    console.print(verify_checks_table(checks))
    return console.export_text()


def concurrent_index_step(plan: Plan):
    return next(s for s in plan.steps if s.kind == StepKind.CONCURRENT)


def test_invalid_objects_from_before_the_run_do_not_fail_verify(drifted, tmp_path):
    other_table_with_invalid_objects(drifted)
    plan = seed_plan(drifted, tmp_path)
    baseline = baseline_of(drifted, plan)
    assert {"public.app_note.app_note_code_uniq",
            "public.app_note.app_note_code_positive"} <= set(baseline["invalid"])
    cli("apply", str(tmp_path / "plan.json"), "--no-backup", spec=drifted, check=True)

    v = verify_live(drifted, NO_DRIFT, [], plan=plan, baseline=baseline)
    invalid = v.checks["invalid_objects"]
    assert v.ok, v.problems
    assert invalid["basis"] == "baseline" and invalid["made_by_run"] == []
    assert {"public.app_note.app_note_code_uniq",
            "public.app_note.app_note_code_positive"} <= set(invalid["before"])
    # Standalone, with nothing to compare with, the same objects count (and say why).
    alone = verify_live(drifted, NO_DRIFT, [])
    assert not alone.ok and alone.checks["invalid_objects"]["basis"] == "none"
    assert any("app_note_code_uniq" in p for p in alone.problems), alone.problems


def test_an_invalid_index_the_plan_created_fails_verify(drifted, tmp_path):
    other_table_with_invalid_objects(drifted)
    plan = seed_plan(drifted, tmp_path)
    baseline = baseline_of(drifted, plan)
    step = concurrent_index_step(plan)
    index = step.target.qualified
    # The plan's column is added, two rows share a value, and the plan's own index build
    # fails on them: the run leaves its index INVALID.
    run_sql(drifted, ";\n".join(plan.steps[0].sql))
    run_sql(drifted, "UPDATE treasury_payment SET payment_id = "
                     "'00000000-0000-0000-0000-000000000001' WHERE id IN "
                     "(SELECT id FROM treasury_payment ORDER BY id LIMIT 2)")
    failed_concurrent_index(drifted, step.sql[0])
    assert query(drifted, "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = "
                          "to_regclass(%s)", (f"public.{step.target.name}",)) == [(True,)]

    v = verify_live(drifted, NO_DRIFT, [], plan=plan, baseline=baseline)
    assert not v.ok
    assert v.checks["invalid_objects"]["made_by_run"] == [index]
    assert "public.app_note.app_note_code_uniq" in v.checks["invalid_objects"]["before"]
    assert any("made by this run" in p and index in p for p in v.problems), v.problems
    # Without a baseline the plan's own objects still count; the others are only listed.
    v = verify_live(drifted, NO_DRIFT, [], plan=plan)
    assert not v.ok and v.checks["invalid_objects"]["basis"] == "plan"
    assert v.checks["invalid_objects"]["made_by_run"] == [index]
    assert "public.app_note.app_note_code_uniq" in v.checks["invalid_objects"]["other"]


def test_another_sessions_index_build_in_progress_does_not_fail_verify(drifted, tmp_path):
    plan = seed_plan(drifted, tmp_path)
    baseline = baseline_of(drifted, plan)
    errors: list[str] = []
    # An open transaction that wrote the table keeps another session's
    # CREATE INDEX CONCURRENTLY waiting, its index already in the catalog and INVALID.
    holder = psycopg.connect(drifted.conninfo())
    holder.execute("UPDATE treasury_payment SET memo = memo WHERE id = (SELECT min(id) "
                   "FROM treasury_payment)")

    def build():
        try:
            autocommit(drifted, "CREATE INDEX CONCURRENTLY app_payment_memo ON "
                                "treasury_payment (memo)")
        except psycopg.Error as exc:
            errors.append(str(exc))
    builder = threading.Thread(target=build, daemon=True)
    builder.start()
    try:
        deadline = time.monotonic() + 30
        while not query(drifted, "SELECT 1 FROM pg_index WHERE NOT indisvalid AND "
                                 "indexrelid = to_regclass('public.app_payment_memo')"):
            assert time.monotonic() < deadline, "the index build never started"
            time.sleep(0.1)
        assert query(drifted, "SELECT phase FROM pg_stat_progress_create_index "
                              "WHERE index_relid = to_regclass('public.app_payment_memo')")
        building = "public.treasury_payment.app_payment_memo"
        for v in (verify_live(drifted, NO_DRIFT, []),          # standalone: all would count
                  verify_live(drifted, NO_DRIFT, [], plan=plan, baseline=baseline)):
            assert v.ok, v.problems
            assert v.checks["invalid_objects"]["building"] == [building]
            assert v.checks["invalid_objects"]["made_by_run"] == []
    finally:
        holder.rollback()
        holder.close()
        builder.join(timeout=60)
    assert errors == []
    # Once built, the index is valid and nothing is reported.
    v = verify_live(drifted, NO_DRIFT, [])
    assert v.ok and v.checks["invalid_objects"]["building"] == []


def test_verify_passes_with_writers_after_a_real_apply_and_migrate(make_db, writers,
                                                                     tmp_path):
    db = drifted_db(make_db, 20_000)
    plan = seed_plan(db, tmp_path)
    baseline = baseline_of(db, plan)
    w = writers(db, connections=2, rate=100)
    cli("apply", str(tmp_path / "plan.json"), "--no-backup", spec=db, check=True)
    cli("migrate", *P, spec=db, check=True)
    target = Target(db, ReferenceSource.from_args(project_dir=str(EXAMPLE)))
    v, _ = verify_target(target, plan=plan, baseline=baseline)
    w.stop()
    assert w.errors == [] and w.counts["delete"] > 5, w.summary()
    assert v.ok, v.problems
    checks = v.checks
    assert checks["migrate_check"]["ok"] and checks["makemigrations_check"]["ok"]
    assert checks["own_writes"]["ok"] and checks["own_writes"]["violations"] == []
    ran = {s.id for s in plan.steps}
    own = checks["own_writes"]
    assert set(own["audited"]) | {u["step"] for u in own["unaudited"]} == ran
    # The application's writes changed the table: reported as evidence, not a failure.
    assert "public.treasury_payment" in checks["row_counts"]["changed"]
    assert "public.treasury_payment" in checks["data_fingerprints"]["changed"]
    assert checks["row_counts"]["decides"] is False
    assert checks["invalid_objects"]["made_by_run"] == []
    # The same comparison without the plan decides, and fails: what issue 11 reported.
    alone = verify_live(db, NO_DRIFT, [], expected_counts=baseline["row_counts"])
    assert not alone.ok and any("row counts changed" in p for p in alone.problems)


def test_an_audited_delete_by_a_step_fails_verify_naming_the_table(drifted, writers,
                                                                   tmp_path):
    plan = seed_plan(drifted, tmp_path)
    baseline = baseline_of(drifted, plan)
    w = writers(drifted, connections=2, rate=50)
    backfill = next(s for s in plan.steps if s.kind == StepKind.BACKFILL)
    ddl = plan.steps[0]
    with drifted.connect() as conn:
        conn.execute(ledger.LEDGER_DDL)
        # A clean backfill record, and a faulty step that deleted a row (standing for a
        # fault the executor did not stop).
        ledger.record(conn, plan.id, backfill.id, "done", rows=300, detail={
            "writes": {"public.treasury_payment": {"inserted": 0, "updated": 300,
                                                   "deleted": 0}},
            "allowed_updates": 300})
        ledger.record(conn, plan.id, ddl.id, "done", detail={
            "writes": {"public.treasury_payment": {"inserted": 0, "updated": 0,
                                                   "deleted": 1}}})
    v = verify_live(drifted, NO_DRIFT, [], plan=plan, baseline=baseline)
    assert not v.ok
    own = v.checks["own_writes"]
    assert own["violations"] == [{"step": ddl.id, "table": "public.treasury_payment",
                                  "rows": 1, "what": "deleted 1 row(s)"}]
    assert any("public.treasury_payment" in p and "deleted" in p for p in v.problems), \
        v.problems
    assert set(own["audited"]) == {backfill.id, ddl.id}
    # The report carries it in its schema and names it in every form.
    report = report_with(v, baseline)
    assert schema_errors(report) == []
    md, html = render_markdown(report), render_html(report)
    fault = f"step {ddl.id} deleted 1 row(s) in public.treasury_payment"
    assert fault in md and fault in html and fault in terminal_text(v.checks)
    assert "| pgreconcile wrote only what it may (per-step audit) | **FAILED** |" in md
    assert "row counts before/after (evidence)" in md
    # A DDL step that changed a pre-existing value, a backfill that updated more rows than
    # it reported, or another table: each fails too.
    with drifted.connect() as conn:
        ledger.record(conn, plan.id, ddl.id, "done", detail={
            "writes": {"public.treasury_payment": {"updated": 1}}})
        ledger.record(conn, plan.id, backfill.id, "done", detail={
            "writes": {"public.treasury_payment": {"updated": 301},
                       "public.auth_user": {"updated": 1}},
            "allowed_updates": 300})
    v = verify_live(drifted, NO_DRIFT, [], plan=plan, baseline=baseline)
    w.stop()
    assert w.errors == [], w.summary()
    assert not v.ok
    assert {(b["step"], b["table"], b["rows"]) for b in v.checks["own_writes"]["violations"]
            } == {(ddl.id, "public.treasury_payment", 1),
                  (backfill.id, "public.treasury_payment", 301),
                  (backfill.id, "public.auth_user", 1)}
    # Meanwhile the writers changed the table; that alone never fails a verify with a plan.
    assert v.checks["row_counts"]["decides"] is False


def module(spec, name: str, args: dict) -> tuple[int, dict]:
    """`ansible localhost -m NAME -a JSON`: its exit code and result."""
    proc = ansible("ansible", "localhost", "-m", name, "-a", json.dumps(args), spec=spec,
                   timeout=300)
    found = re.search(r"^localhost \| (?:SUCCESS|CHANGED|FAILED!) => ", proc.stdout,
                      re.MULTILINE)
    assert found, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, json.JSONDecoder().raw_decode(proc.stdout[found.end():])[0]


def test_the_ansible_module_takes_a_baseline_and_verifies_against_it(drifted, writers,
                                                                      tmp_path):
    other_table_with_invalid_objects(drifted)
    make_plan_file(drifted, tmp_path)
    plan = str(tmp_path / "plan.json")
    rc, taken = module(drifted, "pgreconcile_verify", {
        "capture_baseline": True, "plan": plan, "project_dir": str(EXAMPLE)})
    assert rc == 0 and taken["changed"] is False, taken
    baseline = taken["baseline"]
    assert "public.app_note.app_note_code_uniq" in baseline["invalid"]
    w = writers(drifted, connections=2, rate=50)
    cli("apply", plan, "--no-backup", spec=drifted, check=True)
    cli("migrate", *P, spec=drifted, check=True)
    rc, result = module(drifted, "pgreconcile_verify", {
        "plan": plan, "baseline": baseline, "project_dir": str(EXAMPLE)})
    w.stop()
    assert rc == 0 and result["ok"], result.get("problems")
    assert result["checks"]["invalid_objects"]["basis"] == "baseline"
    assert "public.app_note.app_note_code_uniq" in result["checks"]["invalid_objects"]["before"]
    assert result["checks"]["row_counts"]["decides"] is False
    assert w.errors == [], w.summary()
