"""inspect / migrations / diff / preflight on the seed example, through the real CLI,
the example project's real manage.py and a real server."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from pgreconcile.pg.scratch import drop_database, list_scratch_databases

from .support import (
    CLI,
    EXAMPLE,
    TEST_DB_PREFIX,
    as_json,
    cli,
    fingerprint_and_counts,
    query,
    run_sql,
)

SETTINGS = "pettycash_system.settings"


@pytest.fixture(scope="module")
def migrated_template(server):
    """A database built fresh by today's migrations, once for the module (`manage.py
    migrate` takes seconds): the tests get copies of it."""
    name = f"{TEST_DB_PREFIX}fresh_template_{secrets.token_hex(4)}"
    run_sql(server, f'CREATE DATABASE "{name}" TEMPLATE template0')
    spec = server.with_dbname(name)
    try:
        env = {**os.environ, "DATABASE_URL": spec.conninfo()}
        proc = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input"],
                              cwd=EXAMPLE, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        yield name
    finally:
        drop_database(server, name)


@pytest.fixture
def migrated(server, migrated_template):
    """A database built fresh by today's migrations (a copy of the module's), dropped after
    the test."""
    name = f"{TEST_DB_PREFIX}fresh_{secrets.token_hex(4)}"
    run_sql(server, f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield server.with_dbname(name)
    drop_database(server, name)


def test_inspect_shows_integer_id_primary_key_and_no_payment_id(drifted):
    result = as_json(cli("inspect", "--json", "--project-dir", str(EXAMPLE), spec=drifted))
    table = next(t for t in result["schema"]["tables"] if t["name"] == "treasury_payment")
    columns = {c["name"]: c for c in table["columns"]}
    assert columns["id"]["type"] == "integer" and "payment_id" not in columns
    pk = next(c for c in table["constraints"] if c["kind"] == "pk")
    assert pk["columns"] == ["id"]
    assert result["migrations"]["pending"] == ["treasury.0002_phase6_dashboard_models"]
    assert "treasury.0001_initial" in result["migrations"]["applied"]


def test_diff_reports_primary_key_drift_and_nothing_spurious(drifted):
    proc = cli("diff", "--json", "--project-dir", str(EXAMPLE), "--settings", SETTINGS,
               spec=drifted)
    assert proc.returncode == 3, proc.stderr
    result = as_json(proc)
    significant = {(c["bucket"], c["kind"], c["object"]) for c in result["changes"]
                   if not c["cosmetic"]}
    # The serial's own sequence may be reported with its column or on its own line.
    significant.discard(("extra", "sequence", "public.treasury_payment_id_seq"))
    assert significant == {
        ("missing", "column", "public.treasury_payment.payment_id"),
        ("extra", "column", "public.treasury_payment.id"),
        ("different", "constraint", "public.treasury_payment.treasury_payment_pkey"),
    }
    assert result["migrations"]["suspect_edited"] == [
        {"migration": "treasury.0001_initial", "tables": ["treasury_payment"]}]
    assert result["migrations"]["pending"] == ["treasury.0002_phase6_dashboard_models"]


def test_diff_against_latest_state_also_lists_pending_tables(drifted):
    result = as_json(cli("diff", "--json", "--project-dir", str(EXAMPLE),
                         "--reference-state", "latest", spec=drifted))
    missing_tables = {c["object"] for c in result["changes"]
                      if c["bucket"] == "missing" and c["kind"] == "table"}
    assert missing_tables == {"public.treasury_alert", "public.treasury_paymenttracking",
                              "public.treasury_dashboardsnapshot"}


def test_fresh_database_from_todays_migrations_diffs_clean(migrated, server):
    proc = cli("diff", "--json", "--project-dir", str(EXAMPLE), spec=migrated)
    result = as_json(proc)
    assert proc.returncode == 0, [c for c in result["changes"] if not c["cosmetic"]]
    assert result["empty"] is True
    assert list_scratch_databases(server) == []


def test_diff_against_own_restored_copy_is_empty(migrated, server, tmp_path):
    backup = as_json(cli("backup", "--json", "--out-dir", str(tmp_path), spec=migrated))
    target = f"{migrated.dbname}_copy"
    as_json(cli("restore", backup["path"], "--target-db", target, "--json", spec=server))
    try:
        proc = cli("diff", "--json", "--reference-dsn", server.with_dbname(target).conninfo(),
                   spec=migrated)
        assert proc.returncode == 0, as_json(proc)["changes"]
    finally:
        from pgreconcile.pg.scratch import drop_database
        drop_database(server, target)


def test_diff_against_sql_file_reference(db, tmp_path):
    run_sql(db, "CREATE TABLE t (id int PRIMARY KEY, name varchar(10))")
    ref = tmp_path / "expected.sql"
    ref.write_text("CREATE TABLE t (id int PRIMARY KEY, name varchar(20) NOT NULL);\n")
    proc = cli("diff", "--json", "--reference-sql", str(ref), spec=db)
    assert proc.returncode == 3
    changed = {(c["object"], tuple(c["attributes"])) for c in as_json(proc)["changes"]}
    assert ("public.t.name", ("type", "not_null")) in changed or any(
        o == "public.t.name" for o, _ in changed)


def test_preflight_reproduces_seed_error_without_touching_live(drifted, server):
    before = fingerprint_and_counts(drifted)
    proc = cli("preflight", "--json", "--project-dir", str(EXAMPLE), spec=drifted)
    assert proc.returncode == 3, proc.stderr
    result = as_json(proc)
    assert result["ok"] is False
    error = result["error"]
    assert error["type"] == "django.db.utils.ProgrammingError"
    assert 'column "payment_id" referenced in foreign key constraint does not exist' \
        in error["message"]
    assert error["migration"] == "treasury.0002_phase6_dashboard_models"
    assert "FOREIGN KEY" in error["sql"] and "payment_id" in error["sql"]
    assert "treasury.0002_phase6_dashboard_models" in result["migrate_plan"]
    assert fingerprint_and_counts(drifted) == before
    assert query(drifted, "SELECT count(*) FROM django_migrations WHERE app='treasury'") == [(1,)]
    assert list_scratch_databases(server) == []


def test_preflight_on_fresh_database_has_nothing_pending(migrated):
    result = as_json(cli("preflight", "--json", "--project-dir", str(EXAMPLE), spec=migrated))
    assert result["ok"] is True and result["pending"] == []


# ------------------------------------------------------------------ clear errors
def test_missing_project_dir_is_a_clear_error(db, tmp_path):
    proc = cli("diff", "--json", "--project-dir", str(tmp_path / "nope"), spec=db)
    assert proc.returncode == 1
    err = as_json(proc)
    assert err["error"] == "ProjectError" and "manage.py" in err["message"]
    assert "Traceback" not in proc.stderr


def test_unknown_settings_module_is_a_clear_error(drifted, server):
    proc = cli("diff", "--json", "--project-dir", str(EXAMPLE), "--settings",
               "pettycash_system.no_such_settings", spec=drifted)
    assert proc.returncode == 1
    err = as_json(proc)
    assert err["error"] == "ProjectError"
    assert "pettycash_system.no_such_settings" in err["message"]
    assert list_scratch_databases(server) == []


def test_project_whose_migrations_fail_is_a_clear_error(db, server, tmp_path):
    project = tmp_path / "broken"
    (project / "brokenapp" / "migrations").mkdir(parents=True)
    (project / "manage.py").write_text((EXAMPLE / "manage.py").read_text())
    (project / "brokensite").mkdir()
    (project / "brokensite" / "__init__.py").write_text("")
    (project / "brokensite" / "settings.py").write_text(
        "from pettycash_system.settings import *  # noqa\n"
        "INSTALLED_APPS = ['brokenapp']\n")
    (project / "brokenapp" / "__init__.py").write_text("")
    (project / "brokenapp" / "migrations" / "__init__.py").write_text("")
    (project / "brokenapp" / "migrations" / "0001_initial.py").write_text(
        "from django.db import migrations\n"
        "class Migration(migrations.Migration):\n"
        "    initial = True\n"
        "    operations = [migrations.RunSQL('CREATE TABLE x (id int REFERENCES missing(id))')]\n")
    proc = cli("diff", "--json", "--project-dir", str(project), "--settings",
               "brokensite.settings", "--reference-state", "latest", spec=db,
               extra_env={"PYTHONPATH": str(EXAMPLE)})
    assert proc.returncode == 1
    err = as_json(proc)
    assert err["error"] == "ProjectError" and "fail on an empty database" in err["message"]
    assert list_scratch_databases(server) == []


def test_unreachable_server_is_a_clear_error_for_diff(tmp_path):
    proc = cli("diff", "--json", "--project-dir", str(EXAMPLE), "--dsn",
               f"postgresql://x@/db?host={tmp_path}&port=9")
    assert proc.returncode == 1
    assert as_json(proc)["error"] == "ConnectionFailed"


def test_no_privilege_to_create_scratch_database_is_a_clear_error(drifted, server):
    role = "pgrt_nocreatedb_" + os.urandom(3).hex()
    run_sql(server, f"CREATE ROLE {role} LOGIN NOCREATEDB")
    run_sql(drifted, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        proc = cli("diff", "--json", "--project-dir", str(EXAMPLE), spec=drifted.with_params(
            user=role), extra_env={"PGRECONCILE_NO_CACHE": "1"})
        assert proc.returncode == 1
        err = as_json(proc)
        assert err["error"] == "ScratchUnavailable"
        assert "CREATEDB" in err["hint"] and "--scratch-dsn" in err["hint"]
        assert list_scratch_databases(server) == []
    finally:
        run_sql(drifted, f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        run_sql(server, f"DROP ROLE {role}")


def test_scratch_server_from_the_environment_keeps_its_dsn_off_the_command_line(drifted,
                                                                                 server):
    """A role without CREATEDB diffs when PGRECONCILE_SCRATCH_DSN names a server where
    scratch databases may be made: the scheduled launchers pass it this way only."""
    role = "pgrt_nocreatedb_" + os.urandom(3).hex()
    run_sql(server, f"CREATE ROLE {role} LOGIN NOCREATEDB")
    run_sql(drifted, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        proc = cli("diff", "--json", "--project-dir", str(EXAMPLE), spec=drifted.with_params(
            user=role), extra_env={"PGRECONCILE_NO_CACHE": "1",
                                   "PGRECONCILE_SCRATCH_DSN": server.conninfo()})
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert not as_json(proc)["empty"]
        assert list_scratch_databases(server) == []
    finally:
        run_sql(drifted, f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        run_sql(server, f"DROP ROLE {role}")


def test_applied_migration_unknown_to_the_project_is_reported(drifted):
    run_sql(drifted, "INSERT INTO django_migrations (app, name, applied) "
                     "VALUES ('treasury', '0099_hotfix_from_another_branch', now())")
    proc = cli("migrations", "--project-dir", str(EXAMPLE), "--json", spec=drifted)
    assert proc.returncode == 3
    state = as_json(proc)
    assert state["unknown_applied"] == ["treasury.0099_hotfix_from_another_branch"]
    assert state["pending"] == ["treasury.0002_phase6_dashboard_models"]


def test_ctrl_c_while_building_the_reference_leaves_no_scratch_database(drifted, server):
    import signal
    import time
    env = {**os.environ, "DATABASE_URL": drifted.conninfo(), "PGRECONCILE_NO_CACHE": "1"}
    proc = subprocess.Popen([*CLI, "diff", "--project-dir", str(EXAMPLE), "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list_scratch_databases(server):
        time.sleep(0.05)
    assert list_scratch_databases(server), "the scratch database never appeared"
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole group on Ctrl-C
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert json.loads(stdout)["error"] == "Interrupted"
    assert list_scratch_databases(server) == []


def test_reference_schema_is_reused_only_for_the_same_migrations(drifted, tmp_path):
    cache = tmp_path / "cache"
    env = {"PGRECONCILE_CACHE_DIR": str(cache)}
    first = as_json(cli("diff", "--json", "--project-dir", str(EXAMPLE), spec=drifted,
                        extra_env=env))
    entries = list((cache / "reference").glob("*.json"))
    assert len(entries) == 1
    second = as_json(cli("diff", "--json", "--project-dir", str(EXAMPLE), spec=drifted,
                         extra_env=env))
    assert second["changes"] == first["changes"]
    latest = as_json(cli("diff", "--json", "--project-dir", str(EXAMPLE), "--reference-state",
                         "latest", spec=drifted, extra_env=env))
    assert len(list((cache / "reference").glob("*.json"))) == 2  # other targets, other entry
    assert len(latest["changes"]) > len(first["changes"])
    # An edited migration file changes the digest: the old entry is not used.
    project = tmp_path / "project"
    import shutil
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    migration = project / "treasury" / "migrations" / "0001_initial.py"
    migration.write_text(migration.read_text().replace("max_length=120", "max_length=150"))
    edited = as_json(cli("diff", "--json", "--project-dir", str(project), spec=drifted,
                         extra_env=env))
    assert len(list((cache / "reference").glob("*.json"))) == 3
    assert any(c["object"] == "public.treasury_payment.payee" for c in edited["changes"])
