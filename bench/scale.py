#!/usr/bin/env python
"""How each stage's cost grows with the database: pgreconcile beside the plain alternative
at three or more sizes, in the same run; a table, JSON and one picture per stage.

    python bench/scale.py [--stages backup,inspect,apply,reconcile,startup,deploy]
                          [--sizes STAGE=N,N,N ...] [--shrink K] [--repeat K] [--quick]
                          [--results FILE] [--out-dir DIR]

(`make bench-scale` runs it with the defaults; `BENCH_SCALE_ARGS="..."` adds options.)

Stages and what is measured at each size (the plain alternative in brackets):

* backup, rows 1 M, 2.5 M, 4 M, 16 M: bench_backup's run (`pgreconcile backup`, verified,
  no test restore) [`pg_dump -Fc` of the same database, same binary];
* inspect, tables 500, 2,000, 8,000: bench_inspect's run; the picture shows the CLI
  `pgreconcile inspect --json > FILE` [`pg_dump --schema-only > FILE`] and the JSON keeps the
  in-process figures too;
* diff, same run: `pgreconcile diff --reference-dsn COPY --json > FILE` [per-table
  `information_schema` queries on both databases and a comparison, in process];
* apply, rows 1 M, 2 M, 4 M: bench_apply's run with the CLI's default batch size only, 5 s
  of writers' baseline, pgbench writers flat out: the online `pgreconcile apply` [one
  transaction: ADD COLUMN, the single UPDATE, CREATE UNIQUE INDEX, SET NOT NULL, under the
  same writers];
* plan and reconcile, rows 1 M, 2 M, 4 M (this module's own arm, on a fresh copy each):
  `pgreconcile plan` [`manage.py migrate --plan`], then the whole `pgreconcile reconcile`
  with its defaults (backup with test restore, preflight, plan, apply, migrate, verify)
  [`manage.py migrate` of the same 0002 on the reconciled copy after `manage.py migrate
  treasury 0001` took it back: what the migration costs when nothing drifted];
* startup and deploy: when bench/bench_startup.py / bench/bench_deploy.py exist, their run
  once at their own default size (reported, not drawn).

The drifted pettycash database of each row count is built once (examples/pettycash/
make_drift.py) into a template; every stage that wants that size gets a copy
(`CREATE DATABASE … TEMPLATE`, FILE_COPY on PostgreSQL 15+), and the template is dropped
after the last stage of that size. The benchmarks' own `build_drifted` is replaced for the
run (their files are not changed).

Growth: for each series, the least-squares slope of log(time) against log(size) (1 is
linear, below ~0.5 the fixed cost dominates at these sizes) and an affine fit time = fixed +
per-unit × size; both are printed and kept in the JSON.

Results: bench/results/scale.json and bench/results/scale-<stage>.svg (time of both sides
against size, log–log, and the ratio against size). Exit 0 when every stage ran at every
size, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
for _p in (str(REPO / "src"), str(BENCH_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import run as runner  # noqa: E402 - bench/run.py: the server, discovery, JSON writing

EXAMPLE = REPO / "examples" / "pettycash"
GROUPS = ("backup", "inspect", "apply", "reconcile", "startup", "deploy")
ROW_GROUPS = ("backup", "apply", "reconcile")
EXTRAS = ("startup", "deploy")
M = 1_000_000
DEFAULT_SIZES = {"backup": [M, 2_500_000, 4 * M, 16 * M],
                 "inspect": [500, 2_000, 8_000],
                 "apply": [M, 2 * M, 4 * M],
                 "reconcile": [M, 2 * M, 4 * M]}
QUICK_SIZES = {"backup": [200, 600, 2_000], "inspect": [4, 8, 16],
               "apply": [200, 600, 2_000], "reconcile": [200, 600, 2_000]}
# The stages of the results (pictures), the group that measures them, and their labels.
STAGES = {
    "backup": ("backup", "rows", "pgreconcile backup", "pg_dump -Fc"),
    "inspect": ("inspect", "tables", "pgreconcile inspect --json", "pg_dump --schema-only"),
    "diff": ("inspect", "tables", "pgreconcile diff --reference-dsn",
             "information_schema x2 + compare"),
    "plan": ("reconcile", "rows", "pgreconcile plan", "manage.py migrate --plan"),
    "apply": ("apply", "rows", "pgreconcile apply (online, writers)",
              "one transaction: UPDATE + index (writers)"),
    "reconcile": ("reconcile", "rows", "pgreconcile reconcile", "manage.py migrate (no drift)"),
}
TEMPLATE = "pgreconcile_scale_tpl_{rows}"


# -- options ------------------------------------------------------------------------------

def parse_size(text: str) -> int:
    t = text.strip().lower().replace("_", "").replace(",", "")
    factor = 1
    if t.endswith("m"):
        t, factor = t[:-1], M
    elif t.endswith("k"):
        t, factor = t[:-1], 1_000
    value = int(float(t) * factor)
    if value < 1:
        raise ValueError(f"size {text!r} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", default=",".join(GROUPS),
                   help=f"comma-separated, of {', '.join(GROUPS)} (default all; inspect "
                        "also gives diff, reconcile also gives plan)")
    p.add_argument("--sizes", action="append", default=[], metavar="STAGE=N,N,...",
                   help="sizes of one stage (rows or tables; 2.5M, 8k accepted), "
                        "repeatable; default " + "; ".join(
                            f"{k}={','.join(f'{v:,}' for v in vs)}"
                            for k, vs in DEFAULT_SIZES.items()))
    p.add_argument("--shrink", type=float, default=1.0,
                   help="divide every default size by this (a medium run: --shrink 10)")
    p.add_argument("--repeat", type=int, default=1,
                   help="timed runs of each side at each size; medians (default 1)")
    p.add_argument("--warmup", action="store_true",
                   help="keep the backup benchmark's untimed warm-up runs (off by default)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and short writer windows: proves the whole chain runs")
    p.add_argument("--results", default=str(RESULTS_DIR / "scale.json"),
                   help="JSON results (default bench/results/scale.json)")
    p.add_argument("--out-dir", default=None,
                   help="where the pictures go (default: the JSON's directory)")
    p.add_argument("--format", choices=("svg", "png"), default="svg",
                   help="picture format (default svg)")
    p.add_argument("--workdir", help="where dumps and reports are written (default: temp)")
    p.add_argument("--redraw", metavar="JSON",
                   help="measure nothing: draw the pictures of an earlier run's JSON again "
                        "and print its table")
    return p


def resolve_options(args) -> tuple[list[str], dict[str, list[int]]]:
    groups = [g.strip() for g in args.stages.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise SystemExit(f"bench-scale: unknown stage(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(GROUPS)}")
    base = QUICK_SIZES if args.quick else DEFAULT_SIZES
    sizes = {g: sorted({max(1, int(v / args.shrink)) for v in vs}) for g, vs in base.items()}
    for item in args.sizes:
        stage, _, values = item.partition("=")
        if stage not in DEFAULT_SIZES or not values:
            raise SystemExit(f"bench-scale: --sizes {item!r}: expected STAGE=N,N,... with "
                             f"STAGE one of {', '.join(DEFAULT_SIZES)}")
        try:
            sizes[stage] = sorted({parse_size(v) for v in values.split(",") if v.strip()})
        except ValueError as exc:
            raise SystemExit(f"bench-scale: --sizes {item!r}: {exc}") from None
    return [g for g in GROUPS if g in groups], sizes


# -- the data: one template per row count ---------------------------------------------------

class DataCache:
    """`build_drifted` for the benchmarks, built once per row count into a template and
    copied for every caller."""

    def __init__(self, original, admin) -> None:
        self.original, self.admin = original, admin
        self.built: dict[int, tuple] = {}
        self.build_seconds: dict[int, float] = {}
        self.copy_seconds: dict[int, list[float]] = {}

    def __call__(self, admin, name: str, rows: int):
        tpl = TEMPLATE.format(rows=rows)
        if rows not in self.built:
            self.built[rows] = self.original(admin, tpl, rows)
            self.build_seconds[rows] = self.built[rows][0]
        t0 = time.perf_counter()
        self.copy(name, tpl, self.built[rows][1])
        self.copy_seconds.setdefault(rows, []).append(round(time.perf_counter() - t0, 3))
        return self.built[rows]

    def copy(self, name: str, tpl: str, major: int) -> None:
        from psycopg import sql

        from pgreconcile.pg.scratch import drop_database
        drop_database(self.admin, name)
        strategy = sql.SQL(" STRATEGY FILE_COPY") if major >= 15 else sql.SQL("")
        with self.admin.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
                sql.Identifier(name), sql.Identifier(tpl), strategy))
            conn.execute("CHECKPOINT")

    def drop(self, rows: int) -> None:
        from pgreconcile.pg.scratch import drop_database
        drop_database(self.admin, TEMPLATE.format(rows=rows))
        self.built.pop(rows, None)


def install_cache(modules: dict, admin) -> DataCache:
    import common
    cache = DataCache(common.build_drifted, admin)
    common.build_drifted = cache
    for module in modules.values():
        if hasattr(module, "build_drifted"):
            module.build_drifted = cache
    return cache


# -- one measurement per group and size ----------------------------------------------------

def _num(value):
    return round(float(value), 4) if isinstance(value, int | float) and math.isfinite(
        value) else None


def point(size: int, tool, plain, **extra) -> dict:
    tool, plain = _num(tool), _num(plain)
    ratio = round(tool / plain, 4) if tool is not None and plain else None
    return {"size": size, "tool_seconds": tool, "plain_seconds": plain, "ratio": ratio,
            **extra}


def _median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def measure_backup(module, uri, ns, rows: int) -> dict[str, dict]:
    ns.rows = rows
    r = module.run(uri, ns)
    tool = r.get("tool_median_seconds") or _median(r.get("tool_seconds") or [])
    plain = r.get("plain_median_seconds") or _median(r.get("plain_seconds") or [])
    return {"backup": point(rows, tool, plain, database_bytes=r.get("database_size_bytes"),
                            ratio_best_of=r.get("ratio_best_of"),
                            phases_seconds=r.get("phases_seconds"),
                            headline=r.get("headline"))}


def measure_inspect(module, uri, ns, tables: int) -> dict[str, dict]:
    ns.inspect_tables = tables
    r = module.run(uri, ns)
    cli = r.get("cli") or {}
    keep = {k: v for k, v in r.items() if "rss" in k.lower()}  # peak memory, when reported
    return {
        "inspect": point(tables, cli.get("inspect_s"), cli.get("pg_dump_s"),
                         in_process_one_inspect=_median(x.get("one") for x in
                                                        r.get("tool_runs") or []),
                         inspect_json_bytes=cli.get("inspect_bytes"),
                         schema_sql_bytes=cli.get("pg_dump_bytes"),
                         headline=r.get("headline"), **keep),
        "diff": point(tables, cli.get("diff_s"), r.get("plain_median_seconds"),
                      in_process_inspect2_diff=r.get("tool_median_seconds"),
                      false_positives=r.get("false_positives"),
                      cli_diff_changes=cli.get("diff_changes")),
    }


def measure_apply(module, uri, ns, rows: int) -> dict[str, dict]:
    from pgreconcile.apply.options import ApplyOptions
    batch = ApplyOptions().batch_size
    ns.rows, ns.apply_batch_sizes = rows, str(batch)
    r = module.run(uri, ns)
    online = (r.get("online") or {}).get(str(batch)) or {}
    naive_runs = (r.get("runs") or {}).get("naive") or []
    naive_s = _median(x.get("seconds") for x in naive_runs)
    update_rate = (r.get("naive") or {}).get("update_rows_per_s")
    goals = online.get("goals") or {}
    return {"apply": point(
        rows, online.get("apply_seconds"), naive_s, batch_size=batch,
        single_update_seconds=_num(rows / update_rate) if update_rate else None,
        backfill_rows_per_s=online.get("backfill_rows_per_s"),
        writers_tps_share_online=goals.get("tps_share"),
        writers_max_latency_online=(online.get("window") or {}).get("max_latency"),
        writers_tps_share_naive=(r.get("naive") or {}).get("tps_share"),
        writers_max_latency_naive=(r.get("naive") or {}).get("max_latency"),
        headline=r.get("headline"))}


def _timed(argv: list[str], env: dict, ok=(0,), cwd=None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(Path(a).name for a in argv[:4])} exited "
                           f"{proc.returncode}: {(proc.stdout + proc.stderr).strip()[-800:]}")
    return elapsed, proc.stdout


def measure_reconcile(cache: DataCache, admin, rows: int, repeat: int, workdir: Path
                      ) -> dict[str, dict]:
    from pgreconcile.pg.scratch import drop_database
    name = "pgreconcile_scale_reconcile"
    spec = admin.with_dbname(name)
    manage = [sys.executable, str(EXAMPLE / "manage.py")]
    cli = [sys.executable, "-m", "pgreconcile"]
    times: dict[str, list[float]] = {"plan": [], "migrate_plan": [], "reconcile": [],
                                     "migrate": []}
    stages: list[dict] = []
    try:
        for i in range(repeat):
            cache(admin, name, rows)
            env, dsn = spec.child_env(), spec.public_conninfo()
            out = workdir / f"reconcile-{rows}-{i}"
            order = ("plan", "migrate_plan") if i % 2 == 0 else ("migrate_plan", "plan")
            for side in order:
                if side == "plan":
                    t, _ = _timed([*cli, "plan", "--project-dir", str(EXAMPLE), "--dsn", dsn,
                                   "--out", str(out / "plan.json"), "--json", "--quiet"],
                                  env, ok=(3,))
                else:
                    t, _ = _timed([*manage, "migrate", "--plan", "--no-input"], env,
                                  cwd=EXAMPLE)
                times[side].append(t)
            t, _ = _timed([*cli, "reconcile", "--project-dir", str(EXAMPLE), "--dsn", dsn,
                           "--out-dir", str(out / "backups"), "--report-dir",
                           str(out / "reports"), "--json", "--quiet"], env)
            times["reconcile"].append(t)
            try:
                report = json.loads((out / "reports" / "report.json").read_text())
                stages.append({s.get("stage"): s.get("seconds")
                               for s in report.get("stages") or []})
            except (OSError, ValueError):
                pass
            # the plain side: the same migration where nothing drifted (0001 is right now)
            _timed([*manage, "migrate", "treasury", "0001", "--no-input"], env, cwd=EXAMPLE)
            t, _ = _timed([*manage, "migrate", "--no-input"], env, cwd=EXAMPLE)
            times["migrate"].append(t)
            print(f"  rows {rows:,} run {i + 1}/{repeat}: plan {times['plan'][-1]:.2f} s, "
                  f"migrate --plan {times['migrate_plan'][-1]:.2f} s, reconcile "
                  f"{times['reconcile'][-1]:.2f} s, migrate {times['migrate'][-1]:.2f} s",
                  flush=True)
    finally:
        drop_database(admin, name)
    per_stage = {k: _median(s.get(k) for s in stages) for k in (stages[0] if stages else {})}
    return {
        "plan": point(rows, _median(times["plan"]), _median(times["migrate_plan"]),
                      runs_tool=times["plan"], runs_plain=times["migrate_plan"]),
        "reconcile": point(rows, _median(times["reconcile"]), _median(times["migrate"]),
                           runs_tool=times["reconcile"], runs_plain=times["migrate"],
                           stages_seconds=per_stage),
    }


# -- growth --------------------------------------------------------------------------------

def fit(points: list[tuple[float, float]]) -> dict | None:
    """Slope of log(time) on log(size), and time = fixed + per_unit * size, least squares."""
    pts = [(float(x), float(y)) for x, y in points if x and y and x > 0 and y > 0]
    if len(pts) < 2 or len({x for x, _ in pts}) < 2:
        return None

    def line(xs, ys):
        n = len(xs)
        mx, my = sum(xs) / n, sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs)
        b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        return my - b * mx, b

    _, slope = line([math.log(x) for x, _ in pts], [math.log(y) for _, y in pts])
    fixed, per_unit = line([x for x, _ in pts], [y for _, y in pts])
    slope = round(slope, 3)  # the label is made from the value kept, so they agree
    return {"slope": slope, "kind": growth_kind(slope),
            "fixed_seconds": round(fixed, 4), "per_unit_seconds": per_unit}


def growth_kind(slope: float) -> str:
    if slope < 0.5:
        kind = "sublinear/constant"
    elif slope < 0.85:
        kind = "sublinear"
    elif slope <= 1.15:
        kind = "linear"
    elif slope <= 1.3:
        kind = "n log n"
    else:
        kind = "superlinear"
    return f"{kind} (slope {slope:.2f})"


def per_unit_text(g: dict | None, unit: str) -> str:
    if not g:
        return "n/a"
    per = g["per_unit_seconds"]
    scale, label = (1e6, "µs") if abs(per) < 1e-3 else (1e3, "ms")
    return f"{g['fixed_seconds']:+.2f} s + {per * scale:.3g} {label}/{unit[:-1]}"


# -- pictures ------------------------------------------------------------------------------

def draw(stage: str, doc: dict, out_dir: Path, fmt: str) -> Path | None:
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "pgreconcile-scale"  # stable ids between runs
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    pts = [p for p in doc["points"] if p.get("tool_seconds") is not None]
    if not pts:
        return None
    unit, tool_label, plain_label = doc["unit"], doc["tool_label"], doc["plain_label"]
    xs = [p["size"] for p in pts]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    left.plot(xs, [p["tool_seconds"] for p in pts], "o-", label=tool_label)
    plain_pts = [p for p in pts if p.get("plain_seconds")]
    if plain_pts:
        left.plot([p["size"] for p in plain_pts], [p["plain_seconds"] for p in plain_pts],
                  "s--", label=plain_label)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel(unit)
    left.set_ylabel("seconds (wall)")
    plain_fmt = matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
    left.yaxis.set_major_formatter(plain_fmt)
    left.yaxis.set_minor_formatter(matplotlib.ticker.LogFormatter(
        labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    growth = doc.get("growth") or {}
    kinds = [f"{who} {growth[key]['kind']}" for key, who in (("tool", "pgreconcile"),
                                                            ("plain", "plain"))
             if growth.get(key)]
    left.set_title(f"{stage}: time\n" + "; ".join(kinds), fontsize=9)
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    ratio_pts = [p for p in pts if p.get("ratio") is not None]
    right.plot([p["size"] for p in ratio_pts], [p["ratio"] for p in ratio_pts], "o-",
               color="tab:green")
    right.axhline(1.0, color="grey", lw=0.8, ls=":")
    right.set_xscale("log")
    right.set_xlabel(unit)
    right.set_ylabel("pgreconcile / plain")
    right.set_title(f"{stage}: ratio", fontsize=10)
    right.grid(True, which="both", alpha=0.3)
    for ax in (left, right):
        ax.set_xticks(xs, [_short(x) for x in xs])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    path = out_dir / f"scale-{stage}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return path


def _short(n: int) -> str:
    if n >= M:
        return f"{n / M:g}M"
    if n >= 10_000:
        return f"{n / 1000:g}k"
    return f"{n:,}"


# -- the run -------------------------------------------------------------------------------

def bench_namespace(modules: dict, args, quick: bool):
    """The benchmarks' options at their defaults, then ours for a scale run."""
    ns = runner.build_parser(modules).parse_args(["--repeat", str(args.repeat)])
    ns.workdir, ns.keep_db = args.workdir, False
    ns.backup_no_warmup = not args.warmup
    ns.inspect_kinds = "all"
    ns.apply_baseline_seconds = 1.0 if quick else 5.0
    ns.apply_lead = ns.apply_tail = 0.5 if quick else 2.0
    ns.apply_per_row_sample = 50 if quick else 2_000
    return ns


def print_table(stages: dict) -> None:
    header = ("stage", "size", "pgreconcile", "plain", "ratio", "plain alternative")
    lines = []
    for stage, doc in stages.items():
        for p in doc["points"]:
            def s(v):
                return f"{v:.2f} s" if v is not None else "—"
            lines.append((stage, f"{p['size']:,} {doc['unit']}", s(p["tool_seconds"]),
                          s(p["plain_seconds"]),
                          f"{p['ratio']:.2f}x" if p.get("ratio") is not None else "—",
                          doc["plain_label"]))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(fmt.format(*header))
    print(fmt.format(*("-" * w for w in widths)))
    for line in lines:
        print(fmt.format(*line))
    print()
    for stage, doc in stages.items():
        g = doc.get("growth") or {}
        print(f"{stage}: pgreconcile {(g.get('tool') or {}).get('kind', 'n/a')}, "
              f"{per_unit_text(g.get('tool'), doc['unit'])}; plain "
              f"{(g.get('plain') or {}).get('kind', 'n/a')}, "
              f"{per_unit_text(g.get('plain'), doc['unit'])}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat < 1 or args.shrink <= 0:
        print("bench-scale: --repeat must be >= 1 and --shrink > 0", file=sys.stderr)
        return 2
    if args.redraw:
        return redraw(Path(args.redraw), args)
    groups, sizes = resolve_options(args)
    results_path = Path(args.results)
    out_dir = Path(args.out_dir) if args.out_dir else results_path.parent
    modules = runner.discover()
    need = {"backup": "backup", "inspect": "inspect", "apply": "apply"}
    missing = [g for g in groups if g in need and need[g] not in modules]
    if missing:
        print(f"bench-scale: bench_{missing[0]}.py not found", file=sys.stderr)
        return 2
    ns = bench_namespace(modules, args, args.quick)
    started = time.perf_counter()
    points: dict[str, dict[int, dict]] = {s: {} for s in STAGES}
    errors: list[dict] = []
    extras: dict[str, dict] = {}
    workdir = Path(tempfile.mkdtemp(prefix="pgreconcile-bench-scale-", dir=args.workdir))

    def attempt(group: str, size, fn) -> None:
        label = f"{group} at {size:,}" if isinstance(size, int) else group
        print(f"\n== {label}", flush=True)
        t0 = time.perf_counter()
        try:
            for stage, p in fn().items():
                p["seconds_measuring"] = round(time.perf_counter() - t0, 1)
                points[stage][p["size"]] = p
        except Exception as exc:  # noqa: BLE001 - one size failing must not hide the rest
            traceback.print_exc()
            errors.append({"group": group, "size": size,
                           "error": f"{type(exc).__name__}: {exc}"[:500]})
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)

    with runner._Server() as server:
        from pgreconcile.pg.connection import ConnectionSpec
        admin = ConnectionSpec.resolve(server.uri).with_dbname("postgres")
        version = runner._server_version(server.uri)
        cache = install_cache(modules, admin)
        print(f"bench-scale: PostgreSQL {version} ({server.source}), stages "
              f"{', '.join(groups)}, repeat {args.repeat}, {os.cpu_count()} CPUs, load "
              f"{_load()}", flush=True)
        try:
            # rows: ascending, every group of a size before its template is dropped
            row_sizes = sorted({n for g in ROW_GROUPS if g in groups for n in sizes[g]})
            for rows in row_sizes:
                if "backup" in groups and rows in sizes["backup"]:
                    attempt("backup", rows, lambda r=rows: measure_backup(
                        modules["backup"], server.uri, ns, r))
                if "apply" in groups and rows in sizes["apply"]:
                    attempt("apply", rows, lambda r=rows: measure_apply(
                        modules["apply"], server.uri, ns, r))
                if "reconcile" in groups and rows in sizes["reconcile"]:
                    attempt("reconcile", rows, lambda r=rows: measure_reconcile(
                        cache, admin, r, args.repeat, workdir))
                cache.drop(rows)
            if "inspect" in groups:
                for tables in sizes["inspect"]:
                    attempt("inspect", tables, lambda t=tables: measure_inspect(
                        modules["inspect"], server.uri, ns, t))
            for name in EXTRAS:
                if name not in groups:
                    continue
                if name not in modules:
                    extras[name] = {"status": "absent",
                                    "note": f"bench/bench_{name}.py does not exist"}
                    continue
                print(f"\n== {name} (once, its default size)", flush=True)
                t0 = time.perf_counter()
                try:
                    r = dict(modules[name].run(server.uri, ns))
                    r.pop("table", None)
                    extras[name] = r
                except Exception as exc:  # noqa: BLE001
                    traceback.print_exc()
                    extras[name] = {"status": "ERROR",
                                    "error": f"{type(exc).__name__}: {exc}"[:500]}
                    errors.append({"group": name, "size": None,
                                   "error": extras[name]["error"]})
                extras[name]["seconds"] = round(time.perf_counter() - t0, 1)
        finally:
            for rows in list(cache.built):
                cache.drop(rows)
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)

    stages: dict[str, dict] = {}
    for stage, (group, unit, tool_label, plain_label) in STAGES.items():
        if group not in groups:
            continue
        pts = [points[stage][n] for n in sorted(points[stage])]
        doc = {"unit": unit, "tool_label": tool_label, "plain_label": plain_label,
               "sizes": sizes[group], "points": pts,
               "growth": {"tool": fit([(p["size"], p["tool_seconds"]) for p in pts]),
                          "plain": fit([(p["size"], p["plain_seconds"]) for p in pts]),
                          "ratio": fit([(p["size"], p["ratio"]) for p in pts])}}
        try:
            picture = draw(stage, doc, out_dir, args.format)
        except Exception as exc:  # noqa: BLE001 - the numbers matter more than the picture
            traceback.print_exc()
            picture = None
            errors.append({"group": stage, "size": None, "error": f"picture: {exc}"[:300]})
        doc["picture"] = os.path.relpath(picture, results_path.parent) if picture else None
        stages[stage] = doc

    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "options": {"stages": groups, "sizes": {g: sizes[g] for g in groups if g in sizes},
                    "repeat": args.repeat, "quick": args.quick, "shrink": args.shrink,
                    "warmup": args.warmup},
        "environment": {"server_version": version, "server": server.source,
                        "python": platform.python_version(),
                        "platform": platform.platform(), "cpus": os.cpu_count(),
                        "commit": runner._git_commit(), "loadavg_at_end": _load()},
        "data": {"build_seconds": {str(k): round(v, 2)
                                   for k, v in cache.build_seconds.items()},
                 "copy_seconds": {str(k): v for k, v in cache.copy_seconds.items()}},
        "stages": stages,
        "extras": extras,
        "errors": errors,
    }
    runner._write_json(results_path, document)
    print_table(stages)
    print()
    print(markdown(stages))
    for name, r in extras.items():
        print(f"{name}: {r.get('headline') or r.get('note') or r.get('error')} "
              f"[{r.get('status')}]")
    for e in errors:
        print(f"ERROR {e['group']} {e['size']}: {e['error']}")
    print(f"\nresults: {results_path}; pictures: "
          + ", ".join(d["picture"] for d in stages.values() if d.get("picture"))
          + f" ({document['seconds']:.0f} s in all)")
    complete = all(len(d["points"]) == len(d["sizes"]) for d in stages.values())
    return 0 if complete and not errors else 1


def markdown(stages: dict) -> str:
    """The README's table of the run: one row per stage, the sizes across."""
    lines = ["| stage | size | pgreconcile | plain | ratio | growth: pgreconcile / plain |",
             "|---|---|---|---|---|---|"]
    for stage, doc in stages.items():
        g = doc.get("growth") or {}
        growth = (f"{(g.get('tool') or {}).get('kind', 'n/a')}; "
                  f"{per_unit_text(g.get('tool'), doc['unit'])} / "
                  f"{(g.get('plain') or {}).get('kind', 'n/a')}")
        for i, p in enumerate(doc["points"]):
            def s(v):
                return f"{v:.2f} s" if v is not None else "—"
            lines.append(f"| {stage if i == 0 else ''} | {p['size']:,} {doc['unit']} | "
                         f"{s(p['tool_seconds'])} | {s(p['plain_seconds'])} | "
                         + (f"{p['ratio']:.2f}×" if p.get("ratio") is not None else "—")
                         + f" | {growth if i == 0 else ''} |")
    return "\n".join(lines)


def redraw(path: Path, args) -> int:
    document = json.loads(path.read_text())
    out_dir = Path(args.out_dir) if args.out_dir else path.parent
    document["stages"] = {k: document["stages"][k] for k in STAGES if k in document["stages"]}
    for stage, doc in document["stages"].items():
        picture = draw(stage, doc, out_dir, args.format)
        print(f"{stage}: {picture}")
    print_table(document["stages"])
    print()
    print(markdown(document["stages"]))
    return 0


def _load() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
