"""Changed constraints end to end: a check, foreign key, unique or exclusion constraint that
exists live and in the reference but differs. Each case is a pair of SQL snippets, live and
expected, on the same tables with rows: plan + apply converge, a rerun changes nothing,
every row is kept. Violating rows are refused before anything changes; a primary key that
foreign keys depend on is not replaced."""
from __future__ import annotations

import json

import pytest

from pgreconcile.pg import census
from pgreconcile.plan.planner import make_plan
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import diff_schemas

from .support import as_json, cli, query, run_sql

TABLES = """
CREATE TABLE parent (id int PRIMARY KEY, code varchar(10) NOT NULL UNIQUE);
CREATE TABLE child (
    id int PRIMARY KEY, parent_id int, parent_code varchar(10), name varchar(20),
    qty int NOT NULL DEFAULT 0);
"""
ROWS = """
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 50) g;
INSERT INTO child SELECT g, 1 + g % 50, 'p' || (1 + g % 50), 'n' || g, g
  FROM generate_series(1, 500) g;
"""
FK = ("ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) "
      "REFERENCES parent(id)")
CHECK = "ALTER TABLE child ADD CONSTRAINT child_qty_check CHECK "
UNIQUE = "ALTER TABLE child ADD CONSTRAINT child_name_key UNIQUE "
EXCLUDE = "ALTER TABLE child ADD CONSTRAINT child_name_excl EXCLUDE USING btree "

# name: (live, expected, what the plan's steps do, in order), each run after TABLES.
CASES = {
    "check with another expression, rows satisfy it": (
        CHECK + "(qty >= 0);", CHECK + "(qty >= 1 AND qty < 100000);",
        ["replace", "validate"]),
    "foreign key with another ON DELETE action": (
        FK + ";", FK + " ON DELETE CASCADE;", ["replace", "validate"]),
    "foreign key to another column set": (
        FK + ";", "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_code) "
                  "REFERENCES parent(code) ON UPDATE CASCADE;", ["replace", "validate"]),
    "foreign key made deferrable": (
        FK + ";", FK + " DEFERRABLE INITIALLY DEFERRED;", ["make"]),
    "foreign key NOT VALID live": (
        FK + " NOT VALID;", FK + ";", ["validate"]),
    "unique on other columns": (
        UNIQUE + "(name);", UNIQUE + "(name, qty);", ["build", "replace"]),
    "unique made deferrable": (
        UNIQUE + "(name);", UNIQUE + "(name) DEFERRABLE INITIALLY DEFERRED;",
        ["build", "replace"]),
    "unique made NULLS NOT DISTINCT with an INCLUDE list (PostgreSQL 15+)": (
        UNIQUE + "(name);", UNIQUE + "NULLS NOT DISTINCT (name) INCLUDE (qty);",
        ["build", "replace"]),
    "exclusion on other columns": (
        EXCLUDE + "(name WITH =);", EXCLUDE + "(name WITH =, qty WITH =);", ["replace"]),
    "primary key made deferrable (nothing references it)": (
        "", "ALTER TABLE child DROP CONSTRAINT child_pkey; ALTER TABLE child ADD CONSTRAINT "
            "child_pkey PRIMARY KEY (id) DEFERRABLE;", ["build", "replace"]),
}


def _reference(tmp_path, expected: str):
    ref = tmp_path / "expected.sql"
    ref.write_text(TABLES + expected + "\n")
    return ref


def _constraints(db) -> list[tuple]:
    return query(db, "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                     "WHERE conrelid = 'child'::regclass AND contype <> 'n' ORDER BY conname")


def _counts(db) -> list[tuple]:
    return query(db, "SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM child)")


@pytest.mark.parametrize("case", sorted(CASES))
def test_changed_constraint_converges_and_keeps_rows(case, db, tmp_path):
    live, expected, actions = CASES[case]
    run_sql(db, TABLES + ROWS + live)
    ref = _reference(tmp_path, expected)
    before = as_json(cli("diff", "--reference-sql", str(ref), "--json", spec=db))
    assert [(c["bucket"], c["kind"]) for c in before["changes"]
            if not c.get("cosmetic")] == [("different", "constraint")], case
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert plan["unsupported"] == [] and plan["destructive"] == []
    assert [s["title"].split()[0].lower() for s in plan["steps"]] == actions
    for step in plan["steps"]:
        assert step["probe"]
        assert step["lock_duration"] == ("scan" if step["title"].startswith(
            ("validate", "build", "VALIDATE")) or "exclusion" in step["title"] else "instant")
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, [c["object"] for c in as_json(after)["changes"]]
    assert _counts(db) == [(50, 500)]
    assert all(valid for _, _, valid in _constraints(db))
    assert not query(db, "SELECT 1 FROM pg_class WHERE relname LIKE '%pgrc_new'")
    again = as_json(cli("apply", str(plan_path), "--no-backup", "--json", spec=db))
    assert again["changed"] is False
    replanned = as_json(cli("plan", "--reference-sql", str(ref), "--json", spec=db))
    assert replanned["steps"] == []


def test_new_rules_hold_after_apply(db, tmp_path):
    """The replaced foreign key cascades, the replaced check rejects what it should."""
    run_sql(db, TABLES + ROWS + FK + ";" + CHECK + "(qty >= 0);")
    ref = _reference(tmp_path, FK + " ON DELETE CASCADE;" + CHECK + "(qty >= 1);")
    plan_path = tmp_path / "plan.json"
    as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json", spec=db))
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    run_sql(db, "DELETE FROM parent WHERE id = 2")
    assert query(db, "SELECT count(*) FROM child") == [(490,)]
    with pytest.raises(Exception, match="child_qty_check"):
        run_sql(db, "INSERT INTO child (id, qty) VALUES (9999, 0)")


def test_changed_check_with_violating_rows_is_refused_before_any_change(db, tmp_path):
    run_sql(db, TABLES + ROWS + CHECK + "(qty >= 0);")
    ref = _reference(tmp_path, CHECK + "(qty > 10);")
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert plan["unsupported"] == [] and plan["steps"][0]["precheck"]
    constraints = _constraints(db)
    with db.connect() as conn:
        fingerprint = census.schema_fingerprint(conn)
    proc = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    message = as_json(proc)["message"]
    assert "existing data would make the plan fail" in message
    assert "constraint-child_qty_check: 10 row(s) would violate it" in message
    assert _constraints(db) == constraints
    with db.connect() as conn:
        assert census.schema_fingerprint(conn) == fingerprint


def test_foreign_key_to_another_column_with_orphans_is_refused(db, tmp_path):
    run_sql(db, TABLES + ROWS + FK + ";" + "UPDATE child SET parent_code = 'zz' WHERE id <= 3;")
    ref = _reference(tmp_path, "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY "
                               "(parent_code) REFERENCES parent(code);")
    plan_path = tmp_path / "plan.json"
    as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json", spec=db))
    proc = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    # The orphans are named by their primary keys; their values only on request.
    assert "3 row(s) would violate it (e.g. rows with id = 1, 2, 3)" in as_json(proc)["message"]
    proc = cli("apply", str(plan_path), "--no-backup", "--json", "--show-samples", spec=db)
    assert "3 row(s) would violate it (e.g. zz, zz, zz)" in as_json(proc)["message"]
    assert [c for c in _constraints(db) if c[0] == "child_parent_fk"] == [
        ("child_parent_fk", "FOREIGN KEY (parent_id) REFERENCES parent(id)", True)]


def test_renamed_constraint_plans_nothing(db, make_db):
    """In process: a check under another name only is cosmetic; no step."""
    ref_db = make_db("constraints_ref")
    run_sql(db, TABLES + ROWS + "ALTER TABLE child ADD CONSTRAINT child_qty_ok CHECK (qty >= 0);")
    run_sql(ref_db, TABLES + CHECK + "(qty >= 0);")
    with db.connect() as conn:
        live = inspect_schema(conn)
    with ref_db.connect() as conn:
        expected = inspect_schema(conn)
    diff = diff_schemas(live, expected)
    assert [(c.kind, c.attributes, c.cosmetic) for c in diff.changes] == [
        ("constraint", ("name",), True)]
    plan = make_plan(live, expected, diff)
    assert plan.steps == () and plan.unsupported == ()


def test_primary_key_that_foreign_keys_use_is_refused(db, make_db):
    """In process: making parent's key deferrable would drop child's foreign key."""
    ref_db = make_db("constraints_pk_ref")
    run_sql(db, TABLES + ROWS + FK + ";")
    run_sql(ref_db, TABLES + "ALTER TABLE parent DROP CONSTRAINT parent_pkey;"
            "ALTER TABLE parent ADD CONSTRAINT parent_pkey PRIMARY KEY (id) DEFERRABLE;")
    with db.connect() as conn:
        live = inspect_schema(conn)
    with ref_db.connect() as conn:
        expected = inspect_schema(conn)
    plan = make_plan(live, expected, diff_schemas(live, expected))
    refused = {u.object: u.why for u in plan.unsupported}
    assert "foreign keys depend on the index of parent_pkey (public.child.child_parent_fk)" \
        in refused["public.parent.parent_pkey"]
    assert not [s for s in plan.steps if s.table == "public.parent"]


def test_rollback_restores_the_live_constraints(db, tmp_path):
    """The reverses put the old rules back (checks and foreign keys NOT VALID: instant, and
    never failing on rows written under the new rule); nothing of the new ones stays."""
    from pgreconcile.apply.revert import revert_plan
    from pgreconcile.plan.steps import Plan

    run_sql(db, TABLES + ROWS + FK + ";" + CHECK + "(qty >= 0);" + UNIQUE + "(name);")
    original = _constraints(db)
    ref = _reference(tmp_path, FK + " ON DELETE CASCADE;" + CHECK + "(qty >= 1);"
                     + UNIQUE + "(name, qty);")
    plan_path = tmp_path / "plan.json"
    as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json", spec=db))
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _constraints(db) != original
    plan = Plan.from_dict(json.loads(plan_path.read_text()))
    assert revert_plan(db, plan) == [s.id for s in reversed(plan.steps)]
    not_valid = ("child_parent_fk", "child_qty_check")
    assert _constraints(db) == [
        (name, definition + " NOT VALID", False) if name in not_valid else (name, definition, valid)
        for name, definition, valid in original]
    assert not query(db, "SELECT 1 FROM pg_class WHERE relname LIKE '%pgrc_new'")
    assert _counts(db) == [(50, 500)]


def test_foreign_key_to_a_column_the_drift_makes_unique(db, tmp_path):
    """parent.code is not unique live; the reference makes it unique and points the
    foreign key at it. The key is built first, though parent sorts after child."""
    tables = TABLES.replace("code varchar(10) NOT NULL UNIQUE", "code varchar(10) NOT NULL")
    run_sql(db, tables + ROWS + FK + ";")
    ref = tmp_path / "expected.sql"
    ref.write_text(tables + "ALTER TABLE parent ADD CONSTRAINT parent_code_key UNIQUE (code);"
                   "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_code) "
                   "REFERENCES parent(code);\n")
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert [s["id"] for s in plan["steps"]] == [
        "01-index-parent_code_key", "02-constraint-parent_code_key",
        "03-constraint-child_parent_fk", "04-validate-child_parent_fk"]
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, [c["object"] for c in as_json(after)["changes"]]
    assert _counts(db) == [(50, 500)]
    assert as_json(cli("apply", str(plan_path), "--no-backup", "--json", spec=db))[
        "changed"] is False


def test_missing_unique_keeps_include_and_nulls_not_distinct(db, tmp_path):
    run_sql(db, TABLES + ROWS)
    ref = _reference(tmp_path, UNIQUE + "NULLS NOT DISTINCT (name) INCLUDE (qty);")
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert plan["steps"][0]["sql"][0].endswith('("name") INCLUDE (qty) NULLS NOT DISTINCT')
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, [c["object"] for c in as_json(after)["changes"]]
