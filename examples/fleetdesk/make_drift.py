#!/usr/bin/env python
"""Build a fleetdesk database that drifted from its migrations in a dozen ways.

    python make_drift.py [--dsn DSN] [--customers N] [--python PY] [--drift NAME ...]
                         [--list] [--create-db]

First `manage.py migrate` (this project's own migrations, run with ``--python``) and
deterministic rows in every table; then the drifts (all of them, or the ``--drift`` names),
each a change someone made by hand to the live database while every migration stays
recorded as applied:

=====================  ========================================================  =========
name                   what                                                       diff kind
=====================  ========================================================  =========
dropped-table          billing_invoiceline dropped                               table
missing-bool-default   accounts_customer.is_active (BooleanField(default=True))  column
missing-uuid-callable  accounts_customer.external_id (UUIDField(default=uuid4))  column
missing-auto-now-add   taggit_lite_taggeditem.created (auto_now_add)             column
missing-char-default   billing_invoice.currency (CharField(default="EUR"))       column
dropped-index          inventory_vehicle_status_idx                              index
dropped-fk             billing_invoice.customer_id's foreign key                 constraint
changed-check          inventory_vehicle_capacity_positive: > 0 became >= 0      constraint
dropped-unique         taggit_lite_tag.name's UNIQUE                             constraint
dropped-db-default     billing_invoice.created_at's DEFAULT now()                column
shortened-varchar      inventory_warehouse.name varchar(80) became varchar(40)   column
sequence-behind        accounts_customer's sequence behind max(id)               sequence
dropped-view           inventory_vehicle_summary (RunSQL) dropped                view
changed-function       inventory_vehicle_touch() stamps clock_timestamp()        function
disabled-trigger       inventory_vehicle_touch disabled                          trigger
=====================  ========================================================  =========

Each drift also carries `fixed`: a query that is true once the database is as the
migrations built it again (tests ask it after reconciling).

Connection: ``--dsn``, else ``DATABASE_URL``, else the libpq ``PG*`` variables. The DSN is
never printed and reaches ``manage.py`` only through its environment.

Importable: ``build_database(conninfo)``, ``apply_drifts(conninfo, names)``,
``build_drifted_database(conninfo, names)``, ``DRIFTS``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PROJECT_DIR = Path(__file__).resolve().parent
SETTINGS_MODULE = "fleetdesk_site.settings"
DEFAULT_CUSTOMERS = 2_000
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

LOAD_SQL = [
    """INSERT INTO inventory_warehouse (code, name, city)
       SELECT 'WH' || g, 'Depot ' || g, (ARRAY['Utrecht', 'Delft', 'Leiden'])[1 + g % 3]
         FROM generate_series(1, 3) AS g""",
    """INSERT INTO accounts_customer (name, email, joined_at, is_active, external_id)
       SELECT 'Customer ' || g, 'customer' || g || '@example.com',
              timestamptz '2024-01-01 00:00+00' + g * interval '37 minutes', g % 17 <> 0,
              md5('customer:' || g)::uuid
         FROM generate_series(1, %(customers)s) AS g""",
    """INSERT INTO inventory_vehicle (plate, warehouse_id, capacity_kg, updated_at, status, notes)
       SELECT 'NL-' || lpad(g::text, 5, '0'),
              (SELECT id FROM inventory_warehouse ORDER BY id OFFSET g % 5 LIMIT 1),
              500 + (g * 37) % 4000, timestamptz '2024-06-01 00:00+00' + g * interval '1 hour',
              (ARRAY['active', 'service', 'retired'])[1 + g % 3],
              CASE WHEN g % 4 = 0 THEN 'tow hitch' ELSE '' END
         FROM generate_series(1, greatest(%(customers)s / 10, 5)) AS g""",
    """INSERT INTO billing_invoice (customer_id, number, amount, paid, issued_on, currency)
       SELECT c.id, 'INV-' || lpad((c.id * 3 + k)::text, 8, '0'), ((c.id * 7 + k) % 900) + 0.5,
              (c.id + k) % 3 = 0, date '2024-02-01' + ((c.id + k) % 300)::int,
              CASE WHEN k = 2 THEN 'USD' ELSE 'EUR' END
         FROM accounts_customer c CROSS JOIN generate_series(0, 2) AS k""",
    """INSERT INTO billing_invoiceline (invoice_id, description, quantity, unit_price)
       SELECT i.id, 'Fleet service ' || i.id, 1 + i.id % 4, 25.00
         FROM billing_invoice i WHERE i.id % 2 = 0""",
    """INSERT INTO taggit_lite_tag (name, slug)
       SELECT 'Tag ' || g, 'tag-' || g FROM generate_series(1, 20) AS g""",
    """INSERT INTO django_content_type (app_label, model) VALUES ('accounts', 'customer')
       ON CONFLICT DO NOTHING""",
    """INSERT INTO taggit_lite_taggeditem (tag_id, content_type_id, object_id, created)
       SELECT (SELECT id FROM taggit_lite_tag ORDER BY id OFFSET c.id % 20 LIMIT 1),
              (SELECT id FROM django_content_type
                WHERE app_label = 'accounts' AND model = 'customer'),
              c.id, c.joined_at + interval '1 day'
         FROM accounts_customer c WHERE c.id % 3 = 0""",
]


def _one(conn: psycopg.Connection, query: str, *params) -> object:
    row = conn.execute(query, params or None).fetchone()
    return row[0] if row else None


def _drop_constraint(table: str, where: str) -> Callable[[psycopg.Connection], None]:
    """Drop the constraint of `table` that `where` (on pg_constraint c) picks: Django names
    them with a hash, so the drift looks the name up."""
    def run(conn: psycopg.Connection) -> None:
        name = _one(conn, f"SELECT conname FROM pg_constraint c WHERE conrelid = "
                          f"'public.{table}'::regclass AND {where}")
        if name is None:
            raise DriftError(f"no constraint on {table} where {where}")
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier("public", table), sql.Identifier(name)))
    return run


@dataclass(frozen=True)
class Drift:
    name: str
    what: str
    #: (kind, bucket) of the changes the diff reports for it: what the planner must handle.
    changes: tuple[tuple[str, str], ...]
    apply: str | Callable[[psycopg.Connection], None]
    #: SELECT <bool>: true once the database is as the migrations built it again.
    fixed: str

    def run(self, conn: psycopg.Connection) -> None:
        if callable(self.apply):
            self.apply(conn)
        else:
            conn.execute(self.apply)


def _column_fixed(table: str, column: str, rows_ok: str) -> str:
    return (f"SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.{table}'"
            f"::regclass AND attname = '{column}' AND attnotnull AND NOT attisdropped) AND NOT "
            f"EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid "
            f"AND a.attnum = d.adnum WHERE d.adrelid = 'public.{table}'::regclass AND "
            f"a.attname = '{column}') AND ({rows_ok})")


DRIFTS: tuple[Drift, ...] = (
    # First: its row is written while every column is still there.
    Drift("sequence-behind", "a customer inserted with an explicit id past the sequence",
          (("sequence", "different"),),
          "INSERT INTO accounts_customer (id, name, email, joined_at, is_active, external_id) "
          "SELECT max(id) + 500, 'Imported customer', 'imported@example.com', "
          "timestamptz '2024-05-05 00:00+00', true, md5('imported')::uuid FROM accounts_customer",
          "SELECT s.last_value >= (SELECT max(id) FROM accounts_customer) FROM pg_sequences s "
          "WHERE s.schemaname = 'public' AND s.sequencename = 'accounts_customer_id_seq'"),
    Drift("dropped-table", "billing_invoiceline dropped", (("table", "missing"),),
          "DROP TABLE billing_invoiceline",
          "SELECT to_regclass('public.billing_invoiceline') IS NOT NULL"),
    Drift("missing-bool-default", "accounts_customer.is_active dropped (default=True)",
          (("column", "missing"),), "ALTER TABLE accounts_customer DROP COLUMN is_active",
          _column_fixed("accounts_customer", "is_active",
                        "SELECT bool_and(is_active) FROM accounts_customer")),
    Drift("missing-uuid-callable", "accounts_customer.external_id dropped (default=uuid4)",
          (("column", "missing"),), "ALTER TABLE accounts_customer DROP COLUMN external_id",
          _column_fixed("accounts_customer", "external_id",
                        "SELECT count(DISTINCT external_id) = count(*) FROM accounts_customer")),
    Drift("missing-auto-now-add", "taggit_lite_taggeditem.created dropped (auto_now_add)",
          (("column", "missing"),), "ALTER TABLE taggit_lite_taggeditem DROP COLUMN created",
          _column_fixed("taggit_lite_taggeditem", "created",
                        "SELECT count(created) = count(*) FROM taggit_lite_taggeditem")),
    Drift("missing-char-default", "billing_invoice.currency dropped (default='EUR')",
          (("column", "missing"),), "ALTER TABLE billing_invoice DROP COLUMN currency",
          _column_fixed("billing_invoice", "currency",
                        "SELECT bool_and(currency = 'EUR') FROM billing_invoice")),
    Drift("dropped-index", "inventory_vehicle_status_idx dropped", (("index", "missing"),),
          "DROP INDEX inventory_vehicle_status_idx",
          "SELECT to_regclass('public.inventory_vehicle_status_idx') IS NOT NULL"),
    Drift("dropped-fk", "billing_invoice.customer_id's foreign key dropped",
          (("constraint", "missing"),),
          _drop_constraint("billing_invoice", "contype = 'f' AND confrelid = "
                                              "'public.accounts_customer'::regclass"),
          "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.billing_invoice'"
          "::regclass AND contype = 'f' AND confrelid = 'public.accounts_customer'::regclass "
          "AND convalidated)"),
    Drift("changed-check", "inventory_vehicle_capacity_positive allows 0",
          (("constraint", "different"),),
          "ALTER TABLE inventory_vehicle DROP CONSTRAINT inventory_vehicle_capacity_positive; "
          "ALTER TABLE inventory_vehicle ADD CONSTRAINT inventory_vehicle_capacity_positive "
          "CHECK (capacity_kg >= 0)",
          "SELECT pg_get_constraintdef(oid) = 'CHECK ((capacity_kg > 0))' FROM pg_constraint "
          "WHERE conname = 'inventory_vehicle_capacity_positive'"),
    Drift("dropped-unique", "taggit_lite_tag.name's UNIQUE dropped",
          (("constraint", "missing"), ("index", "missing")),
          _drop_constraint("taggit_lite_tag", "contype = 'u' AND conkey = ARRAY[(SELECT attnum "
                                              "FROM pg_attribute WHERE attrelid = c.conrelid "
                                              "AND attname = 'name')]"),
          "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.taggit_lite_tag'"
          "::regclass AND contype = 'u' AND pg_get_constraintdef(oid) = 'UNIQUE (name)')"),
    Drift("dropped-db-default", "billing_invoice.created_at lost its DEFAULT now()",
          (("column", "different"),),
          "ALTER TABLE billing_invoice ALTER COLUMN created_at DROP DEFAULT",
          "SELECT EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = "
          "d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = 'public.billing_invoice'::regclass "
          "AND a.attname = 'created_at')"),
    Drift("shortened-varchar", "inventory_warehouse.name is varchar(40), not varchar(80)",
          (("column", "different"),),
          "ALTER TABLE inventory_warehouse ALTER COLUMN name TYPE varchar(40)",
          "SELECT format_type(atttypid, atttypmod) = 'character varying(80)' FROM pg_attribute "
          "WHERE attrelid = 'public.inventory_warehouse'::regclass AND attname = 'name'"),
    Drift("dropped-view", "inventory_vehicle_summary (RunSQL) dropped", (("view", "missing"),),
          "DROP VIEW inventory_vehicle_summary",
          "SELECT to_regclass('public.inventory_vehicle_summary') IS NOT NULL"),
    Drift("changed-function", "inventory_vehicle_touch() stamps clock_timestamp()",
          (("function", "different"),),
          "CREATE OR REPLACE FUNCTION inventory_vehicle_touch() RETURNS trigger LANGUAGE plpgsql "
          "AS $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$",
          "SELECT prosrc NOT LIKE '%clock_timestamp%' FROM pg_proc "
          "WHERE proname = 'inventory_vehicle_touch'"),
    Drift("disabled-trigger", "trigger inventory_vehicle_touch disabled",
          (("trigger", "different"),),
          "ALTER TABLE inventory_vehicle DISABLE TRIGGER inventory_vehicle_touch",
          "SELECT tgenabled = 'O' FROM pg_trigger WHERE tgname = 'inventory_vehicle_touch'"),
)
BY_NAME = {d.name: d for d in DRIFTS}


class DriftError(Exception):
    pass


def _manage_py(python: str, conninfo: str, *args: str) -> None:
    env = dict(os.environ)
    env["DATABASE_URL"] = conninfo  # the only way the DSN reaches the child
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    proc = subprocess.run([python, str(PROJECT_DIR / "manage.py"), *args], check=False,
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise DriftError(f"`manage.py {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")


def _ensure_database(conninfo: str) -> None:
    name = conninfo_to_dict(conninfo).get("dbname") or os.environ.get("PGDATABASE")
    if not name:
        raise DriftError("--create-db needs a database name in the DSN or PGDATABASE")
    with psycopg.connect(make_conninfo(conninfo, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def build_database(conninfo: str, customers: int = DEFAULT_CUSTOMERS,
                   python: str = sys.executable) -> dict[str, int]:
    """Every migration applied by `manage.py migrate`, then deterministic rows; returns the
    row count of each table."""
    _manage_py(python, conninfo, "migrate", "--noinput", "-v", "0")
    with psycopg.connect(conninfo) as conn:
        for statement in LOAD_SQL:
            conn.execute(statement.replace("%(customers)s", str(int(customers))))
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
        return row_counts(conn)


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = [r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND "
        "relkind = 'r' ORDER BY 1")]
    return {t: _one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t)))
            for t in tables}


def apply_drifts(conninfo: str, names: list[str] | None = None) -> list[str]:
    """Apply the named drifts (default: all), in DRIFTS order, in one transaction."""
    unknown = sorted(set(names or ()) - set(BY_NAME))
    if unknown:
        raise DriftError(f"unknown drift(s): {', '.join(unknown)}")
    chosen = [d for d in DRIFTS if names is None or d.name in names]
    with psycopg.connect(conninfo) as conn:
        for drift in chosen:
            drift.run(conn)
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return [d.name for d in chosen]


def build_drifted_database(conninfo: str, names: list[str] | None = None, *,
                           customers: int = DEFAULT_CUSTOMERS,
                           python: str = sys.executable) -> list[str]:
    build_database(conninfo, customers, python)
    return apply_drifts(conninfo, names)


def not_fixed(conninfo: str, names: list[str]) -> list[str]:
    """The drifts among `names` whose `fixed` query is not true (or fails: a column it
    reads is missing)."""
    def fixed(conn: psycopg.Connection, name: str) -> bool:
        try:
            return _one(conn, BY_NAME[name].fixed) is True
        except psycopg.Error:
            return False
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [n for n in names if not fixed(conn, n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a fleetdesk database drifted from its "
                                                 "migrations in a dozen ways.")
    parser.add_argument("--dsn", help="libpq URI or key=value string "
                                      "(default: DATABASE_URL, else PG* variables)")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs manage.py (default: this one)")
    parser.add_argument("--drift", action="append", choices=sorted(BY_NAME),
                        help="apply only this drift (repeatable; default: all)")
    parser.add_argument("--list", action="store_true", help="list the drifts and exit")
    parser.add_argument("--create-db", action="store_true",
                        help="create the database first if it does not exist")
    args = parser.parse_args(argv)
    if args.list:
        for d in DRIFTS:
            print(f"{d.name:22} {d.what}")
        return EXIT_OK
    conninfo = args.dsn or os.environ.get("DATABASE_URL") or ""
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        print("make_drift: cannot parse the connection string (not shown)", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.create_db:
            _ensure_database(conninfo)
        applied = build_drifted_database(conninfo, args.drift, customers=args.customers,
                                         python=args.python)
    except (DriftError, psycopg.Error) as exc:
        print(f"make_drift: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
        return EXIT_ERROR
    print(f"drifted fleetdesk database: {len(applied)} drifts ({', '.join(applied)})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
