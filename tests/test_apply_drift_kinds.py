"""For each kind of drift the diff reports, the plan applies cleanly and the diff is then zero.
Reference given as a SQL file; the live database gets the same DDL minus the drift."""
from __future__ import annotations

import json
import time

import pytest

from pgreconcile.apply.backfill import BackfillPaused
from pgreconcile.apply.executor import Executor
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.runbook.stages import load_plan

from .support import as_json, cli, drifted_db, make_plan_file, query, run_sql

BASE = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE parent (id int PRIMARY KEY, code varchar(10) NOT NULL);
CREATE TABLE child (
    id int PRIMARY KEY, parent_id int, name varchar(20), qty int NOT NULL DEFAULT 0,
    note text, feeling mood, price numeric(10,2));
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 50) g;
INSERT INTO child (id, parent_id, name, qty, note, feeling, price)
  SELECT g, 1 + g % 50, 'n' || g, g, 'x', 'ok', g FROM generate_series(1, 500) g;
"""

CASES = {
    "missing nullable column": ("", "ALTER TABLE child ADD COLUMN extra text;"),
    "missing NOT NULL column with constant default":
        ("", "ALTER TABLE child ADD COLUMN flag boolean NOT NULL DEFAULT false;"),
    "varchar widened": ("", "ALTER TABLE child ALTER COLUMN name TYPE varchar(40);"),
    "default differs": ("", "ALTER TABLE child ALTER COLUMN qty SET DEFAULT 1;"),
    "column should be NOT NULL": ("", "ALTER TABLE child ALTER COLUMN note SET NOT NULL;"),
    "missing partial index": ("", "CREATE INDEX child_big_qty ON child (qty) WHERE qty > 100;"),
    "missing expression index": ("", "CREATE INDEX child_lower_name ON child (lower(name));"),
    "missing unique constraint": ("", "ALTER TABLE child ADD CONSTRAINT child_name_key "
                                      "UNIQUE (name);"),
    "missing foreign key": ("", "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY "
                                "(parent_id) REFERENCES parent(id) ON DELETE CASCADE;"),
    "missing check constraint": ("", "ALTER TABLE child ADD CONSTRAINT child_qty_positive "
                                     "CHECK (qty >= 0);"),
    "enum lacks a label": ("", "ALTER TYPE mood ADD VALUE 'ecstatic' AFTER 'happy';"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_for_drift_kind_applies_and_leaves_no_drift(case, db, tmp_path):
    live_extra, expected_extra = CASES[case]
    run_sql(db, BASE + live_extra)
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE.split("INSERT")[0] + expected_extra + "\n")
    before = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert before.returncode == 3, f"{case}: the drift was not seen"
    plan_path = tmp_path / "plan.json"
    proc = cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json", spec=db)
    plan = as_json(proc)
    assert plan["unsupported"] == [], plan["unsupported"]
    assert plan["destructive"] == []
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, [c["object"] for c in as_json(after)["changes"]]
    assert query(db, "SELECT count(*) FROM child") == [(500,)]
    again = as_json(cli("apply", str(plan_path), "--no-backup", "--json", spec=db))
    assert again["changed"] is False


def test_rewriting_type_change_needs_approval(db, tmp_path):
    run_sql(db, BASE)
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE.split("INSERT")[0] + "ALTER TABLE child ALTER COLUMN qty TYPE bigint;\n")
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert plan["destructive"], "int -> bigint rewrites the table and must need approval"
    refused = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert refused.returncode == 4
    ok = cli("apply", str(plan_path), "--no-backup", "--allow-destructive", "--json", spec=db)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert cli("diff", "--reference-sql", str(ref), "--json", spec=db).returncode == 0


def test_extra_objects_are_kept_and_reported_never_dropped(db, tmp_path):
    run_sql(db, BASE + "ALTER TABLE child ADD COLUMN legacy text; CREATE TABLE audit (id int);")
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE.split("INSERT")[0])
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--json", spec=db))
    assert plan["steps"] == []
    kept = {k["object"] for k in plan["kept"]}
    assert {"public.child.legacy", "public.audit"} <= kept


def test_backfill_pauses_at_window_end_and_resumes(make_db, tmp_path):
    spec = drifted_db(make_db, 20000)
    make_plan_file(spec, tmp_path)
    plan = load_plan(tmp_path / "plan.json")
    opts = ApplyOptions(batch_size=200, batch_delay=0.05, deadline=time.time() + 1.5)
    with pytest.raises(BackfillPaused):
        Executor(spec, plan, opts).run()
    done = query(spec, "SELECT rows, status FROM pgreconcile.ledger WHERE step_id LIKE "
                       "'%backfill%'")[0]
    assert 0 < done[0] < 20000 and done[1] == "running"  # paused keeps its progress
    result = Executor(spec, plan, ApplyOptions(batch_size=5000)).run()
    assert result.changed
    assert query(spec, "SELECT count(*) FROM treasury_payment WHERE payment_id IS NULL") == [(0,)]


@pytest.mark.parametrize("expected_extra, bad_data, words", [
    ("ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) "
     "REFERENCES parent(id);", "UPDATE child SET parent_id = 999 WHERE id IN (3, 4);",
     ["2 row(s)", "id = 3, 4"]),
    ("ALTER TABLE child ADD CONSTRAINT child_name_key UNIQUE (name);",
     "UPDATE child SET name = 'dup' WHERE id IN (5, 6, 7);", ["1 row(s)", "id = 5"]),
    ("ALTER TABLE child ADD CONSTRAINT child_qty_positive CHECK (qty >= 0);",
     "UPDATE child SET qty = -1 WHERE id = 9;", ["1 row(s)"]),
    ("ALTER TABLE child ALTER COLUMN note SET NOT NULL;",
     "UPDATE child SET note = NULL WHERE id IN (1, 2);", ["2 row(s)"]),
])
def test_violating_rows_are_refused_with_counts_and_samples(expected_extra, bad_data, words,
                                                            db, tmp_path):
    from pgreconcile.pg import census
    run_sql(db, BASE + bad_data)
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE.split("INSERT")[0] + expected_extra + "\n")
    plan_path = tmp_path / "plan.json"
    as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json", spec=db))
    with db.connect() as conn:
        before = census.schema_fingerprint(conn)
    proc = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    err = as_json(proc)
    assert "existing data would make the plan fail" in err["message"]
    for word in words:
        assert word in err["message"]
    if "dup" in bad_data:  # values (maybe personal data) only on request
        assert "dup" not in err["message"]
        shown = as_json(cli("apply", str(plan_path), "--no-backup", "--show-samples", "--json",
                            spec=db))
        assert "dup" in shown["message"], shown
    with db.connect() as conn:
        assert census.schema_fingerprint(conn) == before


@pytest.mark.parametrize("analyzed", [True, False], ids=["fresh-stats", "stale-stats"])
def test_drift_that_cannot_be_fixed_safely_is_refused_before_any_change(analyzed, db, tmp_path):
    from pgreconcile.pg import census
    run_sql(db, BASE + ("ANALYZE child;" if analyzed else ""))
    ref = tmp_path / "expected.sql"
    # A NOT NULL column with no default on a table that has rows: no safe value to invent.
    ref.write_text(BASE.split("INSERT")[0] + "ALTER TABLE child ADD COLUMN owner int NOT NULL;\n")
    with db.connect() as conn:
        before = census.schema_fingerprint(conn), census.row_counts(conn)
    proc = cli("reconcile", "--reference-sql", str(ref), "--out-dir", str(tmp_path / "b"),
               "--report-dir", str(tmp_path / "r"), "--json", spec=db)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    err = as_json(proc)
    # Refused by the planner (row estimates known) or by the executor's data check (stale
    # estimates): either way before any change, naming the column.
    assert ("cannot be fixed safely" in err["message"]
            or "existing data would make the plan fail" in err["message"])
    assert "owner" in err["message"] and err["hint"]
    with db.connect() as conn:
        assert (census.schema_fingerprint(conn), census.row_counts(conn)) == before
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["ok"] is False and report["error"]["exit_code"] == 4
