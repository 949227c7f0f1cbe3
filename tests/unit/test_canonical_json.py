"""canonical_json.dumps is json.dumps(compact, sorted, default=str), whichever encoder runs:
fingerprints and piped `--json` output must not change with the encoder."""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from pgreconcile import canonical_json
from pgreconcile.plan.steps import StepKind
from pgreconcile.schema.model import Column, Constraint, Index, Schema, Table, fingerprint_of


def stdlib(data) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, default=str)


CASES = {
    "nested": {"b": [1, 2.5, None, True, {"z": "x", "a": []}], "a": {"k": -3}},
    "datetimes": {"at": datetime(2026, 11, 28, 6, 58, 37, tzinfo=timezone.utc),
                  "on": date(2026, 11, 28)},
    "paths and uuids": {"file": Path("/tmp/plan.json"), "id": uuid.UUID(int=7)},
    "decimal": {"size": Decimal("1.50")},
    "str enum": {"kind": StepKind.BACKFILL},
    "int keys": {"2": "two", "10": "ten"},
    "non-ascii": {"name": "café_ü", "emoji": "\N{SNOWMAN}"},
    "quotes and control": {"s": 'a "quoted"\n\ttab \\ back'},
    "big ints": {"max": 9223372036854775807, "min": -9223372036854775808},
    "empty": {},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_text_as_the_standard_library(name):
    assert canonical_json.dumps(CASES[name]) == stdlib(CASES[name])


def test_non_ascii_text_is_escaped_as_the_standard_library_escapes_it():
    text = canonical_json.dumps({"name": "café"})
    assert text == '{"name":"caf\\u00e9"}' and text.isascii()


def _schema() -> Schema:
    payment = Table("public", "treasury_paymént", columns=(
        Column("id", "integer", not_null=True, default="nextval('public.s'::regclass)"),
        Column("amount", "numeric(12,2)"), Column("note", "text", collation='"C"')),
        constraints=(Constraint("p_pkey", "pk", ("id",), "PRIMARY KEY (id)",
                                index="p_pkey"),),
        indexes=(Index("p_pkey", ("id",), "CREATE UNIQUE INDEX p_pkey ON public.t USING btree "
                       "(id)", unique=True, primary=True, constraint="p_pkey"),),
        row_estimate=12)
    return Schema(namespaces=("public",), tables=(payment,), server_version=180000,
                  database="pettycash")


def test_fingerprint_is_the_sha256_of_the_canonical_structure_as_it_always_was():
    schema = _schema()
    canonical = schema.canonical()
    old = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=True).encode("ascii")).hexdigest()
    assert schema.fingerprint() == old == fingerprint_of(schema.to_dict())


def test_fingerprint_ignores_what_a_restore_does_not_keep():
    schema = _schema()
    moved = Schema(namespaces=schema.namespaces, server_version=170000, database="copy",
                   tables=(Table("public", "treasury_paymént",
                                 columns=tuple(reversed(schema.tables[0].columns)),
                                 constraints=schema.tables[0].constraints,
                                 indexes=schema.tables[0].indexes, row_estimate=99),))
    assert moved.fingerprint() == schema.fingerprint()
    renamed = Schema(namespaces=schema.namespaces, tables=(Table(
        "public", "treasury_payment", columns=schema.tables[0].columns),))
    assert renamed.fingerprint() != schema.fingerprint()


def test_canonical_of_leaves_the_model_dict_unchanged():
    d = _schema().to_dict()
    before = json.dumps(d, sort_keys=True)
    fingerprint_of(d)
    assert json.dumps(d, sort_keys=True) == before


def test_the_fast_encoder_is_installed_so_the_cases_above_test_it():
    assert canonical_json.orjson is not None, "orjson is a dependency (pyproject.toml)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_without_orjson_the_standard_library_gives_the_same_text(name, monkeypatch):
    monkeypatch.setattr(canonical_json, "orjson", None)
    assert canonical_json.dumps(CASES[name]) == stdlib(CASES[name])
