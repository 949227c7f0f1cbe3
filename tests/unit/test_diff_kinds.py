"""The diff of model v3's kinds on hand-built models (no database): what is significant,
what goes with another change, and the one line each side shows."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.schema.diff import describe_side, diff_schemas
from pgreconcile.schema.model import (
    Collation,
    Column,
    Comment,
    CompositeType,
    Constraint,
    Domain,
    DomainCheck,
    Extension,
    Function,
    Index,
    Privilege,
    Schema,
    Sequence,
    Table,
    TypeAttribute,
    View,
)


def _schema(**kw) -> Schema:
    return Schema(namespaces=("public",), **kw)


def _summary(diff) -> set[tuple]:
    return {(c.bucket, c.kind, c.object, c.attributes, c.cosmetic) for c in diff.changes}


def test_extension_version_is_significant_drift():
    diff = diff_schemas(_schema(extensions=(Extension("citext", "public", "1.5"),)),
                        _schema(extensions=(Extension("citext", "public", "1.6"),)))
    assert _summary(diff) == {("different", "extension", "citext", ("version",), False)}
    assert not diff.is_empty
    assert describe_side("extension", diff.changes[0].live) == "citext 1.5 in schema public"


def _sequence(**kw) -> Sequence:
    return Sequence("public", "t_id_seq", data_type="integer", maximum=2147483647,
                    owned_by="public.t.id", **kw)


def test_sequence_behind_only_when_live_is_behind():
    behind = _sequence(last_value=10, column_max=12)
    assert behind.behind
    assert not _sequence(last_value=12, column_max=12).behind
    assert not _sequence(last_value=None, column_max=None).behind
    assert _sequence(last_value=None, column_max=1).behind  # nextval would hand out 1
    table = Table("public", "t", columns=(Column("id", "integer", not_null=True),))
    diff = diff_schemas(_schema(tables=(table,), sequences=(behind,)),
                        _schema(tables=(table,), sequences=(_sequence(),)))
    assert _summary(diff) == {("different", "sequence", "public.t_id_seq", ("behind",), False)}
    assert describe_side("sequence", diff.changes[0].live) == (
        "integer start 1 increment 1, owned by public.t.id, last value 10, column max 12")
    # the expected side behind is no drift of live
    assert diff_schemas(_schema(tables=(table,), sequences=(_sequence(),)),
                        _schema(tables=(table,), sequences=(behind,))).changes == ()


def _parent() -> Table:
    return Table("public", "ev",
                 columns=(Column("id", "bigint", not_null=True),
                          Column("day", "date", not_null=True)),
                 constraints=(Constraint("ev_pkey", "pk", ("id", "day"),
                                         "PRIMARY KEY (id, day)", index="ev_pkey"),),
                 indexes=(Index("ev_pkey", ("id", "day"), "CREATE UNIQUE INDEX ev_pkey ON "
                                "ONLY public.ev USING btree (id, day)", unique=True,
                                primary=True, constraint="ev_pkey"),
                          Index("ev_day_idx", ("day",),
                                "CREATE INDEX ev_day_idx ON ONLY public.ev USING btree (day)")),
                 partition_key="RANGE (day)")


def _partition(parent: Table, name: str = "ev_1", **kw) -> Table:
    return Table("public", name, columns=parent.columns,
                 constraints=(Constraint(f"{name}_pkey", "pk", ("id", "day"),
                                         "PRIMARY KEY (id, day)", index=f"{name}_pkey"),),
                 indexes=(Index(f"{name}_pkey", ("id", "day"), f"CREATE UNIQUE INDEX "
                                f"{name}_pkey ON public.{name} USING btree (id, day)",
                                unique=True, primary=True, constraint=f"{name}_pkey"),
                          Index(f"{name}_day_idx", ("day",), f"CREATE INDEX {name}_day_idx "
                                f"ON public.{name} USING btree (day)")),
                 partition_of="public.ev",
                 partition_bound="FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')", **kw)


def test_a_partitions_clones_are_reported_on_the_parent_only():
    parent = _parent()
    live_parent = Table("public", "ev", columns=parent.columns[:1] + (
        Column("day", "timestamp", not_null=True),), partition_key="RANGE (day)")
    live_child = Table("public", "ev_1", columns=live_parent.columns,
                       partition_of="public.ev",
                       partition_bound="FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    diff = diff_schemas(_schema(tables=(live_parent, live_child)),
                        _schema(tables=(parent, _partition(parent))))
    assert _summary(diff) == {
        ("different", "column", "public.ev.day", ("type",), False),
        ("missing", "constraint", "public.ev.ev_pkey", (), False),
        ("missing", "index", "public.ev.ev_day_idx", (), False),
    }


def test_a_missing_partition_is_one_change_and_other_attributes_are_the_tables():
    parent = _parent()
    diff = diff_schemas(_schema(tables=(parent,)),
                        _schema(tables=(parent, _partition(parent))))
    assert _summary(diff) == {("missing", "table", "public.ev_1", (), False)}
    child = _partition(parent)
    live_child = replace(child, partition_bound="DEFAULT", unlogged=True)
    diff = diff_schemas(_schema(tables=(parent, live_child)), _schema(tables=(parent, child)))
    assert _summary(diff) == {
        ("different", "table", "public.ev_1", ("unlogged", "partition_bound"), False)}


def test_new_kinds_missing_extra_different():
    f1 = Function("public", "f", "a integer", returns="integer", definition="CREATE … 1")
    f2 = Function("public", "f", "a text", returns="text")
    dom = Domain("public", "d", "integer", checks=(DomainCheck("d_check", "CHECK (VALUE > 0)"),))
    typ = CompositeType("public", "pair", (TypeAttribute("a", "integer"),))
    col = Collation("public", "c", lc_collate="C", lc_ctype="C")
    live = _schema(functions=(f1,), domains=(dom,), composite_types=(typ,), collations=(col,))
    expected = _schema(
        functions=(Function("public", "f", "a integer", returns="integer",
                            definition="CREATE … 2"), f2),
        domains=(Domain("public", "d", "integer", not_null=True,
                        checks=(DomainCheck("other_name", "CHECK (VALUE > 0)"),)),),
        composite_types=(CompositeType("public", "pair", (TypeAttribute("a", "bigint"),)),),
        collations=(Collation("public", "c", lc_collate="C", lc_ctype="POSIX"),))
    assert _summary(diff_schemas(live, expected)) == {
        ("different", "function", "public.f(a integer)", ("definition",), False),
        ("missing", "function", "public.f(a text)", (), False),
        ("different", "domain", "public.d", ("not_null",), False),
        ("different", "type", "public.pair", ("attributes",), False),
        ("different", "collation", "public.c", ("lc_ctype",), False),
    }


def test_comments_and_grants_of_extra_objects_go_with_them():
    extra = Table("public", "x", columns=(Column("a", "integer"),))
    live = _schema(tables=(extra,),
                   comments=(Comment("table", "public.x", "extra"),
                             Comment("column", "public.x.a", "extra column")),
                   privileges=(Privilege("table", "public.x", "ro", ("SELECT",)),))
    assert _summary(diff_schemas(live, _schema())) == {
        ("extra", "table", "public.x", (), False)}


def test_every_new_kind_has_a_one_line_description():
    assert describe_side("function", Function("public", "p", "IN a text", kind="p",
                                              language="plpgsql").to_dict()) == \
        "PROCEDURE public.p(IN a text) LANGUAGE plpgsql"
    assert describe_side("domain", Domain(
        "public", "d", "text", not_null=True, default="'x'::text", collation='"C"',
        checks=(DomainCheck("c", "CHECK (VALUE <> ''::text) NOT VALID", False),)).to_dict()) \
        == "text COLLATE \"C\" DEFAULT 'x'::text NOT NULL CHECK (VALUE <> ''::text) NOT VALID"
    assert describe_side("type", CompositeType("public", "t", (
        TypeAttribute("a", "integer"), TypeAttribute("b", "text", '"C"'))).to_dict()) == \
        '(a integer, b text COLLATE "C")'
    assert describe_side("collation", Collation(
        "public", "c", provider="i", locale="und-u-ks-level2",
        deterministic=False).to_dict()) == \
        "provider icu, locale und-u-ks-level2, nondeterministic"
    assert describe_side("comment", Comment("table", "public.t", "line one\nline two")
                         .to_dict()) == "'line one line two'"
    assert describe_side("privilege", Privilege("table", "public.t", "PUBLIC",
                                                ("INSERT", "SELECT")).to_dict()) == \
        "INSERT, SELECT to PUBLIC"
    assert describe_side("table", Table("public", "t", inherits=("public.a",)).to_dict()) == \
        "table public.t INHERITS (public.a) (0 columns)"
    assert describe_side("table", Table("public", "p", partition_key="HASH (id)")
                         .to_dict()) == "table public.p PARTITION BY HASH (id) (0 columns)"


def test_reports_show_every_new_kind_as_one_liners():
    from pgreconcile.report.render import render_html, render_markdown

    expected = _schema(
        functions=(Function("public", "f", "a integer", returns="integer",
                            definition="CREATE OR REPLACE FUNCTION public.f(a integer)\n…"),),
        domains=(Domain("public", "d", "integer",
                        checks=(DomainCheck("c", "CHECK (VALUE > 0)"),)),),
        composite_types=(CompositeType("public", "t", (TypeAttribute("a", "integer"),)),),
        collations=(Collation("public", "c", lc_collate="C", lc_ctype="C"),),
        comments=(Comment("schema", "public", "the schema"),),
        privileges=(Privilege("table", "public.t", "ro", ("SELECT",)),),
        tables=(Table("public", "p", partition_of="public.q", partition_bound="DEFAULT"),))
    diff = diff_schemas(_schema(), expected).to_dict()
    assert {c["kind"] for c in diff["changes"]} == {
        "function", "domain", "type", "collation", "comment", "privilege", "table"}
    markdown = render_markdown({"diff_before": diff, "diff_after": diff})
    for line in ("FUNCTION public.f(a integer) RETURNS integer LANGUAGE sql",
                 "integer CHECK (VALUE > 0)", "(a integer)", "provider libc, lc_collate C",
                 "'the schema'", "SELECT to ro", "PARTITION OF public.q DEFAULT"):
        assert line in markdown, line
    assert "FUNCTION public.f(a integer)" in render_html({"diff_before": diff})


def test_grants_and_comments_on_identity_sequences_are_compared():
    seq = Sequence("public", "t_id_seq", owned_by="public.t.id")
    table = Table("public", "t", columns=(Column("id", "bigint", not_null=True,
                                                 identity="d"),))
    live = _schema(tables=(table,), identity_sequences=(seq,),
                   privileges=(Privilege("sequence", "public.t_id_seq", "ro", ("USAGE",)),),
                   comments=(Comment("sequence", "public.t_id_seq", "ids"),))
    expected = _schema(tables=(table,), identity_sequences=(seq,))
    assert _summary(diff_schemas(live, expected)) == {
        ("extra", "privilege", "public.t_id_seq:ro", (), False),
        ("extra", "comment", "sequence:public.t_id_seq", (), False)}


def test_view_options_are_significant_drift_and_default_to_none_in_old_dicts():
    plain = View("public", "v", " SELECT 1;")
    guarded = replace(plain, options=("check_option=cascaded", "security_barrier=true"))
    diff = diff_schemas(_schema(views=(plain,)), _schema(views=(guarded,)))
    assert _summary(diff) == {("different", "view", "public.v", ("options",), False)}
    assert diff.changes[0].expected["options"] == ["check_option=cascaded",
                                                   "security_barrier=true"]
    assert View.from_dict(guarded.to_dict()) == guarded
    old = plain.to_dict()
    del old["options"]
    assert View.from_dict(old).options == ()
