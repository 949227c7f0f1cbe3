"""The Ansible face of the backup stage, run for real: ansible-playbook against localhost,
pg_dump against the session's PostgreSQL server.

The connection reaches ansible-playbook the way an operator's would: PG* variables in its
environment (never a password in -e), read by inventory/group_vars/local.yml.
"""
from __future__ import annotations

import json
import re
import secrets
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from psycopg import sql

from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database

from .support import REPO, ansible, query, run_sql, task_results

ROWS = 250


def backup_playbook(spec: ConnectionSpec, out_dir: Path, *extra: str,
                    verbosity: str = "-v") -> subprocess.CompletedProcess:
    return ansible("ansible-playbook", "playbooks/backup.yml", "-l", "local",
                   "-e", f"reconcile_backup_dir={out_dir}", verbosity, *extra, spec=spec)


def populate(spec: ConnectionSpec) -> None:
    run_sql(spec, f"""
        CREATE TABLE treasury_payment (id integer PRIMARY KEY, amount numeric(12,2), memo text);
        INSERT INTO treasury_payment
        SELECT g, g * 1.5, 'payment ' || g FROM generate_series(1, {ROWS}) g;
    """)


def files_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*")) if directory.exists() else []


# --------------------------------------------------------------------------- playbook runs
@pytest.fixture(scope="module")
def password_runs(server, tmp_path_factory):
    """One database owned by a login role with a real password, backed up twice into one
    directory, as that role: first with -vvv and the test restore, then with
    reconcile_backup_keep=1 (no test restore). Several tests read the two runs.
    The role and the database are removed afterwards."""
    role = f"pgrt_pw_{secrets.token_hex(4)}"
    password = f"Lit3ral-{secrets.token_hex(12)}"
    name = f"pgrt_ansbackup_{secrets.token_hex(4)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
            sql.Identifier(name)))
    db = server.with_dbname(name)
    try:
        populate(db)
        run_sql(db, sql.SQL("ALTER TABLE treasury_payment OWNER TO {}").format(
            sql.Identifier(role)).as_string(None))
        spec = db.with_params(user=role, password=password)
        out_dir = tmp_path_factory.mktemp("ansible-backup") / "backups"
        first = backup_playbook(spec, out_dir, verbosity="-vvv")
        # The second run removes the first's files (keep 1): what they were, kept here.
        first_files = {path: (stat.S_IMODE(path.stat().st_mode), path.read_bytes())
                       for path in files_in(out_dir)}
        second = backup_playbook(spec, out_dir, "-e", "reconcile_backup_keep=1",
                                 "-e", "reconcile_backup_test_restore=false")
        yield {"db": db, "spec": spec, "password": password, "out_dir": out_dir, "first": first,
               "first_files": first_files, "second": second}
    finally:
        drop_database(server, name)
        with server.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_backup_playbook_writes_verified_backup_and_manifest(password_runs):
    spec, out_dir = password_runs["spec"], password_runs["out_dir"]

    results = task_results(password_runs["first"])

    dump_task = results["Dump the database, prove the dump and write its manifest"]
    assert dump_task["changed"] is True
    assert "censored" in dump_task, "the task that sees the password must be no_log"
    shown = results["Show the verified backup"]["msg"]
    assert shown["verified"] is True
    assert shown["test_restore"]["ok"] is True
    backup, manifest_path = Path(shown["path"]), Path(shown["manifest"])
    assert backup.parent == out_dir and backup.suffix == ".dump"
    written = password_runs["first_files"]
    assert sorted(written) == [backup, manifest_path]
    assert written[backup][0] == 0o600
    manifest = json.loads(written[manifest_path][1])
    assert manifest["sha256"] == shown["sha256"]
    assert manifest["verified"] is True
    assert manifest["database"] == spec.dbname
    assert manifest["row_counts"] == {"public.treasury_payment": ROWS}


def test_backup_playbook_keeps_newest_backups(password_runs):
    first = task_results(password_runs["first"])
    second = task_results(password_runs["second"])

    first_path = first["Show the verified backup"]["msg"]["path"]
    shown = second["Show the verified backup"]["msg"]
    assert shown["removed"] == [first_path]
    assert [p.name for p in files_in(password_runs["out_dir"])] == sorted(
        [Path(shown["path"]).name, Path(shown["manifest"]).name])


def test_check_mode_writes_nothing_and_reports_the_would_be_dump(db, tmp_path):
    populate(db)
    out_dir = tmp_path / "backups"

    proc = backup_playbook(db, out_dir, "--check", "--diff")
    results = task_results(proc)

    assert files_in(out_dir) == [] and not out_dir.exists()
    assert results["Dump the database, prove the dump and write its manifest"]["changed"] is True
    assert results["Show the verified backup"]["status"] == "skipping"
    would = results["Show what the backup would dump"]["msg"]
    assert would["database"] == db.dbname
    assert would["tables"] == 1
    assert would["would_write_to"] == str(out_dir)
    assert Path(would["pg_dump"]["path"]).name == "pg_dump"


def test_module_check_mode_diff_names_the_backup_file(db, tmp_path):
    populate(db)
    out_dir = tmp_path / "backups"

    proc = ansible("ansible", "localhost", "-m", "pgreconcile_backup", "-a",
                   f"out_dir={out_dir}", "--check", "--diff", spec=db)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(r"^localhost \| CHANGED => ", proc.stdout, re.MULTILINE)
    assert found, proc.stdout
    result, _ = json.JSONDecoder().raw_decode(proc.stdout[found.end():])
    assert result["changed"] is True and result["tables"] == 1
    assert f"+would write {out_dir}/{db.dbname}-" in proc.stdout
    assert "1 tables" in proc.stdout
    assert not out_dir.exists()


def _python_without_engine() -> str | None:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists() and subprocess.run(
                [candidate, "-c", "import pgreconcile"], capture_output=True,
                check=False).returncode != 0:
            return candidate
    return None


def test_missing_engine_fails_with_install_hint(db, tmp_path):
    python = _python_without_engine()
    if python is None:
        pytest.skip("no Python without pgreconcile on this machine")
    out_dir = tmp_path / "backups"

    proc = backup_playbook(db, out_dir, "-e", f"ansible_python_interpreter={python}")

    assert proc.returncode != 0
    assert "EngineMissing" in proc.stdout
    assert "playbooks/toolkit.yml" in proc.stdout
    assert not out_dir.exists()


def test_password_never_appears_in_output_or_manifest(password_runs):
    spec, password = password_runs["spec"], password_runs["password"]
    assert spec.child_env()["PGPASSWORD"] == password
    proc = password_runs["first"]

    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert "<localhost> EXEC" in proc.stdout, "expected -vvv output"
    assert "changed=1" in proc.stdout
    for run in (proc, password_runs["second"]):
        assert password not in run.stdout
        assert password not in run.stderr
    written = {**password_runs["first_files"],
               **{path: (None, path.read_bytes()) for path in files_in(password_runs["out_dir"])
                  if path.is_file()}}
    assert any(p.name.endswith(".manifest.json") for p in written)
    for path, (_, data) in written.items():
        assert password.encode() not in data, f"password written to {path}"
    owner = query(spec, "SELECT current_user")[0][0]
    assert owner == spec.params["user"]


# --------------------------------------------------------------------------- docs
# ansible-lint (production profile) over every playbook, role and the inventory:
# tests/test_ansible_molecule.py::test_ansible_lint_production_profile_passes.
@pytest.mark.parametrize("module_path_args", [(), ("-M", "library")], ids=["ansible.cfg", "-M"])
def test_ansible_doc_renders_backup_module(module_path_args):
    proc = ansible("ansible-doc", "-t", "module", *module_path_args, "pgreconcile_backup")

    assert proc.returncode == 0, proc.stderr
    assert "[ERROR]" not in proc.stderr and "[WARNING]" not in proc.stderr
    for option in ("out_dir", "format", "jobs", "test_restore", "keep",
                   "db_name", "db_host", "db_port", "db_user", "db_password", "pg_bin_dir"):
        assert option in proc.stdout, f"{option} missing from ansible-doc output"
    assert "RETURN VALUES" in proc.stdout and "sha256" in proc.stdout


def test_ansible_doc_renders_restore_module():
    proc = ansible("ansible-doc", "-t", "module", "pgreconcile_restore")

    assert proc.returncode == 0, proc.stderr
    for option in ("path", "target_db", "replace", "db_password"):
        assert option in proc.stdout


def test_no_literal_password_in_inventory_or_role():
    """Every password-like setting is a vault variable or a lookup, never a literal."""
    offenders = []
    for path in [*(REPO / "inventory").rglob("*.yml"), *(REPO / "roles").rglob("*.yml")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            key, sep, value = line.strip().partition(":")
            if sep and "password" in key and not key.startswith("#") and "description" not in key:
                value = value.split(" #")[0].strip()
                if value and "{{" not in value and value not in {"''", '""', "true", "false"}:
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_inventory_doc_lists_every_role_variable_with_its_default():
    """docs/inventory.md holds the contract of every role variable (defaults/main.yml)."""
    doc = (REPO / "docs" / "inventory.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in doc.splitlines()
            if line.startswith("| `")}
    missing = []
    for role in ("reconcile", "schedule", "toolkit"):
        defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
        missing += [name for name in defaults if name not in rows]
    assert missing == []
    assert "`5432`" in rows["reconcile_db_port"] and "`[lint]`" in rows["toolkit_extras"]


def test_restore_module_check_mode_refuses_an_existing_target_as_a_real_run(password_runs,
                                                                           make_db):
    """Check mode says what a real run would do: an existing target without replace is
    refused (never shown as a change), and nothing is touched either way. The dump is the
    backup playbook's newest (password_runs)."""
    db = password_runs["db"]
    dump = next(p for p in password_runs["out_dir"].iterdir() if p.suffix == ".dump")
    existing = make_db("restore_into")
    run_sql(existing, "CREATE VIEW v AS SELECT 1 AS one")  # "empty" once; now it exists
    refused = ansible("ansible", "localhost", "-m", "pgreconcile_restore", "-a",
                      f"path={dump} target_db={existing.dbname}", "--check", spec=db)
    assert refused.returncode != 0, refused.stdout
    assert "FAILED" in refused.stdout and "without --replace" in refused.stdout, refused.stdout
    assert query(existing, "SELECT count(*) FROM pg_views WHERE viewname = 'v'") == [(1,)]
    shown = ansible("ansible", "localhost", "-m", "pgreconcile_restore", "-a",
                    f"path={dump} target_db={existing.dbname} replace=true", "--check",
                    spec=db)
    assert shown.returncode == 0 and "CHANGED" in shown.stdout, shown.stdout + shown.stderr
    assert query(existing, "SELECT count(*) FROM pg_views WHERE viewname = 'v'") == [(1,)]
