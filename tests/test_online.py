"""Reconcile a database the application is writing to (issue 11): the runbook succeeds with
writers active, they keep working, and nothing they or pgreconcile wrote is lost."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from .support import P, ansible, as_json, cli, drifted_db, query, recap

ROWS = 30_000


def test_reconcile_succeeds_from_the_cli_while_the_old_application_writes(make_db, writers,
                                                                         tmp_path):
    db = drifted_db(make_db, ROWS)
    w = writers(db, connections=2, rate=100)
    proc = cli("reconcile", *P, "--out-dir", str(tmp_path / "b"), "--report-dir",
               str(tmp_path / "r"), "--json", spec=db)
    w.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = as_json(proc)
    assert report["ok"] and report["migrate"]["applied"] == [
        "treasury.0002_phase6_dashboard_models"]
    assert report["verify"]["checks"]["migrate_check"]["ok"]
    # The writers really wrote during the run, and never failed or waited long.
    assert w.counts["insert"] > 50 and w.counts["update"] > 50 and w.counts["delete"] > 10, \
        w.summary()
    assert w.errors == [], w.summary()
    assert w.max_wait <= 1.0, w.summary()
    # payment_id is set and unique on every row, including those written during the run.
    total, filled, distinct = query(db, "SELECT count(*), count(payment_id), "
                                        "count(DISTINCT payment_id) FROM treasury_payment")[0]
    assert total == filled == distinct
    present = {r[0] for r in query(db, "SELECT id FROM treasury_payment")}
    assert (w.inserted - w.deleted) <= present
    assert not (w.deleted & present)


#: Seconds between backfill batches in the paused tests: 150 batches of 200 rows take 150 s,
#: longer than the window stays open, so the end always comes in the middle of the backfill.
SLOW_BATCHES = ["200", "1.0"]
#: How long the window stays open from the start of the run: time for the run to plan, take
#: its backup and reach the backfill first (~15 s on a quiet 2-core machine, 35 s seen under
#: a load of 15), then a part of the backfill.
OPEN_FOR = 45


def _window_ending_soon(seconds: int = OPEN_FOR) -> str:
    """A window open now that closes `seconds` from now: the end is given to the second
    (`HH:MM:SS`), so the run pauses right then instead of at the next whole minute."""
    now = datetime.now(timezone.utc)
    end = now + timedelta(seconds=seconds)
    if end.date() != now.date():
        pytest.skip("too close to midnight UTC for a same-day window")
    return f"{now:%a} 00:00-{end:%H:%M:%S} UTC"


def test_a_backfill_reaching_the_windows_end_pauses_and_the_next_run_resumes(make_db, writers,
                                                                           tmp_path):
    db = drifted_db(make_db, ROWS)
    w = writers(db, connections=1, rate=50)
    window = _window_ending_soon()
    first = cli("reconcile", *P, "--out-dir", str(tmp_path / "b"), "--report-dir",
                str(tmp_path / "r1"), "--maintenance-window", window,
                "--batch-size", SLOW_BATCHES[0], "--batch-delay", SLOW_BATCHES[1],
                "--no-test-restore", "--json", spec=db)
    assert first.returncode == 5, first.stdout[-2000:] + first.stderr[-2000:]
    assert as_json(first)["error"] in ("Paused", "BackfillPaused")
    report = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert report["status"] == "paused" and "rollback" not in report, report.get("rollback")
    # What was done stays done: the column exists, part of the rows are filled, the ledger
    # holds the backfill's progress, and 0002 is not applied yet.
    filled, total = query(db, "SELECT count(payment_id), count(*) FROM treasury_payment")[0]
    assert 0 < filled < total
    (status, last_key), = query(db, "SELECT status, last_key FROM pgreconcile.ledger "
                                    "WHERE step_id LIKE '%backfill%'")
    assert status == "running" and last_key is not None
    assert query(db, "SELECT count(*) FROM django_migrations WHERE name = "
                     "'0002_phase6_dashboard_models'") == [(0,)]
    # The next run (no window) resumes after last_key and finishes the job.
    second = cli("reconcile", *P, "--out-dir", str(tmp_path / "b"), "--report-dir",
                 str(tmp_path / "r2"), "--json", spec=db)
    w.stop()
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert as_json(second)["status"] == "ok"
    assert w.errors == [], w.summary()
    total, filled, distinct = query(db, "SELECT count(*), count(payment_id), "
                                        "count(DISTINCT payment_id) FROM treasury_payment")[0]
    assert total == filled == distinct


def test_reconcile_succeeds_from_ansible_while_the_old_application_writes(make_db, writers,
                                                                          tmp_path):
    db = drifted_db(make_db, ROWS)
    w = writers(db, connections=2, rate=100)
    run = ansible("ansible-playbook", "reconcile.yml", "-l", "local",
                  "-e", f"reconcile_backup_dir={tmp_path / 'b'}",
                  "-e", f"reconcile_report_dir={tmp_path / 'r'}", spec=db, timeout=600)
    w.stop()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert recap(run)["failed"] == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["ok"] and report["status"] == "ok", report.get("error")
    assert query(db, "SELECT count(*) FROM django_migrations WHERE name = "
                     "'0002_phase6_dashboard_models'") == [(1,)]
    assert w.counts["insert"] > 20 and w.errors == [], w.summary()
    assert w.max_wait <= 1.0, w.summary()
    total, filled, distinct = query(db, "SELECT count(*), count(payment_id), "
                                        "count(DISTINCT payment_id) FROM treasury_payment")[0]
    assert total == filled == distinct
    # The run's lock was released with the report.
    assert query(db, "SELECT count(*) FROM pgreconcile.run_lock") == [(0,)]


#: The columns treasury_payment had before the run (the old application's).
OLD_COLUMNS = "id, reference, payee, amount, currency, memo, status, created_at, updated_at"


def _old_rows(db) -> dict[int, str]:
    return dict(query(db, f"SELECT id, md5(row({OLD_COLUMNS})::text) FROM treasury_payment"))


@pytest.mark.parametrize("fault", ["delete-row:02-backfill", "change-value:04-check"])
def test_a_step_that_harms_existing_data_is_caught_and_rolled_back_with_writers_running(
        make_db, writers, tmp_path, fault):
    """Verification stays exact for what pgreconcile does while the application writes: a
    test-only fault (PGRECONCILE_TEST_FAULT) makes one step delete a row or change a value of
    a row that existed before the run; reconcile stops (exit 3) and rolls back."""
    db = drifted_db(make_db, 5_000)
    before = _old_rows(db)
    w = writers(db, connections=2, rate=100)
    proc = cli("reconcile", *P, "--out-dir", str(tmp_path / "b"), "--report-dir",
               str(tmp_path / "r"), "--no-test-restore", "--json", spec=db,
               extra_env={"PGRECONCILE_TEST_FAULT": fault})
    w.stop()
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert as_json(proc)["error"] == "UnexpectedWrite"
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["status"] == "rolled-back", (report["status"], report.get("rollback"))
    assert report["rollback"]["method"] == "reverse" and report["rollback"]["reverted"]
    assert w.errors == [], w.summary()
    # Every row that existed before the run and that the writers did not touch is as it was:
    # the faulty transaction was rolled back, so nothing of it remains.
    after = _old_rows(db)
    untouched = set(before) - w.updated - w.deleted
    assert untouched <= set(after)
    assert [i for i in sorted(untouched) if after[i] != before[i]] == []


def test_the_role_ends_a_run_paused_at_the_windows_end_without_failing_or_rolling_back(
        make_db, tmp_path):
    db = drifted_db(make_db, ROWS)
    window = _window_ending_soon()
    run = ansible("ansible-playbook", "reconcile.yml", "-l", "local",
                  "-e", f"reconcile_backup_dir={tmp_path / 'b'}",
                  "-e", f"reconcile_report_dir={tmp_path / 'r'}",
                  "-e", f"reconcile_maintenance_window='{window}'",
                  "-e", f"reconcile_batch_size={SLOW_BATCHES[0]}",
                  "-e", f"reconcile_batch_delay={SLOW_BATCHES[1]}",
                  "-e", "reconcile_backup_test_restore=false", spec=db, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert recap(run)["failed"] == 0
    assert "Paused, not failed" in run.stdout
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["status"] == "paused" and report["error"]["exit_code"] == 5
    assert "rollback" not in report and "migrate" not in report
    (status,), = query(db, "SELECT status FROM pgreconcile.ledger WHERE step_id LIKE "
                           "'%backfill%'")
    assert status == "running"
    assert query(db, "SELECT count(*) FROM django_migrations WHERE name = "
                     "'0002_phase6_dashboard_models'") == [(0,)]
    assert query(db, "SELECT count(*) FROM pgreconcile.run_lock") == [(0,)]
