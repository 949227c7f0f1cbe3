"""Every object kind of model v3 read from a real database, and diffed without false
positives: a pg_dump/pg_restore copy of a database holding all of them diffs empty, the
same schema built with other generated names diffs cosmetic only, and each kind's drift is
reported as the planner expects it (missing / extra / different with its attributes)."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from pgreconcile.pg.scratch import drop_database
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import KINDS, Diff, describe_side, diff_schemas
from pgreconcile.schema.model import (
    Collation,
    Comment,
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
