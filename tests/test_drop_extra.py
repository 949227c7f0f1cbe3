"""Objects only live has: kept and reported by default; `--drop-extra` (with
`--allow-destructive` to apply) drops them, after every other step and in reverse dependency
order, so that the diff comes out empty. Run for real: the CLI against a database holding
one extra object of every kind the catalog reads, the Ansible module, and the pure planner
for the kinds a unit model can hold."""
from __future__ import annotations

import json
import re

import pytest

from pgreconcile.plan.planner import make_plan
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import (
    Collation,
    Comment,
    CompositeType,
    Domain,
    DomainCheck,
    Enum,
    Extension,
    Function,
    Privilege,
    Schema,
    Table,
    TypeAttribute,
)

from .support import ansible, as_json, cli, fingerprint_and_counts, query, run_sql

BASE = """
CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id), note text);
"""
ROWS = """
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 200) g;
INSERT INTO child SELECT g, 1 + g % 200, 'n' || g FROM generate_series(1, 500) g;
"""
# One extra object of every kind the catalog reads (PostgreSQL 13-18), and chains of them
# that only drop in the right order.
EXTRAS = """
CREATE SCHEMA junk;
CREATE TYPE junk.mood AS ENUM ('sad', 'ok');
CREATE TABLE junk.log (id int PRIMARY KEY, mood junk.mood, parent_id int REFERENCES parent (id));
INSERT INTO junk.log VALUES (1, 'ok', 1);
CREATE TABLE audit (id int PRIMARY KEY, child_id int);
CREATE TABLE audit_item (id int PRIMARY KEY, audit_id int REFERENCES audit (id));
CREATE TABLE ring_a (id int PRIMARY KEY, b_id int);
CREATE TABLE ring_b (id int PRIMARY KEY, a_id int REFERENCES ring_a (id));
ALTER TABLE ring_a ADD FOREIGN KEY (b_id) REFERENCES ring_b (id);
CREATE TABLE log_base (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE log_2024 PARTITION OF log_base FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE child ADD COLUMN legacy text DEFAULT 'x';
ALTER TABLE child ADD CONSTRAINT child_note_short CHECK (length(note) < 100);
ALTER TABLE child ADD CONSTRAINT child_note_key UNIQUE (note);
CREATE INDEX child_note_idx ON child (note);
CREATE INDEX child_legacy_idx ON child (legacy);
CREATE SEQUENCE counter START 5;
SELECT nextval('counter');
CREATE VIEW v_parent AS SELECT id, name FROM parent;
CREATE VIEW v_parent_ids AS SELECT id FROM v_parent;
CREATE MATERIALIZED VIEW mv_child AS SELECT id, legacy FROM child;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER child_touch BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION touch();
CREATE POLICY parent_all ON parent FOR SELECT USING (true);
"""
# Kinds the catalog reads from model version 3 on (functions, domains, composite types,
# comments, privileges): in the live database too, checked only when the catalog reads them.
NEWER_EXTRAS = """
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2 * x';
COMMENT ON TABLE parent IS 'people';
COMMENT ON COLUMN child.note IS 'free text';
GRANT SELECT ON parent TO pg_monitor;
"""
# A difference that is not an extra: the plan also builds a missing index.
MISSING = "CREATE INDEX parent_name_idx ON parent (name);"
KINDS_ON_MAIN = {"schema", "enum", "table", "column", "constraint", "index", "sequence", "view",
                 "trigger", "policy"}


def _live(db) -> None:
    run_sql(db, BASE + ROWS + EXTRAS + NEWER_EXTRAS)


def _reference(tmp_path):
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE + MISSING + "\n")
    return ref


def _counts(db) -> list[tuple]:
    return query(db, "SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM child)")


def _extras(diff: dict) -> set[tuple[str, str]]:
    return {(c["kind"], c["object"]) for c in diff["changes"]
            if c["bucket"] == "extra" and not c["cosmetic"]}


def test_extras_are_kept_and_reported_by_default(db, tmp_path):
    _live(db)
    ref = _reference(tmp_path)
    before = as_json(cli("diff", "--reference-sql", str(ref), "--json", spec=db))
    extras = _extras(before)
    assert KINDS_ON_MAIN <= {kind for kind, _ in extras}
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert plan["destructive"] == [] and plan["unsupported"] == []
    assert [s["target"]["name"] for s in plan["steps"]] == ["parent_name_idx"]
    assert {(k["kind"], k["object"]) for k in plan["kept"]} == extras
    assert all("--drop-extra" in k["why"] for k in plan["kept"])
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = as_json(cli("diff", "--reference-sql", str(ref), "--json", spec=db))
    assert _extras(after) == extras
    assert _counts(db) == [(200, 500)]
    verified = cli("verify", "--reference-sql", str(ref), "--plan", str(plan_path), "--json",
                   spec=db)
    assert verified.returncode == 0, verified.stdout[-2000:]


def _position(steps: list[dict], pattern: str) -> int:
    found = [i for i, s in enumerate(steps) if re.search(pattern, s["title"])]
    assert len(found) == 1, (pattern, [s["title"] for s in steps])
    return found[0]


def test_drop_extra_converges_exactly_in_reverse_dependency_order(db, tmp_path):
    _live(db)
    ref = _reference(tmp_path)
    extras = _extras(as_json(cli("diff", "--reference-sql", str(ref), "--json", spec=db)))
    plan_path = tmp_path / "plan.json"
    proc = cli("plan", "--reference-sql", str(ref), "--drop-extra", "--out", str(plan_path),
               "--sql", str(tmp_path / "plan.sql"), "--json", spec=db)
    assert proc.returncode == 3, proc.stderr
    plan = as_json(proc)
    steps = plan["steps"]
    assert plan["kept"] == [] and plan["unsupported"] == []
    # The missing index first, then only drops, each destructive with a probe.
    assert steps[0]["target"]["name"] == "parent_name_idx" and not steps[0]["destructive"]
    drops = steps[1:]
    assert drops and all(s["destructive"] and s["probe"] for s in drops)
    assert plan["destructive"] == [s["id"] for s in drops]
    # Tables and columns cannot be restored; the others carry a reverse that recreates them.
    for step in drops:
        if re.match(r"DROP (TABLE|COLUMN)", step["title"]):
            assert step["reverse"] == [] and "no reverse" in step["title"]
        else:
            assert step["reverse"], step["title"]
    order = [
        ("VIEW public.v_parent_ids", "VIEW public.v_parent$"),
        ("MATERIALIZED VIEW public.mv_child", "COLUMN public.child.legacy"),
        ("TRIGGER child_touch", "COLUMN public.child.legacy"),
        ("POLICY parent_all", "TABLE junk.log"),
        ("CONSTRAINT child_note_short", "INDEX CONCURRENTLY public.child_note_idx"),
        ("INDEX CONCURRENTLY public.child_legacy_idx", "COLUMN public.child.legacy"),
        ("TABLE public.audit_item", "TABLE public.audit "),
        ("TABLE junk.log", "TYPE junk.mood"),
        ("SEQUENCE public.counter", "TYPE junk.mood"),
        ("TYPE junk.mood", "SCHEMA junk"),
    ]
    for first, then in order:
        assert _position(drops, first) < _position(drops, then), (first, then)
    # The tables that reference each other go in one DROP TABLE; the partition goes with
    # its partitioned table (or, when the catalog does not read partitions, before it).
    ring = drops[_position(drops, "ring_a")]
    assert "ring_b" in ring["title"] and len(ring["sql"]) == 1
    if [s for s in drops if "log_2024" in s["title"]]:
        assert _position(drops, "log_2024") < _position(drops, "DROP TABLE public.log_base")

    before = fingerprint_and_counts(db)
    refused = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "destructive" in as_json(refused)["message"]
    assert fingerprint_and_counts(db) == before, "a refused apply changed the database"

    applied = cli("apply", str(plan_path), "--no-backup", "--allow-destructive", "--json",
                  spec=db)
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, [(c["bucket"], c["kind"], c["object"])
                                   for c in as_json(after)["changes"] if not c["cosmetic"]]
    assert _counts(db) == [(200, 500)]
    assert query(db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'junk'") == [(0,)]
    again = as_json(cli("apply", str(plan_path), "--no-backup", "--allow-destructive",
                        "--json", spec=db))
    assert again["changed"] is False
    replanned = as_json(cli("plan", "--reference-sql", str(ref), "--drop-extra", "--json",
                            spec=db))
    assert replanned["steps"] == []
    # Every kind the catalog reported as extra got its drop (or went with its table).
    assert {kind for kind, _ in extras} >= KINDS_ON_MAIN


def test_drop_schema_refused_before_any_change_when_it_holds_what_the_plan_keeps(db, tmp_path):
    """A range type is no kind of the model: DROP SCHEMA without CASCADE would fail on it,
    so the plan's precheck refuses the whole apply before its first statement."""
    _live(db)
    run_sql(db, "CREATE TYPE junk.span AS RANGE (subtype = int);")
    ref = _reference(tmp_path)
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--drop-extra", "--out",
                       str(plan_path), "--json", spec=db))
    [schema_step] = [s for s in plan["steps"] if s["title"].startswith("DROP SCHEMA junk")]
    assert query(db, schema_step["precheck"]) == [(1, "type span")]
    before = fingerprint_and_counts(db)
    refused = cli("apply", str(plan_path), "--no-backup", "--allow-destructive", "--json",
                  spec=db)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "type span" in as_json(refused)["message"]
    assert fingerprint_and_counts(db) == before
    run_sql(db, "DROP TYPE junk.span;")
    assert query(db, schema_step["precheck"]) == [(0, None)]


def test_catalog_kinds_of_model_3_are_dropped_when_read(db, tmp_path):
    """Functions, domains, composite types, comments and privileges: covered as soon as the
    catalog reads them (skipped, naming what is not read, before)."""
    _live(db)
    live = inspect_schema(db)
    read = {"function": live.functions, "domain": live.domains, "type": live.composite_types,
            "comment": live.comments, "privilege": live.privileges}
    if not all(read.values()):
        pytest.skip("the catalog does not read " + ", ".join(k for k, v in read.items() if not v))
    ref = _reference(tmp_path)
    extras = _extras(as_json(cli("diff", "--reference-sql", str(ref), "--json", spec=db)))
    assert {"function", "domain", "type", "comment", "privilege"} <= {k for k, _ in extras}
    plan_path = tmp_path / "plan.json"
    cli("plan", "--reference-sql", str(ref), "--drop-extra", "--out", str(plan_path), "--json",
        spec=db)
    applied = cli("apply", str(plan_path), "--no-backup", "--allow-destructive", "--json",
                  spec=db)
    assert applied.returncode == 0, applied.stdout[-3000:]
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, after.stdout[-3000:]


def test_reconcile_refuses_drop_extra_without_allow_destructive(db, tmp_path):
    _live(db)
    ref = _reference(tmp_path)
    before = fingerprint_and_counts(db)
    proc = cli("reconcile", "--reference-sql", str(ref), "--drop-extra", "--no-backup",
               "--report-dir", str(tmp_path / "reports"), "--json", spec=db)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = as_json(proc)
    assert error["error"] == "UsageError" and "--allow-destructive" in error["message"]
    assert "--allow-destructive" in proc.stderr
    assert fingerprint_and_counts(db) == before
    assert not (tmp_path / "reports").exists(), "refused before the run started"


def test_reconcile_with_drop_extra_converges(db, tmp_path):
    _live(db)
    ref = _reference(tmp_path)
    dry = cli("reconcile", "--reference-sql", str(ref), "--drop-extra", "--dry-run",
              "--report-dir", str(tmp_path / "dry"), "--json", spec=db)
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    assert as_json(dry)["plan"]["destructive"]
    proc = cli("reconcile", "--reference-sql", str(ref), "--drop-extra", "--allow-destructive",
               "--no-backup", "--report-dir", str(tmp_path / "reports"), "--json", spec=db)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = as_json(proc)
    assert report["ok"] is True
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, after.stdout[-3000:]
    assert _counts(db) == [(200, 500)]


@pytest.mark.slow
def test_ansible_plan_module_drop_extra_reaches_the_planner(db, tmp_path):
    _live(db)
    ref = _reference(tmp_path)

    def module(*args: str) -> dict:
        proc = ansible("ansible", "localhost", "-m", "pgreconcile_plan", "-a",
                       " ".join([f"reference_sql={ref}", "prove=false", "lint=false", *args]),
                       spec=db)
        found = re.search(r"^localhost \| (SUCCESS|CHANGED) => ", proc.stdout, re.MULTILINE)
        assert found, proc.stdout[-3000:] + proc.stderr[-3000:]
        return json.JSONDecoder().raw_decode(proc.stdout[found.end():])[0]

    kept = module()
    assert kept["destructive"] == [] and kept["plan"]["kept"]
    dropping = module("drop_extra=true", f"out_dir={tmp_path / 'out'}")
    assert dropping["destructive"] and dropping["plan"]["kept"] == []
    assert dropping["destructive"] == json.loads(
        (tmp_path / "out" / "plan.json").read_text())["destructive"]


@pytest.mark.slow
def test_ansible_role_refuses_drop_extra_without_allow_destructive(db, tmp_path):
    _live(db)
    before = fingerprint_and_counts(db)
    proc = ansible("ansible-playbook", "reconcile.yml", "-l", "local",
                   "-e", "reconcile_drop_extra=true", "-e", '{"reconcile_stages": ["plan"]}',
                   "-e", f"reconcile_report_dir={tmp_path / 'reports'}", spec=db)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "Refuse to drop what only live has" in proc.stdout
    assert "reconcile_allow_destructive=true" in " ".join(proc.stdout.split())
    assert fingerprint_and_counts(db) == before
    assert not (tmp_path / "reports").exists()


# --------------------------------------------------------------------------- pure planner
def _unit_pair() -> tuple[Schema, Schema]:
    """A live model with one extra object of each kind only a model can hold for sure (the
    catalog may or may not read them), and the expected model without them."""
    table = Table("public", "t", ())
    twice = Function("public", "twice", "x integer", "f", "integer", "sql",
                     "CREATE OR REPLACE FUNCTION public.twice(x integer)\n RETURNS "
                     "integer\n LANGUAGE sql\nAS $function$SELECT 2 * x$function$\n")
    expected = Schema(namespaces=("public",), tables=(table,), functions=(twice,))
    live = Schema(
        namespaces=("public",), tables=(table,),
        extensions=(Extension("citext", "public", "1.6"),),
        collations=(Collation("public", "german", "i", "de-DE", deterministic=False),),
        enums=(Enum("public", "mood", ("a", "b")),),
        domains=(Domain("public", "posint", "integer", checks=(
            DomainCheck("posint_check", "CHECK (VALUE > 0)"),)),),
        composite_types=(CompositeType("public", "pair", (
            TypeAttribute("a", "integer"), TypeAttribute("b", "text", "public.german"))),),
        functions=(twice,
                   Function("public", "tidy", "", "p", None, "sql",
                            "CREATE OR REPLACE PROCEDURE public.tidy()\n LANGUAGE sql\nAS "
                            "$procedure$SELECT 1$procedure$\n")),
        comments=(Comment("table", "public.t", "it's a table"),
                  Comment("function", "public.twice(x integer)", "doubles")),
        privileges=(Privilege("table", "public.t", "pg_monitor", ("INSERT", "SELECT"),
                              ("SELECT",)),
                    Privilege("table", "public.t", "PUBLIC", ("SELECT",))))
    return live, expected


def _unit_changes(live: Schema, expected: Schema):
    """The diff's extras, built by hand when this diff does not compare a kind yet."""
    from pgreconcile.schema.diff import Change, Diff
    diff = diff_schemas(live, expected)
    have = {(c.kind, c.object) for c in diff.changes}
    more = []
    for kind, objects, key in (
            ("collation", live.collations, lambda o: o.qualified_name),
            ("domain", live.domains, lambda o: o.qualified_name),
            ("type", live.composite_types, lambda o: o.qualified_name),
            ("function", live.functions, lambda o: o.qualified_name),
            ("comment", live.comments, lambda o: o.key),
            ("privilege", live.privileges, lambda o: o.key)):
        for o in objects:
            if (kind, key(o)) not in have and o not in getattr(expected, {
                    "type": "composite_types"}.get(kind, kind + "s")):
                table = None
                if kind == "privilege" or (kind == "comment" and o.kind == "table"):
                    table = o.object
                more.append(Change("extra", kind, key(o), table, live=o.to_dict()))
    return Diff(diff.changes + tuple(more))


def test_planner_keeps_every_kind_by_default_and_drops_them_all_with_drop_extra():
    live, expected = _unit_pair()
    diff = _unit_changes(live, expected)
    kept = make_plan(live, expected, diff)
    assert kept.steps == () and len(kept.kept) == len(diff.significant)
    plan = make_plan(live, expected, diff, drop_extra=True)
    assert plan.kept == () and plan.unsupported == ()
    sql = [s.sql[0] for s in plan.steps]
    assert sql == [
        'REVOKE ALL ON TABLE "public"."t" FROM PUBLIC',
        'REVOKE ALL ON TABLE "public"."t" FROM "pg_monitor"',
        'COMMENT ON FUNCTION "public"."twice"(x integer) IS NULL',
        'COMMENT ON TABLE "public"."t" IS NULL',
        'DROP PROCEDURE IF EXISTS "public"."tidy"()',
        'DROP TYPE IF EXISTS "public"."pair"',
        'DROP DOMAIN IF EXISTS "public"."posint"',
        'DROP TYPE IF EXISTS "public"."mood"',
        'DROP COLLATION IF EXISTS "public"."german"',
        'DROP EXTENSION IF EXISTS "citext"',
    ]
    assert all(s.destructive and s.probe.startswith("SELECT ") for s in plan.steps)
    reverse = {s.sql[0]: s.reverse for s in plan.steps}
    assert reverse['REVOKE ALL ON TABLE "public"."t" FROM "pg_monitor"'] == (
        'GRANT INSERT ON TABLE "public"."t" TO "pg_monitor"',
        'GRANT SELECT ON TABLE "public"."t" TO "pg_monitor" WITH GRANT OPTION')
    assert reverse['COMMENT ON TABLE "public"."t" IS NULL'] == (
        'COMMENT ON TABLE "public"."t" IS \'it\'\'s a table\'',)
    assert reverse['DROP TYPE IF EXISTS "public"."pair"'] == (
        'CREATE TYPE "public"."pair" AS ("a" integer, "b" text COLLATE public.german)',)
    assert reverse['DROP DOMAIN IF EXISTS "public"."posint"'] == (
        'CREATE DOMAIN "public"."posint" AS integer CONSTRAINT "posint_check" '
        'CHECK (VALUE > 0)',)
    assert reverse['DROP COLLATION IF EXISTS "public"."german"'] == (
        'CREATE COLLATION IF NOT EXISTS "public"."german" (provider = icu, '
        "locale = 'de-DE', deterministic = false)",)
    assert reverse['DROP EXTENSION IF EXISTS "citext"'] == (
        'CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA "public" VERSION \'1.6\'',)
    assert reverse['DROP PROCEDURE IF EXISTS "public"."tidy"()'][0].startswith(
        "CREATE OR REPLACE PROCEDURE public.tidy()")
    assert reverse['COMMENT ON FUNCTION "public"."twice"(x integer) IS NULL'] == (
        'COMMENT ON FUNCTION "public"."twice"(x integer) IS \'doubles\'',)


def test_a_comment_goes_with_its_dropped_function():
    live, expected = _unit_pair()
    expected = Schema(namespaces=expected.namespaces, tables=expected.tables)
    plan = make_plan(live, expected, _unit_changes(live, expected), drop_extra=True)
    assert [s.sql[0] for s in plan.steps if "twice" in s.sql[0]] == [
        'DROP FUNCTION IF EXISTS "public"."twice"(x integer)']
    assert plan.kept == ()


def test_planner_drops_nothing_that_goes_with_a_dropped_table():
    live, expected = _unit_pair()
    expected = Schema(namespaces=expected.namespaces, tables=expected.tables)
    gone = Table("public", "gone", ())
    live = Schema(namespaces=live.namespaces, tables=(*live.tables, gone),
                  comments=(Comment("table", "public.gone", "x"),),
                  privileges=(Privilege("table", "public.gone", "pg_monitor", ("SELECT",)),))
    diff = _unit_changes(live, expected)
    from pgreconcile.schema.diff import Change, Diff
    diff = Diff(diff.changes + (Change("extra", "column", "public.gone.c", "public.gone",
                                       live={"name": "c", "type": "text"}),))
    plan = make_plan(live, expected, diff, drop_extra=True)
    assert [s.sql for s in plan.steps] == [('DROP TABLE IF EXISTS "public"."gone"',)]
    assert plan.kept == () and plan.residual == ()


def test_every_kind_but_rls_has_a_drop_in_the_reverse_of_the_planner_order():
    from pgreconcile.plan.kinds.extra import _BUILDERS, DROP_ORDER
    from pgreconcile.schema.diff import KINDS
    assert set(DROP_ORDER) == set(_BUILDERS) == set(KINDS) - {"rls"}
    # Tables, columns and the database-wide kinds drop in the reverse of the order the
    # planner creates them; what hangs on a table or other object (grants, comments, views,
    # triggers, policies, constraints, indexes) drops before any of them.
    creates = [k for k in KINDS if k != "rls"]
    moved = {"comment", "privilege", "view", "trigger", "policy", "index", "constraint"}
    assert [k for k in DROP_ORDER if k not in moved] == \
        [k for k in reversed(creates) if k not in moved]
