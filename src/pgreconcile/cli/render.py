"""Human output of every command: tables and short sentences on stdout, with rich.

Each renderer takes the very dict `--json` prints (and, for a few commands, `extras`:
facts only a person needs, such as the files a command wrote) and prints it. Colour
marks status only (ok, failed, refused, destructive); values are printed as plain text,
never as markup, so a `[` in SQL or a path stays a `[`. Every value is read with
`.get()`: older and newer shapes of the same result render alike.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pgreconcile.schema.diff import describe_side

Renderer = Callable[[dict, Console, dict], None]
RENDERERS: dict[str, Renderer] = {}

OK, BAD, WARN, DIM = "green", "red", "yellow", "dim"
#: Width used when stdout is not a terminal (a pipe, a file, a CI log) and COLUMNS is unset.
PIPE_WIDTH = 120
#: Rows of a long list shown before "… and N more" (the JSON always has them all).
LIST_LIMIT = 50


def make_console() -> Console:
    console = Console(highlight=False, emoji=False)
    if not console.is_terminal:
        # a log or a pipe: sentences stay on one line (grep finds them); tables get room
        console.soft_wrap = True
        if not os.environ.get("COLUMNS"):
            console.width = PIPE_WIDTH
    return console


def render(command: str, result: dict, extras: dict | None = None,
           console: Console | None = None) -> None:
    """Print `result` of `command` for a person, on stdout."""
    console = console or make_console()
    RENDERERS.get(command, _render_generic)(result, console, extras or {})


def renderer(*names: str):
    def register(fn: Renderer) -> Renderer:
        for name in names:
            RENDERERS[name] = fn
        return fn
    return register


# --------------------------------------------------------------------------- small pieces
def say(console: Console, text: str, style: str | None = None) -> None:
    console.print(Text(text, style=style or ""))


def status_line(console: Console, status: str, style: str, rest: str = "") -> None:
    """`STATUS: rest` with only the status word coloured."""
    line = Text(status, style=f"bold {style}")
    if rest:
        line.append(f": {rest}")
    console.print(line)


def items(console: Console, heading: str, lines: Iterable[str], style: str | None = None,
          limit: int = LIST_LIMIT) -> None:
    lines = list(lines)
    if not lines:
        return
    say(console, heading)
    for line in lines[:limit]:
        say(console, f"  - {line}", style)
    if len(lines) > limit:
        say(console, f"  … and {len(lines) - limit} more (--json lists them all)")


def table(*columns: str, title: str | None = None, right: Iterable[str] = ()) -> Table:
    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", title_style="bold",
              pad_edge=False, show_edge=False)
    right = set(right)
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left", overflow="fold")
    return t


def row(t: Table, *values, style: str | None = None) -> None:
    cells = [v if isinstance(v, Text) else Text("—" if v is None else str(v)) for v in values]
    t.add_row(*cells, style=style)


def facts(console: Console, pairs: Iterable[tuple[str, object]]) -> None:
    """A two-column table of label / value; pairs whose value is None are left out."""
    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column("what", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    for label, value in pairs:
        if value is not None and value != "":
            t.add_row(Text(label), value if isinstance(value, Text) else Text(str(value)))
    console.print(t)


def yes_no(value, yes_style: str | None = None) -> Text:
    return Text("yes", style=yes_style or "") if value else Text("no")


def mark(ok, text_ok: str = "ok", text_bad: str = "FAILED") -> Text:
    if ok is None:
        return Text("not run", style=DIM)
    return Text(text_ok, style=OK) if ok else Text(text_bad, style=BAD)


def size(n) -> str:
    if not isinstance(n, (int, float)):
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def short_hash(value) -> str | None:
    return f"{value[:16]}…" if isinstance(value, str) and len(value) > 16 else value


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def seconds(value) -> str:
    return f"{value:.2f} s" if isinstance(value, (int, float)) else "—"


def server_version(value) -> str:
    """180004 -> 18.4, 150012 -> 15.12; a string is shown as it is."""
    if isinstance(value, int) and value >= 100000:
        return f"{value // 10000}.{value % 10000}"
    return str(value) if value is not None else "?"


def tool(pg_dump) -> str | None:
    if not isinstance(pg_dump, dict):
        return None
    where = f" ({pg_dump['source']})" if pg_dump.get("source") else ""
    return f"{pg_dump.get('name', 'pg_dump')} {pg_dump.get('version', '?')}{where}: " \
           f"{pg_dump.get('path', '?')}"


def change_line(change: dict) -> str:
    """`missing column public.t.c: why` for kept / refused / residual drift."""
    head = " ".join(str(change[k]) for k in ("bucket", "kind", "object") if change.get(k))
    why = change.get("why") or change.get("risk")
    return f"{head}: {why}" if why else head


def wrote(console: Console, extras: dict) -> None:
    for label, path in (extras.get("wrote") or {}).items():
        say(console, f"wrote {label}: {path}")


# --------------------------------------------------------------------------- backups
@renderer("backup")
def render_backup(result: dict, console: Console, extras: dict) -> None:
    if result.get("would_change") and not result.get("changed"):
        status_line(console, "DRY RUN", WARN, "nothing was written")
        facts(console, [
            ("database", f"{result.get('database')} ({size(result.get('database_size_bytes'))}"
                         f", {plural(result.get('tables') or 0, 'table')}, PostgreSQL "
                         f"{result.get('server_version')})"),
            ("would write", f"a {result.get('format')}-format dump into {result.get('out_dir')}"),
            ("free there", size(result.get("free_bytes"))),
            ("with", tool(result.get("pg_dump"))),
        ])
        return
    verified = result.get("verified")
    status_line(console, "BACKUP VERIFIED" if verified else "BACKUP NOT VERIFIED",
                OK if verified else BAD, str(result.get("path")))
    counts = result.get("row_counts") or {}
    test_restore = result.get("test_restore")
    facts(console, [
        ("database", f"{result.get('database')} (PostgreSQL {result.get('server_version')})"),
        ("size", size(result.get("size_bytes"))),
        ("tables / rows", f"{len(counts):,} / {sum(counts.values()):,}"),
        ("manifest", result.get("manifest")),
        ("sha256", result.get("sha256")),
        ("schema fingerprint", short_hash(result.get("schema_fingerprint"))),
        ("pg_dump", tool(result.get("pg_dump"))),
        ("test restore", _test_restore_text(test_restore)),
    ])
    items(console, "removed (older than --keep):", result.get("removed") or [])


def _test_restore_text(test_restore) -> Text:
    if not test_restore:
        return Text("not run (--test-restore does it)", style=DIM)
    ok = test_restore.get("ok", test_restore.get("row_counts_match")
                          and test_restore.get("fingerprint_match"))
    detail = (f"row counts {'match' if test_restore.get('row_counts_match') else 'DIFFER'}, "
              f"schema {'matches' if test_restore.get('fingerprint_match') else 'DIFFERS'}")
    if test_restore.get("duration_s") is not None:
        detail += f" ({seconds(test_restore['duration_s'])})"
    text = mark(ok)
    text.append(f" — {detail}", style="")
    return text


def _checks_table(checks: dict) -> Table:
    t = table("check", "result")
    labels = {"sha256": "checksums (sha256)", "readable": "pg_restore reads it",
              "toc_entries": "archive entries"}
    for key, value in checks.items():
        shown = mark(value, "ok", "FAILED") if isinstance(value, bool) else Text(str(value))
        row(t, labels.get(key, key.replace("_", " ")), shown)
    return t


@renderer("backup-verify")
def render_backup_verify(result: dict, console: Console, extras: dict) -> None:
    verified = result.get("verified")
    status_line(console, "BACKUP OK" if verified else "BACKUP NOT VERIFIED",
                OK if verified else BAD, str(result.get("path")))
    console.print(_checks_table(result.get("checks") or {}))
    if "test_restore" in result:
        facts(console, [("test restore", _test_restore_text(result.get("test_restore")))])


@renderer("restore")
def render_restore(result: dict, console: Console, extras: dict) -> None:
    target = result.get("target_db")
    if result.get("would_change") and not result.get("changed"):
        status_line(console, "DRY RUN", WARN, "nothing was changed")
        state = {"absent": "does not exist: it would be created",
                 "exists": "exists: it would be replaced (connections blocked and ended, "
                           "then a safety backup of it)"}.get(result.get("target_state"),
                                                  str(result.get("target_state")))
        say(console, f"backup {result.get('path')} is verified")
        console.print(_checks_table(result.get("checks") or {}))
        say(console, f"database {target!r} {state}")
        return
    verified = result.get("verified")
    status_line(console, "RESTORED" if verified else "RESTORED, NOT VERIFIED",
                OK if verified else BAD, f"{result.get('path')} into database {target!r} "
                                          f"in {seconds(result.get('duration_s'))}")
    facts(console, [
        ("row counts", mark(result.get("row_counts_match"), "match", "DIFFER")),
        ("schema fingerprint", mark(result.get("fingerprint_match"), "matches", "DIFFERS")),
        ("replaced an existing database", yes_no(result.get("replaced"), WARN)),
        ("safety backup of it", result.get("safety_backup")),
    ])


# --------------------------------------------------------------------------- reading
@renderer("inspect")
def render_inspect(result: dict, console: Console, extras: dict) -> None:
    summary = result.get("summary") or {}
    say(console, f"database {result.get('database')}: PostgreSQL "
                 f"{server_version(result.get('server_version'))}, "
                 + ", ".join(plural(n, k.rstrip("s"), k) for k, n in summary.items() if n)
                 + f"; fingerprint {short_hash(result.get('fingerprint'))}")
    tables = (result.get("schema") or {}).get("tables") or []
    if tables:
        t = table("table", "columns", "primary key", "constraints", "indexes", "rows (est.)",
                  right=("columns", "constraints", "indexes", "rows (est.)"))
        for tb in tables[:LIST_LIMIT]:
            pk = next((c for c in tb.get("constraints") or [] if c.get("kind") == "pk"), None)
            estimate = tb.get("row_estimate")
            row(t, f"{tb.get('schema')}.{tb.get('name')}", len(tb.get("columns") or []),
                ", ".join(pk.get("columns") or []) if pk else Text("none", style=WARN),
                len(tb.get("constraints") or []), len(tb.get("indexes") or []),
                f"{estimate:,}" if isinstance(estimate, int) and estimate >= 0 else "—")
        console.print(t)
        if len(tables) > LIST_LIMIT:
            say(console, f"… and {len(tables) - LIST_LIMIT:,} more tables (--json or --out "
                         "FILE has them all)")
    if result.get("migrations") is not None:
        _migration_lines(console, result["migrations"])
    wrote(console, extras)


def _migration_lines(console: Console, state: dict) -> None:
    applied = state.get("applied") or []
    by_app: dict[str, int] = {}
    for name in applied:
        by_app[name.split(".", 1)[0]] = by_app.get(name.split(".", 1)[0], 0) + 1
    say(console, f"applied: {plural(len(applied), 'migration')}"
                 + (" (" + ", ".join(f"{a} {n}" for a, n in by_app.items()) + ")"
                    if by_app else ""))
    pending = state.get("pending") or []
    if pending:
        items(console, f"pending: {plural(len(pending), 'migration')}", pending, WARN)
    else:
        say(console, "pending: none")
    items(console, "recorded as applied but unknown to the project:",
          state.get("unknown_applied") or [], WARN)
    conflicts = state.get("conflicts") or {}
    items(console, "conflicting leaf migrations (run makemigrations --merge):",
          [f"{app}: {', '.join(names) if isinstance(names, list) else names}"
           for app, names in conflicts.items()], BAD)
    for suspect in state.get("suspect_edited") or []:
        say(console, f"applied migration {suspect.get('migration')} no longer matches live "
                     f"tables {', '.join(suspect.get('tables') or [])}: it was probably "
                     "edited after it was applied", WARN)


@renderer("migrations")
def render_migrations(result: dict, console: Console, extras: dict) -> None:
    project = result.get("project") or {}
    if project:
        say(console, f"project {project.get('project_dir')} ({project.get('settings')})")
    _migration_lines(console, result)
    if result.get("pending") or result.get("unknown_applied"):
        say(console, "next: `pgreconcile preflight` shows whether the pending migrations apply")


@renderer("diff")
def render_diff(result: dict, console: Console, extras: dict) -> None:
    changes = result.get("changes") or []
    if not changes:
        status_line(console, "NO DRIFT", OK,
                    f"{result.get('database')} matches {result.get('reference')}")
    else:
        significant = [c for c in changes if not c.get("cosmetic")]
        status_line(console, "DRIFT" if significant else "COSMETIC DIFFERENCES ONLY",
                    BAD if significant else WARN,
                    f"{result.get('database')} differs from {result.get('reference')}")
        _changes_tables(console, changes)
    counts = result.get("counts") or {}
    if counts:
        say(console, "drift: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if result.get("reference_state"):
        say(console, f"reference: the migrations live has {result['reference_state']}"
                     if result["reference_state"] == "applied"
                     else f"reference: {result['reference_state']} migrations")
    migrations = result.get("migrations") or {}
    for s in migrations.get("suspect_edited") or []:
        say(console, f"applied migration {s.get('migration')} no longer matches live tables "
                     f"{', '.join(s.get('tables') or [])}: it was probably edited after it "
                     "was applied", WARN)
    pending = migrations.get("pending") or []
    if pending:
        say(console, f"pending migrations: {', '.join(pending)}")
    wrote(console, extras)


def _changes_tables(console: Console, changes: list[dict]) -> None:
    """One table per database table (bucket, kind, object, live, expected), each followed
    by the risk of its changes as sentences: readable at 80 columns too."""
    by_table: dict[str, list[dict]] = {}
    for change in changes:
        by_table.setdefault(change.get("table") or "(database)", []).append(change)
    styles = {"missing": BAD, "extra": WARN, "different": "magenta"}
    for name, group in by_table.items():
        t = table("bucket", "kind", "object", "live", "expected", title=name)
        risks = []
        for c in group:
            cosmetic = c.get("cosmetic")
            bucket = Text(str(c.get("bucket")) + (" (cosmetic)" if cosmetic else ""),
                          style=DIM if cosmetic else styles.get(c.get("bucket"), ""))
            obj = str(c.get("object") or "")
            if name != "(database)" and obj.startswith(name + "."):
                obj = obj[len(name) + 1:]  # the table is the title already
            row(t, bucket, c.get("kind"), obj, describe_side(c.get("kind"), c.get("live")),
                describe_side(c.get("kind"), c.get("expected")))
            if c.get("risk"):
                risks.append(f"{obj}: {c['risk']}")
        console.print(t)
        items(console, "risk:", risks)
        console.print()


@renderer("preflight")
def render_preflight(result: dict, console: Console, extras: dict) -> None:
    ok = result.get("ok")
    status_line(console, "PREFLIGHT OK" if ok else "PREFLIGHT FAILED", OK if ok else BAD,
                str(result.get("summary") or ""))
    error = result.get("error") or {}
    items(console, "pending:", result.get("pending") or [])
    if result.get("applied_on_clone"):
        items(console, "applied on the clone:", result["applied_on_clone"])
    if error.get("sql"):
        say(console, "failing SQL:")
        say(console, f"  {error['sql']}")
    if not ok:
        say(console, "nothing was changed on live; `pgreconcile plan` shows the change that "
                     "makes these migrations apply")


# --------------------------------------------------------------------------- plan and apply
def steps_table(steps: list[dict], title: str | None = None) -> Table:
    t = table("#", "what", "lock", "lock held", "est. rows", "destructive", title=title,
              right=("#", "est. rows"))
    for n, step in enumerate(steps, 1):
        rows = step.get("estimated_rows")
        destructive = step.get("destructive")
        row(t, n, step.get("title") or step.get("id"), step.get("lock") or "none",
            step.get("lock_duration") or "—",
            f"{rows:,}" if isinstance(rows, int) else "—",
            Text("YES", style=f"bold {BAD}") if destructive else Text("no"))
    return t


def plan_sections(plan: dict, console: Console, *, lint: bool = True) -> None:
    """What a plan leaves alone or cannot do, below its steps table."""
    items(console, "refused (cannot be fixed safely; write a migration or fix by hand):",
          [change_line(u) for u in plan.get("unsupported") or []], BAD)
    items(console, "kept drift (left in place on purpose, reported):",
          [change_line(k) for k in plan.get("kept") or []])
    items(console, "notes:", plan.get("notes") or [])
    findings = plan.get("lint") or []
    if lint and findings:
        rules: dict[str, int] = {}
        for f in findings:
            rules[f.get("rule", "?")] = rules.get(f.get("rule", "?"), 0) + 1
        say(console, f"squawk: {plural(len(findings), 'finding')} on the SQL script ("
                     + ", ".join(f"{r} ×{n}" for r, n in rules.items()) + "); see --sql")


@renderer("plan")
def render_plan(result: dict, console: Console, extras: dict) -> None:
    steps = result.get("steps") or []
    destructive = [s for s in steps if s.get("destructive")]
    head = (f"plan {result.get('id')} for database {result.get('database')}: "
            f"{plural(len(steps), 'step')}"
            + (f" ({len(destructive)} destructive: apply needs --allow-destructive)"
               if destructive else "")
            + f"; strategy {result.get('strategy')}, backfill {result.get('backfill_mode')}")
    if steps:
        say(console, head)
        console.print(steps_table(steps))
    else:
        status_line(console, "NOTHING TO DO", OK, head)
    plan_sections(result, console)
    drift = result.get("drift") or {}
    if drift:
        say(console, "drift: " + ", ".join(f"{k} {v}" for k, v in drift.items()))
    wrote(console, extras)
    if steps:
        plan_file = (extras.get("wrote") or {}).get("plan")
        say(console, f"next: pgreconcile apply {plan_file or 'PLAN.json (write it with --out)'}"
                     " --backup BACKUP")


@renderer("apply")
def render_apply(result: dict, console: Console, extras: dict) -> None:
    steps = result.get("steps") or []
    failed = [s for s in steps if s.get("outcome") == "failed"]
    status = ("FAILED" if failed else "APPLIED" if result.get("changed") else "NOTHING TO DO")
    status_line(console, status, BAD if failed else OK,
                f"plan {result.get('plan_id')} on database {result.get('database')} in "
                f"{seconds(result.get('seconds'))}"
                + (f" (backup {result['backup']})" if result.get("backup") else
                   " (no backup)"))
    if steps:
        console.print(outcomes_table(steps))


def outcomes_table(steps: list[dict], title: str | None = None) -> Table:
    t = table("#", "step", "outcome", "rows", "attempts", "seconds", "detail", title=title,
              right=("#", "rows", "attempts", "seconds"))
    styles = {"done": OK, "failed": BAD, "reverted": WARN}
    for n, s in enumerate(steps, 1):
        outcome = str(s.get("outcome") or "?")
        rows = s.get("rows")
        row(t, n, s.get("title") or s.get("id"), Text(outcome, style=styles.get(outcome, DIM)),
            f"{rows:,}" if isinstance(rows, int) else "—", s.get("attempts", "—"),
            f"{s['seconds']:.2f}" if isinstance(s.get("seconds"), (int, float)) else "—",
            s.get("detail") or "")
    return t


@renderer("migrate")
def render_migrate(result: dict, console: Console, extras: dict) -> None:
    pending = result.get("pending") or []
    applied = result.get("applied") or []
    if applied:
        status_line(console, "MIGRATED", OK, f"applied {plural(len(applied), 'migration')}")
        items(console, "applied:", applied)
    elif pending:
        status_line(console, "DRY RUN", WARN,
                    f"{plural(len(pending), 'pending migration')} would run; nothing changed")
    else:
        status_line(console, "NOTHING TO DO", OK, "no pending migrations")
    if result.get("plan") and (pending or applied):
        say(console, "migrate --plan:")
        for line in str(result["plan"]).splitlines():
            say(console, f"  {line}")


# --------------------------------------------------------------------------- verify
@renderer("verify")
def render_verify(result: dict, console: Console, extras: dict) -> None:
    ok = result.get("ok")
    status_line(console, "VERIFIED" if ok else "NOT VERIFIED", OK if ok else BAD,
                "live matches the reference (except drift the plan keeps), nothing lost"
                if ok else "; ".join(result.get("problems") or []) or "see the checks below")
    console.print(verify_checks_table(result.get("checks") or {}))
    unexpected = ((result.get("checks") or {}).get("drift") or {}).get("unexpected") or []
    if unexpected:
        _changes_tables(console, unexpected)
    items(console, "problems:", result.get("problems") or [], BAD)


def _evidence_mark(changed, decides: bool) -> Text:
    """Counts and fingerprints: a change fails only where they decide (no plan); else it
    is the application's writes, shown plainly."""
    if not changed:
        return mark(True, "unchanged")
    return mark(False, "changed", "CHANGED") if decides else Text("changed", style=DIM)


def verify_checks_table(checks: dict) -> Table:
    t = table("check", "result", "detail")
    drift = checks.get("drift")
    if isinstance(drift, dict):
        unexpected = drift.get("unexpected") or []
        row(t, "drift from the reference", mark(not unexpected, "none unexpected",
                                                 f"{len(unexpected)} unexpected"),
            f"{plural(drift.get('kept') or 0, 'difference')} kept by the plan")
    own = checks.get("own_writes")
    if isinstance(own, dict):
        bad = own.get("violations") or []
        audited = own.get("audited") or []
        unaudited = own.get("unaudited") or []
        detail = (", ".join(f"step {b.get('step')} {b.get('what')} in {b.get('table')}"
                            for b in bad[:5]) if bad else
                  f"{plural(len(audited), 'step')} audited: no row inserted or deleted, "
                  f"{own.get('allowed_updates') or 0:,} update(s) allowed to backfills")
        if unaudited:
            detail += f"; not audited: {', '.join(str(u.get('step')) for u in unaudited)}"
        row(t, "pgreconcile's own writes", mark(not bad, "ok", "UNEXPECTED"), detail)
    inv = checks.get("invalid_objects")
    if isinstance(inv, dict):
        made = inv.get("made_by_run") or []
        known = [f"{plural(len(inv.get(k) or []), 'object')} {label}" for k, label in
                 (("before", "invalid before the run"), ("building", "being built by another "
                                                                     "session"),
                  ("other", "not this run's")) if inv.get(k)]
        row(t, "constraints and indexes valid", mark(not made, "ok", "INVALID"),
            "; ".join(([", ".join(made)] if made else []) + known
                      + [f"basis: {inv.get('basis')}"]))
    if "invalid_constraints_or_indexes" in checks:  # reports written before invalid_objects
        invalid = checks["invalid_constraints_or_indexes"] or []
        row(t, "constraints and indexes valid", mark(not invalid, "ok", "INVALID"),
            ", ".join(invalid))
    counts = checks.get("row_counts")
    if isinstance(counts, dict):
        changed = counts.get("changed") or {}
        decides = counts.get("decides", True)
        row(t, "row counts" + ("" if decides else " (evidence)"),
            _evidence_mark(changed, decides),
            f"{plural(counts.get('tables') or 0, 'table')} compared"
            + ("; " + ", ".join(f"{k} {v.get('before')}→{v.get('after')}"
                                for k, v in changed.items()) if changed else ""))
    fps = checks.get("data_fingerprints")
    if isinstance(fps, dict):
        changed = fps.get("changed") or []
        decides = fps.get("decides", True)
        row(t, "data fingerprints" + ("" if decides else " (evidence)"),
            _evidence_mark(changed, decides),
            ", ".join(changed) or f"{plural(len(fps.get('tables') or []), 'table')} compared")
    for key, label in (("migrate_check", "migrate --check"),
                       ("makemigrations_check", "makemigrations --check"),
                       ("tests", "manage.py test")):
        check = checks.get(key)
        if isinstance(check, dict):
            output = [ln for ln in str(check.get("output") or "").splitlines() if ln.strip()]
            row(t, label, mark(check.get("ok")), output[-1] if output else "")
    return t


# --------------------------------------------------------------------------- runbook
@renderer("reconcile")
def render_reconcile(result: dict, console: Console, extras: dict) -> None:
    ok = result.get("ok")
    dry = result.get("dry_run")
    status = ("DRY RUN OK" if dry else "RECONCILED") if ok else "FAILED"
    outcome = ("nothing was changed" if dry or not result.get("changed")
               else "live was changed")
    status_line(console, status, OK if ok else BAD,
                f"{result.get('server') or result.get('database')}; {outcome}")
    promotion = result.get("promotion")
    if isinstance(promotion, dict):
        if promotion.get("overridden"):
            say(console, f"REHEARSAL OVERRIDDEN: {promotion.get('reason')}", "bold red")
        elif promotion.get("record"):
            say(console, f"rehearsed: {promotion['record']} ({promotion.get('recorded_at')})")
        elif promotion.get("recorded"):
            say(console, f"promotion record written: {promotion['recorded']}")
    stages_table(console, result.get("stages") or [])
    plan = result.get("plan")
    if isinstance(plan, dict):
        steps = plan.get("steps") or []
        if steps:
            console.print(steps_table(steps, title=f"plan {plan.get('id')}: "
                                                   f"{plural(len(steps), 'step')}"))
        else:
            say(console, "plan: nothing to change")
        plan_sections(plan, console, lint=False)
    applied = result.get("apply")
    if isinstance(applied, dict) and applied.get("steps"):
        console.print(outcomes_table(applied["steps"], title="apply"))
    backup = result.get("backup")
    if isinstance(backup, dict):
        say(console, f"backup: {backup.get('path') or backup.get('skipped') or '—'}")
    migrate = result.get("migrate")
    if isinstance(migrate, dict):
        say(console, "migrations applied: " + (", ".join(migrate.get("applied") or [])
                                              or "none"))
    verify = result.get("verify")
    if isinstance(verify, dict):
        console.print(verify_checks_table(verify.get("checks") or {}))
    rollback = result.get("rollback")
    if isinstance(rollback, dict):
        say(console, f"rollback ({rollback.get('method')}): "
                     f"{rollback.get('advice') or rollback.get('note') or rollback.get('why')}",
            WARN)
    for warning in result.get("warnings") or []:
        say(console, f"warning: {warning}", WARN)
    files = result.get("files") or {}
    if files:
        say(console, "report: " + ", ".join(str(p) for p in files.values()))


def stages_table(console: Console, stages: list[dict]) -> None:
    if not stages:
        return
    t = table("stage", "result", "seconds", "error", right=("seconds",))
    for s in stages:
        if not isinstance(s, dict):  # a report read back may hold anything
            continue
        error = s.get("error") or {}
        row(t, s.get("stage"), mark(s.get("ok")),
            f"{s['seconds']:.2f}" if isinstance(s.get("seconds"), (int, float)) else "—",
            (f"{error.get('error')}: {error.get('message')}" if isinstance(error, dict)
             else str(error)) if error else "")
    console.print(t)


@renderer("window")
def render_window(result: dict, console: Console, extras: dict) -> None:
    if not result.get("set"):
        status_line(console, "NO WINDOW", OK, str(result.get("message")))
        return
    is_open = result.get("open")
    status_line(console, "OPEN" if is_open else "CLOSED", OK if is_open else WARN,
                str(result.get("message")))
    facts(console, [("windows", result.get("windows")), ("now", result.get("now")),
                    ("closes at", result.get("closes_at")),
                    ("next opening", result.get("next_opening"))])


@renderer("report")
def render_report(result: dict, console: Console, extras: dict) -> None:
    report = extras.get("report") or {}
    if report:
        ok = report.get("ok")
        status_line(console, "OK" if ok else "FAILED", OK if ok else BAD,
                    f"pgreconcile run on {report.get('database')}"
                    + (f", {report.get('started_at')} – {report.get('finished_at')}"
                       if report.get("started_at") else "")
                    + (" (dry run)" if report.get("dry_run") else ""))
        stages = report.get("stages")
        stages_table(console, stages if isinstance(stages, list) else [])
        error = report.get("error") or {}
        if error:
            say(console, f"error: {error.get('error')}: {error.get('message')}"
                if isinstance(error, dict) else f"error: {error}", BAD)
    files = result.get("files") or {}
    t = table("report", "file")
    for kind, path in files.items():
        row(t, kind, path)
    console.print(t)


def _render_generic(result: dict, console: Console, extras: dict) -> None:
    """A command without its own renderer: its scalar facts, lists counted."""
    pairs = []
    for key, value in result.items():
        if isinstance(value, (dict, list)):
            value = f"{plural(len(value), 'item')} (--json shows them)" if value else None
        pairs.append((key.replace("_", " "), value))
    facts(console, pairs)
