"""The cron schedule fires for real: playbooks/schedule.yml installs the job in this user's
crontab for a window opening about a minute from now, the cron daemon starts the launcher,
and the run's report appears.

Needs Debian's `cron` (`.ci/run` installs it when run as root). The daemon is started here
(and stopped after) when it is not already running, which needs root. The run is cheap: a
database that already matches its reference SQL, so reconcile has nothing to do.
"""
from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from .support import REPO, ansible, recap, run_sql

SCHEMA = "CREATE TABLE payment (id int PRIMARY KEY, amount numeric(10, 2) NOT NULL);"
#: The longest wait for the run, from the playbook's end: the opening is at most ~110 s
#: away, the run itself takes seconds.
WAIT = 150

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="cron is a Linux scheduler here")


def _cron_pids() -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "cron":
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def cron_daemon(tmp_path):
    """A running cron daemon: the machine's own, or one started here as a child and stopped."""
    binary = shutil.which("cron") or ("/usr/sbin/cron" if Path("/usr/sbin/cron").exists()
                                      else None)
    if binary is None or shutil.which("crontab") is None:
        pytest.skip("Debian's cron is not installed (apt-get install cron; .ci/run installs "
                    "it when run as root)")
    if _cron_pids():
        yield None
        return
    if os.geteuid() != 0:
        pytest.skip("cron is installed but its daemon is not running, and only root may "
                    "start it")
    log = (tmp_path / "cron.out").open("wb")
    daemon = subprocess.Popen([binary, "-f"], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    if daemon.poll() is not None:
        log.close()
        pytest.skip(f"the cron daemon would not start: {(tmp_path / 'cron.out').read_text()}")
    try:
        yield daemon
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


def _crontab() -> str:
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else ""


def _has_crontab() -> bool:
    return subprocess.run(["crontab", "-l"], capture_output=True, check=False).returncode == 0


def _playbook(root: Path, variables: dict) -> subprocess.CompletedProcess:
    vars_file = root / "vars.json"
    vars_file.write_text(json.dumps(variables))
    return ansible("ansible-playbook", "playbooks/schedule.yml", "-l", "local",
                   "-e", "ansible_become=false", "-e", f"@{vars_file}", timeout=240)


def test_cron_starts_the_run_when_the_window_opens_and_the_report_appears(
        cron_daemon, make_db, tmp_path):
    spec = make_db("cronfires")
    run_sql(spec, SCHEMA)
    reference = tmp_path / "reference.sql"
    reference.write_text(SCHEMA + "\n")
    params = spec.params
    name = f"fires_{secrets.token_hex(3)}"
    unit = f"pgreconcile-{name}"
    before, had_crontab = _crontab(), _has_crontab()

    # Opens at a minute boundary 45-105 s away: time for the playbook, then cron's minute.
    opens = (datetime.now(timezone.utc) + timedelta(seconds=105)).replace(second=0,
                                                                          microsecond=0)
    window = f"daily {opens:%H:%M}-{opens + timedelta(minutes=30):%H:%M} UTC"
    variables = {
        "schedule_name": name,
        "schedule_maintenance_window": [window],
        "schedule_scheduler": "cron",
        "schedule_cron_target": "crontab",
        "schedule_user": getpass.getuser(),
        "schedule_host_timezone": time.strftime("%z"),  # the clock cron reads
        "schedule_config_dir": str(tmp_path / "etc"),
        "schedule_log_dir": str(tmp_path / "log"),
        "schedule_report_dir": str(tmp_path / "reports"),
        "schedule_backup_dir": str(tmp_path / "backups"),
        "schedule_venv_dir": sys.prefix,
        "schedule_db_host": params.get("host", ""),
        "schedule_db_port": int(params.get("port") or 5432),
        "schedule_db_name": params["dbname"],
        "schedule_db_user": params.get("user", ""),
        "schedule_db_password": params.get("password", ""),
        "schedule_backup_test_restore": False,
        "schedule_run_migrations": False,
        "schedule_extra_args": ["--reference-sql", str(reference)],
        "schedule_django_project_dir": "",  # the inventory's project: not this run's reference
        "schedule_django_settings": "",
        # The engine under test, not the venv's installed copy.
        "schedule_environment": {"PYTHONPATH": os.environ.get("PYTHONPATH")
                                 or str(REPO / "src")},
    }
    try:
        installed = _playbook(tmp_path, variables)
        assert recap(installed)["changed"] > 0
        entries = [line for line in _crontab().splitlines() if unit in line]
        assert any(line.startswith(f"{opens.minute} ") for line in entries), entries
        assert datetime.now(timezone.utc) < opens - timedelta(seconds=5), \
            "the playbook took too long: the window opened before cron could read the entry"

        report_root = tmp_path / "reports" / name
        deadline = time.monotonic() + WAIT
        reports: list[Path] = []
        while time.monotonic() < deadline:
            reports = [r for r in report_root.glob("*/report.json")] if report_root.is_dir() \
                else []
            logs = list((tmp_path / "log" / name).glob("*.log"))
            if logs and "exited with status" in logs[0].read_text():
                break
            time.sleep(2)
        logs = list((tmp_path / "log" / name).glob("*.log"))
        assert reports, (f"no report {WAIT} s after the playbook (window {window}); "
                         f"log: {[p.read_text() for p in logs]}")
        started = datetime.strptime(reports[0].parent.name, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc)
        assert opens <= started < opens + timedelta(minutes=1), (started, opens)
        report = json.loads(reports[0].read_text())
        assert report["status"] == "nothing-to-do", report
        assert "exited with status 0" in logs[0].read_text()
        assert params.get("password", "") == "" or \
            params["password"] not in logs[0].read_text()

        removed = _playbook(tmp_path, {**variables, "schedule_state": "absent"})
        assert recap(removed)["changed"] > 0
        assert unit not in _crontab()
        assert _crontab() == before
    finally:  # whatever failed, no entry of this test outlives it
        left = _crontab()
        if unit in left:
            kept = "".join(line + "\n" for line in left.splitlines()
                           if unit not in line and not line.startswith(f"#Ansible: {unit} "))
            subprocess.run(["crontab", "-"], input=kept, text=True, check=False)
        if not had_crontab and _has_crontab() and not _crontab().strip():
            subprocess.run(["crontab", "-r"], capture_output=True, check=False)
