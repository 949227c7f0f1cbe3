"""One lock for the whole run (issue 11, points 5 and 6): a run's lock spans backup to report,
stage-by-stage runs (Ansible) hold a lease between their stages, and the plan is re-checked
against live, on its own scope, right before the first change."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from pgreconcile.apply.executor import Executor
from pgreconcile.apply.lock import RunLock, claim_run, reconcile_lock, release_run
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.errors import LockNotAcquired, PlanOutdated, UsageError
from pgreconcile.runbook.stages import load_plan, recheck_plan

from .support import CLI, P, as_json, cli, drifted_db, make_plan_file, query, run_sql


def test_a_runs_lock_refuses_every_other_apply_and_lets_its_own_stages_through(drifted,
                                                                               tmp_path):
    make_plan_file(drifted, tmp_path)
    plan = load_plan(tmp_path / "plan.json")
    with RunLock(drifted, "run-one"):
        with pytest.raises(LockNotAcquired, match="pgreconcile run run-one"):
            Executor(drifted, plan, ApplyOptions()).run()
        with pytest.raises(LockNotAcquired, match="pgreconcile run run-one"):
            Executor(drifted, plan, ApplyOptions(run_id="run-two")).run()
        with pytest.raises(LockNotAcquired):
            RunLock(drifted, "run-two").__enter__()
        result = Executor(drifted, plan, ApplyOptions(run_id="run-one")).run()
    assert result.changed
    # Released at the end of the run: the next run takes it.
    with RunLock(drifted, "run-three"):
        pass


def test_a_stage_by_stage_run_keeps_its_lease_between_stages_until_released(db):
    with db.connect(autocommit=True) as conn:
        claim_run(conn, db.dbname, "ansible-1", "ansible play on host staging", ttl=600)
        # Between two stages no process holds the advisory lock, but the lease excludes others.
        with pytest.raises(LockNotAcquired, match="ansible-1.*between its stages"):
            RunLock(db, "cli-1").__enter__()
        with pytest.raises(LockNotAcquired, match="ansible-1"):
            with reconcile_lock(conn, db.dbname, "apply"):
                pass
        with pytest.raises(LockNotAcquired, match="ansible-1"):
            claim_run(conn, db.dbname, "ansible-2", "another play", ttl=600)
        # The run's own next stage renews it.
        with reconcile_lock(conn, db.dbname, "apply", "ansible-1"):
            pass
        assert release_run(conn, "ansible-2") is False  # another run's lease is never touched
        assert release_run(conn, "ansible-1") is True
    with RunLock(db, "cli-1"):
        pass


def test_a_lease_left_by_a_killed_run_ends_by_itself(db):
    with db.connect(autocommit=True) as conn:
        claim_run(conn, db.dbname, "killed-run", "a play that was killed", ttl=1)
        with pytest.raises(LockNotAcquired, match="lease runs until"):
            RunLock(db, "next").__enter__()
        time.sleep(1.2)
    with RunLock(db, "next"):
        pass


@pytest.mark.parametrize("bad", ["", "x" * 41, "a b", "run;drop", "../x"])
def test_a_malformed_run_id_is_a_usage_error(db, bad):
    with pytest.raises(UsageError, match="run id"):
        RunLock(db, bad)


def test_reconcile_holds_its_lock_through_migrate_and_verify(make_db, tmp_path):
    db = drifted_db(make_db, 3000)
    proc = subprocess.Popen([*CLI, "reconcile", *P, "--out-dir", str(tmp_path / "b"),
                             "--report-dir", str(tmp_path / "r"), "--json"],
                            env={**os.environ, "DATABASE_URL": db.conninfo()},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []  # (0002 recorded as applied, the run's lock held)
    with db.connect(autocommit=True) as conn:
        while proc.poll() is None:
            applied = conn.execute(
                "SELECT to_regclass('django_migrations') IS NOT NULL AND EXISTS (SELECT 1 "
                "FROM django_migrations WHERE name = '0002_phase6_dashboard_models')"
            ).fetchone()[0]
            held = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
                " AND a.application_name LIKE 'pgreconcile run %%')").fetchone()[0]
            seen.append((applied, held))
            time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    report = json.loads(out)
    assert report["status"] == "ok" and report["run_id"]
    # Once 0002 is applied (migrate done, verify running) the lock is still the run's.
    assert any(a and h for a, h in seen), seen[-20:]
    assert [s["stage"] for s in report["stages"]].index("recheck") < \
        [s["stage"] for s in report["stages"]].index("apply")
    # And released with the report.
    assert query(db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


def test_the_plan_is_rechecked_against_live_right_before_the_first_change(drifted, tmp_path):
    make_plan_file(drifted, tmp_path)
    plan = load_plan(tmp_path / "plan.json")
    assert recheck_plan(drifted, plan) == plan.live_fingerprint
    run_sql(drifted, "ALTER TABLE treasury_payment ADD COLUMN note text")
    with pytest.raises(PlanOutdated, match="changed between planning and the first change"):
        recheck_plan(drifted, plan)


def test_a_plan_made_for_one_schema_applies_while_other_schemas_differ(drifted, tmp_path):
    run_sql(drifted, "CREATE SCHEMA tenant_b; CREATE TABLE tenant_b.t (id int)")
    make_plan_file(drifted, tmp_path, "--schema", "public")
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["scope"] == {"schemas": ["public"], "exclude_schemas": None}
    # Another schema changes after planning: outside the plan's scope, so not a reason to
    # refuse (it was refused forever before: apply fingerprinted the whole database).
    run_sql(drifted, "ALTER TABLE tenant_b.t ADD COLUMN note text")
    proc = cli("apply", str(tmp_path / "plan.json"), "--no-backup", "--json", spec=drifted)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert as_json(proc)["changed"]
