#!/usr/bin/env python
"""Build the seed case: a live pettycash database that drifted from its migrations.

    python make_drift.py [--dsn DSN] [--rows N] [--python PY] [--force] [--create-db]

The database ends up exactly like the developer database of the seed case:

* today's ``contenttypes`` and ``auth`` migrations applied (by this project's own
  ``manage.py migrate``, run with ``--python``);
* ``treasury_payment`` as the *old* ``treasury.0001_initial`` created it
  (``drift/old_0001_initial.sql``: ``id serial`` primary key, no ``payment_id``),
  filled with N deterministic rows, and its content type and permissions;
* ``treasury.0001_initial`` recorded as applied in ``django_migrations``, 0002 not.

``manage.py migrate`` against it then fails like the seed:
``django.db.utils.ProgrammingError: column "payment_id" referenced in foreign key
constraint does not exist``.

Connection: ``--dsn``, else ``DATABASE_URL``, else the libpq ``PG*`` variables and
``~/.pgpass``. The DSN is never printed and never put on a child's command line:
``manage.py`` gets it through its environment (``DATABASE_URL``).

An existing treasury schema is refused (exit 4) unless ``--force``, which drops every
``treasury_*`` table, the treasury rows of ``django_migrations``/content types/
permissions, and the ``pgreconcile`` schema (ledger of an earlier repair), then rebuilds.

Importable: ``build_drifted_database(conninfo, rows=10000, python=sys.executable)``.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PROJECT_DIR = Path(__file__).resolve().parent
OLD_DDL = PROJECT_DIR / "drift" / "old_0001_initial.sql"
SETTINGS_MODULE = "pettycash_system.settings"
DEFAULT_ROWS = 10_000

# Fixed points so that every build of the same size is byte-for-byte the same data.
APPLIED_AT = "2023-03-14 09:26:53+00"
FIRST_PAYMENT_AT = "2023-03-15 08:00:00+00"
PAYMENT_SPAN_DAYS = 730

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 4

PAYEES = [
    "Acme Office Supplies", "Coffee Corner", "City Taxi Co.", "Metro Parking",
    "Office Depot", "Staples", "FedEx Office", "UPS Store", "Bright Cleaning Services",
    "Green Leaf Catering", "Pizza Palace", "Corner Hardware", "Post Office",
    "Rapid Couriers", "Sunrise Bakery", "Print & Copy Center", "Water Cooler Inc.",
    "Key Cutting Kiosk", "Petrol Station 24", "Train Ticket Office", "Hotel Central",
    "Amazon Business", "Local Florist", "Tech Repair Shop", "Stationery World",
    "J. Alvarez (reimbursement)", "M. Chen (reimbursement)", "S. Okafor (reimbursement)",
    "R. Novak (reimbursement)", "A. Schmidt (reimbursement)", "K. Tanaka (reimbursement)",
    "P. Dubois (reimbursement)", "L. Rossi (reimbursement)", "Team Lunch Fund",
    "Conference Registration", "Bank Charges", "Cash Float Top-up", "Vending Services",
    "First Aid Supplies", "Mobile Top-up",
]
MEMOS = [
    "Printer paper and toner", "Client meeting coffee", "Taxi to airport",
    "Parking for site visit", "Courier to head office", "Office cleaning (weekly)",
    "Team lunch", "Replacement keys", "Stamps and envelopes", "Fuel for pool car",
    "Whiteboard markers", "Birthday cake", "Train fare, regional office",
    "Phone credit", "Batteries and cables", "Flowers for reception",
    "Water cooler refill", "Receipt attached", "Approved by finance lead",
    "Urgent: same-day delivery",
]

LOAD_SQL = """
INSERT INTO "treasury_payment"
    ("id", "reference", "payee", "amount", "currency", "memo", "status", "created_at", "updated_at")
SELECT g, 'PC-' || lpad(g::text, 8, '0'),
       (%(payees)s::text[])[1 + (g * 7919) %% cardinality(%(payees)s::text[])],
       ((g * 104729) %% 49901 + 99)::numeric / 100,
       CASE WHEN g %% 20 = 0 THEN 'EUR' WHEN g %% 50 = 7 THEN 'GBP' ELSE 'USD' END,
       CASE WHEN g %% 3 = 0 THEN ''
            ELSE (%(memos)s::text[])[1 + (g * 31) %% cardinality(%(memos)s::text[])] END,
       CASE WHEN (g * 37) %% 100 < 60 THEN 'paid'
            WHEN (g * 37) %% 100 < 75 THEN 'approved'
            WHEN (g * 37) %% 100 < 90 THEN 'pending'
            ELSE 'rejected' END,
       t.created_at,
       t.created_at + ((g * 13) %% 72) * interval '1 hour'
FROM generate_series(1::bigint, %(rows)s::bigint) AS g
CROSS JOIN LATERAL (
    SELECT %(first)s::timestamptz
           + (g - 1) * (%(span)s::float8 * interval '1 day' / %(rows)s::float8)
           + ((g * 7717) %% 3600) * interval '1 second' AS created_at
) AS t
"""
# ids are explicit (id = g, deterministic); move the serial's sequence past them
SETVAL_SQL = ('SELECT setval(pg_get_serial_sequence(\'"treasury_payment"\', \'id\'),'
              ' coalesce(max("id"), 1), max("id") IS NOT NULL) FROM "treasury_payment"')


class DriftError(Exception):
    exit_code = EXIT_ERROR


class DriftRefused(DriftError):
    """The database already has a treasury schema and --force was not given."""

    exit_code = EXIT_REFUSED


@dataclass
class DriftSummary:
    database: str
    server_version: str
    rows: int
    seconds_django: float
    seconds_load: float
    seconds_total: float
    dropped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def old_ddl_statements(path: Path = OLD_DDL) -> tuple[list[str], list[str]]:
    """(table statements, index statements) of the old 0001, comments/BEGIN/COMMIT removed."""
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.lstrip().startswith("--"))
    statements = [s.strip() for s in text.split(";") if s.strip()]
    statements = [s for s in statements if s.upper() not in ("BEGIN", "COMMIT")]
    tables = [s for s in statements if not s.upper().startswith("CREATE INDEX")]
    indexes = [s for s in statements if s.upper().startswith("CREATE INDEX")]
    return tables, indexes


def describe(conn: psycopg.Connection) -> str:
    """Where we are connected, without any secret."""
    info = conn.info
    return f"database {info.dbname!r} on {info.host}:{info.port}"


def _manage_py(python: str, project_dir: Path, conninfo: str, *args: str) -> None:
    env = dict(os.environ)
    env["DATABASE_URL"] = conninfo  # the only way the DSN reaches the child
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    env.pop("STAGING_DATABASE_URL", None)
    cmd = [python, str(project_dir / "manage.py"), *args]
    proc = subprocess.run(cmd, check=False, cwd=project_dir, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise DriftError(f"`manage.py {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")


def _ensure_database(conninfo: str) -> None:
    params = conninfo_to_dict(conninfo)
    name = params.get("dbname") or os.environ.get("PGDATABASE")
    if not name:
        raise DriftError("--create-db needs a database name in the DSN or PGDATABASE")
    admin = make_conninfo(conninfo, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _existing_treasury(conn: psycopg.Connection) -> list[str]:
    found = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        "   AND c.relname LIKE 'treasury\\_%' ORDER BY 1").fetchall()]
    if conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0]:
        found += [f"django_migrations: treasury.{r[0]}" for r in conn.execute(
            "SELECT name FROM django_migrations WHERE app = 'treasury' ORDER BY name")]
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'pgreconcile'").fetchone():
        found.append("schema pgreconcile")
    return found


def _drop_treasury(conn: psycopg.Connection) -> list[str]:
    dropped = []
    with conn.transaction():
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
            "   AND c.relname LIKE 'treasury\\_%' ORDER BY 1").fetchall()]
        for table in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))
            dropped.append(table)
        if conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0]:
            conn.execute("DELETE FROM django_migrations WHERE app = 'treasury'")
        if conn.execute("SELECT to_regclass('auth_permission')").fetchone()[0]:
            conn.execute("DELETE FROM auth_permission WHERE content_type_id IN"
                         " (SELECT id FROM django_content_type WHERE app_label = 'treasury')")
        if conn.execute("SELECT to_regclass('django_content_type')").fetchone()[0]:
            conn.execute("DELETE FROM django_content_type WHERE app_label = 'treasury'")
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'pgreconcile'").fetchone():
            conn.execute("DROP SCHEMA pgreconcile CASCADE")
            dropped.append("schema pgreconcile")
    return dropped


def build_drifted_database(conninfo: str, rows: int = DEFAULT_ROWS, python: str = sys.executable,
                           *, force: bool = False, create_db: bool = False,
                           project_dir: Path | str = PROJECT_DIR,
                           log=None) -> DriftSummary:
    """Turn the database at `conninfo` into the seed case's drifted database.

    Raises DriftRefused when a treasury schema is already there and `force` is false.
    """
    if rows < 0:
        raise DriftError("--rows must be >= 0")
    log = log or (lambda _msg: None)
    project_dir = Path(project_dir)
    started = time.perf_counter()
    if create_db:
        _ensure_database(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        where = describe(conn)
        server_version = conn.execute("SHOW server_version").fetchone()[0]
        existing = _existing_treasury(conn)
        dropped: list[str] = []
        if existing and not force:
            raise DriftRefused(
                f"{where} already has a treasury schema ({', '.join(existing)}); "
                "use --force to drop it and rebuild the drifted database")
        if existing:
            dropped = _drop_treasury(conn)
            log(f"dropped {', '.join(dropped) or 'treasury rows'}")
        # the child gets the same connection, pinned to the database we actually reached
        child_conninfo = make_conninfo(conninfo, dbname=conn.info.dbname)

    t0 = time.perf_counter()
    for app in ("contenttypes", "auth"):
        _manage_py(python, project_dir, child_conninfo, "migrate", app, "--noinput", "-v", "0")
    seconds_django = time.perf_counter() - t0
    log(f"migrate contenttypes + auth (today's migrations): {seconds_django:.1f} s")

    tables, indexes = old_ddl_statements()
    t0 = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=False) as conn:
        with conn.cursor() as cur:
            for stmt in tables:
                cur.execute(stmt)
            cur.execute(LOAD_SQL, {"payees": PAYEES, "memos": MEMOS, "rows": rows,
                                   "first": FIRST_PAYMENT_AT, "span": PAYMENT_SPAN_DAYS})
            cur.execute(SETVAL_SQL)
            for stmt in indexes:
                cur.execute(stmt)
            # What Django 3.2 recorded when the old 0001 ran, backdated to a fixed moment.
            cur.execute("UPDATE django_migrations SET applied = %s::timestamptz"
                        " + id * interval '40 milliseconds'", (APPLIED_AT,))
            cur.execute("INSERT INTO django_migrations (app, name, applied)"
                        " VALUES ('treasury', '0001_initial', %s::timestamptz + interval '2 s')",
                        (APPLIED_AT,))
            ct_id = cur.execute("INSERT INTO django_content_type (app_label, model)"
                                " VALUES ('treasury', 'payment') RETURNING id").fetchone()[0]
            cur.executemany(
                "INSERT INTO auth_permission (name, content_type_id, codename) VALUES (%s, %s, %s)",
                [(f"Can {action} payment", ct_id, f"{action}_payment")
                 for action in ("add", "change", "delete", "view")])
        conn.commit()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute('ANALYZE "treasury_payment"')
        count = conn.execute('SELECT count(*) FROM "treasury_payment"').fetchone()[0]
    seconds_load = time.perf_counter() - t0
    log(f"treasury_payment (old 0001: id serial PK, no payment_id): {count:,} rows "
        f"in {seconds_load:.1f} s")
    return DriftSummary(database=where, server_version=server_version, rows=count,
                        seconds_django=round(seconds_django, 3),
                        seconds_load=round(seconds_load, 3),
                        seconds_total=round(time.perf_counter() - started, 3),
                        dropped=dropped)


def _redact(text: str) -> str:
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1********", text, flags=re.IGNORECASE)
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@", r"\1********@", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the pettycash seed case: treasury.0001 applied with the OLD "
                    "integer-id table, so `manage.py migrate` fails on 0002.")
    parser.add_argument("--dsn", help="libpq URI or key=value string "
                        "(default: DATABASE_URL, else PG* variables)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"payments to load (default {DEFAULT_ROWS})")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs manage.py (default: this one)")
    parser.add_argument("--force", action="store_true",
                        help="drop an existing treasury schema and rebuild")
    parser.add_argument("--create-db", action="store_true",
                        help="create the database first if it does not exist")
    args = parser.parse_args(argv)
    conninfo = args.dsn or os.environ.get("DATABASE_URL") or ""
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        print("make_drift: cannot parse the connection string (not shown)", file=sys.stderr)
        return EXIT_USAGE
    try:
        summary = build_drifted_database(
            conninfo, rows=args.rows, python=args.python, force=args.force,
            create_db=args.create_db, log=lambda msg: print(f"  {msg}", flush=True))
    except DriftError as exc:
        print(f"make_drift: {_redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except psycopg.Error as exc:
        print(f"make_drift: {type(exc).__name__}: {_redact(str(exc).strip())}", file=sys.stderr)
        return EXIT_ERROR
    print(f"drifted {summary.database} (PostgreSQL {summary.server_version}): "
          f"{summary.rows:,} payments, treasury.0001_initial applied with the old schema, "
          f"0002 pending; {summary.seconds_total:.1f} s total")
    print("  next: `python manage.py migrate` fails with ProgrammingError "
          '(column "payment_id" referenced in foreign key constraint does not exist)')
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
