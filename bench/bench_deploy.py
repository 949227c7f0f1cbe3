"""The every-deploy case: nothing to do, the reference cached (issue 15, point 5).

A deploy pipeline runs the runbook on every release, and nearly always the database is
already right. That run must cost little beside what a deploy runs anyway:
`manage.py migrate --check` (Django's own "is there anything to migrate?").

The pettycash example is built drifted (examples/pettycash/make_drift.py), reconciled once
(untimed: it fixes the drift and fills the reference cache, in a cache directory of the
benchmark's own), then each round times, as fresh processes, interleaved:

* plain: `python manage.py migrate --check` (exit 0: nothing to migrate),
* `pgreconcile reconcile --project-dir examples/pettycash --json --quiet` (exit 0, changed
  nothing), the CLI,
* `ansible-playbook reconcile.yml -l local` against localhost, the way
  tests/test_ansible_runbook.py drives it (PG* variables in the environment, the stock
  `local` inventory group).

Goal: reconcile at most 3x `migrate --check` (best of the rounds, each side); the playbook's
ratio is reported beside it (Ansible's own start costs more than a second on its own, so it
is measured, not held to the same goal). Each run's stage times come from its report.json.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import EXAMPLE, REPO, build_drifted, loadavg

DESCRIPTION = "nothing to do, reference cached: reconcile vs manage.py migrate --check"
GOAL_RATIO = 3.0
DB = "pgreconcile_bench_deploy"
BIN = Path(sys.executable).parent


def add_arguments(parser) -> None:
    parser.add_argument("--deploy-rows", type=int, default=1_000,
                        help="deploy benchmark: payments in the pettycash database (1,000)")
    parser.add_argument("--deploy-repeat", type=int, default=5,
                        help="deploy benchmark: timed rounds of the CLI and migrate --check (5)")
    parser.add_argument("--deploy-ansible-repeat", type=int, default=2,
                        help="deploy benchmark: timed playbook runs (2; 0 leaves Ansible out)")


def _timed(argv: list[str], env: dict, cwd: Path, ok=(0,)) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(Path(a).name for a in argv[:4])} exited "
                           f"{proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def _stages(report_dir: Path) -> dict[str, float]:
    try:
        report = json.loads((report_dir / "report.json").read_text())
    except (OSError, ValueError):
        return {}
    return {s["stage"]: round(s.get("seconds") or 0.0, 3) for s in report.get("stages", [])}


def _changed(report_dir: Path):
    try:
        return json.loads((report_dir / "report.json").read_text()).get("changed")
    except (OSError, ValueError):
        return None


def run(server_uri: str, args) -> dict:
    from pgreconcile.pg.connection import ConnectionSpec
    from pgreconcile.pg.scratch import drop_database

    admin = ConnectionSpec.resolve(server_uri)
    rows = getattr(args, "deploy_rows", 1_000)
    repeat = max(1, getattr(args, "deploy_repeat", 5))
    ansible_repeat = max(0, getattr(args, "deploy_ansible_repeat", 2))
    workdir = Path(tempfile.mkdtemp(prefix="pgreconcile-bench-deploy-",
                                    dir=getattr(args, "workdir", None)))
    load_before = loadavg()
    try:
        build_s, _, version, _ = build_drifted(admin, DB, rows)
        spec = admin.with_dbname(DB)
        env = spec.child_env()
        env.update({"PGRECONCILE_CACHE_DIR": str(workdir / "cache"),
                    "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                    "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"})
        env.pop("ANSIBLE_CONFIG", None)
        env.pop("PGRECONCILE_NO_CACHE", None)
        env.pop("COLUMNS", None)
        # Bytecode cached, as for any installed package (pip compiles it at install):
        # with PYTHONDONTWRITEBYTECODE every pgreconcile run would compile its modules
        # again (seconds on a busy machine), while Django's come compiled from site-packages.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO / "src")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        django_env = {**env, "DJANGO_SETTINGS_MODULE": "pettycash_system.settings"}
        migrate_check = [sys.executable, "manage.py", "migrate", "--check"]

        def cli(tag: str) -> list[str]:
            return [sys.executable, "-m", "pgreconcile", "reconcile", "--project-dir",
                    str(EXAMPLE), "--dsn", spec.public_conninfo(),
                    "--out-dir", str(workdir / "backups"),
                    "--report-dir", str(workdir / tag), "--json", "--quiet"]

        def playbook(tag: str) -> list[str]:
            return [str(BIN / "ansible-playbook"), "reconcile.yml", "-l", "local",
                    "-e", f"reconcile_backup_dir={workdir / 'backups'}",
                    "-e", f"reconcile_report_dir={workdir / tag}"]

        print("  first reconcile (untimed): fixes the drift, fills the reference cache",
              flush=True)
        first_s, _ = _timed(cli("first"), env, REPO)
        _timed(migrate_check, django_env, EXAMPLE)  # up to date now, or this raises
        print("  warm-up (untimed): reconcile, migrate --check"
              + (", ansible-playbook" if ansible_repeat else ""), flush=True)
        _timed(cli("warm"), env, REPO)
        if ansible_repeat:
            _timed(playbook("warm-ansible"), env, REPO)
        def backup_files() -> int:
            return len(list((workdir / "backups").glob("*"))) \
                if (workdir / "backups").exists() else 0
        backups_before = backup_files()
        times: dict[str, list[float]] = {"migrate_check": [], "reconcile": [], "ansible": []}
        stages: list[dict[str, float]] = []
        changed = []
        for i in range(repeat):
            pair = [("migrate_check", migrate_check, django_env, EXAMPLE),
                    ("reconcile", cli(f"run{i}"), env, REPO)]
            for name, argv, e, cwd in (pair if i % 2 == 0 else reversed(pair)):
                times[name].append(_timed(argv, e, cwd)[0])
            stages.append(_stages(workdir / f"run{i}"))
            changed.append(_changed(workdir / f"run{i}"))
            if i < ansible_repeat:
                times["ansible"].append(_timed(playbook(f"ansible{i}"), env, REPO)[0])
                changed.append(_changed(workdir / f"ansible{i}"))
            print(f"  round {i + 1}/{repeat}: " + ", ".join(
                f"{k} {v[-1]:.3f} s" for k, v in times.items() if len(v) == i + 1), flush=True)
        new_backups = backup_files() - backups_before
    finally:
        if not getattr(args, "keep_db", False):
            drop_database(admin, DB)
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = loadavg()

    def best(name):
        return min(times[name]) if times[name] else None

    def med(name):
        return statistics.median(times[name]) if times[name] else None

    plain_s, tool_s, ans_s = best("migrate_check"), best("reconcile"), best("ansible")
    ratio = tool_s / plain_s
    ratio_median = med("reconcile") / med("migrate_check")
    ans_ratio = ans_s / plain_s if ans_s else None
    nothing_changed = all(c is False for c in changed)
    status = "PASS" if ratio <= GOAL_RATIO and nothing_changed else "FAIL"
    last = stages[-1] if stages else {}
    table = [
        ["database", f"pettycash, {rows:,} payments, PostgreSQL {version} (built in "
                     f"{build_s:.1f} s; first reconcile {first_s:.1f} s, untimed)"],
        ["plain: manage.py migrate --check", f"best {plain_s:.3f} s, median "
         f"{med('migrate_check'):.3f} s   runs: "
         + ", ".join(f"{x:.3f}" for x in times["migrate_check"])],
        ["pgreconcile reconcile (nothing to do)", f"best {tool_s:.3f} s, median "
         f"{med('reconcile'):.3f} s   runs: " + ", ".join(f"{x:.3f}" for x in times["reconcile"])],
        ["  its stages (last run)", ", ".join(f"{k} {v:.2f}" for k, v in last.items()) or "?"],
        ["  ratio reconcile / migrate --check", f"{ratio:.2f}x best, {ratio_median:.2f}x "
                                               f"median (goal <= {GOAL_RATIO}x)"],
        ["ansible-playbook reconcile.yml -l local", (
            f"best {ans_s:.3f} s = {ans_ratio:.1f}x migrate --check   runs: "
            + ", ".join(f"{x:.3f}" for x in times["ansible"])) if ans_s else "not run"],
        ["changed (every timed run must say false)", str(changed)],
        ["backups taken by nothing-to-do runs", str(new_backups)],
        ["load average at start / end", f"{load_before} / {load_after}"],
        ["status", status],
    ]
    return {
        "name": "deploy",
        "headline": (f"nothing to do: reconcile {tool_s:.2f} s = {ratio:.2f}x manage.py "
                     f"migrate --check {plain_s:.2f} s"
                     + (f"; ansible-playbook {ans_s:.1f} s = {ans_ratio:.1f}x" if ans_s else "")),
        "goal": f"reconcile with nothing to do <= {GOAL_RATIO}x manage.py migrate --check",
        "status": status,
        "table": table,
        "rows": rows,
        "plain_seconds": round(plain_s, 4),
        "tool_seconds": round(tool_s, 4),
        "ansible_seconds": round(ans_s, 4) if ans_s else None,
        "ratio": round(ratio, 3),
        "ratio_median": round(ratio_median, 3),
        "ansible_ratio": round(ans_ratio, 3) if ans_ratio else None,
        "runs": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "stages_last_run": last,
        "changed": changed,
        "backups_taken": new_backups,
        "loadavg_at_start": load_before,
        "loadavg_at_end": load_after,
    }
