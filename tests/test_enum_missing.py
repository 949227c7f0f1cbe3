"""A missing enum is created (CREATE TYPE … AS ENUM), before the column that uses it: plan
and apply converge, a rerun changes nothing, every row is kept."""
from __future__ import annotations

from pgreconcile.plan.planner import make_plan
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import Enum, Schema

from .support import as_json, cli, query, run_sql

LIVE = "CREATE TABLE public.task (id integer PRIMARY KEY, title text NOT NULL);"
EXPECTED = """
CREATE TYPE public.priority AS ENUM ('low', 'normal', 'it''s high');
CREATE TABLE public.task (id integer PRIMARY KEY, title text NOT NULL,
                          priority public.priority);
"""


def test_missing_enum_step_creates_it_with_its_labels_and_a_reverse():
    live = Schema(namespaces=("public",))
    expected = Schema(namespaces=("public",), enums=(Enum("public", "mood", ("a", "b's")),))
    plan = make_plan(live, expected, diff_schemas(live, expected))
    assert plan.unsupported == ()
    (step,) = plan.steps
    assert step.sql == ("""CREATE TYPE "public"."mood" AS ENUM ('a', 'b''s')""",)
    assert step.reverse == ('DROP TYPE IF EXISTS "public"."mood"',)
    assert not step.destructive and "typtype = 'e'" in step.probe


def test_missing_enum_and_its_column_converge(db, tmp_path):
    run_sql(db, LIVE + "INSERT INTO task SELECT g, 't' || g FROM generate_series(1, 40) g;")
    ref = tmp_path / "expected.sql"
    ref.write_text(EXPECTED)
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert plan["unsupported"] == [] and plan["destructive"] == []
    assert [s["target"]["kind"] for s in plan["steps"]][:1] == ["enum"]
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, after.stdout[-2000:]
    assert query(db, "SELECT count(*) FROM task") == [(40,)]
    assert as_json(cli("apply", str(plan_path), "--no-backup", "--json",
                       spec=db))["changed"] is False
