"""Rolling out over a fleet, for real: `ansible-playbook reconcile.yml` against an inventory of
three hosts (all `ansible_connection: local`), each with two databases (reconcile_databases)
on the session's PostgreSQL server, in canary batches (reconcile_serial's default: one host,
then half, then the rest: here one host per batch).

The fleet: h1 has the seed's drifted database (a) and an up-to-date one (b); h2's first
database (c) has a broken connection (an override naming a role that does not exist), so its
second (d) must not run and the rollout must stop before h3, whose drifted (e) and up-to-date
(f) databases must stay untouched. A check run over the fleet (without the broken entry)
(one database per host, a, d and f; only the stages that plan, as an operator reviews the
fleet's plans: --check --tags window,inspect,plan,report) comes first and must show every
host's plan and change nothing. (The full --check path of one database is
tests/test_ansible_runbook.py's.)

Playbook runs take tens of seconds: the databases are made once per module (the up-to-date
ones and the second drifted one are copies of a first made by `manage.py migrate` or the
seed's drift, by CREATE DATABASE ... TEMPLATE) and shared by the two runs.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from psycopg import sql

from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database
from pgreconcile.report.fleet import STATUSES, build_fleet, fleet_schema, load_runs

from .support import EXAMPLE, TEST_DB_PREFIX, ansible, build_drifted, fingerprint_and_counts, query

pytestmark = pytest.mark.slow

FLEET = {"h1": ("a", "b"), "h2": ("c", "d"), "h3": ("e", "f")}
CHECKED = {"h1": ("a",), "h2": ("d",), "h3": ("f",)}  # the check run: one database each
DRIFTED = {"a", "e"}
MIGRATION_0002 = "treasury.0002_phase6_dashboard_models"


# --------------------------------------------------------------------------- databases
@pytest.fixture(scope="module")
def module_dir():
    with tempfile.TemporaryDirectory(prefix="pgreconcile-fleet-") as directory:
        yield Path(directory)


def _create(server: ConnectionSpec, name: str, template: str = "template0") -> ConnectionSpec:
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    return server.with_dbname(name)


@pytest.fixture(scope="module")
def fleet_dbs(server):
    """label -> spec for the six databases; a and e drifted (the seed), the rest up to date."""
    created: list[str] = []

    def create(label: str, template: str = "template0") -> ConnectionSpec:
        name = f"{TEST_DB_PREFIX}fleet_{label}_{secrets.token_hex(3)}"
        created.append(name)
        return _create(server, name, template)

    specs = {"a": build_drifted(create("a"), rows=120)}
    fresh = create("b")
    env = {**fresh.child_env(), "DATABASE_URL": fresh.conninfo()}
    proc = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
                          cwd=EXAMPLE, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    specs["b"] = fresh
    specs["e"] = create("e", template=specs["a"].dbname)
    for label in ("c", "d", "f"):
        specs[label] = create(label, template=fresh.dbname)
    yield specs
    for name in created:
        drop_database(server, name)


def inventory(path: Path, dbs: dict[str, ConnectionSpec], fleet: dict[str, tuple]) -> Path:
    """Three local hosts with the databases `fleet` names; c connects as a role that does not
    exist (its own override of reconcile_db_user)."""
    hosts = {}
    for host, labels in fleet.items():
        entries = []
        for label in labels:
            entry = {"name": label, "reconcile_db_name": dbs[label].dbname}
            if label == "c":
                entry["reconcile_db_user"] = f"pgrt_nobody_{secrets.token_hex(3)}"
            entries.append(entry)
        hosts[host] = {"ansible_connection": "local",
                       "ansible_python_interpreter": sys.executable,
                       "reconcile_databases": entries}
    doc = {"all": {"children": {"fleet": {"hosts": hosts, "vars": {
        "reconcile_db_host": "{{ lookup('ansible.builtin.env', 'PGHOST') }}",
        "reconcile_db_port": "{{ lookup('ansible.builtin.env', 'PGPORT') | default(5432, true) }}",
        "reconcile_db_user": "{{ lookup('ansible.builtin.env', 'PGUSER') }}",
        "reconcile_django_project_dir": str(EXAMPLE),
        "reconcile_django_settings": "staging_settings",
        "reconcile_django_python": sys.executable,
        "reconcile_backup_keep": 0,
        "reconcile_backup_test_restore": False,
    }}}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def rollout(server: ConnectionSpec, inv: Path, root: Path, *args: str, env=None):
    return ansible("ansible-playbook", "reconcile.yml", "-i", str(inv),
                   "-e", f"reconcile_backup_dir={root / 'backups'}",
                   "-e", f"reconcile_report_dir={root / 'reports'}", *args,
                   spec=server, env=env, timeout=600)


def snapshot(dbs: dict[str, ConnectionSpec]) -> dict[str, tuple]:
    return {label: fingerprint_and_counts(spec) for label, spec in dbs.items()}


def has_own_schema(spec: ConnectionSpec) -> bool:
    return bool(query(spec, "SELECT 1 FROM pg_namespace WHERE nspname = 'pgreconcile'"))


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


@pytest.fixture(scope="module")
def check_run(server, fleet_dbs, module_dir):
    root = module_dir / "check"
    before = snapshot(fleet_dbs)
    started = time.monotonic()
    proc = rollout(server, inventory(root / "inventory.yml", fleet_dbs, CHECKED), root,
                   "--check", "--tags", "window,inspect,plan,report", "-v")
    print(f"check run: {time.monotonic() - started:.1f} s")
    return {"proc": proc, "root": root, "before": before, "after": snapshot(fleet_dbs)}


@pytest.fixture(scope="module")
def real_run(server, fleet_dbs, module_dir, check_run):
    root = module_dir / "real"
    before = snapshot(fleet_dbs)
    started = time.monotonic()
    proc = rollout(server, inventory(root / "inventory.yml", fleet_dbs, FLEET), root)
    print(f"real run: {time.monotonic() - started:.1f} s")
    fleet_json = root / "reports" / "fleet.json"
    fleet = json.loads(fleet_json.read_text()) if fleet_json.exists() else None
    return {"proc": proc, "root": root, "before": before, "after": snapshot(fleet_dbs),
            "fleet": fleet}


def statuses(fleet: dict) -> dict[tuple[str, str], dict]:
    return {(d["host"], d["database"]): d for h in fleet["hosts"] for d in h["databases"]}


def output(proc) -> str:
    return proc.stdout + proc.stderr


# --------------------------------------------------------------------------- check mode
def test_check_run_over_the_fleet_shows_every_hosts_plan(check_run, fleet_dbs):
    proc = check_run["proc"]
    assert proc.returncode == 0, output(proc)[-6000:]
    plans = shown(proc.stdout, "Show the plan")
    assert set(plans) == set(CHECKED)  # every host, each in its own batch
    assert plans["h1"]["msg"]["would_change"] is True  # the drifted database
    assert plans["h1"]["msg"]["pending_migrations"] == [MIGRATION_0002]
    assert plans["h2"]["msg"]["would_change"] is False
    summary = shown(proc.stdout, "Show the fleet summary")
    last = summary[max(summary)]["msg"]  # the last batch's summary lists the whole fleet
    assert last["written"] == "nothing (check mode)"
    listed = {(d["host"], d["database"]): d for d in last["databases"]}
    assert set(listed) == {(h, db) for h, dbs in CHECKED.items() for db in dbs}
    assert listed[("h1", "a")]["plan_id"] == plans["h1"]["msg"]["plan_id"]
    assert all(d["status"] == "ok" and d["plan_id"] for d in listed.values()), listed


def shown(text: str, task: str) -> dict[str, dict]:
    """host -> the result a task printed (JSON format), over every batch."""
    results: dict[str, dict] = {}
    sections = re.split(r"^TASK \[", text, flags=re.MULTILINE)
    for section in sections:
        if not section.startswith(f"reconcile : {task}]"):
            continue
        for found in re.finditer(r"^ok: \[(\w+)(?: -> \w+)?\] => ", section, re.MULTILINE):
            results[found[1]], _ = json.JSONDecoder().raw_decode(section[found.end():])
    return results


def test_check_run_changes_nothing(check_run, fleet_dbs):
    assert check_run["after"] == check_run["before"]
    assert not any(has_own_schema(spec) for spec in fleet_dbs.values())
    assert files_under(check_run["root"] / "backups") == []
    assert files_under(check_run["root"] / "reports") == []  # no report, no fleet summary


# --------------------------------------------------------------------------- the rollout
def test_rollout_stops_after_the_batch_with_a_failed_database(real_run):
    proc = real_run["proc"]
    assert proc.returncode != 0, output(proc)[-4000:]
    fleet = real_run["fleet"]
    assert fleet is not None, output(proc)[-4000:]
    got = {key: entry["status"] for key, entry in statuses(fleet).items()}
    assert got == {("h1", "a"): "ok", ("h1", "b"): "nothing-to-do", ("h2", "c"): "failed",
                   ("h2", "d"): "not-run", ("h3", "e"): "not-run", ("h3", "f"): "not-run"}
    entries = statuses(fleet)
    assert entries[("h2", "d")]["reason"] == "stopped after c failed"
    assert "h2/c" in entries[("h3", "e")]["reason"]
    assert entries[("h2", "c")]["reason"]  # why it failed
    assert fleet["ok"] is False
    assert {h["host"]: h["status"] for h in fleet["hosts"]} == {
        "h1": "ok", "h2": "failed", "h3": "not-run"}
    assert [h["host"] for h in fleet["hosts"]] == ["h1", "h2", "h3"]


def test_first_batch_host_reconciled_each_database_into_its_own_report(real_run, fleet_dbs):
    reports = real_run["root"] / "reports"
    a = json.loads((reports / "h1" / "a" / "report.json").read_text())
    assert a["status"] == "ok" and a["database"] == fleet_dbs["a"].dbname
    assert MIGRATION_0002 in a["migrate"]["applied"]
    b = json.loads((reports / "h1" / "b" / "report.json").read_text())
    assert b["status"] == "nothing-to-do"
    assert a["run_id"] and b["run_id"] and a["run_id"] != b["run_id"]
    entries = statuses(real_run["fleet"])
    assert entries[("h1", "a")]["plan_id"] == a["plan"]["id"]
    assert entries[("h1", "a")]["seconds"] > 0
    assert query(fleet_dbs["a"], "SELECT count(*) FROM django_migrations "
                                 "WHERE name = '0002_phase6_dashboard_models'")[0][0] == 1
    backups = [p.name for p in files_under(real_run["root"] / "backups")]
    assert any(name.startswith(fleet_dbs["a"].dbname) for name in backups), backups
    assert not any(name.startswith(fleet_dbs["b"].dbname) for name in backups)  # nothing to do


def test_databases_after_the_failure_are_untouched(real_run, fleet_dbs):
    before, after = real_run["before"], real_run["after"]
    backups = [p.name for p in files_under(real_run["root"] / "backups")]
    for label in ("c", "d", "e", "f"):
        assert after[label] == before[label], label
        assert not has_own_schema(fleet_dbs[label]), label
        assert not any(name.startswith(fleet_dbs[label].dbname) for name in backups), label
    reports = real_run["root"] / "reports"
    assert not (reports / "h3").exists() and not (reports / "h2" / "d").exists()
    # the failed database has its report, saying why
    c = json.loads((reports / "h2" / "c" / "report.json").read_text())
    assert c["status"] == "failed" and c["error"]


def test_fleet_report_is_valid_json_markdown_and_one_self_contained_page(real_run):
    import jsonschema
    reports = real_run["root"] / "reports"
    fleet = real_run["fleet"]
    jsonschema.Draft202012Validator(fleet_schema()).validate(fleet)
    md = (reports / "fleet.md").read_text()
    html = (reports / "fleet.html").read_text()
    for host, labels in FLEET.items():
        for label in labels:
            assert re.search(rf"\| {host} \| {label} \|", md), (host, label)
    assert "stopped after c failed" in md and "stopped after c failed" in html
    links = re.findall(r'href="([^"]+)"', html)
    assert sorted(links) == ["h1/a/report.html", "h1/b/report.html", "h2/c/report.html"]
    assert all((reports / link).is_file() for link in links)
    assert not re.search(r"<(script|link|img)\b|src=|@import|url\(", html)
    assert "not run" in html and "failed" in html


# --------------------------------------------------------------------------- the builder
def test_fleet_builder_never_takes_a_stale_report_for_this_run(tmp_path):
    old = tmp_path / "h1" / "a"
    old.mkdir(parents=True)
    (old / "report.json").write_text(json.dumps({
        "tool": "pgreconcile", "ok": True, "stages": [], "error": None, "status": "ok",
        "run_id": "last-week", "server": "h1", "database": "a"}))
    runs = load_runs(json.dumps({"hosts": [
        {"host": "h1", "ran": True, "databases": [
            {"database": "a", "status": "failed", "run_id": "today", "report_dir": str(old),
             "reason": "boom"}]},
        {"host": "h2", "ran": False, "databases": ["x"]}]}))
    entries = statuses(build_fleet(tmp_path, runs))
    assert entries[("h1", "a")]["status"] == "failed"
    assert entries[("h1", "a")]["report"] is None
    assert entries[("h2", "x")]["status"] == "not-run"
    assert "h1/a" in entries[("h2", "x")]["reason"]
    scanned = statuses(build_fleet(tmp_path))  # without runs: every report found
    assert scanned[("h1", "a")]["status"] == "ok"
    assert set(STATUSES) >= {e["status"] for e in entries.values()}


def test_fleet_report_cli_refuses_what_is_not_a_record_of_runs(tmp_path):
    bad = tmp_path / "runs.json"
    bad.write_text('{"hosts": "h1"}')
    proc = subprocess.run([sys.executable, "-m", "pgreconcile", "fleet-report", "--report-dir",
                           str(tmp_path), "--runs", str(bad)], capture_output=True, text=True,
                          env={**os.environ}, check=False)
    assert proc.returncode == 2
    assert "no list of hosts" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "fleet.json").exists()
