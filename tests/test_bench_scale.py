"""The scaling benchmark (`make bench-scale`, bench/scale.py) runs end to end at tiny sizes
against the session's real server: every stage asked for has a point at every size, each
with both times and their ratio, a growth fit, and a picture that is a valid SVG. Nothing
is timed against a goal here; the figures come from the full run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from .support import REPO, load_module, query

pytestmark = pytest.mark.slow

SCALE = REPO / "bench" / "scale.py"
# backup drives bench_backup (drifted example database per row count, one template each);
# inspect drives bench_inspect and gives two stages, inspect and diff.
# Two sizes each keep it short (the full run has three or more); two points are enough for
# a growth fit.
ARGS = ["--quick", "--stages", "backup,inspect", "--sizes", "backup=100,1000",
        "--sizes", "inspect=2,6"]
EXPECTED = {"backup": [100, 1000], "inspect": [2, 6], "diff": [2, 6]}


def test_scale_bench_measures_every_stage_at_every_size_and_draws_it(server, tmp_path):
    results = tmp_path / "scale.json"
    env = {**os.environ, "PGRECONCILE_BENCH_DSN": server.conninfo()}
    proc = subprocess.run([sys.executable, str(SCALE), *ARGS, "--results", str(results)],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    doc = json.loads(results.read_text())
    assert doc["errors"] == []
    assert set(doc["stages"]) == set(EXPECTED)
    for stage, sizes in EXPECTED.items():
        s = doc["stages"][stage]
        assert [p["size"] for p in s["points"]] == sizes, (stage, s["points"])
        for p in s["points"]:
            for key in ("tool_seconds", "plain_seconds", "ratio"):
                assert isinstance(p[key], float) and p[key] > 0, (stage, p)
            assert p["ratio"] == pytest.approx(p["tool_seconds"] / p["plain_seconds"],
                                               rel=1e-3)
        assert isinstance(s["growth"]["tool"]["slope"], float)
        assert s["growth"]["tool"]["kind"].endswith(f"(slope {s['growth']['tool']['slope']:.2f})")
        picture = tmp_path / s["picture"]
        assert picture.name == f"scale-{stage}.svg"
        root = ET.parse(picture).getroot()  # well-formed XML ...
        assert root.tag == "{http://www.w3.org/2000/svg}svg"  # ... and an SVG drawing
        assert len(root) > 0
    # no database of the run is left behind (templates and copies dropped)
    left = query(server, "SELECT datname FROM pg_database WHERE datname LIKE "
                         "'pgreconcile\\_scale%' OR datname LIKE 'pgreconcile\\_bench%'")
    assert left == []
    # the table printed names every stage and the growth of each
    for stage in EXPECTED:
        assert f"{stage}: pgreconcile " in proc.stdout


def test_growth_fit_names_linear_constant_and_superlinear_curves():
    scale = load_module("pgreconcile_bench_scale", SCALE)
    sizes = [1_000, 4_000, 16_000]
    # a fixed cost beside the per-row one: the affine fit separates them
    affine = scale.fit([(n, 0.5 + 2e-4 * n) for n in sizes])
    assert affine["fixed_seconds"] == pytest.approx(0.5)
    assert affine["per_unit_seconds"] == pytest.approx(2e-4)
    exact = scale.fit([(n, 3e-6 * n) for n in sizes])
    assert exact["kind"] == "linear (slope 1.00)"
    assert exact["fixed_seconds"] == pytest.approx(0, abs=1e-6)
    assert exact["per_unit_seconds"] == pytest.approx(3e-6)
    assert scale.fit([(n, 2.0) for n in sizes])["kind"].startswith("sublinear/constant")
    assert scale.fit([(n, 1e-9 * n * n) for n in sizes])["kind"] == "superlinear (slope 2.00)"
    assert scale.fit([(1_000, 1.0)]) is None  # one point: no growth to state
