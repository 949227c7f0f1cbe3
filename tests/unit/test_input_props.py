"""Property tests over the parsers of operator input (issue 13, point 3): a maintenance
window, a DSN (parsed, never connected), a settings module name, a report read back and the
CLI's option checks. Whatever the text, each gives a value or one ReconcileError with its
documented exit code (2, usage), never another exception. No database: these are pure.
"""
from __future__ import annotations

import json
import string
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgreconcile.cli.commands import MAX_COUNT, build_parser, check_options, main
from pgreconcile.django.project import check_settings_name
from pgreconcile.errors import EXIT_USAGE, ReconcileError, UsageError
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.report.load import check_report, load_report, parse_report
from pgreconcile.runbook.window import MaintenanceWindows, window_status

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
OPTIONS = settings(FAST, max_examples=100)  # argparse is the slow part here
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=timezone.utc)
PARSER = build_parser()  # building it takes ~50 ms; parsing leaves it unchanged

DAYS = st.sampled_from(["Mon", "tue", "WED", "Thursday", "fri", "Sat", "sun", "daily",
                        "Mon-Fri", "Fri-Mon", "Sat,Sun", "*"])
TIMES = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
ZONES = st.sampled_from(["", " UTC", " utc", " Europe/Berlin", " America/New_York",
                         " Asia/Kolkata", " Australia/Lord_Howe"])
#: Text that looks like a window, with its parts mutated: the shapes a typo makes.
WINDOWISH = st.builds(lambda d, a, b, z, junk, cut: (f"{d} {a}-{b}{z}" + junk)[:cut],
                      DAYS, TIMES, TIMES, ZONES,
                      st.sampled_from(["", ";", "; ", "-", " x", "/..", "\0", "١", "\udcff"]),
                      st.integers(0, 60))
ANY_TEXT = st.text(max_size=200)


# --------------------------------------------------------------------------- windows
@FAST
@given(st.one_of(ANY_TEXT, WINDOWISH, st.lists(st.one_of(ANY_TEXT, WINDOWISH), max_size=4)))
def test_a_window_parses_or_is_one_usage_error(text):
    try:
        windows = MaintenanceWindows.parse(text)
    except UsageError as exc:
        assert exc.exit_code == EXIT_USAGE and str(exc)
        assert len(str(exc)) < 400, "the message echoes an unbounded value"
        return
    status = window_status(windows, NOW)  # a parsed window can always be asked about
    assert isinstance(status["open"], bool)
    if windows is not None:
        assert all(p["minutes"] > 0 and set(p["days"]) <= {"mon", "tue", "wed", "thu", "fri",
                                                           "sat", "sun"}
                   for p in status["parts"])


@FAST
@given(DAYS, TIMES, TIMES, ZONES)
def test_every_well_formed_window_parses(days, start, end, zone):
    text = f"{days} {start}-{end}{zone}"
    if start == end:
        with pytest.raises(UsageError, match="has no length"):
            MaintenanceWindows.parse(text)
        return
    windows = MaintenanceWindows.parse(text)
    assert windows is not None and windows.windows[0].to_dict()["start"] == start


@pytest.mark.parametrize("text", [
    "Sat-Sun-Mon 01:00-02:00",       # was read as Sat-Sun
    "Saturnalia 01:00-02:00",        # was read as Sat
    "Sa 01:00-02:00",
    "Sat ١:٠٠-٠٢:٠٠",                # Arabic-Indic digits were read as 1:00-02:00
    "Sat 01:00-02:00 " + "A/" * 300 + "A",  # was a RecursionError
    "Sat 01:00-02:00 /etc/passwd",
    "Sat 01:00-02:00 Europe/../UTC",
    ";;;",
    "Sat 25:00-02:00",
    "Sat 01:00-01:00",
])
def test_hostile_windows_are_usage_errors(text):
    with pytest.raises(UsageError) as caught:
        MaintenanceWindows.parse(text)
    assert caught.value.exit_code == EXIT_USAGE and caught.value.hint


@pytest.mark.parametrize("spec", ["", "   ", [], ["", " "], None])
def test_a_blank_window_is_no_window(spec):
    assert MaintenanceWindows.parse(spec) is None


@pytest.mark.parametrize("spec", [5, [1], {"Sat": "01:00-02:00"}, [None]])
def test_a_window_that_is_no_text_is_a_usage_error(spec):
    with pytest.raises(UsageError, match="is text"):
        MaintenanceWindows.parse(spec)


# --------------------------------------------------------------------------- DSNs
DSN_KEYS = st.sampled_from(["host", "port", "dbname", "user", "password", "sslmode",
                            "connect_timeout", "options", "application_name", "bogus", ""])
DSN_VALUES = st.one_of(st.text(max_size=30),
                       st.sampled_from(["5432", "0", "65536", "-1", "abc", "'q", "a b",
                                        "require", "verify-full", "nope", "5432,5433"]))
KEYVALUE = st.lists(st.tuples(DSN_KEYS, DSN_VALUES), max_size=5).map(
    lambda kv: " ".join(f"{k}={v}" for k, v in kv))
URI = st.builds(lambda user, host, port, db, q: f"postgresql://{user}@{host}:{port}/{db}{q}",
                st.text(max_size=10), st.text(max_size=10), st.text(max_size=6),
                st.text(max_size=10),
                st.sampled_from(["", "?sslmode=require", "?sslmode=x", "?foo=1", "?port=1"]))


@FAST
@given(st.one_of(ANY_TEXT, KEYVALUE, URI))
def test_a_dsn_resolves_or_is_one_usage_error(dsn):
    try:
        spec = ConnectionSpec.resolve(dsn, env={})
    except UsageError as exc:
        assert exc.exit_code == EXIT_USAGE and exc.hint
        assert "password" not in exc.hint.lower() or "~/.pgpass" in exc.hint
        return
    # What resolves is usable without connecting: libpq accepts its parameters back, and
    # the views never raise.
    spec.conninfo()
    spec.public_conninfo()
    spec.redacted()
    spec.describe()
    port = spec.params.get("port")
    assert not port or all(1 <= int(p) <= 65535 for p in port.split(",") if p)


@pytest.mark.parametrize("dsn, why", [
    ("dbname=live\0dbname=other", "NUL"),          # libpq would stop at the NUL
    ("host=\udcff", "UTF-8"),                      # argv that was not UTF-8
    ("postgresql://u@h:notaport/db", "port"),
    ("host=h port=70000", "port"),
    ("host=h sslmode=bogus", "sslmode"),
    ("host=h connect_timeout=soon", "connect_timeout"),
    ("x" * 5000, "characters long"),
    ("host='unterminated", "cannot parse"),
    ("foo=bar", "cannot parse"),
])
def test_hostile_dsns_are_usage_errors_before_any_connection(dsn, why):
    with pytest.raises(UsageError, match=why):
        ConnectionSpec.resolve(dsn, env={})


def test_a_parse_error_does_not_echo_the_password():
    with pytest.raises(UsageError) as caught:
        ConnectionSpec.resolve("postgresql://u:s3cr3t@h/db?bogus=1", env={})
    assert "s3cr3t" not in str(caught.value)


def test_database_url_is_checked_like_dsn():
    with pytest.raises(UsageError, match="NUL"):
        ConnectionSpec.resolve(None, env={"DATABASE_URL": "dbname=a\0b"})


# --------------------------------------------------------------------------- settings
IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@FAST
@given(st.one_of(ANY_TEXT, st.lists(IDENT, min_size=1, max_size=4).map(".".join),
                 st.lists(IDENT, min_size=1, max_size=4).map(lambda p: "/".join(p) + ".py")))
def test_a_settings_name_is_a_dotted_module_or_one_usage_error(name):
    try:
        assert check_settings_name(name) == name
    except UsageError as exc:
        assert exc.exit_code == EXIT_USAGE and exc.hint
        return
    # What passes is safe to write into `from NAME import *` of the generated wrapper.
    compile(f"from {name} import *", "<wrapper>", "exec")
    assert all(c in string.ascii_letters + string.digits + "_." for c in name)


@pytest.mark.parametrize("name, hint", [
    ("pettycash/settings.py", "--settings pettycash.settings"),
    ("pettycash\\settings.py", "--settings pettycash.settings"),
    ("import os; os.system('touch /tmp/x')", "dotted module name"),
    ("class.settings", "dotted module name"),
    ("a..b", "dotted module name"),
    ("", "dotted module name"),
])
def test_bad_settings_names_say_what_to_pass(name, hint):
    with pytest.raises(UsageError) as caught:
        check_settings_name(name)
    assert hint in caught.value.hint


# --------------------------------------------------------------------------- reports
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=12)
REPORTISH = st.fixed_dictionaries(
    {}, optional={"tool": st.sampled_from(["pgreconcile", "other", 1]),
                  "ok": st.one_of(st.booleans(), st.just("yes")),
                  "stages": st.one_of(st.lists(st.dictionaries(st.text(max_size=6), JSON_VALUES,
                                                               max_size=3), max_size=3),
                                      JSON_VALUES),
                  "error": st.one_of(st.none(), st.dictionaries(st.text(max_size=6),
                                                                JSON_VALUES, max_size=2),
                                     JSON_VALUES)})


@FAST
@given(st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                 REPORTISH.map(lambda v: json.dumps(v).encode()),
                 st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)))
def test_a_report_loads_or_is_one_usage_error(raw):
    try:
        data = parse_report(raw)
    except UsageError as exc:
        assert exc.exit_code == EXIT_USAGE and "report" in str(exc)
        return
    assert data["tool"] == "pgreconcile" and isinstance(data["ok"], bool)
    assert all(isinstance(s, dict) for s in data["stages"])


def test_a_report_read_back_renders_whatever_its_stages_hold(tmp_path):
    """What load_report accepts, the human rendering draws without raising."""
    from pgreconcile.cli.render import make_console, render
    data = {"tool": "pgreconcile", "ok": False, "stages": [{"stage": 1, "error": "boom",
                                                            "seconds": "x"}, {}],
            "error": {"error": None}}
    check_report(data)
    render("report", {"files": {}}, {"report": data}, console=make_console())


@pytest.mark.parametrize("content, why", [
    (b"", "not JSON"), (b"[]", "array"), (b"\xff\xfe", "not UTF-8"),
    (b'{"tool": "pgreconcile", "ok": true, "stages": "all"}', "stages"),
    (b'{"tool": "pgreconcile", "ok": 1, "stages": []}', "ok"),
    (b"[" * 100000, "not JSON"),
])
def test_malformed_report_files_are_usage_errors(tmp_path, content, why):
    path = tmp_path / "report.json"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=why):
        load_report(path)


def test_a_directory_or_missing_report_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="directory"):
        load_report(tmp_path)
    with pytest.raises(UsageError, match="cannot read"):
        load_report(tmp_path / "nope.json")


# --------------------------------------------------------------------------- options
OPTION_VALUES = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", " ", "-1", "0", "1", str(MAX_COUNT + 1), "9" * 5000, "nan", "inf", "-inf", "1e9",
     "\0", "\udcff", "x" * 5000]))


@OPTIONS
@given(st.sampled_from(["--keep", "--jobs", "--out-dir", "--compress", "--format"]),
       OPTION_VALUES)
def test_backup_options_parse_or_are_one_usage_error(option, value):
    try:
        args = PARSER.parse_args(["backup", f"{option}={value}"])
        check_options(args)
    except ReconcileError as exc:
        assert exc.exit_code == EXIT_USAGE
        assert len(str(exc)) < 700, "the message echoes an unbounded value"
        return
    if option in ("--keep", "--jobs"):
        assert 1 <= getattr(args, option[2:]) <= MAX_COUNT


@OPTIONS
@given(st.sampled_from(["--batch-size", "--retries", "--batch-delay", "--lock-timeout",
                        "--statement-timeout", "--maintenance-window", "--dsn"]),
       OPTION_VALUES)
def test_apply_options_parse_or_are_one_usage_error(option, value):
    try:
        args = PARSER.parse_args(["apply", "plan.json", "--no-backup", f"{option}={value}"])
        check_options(args)
    except ReconcileError as exc:
        assert exc.exit_code == EXIT_USAGE
        return
    if option == "--batch-delay":
        assert 0 <= args.batch_delay <= 3600


@pytest.mark.parametrize("argv", [
    ["window", "Sat 01:00-02:00\0", "--json"],
    ["window", "\udcff", "--json"],
    ["window", "-1h", "--json"],
    ["backup", "--keep", "-3", "--json"],
    ["apply", "p.json", "--batch-delay", "nan", "--json"],
    ["restore", "b.dump", "--target-db", "", "--json"],
    ["nosuchcommand", "--json"],
])
def test_main_renders_usage_errors_as_one_json_object(argv, capsys):
    """In process, so NUL and surrogates reach main() as they would from a caller (an OS
    argv cannot carry a NUL)."""
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["ok"] is False and document["exit_code"] == EXIT_USAGE
    assert document["error"] == "UsageError" and document["hint"]
    assert "Traceback" not in err and err.count("pgreconcile: UsageError:") == 1


def test_an_unexpected_exception_is_one_line_with_a_debug_hint(monkeypatch, capsys):
    import pgreconcile.runbook.window as window

    def broken(*_args, **_kw):
        raise ZeroDivisionError("postgresql://app:s3cr3t@db/x went wrong")
    monkeypatch.setattr(window, "window_status", broken)
    monkeypatch.delenv("PGRECONCILE_DEBUG", raising=False)
    assert main(["window", "Sat 01:00-02:00", "--json"]) == 1
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["error"] == "InternalError" and "--debug" in document["hint"]
    assert "s3cr3t" not in out + err and "Traceback" not in err
    assert main(["window", "Sat 01:00-02:00", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err and "s3cr3t" not in err


TOKENS = st.one_of(
    st.sampled_from(["window", "report", "--json", "--quiet", "-q", "--", "-", "--out-dir",
                     "--out-dir=", "--json=1", "--debug", "-1h", "Sat 01:00-02:00",
                     "daily 00:00-23:59 UTC", ";", "--maintenance-window", "\0", "\udcff",
                     "x" * 5000]),
    st.text(max_size=20))


@OPTIONS
@given(command=st.sampled_from(["window", "report"]), tokens=st.lists(TOKENS, max_size=5))
def test_main_never_raises_on_any_argv(tmp_path_factory, command, tokens):
    """Any argv for the two commands that need no database: main() returns an exit code
    from docs/cli.md (or argparse's --help exits 0), and with --json the output is one JSON
    document. `report` arguments are made to point into a fresh directory."""
    import contextlib
    import io
    where = tmp_path_factory.mktemp("argv")
    argv = [command, *(str(where / t) if command == "report" and t and not t.startswith("-")
                       else t for t in tokens)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help / -h
            assert exc.code == 0
            return
    assert code in (0, 1, 2), (argv, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert "pgreconcile: UsageError: " in err.getvalue()
    if "--json" in (argv[:argv.index("--")] if "--" in argv else argv) and code:
        document = json.loads(out.getvalue())
        assert document["ok"] is False and document["exit_code"] == code
