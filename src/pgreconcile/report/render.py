"""Render a run's report.json as Markdown (ticket/PR) and one self-contained HTML page.

`report.json` is the machine contract (report.schema.json, docs/report-format.md), built
and written by `report.build.RunReport` for every face; this module only reads the dict.
Every section is optional: a run that failed at the backup has nothing but `stages` and
`error`, and still gets a readable report.

Nothing rendered here may contain a password: string values are redacted before
rendering and the rendered text gets a final pass through `connection.redact`.
The HTML page loads nothing (inline CSS, no scripts, no fonts, no URLs) and carries a
Content-Security-Policy that forbids any network access, so it works offline and from
a ticket attachment.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pgreconcile import __version__
from pgreconcile.files import write_private_text
from pgreconcile.pg.connection import redact
from pgreconcile.schema.diff import describe_side

#: Stages that change the live database (everything else works on scratch DBs or reads).
CHANGING_STAGES = frozenset({"apply", "migrate", "rollback"})
BUCKETS = ("missing", "extra", "different")
_MIN_BAR = 0.6   # percent: a zero-second step is still a visible tick
_SECRET_KEY = re.compile(r"passw(or)?d|secret", re.I)


# --------------------------------------------------------------------------- public API
def render_reports(report: dict, out_dir: Path, json_path: str | Path | None = None
                   ) -> dict[str, str]:
    """Write report.md and report.html into `out_dir`; return the paths of all three.

    `report.json` is written by the caller. Its path is `json_path` when given, else
    `out_dir/report.json`; when that file does not exist (rendering someone else's
    report into a new directory) a redacted copy is written so the directory is complete.
    Rendering never raises for odd or partial input: a template failure falls back to a
    plain page that still states the outcome and embeds the (redacted) JSON.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = redact_data(report if isinstance(report, dict) else {})
    jpath = Path(json_path) if json_path else out / "report.json"
    if not jpath.exists():
        write_private_text(jpath, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    files = {"json": str(jpath)}
    for key, name, render in (("markdown", "report.md", render_markdown),
                              ("html", "report.html", render_html)):
        try:
            text = render(data)
        except Exception as exc:  # noqa: BLE001 - a report must never mask the run's error
            text = _fallback(key, data, exc)
        path = out / name
        write_private_text(path, redact(text))
        files[key] = str(path)
    return files


def render_markdown(report: dict) -> str:
    """report.md: for a ticket or a pull request. Raises on a template bug."""
    return _render("report.md", report)


def render_html(report: dict) -> str:
    """report.html: one self-contained page. Raises on a template bug."""
    return _render("report.html", report)


def _render(template: str, report: dict) -> str:
    context = build_context(redact_data(report))
    return redact(_env().get_template(template).render(**context))


def redact_data(value: Any) -> Any:
    """A copy of `value` with every string passed through `connection.redact`, and the
    string under any key that names a password or secret replaced outright."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): "********" if _SECRET_KEY.search(str(k)) and isinstance(v, str) and v
                else redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


# --------------------------------------------------------------------------- templates
_ENV = None


def _env():
    global _ENV
    if _ENV is None:
        import jinja2
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("pgreconcile.report", "templates"),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                                default_for_string=True, default=False),
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
        env.filters.update(md=_md_cell, code=_md_code, num=_num, secs=_secs,
                           size=_size, short=_short)
        _ENV = env
    return _ENV


def _md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("&", "&amp;")
            .replace("<", "&lt;"))


def _md_code(value: Any) -> str:
    """Inline code span that survives backticks and table pipes."""
    text = " ".join(("" if value is None else str(value)).split()).replace("|", "\\|")
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def _secs(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–"
    if value >= 60:
        return f"{int(value // 60)} min {value % 60:.0f} s"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _size(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–"
    size = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def _short(value: Any, length: int = 12) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[:length] + "…"


# --------------------------------------------------------------------------- context
def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


def _f(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else 0.0


def build_context(report: dict) -> dict:
    """Everything the templates show, normalised so every key exists (maybe empty)."""
    r = _d(report)
    stages = _stages(r)
    plan = _d(r.get("plan"))
    apply = _d(r.get("apply"))
    rollback = _d(r.get("rollback"))
    verify = _verify(r, stages)
    steps = _steps(plan, apply, rollback)
    kept_objects = {k.get("object") for k in _l(plan.get("kept")) if isinstance(k, dict)}
    kept_objects |= {k.get("object") for k in _l(plan.get("residual")) if isinstance(k, dict)}
    unexpected = {c.get("object") for c in
                  _l(_d(_d(verify["raw"].get("checks")).get("drift")).get("unexpected"))
                  if isinstance(c, dict)}
    ctx = {
        "r": r,
        "tool": r.get("tool") or "pgreconcile",
        "version": __version__,
        "database": r.get("database") or apply.get("database") or plan.get("database") or "",
        "server": r.get("server") or "",
        "strategy": r.get("strategy") or plan.get("strategy") or "",
        "backfill_mode": plan.get("backfill_mode") or "",
        "started_at": r.get("started_at") or "",
        "finished_at": r.get("finished_at") or "",
        "dry_run": bool(r.get("dry_run")),
        "changed": r.get("changed"),
        "window": r.get("maintenance_window"),
        "stages": stages,
        "total_seconds": round(sum(s["seconds"] for s in stages), 3),
        "error": _d(r.get("error")),
        "promotion": _d(r.get("promotion")),
        "backup": _backup(r),
        "preflight_before": _preflight(r.get("preflight_before")),
        "preflight_after": _preflight(r.get("preflight_after")),
        "plan": plan,
        "plan_id": plan.get("id") or apply.get("plan_id") or "",
        "steps": steps,
        "step_timeline": _step_timeline(steps),
        "apply": apply,
        "kept": [k for k in _l(plan.get("kept")) if isinstance(k, dict)],
        "destructive": _l(plan.get("destructive")),
        "unsupported": [u for u in _l(plan.get("unsupported")) if isinstance(u, dict)],
        "notes": [n for n in _l(plan.get("notes")) if n],
        "lint": _lint(plan),
        "diff_before": _diff(r.get("diff_before"), kept_objects, set()),
        "diff_after": _diff(r.get("diff_after"), kept_objects, unexpected),
        "migrate": _d(r.get("migrate")),
        "migrations": _d(_d(r.get("diff_before")).get("migrations")),
        "verify": verify,
        "rollback": _rollback(rollback, steps),
        "data_before": _d(r.get("data_before")),
    }
    ctx["changed_text"] = _changed_text(ctx)
    ctx["outcome"] = _outcome(r, ctx)
    ctx["summary_cards"] = _cards(ctx)
    ctx["next_steps"] = _next_steps(ctx)
    return ctx


def _stages(r: dict) -> list[dict]:
    raw = [s for s in _l(r.get("stages")) if isinstance(s, dict)]
    total = sum(_f(s.get("seconds")) for s in raw)
    out, offset = [], 0.0
    for s in raw:
        secs = _f(s.get("seconds"))
        if total > 0:
            left, width = offset / total * 100, max(secs / total * 100, _MIN_BAR)
        else:
            left, width = 0.0, _MIN_BAR
        left = min(left, 100 - width)
        err = _d(s.get("error"))
        out.append({"name": str(s.get("stage") or "?"), "ok": s.get("ok") is True,
                    "seconds": secs, "started_at": s.get("started_at") or "",
                    "error": err, "left": round(left, 3), "width": round(width, 3),
                    "changing": s.get("stage") in CHANGING_STAGES})
        offset += secs
    return out


def _backup(r: dict) -> dict:
    b = _d(r.get("backup"))
    if not b or b.get("skipped"):  # nothing to change, so no backup was needed
        return {}
    m = _d(b.get("manifest_data"))
    tr = _d(b.get("test_restore")) or _d(m.get("test_restore"))
    counts = _d(m.get("row_counts")) or _d(b.get("row_counts"))
    rows = sorted(((t, n) for t, n in counts.items()), key=lambda tn: tn[0])
    dump = _d(b.get("pg_dump")) or _d(m.get("pg_dump"))
    return {
        "path": b.get("path") or "", "manifest": b.get("manifest") or "",
        "sha256": b.get("sha256") or m.get("sha256") or "",
        "verified": b.get("verified") if "verified" in b else m.get("verified"),
        "size_bytes": b.get("size_bytes", m.get("size_bytes")),
        "database_size_bytes": m.get("database_size_bytes"),
        "format": m.get("format") or b.get("format") or "",
        "server_version": b.get("server_version") or m.get("server_version") or "",
        "pg_dump": dump, "toc_entries": m.get("toc_entries"),
        "schema_fingerprint": b.get("schema_fingerprint") or m.get("schema_fingerprint") or "",
        "started_at": m.get("started_at") or "", "finished_at": m.get("finished_at") or "",
        "test_restore": tr, "row_counts": rows,
        "total_rows": sum(n for _, n in rows if isinstance(n, int)),
        "removed": _l(b.get("removed")),
        "files": _d(m.get("files")),
    }


def _preflight(value: Any) -> dict:
    p = _d(value)
    if not p:
        return {}
    err = _d(p.get("error"))
    tail = [str(x) for x in _l(err.get("traceback_tail"))]
    return {"ok": p.get("ok") is True, "summary": p.get("summary") or "",
            "pending": [str(x) for x in _l(p.get("pending"))],
            "applied_on_clone": [str(x) for x in _l(p.get("applied_on_clone"))],
            "migrate_plan": p.get("migrate_plan") or "", "error": err,
            "error_line": (f"{err.get('type')}: {err.get('message')}" if err else ""),
            "traceback_tail": tail}


def _steps(plan: dict, apply: dict, rollback: dict) -> list[dict]:
    planned = [s for s in _l(plan.get("steps")) if isinstance(s, dict)]
    outcomes = {s.get("id"): s for s in _l(apply.get("steps")) if isinstance(s, dict)}
    reverted = {str(x) for x in _l(rollback.get("reverted"))}
    ids = [s.get("id") for s in planned]
    ordered = planned + [{"id": i, "title": o.get("title")} for i, o in outcomes.items()
                         if i not in ids]
    out = []
    for n, s in enumerate(ordered, 1):
        o = _d(outcomes.get(s.get("id")))
        out.append({
            "n": n, "id": s.get("id") or "", "title": s.get("title") or o.get("title") or "",
            "kind": s.get("kind") or "", "lock": s.get("lock") or "",
            "lock_duration": s.get("lock_duration") or "",
            "estimated_rows": s.get("estimated_rows"),
            "estimated_seconds": s.get("estimated_seconds"),
            "destructive": bool(s.get("destructive")), "reason": s.get("reason") or "",
            "sql": [str(x) for x in _l(s.get("sql"))],
            "reverse": [str(x) for x in _l(s.get("reverse"))],
            "backfill": _d(s.get("backfill")), "table": s.get("table") or "",
            "target": _ref(s.get("target")),
            "creates": [_ref(c) for c in _l(s.get("creates")) if isinstance(c, dict)],
            "outcome": o.get("outcome") or ("not run" if apply else ""),
            "rows": o.get("rows"), "seconds": _f(o.get("seconds")),
            "attempts": o.get("attempts"), "detail": o.get("detail") or "",
            "reverted": s.get("id") in reverted,
        })
    return out


def _step_timeline(steps: list[dict]) -> dict:
    ran = [s for s in steps if s["outcome"] and s["outcome"] != "not run"]
    total = sum(s["seconds"] for s in ran)
    bars, offset = [], 0.0
    for s in ran:
        if total > 0:
            left, width = offset / total * 100, max(s["seconds"] / total * 100, _MIN_BAR)
        else:
            left, width = 0.0, _MIN_BAR
        bars.append({**s, "left": round(min(left, 100 - width), 3), "width": round(width, 3)})
        offset += s["seconds"]
    return {"bars": bars, "total": round(total, 3)}


def _lint(plan: dict) -> dict:
    findings = [f for f in _l(plan.get("lint")) if isinstance(f, dict)]
    groups: dict[tuple, dict] = {}
    for f in findings:
        key = (f.get("rule") or "?", f.get("line"))
        g = groups.setdefault(key, {"rule": key[0], "line": key[1], "count": 0,
                                    "messages": []})
        g["count"] += 1
        if f.get("message") and f.get("message") not in g["messages"]:
            g["messages"].append(f.get("message"))
    return {"count": len(findings), "groups": list(groups.values())}


def _diff(value: Any, kept: set, unexpected: set) -> dict:
    d = _d(value)
    if not d:
        return {}
    changes = []
    for c in _l(d.get("changes")):
        if not isinstance(c, dict):
            continue
        kind = str(c.get("kind") or "")
        obj = c.get("object") or ""
        if obj in unexpected:
            status = "unexpected"
        elif obj in kept:
            status = "kept"
        else:
            status = ""
        bucket = c.get("bucket") if c.get("bucket") in BUCKETS else "different"
        changes.append({"bucket": "cosmetic" if c.get("cosmetic") else bucket,
                        "kind": kind, "object": obj, "table": c.get("table") or "",
                        "live": describe_side(kind, c.get("live")),
                        "expected": describe_side(kind, c.get("expected")),
                        "attributes": [str(a) for a in _l(c.get("attributes"))],
                        "risk": c.get("risk") or "", "status": status})
    counts = _d(d.get("counts"))
    if not counts:
        counts = {b: sum(1 for c in changes if c["bucket"] == b) for b in (*BUCKETS, "cosmetic")}
    significant = [c for c in changes if c["bucket"] != "cosmetic"]
    return {"counts": {k: counts.get(k, 0) for k in (*BUCKETS, "cosmetic")},
            "total": sum(v for k, v in counts.items() if k in BUCKETS and isinstance(v, int)),
            "changes": changes, "significant": significant,
            "cosmetic": [c for c in changes if c["bucket"] == "cosmetic"],
            "reference": d.get("reference") or "", "reference_state": d.get("reference_state")
            or "", "live_fingerprint": d.get("live_fingerprint") or "",
            "expected_fingerprint": d.get("expected_fingerprint") or "",
            "all_expected": bool(significant) and all(c["status"] == "kept"
                                                      for c in significant)}


_CHECK_LABELS = {
    "drift": "no unexpected drift from the reference",
    "own_writes": "pgreconcile wrote only what it may (per-step audit)",
    "invalid_objects": "no constraint or index left invalid by this run",
    "invalid_constraints_or_indexes": "all constraints and indexes valid",
    "row_counts": "row counts unchanged",
    "data_fingerprints": "data fingerprints unchanged",
    "migrate_check": "migrate --check clean",
    "makemigrations_check": "makemigrations --check clean",
    "tests": "project test suite",
}


_EVIDENCE_LABELS = {"row_counts": "row counts before/after (evidence)",
                    "data_fingerprints": "data fingerprints before/after (evidence)"}


def _own_writes(value: dict) -> tuple[bool, str]:
    bad = [_d(b) for b in _l(value.get("violations"))]
    if bad:
        return False, "; ".join(f"step {b.get('step')} {b.get('what')} in {b.get('table')}"
                                for b in bad[:5])
    audited = _l(value.get("audited"))
    detail = (f"{len(audited)} step(s) audited: no row inserted or deleted, "
              f"{value.get('allowed_updates') or 0} update(s) allowed to backfills")
    unaudited = [_d(u) for u in _l(value.get("unaudited"))]
    if unaudited:
        detail += "; not audited: " + ", ".join(f"{u.get('step')} ({u.get('why')})"
                                                for u in unaudited[:5])
    return True, detail


def _invalid_objects(value: dict) -> tuple[bool, str]:
    made = [str(x) for x in _l(value.get("made_by_run"))]
    parts = [("made by this run: " + ", ".join(made[:10])) if made else "none made by this run"]
    for key, label in (("before", "invalid before the run"),
                       ("building", "being built by another session"),
                       ("other", "not this run's")):
        objs = [str(x) for x in _l(value.get(key))]
        if objs:
            parts.append(f"{label}: " + ", ".join(objs[:10]))
    parts.append(str(value.get("note") or f"basis: {value.get('basis')}"))
    return not made, "; ".join(parts)


def _check(name: str, value: Any) -> dict:
    """One verify check for the report: label, ok, a one-line detail; `evidence` marks a
    comparison reported but not judged (counts and fingerprints when a plan's audit
    decides)."""
    ok, detail, evidence = True, "", False
    label = _CHECK_LABELS.get(name, name.replace("_", " "))
    if isinstance(value, dict) and name == "own_writes":
        ok, detail = _own_writes(value)
    elif isinstance(value, dict) and name == "invalid_objects":
        ok, detail = _invalid_objects(value)
    elif isinstance(value, dict):
        if "ok" in value:
            ok = value.get("ok") is True
            detail = " ".join(str(value.get("output") or "").split())[-300:] or (
                "clean" if ok else "failed")
        if name == "drift":
            bad = _l(value.get("unexpected"))
            ok = not bad
            detail = (f"{value.get('kept', 0)} kept (planned) difference(s), "
                      f"{len(bad)} unexpected")
            if bad:
                detail += ": " + ", ".join(str(_d(c).get("object", c)) for c in bad[:5])
        elif "changed" in value:
            changed = value.get("changed")
            ok = not changed
            tables = value.get("tables")
            n = len(tables) if isinstance(tables, list) else tables
            detail = f"{n} table(s) compared, " + (
                "none changed" if ok else f"changed: {json.dumps(changed, default=str)[:300]}")
            if value.get("decides") is False:
                ok, evidence = True, True
                label = _EVIDENCE_LABELS.get(name, label)
                if changed:
                    detail += (" (by the application or the migrations during the run: "
                               "evidence, not a failure)")
    elif isinstance(value, list):
        ok = not value
        detail = "none" if ok else ", ".join(map(str, value[:10]))
    elif isinstance(value, bool):
        ok = value
    return {"name": name, "label": label, "ok": ok, "detail": detail, "evidence": evidence}


def _verify(r: dict, stages: list[dict]) -> dict:
    v = _d(r.get("verify"))
    stage = next((s for s in stages if s["name"] == "verify"), None)
    checks = [_check(k, val) for k, val in sorted(_d(v.get("checks")).items())]
    problems = [str(p) for p in _l(v.get("problems"))]
    stage_failed = stage is not None and not stage["ok"]
    if stage_failed:
        msg = stage["error"].get("message")
        if msg and not any(msg.endswith(p) or p in msg for p in problems):
            problems.append(str(msg))
    ran = bool(v) or stage is not None
    return {"ran": ran, "raw": v, "checks": checks, "problems": problems,
            "ok": ran and (v.get("ok") is True or not v) and not stage_failed
            and all(c["ok"] for c in checks)}


def _ref(value: Any) -> str:
    """A plan's object reference (kind, schema, table, name) as the diff names it."""
    ref = _d(value)
    return ".".join(str(ref[k]) for k in ("schema", "table", "name") if ref.get(k))


def _covered(step: dict, dropped: set) -> bool:
    """A step without reverse SQL (a backfill, a VALIDATE) is undone with the object it
    worked on (its target) when a reverted step created that object: its reverse dropped
    it."""
    return not step["reverse"] and bool(step["target"]) and step["target"] in dropped


def _rollback(rb: dict, steps: list[dict]) -> dict:
    if not rb:
        return {}
    titles = {s["id"]: s["title"] for s in steps}
    reverted = [{"id": str(i), "title": titles.get(i, "")} for i in _l(rb.get("reverted"))]
    applied = [s for s in steps if s["outcome"] == "done"]
    dropped = {ref for s in applied if s["reverted"] for ref in s["creates"]}
    not_reverted = [{**s, "covered": _covered(s, dropped)} for s in applied if not s["reverted"]]
    return {"method": rb.get("method") or "", "why": rb.get("why") or "",
            "reverted": reverted, "not_reverted": not_reverted,
            "unapplied_migrations": [str(m) for m in _l(rb.get("unapplied_migrations"))],
            "restored_into": rb.get("restored_into") or "", "verified": rb.get("verified"),
            "advice": rb.get("advice") or "", "reverse_failed": rb.get("reverse_failed") or ""}


def _changed_text(ctx: dict) -> str:
    rb = ctx["rollback"]
    if ctx["dry_run"]:
        return "no (dry run)"
    if not ctx["changed"]:
        return "no"
    if rb.get("method") == "reverse":
        return "yes, then rolled back"
    if rb.get("method") == "restore":
        return f"yes, and left so; backup restored into {rb['restored_into'] or 'a new database'}"
    return "yes"


def _outcome(r: dict, ctx: dict) -> dict:
    stages, error, rb = ctx["stages"], ctx["error"], ctx["rollback"]
    failed = next((s for s in stages if not s["ok"]), None)
    db = ctx["database"] or "the database"
    if r.get("ok") is True and not error:
        if ctx["dry_run"]:
            return {"kind": "dryrun", "label": "DRY RUN",
                    "title": "Dry run: plan ready, nothing was changed",
                    "detail": f"{db} was inspected and planned against; no backup, no change."}
        done = sum(1 for s in ctx["steps"] if s["outcome"] == "done")
        applied = _l(ctx["migrate"].get("applied")) if ctx["migrate"].get("changed") else []
        if ctx["changed"]:
            bits = [f"{done} step(s) applied"] if done else []
            if applied:
                bits.append(f"{len(applied)} migration(s) applied")
            bits.append("verification passed")
            return {"kind": "ok", "label": "SUCCESS", "title": f"Reconciled {db}",
                    "detail": ", ".join(bits) + "."}
        return {"kind": "ok", "label": "SUCCESS", "title": f"{db} already reconciled",
                "detail": "Nothing to do: every step was already done and no migration was "
                          "pending" + ("; verification passed." if ctx["verify"]["ok"]
                                       else ".")}
    if not (error or r.get("ok") is False or failed):
        return {"kind": "incomplete", "label": "INCOMPLETE", "title": "Run did not finish",
                "detail": "The report has no outcome: the run was interrupted or is "
                          "still going."}
    where = failed["name"] if failed else "?"
    message = error.get("message") or (failed or {}).get("error", {}).get("message") or ""
    rb_stage = next((s for s in stages if s["name"] == "rollback"), None)
    if rb_stage is not None and not rb_stage["ok"]:
        return {"kind": "failed", "label": "FAILED — ROLLBACK FAILED",
                "title": f"Failed, and the rollback failed too: {db} may be half-changed",
                "detail": message + " Restore the verified backup (see below)."}
    if rb:
        if rb["method"] == "restore":
            into = rb["restored_into"] or "a new database"
            return {"kind": "failed", "label": "FAILED — BACKUP RESTORED",
                    "title": f"Failed at {where}; backup restored into {into}",
                    "detail": f"{(rb['why'] or message).rstrip('.')}. "
                              + (f"Reverse steps failed: {rb['reverse_failed']}. "
                                 if rb["reverse_failed"] else "")
                              + f"The live database {db} was left as it is, with this run's "
                                f"changes; the verified backup is in {into}: switch to it "
                                "as the next steps say."}
        if rb["method"] == "none":
            return {"kind": "failed", "label": "FAILED — NOT ROLLED BACK",
                    "title": f"Failed at {where}; nothing could be rolled back",
                    "detail": (rb["why"] or message) + " " + rb["advice"]}
        n, m = len(rb["reverted"]), len(rb["unapplied_migrations"])
        bits = [f"{m} migration(s) unapplied"] if m else []
        bits.append(f"{n} step(s) reverted with their reverse SQL")
        left = [s for s in rb["not_reverted"] if not s["covered"]]
        tail = (f"{db} is back to its state before the run." if not left else
                f"{len(left)} finished step(s) without reverse SQL were left in place.")
        return {"kind": "failed", "label": "FAILED — ROLLED BACK",
                "title": f"Failed at {where}, rolled back",
                "detail": f"{(rb['why'] or message).rstrip('.')}. {', '.join(bits)}; {tail}"}
    touched = any(s["changing"] for s in stages)
    return {"kind": "failed", "label": "FAILED",
            "title": f"Failed at {where}" + ("" if touched else f"; {db} was not changed"),
            "detail": message}


def _cards(ctx: dict) -> list[dict]:
    cards = []
    b = ctx["backup"]
    if b:
        tr = b["test_restore"]
        ok = b["verified"] is True and (not tr or tr.get("ok") is True)
        cards.append({"title": "Backup", "ok": ok,
                      "value": "verified" + (" + test-restored" if tr.get("ok") else "")
                      if ok else "NOT verified",
                      "note": f"{_size(b['size_bytes'])}, sha256 {_short(b['sha256'])}"})
    pb, pa = ctx["preflight_before"], ctx["preflight_after"]
    if pb:
        cards.append({"title": "Migrate before", "ok": pb["ok"],
                      "value": "would succeed" if pb["ok"] else "would FAIL",
                      "note": pb["error"].get("type", "").rsplit(".", 1)[-1]
                      if not pb["ok"] else pb["summary"]})
    if pa:
        cards.append({"title": "Migrate with plan", "ok": pa["ok"],
                      "value": "succeeds" if pa["ok"] else "still FAILS",
                      "note": pa["summary"]})
    if ctx["steps"]:
        done = sum(1 for s in ctx["steps"] if s["outcome"] == "done")
        already = sum(1 for s in ctx["steps"] if s["outcome"] == "already-done")
        bad = sum(1 for s in ctx["steps"] if s["outcome"] == "failed")
        note = f"{already} already done" if already else ""
        if ctx["apply"]:
            value = f"{done}/{len(ctx['steps'])} applied"
        else:
            value, note = f"{len(ctx['steps'])} planned", "not applied"
        cards.append({"title": "Plan steps", "ok": not bad, "value": value, "note": note})
    if ctx["verify"]["ran"]:
        v = ctx["verify"]
        cards.append({"title": "Verification", "ok": v["ok"],
                      "value": "passed" if v["ok"] else "FAILED",
                      "note": f"{sum(c['ok'] for c in v['checks'])}/{len(v['checks'])} checks ok"
                      + (f" · {len(v['problems'])} problem(s)" if v["problems"] else "")})
    if ctx["rollback"]:
        rb = ctx["rollback"]
        cards.append({"title": "Rollback", "ok": None, "value": rb["method"] or "?",
                      "note": f"{len(rb['reverted'])} step(s) reverted"
                      if rb["method"] == "reverse" else rb["restored_into"]})
    return cards


def _next_steps(ctx: dict) -> list[str]:
    kind, out = ctx["outcome"]["kind"], []
    b, err = ctx["backup"], ctx["error"]
    if kind == "dryrun":
        out.append("Review the plan steps and their locks below, then run again without "
                   "--dry-run inside the maintenance window.")
    elif kind == "ok":
        if ctx["changed"]:
            out.append("Deploy or restart the application code that expects the reconciled "
                       "schema; `migrate --check` is already clean.")
        if ctx["kept"]:
            out.append(f"{len(ctx['kept'])} difference(s) were kept on purpose (listed under "
                       "kept differences); retire them later with a reviewed migration "
                       "(pk_strategy swap needs allow_destructive).")
        if b.get("path"):
            out.append(f"Keep the backup {b['path']} until the release is confirmed.")
        out.append("Running the runbook again should report changed=false (idempotent).")
    elif kind == "failed":
        rb = ctx["rollback"]
        left = [s for s in rb.get("not_reverted", []) if not s["covered"]]
        if rb.get("method") == "reverse" and not left:
            out.append("Nothing to undo by hand: every finished step was reverted (or went "
                       "with the object it worked on).")
        elif rb.get("method") == "reverse":
            names = ", ".join(s["id"] for s in left)
            out.append(f"These finished steps have no reverse SQL and were left in place: "
                       f"{names}. Check them before the next attempt.")
        if rb.get("advice"):
            out.append(rb["advice"])
        if err.get("message"):
            out.append(f"Fix the cause: {err['message']}")
        if err.get("hint"):
            out.append(f"Hint: {err['hint']}")
        if b.get("path") and rb.get("method") != "restore":
            out.append(f"The verified backup {b['path']} was taken before any change; restore "
                       "it with `pgreconcile restore` if in doubt.")
        out.append("Re-run the runbook once the cause is fixed; finished steps are skipped.")
    else:
        out.append("Re-run the runbook: steps recorded in the ledger are resumed or skipped.")
    return [n[:1].upper() + n[1:] for n in out]


# --------------------------------------------------------------------------- output
def _fallback(kind: str, data: dict, exc: Exception) -> str:
    """A plain report for when a template fails: outcome, error and the raw JSON."""
    import html
    ok = data.get("ok") is True
    head = ("SUCCESS" if ok else "FAILED") + f": pgreconcile run on {data.get('database', '?')}"
    why = f"(the full report could not be rendered: {type(exc).__name__}: {exc})"
    body = json.dumps(data, indent=2, sort_keys=True, default=str)
    if kind == "markdown":
        return f"# {head}\n\n{why}\n\n```json\n{body}\n```\n"
    color = "#1a7f37" if ok else "#cf222e"
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(head)}</title></head><body style=\"font-family:sans-serif\">"
            f"<h1 style=\"color:#fff;background:{color};padding:12px\">{html.escape(head)}</h1>"
            f"<p>{html.escape(why)}</p><pre>{html.escape(body)}</pre></body></html>\n")


