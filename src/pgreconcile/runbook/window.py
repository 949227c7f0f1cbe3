"""Maintenance windows: "Sat 01:00-03:00 UTC", several allowed.

Grammar of one window: `DAYS HH:MM-HH:MM[:SS] [TZ]` where DAYS is a day (`Sat`), a range
(`Mon-Fri`), a list (`Sat,Sun`), or `daily`; TZ is `UTC` (default) or an IANA name
(`Europe/Berlin`). The end may be given to the second (`Sat 01:00-02:59:30`): a run then
pauses that many seconds before the whole minute. The start is to the minute, as every
scheduler that starts a run (systemd, cron, Windows) takes it. A window may cross midnight
(`Fri 23:00-01:30`); it then belongs to the day it starts on. Several windows are
separated by `;` or given as a list.

Anything else is a UsageError (exit 2) naming the part it could not read: a day must be
at least the first three letters of its name (`Sat`, `Saturday`), digits are ASCII, a
time zone is an IANA name of at most 64 characters, and a text that is only separators
holds no window.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgreconcile.errors import OutsideMaintenanceWindow, UsageError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_RE = re.compile(r"^\s*(?P<days>[A-Za-z,\-*]+)\s+(?P<start>\d{1,2}:\d{2}(?::\d{2})?)\s*-\s*"
                 r"(?P<end>\d{1,2}:\d{2}(?::\d{2})?)(?:\s+(?P<tz>[A-Za-z_/+\-0-9]+))?\s*$",
                 re.ASCII)
#: An IANA zone name: a few path parts of letters, digits, `_`, `+`, `-` (no `.`, no `/`
#: at either end), so a name can never walk out of the zone database.
_TZ = re.compile(r"[A-Za-z0-9_+\-]{1,30}(/[A-Za-z0-9_+\-]{1,30}){0,3}", re.ASCII)
_TZ_MAX = 64
_HINT = 'write it like "Sat 01:00-03:00 UTC" or "Mon-Fri 22:00-23:30 Europe/Berlin"'


def _shown(text: str, limit: int = 80) -> str:
    """`text` quoted for an error message, cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _days(text: str) -> frozenset[int]:
    text = text.lower()
    if text in ("daily", "*", "every"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            i, j = _day(a), _day(b)
            k = i
            while True:
                out.add(k)
                if k == j:
                    break
                k = (k + 1) % 7
        else:
            out.add(_day(part))
    return frozenset(out)


def _day(text: str) -> int:
    """A day: its name or a prefix of it of at least three letters (`sat`, `satur`,
    `saturday`); `Saturnalia` or `sun-mon` are not days."""
    key = text.strip().lower()
    for index, name in enumerate(_NAMES):
        if len(key) >= 3 and name.startswith(key):
            return index
    raise UsageError(f"unknown day {_shown(text)} in maintenance window",
                     hint="use Mon..Sun, a range like Mon-Fri, a list like Sat,Sun, or daily")


def _hm(text: str) -> time:
    h, m, *rest = (int(x) for x in text.split(":"))
    s = rest[0] if rest else 0
    if h > 24 or m > 59 or s > 59 or (h == 24 and (m or s)):
        raise UsageError(f"bad time {_shown(text)} in maintenance window",
                         hint="hours 00-24, minutes and seconds 00-59 (24:00 only as an end)")
    return time(0, 0) if h == 24 else time(h, m, s)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _check_zone(tz: str) -> None:
    if tz.upper() == "UTC":
        return
    if len(tz) > _TZ_MAX or not _TZ.fullmatch(tz):
        raise UsageError(f"unknown time zone {_shown(tz)} in maintenance window",
                         hint="use UTC or an IANA name such as Europe/Berlin")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"unknown time zone {_shown(tz)} in maintenance window",
                         hint="use UTC or an IANA name such as Europe/Berlin") from None


@dataclass(frozen=True)
class Window:
    text: str
    days: frozenset[int]
    start: time
    end: time
    tz: str

    @classmethod
    def parse(cls, text: str) -> "Window":
        if not isinstance(text, str):
            raise UsageError(f"a maintenance window is text, not {type(text).__name__}",
                             hint=_HINT)
        m = _RE.match(text)
        if not m:
            raise UsageError(f"cannot read maintenance window {_shown(text)}", hint=_HINT)
        tz = m.group("tz") or "UTC"
        _check_zone(tz)
        if m.group("start").count(":") > 1:
            raise UsageError(f"maintenance window {_shown(text)} starts at a second",
                             hint="a window starts at a whole minute (HH:MM), as schedulers "
                                  "start runs; only its end may hold seconds (01:00-02:59:30)")
        start, end = _hm(m.group("start")), _hm(m.group("end"))
        if start == end:
            raise UsageError(f"maintenance window {_shown(text)} has no length",
                             hint="start and end must differ, e.g. Sat 01:00-03:00")
        return cls(text.strip(), _days(m.group("days")), start, end, tz)

    @property
    def minutes(self) -> int:
        """How long each opening lasts in whole minutes, a part minute counted (an end
        given to the second): a scheduler's time limit never ends a run before the engine
        pauses it. A window crossing midnight ends the next day."""
        return -(-((_seconds(self.end) - _seconds(self.start)) % 86400) // 60)

    def to_dict(self) -> dict:
        """The window's parts as the engine read them, for faces that build their own
        schedules (the Windows task's weekly triggers) without reading the text again.
        `end` is `HH:MM`, or `HH:MM:SS` when the window's end was given to the second."""
        end = f"{self.end:%H:%M:%S}" if self.end.second else f"{self.end:%H:%M}"
        return {"text": self.text, "days": [DAYS[d] for d in sorted(self.days)],
                "start": f"{self.start:%H:%M}", "end": end, "tz": self.tz,
                "minutes": self.minutes}

    def _zone(self):
        return timezone.utc if self.tz.upper() == "UTC" else ZoneInfo(self.tz)

    def occurrences(self, around: datetime) -> list[tuple[datetime, datetime]]:
        """Openings that start within a day before/after `around` (aware datetimes)."""
        local = around.astimezone(self._zone())
        spans = []
        for offset in range(-1, 8):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.days:
                continue
            start = datetime.combine(day, self.start, self._zone())
            end = datetime.combine(day, self.end, self._zone())
            if end <= start:
                end += timedelta(days=1)
            spans.append((start, end))
        return spans


@dataclass(frozen=True)
class MaintenanceWindows:
    windows: tuple[Window, ...]

    @classmethod
    def parse(cls, spec: str | list[str] | None) -> "MaintenanceWindows | None":
        if not spec:
            return None
        if not isinstance(spec, (str, list, tuple)):
            raise UsageError(f"a maintenance window is text, not {type(spec).__name__}",
                             hint=_HINT)
        parts = list(spec) if not isinstance(spec, str) else re.split(r"\s*;\s*", spec)
        windows = tuple(Window.parse(p) for p in parts
                        if not isinstance(p, str) or p.strip())
        if not windows:
            blank = (not spec.strip()) if isinstance(spec, str) else \
                all(isinstance(p, str) and not p.strip() for p in parts)
            if blank:
                return None  # blank: no window, as when none is given
            raise UsageError(f"maintenance window {_shown(str(spec))} holds no window",
                             hint=_HINT)
        return cls(windows)

    def current(self, now: datetime | None = None) -> tuple[datetime, datetime] | None:
        now = now or datetime.now(timezone.utc)
        for window in self.windows:
            for start, end in window.occurrences(now):
                if start <= now < end:
                    return start, end
        return None

    def next_opening(self, now: datetime | None = None) -> datetime | None:
        now = now or datetime.now(timezone.utc)
        starts = [s for w in self.windows for s, _ in w.occurrences(now) if s > now]
        return min(starts) if starts else None

    def is_open(self, now: datetime | None = None) -> bool:
        return self.current(now) is not None

    def current_end_epoch(self, now: datetime | None = None) -> float | None:
        span = self.current(now)
        return span[1].timestamp() if span else None

    def require_open(self, now: datetime | None = None) -> None:
        now = now or datetime.now(timezone.utc)
        if not self.is_open(now):
            nxt = self.next_opening(now)
            raise OutsideMaintenanceWindow(
                f"outside the maintenance window ({self.describe()}); it is "
                f"{now.astimezone(timezone.utc):%a %H:%M} UTC"
                + (f", next opening {nxt.astimezone(timezone.utc):%a %Y-%m-%d %H:%M} UTC"
                   if nxt else "") + "; nothing was changed")

    def describe(self) -> str:
        return "; ".join(w.text for w in self.windows)


def window_status(windows: MaintenanceWindows | None, now: datetime | None = None) -> dict:
    """Whether changing stages may run now, in words every face shows as they are
    (`pgreconcile window`, the role's window stage, the PowerShell scripts)."""
    now = now or datetime.now(timezone.utc)
    stamp = now.isoformat(timespec="seconds")
    if windows is None:
        return {"set": False, "open": True, "windows": "", "now": stamp,
                "closes_at": None, "next_opening": None, "parts": [],
                "message": "no maintenance window set: changing stages may run at any time"}
    current = windows.current(now)
    following = windows.next_opening(now)
    status = {"set": True, "open": current is not None, "windows": windows.describe(),
              "now": stamp, "closes_at": current[1].isoformat() if current else None,
              "next_opening": following.isoformat() if following else None,
              "parts": [w.to_dict() for w in windows.windows]}
    try:
        windows.require_open(now)
    except OutsideMaintenanceWindow as exc:
        status.update(message=str(exc), hint=exc.hint, exit_code=exc.exit_code)
    else:
        status["message"] = (f"inside the maintenance window ({windows.describe()}) until "
                             f"{status['closes_at']}")
    return status



# --------------------------------------------------------------------------- schedulers
# The schedulers that start a run when a window opens read the window through this parser
# too (the schedule role's filters call these), so a timer can never fire on a window the
# engine would refuse, nor miss one it accepts.
SYSTEMD_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$", re.ASCII)


def host_zone(name: str | None):
    """A host's clock: `UTC`, an IANA name (`Europe/Berlin`) or a fixed offset (`+0100`,
    `-05:00`, as Ansible's facts give it). Anything else is a UsageError."""
    name = str(name or "UTC").strip()
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    found = _OFFSET.match(name)
    if found:
        delta = timedelta(hours=int(found["h"]), minutes=int(found["m"]))
        return timezone(-delta if found["sign"] == "-" else delta)
    _check_zone(name)
    return ZoneInfo(name)


def _systemd_days(days: frozenset[int]) -> str:
    """systemd's weekday spec: runs of three or more days as ranges (`Mon..Fri`)."""
    parts: list[str] = []
    run: list[int] = []
    for day in sorted(days) + [None]:
        if run and (day is None or day != run[-1] + 1):
            parts.append(f"{SYSTEMD_DAYS[run[0]]}..{SYSTEMD_DAYS[run[-1]]}" if len(run) > 2
                         else ",".join(SYSTEMD_DAYS[d] for d in run))
            run = []
        if day is not None:
            run.append(day)
    return ",".join(parts)


def oncalendar(window: Window) -> str:
    """The systemd.time(7) calendar event of the window's openings, in the window's own
    zone: systemd takes a trailing zone name and follows its daylight saving time itself.
    A window crossing midnight opens on the day it starts (`Fri 23:00-01:30` -> Fri 23:00)."""
    days = "" if len(window.days) == 7 else _systemd_days(window.days) + " "
    return f"{days}*-*-* {window.start:%H:%M}:00 {window.tz}"


def host_openings(window: Window, host_tz: str | None = "UTC",
                  around: datetime | None = None) -> list[tuple[int, int, int]]:
    """The window's openings on a host's clock, as (weekday Mon=0, hour, minute).

    For schedulers that know only the host's clock (cron, Windows Task Scheduler). Where the
    host's zone is the window's own, the window is taken as written, whatever the season.
    Otherwise each day's next opening after `around` (now by default) is converted with
    the offsets in force then: when daylight saving time changes one of the two clocks,
    install the schedule again (an opening that drifted out of the window is refused by
    the run itself, nothing half-done)."""
    host = host_zone(host_tz)
    if str(host_tz or "UTC").strip() == window.tz or (host is timezone.utc
                                                      and window.tz.upper() == "UTC"):
        return sorted((d, window.start.hour, window.start.minute) for d in window.days)
    zone = window._zone()
    today = (around or datetime.now(timezone.utc)).astimezone(zone).date()
    openings = set()
    for ahead in range(7):
        day = today + timedelta(days=ahead)
        if day.weekday() in window.days:
            local = datetime.combine(day, window.start, zone).astimezone(host)
            openings.add((local.weekday(), local.hour, local.minute))
    return sorted(openings)


def grouped_openings(openings: list[tuple[int, int, int]]
                     ) -> list[tuple[tuple[int, int], list[int]]]:
    """Openings grouped by time of day: [((hour, minute), [weekdays Mon=0])]."""
    by_time: dict[tuple[int, int], list[int]] = {}
    for weekday, hour, minute in openings:
        by_time.setdefault((hour, minute), []).append(weekday)
    return sorted(by_time.items())


def cron_fields(window: Window, host_tz: str | None = "UTC",
                around: datetime | None = None) -> list[dict]:
    """crontab(5) minute, hour and day-of-week fields that start a run when the window
    opens, on the host's clock (cron takes no zone per entry); one dict per time of day."""
    entries = []
    for (hour, minute), weekdays in grouped_openings(host_openings(window, host_tz, around)):
        cron_days = sorted((d + 1) % 7 for d in weekdays)  # cron: 0 = Sunday
        entries.append({"minute": str(minute), "hour": str(hour),
                        "weekday": "*" if len(cron_days) == 7 else ",".join(map(str, cron_days))})
    return entries


def cron_lines(window: Window, command: str, host_tz: str | None = "UTC",
               around: datetime | None = None) -> list[str]:
    """Whole crontab lines (`M H * * DOW command`) for the window's openings."""
    return [f"{e['minute']} {e['hour']} * * {e['weekday']} {command}"
            for e in cron_fields(window, host_tz, around)]
