"""Every object kind of model v3 read from a real database, and diffed without false
positives: a pg_dump/pg_restore copy of a database holding all of them diffs empty, the
same schema built with other generated names diffs cosmetic only, and each kind's drift is
reported as the planner expects it (missing / extra / different with its attributes)."""
from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pgreconcile.pg.scratch import drop_database
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import KINDS, Diff, describe_side, diff_schemas
from pgreconcile.schema.model import (
    Collation,
    CompositeType,
    Domain,
    DomainCheck,
    Privilege,
    Schema,
    TypeAttribute,
)

from .support import TEST_DB_PREFIX, query, restore_copy, run_sql

# {role} is the test's role, {n} a suffix for every name PostgreSQL or Django would
# generate (constraints, indexes, domain checks): the "other names" build changes it.
ALL_KINDS = """
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'the application';
CREATE COLLATION app.plain (provider = libc, locale = 'C');
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.positive_int AS integer NOT NULL DEFAULT 1
    CONSTRAINT positive_int_check{n} CHECK (VALUE > 0)
    CONSTRAINT positive_int_small{n} CHECK (VALUE < 1000000);
CREATE DOMAIN app.code AS text COLLATE "C" CHECK (VALUE ~ '^[A-Z]');
CREATE TYPE app.money_pair AS (amount numeric(12,2), currency char(3), note text COLLATE "C");
CREATE TABLE app.account (
    id bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL COLLATE app.plain,
    mood app.mood NOT NULL DEFAULT 'ok',
    balance app.positive_int,
    code app.code,
    pair app.money_pair,
    name_len integer GENERATED ALWAYS AS (length(name)) STORED,
    CONSTRAINT account_pkey{n} PRIMARY KEY (id),
    CONSTRAINT account_name_key{n} UNIQUE (name)
);
CREATE INDEX account_mood_idx{n} ON app.account (mood) WHERE mood <> 'sad';
CREATE TABLE app.event (
    id serial,
    day date NOT NULL,
    account_id bigint,
    payload jsonb,
    CONSTRAINT event_pkey{n} PRIMARY KEY (id, day),
    CONSTRAINT event_account_fk{n} FOREIGN KEY (account_id) REFERENCES app.account (id),
    CONSTRAINT event_day_check{n} CHECK (day > '2000-01-01')
) PARTITION BY RANGE (day);
CREATE TABLE app.event_2024 PARTITION OF app.event
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.event_2025 PARTITION OF app.event
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.event_other PARTITION OF app.event DEFAULT;
CREATE INDEX event_account_idx{n} ON app.event (account_id);
CREATE INDEX event_2024_payload_idx{n} ON app.event_2024 USING gin (payload);
CREATE TABLE app.region_sales (region text NOT NULL, amount integer) PARTITION BY LIST (region);
CREATE TABLE app.region_sales_eu PARTITION OF app.region_sales FOR VALUES IN ('de', 'fr');
CREATE TABLE app.region_sales_us PARTITION OF app.region_sales (
    CONSTRAINT us_amount_check{n} CHECK (amount > 0)) FOR VALUES IN ('us');
CREATE TABLE app.hashed (id integer NOT NULL) PARTITION BY HASH (id);
CREATE TABLE app.hashed_0 PARTITION OF app.hashed FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE app.hashed_1 PARTITION OF app.hashed FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE app.animal (
    id serial,
    name text NOT NULL,
    CONSTRAINT animal_pkey{n} PRIMARY KEY (id),
    CONSTRAINT animal_name_check{n} CHECK (name <> '')
);
CREATE TABLE app.pet_tag (tag text);
CREATE TABLE app.dog (bark text DEFAULT 'woof') INHERITS (app.animal);
CREATE TABLE app.cat (lives integer NOT NULL DEFAULT 9, CONSTRAINT cat_pkey{n} PRIMARY KEY (id))
    INHERITS (app.animal, app.pet_tag);
CREATE INDEX cat_name_idx{n} ON app.cat (name);
CREATE UNLOGGED TABLE app.cache (k text, v text, CONSTRAINT cache_pkey{n} PRIMARY KEY (k));
CREATE SEQUENCE app.ticket_seq AS integer START 100 INCREMENT 5 MINVALUE 100 MAXVALUE 100000
    CACHE 10 CYCLE;
CREATE TABLE public.note (id serial PRIMARY KEY, body text);
CREATE VIEW app.account_names AS SELECT id, name FROM app.account;
CREATE VIEW app.name_lengths AS
    SELECT n.id, length(n.name) AS len, t.body FROM app.account_names n
    LEFT JOIN public.note t ON t.id = n.id;
CREATE MATERIALIZED VIEW app.event_counts AS
    SELECT account_id, count(*) AS n FROM app.event GROUP BY account_id;
CREATE UNIQUE INDEX event_counts_account_idx{n} ON app.event_counts (account_id);
CREATE FUNCTION app.add(a integer, b integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE FUNCTION app.add(a numeric, b numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE FUNCTION app.trim_name() RETURNS trigger LANGUAGE plpgsql
    AS $$BEGIN NEW.name := btrim(NEW.name); RETURN NEW; END$$;
CREATE FUNCTION app.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE FUNCTION app.by_mood(m app.mood) RETURNS SETOF app.account
    LANGUAGE sql STABLE AS $$ SELECT * FROM app.account WHERE mood = m $$;
CREATE PROCEDURE app.clear_cache(p_key text DEFAULT NULL) LANGUAGE plpgsql
    AS $$BEGIN DELETE FROM app.cache WHERE p_key IS NULL OR k = p_key; END$$;
CREATE AGGREGATE app.total(integer) (SFUNC = int4pl, STYPE = integer, INITCOND = '0');
CREATE TRIGGER account_trim BEFORE INSERT OR UPDATE ON app.account
    FOR EACH ROW EXECUTE FUNCTION app.trim_name();
CREATE TRIGGER event_noop AFTER INSERT ON app.event FOR EACH ROW EXECUTE FUNCTION app.noop();
ALTER TABLE app.account ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_happy ON app.account FOR SELECT TO {role} USING (mood = 'happy');
COMMENT ON TABLE app.account IS 'who pays';
COMMENT ON COLUMN app.account.name IS 'display name';
COMMENT ON TABLE app.event IS 'partitioned by day';
COMMENT ON TABLE app.event_2024 IS 'last year';
COMMENT ON VIEW app.account_names IS 'names only';
COMMENT ON COLUMN app.account_names.name IS 'view column';
COMMENT ON MATERIALIZED VIEW app.event_counts IS 'per account';
COMMENT ON SEQUENCE app.ticket_seq IS 'tickets';
COMMENT ON FUNCTION app.add(integer, integer) IS 'integer sum';
COMMENT ON PROCEDURE app.clear_cache(text) IS 'empties the cache';
COMMENT ON TYPE app.mood IS 'how it feels';
COMMENT ON TYPE app.money_pair IS 'an amount and its currency';
COMMENT ON DOMAIN app.positive_int IS 'above zero';
COMMENT ON CONSTRAINT account_name_key{n} ON app.account IS 'not modelled';
COMMENT ON INDEX app.account_mood_idx{n} IS 'not modelled';
GRANT SELECT, INSERT ON app.account TO {role};
GRANT SELECT ON app.account_names TO {role} WITH GRANT OPTION;
GRANT USAGE, SELECT ON SEQUENCE app.ticket_seq TO {role};
GRANT SELECT ON app.event TO PUBLIC;
GRANT SELECT ON app.event_counts TO {role};
INSERT INTO app.account (name, code) VALUES (' alice ', 'A1'), ('bob', NULL);
INSERT INTO app.event (day, account_id, payload)
    VALUES ('2024-03-01', 1, '{{"a": 1}}'), ('2025-03-01', 2, NULL), ('2030-01-01', 1, NULL);
INSERT INTO app.animal (name) VALUES ('generic');
INSERT INTO app.dog (name) VALUES ('rex');
INSERT INTO app.cat (name, tag) VALUES ('tom', 'grey');
INSERT INTO public.note (body) VALUES ('hello');
SELECT nextval('app.ticket_seq');
REFRESH MATERIALIZED VIEW app.event_counts;
"""

EXTENSIONS = ("pgcrypto", "citext")


@pytest.fixture(scope="module")
def role(server) -> Iterator[str]:
    """A role of this module's own (cluster-wide), dropped after its databases."""
    name = f"{TEST_DB_PREFIX}kinds_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with server.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def databases(server, role) -> Iterator:
    """make(label): a new empty database (template0) of this module; all dropped at the end
    (before the role their grants name)."""
    created: list[str] = []

    def make(label: str):
        name = f"{TEST_DB_PREFIX}{label}_{secrets.token_hex(4)}"
        with server.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                sql.Identifier(name)))
        created.append(name)
        return server.with_dbname(name)

    yield make
    for name in created:
        drop_database(server, name)


def _available(spec, names) -> list[str]:
    rows = query(spec, "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
                 (list(names),))
    found = {r[0] for r in rows}
    return [n for n in names if n in found]


def build_all_kinds(spec, role: str, suffix: str = "") -> dict:
    """ALL_KINDS in `spec`, plus the extensions and the ICU collation the server has.
    Returns what was skipped, with the reason."""
    run_sql(spec, ALL_KINDS.format(role=sql.Identifier(role).as_string(None), n=suffix))
    skipped = {}
    extensions = _available(spec, EXTENSIONS)
    for name in EXTENSIONS:
        if name not in extensions:
            skipped[name] = "extension not available on this server"
    for name in extensions:
        run_sql(spec, f"CREATE EXTENSION {name} SCHEMA public")
    if "citext" in extensions:
        run_sql(spec, "ALTER TABLE public.note ADD COLUMN email public.citext")
    try:
        run_sql(spec, "CREATE COLLATION app.nocase (provider = icu, "
                      "locale = 'und-u-ks-level2', deterministic = false)")
    except psycopg.errors.FeatureNotSupported as e:
        skipped["icu"] = f"server built without ICU ({e})"
    else:
        run_sql(spec, "ALTER TABLE public.note ADD COLUMN title text COLLATE app.nocase")
    return skipped


@pytest.fixture(scope="module")
def all_kinds(databases, role):
    spec = databases("kinds")
    skipped = build_all_kinds(spec, role)
    return spec, skipped


@pytest.fixture(scope="module")
def schema(all_kinds) -> Schema:
    return inspect_schema(all_kinds[0])


def _significant(diff: Diff) -> list[dict]:
    return [c.to_dict() for c in diff.significant]


# -- no false positives --------------------------------------------------------------

def test_dump_restore_copy_of_every_kind_diffs_empty(all_kinds, schema, databases,
                                                     server_major, tmp_path):
    spec, skipped = all_kinds
    copy = databases("kinds_restored")
    restore_copy(spec, copy, server_major, tmp_path / "kinds.dump")
    restored = inspect_schema(copy)
    diff = diff_schemas(restored, schema)
    assert diff.changes == (), [c.to_dict() for c in diff.changes]
    assert restored.fingerprint() == schema.fingerprint()
    # the copy holds every kind (not an empty diff of two empty schemas)
    summary = restored.summary()
    for kind in ("tables", "sequences", "enums", "views", "triggers", "functions", "domains",
                 "composite_types", "collations", "comments", "privileges", "policies"):
        assert summary[kind] > 0, kind
    assert "pgcrypto" in skipped or any(e.name == "pgcrypto" for e in restored.extensions)


def test_same_schema_with_other_generated_names_is_cosmetic_only(schema, databases, role):
    other = databases("kinds_renamed")
    build_all_kinds(other, role, suffix="_x")
    diff = diff_schemas(inspect_schema(other), schema)
    assert diff.is_empty, _significant(diff)
    assert diff.cosmetic  # the names did change
    assert {c.kind for c in diff.cosmetic} <= {"constraint", "index", "domain"}


def test_database_diffed_against_itself_is_empty(all_kinds, schema):
    assert diff_schemas(inspect_schema(all_kinds[0]), schema).changes == ()


def test_json_round_trip_keeps_every_kind(schema):
    again = Schema.from_dict(schema.to_dict())
    assert again == schema


# -- reading each kind ---------------------------------------------------------------

def test_tables_read_partitioning_inheritance_and_persistence(schema):
    event = schema.table("app.event")
    assert event.partition_key == "RANGE (day)"
    assert event.partition_of is None and event.inherits == ()
    p2024 = schema.table("app.event_2024")
    assert p2024.partition_of == "app.event"
    assert p2024.partition_bound == "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    assert p2024.partition_key is None
    assert schema.table("app.event_other").partition_bound == "DEFAULT"
    assert schema.table("app.region_sales").partition_key == "LIST (region)"
    assert schema.table("app.region_sales_eu").partition_bound == \
        "FOR VALUES IN ('de', 'fr')"
    assert schema.table("app.hashed_1").partition_bound == \
        "FOR VALUES WITH (modulus 2, remainder 1)"
    assert schema.table("app.cat").inherits == ("app.animal", "app.pet_tag")
    assert schema.table("app.dog").inherits == ("app.animal",)
    assert schema.table("app.cat").partition_of is None
    assert schema.table("app.cache").unlogged
    assert not schema.table("app.account").unlogged


def test_sequences_read_last_value_and_indexed_column_max(schema):
    ticket = next(s for s in schema.sequences if s.name == "ticket_seq")
    assert (ticket.data_type, ticket.start, ticket.increment, ticket.minimum, ticket.maximum,
            ticket.cache, ticket.cycle) == ("integer", 100, 5, 100, 100000, 10, True)
    # one nextval with CACHE 10 logs the end of the cached range: 100 + 9 * 5
    assert ticket.last_value == 145 and ticket.column_max is None and not ticket.behind
    note = next(s for s in schema.sequences if s.name == "note_id_seq")
    assert note.owned_by == "public.note.id"
    assert (note.last_value, note.column_max, note.behind) == (1, 1, False)
    # event.id leads the primary key (id, day) of the partitioned table
    event = next(s for s in schema.sequences if s.name == "event_id_seq")
    assert (event.last_value, event.column_max) == (3, 3)
    # the canonical form leaves the state out
    assert "last_value" not in schema.canonical()["sequences"][0]


def test_sequence_column_max_needs_an_index_and_sees_the_behind_drift(db):
    run_sql(db, "CREATE TABLE t (id serial PRIMARY KEY, n serial);"
                "INSERT INTO t (id, n) VALUES (5, 7), (9, 8);")
    seqs = {s.name: s for s in inspect_schema(db).sequences}
    assert (seqs["t_id_seq"].last_value, seqs["t_id_seq"].column_max) == (None, 9)
    assert seqs["t_id_seq"].behind
    assert seqs["t_n_seq"].column_max is None  # n leads no index: not read
    assert not seqs["t_n_seq"].behind
    run_sql(db, "SELECT setval('t_id_seq', 9)")
    seq = next(s for s in inspect_schema(db).sequences if s.name == "t_id_seq")
    assert (seq.last_value, seq.column_max, seq.behind) == (9, 9, False)


def test_views_read_what_they_depend_on(schema):
    views = {v.qualified_name: v for v in schema.views}
    assert views["app.account_names"].depends_on == ("app.account",)
    assert views["app.name_lengths"].depends_on == ("app.account_names", "public.note")
    assert views["app.event_counts"].depends_on == ("app.event",)
    assert views["app.event_counts"].materialized


def test_functions_procedures_and_overloads(schema):
    functions = {f.qualified_name: f for f in schema.functions}
    assert set(functions) >= {"app.add(a integer, b integer)", "app.add(a numeric, b numeric)",
                              "app.trim_name()", "app.noop()", "app.by_mood(m app.mood)",
                              "app.clear_cache(IN p_key text)", "app.total(integer)"}
    add = functions["app.add(a integer, b integer)"]
    assert (add.kind, add.returns, add.language) == ("f", "integer", "sql")
    assert add.definition.startswith("CREATE OR REPLACE FUNCTION app.add(a integer, b integer)")
    assert "SELECT a + b" in add.definition
    proc = functions["app.clear_cache(IN p_key text)"]
    assert (proc.kind, proc.returns, proc.language) == ("p", None, "plpgsql")
    assert "DELETE FROM app.cache" in proc.definition
    assert functions["app.by_mood(m app.mood)"].returns == "SETOF app.account"
    total = functions["app.total(integer)"]
    assert (total.kind, total.definition) == ("a", "")
    # extension functions are left out (pgcrypto's digest, citext's functions)
    assert not [f for f in schema.functions if f.schema == "public"]


def test_domains_composite_types_and_collations(schema):
    domains = {d.qualified_name: d for d in schema.domains}
    assert domains["app.positive_int"] == Domain(
        schema="app", name="positive_int", base_type="integer", not_null=True, default="1",
        collation=None, checks=(DomainCheck("positive_int_check", "CHECK ((VALUE > 0))"),
                                DomainCheck("positive_int_small",
                                            "CHECK ((VALUE < 1000000))")))
    code = domains["app.code"]
    assert (code.base_type, code.collation, code.not_null) == ("text", '"C"', False)
    assert [c.definition for c in code.checks] == ["CHECK ((VALUE ~ '^[A-Z]'::text))"]
    assert schema.composite_types == (CompositeType("app", "money_pair", (
        TypeAttribute("amount", "numeric(12,2)"), TypeAttribute("currency", "character(3)"),
        TypeAttribute("note", "text", '"C"'))),)
    collations = {c.qualified_name: c for c in schema.collations}
    assert collations["app.plain"] == Collation("app", "plain", provider="c", locale=None,
                                                lc_collate="C", lc_ctype="C")
    if "app.nocase" in collations:
        assert collations["app.nocase"] == Collation(
            "app", "nocase", provider="i", locale="und-u-ks-level2", deterministic=False)


def test_comments_on_every_kind_but_constraints_and_indexes(schema):
    assert {c.key: c.text for c in schema.comments} == {
        "schema:app": "the application",
        "schema:public": "standard public schema",
        "table:app.account": "who pays",
        "column:app.account.name": "display name",
        "table:app.event": "partitioned by day",
        "table:app.event_2024": "last year",
        "view:app.account_names": "names only",
        "column:app.account_names.name": "view column",
        "view:app.event_counts": "per account",
        "sequence:app.ticket_seq": "tickets",
        "function:app.add(a integer, b integer)": "integer sum",
        "function:app.clear_cache(IN p_key text)": "empties the cache",
        "type:app.mood": "how it feels",
        "type:app.money_pair": "an amount and its currency",
        "domain:app.positive_int": "above zero",
    }
    assert all(c.kind in ("schema", "table", "column", "view", "sequence", "function",
                          "type", "domain") for c in schema.comments)


def test_privileges_per_grantee_without_the_owners(schema, role):
    assert schema.privileges == (
        Privilege("table", "app.account", role, ("INSERT", "SELECT")),
        Privilege("view", "app.account_names", role, ("SELECT",), ("SELECT",)),
        Privilege("table", "app.event", "PUBLIC", ("SELECT",)),
        Privilege("view", "app.event_counts", role, ("SELECT",)),
        Privilege("sequence", "app.ticket_seq", role, ("SELECT", "USAGE")),
    )


# -- the diff of each kind -------------------------------------------------------------

@pytest.fixture
def drift(make_db):
    """drift(base, live=, expected=): base SQL in two new databases, then each side's own
    statements; the diff of live against expected."""
    def run(base: str, live: str = "", expected: str = "") -> Diff:
        sides = []
        for label, extra in (("live", live), ("expected", expected)):
            spec = make_db(label)
            run_sql(spec, base)
            if extra:
                run_sql(spec, extra)
            sides.append(inspect_schema(spec))
        return diff_schemas(*sides)
    return run


def _summary(diff: Diff) -> set[tuple]:
    """(bucket, kind, object, attributes) of every significant change."""
    return {(c.bucket, c.kind, c.object, c.attributes) for c in diff.significant}


FUNCTIONS = """
CREATE FUNCTION f(a integer) RETURNS integer LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION f(a text) RETURNS text LANGUAGE sql AS 'SELECT a';
"""


def test_function_overloads_missing_extra_and_different(drift):
    diff = drift(FUNCTIONS,
                 live="DROP FUNCTION f(text);"
                      "CREATE FUNCTION g() RETURNS integer LANGUAGE sql AS 'SELECT 1';"
                      "CREATE OR REPLACE FUNCTION f(a integer) RETURNS integer "
                      "LANGUAGE sql AS 'SELECT a + 1'")
    assert _summary(diff) == {
        ("missing", "function", "public.f(a text)", ()),
        ("extra", "function", "public.g()", ()),
        ("different", "function", "public.f(a integer)", ("definition",)),
    }
    change = next(c for c in diff.changes if c.bucket == "missing")
    assert change.table is None and change.expected["returns"] == "text"
    assert describe_side("function", change.expected) == \
        "FUNCTION public.f(a text) RETURNS text LANGUAGE sql"


def test_function_result_and_language_are_attributes(drift):
    diff = drift("",
                 live="CREATE FUNCTION h(a integer) RETURNS bigint LANGUAGE plpgsql "
                      "AS $$BEGIN RETURN a; END$$",
                 expected="CREATE FUNCTION h(a integer) RETURNS integer LANGUAGE sql "
                          "AS 'SELECT a'")
    [change] = diff.significant
    assert (change.kind, change.object) == ("function", "public.h(a integer)")
    assert change.attributes == ("definition", "returns", "language")


DOMAINS = """
CREATE DOMAIN amount AS numeric(12,2) NOT NULL DEFAULT 0 CONSTRAINT amount_positive
    CHECK (VALUE >= 0);
CREATE DOMAIN label AS text;
"""


def test_domain_missing_extra_and_each_attribute(drift):
    diff = drift(DOMAINS,
                 live="DROP DOMAIN label; CREATE DOMAIN extra_d AS integer;"
                      "ALTER DOMAIN amount DROP NOT NULL; ALTER DOMAIN amount SET DEFAULT 1;"
                      "ALTER DOMAIN amount DROP CONSTRAINT amount_positive;"
                      "ALTER DOMAIN amount ADD CONSTRAINT amount_positive CHECK (VALUE > 0)")
    assert _summary(diff) == {
        ("missing", "domain", "public.label", ()),
        ("extra", "domain", "public.extra_d", ()),
        ("different", "domain", "public.amount", ("not_null", "default", "checks")),
    }
    change = next(c for c in diff.changes if c.bucket == "different")
    assert describe_side("domain", change.expected) == \
        "numeric(12,2) DEFAULT 0 NOT NULL CHECK ((VALUE >= (0)::numeric))"


def test_domain_check_under_another_name_is_cosmetic(drift):
    diff = drift("", live="CREATE DOMAIN d AS integer CONSTRAINT d_one CHECK (VALUE > 0)",
                 expected="CREATE DOMAIN d AS integer CONSTRAINT d_two CHECK (VALUE > 0)")
    assert diff.is_empty
    [change] = diff.cosmetic
    assert (change.kind, change.attributes) == ("domain", ("checks",))


def test_domain_base_type_and_not_valid_check(drift):
    diff = drift("", live="CREATE DOMAIN d AS integer; CREATE TABLE t (v d);"
                          "INSERT INTO t VALUES (-1);"
                          "ALTER DOMAIN d ADD CONSTRAINT d_check CHECK (VALUE > 0) NOT VALID;"
                          "CREATE DOMAIN e AS varchar(10)",
                 expected="CREATE DOMAIN d AS integer CONSTRAINT d_check CHECK (VALUE > 0);"
                          "CREATE TABLE t (v d); CREATE DOMAIN e AS varchar(20)")
    assert _summary(diff) == {("different", "domain", "public.d", ("checks",)),
                              ("different", "domain", "public.e", ("base_type",))}


def test_composite_type_missing_extra_and_attributes(drift):
    diff = drift("CREATE TYPE pair AS (a integer, b text)",
                 live="ALTER TYPE pair ADD ATTRIBUTE c date; CREATE TYPE other AS (x int)",
                 expected="CREATE TYPE triple AS (a int, b int, c int)")
    assert _summary(diff) == {
        ("different", "type", "public.pair", ("attributes",)),
        ("extra", "type", "public.other", ()),
        ("missing", "type", "public.triple", ()),
    }
    change = next(c for c in diff.changes if c.bucket == "different")
    assert describe_side("type", change.live) == "(a integer, b text, c date)"


def test_collation_missing_extra_and_different(drift):
    diff = drift("CREATE COLLATION c1 (provider = libc, locale = 'C')",
                 live="CREATE COLLATION c2 (provider = libc, locale = 'C');"
                      "DROP COLLATION c1; CREATE COLLATION c1 (provider = libc, "
                      "lc_collate = 'C', lc_ctype = 'POSIX')",
                 expected="CREATE COLLATION c3 (provider = libc, locale = 'POSIX')")
    assert _summary(diff) == {
        ("different", "collation", "public.c1", ("lc_ctype",)),
        ("extra", "collation", "public.c2", ()),
        ("missing", "collation", "public.c3", ()),
    }
    change = next(c for c in diff.changes if c.bucket == "missing")
    assert describe_side("collation", change.expected) == "provider libc, lc_collate POSIX"


COMMENTED = """
CREATE TABLE t (id integer PRIMARY KEY, name text);
CREATE VIEW v AS SELECT id FROM t;
COMMENT ON TABLE t IS 'the table';
COMMENT ON COLUMN t.name IS 'a name';
"""


def test_comments_missing_extra_and_different(drift):
    diff = drift(COMMENTED,
                 live="COMMENT ON COLUMN t.name IS 'the name'; COMMENT ON TABLE t IS NULL;"
                      "COMMENT ON VIEW v IS 'live only';"
                      "CREATE TABLE x (id int); COMMENT ON TABLE x IS 'extra table'")
    assert _summary(diff) == {
        ("missing", "comment", "table:public.t", ()),
        ("different", "comment", "column:public.t.name", ("text",)),
        ("extra", "comment", "view:public.v", ()),
        ("extra", "table", "public.x", ()),  # its comment goes with it
    }
    tables = {c.object: c.table for c in diff.changes if c.kind == "comment"}
    assert tables == {"table:public.t": "public.t", "column:public.t.name": "public.t",
                      "view:public.v": None}
    change = next(c for c in diff.changes if c.object == "column:public.t.name")
    assert describe_side("comment", change.live) == "'the name'"


def test_privileges_missing_extra_and_different(drift, role):
    r = sql.Identifier(role).as_string(None)
    base = f"""CREATE TABLE t (id int); CREATE VIEW v AS SELECT id FROM t;
               CREATE SEQUENCE s; GRANT SELECT, INSERT ON t TO {r};"""
    diff = drift(base,
                 live=f"REVOKE INSERT ON t FROM {r}; GRANT SELECT ON v TO {r};"
                      f"GRANT USAGE ON SEQUENCE s TO PUBLIC;"
                      f"CREATE TABLE x (id int); GRANT SELECT ON x TO {r}",
                 expected=f"GRANT UPDATE ON SEQUENCE s TO {r} WITH GRANT OPTION")
    assert _summary(diff) == {
        ("different", "privilege", f"public.t:{role}", ("privileges",)),
        ("extra", "privilege", "public.v:" + role, ()),
        ("extra", "privilege", "public.s:PUBLIC", ()),
        ("missing", "privilege", f"public.s:{role}", ()),
        ("extra", "table", "public.x", ()),  # its grant goes with it
    }
    tables = {c.object: c.table for c in diff.changes if c.kind == "privilege"}
    assert tables[f"public.t:{role}"] == "public.t" and tables[f"public.s:{role}"] is None
    change = next(c for c in diff.changes if c.object == f"public.s:{role}")
    assert describe_side("privilege", change.expected) == \
        f"UPDATE to {role} (WITH GRANT OPTION: UPDATE)"


def test_grant_option_alone_is_an_attribute(drift, role):
    r = sql.Identifier(role).as_string(None)
    diff = drift("CREATE TABLE t (id int)", live=f"GRANT SELECT ON t TO {r}",
                 expected=f"GRANT SELECT ON t TO {r} WITH GRANT OPTION")
    assert _summary(diff) == {("different", "privilege", f"public.t:{role}", ("grantable",))}


def test_sequence_behind_its_column_is_reported(drift):
    base = "CREATE TABLE t (id serial PRIMARY KEY, v int)"
    diff = drift(base, live="INSERT INTO t (id, v) VALUES (1, 1), (2, 2)")
    [change] = diff.significant
    assert (change.bucket, change.kind, change.object, change.table, change.attributes) == (
        "different", "sequence", "public.t_id_seq", "public.t", ("behind",))
    assert (change.live["last_value"], change.live["column_max"]) == (None, 2)
    assert "max(public.t.id) = 2" in change.risk
    # the other way round (the reference is the one behind) is no drift
    assert drift(base, expected="INSERT INTO t (id, v) VALUES (1, 1)").changes == ()


def test_sequence_options_and_behind_together(drift):
    diff = drift("CREATE TABLE t (id serial PRIMARY KEY)",
                 live="ALTER SEQUENCE t_id_seq INCREMENT 10 CACHE 5;"
                      "INSERT INTO t VALUES (7)")
    assert _summary(diff) == {
        ("different", "sequence", "public.t_id_seq", ("increment", "cache", "behind"))}


def test_extension_version_is_significant(drift, make_db):
    versions = query(make_db("probe"),
                     "SELECT version FROM pg_available_extension_versions "
                     "WHERE name = 'citext' ORDER BY version")
    if len(versions) < 2:
        pytest.skip("citext with two installable versions is not available")
    old, new = versions[-2][0], versions[-1][0]
    try:
        diff = drift("", live=f"CREATE EXTENSION citext VERSION '{old}'",
                     expected=f"CREATE EXTENSION citext VERSION '{new}'")
    except psycopg.Error as e:
        pytest.skip(f"citext {old} cannot be installed here: {e}")
    assert _summary(diff) == {("different", "extension", "citext", ("version",))}


# -- tables: partitions, inheritance, unlogged ---------------------------------------

PARTITIONED = """
CREATE TABLE ev (id bigint NOT NULL, day date NOT NULL, note text,
                 CONSTRAINT ev_pkey PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX ev_day_idx ON ev (day);
INSERT INTO ev VALUES (1, '2024-05-01', 'a'), (2, '2025-05-01', 'b');
"""


def test_missing_partition_is_one_table_change(drift):
    diff = drift(PARTITIONED, live="DROP TABLE ev_2025")
    [change] = diff.significant
    assert (change.bucket, change.kind, change.object, change.table) == (
        "missing", "table", "public.ev_2025", "public.ev_2025")
    assert change.expected["partition_of"] == "public.ev"
    assert change.expected["partition_bound"] == \
        "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
    assert "PARTITION OF public.ev" in change.risk
    assert describe_side("table", change.expected) == (
        "table public.ev_2025 PARTITION OF public.ev FOR VALUES FROM ('2025-01-01') TO "
        "('2026-01-01') (3 columns)")


def test_parent_drift_is_reported_on_the_parent_only(drift):
    diff = drift(PARTITIONED, live="ALTER TABLE ev DROP COLUMN note; DROP INDEX ev_day_idx;"
                                   "ALTER TABLE ev ALTER COLUMN id TYPE integer;"
                                   "ALTER TABLE ev ADD CONSTRAINT ev_id_check CHECK (id > 0)")
    assert _summary(diff) == {
        ("missing", "column", "public.ev.note", ()),
        ("missing", "index", "public.ev.ev_day_idx", ()),
        ("different", "column", "public.ev.id", ("type",)),
        ("extra", "constraint", "public.ev.ev_id_check", ()),
    }


def test_partition_own_index_and_column_default_are_its_own(drift):
    diff = drift(PARTITIONED, live="CREATE INDEX ev_2024_note_idx ON ev_2024 (note);"
                                   "ALTER TABLE ev_2025 ALTER COLUMN note SET DEFAULT 'x'")
    assert _summary(diff) == {
        ("extra", "index", "public.ev_2024.ev_2024_note_idx", ()),
        ("different", "column", "public.ev_2025.note", ("default",)),
    }


def test_detached_partition_and_other_bound(drift):
    diff = drift(PARTITIONED, live="ALTER TABLE ev DETACH PARTITION ev_2025;"
                                   "ALTER TABLE ev DETACH PARTITION ev_2024;"
                                   "ALTER TABLE ev ATTACH PARTITION ev_2024 "
                                   "FOR VALUES FROM ('2023-01-01') TO ('2025-01-01')")
    assert _summary(diff) == {
        ("different", "table", "public.ev_2025", ("partition_of", "partition_bound")),
        ("different", "table", "public.ev_2024", ("partition_bound",)),
    }


def test_unlogged_and_partition_key_are_table_attributes(drift):
    diff = drift("CREATE TABLE c (k text PRIMARY KEY);"
                 "CREATE TABLE p (a int, b int)",
                 live="ALTER TABLE c SET UNLOGGED; DROP TABLE p;"
                      "CREATE TABLE p (a int, b int) PARTITION BY LIST (a)",
                 expected="DROP TABLE p; CREATE TABLE p (a int, b int) PARTITION BY RANGE (b)")
    assert _summary(diff) == {
        ("different", "table", "public.c", ("unlogged",)),
        ("different", "table", "public.p", ("partition_key",)),
    }
    change = next(c for c in diff.changes if c.object == "public.c")
    assert describe_side("table", change.live).startswith("UNLOGGED table public.c")


INHERITED = """
CREATE TABLE animal (id integer PRIMARY KEY, name text NOT NULL,
                     CONSTRAINT animal_name_check CHECK (name <> ''));
CREATE TABLE tag (tag text);
CREATE TABLE dog (bark text, CONSTRAINT dog_pkey PRIMARY KEY (id)) INHERITS (animal);
"""


def test_inheritance_child_missing_and_no_inherit(drift):
    diff = drift(INHERITED + "CREATE TABLE cat (lives int) INHERITS (animal, tag);",
                 live="DROP TABLE cat; ALTER TABLE dog NO INHERIT animal")
    assert _summary(diff) == {
        ("missing", "table", "public.cat", ()),
        ("different", "table", "public.dog", ("inherits",)),
        # without the parent, dog's check is its own: the local copy stays behind
    }
    change = next(c for c in diff.changes if c.object == "public.cat")
    assert change.expected["inherits"] == ["public.animal", "public.tag"]


def test_inheritance_parent_check_and_column_reported_once(drift):
    diff = drift(INHERITED, live="ALTER TABLE animal DROP CONSTRAINT animal_name_check;"
                                 "ALTER TABLE animal ADD COLUMN age int;"
                                 "CREATE INDEX dog_name_idx ON dog (name)")
    assert _summary(diff) == {
        ("missing", "constraint", "public.animal.animal_name_check", ()),
        ("extra", "column", "public.animal.age", ()),
        # indexes are not inherited: the child's own index is the child's drift
        ("extra", "index", "public.dog.dog_name_idx", ()),
    }


def test_views_carry_what_they_depend_on(drift):
    diff = drift("CREATE TABLE t (id int); CREATE TABLE u (id int)",
                 expected="CREATE VIEW v AS SELECT t.id FROM t JOIN u USING (id)")
    [change] = diff.significant
    assert change.expected["depends_on"] == ["public.t", "public.u"]


# -- every kind renders ----------------------------------------------------------------

def test_every_kind_has_a_readable_one_liner_and_renders(all_kinds, schema, make_db, role):
    from io import StringIO

    from rich.console import Console

    from pgreconcile.cli.render import render

    empty = make_db("empty")
    diff = diff_schemas(inspect_schema(empty), schema)
    kinds = {c.kind for c in diff.changes}
    assert kinds >= {"schema", "collation", "enum", "domain", "type", "sequence", "function",
                     "table", "view", "comment", "privilege"}
    assert kinds <= set(KINDS)
    for change in diff.changes:
        line = describe_side(change.kind, change.expected)
        assert line and "\n" not in line and not line.startswith("{"), (change.kind, line)
    console = Console(file=StringIO(), width=120)
    result = {**diff.to_dict(), "database": empty.dbname, "reference": "all kinds"}
    render("diff", result, console=console)
    out = console.file.getvalue()
    assert "app.add(a integer, b integer)" in out and "SELECT to PUBLIC" in out
    reverse = diff_schemas(schema, inspect_schema(empty))
    assert {c.bucket for c in reverse.significant} == {"extra"}
    assert not [c for c in reverse.changes if c.kind in ("comment", "privilege")]
