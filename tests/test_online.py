"""Reconcile a database the application is writing to (issue 11): the runbook succeeds with
writers active, they keep working, and nothing they or pgreconcile wrote is lost."""
from __future__ import annotations

from .support import P, as_json, cli, drifted_db, query

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
