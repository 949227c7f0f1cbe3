"""What a person sees: every command's human output through the real CLI (a subprocess)
against a real database. Tables and short sentences, never a JSON dump; `--json` still
prints one document that parses; errors go to stderr (and to stdout as JSON with --json).

COLUMNS is set wide so that table rows are not wrapped and can be matched line by line.
"""
from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys

import pytest
from psycopg import sql

from pgreconcile.pg.scratch import drop_database

from .support import REPO, build_drifted, cli, run_sql

P = ["--project-dir", str(REPO / "examples" / "pettycash")]
WIDE = {"COLUMNS": "250"}
PLAN_HEADER = re.compile(r"^#\s+what\s+lock\s+lock held\s+est\. rows\s+destructive\s*$",
                         re.MULTILINE)

BASE = """
CREATE TABLE parent (id int PRIMARY KEY, code varchar(10) NOT NULL);
CREATE TABLE child (id int PRIMARY KEY, parent_id int, name varchar(20), qty int NOT NULL);
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 20) g;
INSERT INTO child SELECT g, 1 + g % 20, 'n' || g, g FROM generate_series(1, 200) g;
"""


def human(*args: str, spec=None, code: int | None = 0) -> str:
    """Run `pgreconcile ARGS` without --json; check the exit code; return stdout."""
    proc = cli(*args, spec=spec, extra_env=WIDE)
    if code is not None:
        assert proc.returncode == code, (f"exit {proc.returncode}, expected {code}:\n"
                                         f"{proc.stdout}\n{proc.stderr}")
    assert_no_json_blob(proc.stdout)
    return proc.stdout


def assert_no_json_blob(text: str) -> None:
    assert '{"' not in text and "{'" not in text, f"a JSON/dict dump in human output:\n{text}"
    assert not text.lstrip().startswith(("{", "[")), text


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def index_of(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


@pytest.fixture(scope="module")
def pettycash(server):
    """The seed case's drifted database, read by several tests (none of them changes it)."""
    name = f"pgrt_cliout_{secrets.token_hex(4)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
            sql.Identifier(name)))
    spec = server.with_dbname(name)
    try:
        yield build_drifted(spec, rows=200)
    finally:
        drop_database(server, name)


@pytest.fixture
def drifted(server, pettycash):
    """A copy of `pettycash` (CREATE DATABASE … TEMPLATE) for a test that changes it: the
    seed drift without another Django migrate. Dropped after the test."""
    name = f"pgrt_cliout_copy_{secrets.token_hex(4)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(pettycash.dbname)))
    yield server.with_dbname(name)
    drop_database(server, name)


# --------------------------------------------------------------------------- plan
def test_plan_is_a_table_of_steps_with_refusals_and_kept_drift_below(db, tmp_path):
    run_sql(db, BASE + "ALTER TABLE child ADD COLUMN legacy text; ANALYZE child;")
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE.split("INSERT")[0]
                   + "ALTER TABLE child ADD COLUMN extra text;\n"       # missing: a step
                   + "ALTER TABLE child ADD COLUMN owner int NOT NULL;\n")  # no safe value
    out = human("plan", "--reference-sql", str(ref), "--out", str(tmp_path / "plan.json"),
                spec=db, code=3)
    lines = lines_of(out)
    header = PLAN_HEADER.search(out)
    assert header, out
    at_header = index_of(lines, header.group(0).rstrip())
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["steps"], plan
    for n, step in enumerate(plan["steps"], 1):
        row = next((line for line in lines[at_header + 1:] if step["title"] in line), None)
        assert row is not None, f"step {step['title']!r} not in the table:\n{out}"
        assert re.match(rf"^{n}\s", row), row
        assert step["lock_duration"] in row and ("YES" if step["destructive"] else "no") in row
    refused, kept = index_of(lines, "refused"), index_of(lines, "kept drift")
    assert at_header < refused and at_header < kept
    assert any("public.child.owner" in line for line in lines[refused:kept]), out
    assert any("public.child.legacy" in line for line in lines[kept:]), out
    assert f"wrote plan: {tmp_path / 'plan.json'}" in out
    assert "next: pgreconcile apply" in out


def test_plan_json_is_one_document_with_the_same_steps(db, tmp_path):
    run_sql(db, BASE)
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE.split("INSERT")[0] + "ALTER TABLE child ADD COLUMN extra text;\n")
    proc = cli("plan", "--reference-sql", str(ref), "--out", str(tmp_path / "plan.json"),
               "--json", spec=db)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.count("\n") == 1, "piped --json is compact: one line"
    document = json.loads(proc.stdout)
    written = json.loads((tmp_path / "plan.json").read_text())
    assert [s["id"] for s in document["steps"]] == [s["id"] for s in written["steps"]]
    assert "_human" not in document and "_exit_code" not in document
    assert document["drift"]["missing"] == 1


def test_nothing_to_plan_says_so_and_exits_0(db, tmp_path):
    run_sql(db, BASE)
    ref = tmp_path / "expected.sql"
    ref.write_text(BASE.split("INSERT")[0])
    out = human("plan", "--reference-sql", str(ref), spec=db, code=0)
    assert out.startswith("NOTHING TO DO: plan ") and not PLAN_HEADER.search(out)


# --------------------------------------------------------------------------- reading commands
def test_inspect_migrations_diff_preflight_print_tables_and_sentences(pettycash, tmp_path):
    out = human("inspect", *P, "--out", str(tmp_path / "schema.json"), spec=pettycash)
    assert re.search(r"^database \S+: PostgreSQL \d+\.\d+, .*\b9 tables\b", out, re.M), out
    assert re.search(r"^public\.treasury_payment\s+9\s+id\s", out, re.M), out
    assert "pending: 1 migration" in out and "treasury.0002_phase6_dashboard_models" in out
    assert f"wrote schema: {tmp_path / 'schema.json'}" in out

    out = human("migrations", *P, spec=pettycash, code=3)
    assert "applied: 15 migrations (auth 12, contenttypes 2, treasury 1)" in out
    assert "  - treasury.0002_phase6_dashboard_models" in out

    out = human("diff", *P, spec=pettycash, code=3)
    lines = lines_of(out)
    assert lines[0].startswith("DRIFT: ")
    assert "public.treasury_payment" in lines
    assert re.search(r"^missing\s+column\s+payment_id\s+—\s+uuid NOT NULL", out, re.M), out
    assert re.search(r"^different\s+constraint\s+treasury_payment_pkey\s+PRIMARY KEY \(id\)"
                     r"\s+PRIMARY KEY \(payment_id\)", out, re.M), out
    assert "drift: missing 1, extra 1, different 1, cosmetic 0" in out
    assert "applied migration treasury.0001_initial no longer matches live" in out

    out = human("preflight", *P, spec=pettycash, code=3)
    assert out.startswith("PREFLIGHT FAILED: treasury.0002_phase6_dashboard_models")
    assert 'column "payment_id" referenced in foreign key constraint does not exist' in out
    assert "failing SQL:" in out and "FOREIGN KEY" in out


def test_plan_of_the_seed_case_shows_its_steps_and_kept_drift(pettycash):
    out = human("plan", *P, spec=pettycash, code=3)
    assert re.search(r"^plan \w+ for database \S+: 7 steps; strategy keep", out, re.M), out
    assert PLAN_HEADER.search(out)
    assert re.search(r"^2\s+backfill payment_id .*ROW EXCLUSIVE \(per batch\)\s+instant\s+200"
                     r"\s+no\s*$", out, re.M), out
    assert re.search(r"^3\s+build unique index .*CONCURRENTLY\s+SHARE UPDATE EXCLUSIVE\s+scan",
                     out, re.M), out
    assert "kept drift (left in place on purpose, reported):" in out
    assert "  - extra column public.treasury_payment.id: kept" in out
    assert "refused" not in out  # the seed case has nothing it cannot fix


# --------------------------------------------------------------------------- changing commands
def test_backup_restore_apply_migrate_verify_speak_in_sentences(drifted, server, tmp_path):
    out = human("backup", "--out-dir", str(tmp_path / "b"), "--dry-run", spec=drifted)
    assert out.startswith("DRY RUN: nothing was written") and "would write" in out
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())

    out = human("backup", "--out-dir", str(tmp_path / "b"), spec=drifted)
    assert out.startswith("BACKUP VERIFIED: ")
    dump = out.splitlines()[0].split(": ", 1)[1]
    assert re.search(r"^tables / rows\s+9 / ", out, re.M), out

    out = human("backup-verify", dump, spec=drifted)
    assert out.startswith(f"BACKUP OK: {dump}")
    assert re.search(r"^checksums \(sha256\)\s+ok", out, re.M), out

    target = f"pgrt_cliout_restored_{secrets.token_hex(3)}"
    try:
        out = human("restore", dump, "--target-db", target, "--dry-run", spec=drifted)
        assert out.startswith("DRY RUN: nothing was changed")
        assert f"database {target!r} does not exist: it would be created" in out
        out = human("restore", dump, "--target-db", target, spec=drifted)
        assert out.startswith(f"RESTORED: {dump} into database {target!r}")
        assert re.search(r"^row counts\s+match", out, re.M), out
    finally:
        drop_database(server, target)

    plan_path = tmp_path / "plan.json"
    human("plan", *P, "--out", str(plan_path), spec=drifted, code=3)
    out = human("apply", str(plan_path), "--backup", dump, spec=drifted)
    assert out.startswith("APPLIED: plan ")
    assert re.search(r"^#\s+step\s+outcome\s+rows\s+attempts\s+seconds\s+detail\s*$", out, re.M)
    assert re.search(r"^2\s+backfill payment_id .*\s+done\s+200\s", out, re.M), out
    out = human("apply", str(plan_path), "--backup", dump, spec=drifted)
    assert out.startswith("NOTHING TO DO: plan ")

    out = human("migrate", *P, "--dry-run", spec=drifted)
    assert out.startswith("DRY RUN: 1 pending migration would run; nothing changed")
    assert "      Create model PaymentTracking" in out
    out = human("migrate", *P, spec=drifted)
    assert out.startswith("MIGRATED: applied 1 migration")
    assert "  - treasury.0002_phase6_dashboard_models" in out

    out = human("verify", *P, "--plan", str(plan_path), "--backup", dump, spec=drifted)
    assert out.startswith("VERIFIED: ")
    assert re.search(r"^drift from the reference\s+none unexpected\s+\d+ differences kept",
                     out, re.M), out
    # With the plan, counts are evidence (the application may write); the audit decides.
    assert re.search(r"^row counts \(evidence\)\s+unchanged", out, re.M), out
    assert re.search(r"^pgreconcile's own writes\s+ok", out, re.M), out
    assert re.search(r"^migrate --check\s+ok", out, re.M), out

    out = human("verify", *P, spec=drifted, code=3)  # without the plan: its kept drift shows
    assert out.startswith("NOT VERIFIED: ")
    assert re.search(r"^drift from the reference\s+\d+ unexpected", out, re.M), out
    assert "problems:" in out


def test_reconcile_dry_run_and_report_render_stages_and_plan(pettycash, tmp_path):
    out = human("reconcile", *P, "--dry-run", "--report-dir", str(tmp_path / "r"),
                spec=pettycash)
    lines = lines_of(out)
    assert lines[0].startswith("DRY RUN OK: ") and lines[0].endswith("nothing was changed")
    assert re.search(r"^stage\s+result\s+seconds\s+error\s*$", out, re.M)
    assert re.search(r"^preflight-with-plan\s+ok\s+\d+\.\d\d\s*$", out, re.M), out
    assert PLAN_HEADER.search(out) and "kept drift" in out
    assert f"report: {tmp_path / 'r' / 'report.json'}" in out

    out = human("report", str(tmp_path / "r" / "report.json"), "--out-dir",
                str(tmp_path / "r2"))
    assert out.startswith(f"OK: pgreconcile run on {pettycash.dbname}")
    assert "(dry run)" in lines_of(out)[0]
    assert re.search(r"^plan\s+ok\s", out, re.M), out
    assert re.search(rf"^html\s+{re.escape(str(tmp_path / 'r2' / 'report.html'))}\s*$", out,
                     re.M), out


def test_window_says_open_or_closed():
    out = human("window", "Mon-Sun 00:00-23:59 UTC")
    if out.startswith("CLOSED"):  # the one minute a day, 23:59 UTC, outside it
        assert re.search(r"^next opening\s+\d{4}-\d\d-\d\dT", out, re.M), out
    else:
        assert re.match(r"OPEN: inside the maintenance window \(Mon-Sun 00:00-23:59 UTC\)",
                        out), out
        assert re.search(r"^closes at\s+\d{4}-\d\d-\d\dT", out, re.M), out
    closed = human("window", "Sat 01:00-01:01 UTC; Sun 01:00-01:01 UTC")
    assert re.match(r"(CLOSED: outside the maintenance window|OPEN: )", closed), closed


# --------------------------------------------------------------------------- errors, JSON, start-up
def test_errors_go_to_stderr_and_are_one_json_document_with_json(tmp_path):
    missing = str(tmp_path / "nope.json")
    proc = cli("report", missing, extra_env=WIDE)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("pgreconcile: UsageError: cannot read ")
    assert "\nhint: " not in proc.stderr or proc.stderr.count("hint:") == 1
    proc = cli("report", missing, "--json")
    document = json.loads(proc.stdout)
    assert proc.returncode == 2
    assert {"error", "message", "hint", "exit_code", "ok"} <= set(document)
    assert document["ok"] is False and document["exit_code"] == 2


def test_json_is_compact_when_piped_and_holds_the_whole_schema(pettycash):
    proc = cli("inspect", "--json", spec=pettycash)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("}\n") and proc.stdout.count("\n") == 1
    assert proc.stdout.startswith('{"database":"'), proc.stdout[:80]
    document = json.loads(proc.stdout)
    assert document["summary"]["tables"] == len(document["schema"]["tables"]) == 9
    assert list(document) == sorted(document), "keys stay sorted"


def test_json_output_loads_neither_rich_nor_psycopg_when_not_needed():
    code = ("import sys, io, contextlib\n"
            "from pgreconcile.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['window', 'Sat 01:00-03:00 UTC', '--json'])\n"
            "print(sorted(m for m in ('rich', 'psycopg') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
