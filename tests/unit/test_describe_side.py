"""describe_side: the one line the terminal and the report show for each side of a change."""
from __future__ import annotations

from pgreconcile.schema.diff import describe_side


def test_a_column_shows_its_type_and_every_property_that_differs_between_databases():
    column = {"name": "id", "type": "integer", "not_null": True,
              "default": "nextval('public.s'::regclass)", "identity": "", "generated": "",
              "generation_expression": None, "collation": '"C"'}
    assert describe_side("column", column) == \
        "integer NOT NULL DEFAULT nextval('public.s'::regclass) COLLATE \"C\""


def test_definitions_labels_and_names_are_shown_as_text_never_as_json():
    assert describe_side("constraint", {"definition": "CHECK (a > 0)", "validated": False}) \
        == "CHECK (a > 0) NOT VALID"
    assert describe_side("enum", {"labels": ["new", "paid"]}) == "new, paid"
    assert describe_side("schema", {"name": "billing"}) == "billing"
    assert describe_side("sequence", {"increment": 2, "cycle": False, "owned_by": None}) \
        == "increment 2, cycle False"
    assert describe_side("column", None) == "—"
