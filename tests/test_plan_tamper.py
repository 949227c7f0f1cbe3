"""Issue 13, points 2, 3 and 9 through the CLI on a real server: an edited plan.json is
refused (exit 4) and changes nothing, destructiveness is derived rather than read, a
malformed plan file is one clear error (exit 2), and reconcile refuses a destructive
plan before any scratch clone, lock or backup exists."""
from __future__ import annotations

import json
import secrets
from dataclasses import replace

import pytest
from psycopg import sql

from pgreconcile.pg.scratch import drop_database, list_scratch_databases
from pgreconcile.plan.steps import Plan

from .support import (
    TEST_DB_PREFIX,
    P,
    as_json,
    build_drifted,
    cli,
    fingerprint_and_counts,
    make_plan_file,
    query,
    run_sql,
)


@pytest.fixture(scope="module")
def seed(server, tmp_path_factory):
    """One drifted seed database for the module (no test changes it) and its swap plan
    (destructive: it drops the old key) as `pgreconcile plan --out` wrote it."""
    name = f"{TEST_DB_PREFIX}tamper_{secrets.token_hex(4)}"
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
            sql.Identifier(name)))
    spec = build_drifted(server.with_dbname(name), rows=300)
    where = tmp_path_factory.mktemp("tamper")
    plan = make_plan_file(spec, where, "--pk-strategy", "swap")
    assert plan["destructive"], "the swap plan drops the old key column"
    try:
        yield spec, where / "plan.json"
    finally:
        drop_database(server, name)


@pytest.fixture
def plan_copy(seed, tmp_path):
    """(spec, a fresh copy of the seed's plan.json, schema and row counts before)."""
    spec, original = seed
    copy = tmp_path / "plan.json"
    copy.write_text(original.read_text())
    return spec, copy, fingerprint_and_counts(spec)


def _ledger_exists(spec) -> bool:
    return query(spec, "SELECT to_regclass('pgreconcile.ledger') IS NOT NULL")[0][0]


def _edit(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _refused_unchanged(proc, spec, before, kind: str) -> dict:
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    error = as_json(proc)
    assert error["error"] == kind and error["exit_code"] == 4, error
    assert fingerprint_and_counts(spec) == before  # schema and rows as they were
    assert not _ledger_exists(spec)                 # not even the ledger was created
    return error


def test_destructive_flipped_to_false_is_refused_as_tampered(plan_copy):
    """The issue's attack: every step says destructive: false. apply without
    --allow-destructive refuses (exit 4), nothing changed, not even a ledger."""
    spec, path, before = plan_copy

    def harmless(data):
        for step in data["steps"]:
            step["destructive"] = False
        data["destructive"] = []
    _edit(path, harmless)
    proc = cli("apply", str(path), "--no-backup", "--json", spec=spec)
    error = _refused_unchanged(proc, spec, before, "PlanTampered")
    assert str(path) in error["message"] and "edited" in error["message"]
    assert "pgreconcile plan --out" in error["hint"]


def test_one_sql_statement_edited_is_refused_as_tampered(plan_copy):
    spec, path, before = plan_copy

    def edit_sql(data):
        step = next(s for s in data["steps"] if s["sql"])
        step["sql"][0] = step["sql"][0] + " "  # one byte
    _edit(path, edit_sql)
    proc = cli("apply", str(path), "--no-backup", "--allow-destructive", "--json", spec=spec)
    _refused_unchanged(proc, spec, before, "PlanTampered")


def test_a_resealed_plan_still_needs_allow_destructive(plan_copy):
    """Someone who also recomputes the digest gets a plan that loads, but whose destructive
    steps are derived from their SQL: still refused without --allow-destructive."""
    spec, path, before = plan_copy
    plan = Plan.from_dict(json.loads(path.read_text()))
    forged = replace(plan, steps=tuple(replace(s, destructive=False)
                                       for s in plan.steps)).sealed()
    path.write_text(json.dumps(forged.to_dict()))
    proc = cli("apply", str(path), "--no-backup", "--json", spec=spec)
    error = _refused_unchanged(proc, spec, before, "DestructiveStepRefused")
    assert "drop-old-key" in error["message"]


@pytest.mark.parametrize("text, words", [
    ("[]", "must be a JSON object"),
    ("{}", "has no format field"),
    ("{not json", "cannot read plan"),
    ("[" * 100_000 + "]" * 100_000, "cannot read plan"),
    ('{"format": 1, "id": "x"}', "format 1"),
    ('{"format": 2, "id": 1e999}', "malformed"),
])
def test_a_malformed_plan_file_is_one_usage_error(seed, tmp_path, text, words):
    spec, _ = seed
    before = fingerprint_and_counts(spec)
    path = tmp_path / "plan.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    commands = [["apply", str(path), "--no-backup"]]
    if text in ("[]", "{not json"):  # every command that reads a plan reads it the same way
        commands.append(["verify", *P, "--plan", str(path)])
    for args in commands:
        proc = cli(*args, "--json", spec=spec)
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        error = as_json(proc)
        assert error["error"] == "UsageError" and words in error["message"], error
        assert str(path) in error["message"] and error["hint"]
    assert fingerprint_and_counts(spec) == before


def test_reconcile_refuses_a_destructive_plan_before_backup_scratch_or_lock(seed, server,
                                                                           tmp_path):
    spec, _ = seed
    before = fingerprint_and_counts(spec)
    scratch_before = list_scratch_databases(server)
    backups, reports = tmp_path / "backups", tmp_path / "reports"
    proc = cli("reconcile", *P, "--pk-strategy", "swap", "--out-dir", str(backups),
               "--report-dir", str(reports), "--json", spec=spec)
    _refused_unchanged(proc, spec, before, "DestructiveStepRefused")
    assert not backups.exists() or not any(backups.iterdir())
    assert list_scratch_databases(server) == scratch_before
    report = json.loads((reports / "report.json").read_text())
    assert [s["stage"] for s in report["stages"]] == ["plan"]
    assert report["error"]["error"] == "DestructiveStepRefused"
    assert "backup" not in report and "preflight_before" not in report


def test_the_unedited_plan_applies(seed, server):
    """The check refuses edits, not plans: the plan as written applies (to a copy of the
    seed database, which the other tests need unchanged) once live is again what it was
    planned from."""
    spec, path = seed
    name = f"{TEST_DB_PREFIX}tamper_copy_{secrets.token_hex(4)}"
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(spec.dbname)))
    copy = server.with_dbname(name)
    try:
        # Live changed since planning: refused before the lock and the ledger (point 9).
        run_sql(copy, "CREATE TABLE public.newcomer (id int)")
        before = fingerprint_and_counts(copy)
        proc = cli("apply", str(path), "--no-backup", "--allow-destructive", "--json",
                   spec=copy)
        _refused_unchanged(proc, copy, before, "PlanOutdated")
        run_sql(copy, "DROP TABLE public.newcomer")

        proc = cli("apply", str(path), "--no-backup", "--allow-destructive", "--json",
                   spec=copy)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert as_json(proc)["changed"]
        assert query(copy, "SELECT count(*) FROM treasury_payment WHERE payment_id IS NULL") \
            == [(0,)]
        assert not query(copy, "SELECT 1 FROM information_schema.columns WHERE table_name = "
                               "'treasury_payment' AND column_name = 'id'")  # the old key
    finally:
        drop_database(server, name)
