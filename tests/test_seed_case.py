"""The seed case, reproduced for real: examples/pettycash on a real PostgreSQL server.

* make_drift.py builds the drifted live database (old 0001: `id serial` primary key,
  no `payment_id`; treasury.0001_initial recorded as applied);
* `manage.py migrate` on it fails exactly like the seed (ProgrammingError, payment_id);
* a fresh database migrates cleanly and has no pending model changes;
* `manage.py test --settings=staging_settings` passes.
"""
from __future__ import annotations

import os
import subprocess
from urllib.parse import quote

import pytest

from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database

from .support import EXAMPLE, load_make_drift, load_module, query, run_sql

ROWS = 500
SEED_ERROR = 'column "payment_id" referenced in foreign key constraint does not exist'
OLD_INDEXES = {"treasury_payment_pkey", "treasury_payment_reference_66429b9e",
               "treasury_payment_reference_66429b9e_like"}
FINGERPRINT_SQL = ("SELECT md5(string_agg(p::text, '|' ORDER BY p.id)) FROM"
                   " (SELECT id, reference, payee, amount, currency, memo, status,"
                   "  created_at AT TIME ZONE 'UTC' AS c, updated_at AT TIME ZONE 'UTC' AS u"
                   "  FROM treasury_payment) p")


@pytest.fixture(scope="module")
def make_drift():
    return load_make_drift()


@pytest.fixture(scope="module")
def settings_module():
    return load_module("pettycash_settings_under_test",
                       EXAMPLE / "pettycash_system" / "settings.py")


def _clean_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "STAGING_DATABASE_URL",
                "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"):
        env.pop(var, None)
    env.update(extra)
    return env


def manage(python: str, env: dict[str, str], *args: str, timeout: int = 300):
    return subprocess.run([python, "manage.py", *args], check=False, cwd=EXAMPLE, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _uri(spec: ConnectionSpec) -> str:
    """The same connection as a postgresql:// URI (socket host in the query string)."""
    p = spec.params
    auth = quote(p.get("user", ""), safe="")
    if p.get("password"):
        auth += ":" + quote(p["password"], safe="")
    query_args = [f"{k}={quote(v, safe='')}" for k, v in p.items()
                  if k not in ("user", "password", "dbname")]
    return f"postgresql://{auth}@/{quote(p.get('dbname', ''), safe='')}?{'&'.join(query_args)}"


def _treasury_migrations(spec: ConnectionSpec) -> list[str]:
    return [r[0] for r in query(spec, "SELECT name FROM django_migrations"
                                      " WHERE app = 'treasury' ORDER BY name")]


@pytest.fixture
def drifted(make_db, make_drift, python_exe) -> ConnectionSpec:
    spec = make_db("drift")
    summary = make_drift.build_drifted_database(spec.conninfo(), rows=ROWS, python=python_exe)
    assert summary.rows == ROWS
    return spec


# -- settings ----------------------------------------------------------------------

@pytest.mark.parametrize("env, expected", [
    ({"DATABASE_URL": "postgresql://postgres:@/postgres?host=/tmp/tmpabc"},
     {"NAME": "postgres", "USER": "postgres", "PASSWORD": "", "HOST": "/tmp/tmpabc",
      "PORT": "", "OPTIONS": {}}),
    ({"DATABASE_URL": "postgresql://app:s%40cret@db.example.com:6543/pettycash?sslmode=require"},
     {"NAME": "pettycash", "USER": "app", "PASSWORD": "s@cret", "HOST": "db.example.com",
      "PORT": "6543", "OPTIONS": {"sslmode": "require"}}),
    ({"DATABASE_URL": "host=/var/run/postgresql dbname=petty user=postgres port=5433"},
     {"NAME": "petty", "USER": "postgres", "PASSWORD": "", "HOST": "/var/run/postgresql",
      "PORT": "5433", "OPTIONS": {}}),
    ({"PGHOST": "/tmp/sock", "PGPORT": "5499", "PGDATABASE": "petty", "PGUSER": "u",
      "PGPASSWORD": "pw"},
     {"NAME": "petty", "USER": "u", "PASSWORD": "pw", "HOST": "/tmp/sock", "PORT": "5499",
      "OPTIONS": {}}),
    ({}, {"NAME": "pettycash", "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
          "OPTIONS": {}}),
], ids=["uri-socket", "uri-tcp-sslmode", "key-value", "pg-env", "defaults"])
def test_settings_read_database_from_environment(settings_module, env, expected):
    config = settings_module.database_config("DATABASE_URL", env=env)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert {k: config[k] for k in expected} == expected


def test_staging_settings_prefer_staging_database_url(settings_module):
    env = {"STAGING_DATABASE_URL": "postgresql://stage@/staging_db?host=/tmp/s",
           "DATABASE_URL": "postgresql://dev@/dev_db?host=/tmp/d"}
    config = settings_module.database_config("STAGING_DATABASE_URL", "DATABASE_URL", env=env)
    assert (config["NAME"], config["USER"]) == ("staging_db", "stage")
    del env["STAGING_DATABASE_URL"]
    config = settings_module.database_config("STAGING_DATABASE_URL", "DATABASE_URL", env=env)
    assert (config["NAME"], config["USER"]) == ("dev_db", "dev")


# -- the drifted database ---------------------------------------------------------------

def test_drifted_database_has_the_old_schema(drifted):
    columns = dict(query(drifted, "SELECT column_name, data_type FROM information_schema.columns"
                                  " WHERE table_name = 'treasury_payment'"))
    assert columns["id"] == "integer"
    assert "payment_id" not in columns
    assert set(columns) == {"id", "reference", "payee", "amount", "currency", "memo", "status",
                            "created_at", "updated_at"}
    pk = query(drifted, "SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
                        " FROM pg_index i JOIN pg_attribute a"
                        "   ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                        " WHERE i.indrelid = 'treasury_payment'::regclass AND i.indisprimary")
    assert pk == [("id", "integer")]
    # serial, as Django 3.2's AutoField made it: an owned sequence, not an identity
    (seq, identity), = query(drifted, "SELECT pg_get_serial_sequence('treasury_payment', 'id'),"
                                      " (SELECT attidentity FROM pg_attribute WHERE attrelid ="
                                      "  'treasury_payment'::regclass AND attname = 'id')")
    assert seq == "public.treasury_payment_id_seq" and identity == ""
    indexes = {r[0] for r in query(drifted, "SELECT indexname FROM pg_indexes"
                                            " WHERE tablename = 'treasury_payment'")}
    assert indexes == OLD_INDEXES
    assert query(drifted, "SELECT count(*), min(id), max(id), count(DISTINCT reference)"
                          " FROM treasury_payment") == [(ROWS, 1, ROWS, ROWS)]
    assert query(drifted, "SELECT last_value FROM treasury_payment_id_seq") == [(ROWS,)]
    statuses = {r[0] for r in query(drifted, "SELECT DISTINCT status FROM treasury_payment")}
    assert statuses == {"pending", "approved", "paid", "rejected"}

    assert _treasury_migrations(drifted) == ["0001_initial"]
    apps = {r[0] for r in query(drifted, "SELECT DISTINCT app FROM django_migrations")}
    assert apps == {"contenttypes", "auth", "treasury"}
    assert query(drifted, "SELECT count(*) FROM auth_permission p JOIN django_content_type c"
                          " ON c.id = p.content_type_id WHERE c.app_label = 'treasury'"
                          " AND c.model = 'payment'") == [(4,)]
    others = query(drifted, "SELECT relname FROM pg_class WHERE relname LIKE 'treasury\\_%'"
                            " AND relkind = 'r' AND relname <> 'treasury_payment'")
    assert others == []


def test_make_drift_cli_refuses_then_rebuilds_identically(make_db, python_exe):
    spec = make_db("cli")
    # a password in the DSN must never reach the output (ignored by trust/peer auth)
    secret = spec.params.get("password") or "pgrt-not-a-real-secret"
    dsn = spec.with_params(password=secret).conninfo()
    script = str(EXAMPLE / "make_drift.py")

    first = subprocess.run([python_exe, script, "--rows", "50"], check=False,
                           env=_clean_env(DATABASE_URL=dsn), capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    assert "50 payments" in first.stdout
    fingerprint = query(spec, FINGERPRINT_SQL)

    again = subprocess.run([python_exe, script, "--rows", "50"], check=False,
                           env=_clean_env(DATABASE_URL=dsn), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 4
    assert "--force" in again.stderr and "treasury_payment" in again.stderr

    # simulate a half-done repair, then rebuild with --force
    run_sql(spec, "ALTER TABLE treasury_payment ADD COLUMN payment_id uuid;"
                  " CREATE SCHEMA pgreconcile; CREATE TABLE pgreconcile.ledger (step text)")
    rebuilt = subprocess.run([python_exe, script, "--rows", "50", "--force", "--dsn", dsn],
                             check=False, env=_clean_env(), capture_output=True, text=True,
                             timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert query(spec, FINGERPRINT_SQL) == fingerprint
    assert query(spec, "SELECT count(*) FROM information_schema.columns WHERE"
                       " table_name = 'treasury_payment' AND column_name = 'payment_id'") == [(0,)]
    assert query(spec, "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgreconcile'") == [(0,)]
    assert _treasury_migrations(spec) == ["0001_initial"]
    for proc in (first, again, rebuilt):
        assert secret not in proc.stdout + proc.stderr


def test_migrate_on_drifted_database_fails_like_the_seed(drifted, python_exe):
    env = _clean_env(DATABASE_URL=drifted.conninfo())
    plan = manage(python_exe, env, "showmigrations", "treasury")
    assert plan.returncode == 0, plan.stderr
    assert "[X] 0001_initial" in plan.stdout and "[ ] 0002_phase6_dashboard_models" in plan.stdout

    result = manage(python_exe, env, "migrate", "--noinput")
    assert result.returncode != 0
    assert "django.db.utils.ProgrammingError" in result.stderr
    assert SEED_ERROR in result.stderr
    assert "Applying treasury.0002_phase6_dashboard_models" in result.stdout

    # the failed migration left nothing behind
    assert _treasury_migrations(drifted) == ["0001_initial"]
    assert query(drifted, "SELECT to_regclass('treasury_alert'),"
                          " to_regclass('treasury_paymenttracking'),"
                          " to_regclass('treasury_dashboardsnapshot')") == [(None, None, None)]
    assert query(drifted, "SELECT count(*) FROM treasury_payment") == [(ROWS,)]
    check = manage(python_exe, env, "migrate", "--check")
    assert check.returncode != 0  # 0002 still pending


# -- a fresh database with today's migrations --------------------------------------------

def test_fresh_database_migrates_cleanly(make_db, python_exe):
    spec = make_db("fresh")
    env = _clean_env(**{k: v for k, v in spec.child_env({}).items()})  # PG* variables only
    migrate = manage(python_exe, env, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    assert "Applying treasury.0002_phase6_dashboard_models... OK" in migrate.stdout

    check = manage(python_exe, env, "migrate", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    makemigrations = manage(python_exe, env, "makemigrations", "--check", "--dry-run")
    assert makemigrations.returncode == 0, makemigrations.stdout + makemigrations.stderr
    assert "No changes detected" in makemigrations.stdout
    assert "RuntimeWarning" not in makemigrations.stderr  # it did reach the database

    assert _treasury_migrations(spec) == ["0001_initial", "0002_phase6_dashboard_models"]
    pk = query(spec, "SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
                     " FROM pg_index i JOIN pg_attribute a"
                     "   ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                     " WHERE i.indrelid = 'treasury_payment'::regclass AND i.indisprimary")
    assert pk == [("payment_id", "uuid")]
    fks = query(spec, "SELECT conrelid::regclass::text, pg_get_constraintdef(oid)"
                      " FROM pg_constraint WHERE contype = 'f'"
                      " AND confrelid = 'treasury_payment'::regclass ORDER BY 1")
    fk_def = ("FOREIGN KEY (payment_id) REFERENCES treasury_payment(payment_id)"
              " DEFERRABLE INITIALLY DEFERRED")
    assert fks == [("treasury_alert", fk_def), ("treasury_paymenttracking", fk_def)]


def test_staging_test_suite_passes(make_db, server, python_exe):
    spec = make_db("staging")
    test_db = f"test_{spec.dbname}"
    env = _clean_env(STAGING_DATABASE_URL=_uri(spec),
                     # staging_settings must not fall back to this one
                     DATABASE_URL=spec.with_dbname("pgrt_no_such_database").conninfo())
    try:
        result = manage(python_exe, env, "test", "--settings=staging_settings", "--noinput")
    finally:
        leftover = query(server, "SELECT 1 FROM pg_database WHERE datname = %s", (test_db,))
        drop_database(server, test_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\nOK\n" in result.stderr
    assert "Ran 8 tests" in result.stderr
    assert "Creating test database for alias 'default'" in result.stderr
    assert leftover == []  # Django dropped test_<name> itself
