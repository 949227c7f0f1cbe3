"""report.json's contract (report.schema.json, RunReport), and report.md and report.html from
it: content, safety, offline HTML in real Chromium.

Fixtures in tests/data are report.json files written by real `pgreconcile reconcile` runs
on the seed case (embedded PostgreSQL 18):
  ok_report.json      first run: preflight hits the seed's ProgrammingError, 8 steps done,
                      0002 applied, verification green
  rerun_report.json   the idempotent second run: every step already done
  failed_report.json  `--fail-verify` drill: verification failed, steps reverted,
                      0002 unapplied
  restored_report.json  the same drill with `--rollback restore`: the live database is
                      left as it is and the backup is restored into a new database
They follow today's contract (report.schema.json). Only the tests of the CLI's own reports
(`reconcile` on the seed case) need a database; the Ansible role's reports are checked
against the same schema in test_ansible_runbook.py.
"""
from __future__ import annotations

import copy
import json
import re
import struct
import subprocess
import sys
import tomllib
import zlib
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from pgreconcile.errors import Refused
from pgreconcile.pg.scratch import drop_database
from pgreconcile.report import render as report_mod
from pgreconcile.report.build import RunReport, assemble_report, report_schema
from pgreconcile.report.render import build_context, render_html, render_markdown, render_reports

from .support import (
    EXAMPLE,
    REPO,
    build_drifted,
    cli,
    create_test_db,
    schema_errors,
)

DATA = Path(__file__).resolve().parent / "data"
CHROMIUM = Path("/usr/bin/chromium")   # Debian package `chromium`
SEED_ERROR = 'column "payment_id" referenced in foreign key constraint does not exist'
SECRET = "S3cr3t-pw-xyzzy"


def load(name: str) -> dict:
    return json.loads((DATA / f"{name}_report.json").read_text())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict]:
    """Each fixture rendered once into its own directory."""
    out = {}
    for name in ("ok", "failed", "rerun", "restored"):
        d = tmp_path_factory.mktemp(name)
        files = render_reports(load(name), d)
        out[name] = {"dir": d, "files": files, "md": Path(files["markdown"]).read_text(),
                     "html": Path(files["html"]).read_text(), "data": load(name)}
    return out


# --------------------------------------------------------------------------- files
def test_render_reports_writes_markdown_and_html_and_returns_all_three_paths(rendered):
    for r in rendered.values():
        files = r["files"]
        assert set(files) == {"json", "markdown", "html"}
        assert files["markdown"] == str(r["dir"] / "report.md")
        assert files["html"] == str(r["dir"] / "report.html")
        # Rendering a report into a new directory leaves a complete set there.
        assert json.loads(Path(files["json"]).read_text())["database"] == r["data"]["database"]
        assert "could not be rendered" not in r["md"] + r["html"]   # not the fallback
        assert not list(r["dir"].glob(".report.*"))                 # no temp files left


def test_caller_written_report_json_is_kept_as_is(tmp_path):
    (tmp_path / "report.json").write_text('{"caller": true}\n')
    files = render_reports(load("ok"), tmp_path)
    assert files["json"] == str(tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text()) == {"caller": True}
    other = tmp_path / "elsewhere.json"
    other.write_text("{}")
    assert render_reports(load("ok"), tmp_path / "sub", json_path=other)["json"] == str(other)


# --------------------------------------------------------------------------- markdown
def test_markdown_of_successful_run_has_the_key_facts(rendered):
    md, data = rendered["ok"]["md"], rendered["ok"]["data"]
    assert md.startswith("# ✅ SUCCESS: Reconciled pettycash")
    assert "`pettycash`" in md and "pk_strategy `keep`" in md
    for stage in data["stages"]:
        assert re.search(rf"\| \d+ \| {re.escape(stage['stage'])} \| ok \|", md), stage
    # backup proof
    assert data["backup"]["sha256"] in md and data["backup"]["path"] in md
    assert "| Test restore | passed: 9 tables, row counts match" in md
    # the seed's error before, and its resolution with the plan
    assert f"django.db.utils.ProgrammingError: {SEED_ERROR}" in md
    assert "**With the plan applied:** migrations apply" in md
    # every step with its lock, duration class and outcome
    for step in data["plan"]["steps"]:
        row = next(line for line in md.splitlines() if step["title"] in line)
        assert f"| {step['lock']} | {step['lock_duration']} |" in row and "| done |" in row
    assert "| 5,000 | done | 5,000 |" in md            # the backfill's rows
    assert "## Kept differences" in md and "`public.treasury_payment.id`" in md
    assert "| before | 1 | 1 | 1 | 0 |" in md and "| after | 0 | 2 | 2 | 0 |" in md
    assert "Applied: `treasury.0002_phase6_dashboard_models`" in md
    assert "## Verification: passed" in md and "**FAILED**" not in md
    assert "## Rollback" not in md and "## Next steps" in md


def test_markdown_of_failed_run_says_rolled_back_and_lists_reverted_steps(rendered):
    md, data = rendered["failed"]["md"], rendered["failed"]["data"]
    assert md.startswith("# ❌ FAILED — ROLLED BACK: Failed at verify, rolled back")
    assert "`pettycash2`" in md
    assert "| verify | **FAILED** |" in md and "| rollback | ok |" in md
    assert "**VerificationFailed**: verification failed: fault injected" in md
    assert "## Verification: **FAILED**" in md
    assert "## Rollback (reverse)" in md
    for step_id in data["rollback"]["reverted"]:
        assert f"- reverted `{step_id}`" in md
    assert "- Migrations unapplied: `treasury.0002_phase6_dashboard_models`" in md
    # steps without reverse SQL are accounted for, not silently dropped
    assert "went with the reverted objects: `03-backfill-treasury_payment-payment_id`" in md
    assert "yes, then rolled back" in md and "back to its state before the run" in md
    assert f"django.db.utils.ProgrammingError: {SEED_ERROR}" in md


def test_markdown_of_idempotent_rerun_says_nothing_to_do(rendered):
    md = rendered["rerun"]["md"]
    assert "# ✅ SUCCESS: pettycash already reconciled" in md
    assert md.count("| already-done |") == 7 and "| Changed the database | no |" in md


def test_markdown_of_restore_rollback_does_not_pretend_the_live_db_was_undone():
    data = load("restored")
    md = render_markdown(data)
    into = data["rollback"]["restored_into"]
    assert md.startswith(f"# ❌ FAILED — BACKUP RESTORED: Failed at verify; backup restored "
                         f"into {into}")
    assert "The live database pettycash was left as it is, with this run's changes" in md
    assert f"| Changed the database | yes, and left so; backup restored into {into} |" in md
    assert "rolled back" not in md.split("## Next steps")[0].split("## Error")[0]
    assert f"ALTER DATABASE {into} RENAME TO pettycash" in md.split("## Next steps")[1]


def test_markdown_tables_survive_pipes_and_newlines():
    data = load("ok")
    data["plan"]["steps"][0]["title"] = "a | b\nc"
    md = render_markdown(data)
    assert "| a \\| b c |" in md


# --------------------------------------------------------------------------- html
@pytest.mark.parametrize("name", ["ok", "failed", "rerun", "restored"])
def test_html_is_self_contained_and_loads_nothing(rendered, name):
    html = rendered[name]["html"]
    lowered = html.lower()
    for needle in ("http://", "https://", "<link", "@import", "<script", "src=", "url(",
                   "<iframe", "<object", "<embed", "<img", "//fonts", "<base"):
        assert needle not in lowered, needle
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))
    assert "default-src 'none'" in html               # CSP: the browser may fetch nothing
    assert "<style>" in html and html.count("<style") == 1


def test_html_shows_outcome_timeline_diff_manifest_and_rollback(rendered):
    ok, failed = rendered["ok"]["html"], rendered["failed"]["html"]
    assert 'class="banner ok"' in ok and 'class="banner failed"' in failed
    assert "FAILED — ROLLED BACK" in failed and "SUCCESS" in ok
    for html, data in ((ok, rendered["ok"]["data"]), (failed, rendered["failed"]["data"])):
        for stage in data["stages"]:
            assert f'data-stage="{stage["stage"]}"' in html
        for step in data["apply"]["steps"]:
            assert f'data-step="{step["id"]}"' in html
        for table in data["backup"]["manifest_data"]["row_counts"]:
            assert f"<code>{table}</code>" in html
        assert data["backup"]["sha256"] in html
        assert 'data-diff="before"' in html and 'data-diff="after"' in html
        assert 'class="pill missing">1 missing' in html
        assert "ProgrammingError: column &#34;payment_id&#34; referenced" in html
    assert 'id="rollback"' in failed and 'id="rollback"' not in ok
    assert failed.count('<span class="pill reverted">reverted</span>') >= 12  # steps + rollback
    # bars are proportional: verify (2.47 s) is wider than apply (0.085 s)
    widths = dict(re.findall(r'data-stage="(\w+)">.*?width: ([\d.]+)%', ok, re.S))
    assert float(widths["verify"]) > 20 * float(widths["apply"])


def test_html_autoescapes_everything_from_the_report():
    data = load("failed")
    data["database"] = "<script>alert(1)</script>"
    data["error"]["message"] = '<img src=x onerror="alert(2)">'
    html = render_html(data)
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- robustness
def _partial_reports() -> list[dict]:
    full = load("failed")
    backup_failed = {
        "tool": "pgreconcile", "database": "pettycash", "server": "database 'pettycash' on h:5432",
        "started_at": "2026-11-25T14:31:23+00:00", "ok": False, "dry_run": False,
        "strategy": "keep", "changed": False, "finished_at": "2026-11-25T14:31:24+00:00",
        "stages": [{"stage": "backup", "ok": False, "seconds": 0.2, "started_at": "x",
                    "error": {"error": "BackupFailed", "message": "pg_dump: disk full",
                              "hint": "free space", "exit_code": 1}}],
        "error": {"error": "BackupFailed", "message": "pg_dump: disk full",
                  "hint": "free space", "exit_code": 1}}
    dry = {k: v for k, v in load("ok").items() if k not in ("backup", "apply", "migrate",
                                                             "verify", "diff_after")}
    dry.update(dry_run=True, changed=False, stages=dry["stages"][1:4])
    out = [backup_failed, dry, {}, {"stages": []},
           {"stages": "garbage", "plan": [], "backup": 3, "verify": {"checks": {"x": [1]}},
            "diff_before": {"changes": [1, None, {"bucket": "odd", "live": [1]}]},
            "rollback": {"reverted": ["nope"], "method": "restore"}, "error": "text"}]
    # the real report with each section missing in turn
    out += [{k: v for k, v in full.items() if k != key} for key in full]
    return out


@pytest.mark.parametrize("data", _partial_reports(), ids=lambda d: ",".join(sorted(d))[:60]
                         or "empty")
def test_partial_and_odd_reports_render_without_the_fallback(data):
    md, html = render_markdown(copy.deepcopy(data)), render_html(copy.deepcopy(data))
    assert md.startswith("# ") and "## Next steps" in md
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_report_of_a_run_that_failed_at_backup_says_nothing_changed():
    data = _partial_reports()[0]
    md = render_markdown(data)
    assert md.startswith("# ❌ FAILED: Failed at backup; pettycash was not changed")
    assert "| 1 | backup | **FAILED** | 0.200 | pg_dump: disk full |" in md
    assert "Hint: free space" in md
    html = render_html(data)
    assert 'class="banner failed"' in html and "pg_dump: disk full" in html


def test_dry_run_is_neither_success_nor_failure():
    data = _partial_reports()[1]
    assert build_context(data)["outcome"]["kind"] == "dryrun"
    assert 'class="banner dryrun"' in render_html(data)


def test_no_password_reaches_any_report(tmp_path):
    data = load("failed")
    data["server"] = f"postgresql://app:{SECRET}@db.example.com:5432/pettycash"
    data["error"]["message"] = f"connection failed: host=db user=app password={SECRET} x"
    data["stages"][-1]["error"] = {"message": f"PGPASSWORD={SECRET}"}
    data["backup"]["dsn"] = f"password='{SECRET}' dbname=pettycash"
    data["verify"]["checks"]["tests"] = {"ok": False, "output": f"postgres://u:{SECRET}@h/db"}
    data["password"] = SECRET
    files = render_reports(data, tmp_path)
    for path in files.values():
        assert SECRET not in Path(path).read_text(), path
    assert "app:********@db.example.com" in Path(files["markdown"]).read_text()


def test_a_template_failure_still_leaves_a_report_that_states_the_outcome(tmp_path,
                                                                           monkeypatch):
    def broken(_report):
        raise RuntimeError("boom")
    monkeypatch.setattr(report_mod, "build_context", broken)
    data = load("failed")
    data["server"] = f"postgresql://app:{SECRET}@h/db"
    files = render_reports(data, tmp_path)
    md, html = Path(files["markdown"]).read_text(), Path(files["html"]).read_text()
    assert md.startswith("# FAILED: pgreconcile run on pettycash2")
    assert "RuntimeError: boom" in md and "VerificationFailed" in md
    assert "<h1" in html and "FAILED" in html and SECRET not in md + html


# --------------------------------------------------------------------------- CLI
def test_cli_report_prints_the_files_as_json(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pgreconcile", "report",
                           str(DATA / "ok_report.json"), "--out-dir", str(tmp_path / "out"),
                           "--json"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert set(files) == {"json", "markdown", "html"}
    assert Path(files["html"]).parent == tmp_path / "out"
    assert all(Path(p).is_file() for p in files.values())
    assert "Reconciled pettycash" in Path(files["markdown"]).read_text()


def test_cli_report_on_missing_file_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pgreconcile", "report",
                           str(tmp_path / "nope.json"), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"] == "UsageError"


# --------------------------------------------------------------------------- chromium
def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows, bytes per pixel) of an 8-bit RGB/RGBA PNG; stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (size,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, color_type, _, _, interlace = header
    assert depth == 8 and color_type in (2, 6) and interlace == 0, header
    bpp = 3 if color_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif kind == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b, c = prev[x], prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def pixels(row: bytes, bpp: int) -> list[tuple[int, int, int]]:
    return [tuple(row[x:x + 3]) for x in range(0, len(row), bpp)]


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    argv = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="headless Chromium not installed: apt-get install -y chromium "
                           "(Debian package `chromium`, provides /usr/bin/chromium)")
@pytest.mark.parametrize("name, banner", [("ok", "green"), ("failed", "red")])
def test_html_renders_in_headless_chromium(rendered, tmp_path, name, banner):
    page = Path(rendered[name]["files"]["html"]).as_uri()
    data = rendered[name]["data"]
    # the DOM Chromium builds holds the key facts
    dom = chromium("--dump-dom", page, profile=tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert f'<code id="database">{data["database"]}</code>' in text
    for stage in data["stages"]:
        assert f'data-stage="{stage["stage"]}"' in text
    assert data["backup"]["sha256"] in text
    assert f"ProgrammingError: {SEED_ERROR}" in text       # text nodes keep their quotes
    if name == "failed":
        assert data["error"]["message"] in text and "ROLLED BACK" in text
    # the screenshot is a real page: many colours, mostly not blank, banner coloured
    png = tmp_path / "shot.png"
    shot = chromium(f"--screenshot={png}", "--window-size=1280,2000", page,
                    profile=tmp_path / "p2")
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    width, height, rows, bpp = decode_png(png.read_bytes())
    assert (width, height) == (1280, 2000)
    sample = [px for row in rows[::4] for px in pixels(row, bpp)[::4]]
    colours = Counter(sample)
    assert len(colours) > 200, len(colours)
    white = sum(n for c, n in colours.items() if min(c) >= 250)
    assert white < 0.9 * len(sample), f"{white}/{len(sample)} white"
    top = Counter(px for row in rows[10:60] for px in pixels(row, bpp)[::8])
    r, g, b = top.most_common(1)[0][0]
    if banner == "green":
        assert g > r + 60 and g > b + 40, (r, g, b)
    else:
        assert r > g + 80 and r > b + 80, (r, g, b)


# --------------------------------------------------------------------------- the contract
def test_schema_is_a_valid_draft_2020_12_schema_shipped_as_package_data():
    jsonschema.Draft202012Validator.check_schema(report_schema())
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["pgreconcile"]
    assert "report/report.schema.json" in package_data


@pytest.mark.parametrize("name", ["ok", "failed", "rerun", "restored"])
def test_fixture_reports_follow_the_schema(name):
    assert schema_errors(load(name)) == []


@pytest.mark.parametrize("breakage, where", [
    (lambda r: r.update(surprise=1), "(top)"),
    (lambda r: r.pop("error"), "(top)"),
    (lambda r: r["error"].pop("exit_code"), "error"),
    (lambda r: r["stages"][0].pop("seconds"), "stages/0"),
    (lambda r: r["stages"][0].update(stage="deploy"), "stages/0/stage"),
    (lambda r: r["stages"][6].update(ok=True), "stages/6"),      # verify: an ok stage has no error
    (lambda r: r.update(ok="yes"), "ok"),
    (lambda r: r["rollback"].update(method="undo"), "rollback/method"),
    (lambda r: r["verify"].update(extra=[]), "verify"),
], ids=["unknown key", "no error key", "error without exit code", "stage without seconds",
        "unknown stage", "ok stage with error", "ok not boolean", "unknown rollback",
        "verify extra key"])
def test_schema_rejects_what_the_contract_forbids(breakage, where):
    data = load("failed")
    breakage(data)
    errors = schema_errors(data)
    assert errors and any(e.startswith(f"{where}:") for e in errors), errors


def test_run_report_takes_only_the_keys_the_schema_names():
    report = RunReport("cli", database="pettycash")
    with pytest.raises(KeyError, match="report.schema.json"):
        report["surprise"] = 1
    with pytest.raises(KeyError):
        report.setdefault("surprise", [])
    with pytest.raises(KeyError):
        report.update(surprise=1)
    with pytest.raises(ValueError):
        RunReport("powershell")
    report["data_before"] = {"fingerprints": {}, "row_counts": {}}
    assert schema_errors(report.finish()) == []


def test_run_stage_times_each_stage_and_keeps_the_engine_error():
    report = RunReport("cli", database="pettycash", strategy="keep")
    assert report.run_stage("window", lambda: 1) == 1

    def refuse():
        raise Refused("outside the window", hint="wait")
    with pytest.raises(Refused):
        report.run_stage("apply", refuse)
    report.finish()

    assert [(s["stage"], s["ok"]) for s in report["stages"]] == [("window", True),
                                                                   ("apply", False)]
    assert all(s["seconds"] >= 0 and s["started_at"] for s in report["stages"])
    assert report["ok"] is False and report["finished_at"]
    assert report["error"] == {"error": "Refused", "message": "outside the window",
                               "hint": "wait", "exit_code": 4}
    assert schema_errors(report) == []


def _ansible_result(**fields) -> dict:
    """A registered result as Ansible hands it over, bookkeeping included."""
    return {"changed": False, "invocation": {"module_args": {}}, "warnings": [], **fields}


def test_assemble_report_judges_a_closed_window_a_refusal_outside_check_mode():
    closed = {"set": True, "open": False, "windows": "Sat 01:00-03:00 UTC",
              "message": "outside the maintenance window", "hint": "wait", "exit_code": 4}
    results = {"window": _ansible_result(maintenance_window=closed, seconds=0.1),
               "plan": {"skipped": True, "changed": False}, "apply": {}}
    run = {"database": "pettycash", "server": "db1", "strategy": "keep",
           "started_at": "2026-11-28T01:00:00+00:00", "dry_run": False,
           "failure": "outside the maintenance window"}

    report = assemble_report(results, run)

    assert schema_errors(report) == []
    assert report["face"] == "ansible" and report["ok"] is False
    assert [s["stage"] for s in report["stages"]] == ["window"]
    assert report["error"]["error"] == "OutsideMaintenanceWindow"
    assert report["error"]["exit_code"] == 4
    assert report["maintenance_window"] == "Sat 01:00-03:00 UTC"
    assert report["maintenance_window_state"]["open"] is False

    checked = assemble_report(
        {**results, "apply": _ansible_result(changed=True, plan_id="p1", pending_steps=["s1"])},
        {**run, "dry_run": True, "failure": ""})
    assert checked["ok"] is True and checked["changed"] is False and checked["error"] is None
    assert checked["apply"]["pending_steps"] == ["s1"] and "invocation" not in checked["apply"]
    assert schema_errors(checked) == []


def test_assemble_report_keeps_a_failure_no_stage_recorded():
    report = assemble_report({"window": _ansible_result(maintenance_window={
        "set": False, "open": True, "message": "no maintenance window set"})},
        {"database": "pettycash", "failure": "assertion failed"})
    assert report["ok"] is False
    assert report["error"] == {"error": "Failed", "message": "assertion failed", "hint": "",
                               "exit_code": 1}
    assert report["maintenance_window"] is None
    assert schema_errors(report) == []


def test_the_report_written_is_redacted_and_the_files_are_returned(tmp_path):
    report = RunReport("cli", database="pettycash",
                       server=f"postgresql://app:{SECRET}@db.example.com/pettycash")
    report.finish()
    files = report.write(tmp_path)
    assert set(files) == {"json", "markdown", "html"}
    written = json.loads((tmp_path / "report.json").read_text())
    assert SECRET not in json.dumps(written) and written["server"].startswith("postgresql://app:")
    assert schema_errors(written) == []


# --------------------------------------------------------------------------- the CLI's reports
def _cli_reconcile(spec, tmp_path, *extra):
    reports = tmp_path / "reports"
    proc = cli("reconcile", "--project-dir", str(EXAMPLE), "--out-dir", str(tmp_path / "b"),
               "--report-dir", str(reports), "--json", *extra, spec=spec)
    return proc, json.loads((reports / "report.json").read_text())


@pytest.fixture(scope="module")
def seed(server):
    """The seed case, built once for the module (a Django migrate); tests run on copies."""
    name = create_test_db(server, "report_seed")
    yield build_drifted(server.with_dbname(name), rows=300)
    drop_database(server, name)


@pytest.fixture
def drifted(server, seed):
    """A copy of the seed (CREATE DATABASE … TEMPLATE), dropped after the test."""
    name = create_test_db(server, "report", template=seed.dbname)
    yield server.with_dbname(name)
    drop_database(server, name)


def test_cli_reconcile_reports_of_a_run_and_its_rerun_follow_the_schema(drifted, tmp_path):
    spec = drifted

    proc, first = _cli_reconcile(spec, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    printed = json.loads(proc.stdout)
    assert schema_errors(first) == [] and schema_errors(printed) == []
    assert first["face"] == "cli" and first["ok"] is True and first["changed"] is True
    assert first["error"] is None and first["stages"] == printed["stages"]
    assert set(printed["files"]) == {"json", "markdown", "html"} and "files" not in first

    proc, rerun = _cli_reconcile(spec, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert schema_errors(rerun) == []
    assert rerun["ok"] is True and rerun["changed"] is False and "skipped" in rerun["backup"]


def test_cli_reconcile_report_of_a_failed_rolled_back_run_follows_the_schema(drifted, tmp_path):
    spec = drifted

    proc, report = _cli_reconcile(spec, tmp_path, "--fail-verify")

    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert schema_errors(report) == []
    assert report["ok"] is False and report["error"]["error"] == "VerificationFailed"
    assert [s["stage"] for s in report["stages"]][-2:] == ["verify", "rollback"]
    assert report["rollback"]["method"] == "reverse" and report["rollback"]["reverted"]


def test_report_format_doc_names_every_key_stage_and_error_field():
    doc = (REPO / "docs" / "report-format.md").read_text()
    schema = report_schema()
    names = [*schema["properties"], *schema["$defs"]["stage"]["properties"]["stage"]["enum"],
             *schema["$defs"]["error"]["properties"]]
    assert [n for n in names if f"`{n}`" not in doc] == []
