"""Secrets (issue 13, point 7): one redaction function for every form a password takes,
secret connection options kept off command lines, private report and plan files, and
refusals over existing rows that name keys, not values.

The property tests run `redact` over random passwords (with @ : ' " blanks, backslashes,
unicode) embedded in every form; the end-to-end tests run the CLI and ansible-playbook with
a password-bearing DSN and look for the password everywhere they wrote.
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
import stat
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pgreconcile import files
from pgreconcile.errors import UsageError
from pgreconcile.pg.connection import ConnectionSpec, redact
from pgreconcile.pg.scratch import drop_database

from .support import TEST_DB_PREFIX, ansible, cli, query, run_sql

# --------------------------------------------------------------------------- redact()
PASSWORDS = st.text(
    alphabet=st.one_of(st.sampled_from("@:'\" \\/?#&=%;,{}[]|>-"),
                       st.characters(blacklist_categories=("Cs",))),
    min_size=1, max_size=24).filter(lambda p: p.strip() and "\x00" not in p)


def _kv_quote(password: str) -> str:
    """A conninfo value as libpq reads it: single-quoted, \\ and ' escaped."""
    return "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"


def forms(password: str) -> dict[str, tuple[str, str]]:
    """Every way a password reaches text: name -> (text, the password as written there)."""
    kv = _kv_quote(password)
    one_line = "\n" not in password and "\r" not in password
    enc = quote(password, safe="")
    found = {
        "conninfo": (f"host=db.internal password={kv} dbname=app", kv),
        "conninfo spaced upper": (f"host=db PASSWORD = {kv} user=app", kv),
        "sslpassword": (f"sslmode=verify-full sslpassword={kv} sslkey=/k", kv),
        "uri encoded": (f"postgresql://app:{enc}@db.internal:5432/app", enc),
        "query param": (f"postgresql://db.internal/app?sslmode=require&password={enc}", enc),
        "json": (json.dumps({"host": "db", "password": password, "user": "app"}),
                 json.dumps(password)[1:-1]),
        "json unicode": (json.dumps({"password": password, "x": 1}, ensure_ascii=False),
                         json.dumps(password, ensure_ascii=False)[1:-1]),
        "python repr": (repr({"db_password": password, "db_user": "app"}), repr(password)),
        "env shell": (f"PGPASSWORD={shlex.quote(password)} pg_dump -d app",
                      shlex.quote(password)),
        "sql": ("ALTER ROLE app PASSWORD '" + password.replace("'", "''") + "'",
                password.replace("'", "''")),
        "message": (f"cannot parse: password={kv} is odd", kv),
    }
    dumped = yaml.safe_dump({"reference_password": password, "other": "x"}, width=10**6,
                            allow_unicode=True)
    found["yaml"] = (dumped, yaml.safe_dump(password, width=10**6, allow_unicode=True)
                     .removesuffix("\n...\n").strip())
    if one_line:
        found["uri raw"] = (f"cannot connect to postgresql://app:{password}@db:5432/app now",
                            password)
        found["yaml plain"] = (f"reference_dsn: x\npassword: {password}\nuser: app", password)
        double = password.replace("\\", "\\\\").replace('"', '\\"')
        found["env double"] = (f'export PGPASSWORD="{double}"; psql', double)
    return found


def leaked(password: str, around: str, out: str) -> list[str]:
    """Pieces of the password (4+ characters, or all of a shorter one) left in `out` that
    the text around it (the same form with an empty password) does not hold."""
    pieces = {password[i:j] for i in range(len(password))
              for j in range(i + 4, len(password) + 1)}
    if len(password) < 4:
        pieces.add(password)
    return sorted(p for p in pieces if p.strip() and p in out and p not in around
                  and p not in "********")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=PASSWORDS)
def test_redact_removes_random_passwords_from_every_form(password):
    empty = forms("")
    for name, (text, written) in forms(password).items():
        out = redact(text)
        around = empty[name][0]
        assert "********" in out, (name, text, out)
        assert not leaked(password, around, out), (name, text, out)
        assert not leaked(written, around, out), (name, text, out)


@settings(max_examples=60, deadline=None)
@given(password=PASSWORDS)
def test_conninfo_form_is_what_libpq_reads(password):
    """The conninfo form the property test uses is one libpq accepts, as that password."""
    assert conninfo_to_dict(f"host=h password={_kv_quote(password)}")["password"] == password


@pytest.mark.parametrize("text, kept", [
    ("postgresql://app@db/app failed for ann@example.com", "ann@example.com"),
    ("SELECT password::text FROM accounts", "password::text FROM accounts"),
    ("password authentication failed for user \"app\"", "authentication failed"),
    ("password_encryption = scram-sha-256", "scram-sha-256"),
])
def test_redact_leaves_what_is_no_secret(text, kept):
    assert kept in redact(text)


def test_redact_takes_anything():
    assert redact(None) == ""
    assert redact(ValueError("password=x")) == "password=********"


# --------------------------------------------------------------------------- ConnectionSpec
def test_sslpassword_is_secret_and_never_reaches_a_child_tool():
    spec = ConnectionSpec.resolve("host=db dbname=app user=app password=pw1secret "
                                  "sslpassword=keypass99 sslkey=/etc/k.pem")
    assert "keypass99" not in spec.redacted() and "pw1secret" not in spec.redacted()
    assert "sslkey=/etc/k.pem" in spec.redacted()
    public = spec.public_conninfo()
    assert "keypass99" not in public and "pw1secret" not in public and "sslkey" in public
    with pytest.raises(UsageError, match="sslpassword") as caught:
        spec.child_env({})
    assert caught.value.hint and "keypass99" not in str(caught.value)
    env = ConnectionSpec.resolve("host=db password=pw1secret").child_env({})
    assert env["PGPASSWORD"] == "pw1secret"


@pytest.mark.parametrize("dsn", ["host=db password='half open", "password=a b c",
                                 "user=x password = 'zz\\'",
                                 "postgresql://u:half%zzopen@h/db"])
def test_an_unparsable_dsn_with_a_password_names_no_part_of_it(dsn):
    with pytest.raises(UsageError) as caught:
        ConnectionSpec.resolve(dsn)
    text = str(caught.value)
    assert "withheld" in text
    for piece in ("half", "open", "a b", "b c", "zz"):
        assert piece not in text


# --------------------------------------------------------------------------- private files
def test_private_files_are_0600_from_the_start(tmp_path):
    path = files.write_private_json(tmp_path / "sub" / "plan.json", {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = files.write_private_text(tmp_path / "report.md", "x")
    assert stat.S_IMODE(text.stat().st_mode) == 0o600


def test_windows_acl_command_and_only_on_windows(tmp_path, monkeypatch):
    calls = []
    assert files.restrict_acl(tmp_path / "f", os_name="posix", run=calls.append) is False
    assert calls == []
    monkeypatch.setenv("USERNAME", "ops")
    monkeypatch.setenv("USERDOMAIN", "CORP")
    assert files.restrict_acl(tmp_path / "f", os_name="nt",
                              run=lambda argv, **kw: calls.append((argv, kw))) is True
    assert calls == [(["icacls", str(tmp_path / "f"), "/inheritance:r", "/grant:r",
                       "CORP\\ops:F"], {"check": True, "capture_output": True})]
    calls.clear()
    files.restrict_acl(tmp_path, os_name="nt", run=lambda argv, **kw: calls.append(argv))
    assert calls == [["icacls", str(tmp_path), "/inheritance:r", "/grant:r",
                      "CORP\\ops:(OI)(CI)F"]]  # a directory backup: its files inherit it


# --------------------------------------------------------------------------- end to end
PASSWORD = f"p@ss: w'rd\\{secrets.token_hex(4)}é\"x"


@pytest.fixture(scope="module")
def site(server):
    """A login role with PASSWORD, owning `live` (duplicate e-mails) and `ref` (e-mail
    unique). The embedded server trusts local connections, so the password is carried,
    not checked; it must still appear nowhere."""
    tag = secrets.token_hex(3)
    role, names = f"pgrt_secret_{tag}", [f"{TEST_DB_PREFIX}sec_live_{tag}",
                                         f"{TEST_DB_PREFIX}sec_ref_{tag}"]
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(PASSWORD)))
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)))
    live, ref = (server.with_dbname(n).with_params(user=role, password=PASSWORD)
                 for n in names)
    run_sql(live, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);"
                  "INSERT INTO users VALUES (101, 'ann.secret@example.com'), "
                  "(102, 'ann.secret@example.com'), (103, 'bob@example.com')")
    run_sql(ref, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE)")
    yield live, ref
    for name in names:
        drop_database(server, name)
    run_sql(server, f'DROP ROLE IF EXISTS "{role}"')


def _no_password_anywhere(proc, directory: Path) -> list[Path]:
    pieces = [PASSWORD, PASSWORD.split("\\")[1], quote(PASSWORD, safe="")]
    for piece in pieces:
        assert piece not in proc.stdout and piece not in proc.stderr, piece
    written = [p for p in directory.rglob("*") if p.is_file()]
    for path in written:
        data = path.read_bytes()
        for piece in pieces:
            assert piece.encode() not in data, f"{piece!r} written to {path}"
    return written


def test_a_password_dsn_reaches_no_output_or_file_and_files_are_private(site, tmp_path):
    live, ref = site
    plan = tmp_path / "plan.json"
    proc = cli("plan", "--dsn", live.conninfo(), "--reference-dsn", ref.conninfo(),
               "--out", str(plan), "--sql", str(tmp_path / "plan.sql"))
    assert proc.returncode == 3, proc.stderr
    _no_password_anywhere(proc, tmp_path)
    reports = tmp_path / "reports"
    proc = cli("reconcile", "--dsn", live.conninfo(), "--reference-dsn", ref.conninfo(),
               "--no-backup", "--no-migrate", "--report-dir", str(reports), "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # the duplicate e-mails
    written = _no_password_anywhere(proc, tmp_path)
    names = {p.name for p in written}
    assert {"plan.json", "plan.sql", "report.json", "report.md", "report.html"} <= names
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # A DSN that fails to connect: the error names the server, never the password.
    bad = live.with_params(host="/nonexistent-socket-dir")
    proc = cli("inspect", "--dsn", bad.conninfo())
    assert proc.returncode == 1 and "cannot connect" in proc.stderr
    _no_password_anywhere(proc, tmp_path)
    uri = (f"postgresql://app:{PASSWORD.replace(' ', '')}@/nodb?host=/nonexistent-socket-dir")
    proc = cli("inspect", "--dsn", uri)
    assert proc.returncode in (1, 2), proc.stderr
    assert PASSWORD.replace(" ", "") not in proc.stderr + proc.stdout


def test_a_refusal_over_rows_shows_keys_not_emails_unless_show_samples(site, tmp_path):
    live, ref = site
    common = ["--dsn", live.conninfo(), "--reference-dsn", ref.conninfo(), "--no-backup",
              "--no-migrate"]
    proc = cli("reconcile", *common, "--report-dir", str(tmp_path / "keys"))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "id = 101, 102" in proc.stderr and "ann.secret" not in proc.stderr
    assert "--show-samples" in proc.stderr
    for name in ("report.json", "report.md", "report.html"):
        text = (tmp_path / "keys" / name).read_text()
        assert "ann.secret" not in text, name
        assert "101" in text, name
    proc = cli("reconcile", *common, "--show-samples", "--report-dir", str(tmp_path / "vals"))
    assert proc.returncode == 4
    assert "ann.secret@example.com" in proc.stderr
    assert "ann.secret@example.com" in (tmp_path / "vals" / "report.json").read_text()
    assert query(live, "SELECT count(*) FROM pg_indexes WHERE tablename = 'users'") == [(1,)]


def test_ansible_output_never_shows_a_reference_dsn_password(site, tmp_path):
    live, ref = site
    play = tmp_path / "plan.yml"
    # A password with a quote that YAML and Jinja carry through unchanged.
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [
            {"name": "plan against a reference that has a password",
             "pgreconcile_plan": {"reference_dsn": "{{ lookup('env', 'REF_DSN') }}",
                                  "out_dir": str(tmp_path / "out")}},
            {"name": "a reference that fails to connect",
             "pgreconcile_plan": {"reference_dsn": "{{ lookup('env', 'BAD_DSN') }}"},
             "ignore_errors": True},
        ]}]))
    bad = ref.with_params(host="/nonexistent-socket-dir").conninfo()
    proc = ansible("ansible-playbook", str(play), "-i", "localhost,", "-vvv",
                   "-e", f"ansible_python_interpreter={sys.executable}", spec=live,
                   env={"REF_DSN": ref.conninfo(), "BAD_DSN": bad,
                        "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert "plan against a reference" in proc.stdout, proc.stdout[-3000:] + proc.stderr
    assert "ok=2" in proc.stdout or "ok=1" in proc.stdout, proc.stdout[-3000:]
    assert "cannot connect" in proc.stdout, proc.stdout[-3000:]
    for piece in (PASSWORD, PASSWORD.split("\\")[1], PASSWORD.split(" ")[0]):
        assert piece not in proc.stdout and piece not in proc.stderr, piece
    for path in (tmp_path / "out").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert PASSWORD.split("\\")[1].encode() not in path.read_bytes()


def test_cli_flag_is_documented():
    proc = cli("apply", "--help")
    assert "--show-samples" in proc.stdout
