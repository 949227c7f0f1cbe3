"""Turn maintenance windows ("Sat 01:00-03:00 UTC") into scheduler settings.

The grammar is the engine's (pgreconcile.runbook.window, imported on the controller, where the
project's venv runs ansible-playbook), so a window the role schedules is exactly the window
the CLI's guard accepts. Each scheduler starts the job when a window opens:

* systemd: one OnCalendar= line per window, in the window's own time zone;
* cron and Windows Task Scheduler know only the host's clock, so the opening is converted
  to the host's time zone (an IANA name, or a fixed offset such as +0100 from the facts).

Every conversion is the engine's (window.oncalendar, window.cron_fields,
window.host_openings); these filters only adapt the result to a module's argument shape.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from ansible.errors import AnsibleFilterError

WINDOWS_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# Task Scheduler needs a start date; any past date works. A fixed one keeps runs idempotent.
_TASK_EPOCH = date(2024, 1, 1)


def _engine():
    try:
        from pgreconcile.runbook import window
    except ImportError as exc:
        raise AnsibleFilterError(
            "the schedule role reads maintenance windows with the pgreconcile engine on the "
            f"controller ({exc}); run ansible-playbook from the project's venv (make venv)"
        ) from None
    return window


def _call(name, text, *args):
    """window.<name>(Window.parse(text), *args), the engine's errors as filter errors."""
    engine = _engine()
    from pgreconcile.errors import UsageError
    if not isinstance(text, str):
        raise AnsibleFilterError(f"a maintenance window is a string, not {text!r}")
    try:
        return getattr(engine, name)(engine.Window.parse(text), *args)
    except UsageError as exc:
        raise AnsibleFilterError(f"{exc} ({exc.hint})" if exc.hint else f"{exc}") from None


def maintenance_window_oncalendar(text) -> str:
    """'Sat 01:00-03:00 UTC' -> 'Sat *-*-* 01:00:00 UTC' (systemd.time(7))."""
    return _call("oncalendar", text)


def maintenance_window_cron(text, host_tz="UTC") -> list[dict]:
    """Cron fields that start the job when the window opens, in the host's clock."""
    return _call("cron_fields", text, host_tz)


def maintenance_window_cron_entries(windows, host_tz="UTC", prefix="pgreconcile") -> list[dict]:
    """Cron fields of every window, each with a stable name for ansible.builtin.cron
    ("<prefix> <window> at HH:MM"), so an entry can be found again and removed."""
    entries = []
    for text in windows:
        for fields in maintenance_window_cron(text, host_tz):
            at = f"{int(fields['hour']):02d}:{int(fields['minute']):02d}"
            entries.append({**fields, "name": f"{prefix} {' '.join(str(text).split())} at {at}"})
    return entries


def maintenance_window_task_triggers(text, host_tz="UTC") -> list[dict]:
    """win_scheduled_task triggers that start the job when the window opens."""
    openings = _call("host_openings", text, host_tz)
    triggers = []
    for (hour, minute), weekdays in _engine().grouped_openings(openings):
        start = datetime.combine(_TASK_EPOCH, datetime.min.time()).replace(hour=hour, minute=minute)
        if len(weekdays) == 7:
            triggers.append({"type": "daily", "start_boundary": f"{start:%Y-%m-%dT%H:%M:%S}"})
        else:
            triggers.append({"type": "weekly", "weeks_interval": 1,
                             "days_of_week": ",".join(WINDOWS_DAYS[d] for d in sorted(weekdays)),
                             "start_boundary": f"{start:%Y-%m-%dT%H:%M:%S}"})
    return triggers


def powershell_quote(value) -> str:
    """A PowerShell single-quoted string literal: no expansion; every quote character
    PowerShell accepts as a single quote (' and the typographic ones) is doubled."""
    return "'" + re.sub("(['\u2018\u2019\u201a\u201b])", r"\1\1", str(value)) + "'"


class FilterModule:
    def filters(self):
        return {
            "maintenance_window_oncalendar": maintenance_window_oncalendar,
            "maintenance_window_cron": maintenance_window_cron,
            "maintenance_window_cron_entries": maintenance_window_cron_entries,
            "maintenance_window_task_triggers": maintenance_window_task_triggers,
            "powershell_quote": powershell_quote,
        }
