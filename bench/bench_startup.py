"""Start-up: how long `pgreconcile --version`, `--help` and `<command> --help` take as fresh
processes, beside the interpreter starting and doing nothing (issue 15, point 3).

Each path runs N times (``--startup-repeat``, default 15), interleaved with the plain
alternatives `python -c pass` and `python -S -c pass` (the same interpreter with and
without `site`); best and median wall-clock seconds, and the child's CPU seconds (user +
system from wait4, less sensitive to a busy machine than the wall clock). The bytecode
cache is used, as it is for an installed package (pip compiles it at install): the
children run without PYTHONDONTWRITEBYTECODE, after one untimed warm-up that writes it.
One extra row shows `--help` with no bytecode cache at all (compiling every module).

Each path also runs once under `python -X importtime`: the largest imports by cumulative
time are listed, and the heavy libraries it loaded (psycopg, rich, jinja2, django, yaml),
which --version and --help must not.

Goal: --version and --help each at most 0.1 s (best of N, absolute). The server is not used.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import REPO, busy, loadavg

DESCRIPTION = "pgreconcile --version / --help / <command> --help beside python -c pass"
GOAL_SECONDS = 0.1
HEAVY = ("psycopg", "rich", "jinja2", "django", "yaml", "orjson", "pgreconcile.pg",
         "pgreconcile.schema", "pgreconcile.runbook")
COMMANDS = ("backup", "backup-verify", "restore", "inspect", "migrations", "diff",
            "preflight", "plan", "apply", "migrate", "verify", "reconcile", "window",
            "fleet-report", "report")


def add_arguments(parser) -> None:
    parser.add_argument("--startup-repeat", type=int, default=15,
                        help="startup benchmark: runs of each path (15)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("COLUMNS", None)
    return env


def _once(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run, its output thrown away."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:])} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def _imports(argv: list[str], env: dict, top: int = 6) -> tuple[list[list], list[str], int]:
    """The `top` largest imports by cumulative microseconds (not counting the ones that
    hold all others: pgreconcile.cli.commands and its parents are shown), the heavy
    modules imported, and how many modules were imported, from one -X importtime run."""
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=REPO,
                          capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, self_us, cumulative, name = (part.strip() for part in
                                        line.replace("import time:", "|").split("|"))
        rows.append((int(cumulative), int(self_us), name))
    names = {name for _, _, name in rows}
    heavy = sorted(h for h in HEAVY if h in names)
    biggest = sorted(rows, reverse=True)[:top]
    return [[name, round(cum / 1000, 1)] for cum, _, name in biggest], heavy, len(rows)


def run(server_uri: str, args) -> dict:
    repeat = max(3, getattr(args, "startup_repeat", 15))
    env = _env()
    py = sys.executable
    paths = {"python -c pass": [py, "-c", "pass"], "python -S -c pass": [py, "-S", "-c", "pass"],
             "pgreconcile --version": [py, "-m", "pgreconcile", "--version"],
             "pgreconcile --help": [py, "-m", "pgreconcile", "--help"]}
    for name in COMMANDS:
        paths[f"pgreconcile {name} --help"] = [py, "-m", "pgreconcile", name, "--help"]
    load_before = loadavg()
    for argv in paths.values():  # warm-up: the bytecode cache and the page cache
        _once(argv, env)
    wall: dict[str, list[float]] = {k: [] for k in paths}
    cpu: dict[str, list[float]] = {k: [] for k in paths}
    for i in range(repeat):
        order = list(paths) if i % 2 == 0 else list(reversed(paths))
        for name in order:
            w, c = _once(paths[name], env)
            wall[name].append(w)
            cpu[name].append(c)
    with tempfile.TemporaryDirectory(prefix="pgreconcile-bench-startup-") as empty:
        cold_env = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        cold = min(_once(paths["pgreconcile --help"], cold_env)[0] for _ in range(3))
    imports = {name: _imports(argv, env) for name, argv in paths.items()
               if name.startswith("pgreconcile")}
    load_after = loadavg()

    best = {k: min(v) for k, v in wall.items()}
    med = {k: statistics.median(v) for k, v in wall.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    plain_s = best["python -c pass"]
    version_s, help_s = best["pgreconcile --version"], best["pgreconcile --help"]
    heavy_on_fast_path = imports["pgreconcile --version"][1] + imports["pgreconcile --help"][1]
    ok = max(version_s, help_s) <= GOAL_SECONDS and not heavy_on_fast_path
    status = "PASS" if ok else "FAIL"
    table = [[name, f"best {best[name] * 1000:6.1f} ms, median {med[name] * 1000:6.1f} ms, "
                    f"CPU {best_cpu[name] * 1000:5.1f} ms"
              + (f"; {imports[name][2]} modules, heavy: {', '.join(imports[name][1]) or 'none'}"
                 if name in imports else "")] for name in paths]
    table += [
        ["pgreconcile --help, no bytecode cache", f"best {cold * 1000:.1f} ms (every module "
                                                  "compiled: PYTHONDONTWRITEBYTECODE, empty "
                                                  "PYTHONPYCACHEPREFIX)"],
        ["largest imports, --version", ", ".join(f"{n} {ms}" for n, ms in
                                                 imports["pgreconcile --version"][0])],
        ["largest imports, --help", ", ".join(f"{n} {ms}" for n, ms in
                                              imports["pgreconcile --help"][0])],
        ["largest imports, reconcile --help", ", ".join(
            f"{n} {ms}" for n, ms in imports["pgreconcile reconcile --help"][0])],
        ["ratio --help / python -c pass", f"{help_s / plain_s:.2f}x (best of {repeat})"],
        ["load average at start / end", f"{load_before} / {load_after}"],
        ["goal", f"--version and --help <= {GOAL_SECONDS * 1000:.0f} ms (best), no heavy "
                 "import on either"],
        ["status", status],
    ]
    return {
        "name": "startup",
        "headline": (f"--version {version_s * 1000:.0f} ms, --help {help_s * 1000:.0f} ms, "
                     f"python -c pass {plain_s * 1000:.0f} ms (best of {repeat}); CPU "
                     f"{best_cpu['pgreconcile --version'] * 1000:.0f} / "
                     f"{best_cpu['pgreconcile --help'] * 1000:.0f} / "
                     f"{best_cpu['python -c pass'] * 1000:.0f} ms"
                     + ("; busy machine: wall times are noisy"
                        if busy(load_before, load_after) else "")),
        "goal": f"--version and --help <= {GOAL_SECONDS} s",
        "status": status,
        "table": table,
        "repeat": repeat,
        "plain_seconds": round(plain_s, 4),
        "tool_seconds": round(max(version_s, help_s), 4),
        "ratio": round(max(version_s, help_s) / plain_s, 3),
        "best_seconds": {k: round(v, 4) for k, v in best.items()},
        "median_seconds": {k: round(v, 4) for k, v in med.items()},
        "cpu_seconds": {k: round(v, 4) for k, v in best_cpu.items()},
        "help_without_bytecode_cache_seconds": round(cold, 4),
        "imports": {k: {"largest_ms": v[0], "heavy": v[1], "modules": v[2]}
                    for k, v in imports.items()},
        "loadavg_at_start": load_before,
        "loadavg_at_end": load_after,
    }
