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


@pytest.mark.parametrize("name", sorted(SMALL))
def test_benchmark_runs_end_to_end_at_a_small_size(name, server, tmp_path):
    if name == "apply" and not _has_pgbench():
        pytest.skip("pgbench is not installed (Debian package postgresql-client) and the "
                    "embedded server has none")
    results = tmp_path / "results.json"
    env = {**os.environ, "PGRECONCILE_BENCH_DSN": server.conninfo()}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--only", name,
                           "--repeat", "1", "--results", str(results), *SMALL[name]],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "unavailable" not in output and "Traceback" not in output, output[-4000:]
    recorded = json.loads(results.read_text())
    assert name in json.dumps(recorded), recorded


def _has_pgbench() -> bool:
    from pgreconcile.pg.toolchain import candidates
    return bool(candidates("pgbench"))
