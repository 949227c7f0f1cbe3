"""The second Django project, examples/fleetdesk, drifted in a dozen ways and reconciled end to
end: with `pgreconcile reconcile` and with `ansible-playbook reconcile.yml`.

fleetdesk has four apps (one a vendored third-party-style app with its own migrations), a
squashed migration, RunSQL (a view, a trigger function and its trigger) and a data migration.
Its make_drift.py knows fifteen drifts, each with a query that is true once it is fixed.

One database is migrated and filled once for the module; each run gets a copy of it
(CREATE DATABASE … TEMPLATE), then the drifts.
"""
from __future__ import annotations

import json
import re
import secrets
import sys
from pathlib import Path

import pytest
from psycopg import sql

from pgreconcile.django.defaults import field_defaults
from pgreconcile.django.project import DjangoProject, manage
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database
from pgreconcile.plan.context import FieldDefault
from pgreconcile.runbook.reference import ReferenceSource, build_field_defaults

from .support import REPO, TEST_DB_PREFIX, ansible, as_json, cli, load_module, recap

pytestmark = pytest.mark.slow

FLEETDESK = REPO / "examples" / "fleetdesk"
SETTINGS = "fleetdesk_site.settings"
F = ["--project-dir", str(FLEETDESK), "--settings", SETTINGS]
CUSTOMERS = 1_500

#: Every drift make_drift.py knows, all in one database and one run.
CONVERGING = ("dropped-table", "missing-bool-default", "missing-uuid-callable",
              "missing-auto-now-add", "missing-char-default", "dropped-index", "dropped-fk",
              "dropped-unique", "dropped-db-default", "shortened-varchar", "sequence-behind",
              "changed-check", "dropped-view", "changed-function", "disabled-trigger")
#: Tables a drift empties (a dropped table comes back without its rows).
EMPTIED = {"billing_invoiceline"}
APPS = {"accounts", "billing", "inventory", "taggit_lite"}


@pytest.fixture(scope="module")
def fleet():
    return load_module("fleetdesk_make_drift", FLEETDESK / "make_drift.py")


@pytest.fixture(scope="module")
def databases(server):
    created: list[str] = []

    def create(label: str, template: str | None = None) -> ConnectionSpec:
        name = f"{TEST_DB_PREFIX}{label}_{secrets.token_hex(4)}"
        with server.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template or "template0")))
        created.append(name)
        return server.with_dbname(name)

    yield create
    for name in created:
        drop_database(server, name)


@pytest.fixture(scope="module")
def base(databases, fleet):
    """fleetdesk migrated and filled: the template of every drifted copy."""
    spec = databases("fleetbase")
    counts = fleet.build_database(spec.conninfo(), CUSTOMERS, sys.executable)
    return spec, counts


def drifted_copy(databases, fleet, base, label: str) -> tuple[ConnectionSpec, dict]:
    spec = databases(label, template=base[0].dbname)
    fleet.apply_drifts(spec.conninfo(), list(CONVERGING))
    with spec.connect() as conn:
        counts = fleet.row_counts(conn)
    return spec, counts


def converged(fleet, spec: ConnectionSpec, before: dict) -> None:
    """Every drift fixed, no drift left, every row kept, migrations clean."""
    assert fleet.not_fixed(spec.conninfo(), list(CONVERGING)) == []
    diff = cli("diff", *F, "--json", spec=spec)
    assert diff.returncode == 0, diff.stdout[-3000:] + diff.stderr[-2000:]
    assert as_json(diff)["changes"] == []
    with spec.connect() as conn:
        after = fleet.row_counts(conn)
    assert {t: n for t, n in after.items() if t not in EMPTIED} == \
        {t: n for t, n in before.items() if t not in EMPTIED}
    assert set(EMPTIED) <= set(after)
    project = DjangoProject.from_args(str(FLEETDESK), SETTINGS, sys.executable)
    check = manage(project, spec, "migrate", "--check")
    assert check.ok, check.stdout + check.stderr


@pytest.fixture(scope="module")
def cli_run(databases, fleet, base, tmp_path_factory):
    """A drifted copy: `plan --migration-draft DIR`, then `reconcile`, then `reconcile`
    again."""
    spec, before = drifted_copy(databases, fleet, base, "fleetcli")
    root = tmp_path_factory.mktemp("fleetdesk-cli")
    plan = cli("plan", *F, "--migration-draft", str(root / "drafts"), "--json", spec=spec)
    first = cli("reconcile", *F, "--out-dir", str(root / "b"), "--report-dir",
                str(root / "r1"), "--no-test-restore", "--batch-size", "200", "--json",
                spec=spec)
    report = json.loads((root / "r1" / "report.json").read_text()) \
        if (root / "r1" / "report.json").exists() else {}
    second = cli("reconcile", *F, "--out-dir", str(root / "b"), "--report-dir",
                 str(root / "r2"), "--no-test-restore", "--json", spec=spec)
    return {"spec": spec, "before": before, "plan": plan, "first": first, "report": report,
            "second": second, "drafts": root / "drafts"}


# --------------------------------------------------------------------------- the project
def test_field_defaults_come_from_the_migration_state(base):
    project = DjangoProject.from_args(str(FLEETDESK), SETTINGS, sys.executable)
    found = field_defaults(project, base[0], None)
    assert found["public.accounts_customer.is_active"] == FieldDefault("true")
    assert found["public.billing_invoice.currency"] == FieldDefault("'EUR'")
    assert found["public.billing_invoiceline.quantity"] == FieldDefault("1")
    assert found["public.inventory_vehicle.notes"] == FieldDefault("''")  # blank=True
    assert found["public.accounts_customer.external_id"] == \
        FieldDefault(None, "uuid.uuid4", "gen_random_uuid()")
    # auto_now_add, whose AddField had preserve_default=False: Django fills with now.
    assert found["public.taggit_lite_taggeditem.created"] == \
        FieldDefault(None, "django.utils.timezone.now", "now()")
    # db_default is the database's own default: nothing to fill from Python.
    assert "public.billing_invoice.created_at" not in found
    assert "public.billing_invoice.issued_on" not in found  # no default at all


def test_field_defaults_are_cached_beside_the_reference(base, tmp_path, monkeypatch):
    monkeypatch.setenv("PGRECONCILE_CACHE_DIR", str(tmp_path))
    source = ReferenceSource("django", project=DjangoProject(FLEETDESK, SETTINGS,
                                                             sys.executable))
    first = build_field_defaults(source, base[0], targets=None, cache_key="digest")
    assert first["public.accounts_customer.is_active"] == FieldDefault("true")
    assert len(list((tmp_path / "reference").glob("*.json"))) == 1
    # Same migrations (digest), targets and settings: read back, the project is not run.
    gone = ReferenceSource("django", project=DjangoProject(FLEETDESK, SETTINGS,
                                                           "/nonexistent/python"))
    assert build_field_defaults(gone, base[0], targets=None, cache_key="digest") == first


def test_every_drift_is_seen_by_diff(databases, fleet, base):
    spec, _ = drifted_copy(databases, fleet, base, "fleetdiff")
    proc = cli("diff", *F, "--json", spec=spec)
    assert proc.returncode == 3, proc.stderr
    seen = {(c["kind"], c["bucket"]) for c in as_json(proc)["changes"]}
    for name in CONVERGING:
        assert set(fleet.BY_NAME[name].changes) & seen, name
    assert fleet.not_fixed(spec.conninfo(), list(CONVERGING)) == list(CONVERGING)


# --------------------------------------------------------------------------- reconcile (CLI)
def test_reconcile_converges_the_drifted_project(cli_run, fleet):
    proc, report = cli_run["first"], cli_run["report"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert report["status"] == "ok" and report["ok"] is True, report.get("error")
    assert report["plan"]["unsupported"] == []
    assert report["verify"]["ok"] is True
    assert report["verify"]["checks"]["migrate_check"]["ok"]
    assert report["migrate"]["applied"] == []  # every migration was already recorded
    converged(fleet, cli_run["spec"], cli_run["before"])


def test_missing_columns_are_filled_the_way_django_adds_them(cli_run):
    steps = {s["id"].split("-", 1)[1]: s for s in cli_run["report"]["plan"]["steps"]}
    flag = steps["add-column-accounts_customer-is_active"]
    assert flag["sql"] == [
        'ALTER TABLE "public"."accounts_customer" ADD COLUMN IF NOT EXISTS "is_active" boolean '
        'DEFAULT true NOT NULL',
        'ALTER TABLE "public"."accounts_customer" ALTER COLUMN "is_active" DROP DEFAULT']
    assert flag["lock_duration"] == "instant"
    assert "DEFAULT 'EUR' NOT NULL" in steps["add-column-billing_invoice-currency"]["sql"][0]
    for column in ("accounts_customer-external_id", "taggit_lite_taggeditem-created"):
        assert steps[f"backfill-{column}"]["kind"] == "backfill"
        assert f"set-not-null-{column}" in steps and f"drop-default-{column}" in steps
    # Several batches (--batch-size 200): the ledger holds the rows each backfill wrote.
    applied = {s["id"].split("-", 1)[1]: s for s in cli_run["report"]["apply"]["steps"]}
    # Every customer, and the one sequence-behind imported with an explicit id.
    assert applied["backfill-accounts_customer-external_id"]["rows"] == CUSTOMERS + 1


def test_a_second_reconcile_changes_nothing(cli_run):
    proc = cli_run["second"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = as_json(proc)
    assert report["status"] == "nothing-to-do" and report["changed"] is False
    assert report["plan"]["steps"] == []


# --------------------------------------------------------------------------- drafts per app
def test_plan_writes_one_migration_draft_per_app_with_drift(cli_run):
    proc = cli_run["plan"]
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    drafts = cli_run["drafts"]
    written = {p.parent.name: p for p in drafts.glob("*/*.py")}
    assert set(written) == APPS, sorted(drafts.rglob("*"))
    assert as_json(proc)["migration_drafts"] == {app: str(p) for app, p in written.items()}
    expected_after = {"accounts": "0003_customer_external_id",
                      "billing": "0002_invoice_currency",
                      "inventory": "0005_seed_warehouses",
                      "taggit_lite": "0002_taggeditem_created"}
    for app, path in written.items():
        text = path.read_text()
        compile(text, str(path), "exec")
        assert f'dependencies = [("{app}", "{expected_after[app]}")]' in text
        assert path.name == f"{int(expected_after[app][:4]) + 1:04d}_pgreconcile_reconcile.py"
        # The tables its steps work on (quoted and qualified: the steps' own targets; a
        # foreign key's REFERENCES may name another app's table).
        tables = set(re.findall(r'"public"\."(\w+)"', text))
        assert tables and all(t.startswith(f"{app}_") for t in tables), (app, tables)


# --------------------------------------------------------------------------- Ansible
def test_ansible_playbook_reconciles_the_drifted_project(databases, fleet, base, tmp_path):
    spec, before = drifted_copy(databases, fleet, base, "fleetansible")
    run = ansible("ansible-playbook", "reconcile.yml", "-l", "local",
                  "-e", f"reconcile_django_project_dir={FLEETDESK}",
                  "-e", f"reconcile_django_settings={SETTINGS}",
                  "-e", "reconcile_backup_test_restore=false",
                  "-e", f"reconcile_backup_dir={tmp_path / 'b'}",
                  "-e", f"reconcile_report_dir={tmp_path / 'r'}", spec=spec, timeout=600)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert recap(run)["failed"] == 0
    report = json.loads(Path(tmp_path / "r" / "report.json").read_text())
    assert report["face"] == "ansible"
    assert report["ok"] is True and report["status"] == "ok", report.get("error")
    assert report["verify"]["ok"] is True
    converged(fleet, spec, before)
