"""Maintenance windows: parsing, open/closed, crossing midnight, refusal through the CLI."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pgreconcile.errors import OutsideMaintenanceWindow, UsageError
from pgreconcile.runbook.window import MaintenanceWindows

from .support import P, cli, closed_window, drifted_db, fingerprint_and_counts

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
