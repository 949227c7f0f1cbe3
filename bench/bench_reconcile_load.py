"""Reconcile under load: the whole runbook (`pgreconcile reconcile`) while the old application
keeps writing, against the same run on an idle copy.

Goals (issue 11), on the 2,000,000-row drifted pettycash database (the seed case, built by
examples/pettycash/make_drift.py), with writers inserting, updating and deleting rows of
`treasury_payment` at a fixed rate for the whole run:

* the run succeeds (exit 0: 0002 applied, `payment_id` set, NOT NULL and unique);
* the writers keep >= 90 % of their no-run throughput while it runs;
* no writer waits longer than 1 s;
* no writer error, no aborted writer.

The run's wall time with writers is reported against the same run on an idle copy (no goal:
the ratio is what the load costs the run).

Setup: the drifted database is built once and vacuumed; it is the template. Every arm runs
on a fresh copy (`CREATE DATABASE … TEMPLATE`, then a CHECKPOINT).

Writers: pgbench (`find_tool("pgbench", server major)`), `--rate` fixed (default 200
transactions/s in all, ~ the two writers of ~100 statements/s of the issue), `-c 4 -j 2
-M prepared`, three scripts of one statement each (autocommit, as the old Django code runs
them), weighted 2:2:1 like tests/support.py's Writers:

* insert: a payment without `payment_id` (the old code does not know it), `RETURNING id`
  kept by `\\gset` as the client's `last_id`;
* update: `status` and `updated_at` of a random existing payment (id 1..rows; a row that is
  gone updates nothing, which is no error);
* delete: the client's own last insert (`last_id`, defined as 0 before the first one; a row
  already deleted deletes nothing).

None of them can fail on a constraint; a client that aborts anyway (a real error, or a
lock/statement timeout) is counted: its session is gone before the writers are stopped.
pgbench runs `lead` seconds before the measured window and `tail` seconds after it, and is
stopped by terminating its sessions (a unique application_name), which makes it flush its
transaction logs (`-l`) and exit; every figure comes from those logs. With `--rate`, a
transaction's latency runs from its scheduled start, so it includes the time the writer
waited to get going: the longest latency is the longest wait.

Arms, each on its own copy:

* baseline: writers only, for `--reconcile-load-baseline-seconds`;
* idle: `python -m pgreconcile reconcile --project-dir examples/pettycash --dsn … --json`
  (the real CLI with its defaults: backup with test restore, preflight, plan, apply,
  migrate, verify) and no writers: its wall time;
* loaded: the same command with the writers running: its exit status (and message, when it
  fails), wall time, the writers' throughput over the command's whole run as a share of the
  baseline, their longest wait, and per stage (from report.json) the same two figures.

A failed run is reported as such (a MISS with the CLI's message), never as an error of the
benchmark. Rounds: `--reconcile-load-repeat` (default 1: one round takes minutes at full
size); with several, the idle and loaded arms swap order every other round and medians are
reported (the longest wait is the worst of all rounds).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import common

REPO, EXAMPLE = common.REPO, common.EXAMPLE

DESCRIPTION = "reconcile (CLI, backup included) under fixed-rate pgbench writers vs idle"
GOAL_TPS_SHARE = 0.90
GOAL_MAX_WAIT = 1.0
GOAL_ROWS = 2_000_000
TABLE = "treasury_payment"

# One statement per transaction, each in autocommit like the old application's ORM calls;
# the columns are those of drift/old_0001_initial.sql (no payment_id).
SCRIPTS = {
    "insert": (2, r"""
\set r random(1, 999999999)
INSERT INTO treasury_payment
    (reference, payee, amount, currency, memo, status, created_at, updated_at)
    VALUES ('LD-' || :client_id || '-' || :r, 'bench writer', 12.34, 'USD', 'bench writer',
            'pending', now(), now())
    RETURNING id AS last_id \gset
"""),
    "update": (2, r"""
\set id random(1, :rows)
\set pick random(0, 1)
UPDATE treasury_payment
    SET status = CASE WHEN :pick = 0 THEN 'approved' ELSE 'paid' END, updated_at = now()
    WHERE id = :id;
"""),
    "delete": (1, r"""
DELETE FROM treasury_payment WHERE id = :last_id;
"""),
}


def add_arguments(parser) -> None:
    parser.add_argument("--reconcile-load-rate", type=float, default=200.0,
                        help="reconcile_load benchmark: writer transactions per second in all "
                             "(pgbench --rate, default 200)")
    common.add_writer_arguments(parser, "reconcile_load")
    parser.add_argument("--reconcile-load-baseline-seconds", type=float, default=None,
                        help="reconcile_load benchmark: length of the writers-only window "
                             "(default 30 s at full scale, 3 s below)")
    parser.add_argument("--reconcile-load-lead", type=float, default=None,
                        help="reconcile_load benchmark: seconds of writer load before each "
                             "window (default 3 s at full scale, 1 s below)")
    parser.add_argument("--reconcile-load-tail", type=float, default=None,
                        help="reconcile_load benchmark: seconds of writer load after each "
                             "window (default 3 s at full scale, 1 s below)")
    parser.add_argument("--reconcile-load-repeat", type=int, default=1,
                        help="reconcile_load benchmark: rounds (default 1; the global "
                             "--repeat is not used: one round takes minutes at full size)")
    parser.add_argument("--reconcile-load-timeout", type=float, default=3600.0,
                        help="reconcile_load benchmark: seconds a reconcile may take before "
                             "it is stopped and reported as timed out (default 3600)")
    parser.add_argument("--reconcile-load-arg", action="append", default=[], metavar="ARG",
                        help="reconcile_load benchmark: extra argument for both reconcile "
                             "runs (repeatable), e.g. --reconcile-load-arg=--no-test-restore")


# -- the writers ------------------------------------------------------------------------

class Writers(common.Writers):
    """The old application's writers: SCRIPTS at a fixed rate."""

    scripts = SCRIPTS
    app = "load"
    defines = {"last_id": 0}

    def report(self) -> dict:
        """What went wrong for the writers: clients that aborted before the stop, and the
        server errors pgbench printed (the termination that stops it is not one)."""
        errors = [ln.strip() for ln in self.stderr.splitlines()
                  if "ERROR:" in ln and "administrator command" not in ln]
        txns, failed, skipped, kinds = self.logs()
        return {"txns": txns, "failed": failed, "skipped": skipped, "errors": errors,
                "statements": kinds, "aborted_clients": self.aborted_clients}


# -- the arms ---------------------------------------------------------------------------

def arm_baseline(ctx, spec, tag: str) -> dict:
    w = Writers(**ctx["writers"], spec=spec, tag=tag)
    t0, t1 = common.writers_alone(w, ctx["lead"], ctx["baseline_seconds"], ctx["tail"])
    r = w.report()
    return {"window": common.window_stats(r["txns"], t0, t1), "writer_errors": r["errors"][:20],
            "writer_error_count": len(r["errors"]), "failed": r["failed"],
            "aborted_clients": r["aborted_clients"], "statements": r["statements"]}


def _stage_windows(report: dict | None, t0: float, t1: float) -> list[tuple[str, float, float]]:
    """(stage, start, end) in epoch seconds from report.json's stages: a stage starts at its
    `started_at` (to the second) or where the previous one ended, whichever is later, and
    lasts its own `seconds`."""
    out: list[tuple[str, float, float]] = []
    end = t0
    for s in (report or {}).get("stages") or []:
        try:
            start = datetime.fromisoformat(s["started_at"]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
        start = min(max(start, end), t1)
        end = min(start + float(s.get("seconds") or 0), t1)
        out.append((s.get("stage", "?"), start, end))
    return out


def _outcome(spec) -> dict:
    """What the run left in the database: payment_id's state, 0002, the rows."""
    with spec.connect() as conn:
        col = conn.execute(
            "SELECT a.attnotnull, EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = "
            "a.attrelid AND c.contype IN ('u', 'p') AND c.conkey = ARRAY[a.attnum]) "
            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attname = 'payment_id' "
            "AND NOT a.attisdropped", (TABLE,)).fetchone()
        rows = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        missing = (conn.execute(f"SELECT count(*) FROM {TABLE} WHERE payment_id IS NULL")
                   .fetchone()[0] if col else None)
        migrated = conn.execute(
            "SELECT count(*) FROM django_migrations WHERE app = 'treasury' AND name LIKE "
            "'0002%'").fetchone()[0] > 0
    return {"payment_id": bool(col), "not_null": bool(col and col[0]),
            "unique": bool(col and col[1]), "rows_without_payment_id": missing,
            "rows": rows, "migration_0002": migrated,
            "complete": bool(col and col[0] and col[1] and missing == 0 and migrated)}


def run_reconcile(ctx, spec, tag: str, writers: bool) -> dict:
    out = ctx["workdir"] / tag
    argv = [sys.executable, "-m", "pgreconcile", "reconcile", "--project-dir", str(EXAMPLE),
            "--dsn", spec.public_conninfo(), "--out-dir", str(out / "backups"),
            "--report-dir", str(out / "reports"), "--json", "--quiet", *ctx["extra_args"]]
    w = Writers(**ctx["writers"], spec=spec, tag=tag) if writers else None
    timed_out = False
    try:
        if w is not None:
            w.__enter__()
            time.sleep(ctx["lead"])
        t0 = time.time()
        proc = subprocess.Popen(argv, env=spec.child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO)
        try:
            stdout, stderr = proc.communicate(timeout=ctx["timeout"])
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(signal.SIGINT)  # our own child: it stops and reports
            try:
                stdout, stderr = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
        t1 = time.time()
        if w is not None:
            time.sleep(ctx["tail"])
    finally:
        if w is not None:
            w.stop()
    code = proc.returncode
    try:
        result = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    except ValueError:
        result = {}
    report_file = out / "reports" / "report.json"
    try:
        report = json.loads(report_file.read_text())
    except (OSError, ValueError):
        report = None
    message = None
    if code != 0:
        message = (("timed out after {:.0f} s; ".format(ctx["timeout"]) if timed_out else "")
                   + (f"{result.get('error', '')}: {result.get('message', '')}".strip(": ")
                      if result.get("message") else (stderr.strip().splitlines() or ["?"])[-1]))
    rollback = (report or {}).get("rollback") or {}
    r = {"exit_code": code, "ok": code == 0, "message": message, "timed_out": timed_out,
         "seconds": round(t1 - t0, 3),
         "stages": [{"stage": s.get("stage"), "seconds": s.get("seconds"), "ok": s.get("ok")}
                    for s in (report or {}).get("stages") or []],
         "rollback": rollback.get("method") if rollback else None,
         "outcome": _outcome(spec)}
    if code != 0:
        r["stderr_tail"] = stderr.strip()[-1500:]
    if w is not None:
        wr = w.report()
        r["window"] = common.window_stats(wr["txns"], t0, t1)
        r["per_stage"] = []
        for name, s0, s1 in _stage_windows(report, t0, t1):
            st = common.window_stats(wr["txns"], s0, s1)
            r["per_stage"].append({"stage": name, "seconds": round(s1 - s0, 2),
                                   "tps": st["tps"], "max_latency": st["max_latency"],
                                   "over_1s": st["over_1s"]})
        r.update(writer_errors=wr["errors"][:20], writer_error_count=len(wr["errors"]),
                 failed=wr["failed"], aborted_clients=wr["aborted_clients"],
                 statements=wr["statements"])
    return r


# -- the benchmark ----------------------------------------------------------------------

def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run(server_uri: str, args) -> dict:
    from pgreconcile.pg.connection import ConnectionSpec
    from pgreconcile.pg.scratch import drop_database
    from pgreconcile.pg.toolchain import find_tool

    rows = args.rows
    repeat = args.reconcile_load_repeat
    if (repeat < 1 or args.reconcile_load_clients < 1 or args.reconcile_load_threads < 1
            or args.reconcile_load_rate <= 0):
        raise ValueError("rounds, clients and threads must be at least 1, the rate above 0")
    full = rows >= GOAL_ROWS
    baseline_seconds = args.reconcile_load_baseline_seconds or (30.0 if full else 3.0)
    lead = args.reconcile_load_lead if args.reconcile_load_lead is not None else (
        3.0 if full else 1.0)
    tail = args.reconcile_load_tail if args.reconcile_load_tail is not None else (
        3.0 if full else 1.0)
    admin = ConnectionSpec.resolve(server_uri).with_dbname("postgres")
    template_db = f"pgreconcile_bench_load_{rows}"
    arm_db = f"pgreconcile_bench_load_{rows}_arm"
    arm_spec = admin.with_dbname(arm_db)
    workdir = Path(tempfile.mkdtemp(prefix="pgreconcile-bench-load-",
                                    dir=getattr(args, "workdir", None)))
    loads = [common.loadavg()]
    try:
        build_s, major, version, db_size = common.build_drifted(admin, template_db, rows)
        pgbench = find_tool("pgbench", major)
        print(f"  built in {build_s:.1f} s; {db_size / 1e6:,.1f} MB; pgbench {pgbench.version}",
              flush=True)
        ctx = {"workdir": workdir, "lead": lead, "tail": tail,
               "baseline_seconds": baseline_seconds, "timeout": args.reconcile_load_timeout,
               "extra_args": list(args.reconcile_load_arg),
               "writers": {"pgbench": pgbench.path, "admin": admin, "workdir": workdir,
                           "rows": max(rows, 1), "clients": args.reconcile_load_clients,
                           "threads": args.reconcile_load_threads,
                           "rate": args.reconcile_load_rate}}
        runs: dict[str, list[dict]] = {"baseline": [], "idle": [], "loaded": []}
        for i in range(repeat):
            order = ["baseline", "idle", "loaded"] if i % 2 == 0 else [
                "baseline", "loaded", "idle"]
            for arm in order:
                load = common.fresh_copy(admin, arm_db, template_db, loads)
                tag = f"{i + 1}-{arm}"
                if arm == "baseline":
                    r = arm_baseline(ctx, arm_spec, tag)
                    line = (f"writers {r['window']['tps']:,.1f} tps, max "
                            f"{r['window']['max_latency'] or 0:.3f} s")
                else:
                    r = run_reconcile(ctx, arm_spec, tag, writers=arm == "loaded")
                    line = f"reconcile exit {r['exit_code']} in {r['seconds']:.1f} s"
                    if arm == "loaded":
                        line += (f"; writers {r['window']['tps']:,.1f} tps, max "
                                 f"{r['window']['max_latency'] or 0:.3f} s")
                    if r["message"]:
                        line += f"; {r['message'][:160]}"
                drop_database(admin, arm_db)
                r["loadavg"] = load
                runs[arm].append(r)
                print(f"  round {i + 1}/{repeat} {arm:<8} {line} (load {load})", flush=True)
                for err in r.get("writer_errors", [])[:3]:
                    print(f"    writer error: {err}", flush=True)
        loads.append(common.loadavg())
        return summarise(runs, rows=rows, full=full, version=version, db_size=db_size,
                         pgbench=pgbench, build_s=build_s, args=args, loads=loads,
                         baseline_seconds=baseline_seconds)
    finally:
        common.clean_up(admin, args, workdir, arm_db, keep=template_db)


def summarise(runs: dict[str, list[dict]], *, rows, full, version, db_size, pgbench, build_s,
              args, loads, baseline_seconds) -> dict:
    base_tps = common.median([r["window"]["tps"] for r in runs["baseline"]])
    base_max = max(r["window"]["max_latency"] or 0 for r in runs["baseline"])
    loaded, idle = runs["loaded"], runs["idle"]
    load_tps = common.median([r["window"]["tps"] for r in loaded])
    share = load_tps / base_tps if base_tps and load_tps is not None else 0.0
    max_wait = max(r["window"]["max_latency"] or 0 for r in loaded)
    p99 = common.median([r["window"]["p99_latency"] for r in loaded])
    errors = sum(r["writer_error_count"] + r["failed"] for r in loaded)
    aborted = sum(r["aborted_clients"] for r in loaded)
    base_trouble = sum(r["writer_error_count"] + r["failed"] + r["aborted_clients"]
                       for r in runs["baseline"])
    succeeded = all(r["ok"] and r["outcome"]["complete"] for r in loaded)
    loaded_s = common.median([r["seconds"] for r in loaded])
    idle_s = common.median([r["seconds"] for r in idle])
    ratio = loaded_s / idle_s if idle_s else None
    goals = {"run succeeds": succeeded, f"writers >= {GOAL_TPS_SHARE:.0%} of baseline tps":
             share >= GOAL_TPS_SHARE, f"longest wait <= {GOAL_MAX_WAIT:g} s":
             max_wait <= GOAL_MAX_WAIT, "no writer error or abort": errors + aborted == 0}
    status = ("PASS" if all(goals.values()) else "FAIL") if full else "n/a"

    def outcome_text(r: dict) -> str:
        o = r["outcome"]
        text = f"exit {r['exit_code']}"
        text += " (ok)" if r["ok"] else f": {r['message']}"
        if r.get("rollback"):
            text += f"; rolled back ({r['rollback']})"
        state = "NOT NULL" if o["not_null"] else "nullable" if o["payment_id"] else "absent"
        text += (f"; payment_id {state}{', unique' if o['unique'] else ''}"
                 + (f", {o['rows_without_payment_id']:,} rows without" if o['payment_id']
                    else "") + f"; 0002 {'applied' if o['migration_0002'] else 'not applied'}")
        return text

    writer_desc = (f"pgbench -c {args.reconcile_load_clients} -j {args.reconcile_load_threads} "
                   f"-M prepared --rate {args.reconcile_load_rate:g}; one statement per "
                   "transaction: insert (no payment_id) 2 : update status/updated_at 2 : "
                   "delete own row 1")
    extra = " ".join(args.reconcile_load_arg)
    table = [
        ["rows (treasury_payment)", f"{rows:,} ({db_size / 1e6:,.1f} MB)"],
        ["server / pgbench", f"PostgreSQL {version} / pgbench {pgbench.version}"],
        ["writers", writer_desc],
        ["command", "pgreconcile reconcile --project-dir examples/pettycash --json"
                    + (f" {extra}" if extra else "") + " (backup with test restore unless "
                    "told otherwise)"],
        ["build", f"{build_s:.1f} s"],
        ["(a) baseline writers, no run", (
            f"{base_tps:,.1f} tps over {baseline_seconds:g} s, max wait {base_max:.3f} s"
            + (f"; {base_trouble} error(s)/abort(s)" if base_trouble else ""))],
        ["(b) reconcile with writers", (
            f"{loaded_s:.1f} s; " + "; ".join(outcome_text(r) for r in loaded))],
        ["    writers during the run", (
            f"{load_tps:,.1f} tps = {share:.0%} of baseline, max wait {max_wait:.3f} s, p99 "
            f"{p99 if p99 is not None else 0:.3f} s, "
            f"{sum(r['window']['over_1s'] for r in loaded)} transaction(s) over "
            f"{GOAL_MAX_WAIT:g} s")],
        ["    writer statements (whole pgbench run)", ", ".join(
            f"{k} {sum(r['statements'][k] for r in loaded):,}" for k in SCRIPTS)],
        ["    writer errors / aborted clients", (
            f"{errors} / {aborted}" + "".join(
                f"; {e[:200]}" for r in loaded for e in r["writer_errors"][:2]))],
    ]
    idle_stages = {s["stage"]: s["seconds"] for s in (idle[0]["stages"] if idle else [])}
    for s in (loaded[0].get("per_stage") or []) if loaded else []:
        idle_stage = idle_stages.get(s["stage"])
        table.append([f"      stage {s['stage']}", (
            f"{s['seconds']:.1f} s"
            + (f" (idle {idle_stage:.1f} s)" if idle_stage is not None else " (idle: none)")
            + f": writers {s['tps']:,.1f} tps, max wait "
            f"{s['max_latency'] if s['max_latency'] is not None else 0:.3f} s"
            + (f", {s['over_1s']} over {GOAL_MAX_WAIT:g} s" if s["over_1s"] else ""))])
    comparable = all(r["ok"] for r in loaded + idle)
    table += [
        ["(c) same reconcile, idle copy", (
            f"{idle_s:.1f} s; " + "; ".join(outcome_text(r) for r in idle))],
        ["wall time with writers / idle", (f"{ratio:.2f}x" if ratio else "n/a") + (
            "" if comparable else " (not comparable: a run failed, so the two did not do "
                                  "the same work)")],
    ]
    for goal, ok in goals.items():
        table.append([f"goal: {goal}", _mark(ok)])
    table += [
        ["load average start / end", f"{loads[0]} / {loads[-1]} (1/5/15 min, "
                                     f"{os.cpu_count()} CPUs)"
         + ("  busy machine: figures are noisy" if common.busy(*loads) else "")],
        ["status", status + ("" if full else f" (goals apply at >= {GOAL_ROWS:,} rows)")],
    ]
    first_fail = next((r for r in loaded if not r["ok"]), None)
    headline = ("reconcile with writers: "
                + (f"exit {first_fail['exit_code']} ({(first_fail['message'] or '')[:80]})"
                   if first_fail else "ok")
                + f", {loaded_s:.1f} s vs {idle_s:.1f} s idle"
                + (f" ({ratio:.2f}x)" if ratio else "")
                + f"; writers {share:.0%} of baseline, max wait {max_wait:.2f} s, "
                  f"{errors} error(s), {aborted} aborted")
    return {
        "name": "reconcile_load",
        "headline": headline,
        "goal": (f"succeeds, >= {GOAL_TPS_SHARE:.0%} tps, <= {GOAL_MAX_WAIT:g} s wait, no "
                 f"writer error at {GOAL_ROWS:,} rows"),
        "status": status,
        "goals": {k: _mark(v) for k, v in goals.items()},
        "goal_applies": full,
        "table": table,
        "rows": rows,
        "repeat": args.reconcile_load_repeat,
        "server_version": version,
        "database_size_bytes": db_size,
        "pgbench": pgbench.to_dict(),
        "writers": writer_desc,
        "rate": args.reconcile_load_rate,
        "build_seconds": round(build_s, 3),
        "baseline_tps": base_tps,
        "baseline_max_latency": base_max,
        "loaded": {"exit_codes": [r["exit_code"] for r in loaded],
                   "messages": [r["message"] for r in loaded if r["message"]],
                   "seconds": loaded_s, "tps": load_tps, "tps_share": round(share, 4),
                   "max_latency": max_wait, "p99_latency": p99, "writer_errors": errors,
                   "aborted_clients": aborted, "succeeded": succeeded},
        "idle": {"exit_codes": [r["exit_code"] for r in idle],
                 "messages": [r["message"] for r in idle if r["message"]],
                 "seconds": idle_s},
        "wall_time_ratio": round(ratio, 3) if ratio else None,
        "wall_time_comparable": comparable,
        "runs": runs,
        "loadavg": loads,
    }
