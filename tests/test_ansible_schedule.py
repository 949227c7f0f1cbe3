"""The schedule and toolkit roles, run for real: ansible-playbook against localhost.

Nothing on the machine changes: every path the roles write (unit files, cron file, launcher,
environment file, logs, reports, venv) is a variable pointed into a temporary directory,
systemctl is switched off (schedule_systemctl=false), and become is off.
"""
from __future__ import annotations

import getpass
import importlib.util
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import tree_sitter_powershell
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tree_sitter import Language, Parser

from pgreconcile import __version__
from pgreconcile.cli import build_parser
from pgreconcile.runbook.window import MaintenanceWindows

from .support import BIN, REPO, ansible, recap

SECRET = secrets.token_hex(8)  # looked for in every output, whatever quoting surrounds it
PASSWORD = f"pw-{SECRET}'with $pecial \"chars\""
UNIT = "pgreconcile-reconcile"
TWO_WINDOWS = ["Sat 01:00-03:00 UTC", "Sun 02:30-04:00 Europe/Berlin"]


def playbook(name: str, extra_vars: dict, *args: str,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook playbooks/<name>.yml -l local, from the repository root."""
    vars_file = Path(extra_vars.pop("__vars_file"))
    vars_file.write_text(json.dumps(extra_vars))
    return ansible("ansible-playbook", f"playbooks/{name}.yml", "-l", "local",
                   "-e", "ansible_become=false", "-e", f"@{vars_file}", *args,
                   env=env, timeout=240)


def task_output(proc: subprocess.CompletedProcess, name: str) -> str:
    """The output printed under one task's header."""
    found = re.search(rf"^TASK \[[\w.]+ : {re.escape(name)}\] \**\n(.*?)(?=^TASK |^PLAY RECAP)",
                      proc.stdout, re.MULTILINE | re.DOTALL)
    assert found, f"task {name!r} not in the output"
    return found[1]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def schedule_vars(root: Path, **overrides) -> dict:
    """Every path of the schedule role inside `root`; the run uses this venv's CLI."""
    (root / "systemd").mkdir(parents=True, exist_ok=True)  # as on a real host
    (root / "cron.d").mkdir(exist_ok=True)
    return {"__vars_file": str(root.parent / f"{root.name}-vars.json"),
            "schedule_maintenance_window": TWO_WINDOWS,
            "schedule_scheduler": "systemd",
            "schedule_systemctl": False,
            "schedule_systemd_dir": str(root / "systemd"),
            "schedule_cron_file": str(root / "cron.d" / UNIT),
            "schedule_config_dir": str(root / "etc"),
            "schedule_log_dir": str(root / "log"),
            "schedule_report_dir": str(root / "reports"),
            "schedule_backup_dir": str(root / "backups"),
            "schedule_venv_dir": sys.prefix,
            "schedule_user": getpass.getuser(),
            **overrides}


SCHEDULE_ENV = {"PGPASSWORD": PASSWORD, "PGHOST": "db.invalid", "PGPORT": "6543",
                "PGDATABASE": "pettycash", "PGUSER": "pettycash_owner"}


# --------------------------------------------------------------------------- filter plugin
def _filters():
    path = REPO / "roles/schedule/filter_plugins/maintenance_window.py"
    spec = importlib.util.spec_from_file_location("maintenance_window", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_maintenance_windows_become_oncalendar_cron_fields_and_task_triggers():
    f = _filters()
    assert f.maintenance_window_oncalendar("Sat 01:00-03:00 UTC") == "Sat *-*-* 01:00:00 UTC"
    assert (f.maintenance_window_oncalendar("Mon-Fri 22:00-23:30 Europe/Berlin")
            == "Mon..Fri *-*-* 22:00:00 Europe/Berlin")
    assert f.maintenance_window_oncalendar("Sat,Sun 1:05-2:00") == "Sat,Sun *-*-* 01:05:00 UTC"
    assert f.maintenance_window_oncalendar("daily 02:00-04:00 UTC") == "*-*-* 02:00:00 UTC"
    # cron and Task Scheduler run on the host's clock: the opening moves with its offset.
    assert f.maintenance_window_cron("Sat 01:00-03:00 UTC", "+0100") == [
        {"minute": "0", "hour": "2", "weekday": "6"}]
    assert f.maintenance_window_cron("Sat 01:00-03:00 UTC", "-05:00") == [
        {"minute": "0", "hour": "20", "weekday": "5"}]
    assert f.maintenance_window_cron("daily 23:30-00:30 UTC", "UTC") == [
        {"minute": "30", "hour": "23", "weekday": "*"}]
    assert f.maintenance_window_task_triggers("Mon-Fri 22:00-23:00 UTC", "+02:00") == [
        {"type": "weekly", "weeks_interval": 1, "start_boundary": "2024-01-01T00:00:00",
         "days_of_week": "tuesday,wednesday,thursday,friday,saturday"}]
    assert f.powershell_quote("it's $x") == "'it''s $x'"
    with pytest.raises(Exception, match="cannot read maintenance window"):
        f.maintenance_window_oncalendar("Saturday night")


# --------------------------------------------------------------------------- systemd
@pytest.fixture(scope="module")
def systemd_runs(tmp_path_factory):
    """First run (-v --diff) and a second run of the systemd variant, with a password."""
    root = tmp_path_factory.mktemp("systemd") / "root"
    scratch = {"schedule_scratch_dsn": f"host=db.invalid user=scratch password={SECRET}"}
    first = playbook("schedule", schedule_vars(root, **scratch), "-v", "--diff",
                     env=SCHEDULE_ENV)
    second = playbook("schedule", schedule_vars(root, **scratch), env=SCHEDULE_ENV)
    return root, first, second


def test_timer_has_one_oncalendar_line_per_window(systemd_runs):
    root, first, _ = systemd_runs
    assert recap(first)["changed"] > 0
    timer = (root / "systemd" / f"{UNIT}.timer").read_text()
    assert re.findall(r"^OnCalendar=(.*)$", timer, re.MULTILINE) == [
        "Sat *-*-* 01:00:00 UTC", "Sun *-*-* 02:30:00 Europe/Berlin"]
    assert f"Unit={UNIT}.service" in timer and "Persistent=false" in timer
    service = (root / "systemd" / f"{UNIT}.service").read_text()
    assert f"ExecStart={root}/etc/reconcile.sh" in service
    assert f"SyslogIdentifier={UNIT}" in service
    assert not (root / "cron.d" / UNIT).exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_rendered_units(systemd_runs):
    root, _, _ = systemd_runs
    units = root / "systemd"
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           f"./{UNIT}.timer", f"./{UNIT}.service"],
                          cwd=units, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_environment_file_is_0600_and_the_password_stays_out_of_output(systemd_runs):
    root, first, second = systemd_runs
    env_file = root / "etc" / "reconcile.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    sourced = subprocess.run(["bash", "-c", f'set -a; . "{env_file}"; printf %s "$PGPASSWORD"'],
                             capture_output=True, text=True, check=True, env={})
    assert sourced.stdout == PASSWORD
    assert "PGHOST=db.invalid" in env_file.read_text()
    assert "censored" in task_output(first, "Write the environment file of the run")
    for proc in (first, second):
        assert SECRET not in proc.stdout + proc.stderr
    launcher = root / "etc" / "reconcile.sh"
    assert SECRET not in launcher.read_text() and "PGPASSWORD" not in launcher.read_text()
    assert stat.S_IMODE(launcher.stat().st_mode) == 0o755
    # A scratch DSN may carry a password too: it is in the environment file, which the CLI
    # reads (PGRECONCILE_SCRATCH_DSN); neither the launcher nor the command line holds it.
    scratch = subprocess.run(["bash", "-c", f'set -a; . "{env_file}"; '
                                            'printf %s "$PGRECONCILE_SCRATCH_DSN"'],
                             capture_output=True, text=True, check=True, env={})
    assert scratch.stdout == f"host=db.invalid user=scratch password={SECRET}"
    assert "--scratch-dsn" not in launcher.read_text()


def test_second_run_changes_nothing(systemd_runs):
    _, _, second = systemd_runs
    assert recap(second)["changed"] == 0


def test_launcher_runs_the_cli_which_refuses_outside_the_window(systemd_runs):
    if MaintenanceWindows.parse(TWO_WINDOWS).is_open():
        pytest.skip("a test window is open right now; the run would not be refused")
    root, _, _ = systemd_runs

    proc = subprocess.run(["bash", str(root / "etc" / "reconcile.sh")], capture_output=True,
                          text=True, timeout=120, check=False)

    assert proc.returncode == 4, proc.stdout + proc.stderr
    logs = list((root / "log" / "reconcile").glob("*.log"))
    assert len(logs) == 1
    log = logs[0].read_text()
    assert "outside the maintenance window" in log
    assert "exited with status 4" in log
    assert [p.name for p in (root / "reports" / "reconcile").iterdir()] == [logs[0].stem]
    assert SECRET not in log + proc.stdout + proc.stderr
    assert not (root / "backups").exists()


def test_check_mode_writes_nothing(tmp_path):
    root = tmp_path / "root"
    proc = playbook("schedule", schedule_vars(root), "--check", "--diff", env=SCHEDULE_ENV)

    assert recap(proc)["changed"] > 0
    assert files_under(root) == ["cron.d", "systemd"]
    assert SECRET not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- Windows
def test_windows_launcher_parses_as_powershell_and_passes_the_cli_parser(tmp_path):
    """No Windows host here: render the role's Windows templates as the role would, read the
    launcher with the real PowerShell grammar and its arguments with the real CLI parser."""
    role = REPO / "roles" / "schedule"
    render = tmp_path / "render.yml"
    render.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(role / "defaults/main.yml"), str(role / "vars/main.yml")],
        "tasks": [{"ansible.builtin.template": {"src": str(role / "templates" / src),
                                                "dest": str(tmp_path / dest), "mode": "0600"},
                   "no_log": True}
                  for src, dest in [("launcher.ps1.j2", "launcher.ps1"),
                                    ("env.windows.j2", "task.env")]]}]))
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), str(render), "-i", "localhost,", "-c", "local",
         "-e", json.dumps({"ansible_python_interpreter": sys.executable,
                           "schedule_maintenance_window": TWO_WINDOWS,
                           "schedule_db_password": PASSWORD, "schedule_db_user": "it's me",
                           "schedule_django_project_dir": "C:\\src\\pettycash"})],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "ANSIBLE_FILTER_PLUGINS": str(role / "filter_plugins"),
             "ANSIBLE_NOCOLOR": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr

    source = (tmp_path / "launcher.ps1").read_bytes()
    tree = Parser(Language(tree_sitter_powershell.language())).parse(source)
    assert not tree.root_node.has_error, source.decode()
    text = source.decode()
    block = re.search(r"^\$arguments = @\((.*?)^\)", text, re.MULTILINE | re.DOTALL)[1]
    literals = [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", block)]
    assert literals[:3] == ["reconcile", "--maintenance-window", "; ".join(TWO_WINDOWS)]
    assert "C:\\src\\pettycash" in literals
    parsed = build_parser().parse_args(literals[:-1] + ["--report-dir", "C:\\r"])
    assert parsed.maintenance_window == "; ".join(TWO_WINDOWS)
    assert SECRET not in text
    env_lines = (tmp_path / "task.env").read_text().splitlines()
    assert f"PGPASSWORD={PASSWORD}" in env_lines and "PGUSER=it's me" in env_lines


# --------------------------------------------------------------------------- cron
def test_cron_fallback_writes_entries_on_the_host_clock_and_absent_removes_them(tmp_path):
    root = tmp_path / "root"
    windows = ["Sat 01:00-03:00 UTC", "daily 23:30-00:30 UTC"]
    present = schedule_vars(root, schedule_scheduler="cron", schedule_host_timezone="+0100",
                            schedule_maintenance_window=windows)
    recap(playbook("schedule", present, env=SCHEDULE_ENV))

    cron_file = root / "cron.d" / UNIT
    entries = [line for line in cron_file.read_text().splitlines()
               if line and not line.startswith("#") and "=" not in line.split()[0]]
    launcher = f"{root}/etc/reconcile.sh"
    assert entries == [
        f"0 2 * * 6 {getpass.getuser()} {launcher} 2>&1 | logger -t {UNIT}",
        f"30 0 * * * {getpass.getuser()} {launcher} 2>&1 | logger -t {UNIT}"]
    assert stat.S_IMODE(cron_file.stat().st_mode) == 0o644
    assert list((root / "systemd").iterdir()) == []

    absent = schedule_vars(root, schedule_scheduler="cron", schedule_state="absent")
    assert recap(playbook("schedule", absent, env=SCHEDULE_ENV))["changed"] > 0
    assert not cron_file.exists()
    assert not (root / "etc" / "reconcile.env").exists()
    assert (root / "log" / "reconcile").is_dir(), "logs outlive the schedule"


# --------------------------------------------------------------------------- toolkit
def _runtime_dependencies(project: str = "pgreconcile",
                          with_extras: tuple[str, ...] = ("lint",)) -> list:
    """Installed distributions pgreconcile needs at run time with `with_extras` (the toolkit
    role installs the lint extra), recursively."""
    found, todo = {}, [(project, frozenset(with_extras))]
    while todo:
        name, extras = todo.pop()
        for text in distribution(name).requires or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e})
                                      for e in (extras or {""})):
                continue
            key = (canonicalize_name(req.name), frozenset(req.extras))
            if key not in found:
                try:
                    found[key] = distribution(req.name)
                except PackageNotFoundError:
                    continue
                todo.append((req.name, frozenset(req.extras)))
    return list({d.metadata["Name"]: d for d in found.values()}.values())


def _setuptools_builds_wheels() -> bool:
    """setuptools 70.1 and newer build wheels without the `wheel` package."""
    try:
        major, minor = (int(x) for x in distribution("setuptools").version.split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)


@pytest.fixture(scope="module")
def dependency_path(tmp_path_factory) -> Path:
    """A directory with links to this venv's copies of pgreconcile's dependencies.

    On PYTHONPATH it stands for a host whose index already served them, so the role's pip
    installs only pgreconcile itself, offline (--no-index), in seconds.
    """
    target = tmp_path_factory.mktemp("deps")
    for dist in _runtime_dependencies():
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = Path(dist.locate_file(top))
            if source.exists() and not (target / top).exists() and top != "__pycache__":
                (target / top).symlink_to(source)
    return target


def test_toolkit_installs_the_wheel_into_a_venv_and_second_run_changes_nothing(
        tmp_path, dependency_path):
    venv = tmp_path / "venv"
    toolkit_vars = {"__vars_file": str(tmp_path / "vars.json"),
                    "toolkit_venv_dir": str(venv), "toolkit_wheel_dir": str(tmp_path / "wheels"),
                    "toolkit_python": sys.executable, "toolkit_pip_extra_args": "--no-index",
                    # offline and faster where this venv's setuptools can build the wheel itself
                    "toolkit_build_isolation": not _setuptools_builds_wheels(),
                    "toolkit_system_packages": [], "toolkit_install_pg_client": False}
    env = {"PYTHONPATH": str(dependency_path)}
    build_dir_before = (REPO / "build").exists()

    first = playbook("toolkit", dict(toolkit_vars), "-v", env=env)
    assert recap(first)["changed"] > 0
    assert f"pgreconcile {__version__} in {venv}" in first.stdout
    wheels = list((tmp_path / "wheels").glob("pgreconcile-*.whl"))
    assert len(wheels) == 1
    # The lint extra is asked for; pip, offline, resolved squawk-cli or the task had failed.
    assert f"{wheels[0].name}[lint]" in task_output(
        first, "Install pgreconcile, its extras and their dependencies into the venv")

    version = subprocess.run([str(venv / "bin" / "pgreconcile"), "--version"],
                             env={**os.environ, **env}, capture_output=True, text=True,
                             check=False)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"pgreconcile {__version__}"
    located = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import pgreconcile; print(pgreconcile.__file__)"],
                             env={**os.environ, **env}, capture_output=True, text=True, check=True)
    assert located.stdout.strip().startswith(str(venv)), "installed into the venv, not linked"
    assert (REPO / "build").exists() == build_dir_before, "the wheel is built outside the checkout"

    second = playbook("toolkit", dict(toolkit_vars), env=env)
    assert recap(second)["changed"] == 0


# --------------------------------------------------------------------------- Windows paths
# No Windows host here: the Windows tasks are checked against their modules' own documentation
# (ansible-doc of the installed collections), and each role's argument specs against the
# variables it uses. ansible-lint (production profile) runs over both roles in `make lint`.
WINDOWS_TASK_FILES = [REPO / "roles/toolkit/tasks/windows.yml",
                      REPO / "roles/schedule/tasks/windows.yml"]


def _module_tasks(tasks: list) -> list[tuple[str, dict]]:
    """(module name, its arguments) of every task, blocks included."""
    found = []
    for task in tasks:
        for key in ("block", "rescue", "always"):
            found += _module_tasks(task.get(key) or [])
        for name, args in task.items():
            if ("." in name and isinstance(args, dict)
                    and not name.startswith("ansible.builtin.include")):
                found.append((name, args))
    return found


def _documented_options(modules: list[str]) -> dict[str, dict]:
    proc = subprocess.run([str(BIN / "ansible-doc"), "-j", *modules], capture_output=True,
                          text=True, timeout=120, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return {name: doc["doc"]["options"] for name, doc in json.loads(proc.stdout).items()}


def _names(options: dict) -> set[str]:
    return {alias for name, spec in options.items()
            for alias in [name, *(spec.get("aliases") or [])]}


def test_windows_tasks_use_only_options_their_modules_document():
    import yaml
    tasks = [t for path in WINDOWS_TASK_FILES
             for t in _module_tasks(yaml.safe_load(path.read_text()))]
    windows_modules = sorted({m for m, _ in tasks if "windows" in m})
    assert "ansible.windows.win_command" in windows_modules
    documented = _documented_options(windows_modules)
    assert set(documented) == set(windows_modules), "a Windows collection is missing"
    for module, args in tasks:
        if module in documented:
            unknown = set(args) - _names(documented[module]) - {"_raw_params"}
            assert not unknown, f"{module}: {sorted(unknown)} not documented"
    # The triggers the schedule filter builds are win_scheduled_task trigger sub-options.
    triggers = _filters().maintenance_window_task_triggers("Mon-Fri 22:00-23:30 Europe/Berlin",
                                                           "UTC")
    triggers += _filters().maintenance_window_task_triggers("daily 01:00-02:00 UTC", "UTC")
    trigger_options = _names(documented["community.windows.win_scheduled_task"]["triggers"]
                             ["suboptions"])
    for trigger in triggers:
        assert set(trigger) <= trigger_options, trigger


@pytest.mark.parametrize("role", ["toolkit", "schedule"])
def test_argument_specs_cover_every_variable_of_the_role(role):
    """Every <role>_* variable the role's tasks, templates and vars use is in its argument
    specs, every spec is a default, and every literal default is the spec's default."""
    import yaml
    root = REPO / "roles" / role
    specs = yaml.safe_load((root / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((root / "defaults/main.yml").read_text())
    used = set()
    for path in [*root.glob("tasks/*.yml"), *root.glob("templates/*"), root / "vars/main.yml",
                 root / "handlers/main.yml"]:
        if path.exists():
            used |= set(re.findall(rf"\b{role}_[a-z0-9_]+", path.read_text()))
    assert used - set(options) == set(), f"used but not in argument_specs: {used - set(options)}"
    assert set(defaults) == set(options)
    for name, spec in options.items():
        value = defaults[name]
        if "default" in spec and not (isinstance(value, str) and "{{" in value):
            assert spec["default"] == value, name
