"""The promotion gate (issue 14, point 1): staging first, then production.

End to end through the CLI on the seed case: a clean staging run with --rehearsal-dir writes
a promotion record (0600, its fields); a production database with the same drift runs with
--require-rehearsal and that record; without one, with one for another plan shape, or with a
stale one it refuses before any change (exit 4: no backup, no pgreconcile schema, schema
unchanged); --override-rehearsal runs and the report shows the reason. Then the same through
`ansible-playbook reconcile.yml` with a staging and a production inventory host.

The databases are made once for the module (the seed drift takes a Django `migrate` each);
the refusals only plan, so they are cheap.
"""
from __future__ import annotations

import json
import secrets
import stat
import time
from pathlib import Path

import pytest
from psycopg import sql

from pgreconcile.errors import RehearsalMissing, UsageError
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database
from pgreconcile.runbook.promotion import (
    Fingerprints,
    PromotionGate,
    check_rehearsal,
    parse_max_age,
    plan_shape_digest,
    write_record,
)

from .support import (
    TEST_DB_PREFIX,
    P,
    ansible,
    as_json,
    build_drifted,
    cli,
    fingerprint_and_counts,
    query,
    run_sql,
    schema_errors,
)

ROWS = 50
#: A second drift on top of the seed's: another index to create, so another plan shape.
OTHER_DRIFT = 'DROP INDEX "treasury_payment_reference_66429b9e_like"'


# --------------------------------------------------------------------------- pure parts
def test_max_age_grammar():
    assert parse_max_age("7d") == 7 * 86400
    assert parse_max_age("36h") == 36 * 3600
    assert parse_max_age(" 90m ") == 5400
    assert parse_max_age("0s") == 0
    assert parse_max_age("3600") == 3600
    for bad in ("", "7 days", "-1d", "1y", "d"):
        with pytest.raises(UsageError):
            parse_max_age(bad)


def _plan(database: str, fingerprint: str, *, rows: int = 10, sql_text: str = "SELECT 1") -> dict:
    return {"id": secrets.token_hex(4), "database": database, "live_fingerprint": fingerprint,
            "steps": [{"id": "s1", "title": f"step on {database}", "kind": "ddl",
                       "table": "public.t", "sql": [sql_text], "reverse": ["SELECT 2"],
                       "lock": "ACCESS EXCLUSIVE", "estimated_rows": rows,
                       "estimated_seconds": rows / 100}]}


def test_plan_shape_is_the_change_not_where_it_runs():
    staging = _plan("app_staging", "f" * 64, rows=10)
    production = _plan("app", "e" * 64, rows=10_000_000)
    assert plan_shape_digest(staging, []) == plan_shape_digest(production, [])
    assert plan_shape_digest(staging, []) != plan_shape_digest(
        _plan("app", "e" * 64, sql_text="SELECT 3"), [])
    assert plan_shape_digest(staging, []) != plan_shape_digest(staging, ["app.0002_x"])


def test_gate_in_process(tmp_path):
    """The matching rules without a database: nothing to change passes without a record;
    another migrations digest, another shape, a stale record each say what is missing;
    an override proceeds with its reason."""
    prints = Fingerprints.of(_plan("s", "f" * 64), {"migrations_digest": "abc", "pending": []},
                             None)
    assert prints.migrations == "django:abc" and prints.changes
    nothing = Fingerprints.of({"steps": []}, {"migrations_digest": "abc", "pending": []}, None)
    assert check_rehearsal(tmp_path, nothing, max_age="7d")["needed"] is False
    # A plan whose every step is done in live (a run after the reconcile) changes nothing.
    done = Fingerprints.of(_plan("s", "f" * 64), {"migrations_digest": "abc"}, None, [])
    assert not done.changes and check_rehearsal(tmp_path, done, max_age="7d")["needed"] is False
    with pytest.raises(RehearsalMissing, match="no promotion record for these migrations"):
        check_rehearsal(tmp_path, prints, max_age="7d")
    path = write_record(tmp_path, prints, verify={"ok": True}, source={"host": "h"},
                        now=time.time() - 3600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert check_rehearsal(tmp_path, prints, max_age="2h")["record"] == str(path)
    with pytest.raises(RehearsalMissing, match="older than the max age 30m"):
        check_rehearsal(tmp_path, prints, max_age="30m")
    other = Fingerprints.of(_plan("s", "f" * 64, sql_text="SELECT 9"),
                            {"migrations_digest": "abc"}, None)
    with pytest.raises(RehearsalMissing, match="different plan shape"):
        check_rehearsal(tmp_path, other, max_age="7d")
    # A dry run (check mode) refuses nothing: it says why a real run would.
    preview = PromotionGate(directory=str(tmp_path), require=True).preview(other)
    assert "different plan shape" in preview["would_refuse"]
    gate = PromotionGate(directory=None, require=True, override="hotfix INC-7")
    assert gate.check(other) == {"overridden": True, "reason": "hotfix INC-7",
                                 **other.to_dict()}
    # Not a Django project: the reference's schema fingerprint stands for the migrations.
    assert Fingerprints.of({"steps": []}, None, "9" * 64).migrations == "schema:" + "9" * 64


# --------------------------------------------------------------------------- end to end
def _new_db(server: ConnectionSpec, label: str) -> ConnectionSpec:
    name = f"{TEST_DB_PREFIX}promo_{label}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
            sql.Identifier(name)))
    return server.with_dbname(name)


def _copy(server: ConnectionSpec, template: ConnectionSpec, label: str) -> ConnectionSpec:
    """A copy of `template` (CREATE DATABASE … TEMPLATE): the seed drift is built once."""
    name = f"{TEST_DB_PREFIX}promo_{label}_{secrets.token_hex(3)}"
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template.dbname)))
    return server.with_dbname(name)


@pytest.fixture(scope="module")
def seed(server):
    """The seed's drifted database, copied by the tests (never changed itself)."""
    spec = build_drifted(_new_db(server, "seed"), ROWS)
    yield spec
    drop_database(server, spec.dbname)


@pytest.fixture(scope="module")
def dbs(server, seed):
    """staging and production with the seed's drift, other_prod with one more drift."""
    made = {label: _copy(server, seed, label) for label in ("staging", "prod", "other_prod")}
    run_sql(made["other_prod"], OTHER_DRIFT)
    yield made
    for spec in made.values():
        drop_database(server, spec.dbname)


@pytest.fixture(scope="module")
def rehearsed(dbs, tmp_path_factory):
    """The staging run: the seed case reconciled with --rehearsal-dir."""
    root = tmp_path_factory.mktemp("staging")
    proc = cli("reconcile", *P, "--rehearsal-dir", str(root / "rehearsals"),
               "--out-dir", str(root / "backups"), "--report-dir", str(root / "reports"),
               "--no-test-restore", "--json", spec=dbs["staging"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root / "rehearsals", as_json(proc)


def reconcile(spec: ConnectionSpec, root: Path, *extra: str):
    return cli("reconcile", *P, "--out-dir", str(root / "backups"),
               "--report-dir", str(root / "reports"), "--no-test-restore", "--json", *extra,
               spec=spec)


def assert_refused_unchanged(proc, spec: ConnectionSpec, root: Path, before, words: str):
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    err = as_json(proc)
    assert err["error"] == "RehearsalMissing" and words in err["message"], err
    assert "nothing was changed" in err["message"]
    assert not (root / "backups").exists() or not any((root / "backups").iterdir())
    assert query(spec, "SELECT to_regnamespace('pgreconcile') IS NULL") == [(True,)]
    assert fingerprint_and_counts(spec) == before
    report = json.loads((root / "reports" / "report.json").read_text())
    assert report["status"] == "refused" and report["error"]["error"] == "RehearsalMissing"
    assert not schema_errors(report)


def test_staging_writes_a_promotion_record(rehearsed, dbs):
    directory, result = rehearsed
    [record] = list(directory.iterdir())
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    data = json.loads(record.read_text())
    assert data["migrations_digest"].startswith("django:")
    assert data["plan_shape_digest"] == result["promotion"]["plan_shape_digest"]
    assert data["verify"]["ok"] is True and data["tool_version"]
    assert data["source"]["database"] == dbs["staging"].dbname
    assert abs(data["recorded_epoch"] - time.time()) < 600
    assert data["recorded_at"].endswith("+00:00")
    assert result["promotion"]["recorded"] == str(record)
    assert not schema_errors(result)


def test_production_without_a_record_refuses_before_any_change(dbs, tmp_path):
    before = fingerprint_and_counts(dbs["prod"])
    proc = reconcile(dbs["prod"], tmp_path, "--require-rehearsal",
                     "--rehearsal-dir", str(tmp_path / "empty"))
    assert_refused_unchanged(proc, dbs["prod"], tmp_path, before,
                             "no promotion record for these migrations")


def test_production_with_another_plan_shape_refuses(dbs, rehearsed, tmp_path):
    before = fingerprint_and_counts(dbs["other_prod"])
    proc = reconcile(dbs["other_prod"], tmp_path, "--require-rehearsal",
                     "--rehearsal-dir", str(rehearsed[0]))
    assert_refused_unchanged(proc, dbs["other_prod"], tmp_path, before,
                             "different plan shape")


def test_production_with_a_stale_record_refuses(dbs, rehearsed, tmp_path):
    stale = tmp_path / "stale"
    stale.mkdir()
    [record] = list(rehearsed[0].iterdir())
    data = json.loads(record.read_text())
    data["recorded_epoch"] -= 8 * 86400
    (stale / record.name).write_text(json.dumps(data))
    before = fingerprint_and_counts(dbs["prod"])
    proc = reconcile(dbs["prod"], tmp_path, "--require-rehearsal",
                     "--rehearsal-dir", str(stale))
    assert_refused_unchanged(proc, dbs["prod"], tmp_path, before, "older than the max age 7d")


def test_override_needs_a_reason(dbs, tmp_path):
    proc = reconcile(dbs["prod"], tmp_path, "--require-rehearsal", "--override-rehearsal", " ")
    assert proc.returncode == 2 and "needs a reason" in as_json(proc)["message"]


def test_production_with_the_record_runs(dbs, rehearsed, tmp_path):
    proc = reconcile(dbs["prod"], tmp_path, "--require-rehearsal",
                     "--rehearsal-dir", str(rehearsed[0]), "--rehearsal-max-age", "1h")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = as_json(proc)
    assert result["ok"] and result["changed"]
    assert result["promotion"]["record"] == str(next(rehearsed[0].iterdir()))
    assert result["promotion"]["source"]["database"] == dbs["staging"].dbname
    assert [s["stage"] for s in result["stages"]][:2] == ["plan", "rehearsal"]
    assert not schema_errors(result)


def test_override_runs_and_the_report_shows_the_reason_in_red(dbs, tmp_path):
    reason = "hotfix INC-4711 <approved> by the on-call DBA"
    proc = reconcile(dbs["other_prod"], tmp_path, "--require-rehearsal",
                     "--override-rehearsal", reason)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = as_json(proc)
    assert result["promotion"]["overridden"] is True and result["promotion"]["reason"] == reason
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["promotion"]["reason"] == reason and not schema_errors(report)
    md = (tmp_path / "reports" / "report.md").read_text()
    assert "🔴 REHEARSAL OVERRIDDEN" in md and "hotfix INC-4711" in md
    html = (tmp_path / "reports" / "report.html").read_text()
    block = html[html.index('id="rehearsal-override"'):]
    block = block[:block.index("</div>\n</div>")]
    assert 'class="alert bad"' in html[html.index('id="rehearsal-override"') - 40:
                                        html.index('id="rehearsal-override"')]
    assert "color: var(--bad)" in block
    assert "hotfix INC-4711 &lt;approved&gt; by the on-call DBA" in block


# --------------------------------------------------------------------------- Ansible
def _inventory(tmp_path: Path, staging: ConnectionSpec, production: ConnectionSpec) -> Path:
    """A staging and a production host, both this machine, each with its own database; the
    production group is marked as the repository's inventory/group_vars/production.yml
    marks it."""
    marker = (Path(__file__).resolve().parents[1] / "inventory" / "group_vars"
              / "production.yml").read_text()
    assert "reconcile_require_rehearsal: true" in marker
    local = {"ansible_connection": "local",
             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    common = {
        "reconcile_db_host": "{{ lookup('ansible.builtin.env', 'PGHOST') }}",
        "reconcile_db_port": "{{ lookup('ansible.builtin.env', 'PGPORT')"
                             " | default('5432', true) }}",
        "reconcile_db_user": "{{ lookup('ansible.builtin.env', 'PGUSER') }}",
        "reconcile_db_password": "{{ lookup('ansible.builtin.env', 'PGPASSWORD') }}",
        "reconcile_django_project_dir": str(Path(__file__).resolve().parents[1] / "examples"
                                            / "pettycash"),
        "reconcile_django_settings": "staging_settings",
        "reconcile_django_python": "{{ ansible_playbook_python }}",
        "reconcile_backup_test_restore": False,
    }
    inventory = {"all": {"vars": common, "children": {
        "staging": {"hosts": {"stage-01": {**local, "reconcile_db_name": staging.dbname}},
                    "vars": {"reconcile_record_rehearsal": True}},
        "production": {"hosts": {"prod-01": {**local, "reconcile_db_name": production.dbname}},
                       "vars": {"reconcile_require_rehearsal": True}},
    }}}
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps(inventory))
    return path


def _playbook(inventory: Path, group: str, tmp_path: Path, spec: ConnectionSpec):
    return ansible("ansible-playbook", "reconcile.yml", "-i", str(inventory), "-l", group,
                   "-e", f"reconcile_backup_dir={tmp_path / group / 'backups'}",
                   "-e", f"reconcile_report_dir={tmp_path / group / 'reports'}",
                   "-e", f"reconcile_rehearsal_dir={tmp_path / 'rehearsals'}",
                   spec=spec, timeout=400)


@pytest.mark.slow
def test_ansible_staging_then_production(server, seed, tmp_path):
    staging = _copy(server, seed, "a_staging")
    production = _copy(server, seed, "a_prod")
    try:
        inventory = _inventory(tmp_path, staging, production)
        before = fingerprint_and_counts(production)
        # Production first: refused before the lock and the backup, nothing changed.
        refused = _playbook(inventory, "production", tmp_path, production)
        assert refused.returncode != 0, refused.stdout[-3000:]
        assert "RehearsalMissing" in refused.stdout
        assert "no promotion record for these migrations" in refused.stdout
        assert fingerprint_and_counts(production) == before
        assert query(production, "SELECT to_regnamespace('pgreconcile') IS NULL") == [(True,)]
        assert not (tmp_path / "production" / "backups").exists()
        report = json.loads((tmp_path / "production" / "reports" / "report.json").read_text())
        assert report["status"] == "refused", report["status"]
        assert report["error"]["error"] == "RehearsalMissing" and not schema_errors(report)

        # Staging: a clean run writes the record on the controller.
        staged = _playbook(inventory, "staging", tmp_path, staging)
        assert staged.returncode == 0, staged.stdout[-5000:]
        [record] = list((tmp_path / "rehearsals").iterdir())
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        data = json.loads(record.read_text())
        assert data["source"] == {"host": "stage-01", "database": staging.dbname}
        assert data["verify"]["ok"] is True
        report = json.loads((tmp_path / "staging" / "reports" / "report.json").read_text())
        assert report["promotion"]["recorded"] == str(record) and not schema_errors(report)

        # Production again: the rehearsal matches, the run goes through.
        promoted = _playbook(inventory, "production", tmp_path, production)
        assert promoted.returncode == 0, promoted.stdout[-5000:]
        report = json.loads((tmp_path / "production" / "reports" / "report.json").read_text())
        assert report["ok"] and report["changed"]
        assert report["promotion"]["record"] == str(record) and not schema_errors(report)
        assert query(production, "SELECT count(*) FROM django_migrations WHERE app = "
                                 "'treasury'") == [(2,)]
    finally:
        drop_database(server, staging.dbname)
        drop_database(server, production.dbname)
