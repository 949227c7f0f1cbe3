"""The benchmarks still run: each one, at a size small enough for the suite, against the
session's real server. They measure nothing here (the figures come from `make bench` at
full size); they only prove the code they drive has not moved away from under them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .support import REPO

pytestmark = pytest.mark.slow

SMALL = {
    "backup": ["--rows", "5000"],
    "inspect": ["--inspect-tables", "30"],
    "apply": ["--rows", "5000", "--apply-batch-sizes", "2000", "--apply-baseline-seconds", "1",
              "--apply-lead", "1", "--apply-tail", "1", "--apply-per-row-sample", "50"],
}


NEEDS_PGBENCH = {"apply", "reconcile_load"}
NO_PGBENCH = ("pgbench is not installed (Debian package postgresql-client) and the embedded "
              "server has none")
# Reconcile under load, in about half a minute: 2,000 rows, 1 s of baseline, the backup
# without its test restore.
LOAD_SMALL = ["--rows", "2000", "--reconcile-load-baseline-seconds", "1",
              "--reconcile-load-lead", "0.5", "--reconcile-load-tail", "0.5",
              "--reconcile-load-arg=--no-test-restore"]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_benchmark_runs_end_to_end_at_a_small_size(name, server, tmp_path):
    if name in NEEDS_PGBENCH and not _has_pgbench():
        pytest.skip(NO_PGBENCH)
    recorded = _run_bench(server, tmp_path, name, SMALL[name])
    assert name in json.dumps(recorded), recorded


def test_reconcile_under_load_bench_records_the_run_and_the_writers(server, tmp_path):
    """The benchmark drives the real CLI twice (idle, then with pgbench writers) and keeps
    what happened: the exit status and message of both runs, the writers' figures, and a
    verdict per goal. Whether the loaded run succeeds is the engine's business, not this
    test's; that the idle run does, and that the writers wrote without error, is the
    benchmark's."""
    if not _has_pgbench():
        pytest.skip(NO_PGBENCH)
    recorded = _run_bench(server, tmp_path, "reconcile_load", LOAD_SMALL)
    r = recorded["results"]["reconcile_load"]
    assert r["status"] == "n/a" and r["goal_applies"] is False  # goals apply at 2,000,000
    assert r["idle"]["exit_codes"] == [0], r["idle"]
    (idle,) = r["runs"]["idle"]
    assert idle["outcome"]["complete"], idle["outcome"]
    (loaded,) = r["runs"]["loaded"]
    assert r["loaded"]["exit_codes"] == [loaded["exit_code"]]
    if loaded["exit_code"] != 0:  # a failed run is a MISS with the CLI's own message
        assert loaded["message"] and r["goals"]["run succeeds"] == "MISS", loaded
    assert set(r["goals"].values()) <= {"PASS", "MISS"} and len(r["goals"]) == 4, r["goals"]
    assert r["baseline_tps"] > 0 and loaded["window"]["transactions"] > 0, r
    assert r["loaded"]["writer_errors"] == 0 and r["loaded"]["aborted_clients"] == 0, \
        loaded.get("writer_errors")
    assert {s["stage"] for s in loaded["per_stage"]} >= {"plan", "apply"}, loaded["per_stage"]
    assert r["wall_time_ratio"] and r["wall_time_ratio"] > 0
    per_bench = json.loads((tmp_path / "reconcile_load.json").read_text())
    assert list(per_bench["results"]) == ["reconcile_load"]


def _run_bench(server, tmp_path, name: str, extra: list[str]) -> dict:
    results = tmp_path / "results.json"
    env = {**os.environ, "PGRECONCILE_BENCH_DSN": server.conninfo()}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--only", name,
                           "--repeat", "1", "--results", str(results), *extra],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "unavailable" not in output and "Traceback" not in output, output[-4000:]
    return json.loads(results.read_text())


def _has_pgbench() -> bool:
    from pgreconcile.pg.toolchain import candidates
    return bool(candidates("pgbench"))
