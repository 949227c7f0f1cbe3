"""The identifier corpus (issue 13): schemas, tables, columns, indexes and constraints whose
names hold double and single quotes, spaces, upper case, unicode, reserved words, `;`, `--`
and `$$`, and 63-byte names (NAMEDATALEN - 1, multi-byte characters at the limit), run
through the CLI: backup → diff → plan → apply → verify → diff again → rollback.

The reference is a second database built by SQL (`--reference-dsn`); live is the same
shape, drifted: a missing column, index, constraint and table and a changed default, in
hostile schemas, including a schema-per-tenant pair (the same table and index names in two
schemas, only one drifted: every statement must name the right one).
"""
from __future__ import annotations

import json
import secrets

import pytest
from psycopg import sql

from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database
from pgreconcile.plan.sqltext import ident, qualified

from .support import TEST_DB_PREFIX, as_json, cli, fingerprint_and_counts, query, run_sql

# -- the corpus --------------------------------------------------------------------------
#: The drifted tenant and its untouched twin: same table, index and constraint names.
TENANT = 'tenant "a"; -- $$\'x\''
TWIN = "Tenant B é 日本 😀"
RESERVED = "select"                 # a schema named by a reserved word
LONG = "s" * 61 + "é"               # 63 bytes, the last character two bytes wide
TABLE = "order"                      # reserved
COL_USER = "user"                    # reserved
COL_QTY = "Qty É [red]x[/]"          # upper case, space, unicode, console markup
COL_NEW = "col.1;--$$'\"x\""           # the column the drifted tenant lacks
#: HTML must stay text in a report; SQL words in a name must stay part of the name.
INDEX = "user idx 😀 \"q\" <b>&amp; DROP INDEX CONCURRENTLY"
CHECK = "chk 'q' \"x\" ;--"
LONG_TABLE = "日本" * 10 + "t" * 3   # 63 bytes
LONG_COL = "é" * 31 + "c"            # 63 bytes, multi-byte at the limit
LONG_INDEX = "i" * 60 + "日"         # 63 bytes, multi-byte at the limit
UNIQ = "ü" * 31 + "u"                # 63 bytes: a unique constraint whose columns differ
LONG_NN = "日" * 21                  # 63 bytes: NOT NULL live lacks (derived names too long)
MISSING_TABLE = "table.v2"             # reserved, missing live
QUOTED_COL = 'na"me'
INDEX2 = 'Idx "Q" 2'                # an index whose columns differ in the drifted tenant
FK = 'fk "x"; --'                    # a foreign key live lacks, between hostile schemas
ROWS = 50

for _name in (LONG, LONG_TABLE, LONG_COL, LONG_INDEX, LONG_NN, UNIQ):
    assert len(_name.encode()) == 63, _name


def _tenant_sql(schema: str, *, drifted: bool) -> str:
    t = qualified(schema, TABLE)
    cols = ["id int PRIMARY KEY", f"{ident(COL_USER)} text",
            f"{ident(COL_QTY)} int DEFAULT {7 if drifted else 5}"]
    if not drifted:
        cols.append(f"{ident(COL_NEW)} text")
    out = [f"CREATE SCHEMA {ident(schema)}", f"CREATE TABLE {t} ({', '.join(cols)})"]
    keys = ident(COL_QTY) + ("" if drifted else f", {ident(COL_USER)}")
    out.append(f"CREATE INDEX {ident(INDEX2)} ON {t} ({keys})")
    if not drifted:
        out += [f"CREATE INDEX {ident(INDEX)} ON {t} ({ident(COL_USER)})",
                f"ALTER TABLE {t} ADD CONSTRAINT {ident(CHECK)} CHECK ({ident(COL_QTY)} >= 0)"]
    return ";\n".join(out)


def _shape(*, drifted: bool) -> str:
    long_t = qualified(LONG, LONG_TABLE)
    parts = [_tenant_sql(TENANT, drifted=drifted), _tenant_sql(TWIN, drifted=False),
             f"CREATE SCHEMA {ident(RESERVED)}", f"CREATE SCHEMA {ident(LONG)}",
             f"CREATE TABLE {long_t} (id int PRIMARY KEY, {ident(LONG_NN)} text"
             + (" NOT NULL" if not drifted else "")
             + ("" if drifted else f", {ident(LONG_COL)} int")
             + f", CONSTRAINT {ident(UNIQ)} UNIQUE ({ident(LONG_NN)}"
             + ("" if drifted else ", id") + "))"]
    if not drifted:
        parts += [f"CREATE INDEX {ident(LONG_INDEX)} ON {long_t} ({ident(LONG_COL)})",
                  f"CREATE TABLE {qualified(RESERVED, MISSING_TABLE)} (id int PRIMARY KEY, "
                  f"{ident(QUOTED_COL)} text NOT NULL DEFAULT 'it''s')",
                  # A missing table with a serial column: sequence names PostgreSQL derives.
                  f"CREATE TABLE {qualified(LONG, LONG_NN)} ({ident(LONG_COL)} bigserial "
                  f"PRIMARY KEY, {ident(COL_USER)} int REFERENCES {long_t} (id))",
                  f"ALTER TABLE {qualified(TENANT, TABLE)} ADD CONSTRAINT {ident(FK)} "
                  f"FOREIGN KEY (id) REFERENCES {long_t} (id)"]
    return ";\n".join(parts)


def _rows(spec: ConnectionSpec) -> None:
    for schema in (TENANT, TWIN):
        run_sql(spec, f"INSERT INTO {qualified(schema, TABLE)} (id, {ident(COL_USER)}) "
                      f"SELECT g, 'u' || g FROM generate_series(1, {ROWS}) g")
    run_sql(spec, f"INSERT INTO {qualified(LONG, LONG_TABLE)} (id, {ident(LONG_NN)}) "
                  f"SELECT g, 'v' || g FROM generate_series(1, {ROWS}) g")


def _create(server: ConnectionSpec, label: str) -> ConnectionSpec:
    name = f"{TEST_DB_PREFIX}ids_{label}_{secrets.token_hex(4)}"
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
            sql.Identifier(name)))
    return server.with_dbname(name)


def _objects(spec: ConnectionSpec, schema: str) -> list[tuple]:
    """Every column, index and constraint of `schema`'s tables, with definitions and OIDs:
    what "untouched" means for the twin tenant."""
    return query(spec, """
        SELECT 'col', c.oid::int, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               pg_get_expr(d.adbin, d.adrelid)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
         WHERE n.nspname = %(s)s
        UNION ALL
        SELECT 'idx', x.oid::int, x.relname, pg_get_indexdef(x.oid), '', ''
          FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
          JOIN pg_namespace n ON n.oid = x.relnamespace WHERE n.nspname = %(s)s
        UNION ALL
        SELECT 'con', k.oid::int, k.conname, pg_get_constraintdef(k.oid), '', ''
          FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
         WHERE n.nspname = %(s)s
         ORDER BY 1, 3, 4""", {"s": schema})


@pytest.fixture(scope="module")
def pair(server):
    """(live, reference): live drifted from the reference in the hostile schemas."""
    live, reference = _create(server, "live"), _create(server, "ref")
    try:
        run_sql(reference, _shape(drifted=False))
        run_sql(live, _shape(drifted=True))
        _rows(live)
        yield live, reference
    finally:
        drop_database(server, live.dbname)
        drop_database(server, reference.dbname)


def _diff(live: ConnectionSpec, reference: ConnectionSpec) -> tuple[int, dict]:
    proc = cli("diff", "--json", "--reference-dsn", reference.conninfo(), spec=live)
    return proc.returncode, as_json(proc)


def test_hostile_names_backup_diff_plan_apply_verify_rollback(pair, tmp_path):
    from pgreconcile.apply.revert import revert_plan
    from pgreconcile.plan.steps import Plan
    live, reference = pair
    original, twin = fingerprint_and_counts(live), _objects(live, TWIN)

    backup = cli("backup", "--json", "--out-dir", str(tmp_path / "backups"), spec=live)
    assert backup.returncode == 0, backup.stderr
    manifest = as_json(backup)
    assert manifest["path"]

    code, diff = _diff(live, reference)
    assert code == 3, diff
    drift = {(c["kind"], c["bucket"], c["object"]) for c in diff["changes"]
             if not c.get("cosmetic")}
    tenant = f"{TENANT}.{TABLE}"
    expected = {("column", "missing", f"{tenant}.{COL_NEW}"),
                ("table", "missing", f"{RESERVED}.{MISSING_TABLE}"),
                ("table", "missing", f"{LONG}.{LONG_NN}"),
                ("constraint", "missing", f"{TENANT}.{TABLE}.{FK}"),
                ("column", "missing", f"{LONG}.{LONG_TABLE}.{LONG_COL}"),
                ("column", "different", f"{LONG}.{LONG_TABLE}.{LONG_NN}"),
                ("constraint", "different", f"{LONG}.{LONG_TABLE}.{UNIQ}")}
    assert expected <= drift, drift
    # Nothing is reported for the twin tenant: its objects match by schema, not by name.
    assert not [d for d in drift if TWIN in d[2]], drift
    kinds = {(k, b) for k, b, o in drift if o.startswith(tenant)}
    assert {("index", "missing"), ("index", "different"), ("constraint", "missing"),
            ("column", "different")} <= kinds, drift

    # The text a person reads (not --json): names are text, never console markup.
    proc = cli("diff", "--reference-dsn", reference.conninfo(), spec=live)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert COL_QTY in proc.stdout and LONG_NN in proc.stdout, proc.stdout

    out = tmp_path / "plan.json"
    proc = cli("plan", "--json", "--reference-dsn", reference.conninfo(), "--out", str(out),
               "--sql", str(tmp_path / "plan.sql"), spec=live)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    plan = Plan.from_dict(json.loads(out.read_text()))
    assert plan.steps and not any(s.destructive for s in plan.steps), plan.steps
    # Every DROP INDEX (the swap's and the reverses) names its schema: the twin tenant has
    # indexes of the same names.
    drops = [r for s in plan.steps for r in (*s.sql, *s.reverse) if "DROP INDEX" in r]
    assert drops and all(f"{ident(TENANT)}." in r or f"{ident(LONG)}." in r
                         for r in drops), drops

    proc = cli("apply", str(out), "--no-backup", "--json", spec=live)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert as_json(proc)["changed"] is True

    proc = cli("verify", "--json", "--reference-dsn", reference.conninfo(),
               "--plan", str(out), "--backup", manifest["path"], spec=live)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code, diff = _diff(live, reference)
    assert code == 0 and diff["empty"], [c for c in diff["changes"] if not c.get("cosmetic")]
    _, counts = fingerprint_and_counts(live)
    assert counts == {**original[1], f"{RESERVED}.{MISSING_TABLE}": 0,
                      f"{LONG}.{LONG_NN}": 0}          # rows preserved
    assert _objects(live, TWIN) == twin                # the twin tenant untouched
    assert query(live, f"SELECT count(*) FROM {qualified(TENANT, TABLE)} "
                       f"WHERE {ident(COL_QTY)} IS NULL") == [(0,)]

    reverted = revert_plan(live, plan)
    assert sorted(reverted) == sorted(s.id for s in plan.steps)
    assert fingerprint_and_counts(live) == original    # the exact original schema and rows
    assert _objects(live, TWIN) == twin
    code, _ = _diff(live, reference)
    assert code == 3                                   # drifted again, as before

    # The same through `reconcile` as a rollback drill: backup, plan, apply, verify (failed
    # on purpose), the reverse rollback, and a report naming the hostile objects.
    reports = tmp_path / "reports"
    proc = cli("reconcile", "--reference-dsn", reference.conninfo(), "--no-migrate",
               "--fail-verify", "--rollback", "reverse", "--no-test-restore",
               "--out-dir", str(tmp_path / "backups"), "--report-dir", str(reports),
               "--json", spec=live)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["rollback"]["method"] == "reverse", report["rollback"]
    assert sorted(report["rollback"]["reverted"]) == sorted(s.id for s in plan.steps)
    assert fingerprint_and_counts(live) == original
    assert _objects(live, TWIN) == twin
    proc = cli("report", str(reports / "report.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = "".join(p.read_text() for p in reports.glob("*.html"))
    assert html and "<b>&amp;" not in html and "&lt;b&gt;&amp;amp;" in html
    md = (reports / "report.md").read_text()
    # Outside code spans the name reads back as written: `<` and `&` are entities.
    assert "&lt;b>&amp;amp;" in md and " <b>&amp; CONCURRENTLY" not in md


def test_drift_in_a_schema_whose_name_holds_a_dot_is_refused_before_anything(make_db, tmp_path):
    """`schema.name` cannot be split where a schema's own name holds a dot: plan refuses
    (exit 4, one clear message, nothing changed); left out with --exclude-schema, the rest
    of the drift is planned."""
    live, reference = make_db("dot_live"), make_db("dot_ref")
    dotted, plain = "a.b", "plain"
    for spec, extra in ((live, ""), (reference, ", note text")):
        run_sql(spec, f"CREATE SCHEMA {ident(dotted)}; CREATE SCHEMA {ident(plain)}; "
                      f"CREATE TABLE {qualified(dotted, 'c')} (id int PRIMARY KEY{extra}); "
                      f"CREATE TABLE {qualified(plain, 't')} (id int PRIMARY KEY{extra})")
    before = fingerprint_and_counts(live)
    out = tmp_path / "plan.json"
    proc = cli("plan", "--json", "--reference-dsn", reference.conninfo(), "--out", str(out),
               spec=live)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    error = as_json(proc)
    assert error["error"] == "Refused" and "'a.b'" in error["message"], error
    assert "--exclude-schema" in error["hint"] and "Traceback" not in proc.stderr
    assert not out.exists() and fingerprint_and_counts(live) == before

    proc = cli("plan", "--json", "--reference-dsn", reference.conninfo(), "--out", str(out),
               "--exclude-schema", dotted, spec=live)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    steps = json.loads(out.read_text())["steps"]
    assert [s["table"] for s in steps] == [f"{plain}.t"], steps
