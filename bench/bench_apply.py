"""The online plan (`pgreconcile apply`) against the naive blocking DDL, with writers running.

Goals (issue 5), on the 2,000,000-row drifted pettycash database with a concurrent
writer workload:

* while the online plan runs, writers keep >= 90 % of their no-DDL throughput and no
  writer transaction takes longer than 1 s;
* the online backfill writes >= 50 % of the rows per second of a single
  `UPDATE … SET payment_id = …` (the naive approach), and >= 50x the rows per second
  of a per-row loop (the ORM way: one `UPDATE … WHERE id = %s` per row, each in its
  own transaction).

Setup: the drifted database is built once (make_drift.py) and vacuumed; it is the
template. The plan is made once against it with the CLI (`pgreconcile plan
--project-dir examples/pettycash --out plan.json`). Every arm then runs on a fresh copy
(`CREATE DATABASE … TEMPLATE`, then a CHECKPOINT), so each starts from the same state.

Writers: pgbench (the toolchain's, `find_tool("pgbench", server major)`), `-c 4 -j 2
-M prepared`, a custom script: one transaction that updates a random existing payment
(`memo = memo || ''`) and inserts a new one, as the old application would (no
payment_id). `--apply-rate` limits the offered load (pgbench `--rate`; latencies then
include the schedule lag, i.e. the time a writer waited to start); 0, the default,
runs the writers flat out. Every transaction is logged (`-l`), and the figures come
from the log: throughput = transactions completed in the measured window / its length,
max latency over the transactions that overlap it. pgbench runs `lead` seconds before
the window and `tail` seconds after it, and is then stopped by terminating its server
sessions (found by a unique application_name), which makes it flush its logs and exit.

Arms, each in its own copy:

* baseline: writers only; the window is `--apply-baseline-seconds` long;
* online B: `python -m pgreconcile apply plan.json --no-backup --batch-size B --json`
  for each B in `--apply-batch-sizes`; the window is the whole command (start-up
  included). Per step (from `pgreconcile.ledger`'s timestamps) the writers' throughput
  and worst latency are reported too;
* naive: one transaction `ADD COLUMN payment_id uuid; SET DEFAULT gen_random_uuid();
  UPDATE … SET payment_id = <the plan's own backfill expression>; CREATE UNIQUE INDEX;
  SET NOT NULL; ADD CONSTRAINT … UNIQUE USING INDEX` (the default keeps the old
  application's inserts working afterwards, as a real migration would have to); each
  statement is timed; the single UPDATE gives the naive rows/s;
* per-row: after the baseline, on the same copy and without writers (which favours it),
  `ADD COLUMN payment_id uuid`, then `--apply-per-row-sample` rows in key order, each
  `UPDATE … SET payment_id = %s WHERE id = %s` with the stable uuid computed in Python
  (what a RunPython data migration does), in its own transaction; rows/s is
  extrapolated from the sample.

Rounds (`--repeat`) run every arm once, in an order that is reversed every other round;
medians over the rounds are reported. The status is that of the CLI's default batch
size; the recommended batch size is the one that meets all goals with the highest
backfill rate (or, when none does, the one that comes closest).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import common
import psycopg

EXAMPLE = common.EXAMPLE

DESCRIPTION = "online plan vs naive DDL under pgbench writers; backfill rows/s"
GOAL_TPS_SHARE = 0.90
GOAL_MAX_WAIT = 1.0
GOAL_VS_UPDATE = 0.50
GOAL_VS_PER_ROW = 50.0
GOAL_ROWS = 2_000_000
DEFAULT_BATCH_SIZES = "2000,5000,10000,50000"
TABLE = "treasury_payment"

# One writer transaction of the old application: touch an existing payment, add a new
# one. The columns are those of examples/pettycash/drift/old_0001_initial.sql (no
# payment_id: the old code does not know it).
WRITER_SCRIPT = r"""
\set id random(1, :rows)
\set r random(1, 999999999)
BEGIN;
UPDATE treasury_payment SET memo = memo || '' WHERE id = :id;
INSERT INTO treasury_payment
    (reference, payee, amount, currency, memo, status, created_at, updated_at)
    VALUES ('PB-' || :client_id || '-' || :r, 'pgbench writer', 12.34, 'USD',
            'bench writer', 'pending', now(), now());
END;
"""


def add_arguments(parser) -> None:
    parser.add_argument("--apply-batch-sizes", default=DEFAULT_BATCH_SIZES,
                        help=f"apply benchmark: comma-separated --batch-size values of the "
                             f"online arms (default {DEFAULT_BATCH_SIZES}; the CLI default "
                             "is always added)")
    common.add_writer_arguments(parser, "apply")
    parser.add_argument("--apply-rate", type=float, default=0.0,
                        help="apply benchmark: writer transactions per second in all "
                             "(pgbench --rate); 0 = as fast as they can (default)")
    parser.add_argument("--apply-baseline-seconds", type=float, default=None,
                        help="apply benchmark: length of the no-DDL window (default 20 s "
                             "at full scale, 5 s below)")
    parser.add_argument("--apply-lead", type=float, default=3.0,
                        help="apply benchmark: seconds of writer load before each window")
    parser.add_argument("--apply-tail", type=float, default=3.0,
                        help="apply benchmark: seconds of writer load after each window")
    parser.add_argument("--apply-per-row-sample", type=int, default=20_000,
                        help="apply benchmark: rows updated one by one for the per-row "
                             "rate (default 20,000)")


# -- the writers ------------------------------------------------------------------------

class Writers(common.Writers):
    """The old application's writers: WRITER_SCRIPT, flat out unless --apply-rate."""

    scripts = {"update_insert": (1, WRITER_SCRIPT)}
    app = "writer"

    def errors(self) -> list[str]:
        """Writer errors other than the termination that stops pgbench. A client caught
        between statements by that termination says "aborted in command N (SQL) … perhaps
        the backend died": not an error when every client was still connected at the stop;
        a client that aborted earlier is reported as such."""
        lines = [ln for ln in self.stderr.splitlines() if "error" in ln.lower()
                 and "administrator command" not in ln and "results are incomplete" not in ln]
        if not self.aborted_clients:
            lines = [ln for ln in lines if "perhaps the backend died" not in ln]
        elif not any("aborted" in ln for ln in lines):
            lines.append(f"{self.aborted_clients} client(s) aborted before the stop")
        return lines


# -- the arms ---------------------------------------------------------------------------

def arm_baseline(ctx, spec, tag: str) -> dict:
    w = Writers(**ctx["writers"], spec=spec, tag=tag)
    t0, t1 = common.writers_alone(w, ctx["lead"], ctx["baseline_seconds"], ctx["tail"])
    return {"window": common.window_stats(w.transactions(), t0, t1), "writer_errors": w.errors()}


def arm_per_row(ctx, spec) -> dict:
    """The per-row loops, no writers: the Django ORM loop a data migration would run (the
    goal's baseline), and a raw psycopg loop (faster than the ORM, shown for honesty)."""
    from pgreconcile.plan.backfill import STABLE_UUID_NAMESPACE
    sample = ctx["per_row_sample"]
    common.checkpoint(ctx["admin"])
    with spec.connect(autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN payment_id uuid")
        first = conn.execute(f"SELECT min(id) FROM {TABLE}").fetchone()[0]
    env = {**spec.child_env(), "DATABASE_URL": spec.conninfo(),
           "DJANGO_SETTINGS_MODULE": "pettycash_system.settings"}
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("orm_loop.py")),
                           str(first), str(sample)], env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ORM loop failed: {proc.stderr[-500:]}")
    orm = json.loads(proc.stdout.strip().splitlines()[-1])
    with spec.connect(autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {TABLE} WHERE id > %s ORDER BY id "
                                          "LIMIT %s", (orm["last_id"], sample))]
        t0 = time.perf_counter()
        for key in ids:  # autocommit: every UPDATE is its own transaction
            conn.execute(f"UPDATE {TABLE} SET payment_id = %s WHERE id = %s",
                         (uuid.uuid3(STABLE_UUID_NAMESPACE, f"{TABLE}:{key}"), key))
        seconds = time.perf_counter() - t0
        same, total = conn.execute(
            f"SELECT count(*) FILTER (WHERE payment_id = "
            f"{ctx['expression'].replace('__KEY__', 'id')}), count(*) FROM {TABLE} "
            "WHERE payment_id IS NOT NULL").fetchone()
    expected = orm["rows"] + len(ids)
    if same != expected or total != expected:
        raise RuntimeError(f"per-row loops: {same} of {expected} rows ({total} set) got the "
                           "stable uuid the plan's SQL expression computes")
    return {"rows": orm["rows"], "seconds": orm["seconds"],
            "rows_per_s": round(orm["rows"] / orm["seconds"], 1) if orm["seconds"] else None,
            "kind": "Django ORM, one update() per row",
            "raw_rows": len(ids), "raw_seconds": round(seconds, 3),
            "raw_rows_per_s": round(len(ids) / seconds, 1) if seconds else None}


def batch_sql_probe(ctx, spec, sizes: list[int]) -> list[dict]:
    """One backfill batch of each size, timed alone (no writers), in the executor's key-range
    form (`WHERE key > last AND key <= upper`, upper from the executor's own scan query) and
    in the CTE-join form it replaced (`WITH batch AS (… LIMIT n) UPDATE … FROM batch`), each
    rolled back; with the plan the server picks for the join form (a Seq Scan of the whole
    table per batch shows why it was replaced). Runs on the per-row arm's copy."""
    from pgreconcile.plan.backfill import backfill_batch_sql
    from pgreconcile.plan.steps import Backfill
    b = Backfill.from_dict(ctx["backfill"])
    key, col, t = b.key, b.column, TABLE
    expr = b.expression_for("t." + key)
    ranged = (backfill_batch_sql(b, "%(last)s::integer", "%(upper)s::integer")
              + f' RETURNING t."{key}"')
    scan = (f'SELECT max("{key}") FROM (SELECT "{key}" FROM {t} WHERE "{key}" > %(last)s '
            f'ORDER BY "{key}" LIMIT %(n)s) s')
    engine = (f'WITH batch AS (SELECT "{key}" FROM {t} WHERE "{key}" > %(last)s ORDER BY '
              f'"{key}" LIMIT %(n)s) UPDATE {t} AS t SET "{col}" = {expr} FROM batch '
              f'WHERE t."{key}" = batch."{key}" AND t."{col}" IS NULL RETURNING t."{key}"')
    out = []
    with spec.connect() as conn:  # autocommit; each measurement in its own rolled-back txn
        for n in sizes:
            last = max(ctx["per_row_sample"], ctx["rows"] // 2 - n)
            params = {"last": last, "n": n}
            shape = "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + engine,
                                                         params).fetchall())
            timings = {}
            for form, text in (("engine", engine), ("range", ranged)):
                with conn.transaction():
                    upper = conn.execute(scan, params).fetchone()[0]
                    t0 = time.perf_counter()
                    updated = len(conn.execute(text, {**params, "upper": upper}).fetchall())
                    timings[form] = (time.perf_counter() - t0, updated)
                    raise psycopg.Rollback()
            out.append({"batch_size": n,
                        "engine_plan": "Seq Scan" if "Seq Scan" in shape else "Index Scan",
                        "engine_ms": round(timings["engine"][0] * 1000, 1),
                        "range_ms": round(timings["range"][0] * 1000, 1),
                        "rows": timings["engine"][1],
                        "engine_rows_per_s": round(timings["engine"][1] / timings["engine"][0]),
                        "range_rows_per_s": round(timings["range"][1] / timings["range"][0])})
    return out


def arm_online(ctx, spec, tag: str, batch: int) -> dict:
    argv = [sys.executable, "-m", "pgreconcile", "apply", str(ctx["plan_path"]),
            "--dsn", spec.public_conninfo(), "--no-backup", "--batch-size", str(batch),
            "--json", "--quiet"]
    with Writers(**ctx["writers"], spec=spec, tag=tag) as w:
        time.sleep(ctx["lead"])
        t0 = time.time()
        proc = subprocess.run(argv, env=spec.child_env(), capture_output=True, text=True,
                              check=False)
        t1 = time.time()
        time.sleep(ctx["tail"])
        w.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"apply --batch-size {batch} exited {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr).strip()[-1200:]}")
    result = json.loads(proc.stdout)
    txns = w.transactions()
    steps = {s["id"]: s for s in result["steps"]}
    with spec.connect() as conn:
        ledger = conn.execute(
            "SELECT step_id, extract(epoch FROM started_at)::float8, "
            "extract(epoch FROM finished_at)::float8 FROM pgreconcile.ledger "
            "WHERE plan_id = %s ORDER BY started_at", (ctx["plan_id"],)).fetchall()
        done = conn.execute(
            "SELECT a.attnotnull, (SELECT count(*) FROM pg_constraint WHERE conrelid = "
            "a.attrelid AND contype = 'u') FROM pg_attribute a WHERE attrelid = %s::regclass "
            "AND attname = 'payment_id'", (TABLE,)).fetchone()
    if not done or not done[0] or not done[1]:
        raise RuntimeError(f"after apply --batch-size {batch}, payment_id is not NOT NULL "
                           f"and unique: {done}")
    per_step = []
    for step_id, s0, s1 in ledger:
        stats = common.window_stats(txns, s0, s1 or t1)
        per_step.append({"step": step_id, "seconds": round((s1 or t1) - s0, 3),
                         "tps": stats["tps"], "max_latency": stats["max_latency"],
                         "over_1s": stats["over_1s"]})
    backfill = next(s for s in result["steps"] if "backfill" in s["id"])
    backfill_window = next((s for s in per_step if "backfill" in s["step"]), None)
    return {"batch_size": batch, "window": common.window_stats(txns, t0, t1),
            "apply_seconds": round(t1 - t0, 3), "apply_reported_seconds": result["seconds"],
            "backfill_rows": backfill["rows"], "backfill_seconds": backfill["seconds"],
            "backfill_rows_per_s": (round(backfill["rows"] / backfill["seconds"], 1)
                                    if backfill["seconds"] else None),
            "steps": {k: {"outcome": v["outcome"], "rows": v["rows"], "seconds": v["seconds"],
                          "attempts": v["attempts"]} for k, v in steps.items()},
            "backfill_window_tps": backfill_window["tps"] if backfill_window else None,
            "per_step": per_step, "writer_errors": w.errors()}


def naive_statements(expression: str) -> list[tuple[str, str]]:
    t = TABLE
    return [
        ("add column", f"ALTER TABLE {t} ADD COLUMN payment_id uuid"),
        ("set default", f"ALTER TABLE {t} ALTER COLUMN payment_id SET DEFAULT "
                        "gen_random_uuid()"),
        ("update", f"UPDATE {t} AS t SET payment_id = "
                   f"{expression.replace('__KEY__', 't.id')}"),
        ("create unique index", f"CREATE UNIQUE INDEX {t}_payment_id_uniq ON {t} "
                                "(payment_id)"),
        ("set not null", f"ALTER TABLE {t} ALTER COLUMN payment_id SET NOT NULL"),
        ("unique constraint", f"ALTER TABLE {t} ADD CONSTRAINT {t}_payment_id_key UNIQUE "
                              f"USING INDEX {t}_payment_id_uniq"),
    ]


def arm_naive(ctx, spec, tag: str) -> dict:
    timings: dict[str, float] = {}
    updated = 0
    with Writers(**ctx["writers"], spec=spec, tag=tag) as w:
        time.sleep(ctx["lead"])
        with spec.connect() as conn:
            t0 = time.time()
            with conn.transaction():
                for label, statement in naive_statements(ctx["expression"]):
                    s0 = time.perf_counter()
                    cur = conn.execute(statement)
                    timings[label] = round(time.perf_counter() - s0, 3)
                    if label == "update":
                        updated = cur.rowcount
            t1 = time.time()
        time.sleep(ctx["tail"])
        w.stop()
    return {"window": common.window_stats(w.transactions(), t0, t1), "seconds": round(t1 - t0, 3),
            "statements": timings, "update_rows": updated,
            "update_rows_per_s": (round(updated / timings["update"], 1)
                                  if timings.get("update") else None),
            "writer_errors": w.errors()}


# -- the benchmark ----------------------------------------------------------------------

def _meets(o: dict, base_tps: float, update_rate: float | None) -> dict:
    share = o["window"]["tps"] / base_tps if base_tps else 0.0
    vs_update = (o["backfill_rows_per_s"] / update_rate
                 if update_rate and o["backfill_rows_per_s"] else 0.0)
    return {"tps_share": share, "max_latency": o["window"]["max_latency"] or 0.0,
            "vs_update": vs_update,
            "ok_tps": share >= GOAL_TPS_SHARE,
            "ok_wait": (o["window"]["max_latency"] or 0.0) <= GOAL_MAX_WAIT,
            "ok_update": vs_update >= GOAL_VS_UPDATE}


def run(server_uri: str, args) -> dict:
    from pgreconcile.apply.options import ApplyOptions
    from pgreconcile.pg.connection import ConnectionSpec
    from pgreconcile.pg.scratch import drop_database
    from pgreconcile.pg.toolchain import find_tool

    rows, repeat = args.rows, args.repeat
    default_batch = ApplyOptions().batch_size
    sizes = sorted({int(s) for s in str(args.apply_batch_sizes).split(",") if s.strip()}
                   | {default_batch})
    if any(s < 1 for s in sizes) or args.apply_clients < 1 or args.apply_threads < 1:
        raise ValueError("batch sizes, clients and threads must be at least 1")
    full = rows >= GOAL_ROWS
    baseline_seconds = args.apply_baseline_seconds or (20.0 if full else 5.0)
    admin = ConnectionSpec.resolve(server_uri).with_dbname("postgres")
    template_db = f"pgreconcile_bench_apply_{rows}"
    arm_db = f"pgreconcile_bench_apply_{rows}_arm"
    template, arm_spec = admin.with_dbname(template_db), admin.with_dbname(arm_db)
    workdir = Path(tempfile.mkdtemp(prefix="pgreconcile-bench-apply-",
                                    dir=getattr(args, "workdir", None)))
    load_before = common.loadavg()
    loads = [load_before]
    try:
        build_s, major, version, db_size = common.build_drifted(admin, template_db, rows)
        pgbench = find_tool("pgbench", major)
        print(f"  built in {build_s:.1f} s; {db_size / 1e6:,.1f} MB; pgbench {pgbench.version}"
              f" at {pgbench.path}", flush=True)

        plan_path = workdir / "plan.json"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pgreconcile", "plan", "--project-dir",
                               str(EXAMPLE), "--dsn", template.public_conninfo(), "--out",
                               str(plan_path), "--json", "--quiet"],
                              env=template.child_env(), capture_output=True, text=True,
                              check=False)
        plan_s = time.perf_counter() - t0
        if proc.returncode != 3 or not plan_path.exists():
            raise RuntimeError(f"pgreconcile plan exited {proc.returncode} (3 expected): "
                               f"{(proc.stdout + proc.stderr).strip()[-1200:]}")
        plan = json.loads(plan_path.read_text())
        backfill_step = next(s for s in plan["steps"] if s["kind"] == "backfill")
        print(f"  plan {plan['id']} in {plan_s:.1f} s: {len(plan['steps'])} steps", flush=True)

        ctx = {"admin": admin, "lead": args.apply_lead, "tail": args.apply_tail,
               "baseline_seconds": baseline_seconds, "plan_path": plan_path,
               "plan_id": plan["id"], "expression": backfill_step["backfill"]["expression"],
               "backfill": backfill_step["backfill"], "rows": rows,
               "per_row_sample": min(args.apply_per_row_sample, max(rows, 1)),
               "writers": {"pgbench": pgbench.path, "admin": admin, "workdir": workdir,
                           "rows": max(rows, 1), "clients": args.apply_clients,
                           "threads": args.apply_threads, "rate": args.apply_rate}}
        arms = ["baseline", "naive", *(f"online-{b}" for b in sizes)]
        results: dict[str, list[dict]] = {a: [] for a in arms}
        per_row: list[dict] = []
        probe: list[dict] = []
        probe_sizes = sorted({n for n in (*sizes, 1000, 2000, 5000, 8000, 10000, 20000, 50000)
                              if n <= max(rows // 4, 1)})
        for i in range(repeat):
            order = arms if i % 2 == 0 else list(reversed(arms))
            for arm in order:
                load = common.fresh_copy(admin, arm_db, template_db, loads)
                tag = f"{i + 1}-{arm}"
                if arm == "baseline":
                    r = arm_baseline(ctx, arm_spec, tag)
                    per_row.append(arm_per_row(ctx, arm_spec))
                    if not probe:
                        probe = batch_sql_probe(ctx, arm_spec, probe_sizes)
                elif arm == "naive":
                    r = arm_naive(ctx, arm_spec, tag)
                else:
                    r = arm_online(ctx, arm_spec, tag, int(arm.split("-")[1]))
                drop_database(admin, arm_db)
                r["loadavg"] = load
                results[arm].append(r)
                w = r["window"]
                extra = ""
                if arm == "baseline":
                    extra = f"; per-row loop {per_row[-1]['rows_per_s']:,.0f} rows/s"
                elif arm == "naive":
                    extra = (f"; UPDATE {r['update_rows_per_s']:,.0f} rows/s, "
                             f"transaction {r['seconds']:.1f} s")
                else:
                    extra = (f"; backfill {r['backfill_rows_per_s']:,.0f} rows/s, apply "
                             f"{r['apply_seconds']:.1f} s")
                print(f"  run {i + 1}/{repeat} {arm:<13} writers {w['tps']:8.1f} tps, max "
                      f"{w['max_latency'] or 0:7.3f} s over {w['seconds']:.1f} s{extra} "
                      f"(load {load})", flush=True)
                for err in r.get("writer_errors", [])[:3]:
                    print(f"    writer error: {err}", flush=True)

        # -- figures -------------------------------------------------------------------
        def med(arm: str, *path):
            values = []
            for r in results[arm]:
                v = r
                for p in path:
                    v = v.get(p) if isinstance(v, dict) else None
                values.append(v)
            return common.median(values)

        base_tps = med("baseline", "window", "tps")
        update_rate = med("naive", "update_rows_per_s")
        per_row_rate = common.median([p["rows_per_s"] for p in per_row])
        online = {}
        for b in sizes:
            arm = f"online-{b}"
            o = {"batch_size": b, "window": {"tps": med(arm, "window", "tps"),
                                             "max_latency": max(r["window"]["max_latency"] or 0
                                                                for r in results[arm]),
                                             "p99_latency": med(arm, "window", "p99_latency"),
                                             "over_1s": sum(r["window"]["over_1s"]
                                                            for r in results[arm])},
                 "apply_seconds": med(arm, "apply_seconds"),
                 "backfill_window_tps": med(arm, "backfill_window_tps"),
                 "backfill_rows_per_s": med(arm, "backfill_rows_per_s")}
            o["goals"] = _meets(o, base_tps, update_rate)
            o["vs_per_row"] = (o["backfill_rows_per_s"] / per_row_rate
                               if per_row_rate and o["backfill_rows_per_s"] else 0.0)
            o["goals"]["ok_per_row"] = o["vs_per_row"] >= GOAL_VS_PER_ROW
            o["goals"]["all"] = all(o["goals"][k] for k in ("ok_tps", "ok_wait", "ok_update",
                                                            "ok_per_row"))
            online[b] = o
        base_max = max(r["window"]["max_latency"] or 0 for r in results["baseline"])
        naive_tps = med("naive", "window", "tps")
        naive_max = max(r["window"]["max_latency"] or 0 for r in results["naive"])

        def closeness(b: int) -> tuple:
            g = online[b]["goals"]
            # all goals first; then fewest misses; then the smallest worst shortfall; then rate
            misses = sum(not g[k] for k in ("ok_tps", "ok_wait", "ok_update", "ok_per_row"))
            shortfall = max(0.0, GOAL_TPS_SHARE - g["tps_share"]) / GOAL_TPS_SHARE + \
                max(0.0, g["max_latency"] - GOAL_MAX_WAIT) / GOAL_MAX_WAIT + \
                max(0.0, GOAL_VS_UPDATE - g["vs_update"]) / GOAL_VS_UPDATE
            return (misses, round(shortfall, 3), -(online[b]["backfill_rows_per_s"] or 0))
        recommended = min(sizes, key=closeness)
        d = online[default_batch]
        status = ("PASS" if d["goals"]["all"] else "FAIL") if full else "n/a"
        load_after = common.loadavg()
        loads.append(load_after)

        def fmt_rate(v):
            return f"{v:,.0f} rows/s" if v else "n/a"

        def fmt_lat(v):
            return f"{v:.3f} s" if v is not None else "n/a"

        writer_desc = (f"pgbench -c {args.apply_clients} -j {args.apply_threads} -M prepared, "
                       + (f"--rate {args.apply_rate:g} tps" if args.apply_rate > 0
                          else "unthrottled") + "; UPDATE 1 row + INSERT 1 row per transaction")
        table = [
            ["rows (treasury_payment)", f"{rows:,} ({db_size / 1e6:,.1f} MB)"],
            ["server / pgbench", f"PostgreSQL {version} / pgbench {pgbench.version}"],
            ["writers", writer_desc],
            ["build / plan", f"{build_s:.1f} s / {plan_s:.1f} s ({len(plan['steps'])} steps)"],
            ["baseline writers (no DDL)", (
                f"{base_tps:,.1f} tps, max latency {fmt_lat(base_max)}, p99 "
                f"{fmt_lat(med('baseline', 'window', 'p99_latency'))}  runs: "
                + ", ".join(f"{r['window']['tps']:.0f}" for r in results["baseline"]))],
            ["naive: writers during the transaction", (
                f"{naive_tps:,.1f} tps ({naive_tps / base_tps:.0%} of baseline), max latency "
                f"{fmt_lat(naive_max)}; transaction {med('naive', 'seconds'):.1f} s")],
            ["naive: statements, median", ", ".join(
                f"{k} {common.median([r['statements'][k] for r in results['naive']]):.2f} s"
                for k in results["naive"][0]["statements"])],
            ["single UPDATE", fmt_rate(update_rate)],
            ["per-row ORM loop (sample, no writers)", (f"{fmt_rate(per_row_rate)} "
                                                       f"({per_row[0]['rows']:,} rows, one "
                                                       "transaction each)")],
            ["per-row raw psycopg loop", (f"{fmt_rate(per_row[0].get('raw_rows_per_s'))} "
                                          "(for comparison; not the goal's baseline)")],
        ]
        for b in sizes:
            o, g = online[b], online[b]["goals"]
            mark = " (CLI default)" if b == default_batch else ""
            table.append([f"online --batch-size {b:,}{mark}", (
                f"writers {o['window']['tps']:,.1f} tps ({g['tps_share']:.0%}), max latency "
                f"{fmt_lat(o['window']['max_latency'])}, p99 "
                f"{fmt_lat(o['window']['p99_latency'])}; apply {o['apply_seconds']:.1f} s; "
                f"during the backfill step {(o['backfill_window_tps'] or 0) / base_tps:.0%}")])
            table.append(["  backfill", (
                f"{fmt_rate(o['backfill_rows_per_s'])} = {g['vs_update']:.2f}x single "
                f"UPDATE, {o['vs_per_row']:,.0f}x per-row; goals "
                + ("met" if g["all"] else "missed: " + ", ".join(
                    k[3:] for k in ("ok_tps", "ok_wait", "ok_update", "ok_per_row")
                    if not g[k])))])
        worst = max((s for r in results[f"online-{default_batch}"] for s in r["per_step"]),
                    key=lambda s: s["max_latency"] or 0, default=None)
        if worst:
            table.append([f"  worst step at {default_batch:,}", (
                f"{worst['step']}: writers max {fmt_lat(worst['max_latency'])}, "
                f"{worst['tps']:,.1f} tps over {worst['seconds']:.1f} s")])
        if probe:
            table.append(["backfill batch alone (no writers)",
                          "CTE join (old) vs key-range (executor) UPDATE, ms per batch "
                          "(plan of the join form)"])
            for p in probe:
                table.append([f"  {p['batch_size']:,} rows", (
                    f"{p['engine_ms']:,.0f} ms ({p['engine_plan']}) vs {p['range_ms']:,.0f} ms"
                    f" = {fmt_rate(p['engine_rows_per_s'])} vs {fmt_rate(p['range_rows_per_s'])}")])
        table += [
            ["recommended --batch-size", f"{recommended:,}" + (
                " (meets every goal, fastest backfill among those)"
                if online[recommended]["goals"]["all"] else " (no size meets every goal; "
                "closest)")],
            ["load average start / end", f"{load_before} / {load_after} (1/5/15 min, "
                                         f"{os.cpu_count()} CPUs)"
             + ("  busy machine: figures are noisy" if common.busy(*loads) else "")],
            ["goal", (f"online at the default batch size: writers >= {GOAL_TPS_SHARE:.0%} of "
                      f"baseline tps and max latency <= {GOAL_MAX_WAIT:g} s; backfill >= "
                      f"{GOAL_VS_UPDATE:.0%} of single UPDATE and >= {GOAL_VS_PER_ROW:g}x "
                      f"per-row; at >= {GOAL_ROWS:,} rows"
                      + ("" if full else f" (not applicable at {rows:,} rows)"))],
            ["status", status],
        ]
        return {
            "name": "apply",
            "headline": (f"writers {d['goals']['tps_share']:.0%} of baseline, max "
                         f"{d['window']['max_latency'] or 0:.2f} s (naive "
                         f"{naive_tps / base_tps:.0%}, {naive_max:.1f} s); backfill "
                         f"{d['goals']['vs_update']:.2f}x UPDATE, {d['vs_per_row']:,.0f}x "
                         f"per-row; best batch {recommended:,}"),
            "goal": (f">= {GOAL_TPS_SHARE:.0%} tps, <= {GOAL_MAX_WAIT:g} s, >= "
                     f"{GOAL_VS_UPDATE:.0%} UPDATE, >= {GOAL_VS_PER_ROW:g}x per-row at "
                     f"{GOAL_ROWS:,} rows"),
            "status": status,
            "table": table,
            "rows": rows,
            "repeat": repeat,
            "server_version": version,
            "database_size_bytes": db_size,
            "pgbench": pgbench.to_dict(),
            "writers": writer_desc,
            "build_seconds": round(build_s, 3),
            "plan_seconds": round(plan_s, 3),
            "plan_id": plan["id"],
            "baseline_tps": base_tps,
            "naive": {"tps": naive_tps, "tps_share": naive_tps / base_tps if base_tps else None,
                      "max_latency": naive_max, "update_rows_per_s": update_rate},
            "per_row_rows_per_s": per_row_rate,
            "online": {str(b): o for b, o in online.items()},
            "default_batch_size": default_batch,
            "recommended_batch_size": recommended,
            "runs": results,
            "per_row_runs": per_row,
            "batch_sql_probe": probe,
            "loadavg": loads,
            "goal_applies": full,
        }
    finally:
        common.clean_up(admin, args, workdir, arm_db, keep=template_db)
