"""Plan.from_dict over hostile input (issue 13, points 2 and 3): whatever plan.json holds,
reading it gives a Plan or one clear ReconcileError (UsageError exit 2, PlanTampered exit
4), never another exception; an edit to anything apply acts on is refused; `destructive`
is derived from the step, not taken from the file."""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgreconcile.errors import EXIT_REFUSED, EXIT_USAGE, PlanTampered, UsageError
from pgreconcile.plan.destructive import statement_is_destructive, step_is_destructive
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import Plan, Step, StepKind, plan_digest

from .builders import seed

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

KEEP = make_plan(*seed(), strategy="keep")
SWAP = make_plan(*seed(), strategy="swap")
PLANS = {"keep": json.loads(json.dumps(KEEP.to_dict())),
         "swap": json.loads(json.dumps(SWAP.to_dict()))}

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 80), max_value=2 ** 80)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


def _load(data) -> Plan | Exception:
    """Plan.from_dict(data), or the ReconcileError it raised (anything else fails the test)."""
    try:
        return Plan.from_dict(data)
    except (UsageError, PlanTampered) as exc:
        assert exc.exit_code in (EXIT_USAGE, EXIT_REFUSED)
        assert str(exc) and exc.hint
        return exc


def _paths(value, prefix=()):
    """Every path (tuple of keys and indexes) inside `value`, the root excluded."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _set(data, path, value):
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _get(data, path):
    for key in path:
        data = data[key]
    return data


# Paths whose value apply never reads: squawk's findings and the derived list of ids.
_FREE = ("lint", "destructive")
ALL_PATHS = [(name, p) for name, d in PLANS.items() for p in _paths(d)]


def test_a_plan_reads_back_equal_and_its_id_is_its_digest():
    for plan in (KEEP, SWAP):
        assert plan.id == plan_digest(plan) and len(plan.id) == 16
        assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@SETTINGS
@given(json_values)
def test_any_json_value_is_a_plan_or_one_clear_error(data):
    assert isinstance(_load(data), Exception)  # nothing random is a sealed plan


@SETTINGS
@given(st.sampled_from(ALL_PATHS), json_values)
def test_any_field_replaced_by_any_json_is_refused_unless_apply_ignores_it(where, value):
    name, path = where
    original = PLANS[name]
    edited = _set(original, path, value)
    result = _load(edited)
    if _get(original, path) == value and type(_get(original, path)) is type(value):
        assert result == Plan.from_dict(original)
    elif path[0] in _FREE:
        # Ignored by apply: read back equal to the original, or refused as malformed.
        assert result == Plan.from_dict(original) or isinstance(result, UsageError)
    else:
        assert isinstance(result, UsageError | PlanTampered), (path, value)


@SETTINGS
@given(st.sampled_from([w for w in ALL_PATHS if isinstance(_get(PLANS[w[0]], w[1]), str)
                        and w[1][0] not in _FREE and w[1] != ("id",)]),
       st.integers(min_value=0), st.characters(codec="utf-8"))
def test_one_character_changed_in_any_string_is_refused_as_tampered(where, at, char):
    name, path = where
    text = _get(PLANS[name], path)
    at = at % (len(text) + 1)
    edited_text = text[:at] + char + text[at + 1:]
    if edited_text == text:
        return
    result = _load(_set(PLANS[name], path, edited_text))
    # A changed kind, strategy, … can also be refused as malformed before the digest.
    assert isinstance(result, PlanTampered | UsageError), (path, edited_text)
    if path[0] in ("database", "live_fingerprint") or path[-1] in ("sql", "probe", "precheck"):
        assert isinstance(result, PlanTampered)


@pytest.mark.parametrize("name", ["keep", "swap"])
def test_every_key_deleted_or_added_is_refused(name):
    data = PLANS[name]
    for path in _paths(data):
        parent = _get(data, path[:-1])
        if isinstance(parent, dict) and not (path[0] == "lint" and len(path) > 2):
            trimmed = copy.deepcopy(data)
            del _get(trimmed, path[:-1])[path[-1]]
            if path[-1] == "why":  # optional: a note without why is a different note
                assert isinstance(_load(trimmed), PlanTampered)
            else:
                assert isinstance(_load(trimmed), UsageError), path
    places = [[], ["steps", 0], ["scope"]]
    places += [["steps", n, "target"] for n, s in enumerate(data["steps"]) if s["target"]][:1]
    places += [["residual", 0]] if data["residual"] else []
    for where in places:
        widened = copy.deepcopy(data)
        _get(widened, where)["surprise"] = 1
        result = _load(widened)
        assert isinstance(result, UsageError) and "surprise" in str(result)


def test_flipping_destructive_on_any_step_is_refused_as_tampered():
    assert SWAP.destructive_steps, "the swap plan drops the old key: destructive"
    for n, step in enumerate(PLANS["swap"]["steps"]):
        edited = _set(PLANS["swap"], ("steps", n, "destructive"), not step["destructive"])
        err = _load(edited)
        assert isinstance(err, PlanTampered) and err.exit_code == EXIT_REFUSED
        assert "edited" in str(err) and "pgreconcile plan --out" in err.hint


def test_destructive_is_derived_even_when_the_file_is_resealed():
    """Someone who edits the file and recomputes the digest still cannot make a DROP look
    harmless: the classifier marks it on load."""
    step = replace(KEEP.steps[0], sql=('DROP TABLE "public"."treasury_payment"',),
                   destructive=False)
    forged = replace(KEEP, steps=(step, *KEEP.steps[1:])).sealed()
    assert not forged.steps[0].destructive
    loaded = Plan.from_dict(json.loads(json.dumps(forged.to_dict())))
    assert loaded.steps[0].destructive and loaded.destructive_steps[0].id == step.id


def test_huge_numbers_unicode_and_wrong_types_are_refused_with_the_field_named():
    base = PLANS["keep"]
    cases = [(("steps", 0, "estimated_rows"), 10 ** 30),
             (("steps", 0, "estimated_seconds"), float("inf")),
             (("steps", 0, "estimated_rows"), True),
             (("steps", 0, "sql"), "DROP TABLE x"),
             (("steps", 0, "sql", 0), None),
             (("steps", 0, "kind"), "teleport"),
             (("steps", 0, "title"), "nul \x00 here"),
             (("strategy",), "drop"),
             (("scope",), []),
             (("steps",), {})]
    for path, value in cases:
        err = _load(_set(base, path, value))
        assert isinstance(err, UsageError), path
        assert "malformed" in str(err) and str(path[-1]) in str(err), str(err)
    # Unicode where a name may be: a valid string, so only the digest refuses it.
    err = _load(_set(base, ("database",), "pettycash\u202e\ud800"))
    assert isinstance(err, PlanTampered)
    str(err).encode("ascii")  # the message quotes nothing it cannot print


@pytest.mark.parametrize("statement", [
    'DROP TABLE "public"."t"', "drop   schema app cascade", 'ALTER TABLE t DROP COLUMN "c"',
    "ALTER TABLE t DROP c", "ALTER TABLE t DROP IF EXISTS c", "TRUNCATE t",
    "DELETE FROM t WHERE true", 'UPDATE "public"."t" AS x SET c = 1', "ALTER TABLE t SET UNLOGGED",
    "REVOKE SELECT ON t FROM app", "ALTER EXTENSION citext UPDATE TO '1.6'",
    "DROP/**/TABLE t", "DROP -- hidden\n TABLE t", "ALTER TYPE mood DROP ATTRIBUTE a",
    "DO $$ BEGIN EXECUTE 'x'; TRUNCATE t; END $$", "ALTER TABLE p DETACH PARTITION c",
    "DO $x$ BEGIN CREATE FUNCTION f() RETURNS int AS $f$SELECT 1$f$ LANGUAGE sql; "
    "DELETE FROM t; END $x$",
])
def test_classifier_flags_statements_that_lose_data(statement):
    assert statement_is_destructive(statement)


@pytest.mark.parametrize("statement", [
    "ALTER TABLE t ALTER COLUMN c DROP DEFAULT", "ALTER TABLE t ALTER COLUMN c DROP NOT NULL",
    "ALTER TABLE t DROP CONSTRAINT IF EXISTS t_c_check", 'DROP INDEX CONCURRENTLY "public"."i"',
    "DROP VIEW IF EXISTS v", "DROP TRIGGER tr ON t", "CREATE INDEX CONCURRENTLY i ON t (c)",
    "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE "
    "NOT VALID", "GRANT SELECT, TRUNCATE ON t TO app", "ALTER TABLE t VALIDATE CONSTRAINT f",
    "LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE",
    "CREATE OR REPLACE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS "
    "$function$BEGIN UPDATE t SET n = n + 1; DELETE FROM q; RETURN NEW; END$function$",
])
def test_classifier_leaves_statements_that_keep_every_row(statement):
    assert not statement_is_destructive(statement)


def _retype(new: str, old: str | None, using: str = "") -> Step:
    return Step("01-type", "t", "r", StepKind.DDL, "public.t",
                sql=(f'ALTER TABLE "public"."t" ALTER COLUMN "c" TYPE {new}{using}',),
                reverse=(f'ALTER TABLE "public"."t" ALTER COLUMN "c" TYPE {old}',)
                if old else ())


def test_a_type_change_is_destructive_unless_its_reverse_proves_a_widening():
    assert not step_is_destructive(_retype("character varying(20)", "character varying(10)"))
    assert not step_is_destructive(_retype("text", "character varying(10)"))
    assert step_is_destructive(_retype("character varying(5)", "character varying(10)"))
    assert step_is_destructive(_retype("integer", "bigint"))
    assert step_is_destructive(_retype("text", None))  # nothing proves what it was
    assert step_is_destructive(_retype("integer", "text", ' USING ("c"::integer)'))


def test_the_planner_marks_what_the_classifier_finds():
    for plan in (KEEP, SWAP):
        for step in plan.steps:
            assert step.destructive or not step_is_destructive(step), step.id


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00garbage", b"[" * 100_000 + b"]" * 100_000,
                                 b'{"format": 2}', b"", b"null", b"1e999"])
def test_load_plan_turns_any_bytes_into_one_usage_error_naming_the_file(tmp_path, raw):
    from pgreconcile.runbook.stages import load_plan
    path = tmp_path / "plan.json"
    path.write_bytes(raw)
    with pytest.raises(UsageError) as err:
        load_plan(path)
    assert str(path) in str(err.value) and err.value.hint
    with pytest.raises(UsageError, match="cannot read plan"):
        load_plan(tmp_path)  # a directory
