"""Drift of sequences, domains, composite types, collations, extensions, comments,
privileges, partitions, inheritance and unlogged tables, end to end and in process.

Each case is a pair of SQL scripts, live and expected, run after the same base tables
(with rows live): the reference is inspected from a second database, the plan is applied
with the executor, and then live diffs empty against the reference, a second apply
changes nothing, a new plan has no step, and every row is still there."""
from __future__ import annotations

import secrets

import pytest

from pgreconcile.apply.executor import Executor
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.plan.planner import make_plan
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import diff_schemas

from .support import query, run_sql

BASE = """
CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0);
CREATE FUNCTION public.item_count(lim integer) RETURNS bigint LANGUAGE sql STABLE
    AS 'SELECT count(*) FROM public.item WHERE qty < lim';
"""
ROWS = "INSERT INTO item (name, qty) SELECT 'n' || g, g % 7 FROM generate_series(1, 300) g;"

LOADED = "CREATE TABLE loaded (id bigserial PRIMARY KEY, v text);"
ADDRESS = ("CREATE TYPE public.address AS (street text, zip integer);"
           "CREATE TABLE customer (id int PRIMARY KEY, home public.address);"
           "INSERT INTO customer SELECT g, ROW('s' || g, g)::public.address "
           "FROM generate_series(1, 40) g;")
CODE = ("CREATE DOMAIN public.code AS text;"
        "CREATE TABLE coded (id int PRIMARY KEY, c public.code);"
        "INSERT INTO coded SELECT g, 'c' || g FROM generate_series(1, 60) g;")
EVENT = ("CREATE TABLE event (id bigint NOT NULL, day date NOT NULL, kind text, "
         "PRIMARY KEY (id, day)) PARTITION BY RANGE (day);"
         "CREATE INDEX event_kind ON event (kind);"
         "CREATE TABLE event_2024 PARTITION OF event "
         "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');")
EVENT_ROWS = ("INSERT INTO event SELECT g, DATE '2024-01-01' + g, 'k' || (g % 3) "
              "FROM generate_series(1, 200) g;")
NOTE = ("CREATE TABLE base_note (id int PRIMARY KEY, body text, "
        "CONSTRAINT base_note_body_check CHECK (body <> ''));")

# name: (live, expected, allow_destructive), each run after BASE.
CASES = {
    "sequence behind max(id) after a data load": (
        LOADED + "INSERT INTO loaded (id, v) SELECT g, 'v' || g FROM generate_series(1, 250) g;",
        LOADED, False),
    "sequence increment changed": (
        "CREATE SEQUENCE public.ticket_no;",
        "CREATE SEQUENCE public.ticket_no INCREMENT 10 CACHE 5 MAXVALUE 1000000;", False),
    "sequence owned by nothing live": (
        "CREATE SEQUENCE public.ticket_no; CREATE TABLE ticket (no bigint);",
        "CREATE SEQUENCE public.ticket_no; CREATE TABLE ticket (no bigint);"
        "ALTER SEQUENCE public.ticket_no OWNED BY ticket.no;", False),
    "missing sequence": ("", "CREATE SEQUENCE public.ticket_no START 1000 CYCLE;", False),
    "missing domain": (
        "", "CREATE DOMAIN public.positive_int AS integer DEFAULT 1 NOT NULL "
            "CONSTRAINT positive_int_check CHECK (VALUE > 0);", False),
    "domain check added and default set": (
        CODE, CODE + "ALTER DOMAIN public.code ADD CONSTRAINT code_short "
                     "CHECK (length(VALUE) < 10); ALTER DOMAIN public.code SET DEFAULT 'x';",
        False),
    "domain check only live has": (
        CODE + "ALTER DOMAIN public.code ADD CONSTRAINT code_c CHECK (VALUE LIKE 'c%');",
        CODE, False),
    "composite type attribute added": (
        ADDRESS, ADDRESS + "ALTER TYPE public.address ADD ATTRIBUTE city text;", False),
    "composite type attribute dropped": (
        ADDRESS, ADDRESS + "ALTER TYPE public.address DROP ATTRIBUTE zip;", True),
    "domain check not validated live": (
        CODE + "ALTER DOMAIN public.code ADD CONSTRAINT code_short CHECK (length(VALUE) < 10) "
               "NOT VALID;",
        CODE + "ALTER DOMAIN public.code ADD CONSTRAINT code_short CHECK (length(VALUE) < 10);",
        False),
    "domain set not null": (CODE, CODE + "ALTER DOMAIN public.code SET NOT NULL;", False),
    "composite type attribute retyped while nothing stores it": (
        "CREATE TYPE public.pair AS (a integer, b text);",
        "CREATE TYPE public.pair AS (a bigint, b text);", False),
    "missing sequence of an existing column with rows": (
        "CREATE TABLE ticket (no bigint PRIMARY KEY);"
        "INSERT INTO ticket SELECT g FROM generate_series(1, 50) g;",
        "CREATE TABLE ticket (no bigint PRIMARY KEY);"
        "CREATE SEQUENCE public.ticket_no_seq OWNED BY ticket.no;", False),
    "missing table using a missing domain, type and collation": (
        "", "CREATE DOMAIN public.positive_int AS integer CHECK (VALUE > 0);"
            "CREATE TYPE public.pair AS (a integer, b text);"
            "CREATE COLLATION public.posix2 (provider = libc, lc_collate = 'C', "
            "lc_ctype = 'C');"
            "CREATE SEQUENCE public.shelf_no;"
            "CREATE TABLE shelf (id public.positive_int PRIMARY KEY, p public.pair, "
            "label text COLLATE public.posix2, "
            "no bigint DEFAULT nextval('public.shelf_no'));"
            "COMMENT ON TABLE shelf IS 'new';", False),
    "missing collation": (
        "", "CREATE COLLATION public.posix2 (provider = libc, lc_collate = 'C', "
            "lc_ctype = 'C');", False),
    "comments on table, column and function missing": (
        "", "COMMENT ON TABLE item IS 'what we sell';"
            "COMMENT ON COLUMN item.name IS 'the name''s label';"
            "COMMENT ON FUNCTION public.item_count(integer) IS 'items under a quantity';",
        False),
    "comment with another text": (
        "COMMENT ON TABLE item IS 'old';", "COMMENT ON TABLE item IS 'new';", False),
    "missing partition": (
        EVENT + EVENT_ROWS,
        EVENT + "CREATE TABLE event_2025 PARTITION OF event "
                "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
                "CREATE INDEX event_2025_day ON event_2025 (day);", False),
    "missing partitioned table with partitions": (
        "", EVENT + "CREATE TABLE event_rest PARTITION OF event DEFAULT;", False),
    "missing inheritance child": (
        NOTE, NOTE + "CREATE TABLE memo (pinned boolean, PRIMARY KEY (id)) "
                     "INHERITS (base_note);", False),
    "table inherits a parent in the reference": (
        NOTE + "CREATE TABLE memo (id int NOT NULL, body text, pinned boolean, "
               "CONSTRAINT base_note_body_check CHECK (body <> ''));"
               "INSERT INTO memo SELECT g, 'b', true FROM generate_series(1, 30) g;",
        NOTE + "CREATE TABLE memo (pinned boolean) INHERITS (base_note);", False),
    "unlogged table should be logged": (
        "CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);"
        "INSERT INTO cache SELECT 'k' || g, 'v' FROM generate_series(1, 100) g;",
        "CREATE TABLE cache (k text PRIMARY KEY, v text);", False),
    "logged table should be unlogged": (
        "CREATE TABLE cache (k text PRIMARY KEY, v text);"
        "INSERT INTO cache SELECT 'k' || g, 'v' FROM generate_series(1, 100) g;",
        "CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);", True),
}


def own_rows(spec) -> dict[str, int]:
    """Every table's own rows (ONLY: a parent's count leaves its children out)."""
    with spec.connect() as conn:
        names = [r[0] for r in conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")]
        return {name: conn.execute(f"SELECT count(*) FROM ONLY {name}").fetchone()[0]
                for name in names}


def converge(live_db, ref_db, *, allow_destructive: bool = False):
    """Plan against the reference, apply, and check: no drift left, rows kept, a second
    apply changes nothing, a new plan is empty. Returns the plan."""
    counts = own_rows(live_db)
    expected = inspect_schema(ref_db)
    live = inspect_schema(live_db)
    diff = diff_schemas(live, expected)
    assert not diff.is_empty, "the drift was not seen"
    plan = make_plan(live, expected, diff)
    assert plan.unsupported == (), plan.unsupported
    assert plan.steps
    options = ApplyOptions(allow_destructive=allow_destructive)
    result = Executor(live_db, plan, options).run()
    assert result.changed
    after = diff_schemas(inspect_schema(live_db), expected)
    assert after.is_empty, [(c.bucket, c.kind, c.object, c.attributes)
                            for c in after.significant]
    after_rows = own_rows(live_db)
    assert {k: after_rows.get(k) for k in counts} == counts
    again = Executor(live_db, plan, options).run()
    assert again.changed is False
    live = inspect_schema(live_db)
    assert make_plan(live, expected, diff_schemas(live, expected)).steps == ()
    return plan


@pytest.mark.parametrize("case", sorted(CASES))
def test_drift_converges_and_keeps_rows(case, make_db):
    live_sql, expected_sql, allow_destructive = CASES[case]
    live_db, ref_db = make_db("live"), make_db("ref")
    run_sql(live_db, BASE + ROWS + live_sql)
    run_sql(ref_db, BASE + expected_sql)
    plan = converge(live_db, ref_db, allow_destructive=allow_destructive)
    assert any(s.destructive for s in plan.steps) == allow_destructive


def test_sequence_behind_hands_out_free_ids_afterwards_and_never_moves_back(make_db):
    live_db, ref_db = make_db("live"), make_db("ref")
    run_sql(live_db, BASE + LOADED + "INSERT INTO loaded (id, v) SELECT g, 'v' "
                                     "FROM generate_series(1, 250) g;")
    run_sql(ref_db, BASE + LOADED)
    plan = converge(live_db, ref_db)
    (step,) = plan.steps
    assert "setval" in step.sql[0] and step.reverse == ()
    assert query(live_db, "INSERT INTO loaded (v) VALUES ('new') RETURNING id") == [(251,)]
    # Already past the column: the step's probe is true, running its SQL keeps it there.
    run_sql(live_db, "SELECT setval('public.loaded_id_seq', 5000)")
    run_sql(live_db, step.sql[0])
    assert query(live_db, "SELECT last_value FROM public.loaded_id_seq") == [(5000,)]
    assert query(live_db, step.probe) == [(True,)]


def test_privileges_granted_and_revoked(make_db, server):
    reader, writer = (f"pgr_test_{role}_{secrets.token_hex(3)}" for role in ("ro", "rw"))
    live_db, ref_db = make_db("live"), make_db("ref")
    run_sql(server, f'CREATE ROLE "{reader}"; CREATE ROLE "{writer}"')
    try:
        run_sql(live_db, BASE + ROWS + f'GRANT SELECT, DELETE ON item TO "{reader}";'
                                       f'GRANT SELECT ON item TO "{writer}";')
        run_sql(ref_db, BASE + f'GRANT SELECT ON item TO "{reader}";'
                               f'GRANT SELECT, INSERT ON item TO "{writer}" WITH GRANT OPTION;'
                               f'GRANT USAGE ON SEQUENCE item_id_seq TO "{writer}";'
                               "GRANT SELECT ON item TO PUBLIC;")
        live, expected = inspect_schema(live_db), inspect_schema(ref_db)
        plan = make_plan(live, expected, diff_schemas(live, expected))
        revokes = [s for s in plan.steps if s.sql[0].startswith("REVOKE")]
        assert [s.destructive for s in revokes] == [True]
        assert not any(s.destructive for s in plan.steps if s not in revokes)
        converge(live_db, ref_db, allow_destructive=True)
        assert query(live_db, f"SELECT has_table_privilege('{reader}', 'item', 'DELETE'), "
                              f"has_table_privilege('{writer}', 'item', "
                              "'INSERT WITH GRANT OPTION')") == [(False, True)]
    finally:
        for spec in (live_db, ref_db):
            run_sql(spec, f'DROP OWNED BY "{reader}", "{writer}"')
        run_sql(server, f'DROP ROLE "{reader}"; DROP ROLE "{writer}"')


def test_grant_to_a_role_missing_on_the_server_is_refused_before_any_change(make_db, server):
    role = f"pgr_test_gone_{secrets.token_hex(3)}"
    live_db, ref_db = make_db("live"), make_db("ref")
    run_sql(server, f'CREATE ROLE "{role}"')
    try:
        run_sql(live_db, BASE)
        run_sql(ref_db, BASE + f'GRANT SELECT ON item TO "{role}";')
        live, expected = inspect_schema(live_db), inspect_schema(ref_db)
        plan = make_plan(live, expected, diff_schemas(live, expected))
    finally:
        run_sql(ref_db, f'DROP OWNED BY "{role}"')
        run_sql(server, f'DROP ROLE "{role}"')
    with pytest.raises(Exception, match=role):
        Executor(live_db, plan, ApplyOptions()).run()
    assert query(live_db, "SELECT relacl IS NULL FROM pg_class WHERE relname = 'item'") == [
        (True,)]


def test_extension_update_to_the_reference_version(make_db):
    live_db, ref_db = make_db("live"), make_db("ref")
    found = query(live_db, "SELECT e.name, p.source, p.target FROM pg_available_extensions e, "
                           "pg_extension_update_paths(e.name) p WHERE e.name IN ('citext', "
                           "'cube', 'hstore', 'pg_trgm', 'seg', 'ltree', 'isn') AND "
                           "p.target = e.default_version AND p.path = p.source || '--' || "
                           "p.target ORDER BY e.name, p.source DESC LIMIT 1")
    if not found:
        pytest.skip("no extension with two versions (and an update path) is on this server")
    name, old, new = found[0]
    run_sql(live_db, BASE + ROWS + f"CREATE EXTENSION {name} VERSION '{old}'")
    run_sql(ref_db, BASE + f"CREATE EXTENSION {name} VERSION '{new}'")
    live, expected = inspect_schema(live_db), inspect_schema(ref_db)
    plan = make_plan(live, expected, diff_schemas(live, expected))
    (step,) = plan.steps
    assert step.destructive and step.reverse == ()
    with pytest.raises(Exception, match="destructive"):
        Executor(live_db, plan, ApplyOptions()).run()
    converge(live_db, ref_db, allow_destructive=True)
    assert query(live_db, "SELECT extversion FROM pg_extension WHERE extname = %s",
                 (name,)) == [(new,)]
    # Back to the old version: no downgrade script, refused before anything changes.
    old_db = make_db("old")
    run_sql(old_db, BASE + f"CREATE EXTENSION {name} VERSION '{old}'")
    live, expected = inspect_schema(live_db), inspect_schema(old_db)
    down = make_plan(live, expected, diff_schemas(live, expected))
    with pytest.raises(Exception, match="no update path"):
        Executor(live_db, down, ApplyOptions(allow_destructive=True)).run()
    assert query(live_db, "SELECT extversion FROM pg_extension WHERE extname = %s",
                 (name,)) == [(new,)]


def test_extension_moved_back_to_its_schema(make_db):
    live_db, ref_db = make_db("live"), make_db("ref")
    if not query(live_db, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = "
                          "'vector')")[0][0]:
        pytest.skip("the relocatable extension vector is not installed on this server")
    run_sql(live_db, BASE + ROWS + "CREATE SCHEMA ext; CREATE EXTENSION vector SCHEMA public;")
    run_sql(ref_db, BASE + "CREATE SCHEMA ext; CREATE EXTENSION vector SCHEMA ext;")
    plan = converge(live_db, ref_db)
    (step,) = plan.steps
    assert step.sql == ('ALTER EXTENSION "vector" SET SCHEMA "ext"',)
