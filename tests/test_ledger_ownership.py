"""pgreconcile's own schema (issue 13, point 6): created and owned by the role pgreconcile
connects as; one made beforehand by another role, or carrying triggers, rules or policies,
or open to CREATE by others, is refused before anything changes.

The hostile case is the one the issue names: the application's role, which needs nothing
but CREATE on the database, makes `pgreconcile.ledger` first, with a trigger that would run
with the operator's privileges. The trigger writes to a table, so "it never fired" is a
count of zero.
"""
from __future__ import annotations

import secrets

import pytest

from pgreconcile.apply import ledger
from pgreconcile.errors import Refused
from pgreconcile.pg import census

from .support import as_json, cli, query, run_sql

LEDGER = ledger.LEDGER_DDL.replace("CREATE SCHEMA IF NOT EXISTS pgreconcile;", "")


@pytest.fixture(scope="module")
def app_role(server):
    role = f"pgrt_app_{secrets.token_hex(3)}"
    run_sql(server, f'CREATE ROLE "{role}" NOLOGIN')
    yield role  # its objects and grants went with the test databases
    run_sql(server, f'DROP ROLE IF EXISTS "{role}"')


def _hostile(live, role: str) -> None:
    """What the application's role does with CREATE on the database: pgreconcile's schema
    and ledger, a trigger on it that would run as whoever writes the ledger."""
    run_sql(live, f'GRANT CREATE ON DATABASE "{live.dbname}" TO "{role}"')
    run_sql(live, "CREATE TABLE public.hits (who text, at timestamptz DEFAULT now());"
                  f'GRANT INSERT ON public.hits TO "{role}"')
    run_sql(live, f'SET ROLE "{role}"; CREATE SCHEMA pgreconcile; {LEDGER}'
                  "CREATE FUNCTION pgreconcile.hit() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$BEGIN INSERT INTO public.hits (who) VALUES (current_user); "
                  "RETURN NEW; END$$;"
                  "CREATE TRIGGER hit BEFORE INSERT OR UPDATE ON pgreconcile.ledger "
                  "FOR EACH ROW EXECUTE FUNCTION pgreconcile.hit(); RESET ROLE")


def _site(make_db):
    live, ref = make_db("ledger_live"), make_db("ledger_ref")
    run_sql(live, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);"
                  "INSERT INTO users VALUES (1, 'a@example.com'), (2, 'b@example.com')")
    run_sql(ref, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);"
                 "CREATE INDEX users_email_idx ON users (email)")
    return live, ref


def test_a_ledger_made_by_the_application_role_is_refused_and_its_trigger_never_fires(
        make_db, app_role, tmp_path):
    live, ref = _site(make_db)
    _hostile(live, app_role)  # before the plan: its public.hits is part of what is planned
    plan = tmp_path / "plan.json"
    proc = cli("plan", "--reference-dsn", ref.conninfo(), "--out", str(plan), spec=live)
    assert proc.returncode == 3, proc.stderr
    with live.connect() as conn:
        before = census.schema_fingerprint(conn)

    for args in (["apply", str(plan), "--no-backup"],
                 ["reconcile", "--reference-dsn", ref.conninfo(), "--no-backup",
                  "--no-migrate", "--report-dir", str(tmp_path / "reports")]):
        proc = cli(*args, "--json", spec=live)
        assert proc.returncode == 4, proc.stdout + proc.stderr
        error = as_json(proc)
        assert error["error"] == "Refused", error
        assert f"schema pgreconcile is owned by {app_role}" in error["message"]
        assert "has trigger hit" in error["message"] and "nothing was changed" in error["message"]
        assert "DROP SCHEMA pgreconcile CASCADE" in error["hint"]
        assert "OWNER TO" in error["hint"]
        assert "Traceback" not in proc.stderr
        assert query(live, "SELECT count(*) FROM public.hits") == [(0,)], "the trigger ran"
        assert query(live, "SELECT count(*) FROM pgreconcile.ledger") == [(0,)]
        assert query(live, "SELECT count(*) FROM pg_indexes WHERE indexname = "
                           "'users_email_idx'") == [(0,)]
        with live.connect() as conn:
            assert census.schema_fingerprint(conn) == before

    # The hint's remedy: drop it after checking it; pgreconcile then makes its own.
    # (public.hits changed the schema since the plan: reconcile plans afresh.)
    run_sql(live, "DROP SCHEMA pgreconcile CASCADE")
    proc = cli("reconcile", "--reference-dsn", ref.conninfo(), "--no-backup", "--no-migrate",
               "--report-dir", str(tmp_path / "reports2"), spec=live)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert query(live, "SELECT pg_get_userbyid(nspowner) = current_user FROM pg_namespace "
                       "WHERE nspname = 'pgreconcile'") == [(True,)]
    assert query(live, "SELECT pg_get_userbyid(relowner) = current_user FROM pg_class "
                       "WHERE oid = 'pgreconcile.ledger'::regclass") == [(True,)]
    assert query(live, "SELECT count(*) FROM pg_indexes WHERE indexname = "
                       "'users_email_idx'") == [(1,)]
    assert query(live, "SELECT count(*) FROM public.hits") == [(0,)]


# Each variant starts from pgreconcile's own schema and ledger (made as the operator),
# then another role's change; `expect` is the refusal's phrase.
VARIANTS = {
    "CREATE granted on the schema": (
        "GRANT CREATE ON SCHEMA pgreconcile TO {app}", "role {app} may create objects"),
    "CREATE granted to PUBLIC": (
        "GRANT CREATE ON SCHEMA pgreconcile TO PUBLIC", "role PUBLIC may create objects"),
    "ledger owned by another role": (
        "ALTER TABLE pgreconcile.ledger OWNER TO {app}", "pgreconcile.ledger is owned by {app}"),
    "run_lock owned by another role": (
        "CREATE TABLE pgreconcile.run_lock (x int); "
        "ALTER TABLE pgreconcile.run_lock OWNER TO {app}", "pgreconcile.run_lock is owned by"),
    "trigger added with the TRIGGER privilege": (
        "GRANT USAGE ON SCHEMA pgreconcile TO {app}; "
        "GRANT TRIGGER ON pgreconcile.ledger TO {app}; "
        "CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RETURN NEW; END$$; SET ROLE {app}; "
        "CREATE TRIGGER t2 AFTER INSERT ON pgreconcile.ledger "
        "FOR EACH ROW EXECUTE FUNCTION public.noop(); RESET ROLE",
        "pgreconcile.ledger has trigger t2"),
    "a rule": (
        "CREATE RULE r1 AS ON INSERT TO pgreconcile.ledger DO ALSO NOTIFY x",
        "pgreconcile.ledger has rule r1"),
    "a policy": (
        "CREATE POLICY p1 ON pgreconcile.ledger USING (true)",
        "row-level security policy p1"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_kind_of_untrusted_schema_is_refused(make_db, app_role, name):
    change, expect = (s.format(app=f'"{app_role}"') for s in VARIANTS[name])
    live = make_db("ledger_variant")
    with live.connect() as conn:
        ledger.refuse_untrusted(conn)  # nothing there: nothing to refuse
        conn.execute(ledger.LEDGER_DDL)
        ledger.refuse_untrusted(conn)  # its own: trusted
        conn.execute(change)
        with pytest.raises(Refused) as caught:
            ledger.refuse_untrusted(conn)
        with pytest.raises(Refused):
            ledger.exists(conn)  # every reader of the ledger asks first
    assert expect.replace('"', "") in str(caught.value)
    assert caught.value.exit_code == 4


def test_a_view_named_ledger_is_refused_before_it_is_read(make_db):
    live = make_db("ledger_view")
    run_sql(live, "CREATE SCHEMA pgreconcile; CREATE VIEW pgreconcile.ledger AS "
                  "SELECT 1 AS plan_id")
    with live.connect() as conn, pytest.raises(Refused, match="not a plain table"):
        ledger.exists(conn)
