"""Maintenance windows: parsing, open/closed, crossing midnight, refusal through the CLI."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pgreconcile.errors import OutsideMaintenanceWindow, UsageError
from pgreconcile.runbook.window import MaintenanceWindows

from .support import EXAMPLE, P, cli, closed_window, drifted_db, fingerprint_and_counts, query

UTC = timezone.utc
SAT_0130 = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)  # a Saturday


def test_open_inside_and_closed_outside_a_window():
    w = MaintenanceWindows.parse("Sat 01:00-03:00 UTC")
    assert w.is_open(SAT_0130)
    assert not w.is_open(SAT_0130 + timedelta(hours=2))
    assert not w.is_open(SAT_0130 - timedelta(days=1))
    assert w.current_end_epoch(SAT_0130) == datetime(2026, 11, 28, 3, 0, tzinfo=UTC).timestamp()


def test_several_windows_ranges_and_midnight_crossing():
    w = MaintenanceWindows.parse("Mon-Fri 22:00-23:30 UTC; Sun 23:00-01:00 UTC")
    assert w.is_open(datetime(2026, 11, 25, 22, 15, tzinfo=UTC))      # Wednesday
    assert not w.is_open(datetime(2026, 11, 28, 22, 15, tzinfo=UTC))  # Saturday
    assert w.is_open(datetime(2026, 11, 30, 0, 30, tzinfo=UTC))       # Monday 00:30, from Sun
    assert not w.is_open(datetime(2026, 11, 30, 1, 30, tzinfo=UTC))


def test_time_zone_is_honoured():
    w = MaintenanceWindows.parse("Sat 02:00-03:00 Europe/Berlin")  # 01:00-02:00 UTC in winter
    assert w.is_open(SAT_0130)


def test_refusal_names_the_next_opening():
    w = MaintenanceWindows.parse("Sat 01:00-03:00 UTC")
    with pytest.raises(OutsideMaintenanceWindow) as exc:
        w.require_open(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert "next opening Sat 2026-11-28 01:00 UTC" in str(exc.value)
    assert exc.value.exit_code == 4


def test_a_windows_end_may_be_given_to_the_second():
    """`HH:MM:SS` as an end: the run's deadline is that second; the whole-minute length a
    scheduler's time limit takes counts the part minute, so it never cuts the run first."""
    w = MaintenanceWindows.parse("Sat 01:00-02:59:30 UTC")
    assert w.is_open(datetime(2026, 11, 28, 2, 59, 29, tzinfo=UTC))
    assert not w.is_open(datetime(2026, 11, 28, 2, 59, 30, tzinfo=UTC))
    assert w.current_end_epoch(SAT_0130) == datetime(2026, 11, 28, 2, 59, 30,
                                                     tzinfo=UTC).timestamp()
    part = w.windows[0].to_dict()
    assert (part["start"], part["end"], part["minutes"]) == ("01:00", "02:59:30", 120)
    late = MaintenanceWindows.parse("Fri 23:59-00:00:10").windows[0]  # across midnight
    assert (late.to_dict()["end"], late.minutes) == ("00:00:10", 2)
    assert MaintenanceWindows.parse("Sat 01:00-03:00:00").windows[0].to_dict()["end"] == "03:00"


@pytest.mark.parametrize("bad, words", [
    ("Sat 01:00:30-02:00", "starts at a second"),  # schedulers start runs to the minute
    ("Sat 01:00-02:00:60", "bad time"),
    ("Sat 01:00-24:00:01", "bad time"),
    ("Sat 01:00-02:00:5", "cannot read"),
])
def test_seconds_only_in_a_windows_end_and_in_range(bad, words):
    with pytest.raises(UsageError, match=words) as caught:
        MaintenanceWindows.parse(bad)
    assert caught.value.hint


@pytest.mark.parametrize("bad", ["Sat", "Funday 01:00-02:00", "Sat 25:00-26:00",
                                 "Sat 01:00-01:00", "Sat 01:00-02:00 Mars/Olympus"])
def test_bad_windows_are_usage_errors(bad):
    with pytest.raises(UsageError):
        MaintenanceWindows.parse(bad)


def test_reconcile_outside_window_refuses_and_changes_nothing(make_db, tmp_path):
    spec = drifted_db(make_db, 300)
    before = fingerprint_and_counts(spec)
    proc = cli("reconcile", *P, "--maintenance-window", closed_window(),
               "--out-dir", str(tmp_path / "b"), "--report-dir", str(tmp_path / "r"), "--json",
               spec=spec)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)
    assert err["error"] == "OutsideMaintenanceWindow"
    assert fingerprint_and_counts(spec) == before
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())
    # check mode still works outside the window
    dry = cli("reconcile", *P, "--maintenance-window", closed_window(), "--dry-run",
              "--report-dir", str(tmp_path / "r2"), "--json", spec=spec)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert json.loads(dry.stdout)["plan"]["steps"]
    assert fingerprint_and_counts(spec) == before


class _EndsBeforeApply(MaintenanceWindows):
    """Open when the run starts; by the time apply would start the clock is past the
    window's end (as when planning, preflight and the backup take that long)."""

    def current_end_epoch(self, now=None):
        end = super().current_end_epoch(now)
        return None if end is None else super().current_end_epoch(
            datetime.fromtimestamp(end + 1, UTC))


def test_a_window_ending_before_apply_pauses_the_run_before_any_change(make_db, tmp_path):
    """The window closes while the run plans and backs up: apply does not start without a
    deadline (outside the window); the run pauses (exit 5), nothing is changed or rolled
    back, and the report says why."""
    from pgreconcile.django.project import DjangoProject
    from pgreconcile.errors import EXIT_PAUSED, Paused
    from pgreconcile.runbook.reference import ReferenceSource
    from pgreconcile.runbook.stages import ReconcileOptions, Target, reconcile

    spec = drifted_db(make_db, 50)
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=30), now + timedelta(minutes=30)
    windows = _EndsBeforeApply(MaintenanceWindows.parse(
        f"Mon-Sun {start:%H:%M}-{end:%H:%M} UTC").windows)
    assert windows.is_open() and windows.current_end_epoch() is None
    before = query(spec, "SELECT count(*), max(id) FROM treasury_payment")
    migrations = query(spec, "SELECT count(*) FROM django_migrations")
    target = Target(spec, ReferenceSource(
        "django", project=DjangoProject.from_args(str(EXAMPLE), None)))
    opts = ReconcileOptions(windows=windows, backup_dir=str(tmp_path / "b"),
                            backup_test_restore=False, report_dir=str(tmp_path / "r"))
    with pytest.raises(Paused) as caught:
        reconcile(target, opts)
    assert caught.value.exit_code == EXIT_PAUSED
    assert "ended before apply could start" in str(caught.value)
    assert not query(spec, "SELECT 1 FROM pg_attribute WHERE attrelid = "
                           "'treasury_payment'::regclass AND attname = 'payment_id'")
    assert query(spec, "SELECT count(*), max(id) FROM treasury_payment") == before
    assert query(spec, "SELECT count(*) FROM django_migrations") == migrations
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["error"]["error"] == "Paused"
    assert "apply" not in report and "rollback" not in report


# --------------------------------------------------------------------------- schedulers
# The timer's OnCalendar= and the cron fields come from the same parser as the guard; each
# case checks that the opening the scheduler fires at is one the guard calls open.
from pgreconcile.runbook.window import Window, cron_fields, cron_lines, oncalendar  # noqa: E402

WINTER = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)   # Wednesday, CET (+1) / EST (-5)
SUMMER = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)   # Wednesday, CEST (+2) / EDT (-4)


@pytest.mark.parametrize("text, expected", [
    ("Fri 23:00-01:30", "Fri *-*-* 23:00:00 UTC"),  # crosses midnight: opens on Friday
    ("Fri 23:00-01:30 Europe/Berlin", "Fri *-*-* 23:00:00 Europe/Berlin"),
    ("Mon-Fri 22:00-23:30 America/New_York", "Mon..Fri *-*-* 22:00:00 America/New_York"),
    ("Sat,Sun 1:05-2:00", "Sat,Sun *-*-* 01:05:00 UTC"),
    ("Fri-Mon 23:30-00:15 UTC", "Mon,Fri..Sun *-*-* 23:30:00 UTC"),
    ("daily 02:00-04:00 UTC", "*-*-* 02:00:00 UTC"),
])
def test_oncalendar_is_the_opening_in_the_windows_own_zone(text, expected):
    assert oncalendar(Window.parse(text)) == expected


@pytest.mark.parametrize("text, host, around, expected", [
    # across midnight, host on UTC: Friday 23:00 stays Friday
    ("Fri 23:00-01:30", "UTC", WINTER, [{"minute": "0", "hour": "23", "weekday": "5"}]),
    # Berlin's Friday 23:00 is Friday 22:00 UTC in winter, 21:00 in summer
    ("Fri 23:00-01:30 Europe/Berlin", "UTC", WINTER,
     [{"minute": "0", "hour": "22", "weekday": "5"}]),
    ("Fri 23:00-01:30 Europe/Berlin", "UTC", SUMMER,
     [{"minute": "0", "hour": "21", "weekday": "5"}]),
    # New York's weekday 22:00 is the next day in UTC: Tue..Sat, 03:00 (EST) / 02:00 (EDT)
    ("Mon-Fri 22:00-23:30 America/New_York", "UTC", WINTER,
     [{"minute": "0", "hour": "3", "weekday": "2,3,4,5,6"}]),
    ("Mon-Fri 22:00-23:30 America/New_York", "Etc/UTC", SUMMER,
     [{"minute": "0", "hour": "2", "weekday": "2,3,4,5,6"}]),
    # a UTC window on a Berlin host: Friday 23:00 UTC is Saturday 00:00/01:00 there
    ("Fri 23:00-01:30 UTC", "Europe/Berlin", WINTER,
     [{"minute": "0", "hour": "0", "weekday": "6"}]),
    ("Fri 23:00-01:30 UTC", "Europe/Berlin", SUMMER,
     [{"minute": "0", "hour": "1", "weekday": "6"}]),
    # the host's own zone: taken as written, whatever the season
    ("Sun 02:30-04:00 Europe/Berlin", "Europe/Berlin", datetime(2026, 3, 26, tzinfo=UTC),
     [{"minute": "30", "hour": "2", "weekday": "0"}]),
    # fixed offsets, as Ansible's facts give them
    ("Sat 01:00-03:00 UTC", "-05:00", WINTER, [{"minute": "0", "hour": "20", "weekday": "5"}]),
    ("daily 23:30-00:30 UTC", "+0100", WINTER, [{"minute": "30", "hour": "0", "weekday": "*"}]),
])
def test_cron_fields_are_the_opening_on_the_hosts_clock(text, host, around, expected):
    window = Window.parse(text)
    fields = cron_fields(window, host, around)
    assert fields == expected
    # The instant cron fires at is inside the window, by the guard's own reckoning.
    zone = timezone.utc if host in ("UTC", "Etc/UTC") else None
    if zone is None and host[0] in "+-":
        sign = -1 if host[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(host[1:3])))
    from zoneinfo import ZoneInfo
    zone = zone or ZoneInfo(host)
    local_day = around.astimezone(zone).date()
    for entry in fields:
        days = range(7) if entry["weekday"] == "*" else \
            [(int(d) - 1) % 7 for d in entry["weekday"].split(",")]
        for ahead in range(7):
            day = local_day + timedelta(days=ahead)
            if day.weekday() in days:
                fires = datetime(day.year, day.month, day.day, int(entry["hour"]),
                                 int(entry["minute"]), tzinfo=zone)
                assert MaintenanceWindows((window,)).is_open(fires), (text, host, fires)


def test_cron_lines_and_bad_host_zones():
    window = Window.parse("Fri 23:00-01:30 UTC")
    assert cron_lines(window, "/etc/pgreconcile/reconcile.sh", "UTC") == [
        "0 23 * * 5 /etc/pgreconcile/reconcile.sh"]
    for bad in ("Mars/Olympus", "+25:99x", "../../etc/passwd"):
        with pytest.raises(UsageError, match="time zone"):
            cron_fields(window, bad)


def _exists(moment: datetime) -> bool:
    """Whether a zoned wall-clock time exists (is not in the hour the clocks skip)."""
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) == \
        moment.replace(tzinfo=None)


@pytest.mark.skipif(__import__("shutil").which("systemd-analyze") is None,
                    reason="needs systemd-analyze (systemd's calendar parser)")
@pytest.mark.parametrize("text", ["Fri 23:00-01:30", "Fri 23:00-01:30 Europe/Berlin",
                                  "Mon-Fri 22:00-23:30 America/New_York",
                                  "Sun 02:30-04:00 Europe/Berlin"])
@pytest.mark.parametrize("around", [WINTER, SUMMER, datetime(2026, 3, 27, tzinfo=UTC),
                                    datetime(2026, 10, 30, tzinfo=UTC)],
                         ids=["winter", "summer", "eu-spring-dst", "eu-autumn-dst"])
def test_systemd_fires_the_timer_exactly_at_the_engines_openings(text, around):
    """systemd's own calendar parser, asked when the timer elapses next (7 times from a
    base time in winter, in summer and across the change of clocks): every elapse is an
    opening of the window as the engine reads it, and no opening in between is missed,
    except one whose wall-clock time does not exist (Sun 02:30 in Berlin on the day the
    clocks skip 02:00-03:00): systemd skips it, so that week's run does not start."""
    import re
    import subprocess
    window = Window.parse(text)
    proc = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=7",
         f"--base-time={around:%Y-%m-%d %H:%M:%S} UTC", oncalendar(window)],
        capture_output=True, text=True, timeout=30, check=False, env={"TZ": "UTC"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    elapses = [datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
               for m in re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\S+ \S+) UTC",
                                   proc.stdout)]
    assert len(elapses) == 7, proc.stdout
    openings = sorted({start for probe in range(0, 60, 1)
                       for start, _ in window.occurrences(around + timedelta(days=probe))
                       if start > around and _exists(start)})[:7]
    assert elapses == openings
    for fires in elapses:
        assert MaintenanceWindows((window,)).is_open(fires)
