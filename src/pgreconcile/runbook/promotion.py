"""The promotion gate: production runs only what was rehearsed on staging.

A clean staging run (nothing refused, verify ok) writes a promotion record into a directory
(shared storage, or the Ansible controller): the digest of the migrations it ran against,
the digest of its plan's shape, the tool version, the verify result, when and where. A run
that requires a rehearsal (production) refuses before any change (no scratch clone, lock,
backup or ledger) unless a record with the same migrations digest and the same plan shape,
younger than the maximum age, is there; or unless an override with a reason is given, which
the report shows.

The plan's shape is what the run would change, not where: its steps' kind, table, SQL,
reverse SQL, lock and backfill (not the step ids' titles, row estimates, the database name
or the live fingerprint), plus the migrations `migrate` would apply. Staging and production
with the same drift have the same shape. A run with nothing to change (no step left to do,
no pending migration) needs no rehearsal: the record is about changes.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pgreconcile import __version__
from pgreconcile.canonical_json import dumps as canonical_dumps
from pgreconcile.errors import RehearsalMissing, UsageError
from pgreconcile.files import write_private_json

RECORD_FORMAT = 1
DEFAULT_MAX_AGE = "7d"
_AGE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SHAPE_FIELDS = ("kind", "table", "sql", "reverse", "lock", "lock_duration", "destructive",
                 "backfill")


def parse_max_age(text: str | int | float) -> int:
    """'7d', '36h', '90m', '0s', '3600' → seconds. Anything else: UsageError (exit 2)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text >= 0:
        return int(text)
    match = _AGE.match(str(text))
    if not match:
        raise UsageError(f"rehearsal max age {text!r} is not a duration",
                         hint="write it as a number and a unit: 7d, 36h, 90m, 0s")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _sha256(data) -> str:
    return hashlib.sha256(canonical_dumps(data).encode()).hexdigest()


def migrations_digest(migrations: dict | None, reference_fingerprint: str | None) -> str:
    """The Django project's digest over every migration file its graph holds; for a
    reference that is not a Django project, its schema fingerprint."""
    digest = (migrations or {}).get("migrations_digest")
    if digest:
        return f"django:{digest}"
    if reference_fingerprint:
        return f"schema:{reference_fingerprint}"
    raise UsageError("the promotion gate needs the migrations digest or the reference's "
                     "fingerprint; neither is known")


def plan_shape(plan: dict, pending_migrations: list[str] | None = None) -> dict:
    """What a run changes, without where: its steps' shape and the migrations to apply."""
    steps = [{key: step.get(key) for key in _SHAPE_FIELDS} for step in plan.get("steps", [])]
    return {"steps": steps, "migrate": sorted(pending_migrations or [])}


def plan_shape_digest(plan: dict, pending_migrations: list[str] | None = None) -> str:
    return _sha256(plan_shape(plan, pending_migrations))


def needs_rehearsal(plan: dict, pending_migrations: list[str] | None = None,
                    pending_steps: list | None = None) -> bool:
    """Only a run that changes something needs one: a step still to do (all of the plan's
    when `pending_steps` is not known) or a migration to apply."""
    steps = plan.get("steps") if pending_steps is None else pending_steps
    return bool(steps) or bool(pending_migrations)


@dataclass(frozen=True)
class Fingerprints:
    """The two digests a record is matched on."""

    migrations: str
    plan_shape: str
    changes: bool   # the plan changes something (steps or pending migrations)

    @classmethod
    def of(cls, plan: dict, migrations: dict | None, reference_fingerprint: str | None,
           pending_steps: list | None = None) -> Fingerprints:
        """`pending_steps`: the plan's steps not done yet in live (apply.probes), when
        known; a plan whose every step is done changes nothing."""
        pending = list((migrations or {}).get("pending") or [])
        return cls(migrations_digest(migrations, reference_fingerprint),
                   plan_shape_digest(plan, pending),
                   needs_rehearsal(plan, pending, pending_steps))

    def to_dict(self) -> dict:
        return {"migrations_digest": self.migrations, "plan_shape_digest": self.plan_shape,
                "changes": self.changes}


def record_name(prints: Fingerprints) -> str:
    return f"rehearsal-{prints.migrations.split(':')[-1][:16]}-{prints.plan_shape[:16]}.json"


def write_record(directory: str | Path, prints: Fingerprints, *, verify: dict,
                 source: dict, run_id: str | None = None, now: float | None = None) -> Path:
    """A clean run's promotion record, 0600, named after its digests (a newer rehearsal of
    the same change replaces the older one)."""
    when = time.time() if now is None else now
    record = {
        "format": RECORD_FORMAT, "kind": "pgreconcile-promotion-record",
        "migrations_digest": prints.migrations, "plan_shape_digest": prints.plan_shape,
        "tool_version": __version__, "verify": {"ok": bool(verify.get("ok")),
                                                "problems": list(verify.get("problems") or [])},
        "recorded_at": datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds"),
        "recorded_epoch": int(when), "source": dict(source), "run_id": run_id,
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return write_private_json(directory / record_name(prints), record)


def _records(directory: Path) -> list[tuple[Path, dict]]:
    found = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("rehearsal-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kind") == "pgreconcile-promotion-record":
            found.append((path, data))
    return found


def _age(data: dict, now: float) -> float:
    try:
        return now - float(data["recorded_epoch"])
    except (KeyError, TypeError, ValueError):
        return float("inf")


def _say(seconds: float) -> str:
    if seconds == float("inf"):
        return "of unknown age"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} old"
    return f"{int(seconds)}s old"


def check_rehearsal(directory: str | Path, prints: Fingerprints, *, max_age: str | int,
                    now: float | None = None) -> dict:
    """The gate. Returns what the report records: the matching record (path, when, source),
    or `{"needed": False}` when the run changes nothing. Raises RehearsalMissing (exit 4)
    saying what is missing: no record for these migrations, a different plan shape, or a
    record older than `max_age`."""
    limit = parse_max_age(max_age)
    if not prints.changes:
        return {"needed": False, "why": "nothing to change: no rehearsal needed",
                **prints.to_dict()}
    now = time.time() if now is None else now
    directory = Path(directory)
    records = _records(directory)
    same_migrations = [(p, d) for p, d in records
                       if d.get("migrations_digest") == prints.migrations]
    same = [(p, d) for p, d in same_migrations if d.get("plan_shape_digest") == prints.plan_shape
            and (d.get("verify") or {}).get("ok")]
    where = f"in {directory}"
    hint = ("run the same change on staging first (pgreconcile reconcile --rehearsal-dir DIR, "
            "or the playbook on the staging group), or override with a reason")
    if not same_migrations:
        raise RehearsalMissing(
            f"no rehearsal: no promotion record for these migrations "
            f"({prints.migrations[:23]}…) {where}; nothing was changed", hint=hint)
    if not same:
        raise RehearsalMissing(
            f"no rehearsal of this plan: the promotion record(s) for these migrations {where} "
            f"have a different plan shape (this plan: {prints.plan_shape[:12]}…, rehearsed: "
            + ", ".join(sorted({str(d.get('plan_shape_digest'))[:12] + '…'
                                for _, d in same_migrations}))
            + "); nothing was changed", hint=hint)
    path, data = min(same, key=lambda pd: _age(pd[1], now))
    age = _age(data, now)
    if age > limit:
        raise RehearsalMissing(
            f"rehearsal too old: the promotion record {path.name} is {_say(age)}, older than "
            f"the max age {max_age}; nothing was changed", hint=hint)
    return {"needed": True, "record": str(path), "recorded_at": data.get("recorded_at"),
            "source": data.get("source"), "tool_version": data.get("tool_version"),
            "age_seconds": int(max(age, 0)), "max_age": str(max_age), **prints.to_dict()}


@dataclass(frozen=True)
class PromotionGate:
    """What a run does about promotion: `directory` where records live, `require` a
    matching record before any change (production), `record` one after a clean run
    (staging), `override` a reason to proceed without one."""

    directory: str | None = None
    require: bool = False
    max_age: str = DEFAULT_MAX_AGE
    override: str | None = None

    def check(self, prints: Fingerprints) -> dict | None:
        """Before any change. None when no rehearsal is required."""
        if not self.require:
            return None
        if self.override:
            return {"overridden": True, "reason": self.override, **prints.to_dict()}
        if not self.directory:
            raise UsageError("a rehearsal is required but no rehearsal directory is given",
                             hint="pass --rehearsal-dir DIR (where staging wrote its record)")
        return {"overridden": False, **check_rehearsal(self.directory, prints,
                                                       max_age=self.max_age)}

    def preview(self, prints: Fingerprints) -> dict | None:
        """What check() would say, for a dry run (check mode): never raises the refusal,
        says it under `would_refuse`."""
        try:
            return self.check(prints)
        except (RehearsalMissing, UsageError) as exc:
            return {"needed": True, "would_refuse": str(exc), **prints.to_dict()}

    @property
    def records(self) -> bool:
        return bool(self.directory) and not self.require
