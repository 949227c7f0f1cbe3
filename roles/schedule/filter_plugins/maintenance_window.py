"""Turn maintenance windows ("Sat 01:00-03:00 UTC") into scheduler settings.

The grammar is the engine's (pgreconcile.runbook.window, imported on the controller, where the
project's venv runs ansible-playbook), so a window the role schedules is exactly the window
the CLI's guard accepts. Each scheduler starts the job when a window opens:

* systemd: one OnCalendar= line per window, in the window's own time zone;
* cron and Windows Task Scheduler know only the host's clock, so the opening is converted
  to the host's time zone (an IANA name, or a fixed offset such as +0100 from the facts).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo

from ansible.errors import AnsibleFilterError

SYSTEMD_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WINDOWS_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$")
# Task Scheduler needs a start date; any past date works. A fixed one keeps runs idempotent.
_TASK_EPOCH = date(2024, 1, 1)


def _parse(text):
    try:
        from pgreconcile.errors import UsageError
        from pgreconcile.runbook.window import Window
    except ImportError as exc:
        raise AnsibleFilterError(
            "the schedule role reads maintenance windows with the pgreconcile engine on the "
            f"controller ({exc}); run ansible-playbook from the project's venv (make venv)"
        ) from None
    if not isinstance(text, str):
        raise AnsibleFilterError(f"a maintenance window is a string, not {text!r}")
    try:
        return Window.parse(text)
    except UsageError as exc:
        raise AnsibleFilterError(f"{exc}") from None


def _zone(name) -> tzinfo:
    name = str(name or "UTC").strip()
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    found = _OFFSET.match(name)
    if found:
        delta = timedelta(hours=int(found["h"]), minutes=int(found["m"]))
        return timezone(-delta if found["sign"] == "-" else delta)
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError: both mean "not a zone"
        raise AnsibleFilterError(f"unknown time zone {name!r}: use UTC, an IANA name "
                                 "(Europe/Berlin) or an offset (+0100)") from None


def _window_zone(window) -> tzinfo:
    return _zone(window.tz)


def _day_list(days) -> str:
    """systemd's weekday spec: runs of three or more days as ranges (Mon..Fri)."""
    ordered, parts, run = sorted(days), [], []
    for day in ordered + [None]:
        if run and (day is None or day != run[-1] + 1):
            parts.append(f"{SYSTEMD_DAYS[run[0]]}..{SYSTEMD_DAYS[run[-1]]}" if len(run) > 2
                         else ",".join(SYSTEMD_DAYS[d] for d in run))
            run = []
        if day is not None:
            run.append(day)
    return ",".join(parts)


def maintenance_window_oncalendar(text) -> str:
    """'Sat 01:00-03:00 UTC' -> 'Sat *-*-* 01:00:00 UTC' (systemd.time(7))."""
    window = _parse(text)
    days = "" if len(window.days) == 7 else _day_list(window.days) + " "
    return f"{days}*-*-* {window.start:%H:%M}:00 {window.tz}"


def _local_openings(text, host_tz, around: datetime | None = None):
    """Openings of one window in the host's zone: [(weekday Mon=0, hour, minute)]."""
    window, host = _parse(text), _zone(host_tz)
    zone = _window_zone(window)
    # Convert the next opening of each day, so a zone with daylight saving time is
    # converted with the offset in force now (the run is re-done when the clocks change).
    today = (around or datetime.now(timezone.utc)).astimezone(zone).date()
    openings = set()
    for ahead in range(7):
        day = today + timedelta(days=ahead)
        if day.weekday() in window.days:
            local = datetime.combine(day, window.start, zone).astimezone(host)
            openings.add((local.weekday(), local.hour, local.minute))
    return sorted(openings)


def _grouped(openings):
    by_time: dict[tuple[int, int], list[int]] = {}
    for weekday, hour, minute in openings:
        by_time.setdefault((hour, minute), []).append(weekday)
    return sorted(by_time.items())


def maintenance_window_cron(text, host_tz="UTC") -> list[dict]:
    """Cron fields that start the job when the window opens, in the host's clock."""
    entries = []
    for (hour, minute), weekdays in _grouped(_local_openings(text, host_tz)):
        cron_days = sorted((d + 1) % 7 for d in weekdays)  # cron: 0 = Sunday
        entries.append({"minute": str(minute), "hour": str(hour),
                        "weekday": "*" if len(cron_days) == 7 else ",".join(map(str, cron_days))})
    return entries


def maintenance_window_task_triggers(text, host_tz="UTC") -> list[dict]:
    """win_scheduled_task triggers that start the job when the window opens."""
    triggers = []
    for (hour, minute), weekdays in _grouped(_local_openings(text, host_tz)):
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
            "maintenance_window_task_triggers": maintenance_window_task_triggers,
            "powershell_quote": powershell_quote,
        }
