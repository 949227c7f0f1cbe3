"""A reference SQL file (`--reference-sql`) touches nothing outside its scratch database.

psql meta-commands are refused before anything runs (the file is never given to psql);
on live's own server the file runs as a temporary role that owns the scratch database and
nothing else, which is always dropped. The lexer is tested directly (fast, plus a
hypothesis property); everything else end to end through the CLI against the real server.
"""
from __future__ import annotations

import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pgreconcile.errors import UsageError
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import (
    SANDBOX_PREFIX,
    SCRATCH_PREFIX,
    drop_database,
    list_sandbox_roles,
    list_scratch_databases,
)
from pgreconcile.pg.sqlfile import MetaCommandRefused, check_text, lex, read_reference_sql
from pgreconcile.pg.toolchain import find_tool

from .support import TEST_DB_PREFIX, as_json, cli, query, run_sql

# --------------------------------------------------------------------------- the lexer


@pytest.mark.parametrize("text, line, command", [
    ("\\! touch /tmp/x\n", 1, "\\!"),
    ("SELECT 1;\n\\connect postgres\n", 2, "\\connect"),
    ("SELECT 1;\n\n  \\c postgres\n", 3, "\\c"),
    ("SELECT 1 \\gexec\n", 1, "\\gexec"),
    ("\\o |sh\nSELECT 1;\n", 1, "\\o"),
    ("\\copy t FROM '/etc/passwd'\n", 1, "\\copy"),
    ("\\set ON_ERROR_STOP off\n", 1, "\\set"),
    ("\\i other.sql\n", 1, "\\i"),
    ("\\setenv PAGER x\n", 1, "\\setenv"),
    ("CREATE TABLE t (a int\n  \\! id\n);\n", 2, "\\!"),
    ("SELECT '\\' \\! id\n", 1, "\\!"),             # a standard string ends at its quote
    ("SELECT a$b$ \\! id $b$;\n", 1, "\\!"),         # a$b$ is an identifier, not a tag
    ("SELECT 1;\n\\restrict abc\nSELECT 2;\n\\unrestrict abc\n", 2, "\\restrict"),
    ("\\restrict abc\nSELECT 1;\n\\unrestrict xyz\n", 3, "\\unrestrict"),
    ("\\unrestrict abc\n", 1, "\\unrestrict"),
    ("\\restrict a\n\\restrict a\n\\unrestrict a\n", 2, "\\restrict"),
    ("\\restrict a\nSELECT 1;\n\\unrestrict a\nSELECT 2;\n", 4, "SQL after \\unrestrict"),
    ("COPY t FROM stdin;\n1\t\\N\n\\.\n\\! id\n", 4, "\\!"),
])
def test_lexer_refuses_psql_commands_naming_line_and_command(text, line, command):
    with pytest.raises(MetaCommandRefused) as raised:
        check_text(text, "f.sql")
    assert f"f.sql line {line}: psql command {command} refused" in str(raised.value)
    assert raised.value.exit_code == 4 and "SQL only" in str(raised.value)


@pytest.mark.parametrize("text", [
    "SELECT '\\! id';",
    "SELECT 'it''s \\! id';",
    "SELECT E'it\\'s \\! id';",
    "SELECT e'\\\\' || '\\';",
    "SELECT $$ \\! id $$;",
    "SELECT $fn$ \\! $$ \\! $fn$;",
    "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n"
    "  RAISE NOTICE '\\!';\n  RETURN 1;\nEND\n$body$;",
    "-- \\! id\nSELECT 1;",
    "/* \\! /* nested \\c */ still \\! */ SELECT 1;",
    'CREATE TABLE "we\\ird" (a int);',
    "ALTER TABLE t ADD CHECK (s ~ '^\\d+$');",
    "COPY t (a, b) FROM stdin;\n1\t\\N\n2\t\\! not a command\n\\.\nSELECT 1;",
    "COPY t FROM STDIN WITH (FORMAT csv);\n\\x,\"\\!\"\n",   # data to the end of the file
    "\\restrict Ab1\n-- dump\nSELECT 1;\n\n\\unrestrict Ab1\n\n",
])
def test_backslashes_in_strings_bodies_comments_and_copy_data_are_no_commands(text):
    assert check_text(text).meta == []


def test_blanking_keeps_lines_and_drops_psql_lines_copy_data_and_owner_changes(tmp_path):
    text = ("\\restrict K1\nCREATE TABLE t (a int);\nALTER TABLE ONLY t OWNER TO someone;\n"
            "COPY t (a) FROM stdin;\n1\n\\.\nALTER DEFAULT PRIVILEGES FOR ROLE x GRANT "
            "SELECT ON TABLES TO y;\nSELECT 'OWNER TO';\n\\unrestrict K1\n")
    path = tmp_path / "f.sql"
    path.write_text(text)
    script = read_reference_sql(path)
    assert script.text.count("\n") == text.count("\n") and len(script.text) == len(text)
    assert "\\" not in script.text and "COPY" not in script.text and "1\n" not in script.text
    assert "OWNER TO someone" in script.text           # kept when run as given
    sandboxed = script.without_owner_changes()
    assert "someone" not in sandboxed and "DEFAULT PRIVILEGES" not in sandboxed
    assert "CREATE TABLE t (a int);" in sandboxed and "SELECT 'OWNER TO';" in sandboxed


def test_a_file_is_read_in_the_encoding_it_declares(tmp_path):
    """pg_dump writes the database's encoding and says so; in SJIS the second byte of 表
    is a backslash, which must not be read as a psql command."""
    path = tmp_path / "sjis.sql"
    path.write_bytes("SET client_encoding = 'SJIS';\nCOMMENT ON TABLE t IS '表';\n"
                     .encode("shift_jis"))
    assert b"\\" in path.read_bytes()
    assert "'表'" in read_reference_sql(path).text
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(UsageError, match="not valid UTF8 text"):
        read_reference_sql(path)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("\\'\"$;()-*/\n\tEe ab:!.xq_")) | st.characters(),
               max_size=200))
def test_lexer_only_ever_refuses_with_the_clear_error(text):
    try:
        lexed = check_text(text)
    except MetaCommandRefused as exc:
        assert "\\" in text and "psql command" in str(exc)
        return
    for s in lexed.statements:
        assert 0 <= s.start < s.end <= len(text) and s.line >= 1
    for start, end in lexed.blanks:
        assert 0 <= start <= end <= len(text)
    assert lex(text).meta == []


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.binary(max_size=120),
                 st.builds(lambda enc, body: f"SET client_encoding = '{enc}';\n".encode()
                           + body, st.sampled_from(["LATIN1", "SJIS", "WIN1252", "SQL_ASCII",
                                                    "NOPE", "UTF8"]),
                           st.binary(max_size=80))))
@example(b"SELECT 1;\x00")
@example(b"\\! id")
@example(b"SET client_encoding = 'X';")
def test_reading_any_bytes_gives_text_or_one_clear_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.sql"
        path.write_bytes(raw)
        try:
            script = read_reference_sql(path)
        except (UsageError, MetaCommandRefused) as exc:
            assert str(exc) and exc.hint
            return
        assert len(script.text) == len(script.without_owner_changes())


# --------------------------------------------------------------------------- end to end

ROWS = [(1, "ada"), (2, "grace"), (3, "edsger")]
SCHEMA = "CREATE TABLE public.accounts (id integer PRIMARY KEY, owner text NOT NULL);"


@pytest.fixture(scope="module")
def live(server):
    name = f"{TEST_DB_PREFIX}refsql_{secrets.token_hex(4)}"
    run_sql(server, f'CREATE DATABASE "{name}" TEMPLATE template0')
    spec = server.with_dbname(name)
    run_sql(spec, SCHEMA + "INSERT INTO public.accounts VALUES "
            + ", ".join(f"({i}, '{o}')" for i, o in ROWS))
    yield spec
    drop_database(server, name)


@pytest.fixture(autouse=True)
def nothing_left_behind(request):
    """After every end-to-end test: no sandbox role and no scratch database remain."""
    yield
    if "live" in request.fixturenames:
        server = request.getfixturevalue("server")
        assert list_sandbox_roles(server) == []
        assert list_scratch_databases(server) == []


def live_is_intact(live: ConnectionSpec) -> None:
    assert query(live, "SELECT id, owner FROM public.accounts ORDER BY id") == ROWS


def diff(live: ConnectionSpec, text: str, tmp_path, *, spec=None) -> subprocess.CompletedProcess:
    path = tmp_path / f"ref_{secrets.token_hex(3)}.sql"
    path.write_text(text)
    return cli("diff", "--reference-sql", str(path), "--json", spec=spec or live)


def test_shell_command_is_refused_before_anything_runs(live, tmp_path):
    marker = tmp_path / "x"
    proc = diff(live, f"{SCHEMA}\n\\! touch {marker}\n", tmp_path)
    assert proc.returncode == 4, proc.stderr
    err = as_json(proc)
    assert err["error"] == "MetaCommandRefused" and "line 2" in err["message"]
    assert "\\!" in err["message"] and "\\connect" in err["hint"]
    assert not marker.exists()
    live_is_intact(live)


def test_connect_to_live_is_refused(live, tmp_path):
    proc = diff(live, f"SELECT 1;\n\\connect {live.dbname}\nDROP TABLE public.accounts;\n",
                tmp_path)
    assert proc.returncode == 4
    assert "line 2: psql command \\connect refused" in as_json(proc)["message"]
    live_is_intact(live)


def test_statements_aimed_at_live_tables_run_in_the_scratch_database(live, tmp_path):
    proc = diff(live, "CREATE TABLE public.accounts (id int);\nDELETE FROM public.accounts;\n"
                "DROP TABLE public.accounts;\n" + SCHEMA, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert as_json(proc)["empty"] is True
    live_is_intact(live)


def test_the_file_runs_as_a_role_without_rights_on_live(live, tmp_path):
    """Each statement alone (not in a transaction block, so DROP DATABASE could run)."""
    marker = tmp_path / "y"
    operator = query(live, "SELECT current_user")[0][0]
    evil = f"pgrt_evil_{secrets.token_hex(3)}"
    hostile = [
        f'DROP DATABASE "{live.dbname}" WITH (FORCE);',
        f'CREATE DATABASE "{evil}";',
        f'CREATE ROLE "{evil}" SUPERUSER LOGIN;',
        f"ALTER ROLE \"{operator}\" SET work_mem = '77kB';",
        f"COPY (SELECT 1) TO PROGRAM 'touch {marker}';",
        "ALTER SYSTEM SET work_mem = '77kB';",
        f"GRANT pg_read_server_files TO \"{evil}\";",
    ]
    for statement in hostile:
        proc = diff(live, statement + "\n", tmp_path)
        assert proc.returncode == 2, (statement, proc.stdout, proc.stderr)
        err = as_json(proc)
        assert err["error"] == "UsageError" and "does not load: " in err["message"], err
        assert any(w in err["message"] for w in ("permission denied", "must be", "not exist"))
    live_is_intact(live)
    assert not marker.exists()
    assert query(live, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (evil,)) == [(0,)]
    assert query(live, "SELECT count(*) FROM pg_database WHERE datname = %s", (evil,)) == [(0,)]
    assert query(live, "SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r "
                 "ON r.oid = s.setrole WHERE r.rolname = %s", (operator,)) == [(0,)]
    assert query(live, "SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem' "
                 "AND setting = '77kB'") == [(0,)]


def test_no_one_can_log_in_as_the_role_while_the_file_runs(live, tmp_path):
    """The role may set its own password (any role may), so while the file runs its
    logins are closed (VALID UNTIL in the past); the table below exists only if so."""
    proc = diff(live, SCHEMA + "\nALTER ROLE CURRENT_USER PASSWORD 'known';\n"
                "DO $$ BEGIN IF (SELECT rolvaliduntil < now() FROM pg_roles "
                "WHERE rolname = current_user) THEN CREATE TABLE public.logins_closed (); "
                "END IF; END $$;\n", tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert [(c["bucket"], c["object"]) for c in as_json(proc)["changes"]
            if not c["cosmetic"]] == [("missing", "public.logins_closed")]


def test_a_latin1_dump_with_non_ascii_names_loads(live, tmp_path):
    run_sql(live, 'CREATE TABLE public."café" (id int)')
    try:
        path = tmp_path / "latin1.sql"
        path.write_bytes(("SET client_encoding = 'LATIN1';\n" + SCHEMA
                          + '\nCREATE TABLE public."café" (id int);\n').encode("latin-1"))
        proc = cli("diff", "--reference-sql", str(path), "--json", spec=live)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        run_sql(live, 'DROP TABLE public."café"')


def test_a_failing_file_names_its_line_and_leaves_nothing(live, tmp_path):
    proc = diff(live, SCHEMA + "\n\n-- a typo\nCREATE TABEL x (a int);\n", tmp_path)
    assert proc.returncode == 2
    assert "does not load: line 4: syntax error" in as_json(proc)["message"]


def _pg_dump_schema(spec: ConnectionSpec, server_major: int) -> str:
    pg_dump = find_tool("pg_dump", server_major)
    return subprocess.run([pg_dump.path, "-s", "-d", spec.public_conninfo()],
                          env=spec.child_env(), capture_output=True, text=True,
                          check=True).stdout


def test_pg_dump_schema_only_output_with_restrict_loads(live, server_major, tmp_path):
    run_sql(live, "CREATE VIEW public.named AS SELECT owner FROM public.accounts;"
            "CREATE FUNCTION public.two() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
            "SELECT 2; END;"
            "ALTER TABLE public.accounts ADD CHECK (owner ~ '^[a-z\\\\]+$');"
            "GRANT SELECT ON public.named TO PUBLIC;")
    try:
        dump = _pg_dump_schema(live, server_major)
        if server_major >= 18:
            assert dump.count("\\restrict ") == 1 and dump.count("\\unrestrict ") == 1
        assert "OWNER TO" in dump
        proc = diff(live, dump, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert as_json(proc)["empty"] is True
    finally:
        run_sql(live, "DROP VIEW public.named; DROP FUNCTION public.two();"
                "ALTER TABLE public.accounts DROP CONSTRAINT accounts_owner_check;")
    live_is_intact(live)


def test_a_stale_sandbox_role_from_a_killed_run_is_dropped(live, server, tmp_path):
    stale = f"{SANDBOX_PREFIX}1_{secrets.token_hex(4)}"
    scratch = f"{SCRATCH_PREFIX}reference_1_{secrets.token_hex(3)}"
    run_sql(server, f'CREATE ROLE "{stale}" LOGIN')
    run_sql(server, f'CREATE DATABASE "{scratch}" OWNER "{stale}"')
    proc = diff(live, SCHEMA, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stale not in list_sandbox_roles(server)
    assert scratch not in list_scratch_databases(server)


@pytest.fixture
def operator_role(server, live):
    """A non-superuser operator: owns live, may create databases and roles."""
    role = f"pgrt_operator_{secrets.token_hex(3)}"
    run_sql(server, f'CREATE ROLE "{role}" LOGIN CREATEDB CREATEROLE')
    run_sql(live, f'ALTER TABLE public.accounts OWNER TO "{role}"')
    yield role
    run_sql(live, "ALTER TABLE public.accounts OWNER TO CURRENT_USER")
    run_sql(server, f'DROP ROLE "{role}"')


def test_a_non_superuser_operator_with_createrole_loads_a_dump(live, operator_role,
                                                               server_major, tmp_path):
    as_operator = live.with_params(user=operator_role)
    dump = _pg_dump_schema(as_operator, server_major)
    assert f"OWNER TO {operator_role}" in dump
    proc = diff(live, dump, tmp_path, spec=as_operator)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    live_is_intact(live)


def test_without_createrole_the_error_says_what_to_do(live, server, operator_role, tmp_path):
    run_sql(server, f'ALTER ROLE "{operator_role}" NOCREATEROLE')
    proc = diff(live, SCHEMA, tmp_path, spec=live.with_params(user=operator_role))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = as_json(proc)
    assert err["error"] == "SandboxUnavailable"
    assert "CREATEROLE" in err["hint"] and "--scratch-dsn" in err["hint"]


def test_an_untrusted_extension_fails_with_a_message(live, tmp_path):
    rows = query(live, "SELECT name FROM pg_available_extension_versions "
                 "WHERE NOT trusted AND superuser ORDER BY name LIMIT 1")
    if not rows:
        pytest.skip("this server has no untrusted extension installed to try")
    proc = diff(live, f'CREATE EXTENSION IF NOT EXISTS "{rows[0][0]}";\n' + SCHEMA, tmp_path)
    assert proc.returncode == 2
    err = as_json(proc)
    assert "permission denied" in err["message"] and "--scratch-dsn" in err["hint"]


def test_a_trusted_extension_loads_as_the_database_owner(live, tmp_path):
    rows = query(live, "SELECT name FROM pg_available_extension_versions WHERE trusted "
                 "AND name <> 'plpgsql' ORDER BY name LIMIT 1")
    if not rows:
        pytest.skip("this server has no trusted extension besides plpgsql installed to try")
    proc = diff(live, f'CREATE EXTENSION IF NOT EXISTS "{rows[0][0]}" WITH SCHEMA public;\n'
                + SCHEMA, tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert ("missing", rows[0][0]) in {(c["bucket"], c["object"])
                                       for c in as_json(proc)["changes"]}


def test_with_a_scratch_server_the_file_runs_as_given(live, server, tmp_path):
    """--scratch-dsn (here from PGRECONCILE_SCRATCH_DSN): the file runs as the role given
    there, which may give objects away; no sandbox role is made."""
    path = tmp_path / "given.sql"
    path.write_text(SCHEMA + "\nALTER TABLE public.accounts OWNER TO CURRENT_USER;\n")
    proc = cli("diff", "--reference-sql", str(path), "--json", spec=live,
               extra_env={"PGRECONCILE_SCRATCH_DSN": server.conninfo()})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert as_json(proc)["empty"] is True
