"""Maintenance windows: "Sat 01:00-03:00 UTC", several allowed.

Grammar of one window: `DAYS HH:MM-HH:MM [TZ]` where DAYS is a day (`Sat`), a range
(`Mon-Fri`), a list (`Sat,Sun`), or `daily`; TZ is `UTC` (default) or an IANA name
(`Europe/Berlin`). A window may cross midnight (`Fri 23:00-01:30`); it then belongs
to the day it starts on. Several windows are separated by `;` or given as a list.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgreconcile.errors import OutsideMaintenanceWindow, UsageError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_RE = re.compile(r"^\s*(?P<days>[A-Za-z,\-*]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*"
                 r"(?P<end>\d{1,2}:\d{2})(?:\s+(?P<tz>[A-Za-z_/+\-0-9]+))?\s*$")


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
    key = text.strip().lower()[:3]
    if key not in DAYS:
        raise UsageError(f"unknown day {text!r} in maintenance window",
                         hint="use Mon..Sun, a range like Mon-Fri, or daily")
    return DAYS.index(key)


def _hm(text: str) -> time:
    h, m = (int(x) for x in text.split(":"))
    if h > 24 or m > 59 or (h == 24 and m):
        raise UsageError(f"bad time {text!r} in maintenance window")
    return time(0, 0) if h == 24 else time(h, m)


@dataclass(frozen=True)
class Window:
    text: str
    days: frozenset[int]
    start: time
    end: time
    tz: str

    @classmethod
    def parse(cls, text: str) -> "Window":
        m = _RE.match(text)
        if not m:
            raise UsageError(f"cannot read maintenance window {text!r}",
                             hint='write it like "Sat 01:00-03:00 UTC" or "Mon-Fri 22:00-23:30 '
                                  'Europe/Berlin"')
        tz = m.group("tz") or "UTC"
        try:
            ZoneInfo(tz) if tz.upper() != "UTC" else None
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"unknown time zone {tz!r} in maintenance window") from None
        start, end = _hm(m.group("start")), _hm(m.group("end"))
        if start == end:
            raise UsageError(f"maintenance window {text!r} has no length")
        return cls(text.strip(), _days(m.group("days")), start, end, tz)

    @property
    def minutes(self) -> int:
        """How long each opening lasts (a window crossing midnight ends the next day)."""
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        return (end - start) % (24 * 60)

    def to_dict(self) -> dict:
        """The window's parts as the engine read them, for faces that build their own
        schedules (the Windows task's weekly triggers) without reading the text again."""
        return {"text": self.text, "days": [DAYS[d] for d in sorted(self.days)],
                "start": f"{self.start:%H:%M}", "end": f"{self.end:%H:%M}", "tz": self.tz,
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
        parts = spec if isinstance(spec, list) else re.split(r"\s*;\s*", spec)
        windows = tuple(Window.parse(p) for p in parts if p and p.strip())
        return cls(windows) if windows else None

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

