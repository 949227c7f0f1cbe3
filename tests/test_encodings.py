"""Issue 13, point 10: databases that are not UTF8 go through every stage.

A LATIN1 and an SQL_ASCII database, each with non-ASCII names (schema, table, columns,
a check constraint, an index) and text that is not UTF-8 (LATIN1 `é` stored as the one
byte 0xe9; in SQL_ASCII raw bytes that are no valid UTF-8 at all), are driven through the
CLI: backup with its test restore → inspect → diff → plan → apply → verify → diff again,
and a `reconcile` that writes the report files. The reference is another database of the
wanted shape in the same encoding (`--reference-dsn`).
"""
from __future__ import annotations

import json
import secrets

import pytest
from psycopg import sql

from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import (
    database_locale,
    drop_database,
    list_scratch_databases,
    scratch_database,
)

from .support import TEST_DB_PREFIX, as_json, cli, query, run_sql

SCHEMA, TABLE = "schéma", "tâble_ü"
MISSING_COLUMN, MISSING_INDEX = "straße", "idx_größe"
CHECK = "chk_größe_positiv"

# Both databases: the table with a non-ASCII check constraint and unique index.
_BASE = f"""
CREATE SCHEMA "{SCHEMA}";
CREATE TABLE "{SCHEMA}"."{TABLE}" (
    id int PRIMARY KEY,
    "naïve" text NOT NULL,
    "größe" int NOT NULL,
    CONSTRAINT "{CHECK}" CHECK ("größe" > 0)
);
CREATE UNIQUE INDEX "uq_naïve_größe" ON "{SCHEMA}"."{TABLE}" ("naïve", "größe");
"""
# What live lacks: a column and an index, both with non-ASCII names.
_WANTED = f"""
ALTER TABLE "{SCHEMA}"."{TABLE}" ADD COLUMN "{MISSING_COLUMN}" text;
CREATE INDEX "{MISSING_INDEX}" ON "{SCHEMA}"."{TABLE}" ("größe");
"""
# Text that is not UTF-8 in the database, built on the server so no client conversion
# touches it: in LATIN1 'café' is the byte 0xe9 at the end; in SQL_ASCII the same byte,
# and 0xff, are stored raw (SQL_ASCII validates nothing but NUL).
RAW = "636166e9ff"  # 'caf', 0xe9, 0xff: é ÿ in LATIN1, no valid UTF-8 in SQL_ASCII
_ROWS = f"""
INSERT INTO "{SCHEMA}"."{TABLE}" (id, "naïve", "größe")
SELECT g, convert_from('\\x{RAW}'::bytea, getdatabaseencoding()) || ' ' || g, g
FROM generate_series(1, 50) g;
"""


def _create(server: ConnectionSpec, encoding: str, label: str) -> ConnectionSpec:
    name = f"{TEST_DB_PREFIX}enc_{label}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} "
                             "LC_COLLATE 'C' LC_CTYPE 'C'").format(
            sql.Identifier(name), sql.Literal(encoding)))
    return server.with_dbname(name)


def _raw(spec: ConnectionSpec) -> list[tuple[int, str]]:
    """Every row's text as the database stores it, byte for byte (hex)."""
    return query(spec, sql.SQL(
        "SELECT id, encode(convert_to({c}, pg_encoding_to_char(d.encoding)), 'hex') "
        "FROM {t}, pg_database d WHERE d.datname = current_database() ORDER BY id").format(
            c=sql.Identifier("naïve"), t=sql.Identifier(SCHEMA, TABLE)).as_string())


def _utf8(path) -> str:
    data = path.read_bytes()
    return data.decode("utf-8")  # raises on a file that is not valid UTF-8


@pytest.fixture(scope="module", params=["LATIN1", "SQL_ASCII"])
def encoded(request, server):
    """(encoding, live, second live, reference): live twice, drifted the same way."""
    encoding = request.param
    made = []
    try:
        ref = _create(server, encoding, "ref")
        made.append(ref)
        lives = []
        for label in ("live", "live2"):
            spec = _create(server, encoding, label)
            made.append(spec)
            lives.append(spec)
        for spec in (*lives, ref):
            with spec.connect() as conn:
                conn.execute(_BASE)
                conn.execute(_ROWS)
        run_sql(ref, _WANTED)
        yield encoding, lives[0], lives[1], ref
    finally:
        for spec in made:
            drop_database(server, spec.dbname)


def test_stages_keep_names_and_bytes(encoded, tmp_path, server):
    encoding, live, _, ref = encoded
    before = _raw(live)
    assert before[0][1] == RAW + "2031", before[0]  # 'caf\xe9\xff 1'
    scratch_before = set(list_scratch_databases(server))
    refdsn = ["--reference-dsn", ref.conninfo()]

    backup = cli("backup", "--out-dir", str(tmp_path / "b"), "--test-restore", "--json",
                 spec=live)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    made = as_json(backup)
    assert made["test_restore"]["ok"] is True
    assert made["row_counts"][f"{SCHEMA}.{TABLE}"] == 50
    assert set(list_scratch_databases(server)) == scratch_before

    # A restore into a new database gets the source's encoding: the bytes come back as
    # they were (a SQL_ASCII dump does not even load into UTF8).
    restored = f"{live.dbname}_r"
    try:
        proc = cli("restore", made["path"], "--target-db", restored, "--json", spec=live)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        copy = server.with_dbname(restored)
        assert query(copy, "SELECT getdatabaseencoding()") == [(encoding,)]
        assert _raw(copy) == before
    finally:
        drop_database(server, restored)

    inspected = cli("inspect", "--json", spec=live)
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    text = json.dumps(as_json(inspected)["schema"], ensure_ascii=False)
    for name in (SCHEMA, TABLE, "naïve", "größe", CHECK, "uq_naïve_größe"):
        assert name in text, name

    diff = cli("diff", *refdsn, "--json", spec=live)
    assert diff.returncode == 3, diff.stdout + diff.stderr
    found = json.dumps(as_json(diff), ensure_ascii=False)
    assert MISSING_COLUMN in found and MISSING_INDEX in found

    plan_path = tmp_path / "plan.json"
    plan = cli("plan", *refdsn, "--out", str(plan_path), "--sql", str(tmp_path / "plan.sql"),
               "--json", spec=live)
    assert plan.returncode == 3, plan.stdout + plan.stderr
    script = _utf8(tmp_path / "plan.sql")
    assert f'"{MISSING_COLUMN}"' in script and f'"{MISSING_INDEX}"' in script
    assert MISSING_INDEX in json.dumps(json.loads(_utf8(plan_path)), ensure_ascii=False)

    applied = cli("apply", str(plan_path), "--backup", made["path"], "--json", spec=live)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    # verify diffs live with the reference again (empty now) and compares row counts
    # with the backup's manifest.
    verified = cli("verify", *refdsn, "--backup", made["path"], "--json", spec=live)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert as_json(verified)["ok"] is True

    assert _raw(live) == before  # the bytes that are not UTF-8 are untouched
    cols = query(live, "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                       "AND attnum > 0 AND NOT attisdropped",
                 (sql.Identifier(SCHEMA, TABLE).as_string(),))
    assert MISSING_COLUMN in {c[0] for c in cols}


def test_reconcile_writes_utf8_reports(encoded, tmp_path):
    encoding, _, live, ref = encoded
    before = _raw(live)
    reports = tmp_path / "reports"
    proc = cli("reconcile", "--reference-dsn", ref.conninfo(), "--out-dir", str(tmp_path / "b"),
               "--report-dir", str(reports), "--no-migrate", "--json", spec=live)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = {p.suffix: p for p in reports.rglob("report.*")}
    assert {".json", ".md", ".html"} <= set(files), sorted(reports.rglob("*"))
    report = json.loads(_utf8(files[".json"]))
    assert MISSING_COLUMN in json.dumps(report, ensure_ascii=False)
    for path in (files[".md"], files[".html"]):
        assert MISSING_COLUMN in _utf8(path), path
    assert report["status"] == "ok", report.get("status")
    assert _raw(live) == before


def test_sql_ascii_duplicates_are_refused_with_their_bytes(server, tmp_path):
    """A unique constraint the reference has, over live values that are not UTF-8: the
    precheck's sample cannot be sent to a UTF8 client as it is. It used to be skipped (and
    the index build then failed); now apply refuses before any change, naming the bytes."""
    live, ref = (_create(server, "SQL_ASCII", label) for label in ("duplive", "dupref"))
    try:
        table = sql.Identifier(SCHEMA, TABLE).as_string()
        for spec in (live, ref):
            run_sql(spec, f'CREATE SCHEMA "{SCHEMA}"; CREATE TABLE {table} '
                          '(id int PRIMARY KEY, "naïve" text)')
        run_sql(live, f"INSERT INTO {table} SELECT g, convert_from('\\xe9ff'::bytea, "
                      "'SQL_ASCII') FROM generate_series(1, 3) g")
        run_sql(ref, f'ALTER TABLE {table} ADD CONSTRAINT "uq_naïve" UNIQUE ("naïve")')
        plan_path = tmp_path / "plan.json"
        planned = cli("plan", "--reference-dsn", ref.conninfo(), "--out", str(plan_path),
                      "--json", spec=live)
        assert planned.returncode == 3, planned.stdout + planned.stderr
        refused = cli("apply", str(plan_path), "--no-backup", "--json", spec=live)
        assert refused.returncode == 4, refused.stdout + refused.stderr
        error = as_json(refused)
        # By default the rows are named by key (values may be personal data) ...
        assert error["error"] == "Refused" and "id = 1, 2, 3" in error["message"], error
        assert "\\351" not in error["message"], error
        # ... and --show-samples shows the bytes themselves, escaped.
        shown = cli("apply", str(plan_path), "--no-backup", "--show-samples", "--json",
                    spec=live)
        assert shown.returncode == 4, shown.stdout + shown.stderr
        assert "\\351\\377" in as_json(shown)["message"], as_json(shown)
        assert not query(live, "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = "
                               "i.indexrelid WHERE c.relname = 'uq_naïve'")
    finally:
        for spec in (live, ref):
            drop_database(server, spec.dbname)


def test_sql_ascii_name_that_is_not_utf8_is_a_clear_error(server):
    """A SQL_ASCII database keeps any bytes, also in names a LATIN1 client made; the
    catalog cannot be read as UTF-8 then: one error saying so, never a traceback."""
    live = _create(server, "SQL_ASCII", "badname")
    try:
        run_sql(live, "DO $$ BEGIN EXECUTE format('CREATE TABLE %I (a int)', "
                      "convert_from('\\x74e9'::bytea, 'SQL_ASCII')); END $$")
        proc = cli("inspect", "--json", spec=live)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        error = as_json(proc)
        assert error["error"] == "CatalogNotUtf8" and "UTF-8" in error["message"], error
        assert error["hint"] and "Traceback" not in proc.stderr
    finally:
        drop_database(server, live.dbname)


@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII"])
def test_scratch_database_takes_the_source_encoding(server, encoding):
    """pg/scratch: database_locale() of a database, given to scratch_database(), makes
    the scratch database in that encoding and locale (test restore, preflight clone)."""
    source = _create(server, encoding, "src")
    try:
        with source.connect() as conn:
            locale = database_locale(conn)
        assert locale["encoding"] == encoding and locale["lc_collate"] == "C"
        with scratch_database(server, "enc", locale=locale) as scratch:
            assert query(scratch, "SELECT getdatabaseencoding(), datcollate, datctype FROM "
                                  "pg_database WHERE datname = current_database()") == [
                (encoding, "C", "C")]
    finally:
        drop_database(server, source.dbname)
