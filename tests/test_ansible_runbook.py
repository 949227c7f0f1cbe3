"""The runbook's Ansible face, run for real: `ansible-playbook reconcile.yml -l local` against
localhost and the seed's drifted pettycash database on the session's PostgreSQL server.

The connection reaches ansible-playbook the way an operator's would: PG* variables in its
environment (never a password in -e), read by inventory/group_vars/local.yml.

Playbook runs take tens of seconds each, so the databases are shared where the tests do not
conflict: one database is reconciled once (by a password-login role, with -vvv) and then run
again; another stays drifted for check mode and the window refusal, and is used last for the
rollback drill. Molecule and ansible-lint run in tests/test_ansible_molecule.py.
"""
from __future__ import annotations

import json
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from psycopg import sql

from pgreconcile.pg import census
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database, list_scratch_databases

from .support import (
    BIN,
    EXAMPLE,
    REPO,
    TEST_DB_PREFIX,
    ansible,
    build_drifted,
    closed_window,
    query,
    recap,
    schema_errors,
    task_results,
    tool_env,
)

pytestmark = pytest.mark.slow

ROWS = 300
MIGRATION_0002 = "0002_phase6_dashboard_models"
MODULES = ("pgreconcile_inspect", "pgreconcile_preflight", "pgreconcile_plan",
           "pgreconcile_apply", "pgreconcile_migrate", "pgreconcile_verify",
           "pgreconcile_rollback", "pgreconcile_report")


# --------------------------------------------------------------------------- helpers
def playbook(spec: ConnectionSpec, dirs: dict[str, Path], *args: str,
             name: str = "reconcile.yml", timeout: int = 300) -> subprocess.CompletedProcess:
    """ansible-playbook from the repository root on the `local` group, backups and reports
    in the test's own directories."""
    return ansible("ansible-playbook", name, "-l", "local",
                   "-e", f"reconcile_backup_dir={dirs['backups']}",
                   "-e", f"reconcile_report_dir={dirs['reports']}", *args,
                   spec=spec, timeout=timeout)


def state_of(spec: ConnectionSpec) -> tuple[str, dict[str, int]]:
    """Schema fingerprint and row counts (tables `migrate` writes to left out)."""
    with spec.connect() as conn:
        counts = {t: n for t, n in census.row_counts(conn).items()
                  if t.split(".", 1)[-1] not in ("django_content_type", "auth_permission")}
        return census.schema_fingerprint(conn), counts


def applied_migrations(spec: ConnectionSpec) -> set[str]:
    return {r[0] for r in query(spec, "SELECT name FROM django_migrations "
                                      "WHERE app = 'treasury'")}


def flat(text: str) -> str:
    """Output with line wrapping undone, for phrases that may be wrapped."""
    return " ".join(text.split())


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def run_dirs(root: Path) -> dict[str, Path]:
    return {"backups": root / "backups", "reports": root / "reports"}


# --------------------------------------------------------------------------- databases
@pytest.fixture(scope="module")
def module_dir():
    with tempfile.TemporaryDirectory(prefix="pgreconcile-runbook-") as directory:
        yield Path(directory)


@pytest.fixture(scope="module")
def databases(server):
    """Factory for databases that live as long as this module; all dropped at the end."""
    created: list[str] = []

    def create(label: str, owner: str | None = None) -> ConnectionSpec:
        name = f"{TEST_DB_PREFIX}{label}_{secrets.token_hex(4)}"
        with server.connect() as conn:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                sql.Identifier(name))
            if owner:
                statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            conn.execute(statement)
        created.append(name)
        return server.with_dbname(name)

    yield create
    for name in created:
        drop_database(server, name)


def build_drift(spec: ConnectionSpec) -> ConnectionSpec:
    return build_drifted(spec, ROWS)


@pytest.fixture(scope="module")
def password_role(server):
    """A login role with a real password (CREATEDB, no superuser); dropped at the end."""
    role = f"pgrt_runbook_{secrets.token_hex(4)}"
    password = f"Lit3ral-{secrets.token_hex(12)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
    yield role, password
    with server.connect() as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def as_role(spec: ConnectionSpec, role: str, password: str) -> ConnectionSpec:
    """`spec` logged in as `role`: over the server's socket when that lets a password role in
    (the embedded server), else over TCP on localhost, where the password is checked
    (Debian's packaged cluster allows only peer logins on its socket)."""
    candidates = [spec.with_params(user=role, password=password),
                  spec.with_params(user=role, password=password, host="127.0.0.1")]
    for candidate in candidates:
        try:
            with candidate.connect():
                return candidate
        except Exception:  # noqa: BLE001 - try the next way in
            continue
    pytest.fail(f"role {role} can log in neither over the socket nor over TCP on localhost")


@pytest.fixture(scope="module")
def first_run(databases, password_role, module_dir, server):
    """The drifted database, owned by and reconciled as the password-login role, with -vvv."""
    role, password = password_role
    spec = as_role(databases("runbook", owner=role), role, password)
    build_drift(spec)
    before = state_of(spec)
    dirs = run_dirs(module_dir / "first")
    started = time.monotonic()
    proc = playbook(spec, dirs, "-vvv")
    yield {"spec": spec, "proc": proc, "dirs": dirs, "before": before, "password": password,
           "role": role, "seconds": time.monotonic() - started}
    drop_database(server, spec.dbname)


@pytest.fixture(scope="module")
def second_run(first_run):
    files_before = files_under(first_run["dirs"]["backups"])
    proc = playbook(first_run["spec"], first_run["dirs"])
    return {"proc": proc, "backups_before": files_before}


@pytest.fixture(scope="module")
def drifted(databases):
    """A drifted database that check mode and the window refusal leave as it is; the rollback
    drill uses it last."""
    spec = build_drift(databases("drifted"))
    return {"spec": spec, "state": state_of(spec)}


# --------------------------------------------------------------------------- (a) full run
def test_full_run_applies_0002_verifies_and_writes_the_report(first_run):
    proc, spec, dirs = first_run["proc"], first_run["spec"], first_run["dirs"]
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert recap(proc.stdout)["failed"] == 0

    assert {"0001_initial", MIGRATION_0002} <= applied_migrations(spec)
    assert query(spec, "SELECT count(*), count(payment_id) FROM treasury_payment") \
        == [(ROWS, ROWS)]
    results = task_results(proc.stdout)
    assert results["Show the verification"]["msg"]["ok"] is True
    assert results["Show the verification"]["msg"]["problems"] == []
    assert "payment_id" in results["Show what a real migrate would do"]["msg"]["summary"]
    assert results["Show the plan"]["msg"]["proof"] == "all 1 pending migrations apply cleanly"
    for stage in ("Carry out the plan's steps that are not done yet",
                  "Run migrate for the pending migrations",
                  "Dump the database, prove the dump and write its manifest"):
        assert results[stage]["status"] == "changed", stage
        assert "censored" in results[stage], f"{stage} sees the password: it must be no_log"

    report = json.loads((dirs["reports"] / "report.json").read_text())
    assert schema_errors(report) == []
    assert report["face"] == "ansible" and report["dry_run"] is False
    assert report["ok"] is True and report["changed"] is True and report["error"] is None
    assert [s["stage"] for s in report["stages"]] == [
        "window", "inspect", "preflight", "plan", "backup", "apply", "migrate", "verify"]
    assert report["migrate"]["applied"] == [f"treasury.{MIGRATION_0002}"]
    assert report["verify"]["ok"] is True
    assert report["backup"]["verified"] is True
    assert report["preflight_before"]["ok"] is False
    assert report["preflight_after"]["ok"] is True
    for name in ("report.md", "report.html", "plan.json", "plan.sql"):
        assert (dirs["reports"] / name).stat().st_size > 0, name
    assert report["plan"]["id"] == json.loads((dirs["reports"] / "plan.json").read_text())["id"]
    assert Path(report["backup"]["path"]).exists()


def test_the_run_connected_as_the_password_role(first_run):
    spec, role = first_run["spec"], first_run["role"]
    owners = {r[0] for r in query(spec, "SELECT tableowner FROM pg_tables "
                                        "WHERE tablename LIKE 'treasury_%' "
                                        "OR schemaname = 'pgreconcile'")}
    assert owners == {role}


# --------------------------------------------------------------------------- (b) idempotent
def test_second_run_changes_nothing(second_run, first_run):
    proc = second_run["proc"]
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert recap(proc.stdout)["changed"] == 0
    assert not re.search(r"^changed: \[localhost\]", proc.stdout, re.MULTILINE)
    results = task_results(proc.stdout)
    assert results["Show the plan"]["msg"]["would_change"] is False
    assert results["Dump the database, prove the dump and write its manifest"]["status"] \
        == "skipping"
    assert files_under(first_run["dirs"]["backups"]) == second_run["backups_before"]
    assert results["Show the verification"]["msg"]["ok"] is True
    # It took no lock, and leaves no lease behind that would refuse the next run.
    assert query(first_run["spec"], "SELECT run_id FROM pgreconcile.run_lock") == []
    report = json.loads((first_run["dirs"]["reports"] / "report.json").read_text())
    assert schema_errors(report) == []
    assert report["ok"] is True and report["changed"] is False and "backup" not in report


# --------------------------------------------------------------------------- (c) check mode
def test_check_mode_outside_the_window_still_plans_shows_the_diff_changes_nothing(drifted,
                                                                               module_dir):
    """Check mode, outside the maintenance window: a real run would refuse (test below), a
    check run still inspects and plans, warns, and shows the plan as its diff. (One check run
    for both: the window adds a warning and changes nothing else. The fleet's check run,
    tests/test_fleet.py, is one without a window, with --tags.)"""
    spec = drifted["spec"]
    dirs = run_dirs(module_dir / "check")

    proc = playbook(spec, dirs, "--check", "--diff",
                    "-e", f"reconcile_maintenance_window='{closed_window()}'")

    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert state_of(spec) == drifted["state"]
    assert query(spec, "SELECT to_regclass('pgreconcile.ledger')") == [(None,)]
    assert MIGRATION_0002 not in applied_migrations(spec)
    assert files_under(dirs["backups"]) == [] and files_under(dirs["reports"]) == []
    out = proc.stdout
    assert "a real run would refuse: outside the maintenance window" in flat(out + proc.stderr)
    assert ('+ALTER TABLE "public"."treasury_payment" ADD COLUMN IF NOT EXISTS "payment_id" uuid;'
            in out)
    assert "+CREATE UNIQUE INDEX CONCURRENTLY" in out and "steps to apply" in out
    assert re.search(r"\[WARNING\]: preflight: a real migrate would fail: .*payment_id",
                     flat(proc.stderr + out))
    results = task_results(out)
    assert results["Show the steps a real run would apply"]["status"] == "changed"
    assert results["Carry out the plan's steps that are not done yet"]["status"] == "skipping"
    assert results["Show what the backup would dump"]["msg"]["database"] == spec.dbname


# --------------------------------------------------------------------------- (e) window
def test_outside_the_window_the_run_refuses_and_changes_nothing(drifted, module_dir):
    spec = drifted["spec"]
    dirs = run_dirs(module_dir / "closed")
    window = closed_window()

    proc = playbook(spec, dirs, "-e", f"reconcile_maintenance_window='{window}'")

    assert proc.returncode != 0
    assert "outside the maintenance window" in proc.stdout
    assert window in proc.stdout
    assert state_of(spec) == drifted["state"]
    assert files_under(dirs["backups"]) == []
    report = json.loads((dirs["reports"] / "report.json").read_text())
    assert schema_errors(report) == []
    assert report["ok"] is False
    assert report["error"]["error"] == "OutsideMaintenanceWindow"
    assert report["error"]["exit_code"] == 4


# --------------------------------------------------------------------------- (d) rollback
def test_failed_verification_rolls_back_to_the_schema_before(drifted, module_dir):
    spec = drifted["spec"]
    dirs = run_dirs(module_dir / "drill")
    before = state_of(spec)
    payments_before = query(spec, "SELECT * FROM treasury_payment ORDER BY id")

    proc = playbook(spec, dirs, "-e", "reconcile_fail_verify=true")

    assert proc.returncode != 0
    assert "Reconcile failed: " in proc.stdout and "Rolled back: reverted" in flat(proc.stdout)
    assert "fault injected" in proc.stdout
    assert state_of(spec) == before
    assert MIGRATION_0002 not in applied_migrations(spec)
    assert query(spec, "SELECT * FROM treasury_payment ORDER BY id") == payments_before
    report = json.loads((dirs["reports"] / "report.json").read_text())
    assert schema_errors(report) == []
    assert report["ok"] is False and report["error"]["error"] == "VerificationFailed"
    assert report["rollback"]["method"] == "reverse"
    assert report["rollback"]["unapplied_migrations"] == [f"treasury.{MIGRATION_0002}"]
    assert "01-add-column-treasury_payment-payment_id" in report["rollback"]["reverted"]
    assert [s["stage"] for s in report["stages"]][-2:] == ["verify", "rollback"]
    assert list(dirs["backups"].glob("*.manifest.json")), "the drill took a real backup first"


# --------------------------------------------------------------------------- (f) secrets
def test_password_appears_nowhere_in_vvv_output_or_reports(first_run, server):
    proc, password = first_run["proc"], first_run["password"]
    assert proc.returncode == 0
    assert "<localhost> EXEC" in proc.stdout, "expected -vvv output"
    assert password not in proc.stdout
    assert password not in proc.stderr
    written = files_under(first_run["dirs"]["reports"]) + files_under(first_run["dirs"]["backups"])
    assert {p.name for p in written} >= {"report.json", "report.md", "report.html", "plan.json"}
    for path in written:
        assert password.encode() not in path.read_bytes(), f"password written to {path}"
    assert list_scratch_databases(server) == []


# --------------------------------------------------------------------------- (h) docs
def test_ansible_doc_renders_every_runbook_module():
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "module", *MODULES], cwd=REPO,
                          env=tool_env(None), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "[ERROR]" not in proc.stderr and "[WARNING]" not in proc.stderr
    for module in MODULES:
        assert f"> MODULE {module}" in proc.stdout, module
    assert proc.stdout.count("RETURN VALUES") == len(MODULES)
    for option in ("maintenance_window", "pending_steps", "inject_failure", "project_dir",
                   "db_password", "out_dir", "must_pass", "applied_targets_before"):
        assert option in proc.stdout, option


def test_restore_playbook_restores_the_runs_backup_into_a_new_database(first_run, server):
    spec, dirs = first_run["spec"], first_run["dirs"]
    manifest = sorted(dirs["backups"].glob("*.manifest.json"))[-1]
    target = f"{TEST_DB_PREFIX}restored_{secrets.token_hex(4)}"
    try:
        proc = playbook(spec, dirs, "-e", f"reconcile_restore_backup={manifest}",
                        "-e", f"reconcile_restore_target_db={target}",
                        name="playbooks/restore.yml")
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
        shown = task_results(proc.stdout)["Show the restore"]["msg"]
        assert shown["target_db"] == target and shown["verified"] is True
        assert query(server.with_dbname(target), "SELECT count(*) FROM treasury_payment") \
            == [(ROWS,)]
        assert first_run["password"] not in proc.stdout
    finally:
        drop_database(server, target)


def test_verify_playbook_accepts_what_the_plan_kept(first_run, second_run):
    proc = playbook(first_run["spec"], first_run["dirs"], name="playbooks/verify.yml")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    shown = task_results(proc.stdout)["Show the verification"]["msg"]
    assert shown["ok"] is True and shown["kept_on_purpose"] > 0


def test_project_settings_reach_the_modules_from_the_local_group():
    """inventory/group_vars/local.yml names the example project, as the tests rely on."""
    text = (REPO / "inventory" / "group_vars" / "local.yml").read_text()
    assert "examples/pettycash" in text and "reconcile_django_settings" in text
    assert (EXAMPLE / "manage.py").exists()
