"""The one quoting layer: identifiers always double-quoted, literals single-quoted."""
from __future__ import annotations

from pgreconcile.plan.sqltext import ident, idents, literal, qualified, qualified_name, regclass


def test_ident_quotes_every_name_and_doubles_embedded_quotes():
    assert ident("payment_id") == '"payment_id"'
    assert ident("Order") == '"Order"'                  # case kept, keyword harmless
    assert ident('we"ird') == '"we""ird"'
    assert idents(["a", "B"]) == '"a", "B"'


def test_qualified_names_split_schema_at_the_first_dot_only():
    assert qualified("public", "t") == '"public"."t"'
    assert qualified_name("public.treasury_payment") == '"public"."treasury_payment"'
    assert qualified_name("s.odd.name") == '"s"."odd.name"'


def test_literal_doubles_single_quotes():
    assert literal("it's") == "'it''s'"
    assert literal("") == "''"
    assert regclass(qualified("public", "t")) == "'\"public\".\"t\"'::regclass"
