"""Reading a run's report.json back (`pgreconcile report`): one UsageError (exit 2) for
anything that is not a report, never a traceback.

A report is a JSON object written by report/build.py: `tool` is "pgreconcile", `ok` a
boolean, `stages` a list of objects, `error` null or an object. Other keys are rendered
as found (the templates tolerate missing and odd sections), so a report of an older
version still renders.
"""
from __future__ import annotations

import json
from pathlib import Path

from pgreconcile.errors import UsageError

#: A report is a few hundred kilobytes; more is not a report (and would be read whole).
MAX_BYTES = 64 * 1024 * 1024
_HINT = "pass the report.json a `pgreconcile reconcile` run wrote into its --report-dir"


def load_report(path: str | Path) -> dict:
    """The report at `path`, checked to be one; UsageError naming what is wrong."""
    source = Path(path)
    try:
        if source.is_dir():
            raise UsageError(f"cannot read {source}: it is a directory", hint=_HINT)
        size = source.stat().st_size
        if size > MAX_BYTES:
            raise UsageError(f"cannot read {source}: {size} bytes is too large for a report",
                             hint=_HINT)
        raw = source.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}", hint=_HINT) from None
    return parse_report(raw, source)


def parse_report(raw: bytes | str, source: str | Path = "report.json") -> dict:
    """`raw` (the bytes of a report.json) as a report dict, or UsageError."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        data = json.loads(text)
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {source}: it is not UTF-8 text", hint=_HINT) from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot read {source}: not JSON ({reason})", hint=_HINT) from None
    check_report(data, source)
    return data


def check_report(data, source: str | Path = "report.json") -> None:
    """UsageError unless `data` has the shape of a pgreconcile report."""
    def bad(why: str):
        return UsageError(f"{source} is not a pgreconcile report: {why}", hint=_HINT)
    if not isinstance(data, dict):
        raise bad(f"it holds a JSON {_json_type(data)}, not an object")
    if data.get("tool") != "pgreconcile":
        raise bad('its "tool" is not "pgreconcile"')
    if not isinstance(data.get("ok"), bool):
        raise bad('"ok" is not true or false')
    stages = data.get("stages")
    if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages):
        raise bad('"stages" is not a list of objects')
    if data.get("error") is not None and not isinstance(data["error"], dict):
        raise bad('"error" is neither null nor an object')


def _json_type(value) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)
