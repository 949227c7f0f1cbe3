"""A missing table: one CREATE TABLE step from the reference model, then its foreign keys,
planned before any other change refers to it. No database."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import Column, Constraint, Index, Sequence, Table

from .builders import Extension, child, pair, pk


def fk(table: str, column: str, ref: str, name: str | None = None) -> Constraint:
    return Constraint(name or f"{table}_{column}_fkey", "fk", (column,),
                      f"FOREIGN KEY ({column}) REFERENCES {ref}(id)", ref_table=ref,
                      ref_columns=("id",), on_delete="NO ACTION", on_update="NO ACTION")


def invoice(schema: str = "public") -> Table:
    return Table(schema, "invoice", columns=(
        Column("id", "integer", not_null=True,
               default=f"nextval('{schema}.invoice_id_seq'::regclass)"),
        Column("parent_id", "integer", not_null=True),
        Column("number", "character varying(20)", collation='"C"'),
        Column("total", "numeric(10,2)", not_null=True, default="0")),
        constraints=(pk("invoice", "id"),
                     Constraint("invoice_total_check", "check", ("total",),
                                "CHECK ((total >= (0)::numeric))"),
                     fk("invoice", "parent_id", "public.parent"),
                     Constraint("invoice_number_key", "unique", ("number",), "UNIQUE (number)",
                                index="invoice_number_key")),
        indexes=(Index("invoice_total", ("total",), "CREATE INDEX invoice_total ON "
                       f"{schema}.invoice USING btree (total)"),))


def with_expected(models, tables=(), sequences=(), namespaces=("public",)):
    live, expected, _ = models
    expected = replace(expected, namespaces=namespaces,
                       tables=tuple(sorted((*expected.tables, *tables),
                                           key=lambda t: t.qualified_name)),
                       sequences=tuple(sequences))
    return live, expected, diff_schemas(live, expected)


SEQ = Sequence("public", "invoice_id_seq", "integer", maximum=2147483647,
               owned_by="public.invoice.id")


def test_missing_table_is_one_create_table_step_then_its_foreign_keys():
    live, expected, diff = with_expected(pair(child(), child()), (invoice(),), (SEQ,))
    assert {(c.kind, c.bucket) for c in diff.significant} == {("table", "missing"),
                                                             ("sequence", "missing")}
    plan = make_plan(live, expected, diff)
    assert plan.unsupported == ()
    create, key = plan.steps
    t = '"public"."invoice"'
    ref = ObjectRef("table", "public", None, "invoice")
    assert (create.target, create.creates, create.table) == (ref, (ref,), "public.invoice")
    assert create.sql == (
        'CREATE SEQUENCE IF NOT EXISTS "public"."invoice_id_seq" AS integer INCREMENT BY 1 '
        "MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1 NO CYCLE",
        f'CREATE TABLE IF NOT EXISTS {t} (\n'
        """    "id" integer DEFAULT nextval('public.invoice_id_seq'::regclass) NOT NULL,\n"""
        '    "parent_id" integer NOT NULL,\n'
        '    "number" character varying(20) COLLATE "C",\n'
        '    "total" numeric(10,2) DEFAULT 0 NOT NULL,\n'
        '    CONSTRAINT "invoice_pkey" PRIMARY KEY (id),\n'
        '    CONSTRAINT "invoice_number_key" UNIQUE (number),\n'
        '    CONSTRAINT "invoice_total_check" CHECK ((total >= (0)::numeric))\n)',
        f'CREATE INDEX IF NOT EXISTS "invoice_total" ON {t} USING btree (total)',
        f'ALTER SEQUENCE "public"."invoice_id_seq" OWNED BY {t}."id"')
    assert create.reverse == (f"DROP TABLE IF EXISTS {t}",
                              'DROP SEQUENCE IF EXISTS "public"."invoice_id_seq"')
    assert create.probe == f"""SELECT to_regclass('{t}') IS NOT NULL"""
    assert key.sql == (f'ALTER TABLE {t} ADD CONSTRAINT "invoice_parent_id_fkey" FOREIGN KEY '
                       "(parent_id) REFERENCES public.parent(id)",)
    assert key.reverse == (f'ALTER TABLE IF EXISTS {t} DROP CONSTRAINT IF EXISTS '
                           '"invoice_parent_id_fkey"',)
    assert not any(s.destructive for s in plan.steps)


def test_missing_schema_comes_first_and_every_table_before_any_foreign_key():
    line = Table("billing", "a_line", columns=(Column("id", "integer", not_null=True),
                                               Column("invoice_id", "integer")),
                 constraints=(pk("a_line", "id"), fk("a_line", "invoice_id", "billing.invoice")))
    live, expected, diff = with_expected(pair(child(), child()),
                                         (invoice("billing"), line),
                                         (replace(SEQ, schema="billing",
                                                  owned_by="billing.invoice.id"),),
                                         namespaces=("billing", "public"))
    plan = make_plan(live, expected, diff)
    assert plan.unsupported == ()
    assert [s.title for s in plan.steps] == [
        "CREATE SCHEMA billing", "CREATE TABLE billing.a_line", "CREATE TABLE billing.invoice",
        "add foreign key a_line_invoice_id_fkey", "add foreign key invoice_parent_id_fkey"]
    assert plan.steps[0].sql == ('CREATE SCHEMA IF NOT EXISTS "billing"',)
    assert plan.steps[0].creates == (ObjectRef("schema", "", None, "billing"),)


def test_foreign_key_of_an_existing_table_to_a_missing_one_comes_after_it():
    kind = Table("public", "zz_kind", columns=(Column("id", "integer", not_null=True),),
                 constraints=(pk("zz_kind", "id"),))
    child_fk = child(constraints=(fk("child", "parent_id", "public.zz_kind"),))
    models = pair(child(), child_fk)
    live, expected, diff = with_expected(models, (kind,))
    plan = make_plan(live, expected, diff)
    titles = [s.title for s in plan.steps]
    assert titles[0] == "CREATE TABLE public.zz_kind"
    assert "add fk child_parent_id_fkey NOT VALID" in titles[1:]


def test_identity_and_generated_columns_are_written_as_such():
    t = Table("public", "ticket", columns=(
        Column("id", "bigint", not_null=True, identity="d"),
        Column("n", "integer", not_null=True, identity="a"),
        Column("d", "integer", generated="s", generation_expression="(n * 2)")),
        constraints=(pk("ticket", "id"),))
    live, expected, diff = with_expected(pair(child(), child()), (t,))
    (step,) = make_plan(live, expected, diff).steps
    assert '"id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL' in step.sql[0]
    assert '"n" integer GENERATED ALWAYS AS IDENTITY NOT NULL' in step.sql[0]
    assert '"d" integer GENERATED ALWAYS AS ((n * 2)) STORED' in step.sql[0]


def test_a_missing_extension_is_created_once_before_the_missing_table():
    models = pair(child(), child(), expected_extensions=[Extension("citext", "public", "1.6")])
    t = Table("public", "tag", columns=(Column("name", "public.citext"),))
    live, expected, diff = with_expected(models, (t,))
    assert [s.title for s in make_plan(live, expected, diff).steps] == [
        "CREATE EXTENSION citext", "CREATE TABLE public.tag"]


# -- partitions, inheritance, unlogged ---------------------------------------------------
def _missing(*tables, live_tables=()):
    from pgreconcile.schema.model import Schema
    live = Schema(namespaces=("public",), tables=tuple(live_tables))
    expected = Schema(namespaces=("public",), tables=tuple(sorted(
        (*live_tables, *tables), key=lambda t: t.qualified_name)))
    return live, expected, diff_schemas(live, expected)


EVENT_COLUMNS = (Column("id", "bigint", not_null=True), Column("day", "date", not_null=True),
                 Column("kind", "text"))
EVENT_PK = Constraint("event_pkey", "pk", ("id", "day"), "PRIMARY KEY (id, day)",
                      index="event_pkey")
EVENT = Table("public", "event", columns=EVENT_COLUMNS, constraints=(EVENT_PK,),
              indexes=(Index("event_kind", ("kind",), "CREATE INDEX event_kind ON ONLY "
                             "public.event USING btree (kind)"),),
              partition_key="RANGE (day)")


def partition(name: str, bound: str, *, own=()) -> Table:
    return Table("public", name, columns=EVENT_COLUMNS,
                 constraints=(replace(EVENT_PK, name=f"{name}_pkey", index=f"{name}_pkey"),
                              *own),
                 indexes=(Index(f"{name}_kind_idx", ("kind",), f"CREATE INDEX {name}_kind_idx"
                                f" ON public.{name} USING btree (kind)"),),
                 partition_of="public.event", partition_bound=bound)


def test_missing_partitioned_table_comes_before_its_partitions_which_add_nothing_inherited():
    p1 = partition("a_event_2024", "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    p2 = partition("event_default", "DEFAULT", own=(
        Constraint("event_default_kind_check", "check", ("kind",),
                   "CHECK ((kind <> ''::text))"),))
    live, expected, diff = _missing(p1, EVENT, p2)
    plan = make_plan(live, expected, diff)
    assert plan.unsupported == ()
    assert [s.title for s in plan.steps] == ["CREATE TABLE public.event",
                                             "CREATE TABLE public.a_event_2024",
                                             "CREATE TABLE public.event_default"]
    parent, first, default = plan.steps
    assert parent.sql[0].endswith(") PARTITION BY RANGE (day)")
    assert parent.sql[0].startswith('CREATE TABLE IF NOT EXISTS "public"."event" (')
    assert first.sql == ('CREATE TABLE IF NOT EXISTS "public"."a_event_2024" PARTITION OF '
                         "\"public\".\"event\" FOR VALUES FROM ('2024-01-01') TO "
                         "('2025-01-01')",)
    assert default.sql == (
        'CREATE TABLE IF NOT EXISTS "public"."event_default" PARTITION OF "public"."event" '
        "DEFAULT",
        'ALTER TABLE "public"."event_default" ADD CONSTRAINT "event_default_kind_check" '
        "CHECK ((kind <> ''::text))")


def test_missing_partition_of_an_existing_parent_with_an_index_of_its_own():
    p = replace(partition("event_2025", "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"),
                indexes=(Index("event_2025_day", ("day",), "CREATE INDEX event_2025_day ON "
                               "public.event_2025 USING btree (day)"),))
    live, expected, diff = _missing(p, live_tables=(EVENT,))
    (step,) = make_plan(live, expected, diff).steps
    assert step.sql[1] == ('CREATE INDEX IF NOT EXISTS "event_2025_day" ON '
                           '"public"."event_2025" USING btree (day)')
    assert len(step.sql) == 2


def test_missing_inheritance_child_has_its_local_columns_only_after_its_parent():
    base = Table("public", "z_base", columns=(Column("id", "integer", not_null=True),
                                              Column("note", "text")),
                 constraints=(Constraint("z_base_note_check", "check", ("note",),
                                         "CHECK ((note <> ''::text))"),
                              pk("z_base", "id", name="z_base_pkey")))
    kid = Table("public", "a_kid", columns=(*base.columns, Column("extra", "integer")),
                constraints=(base.constraints[0], pk("a_kid", "id")), inherits=("public.z_base",))
    live, expected, diff = _missing(kid, base)
    plan = make_plan(live, expected, diff)
    assert [s.title for s in plan.steps] == ["CREATE TABLE public.z_base",
                                             "CREATE TABLE public.a_kid"]
    assert plan.steps[1].sql == (
        'CREATE TABLE IF NOT EXISTS "public"."a_kid" (\n    "extra" integer,\n'
        '    CONSTRAINT "a_kid_pkey" PRIMARY KEY (id)\n) INHERITS ("public"."z_base")',)


def test_missing_unlogged_table_is_created_unlogged():
    t = Table("public", "cache", columns=(Column("k", "text"),), unlogged=True)
    (step,) = make_plan(*_missing(t)).steps
    assert step.sql[0].startswith('CREATE UNLOGGED TABLE IF NOT EXISTS "public"."cache"')


def _different(live: Table, expected: Table, *attributes, live_tables=()):
    from pgreconcile.plan.context import PlanContext
    from pgreconcile.plan.kinds import table as table_kind
    from pgreconcile.schema.diff import Change, Diff
    from pgreconcile.schema.model import Schema
    schema = Schema(tables=(live, *live_tables))
    change = Change("different", "table", live.qualified_name, live.qualified_name,
                    live.to_dict(), expected.to_dict(), attributes=attributes)
    return table_kind.plan(change, PlanContext(schema, schema, Diff((change,))))


def test_logged_and_unlogged_switch_is_a_rewrite_and_set_unlogged_is_destructive():
    t = child(rows=40000)
    (step,) = _different(t, replace(t, unlogged=True), "unlogged").steps
    assert step.sql == ('ALTER TABLE "public"."child" SET UNLOGGED',)
    assert step.reverse == ('ALTER TABLE "public"."child" SET LOGGED',)
    assert (step.lock, step.lock_duration, step.destructive) == ("ACCESS EXCLUSIVE", "rewrite",
                                                                 True)
    assert step.estimated_rows == 40000 and "relpersistence = 'u'" in step.probe
    (step,) = _different(replace(t, unlogged=True), t, "unlogged").steps
    assert step.sql == ('ALTER TABLE "public"."child" SET LOGGED',) and not step.destructive


def test_partition_parent_or_bound_that_differs_is_refused():
    p = partition("event_2024", "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    out = _different(p, replace(p, partition_bound="FOR VALUES FROM ('2024-01-01') TO "
                                                   "('2024-07-01')"), "partition_bound")
    assert out.steps == [] and "detaching and attaching" in out.unsupported[0].why


def test_inherits_added_and_removed():
    base = Table("public", "base", columns=(Column("id", "integer", not_null=True),))
    old = Table("public", "old", columns=(Column("id", "integer"),))
    t = Table("public", "kid", columns=(Column("id", "integer", not_null=True),
                                        Column("x", "text")), inherits=("public.old",))
    drop, add = _different(t, replace(t, inherits=("public.base",)), "inherits",
                           live_tables=(base, old)).steps
    assert drop.sql == ('ALTER TABLE "public"."kid" NO INHERIT "public"."old"',)
    assert add.sql == ('ALTER TABLE "public"."kid" INHERIT "public"."base"',)
    assert add.reverse == ('ALTER TABLE "public"."kid" NO INHERIT "public"."base"',)
    assert "pg_inherits" in add.probe and not add.destructive


def test_inherit_is_refused_when_the_child_lacks_a_parent_column():
    base = Table("public", "base", columns=(Column("id", "integer"), Column("y", "text")))
    t = Table("public", "kid", columns=(Column("id", "integer"),))
    out = _different(t, replace(t, inherits=("public.base",)), "inherits", live_tables=(base,))
    assert out.steps == [] and "lacks column y" in out.unsupported[0].why


def test_missing_domain_type_and_collation_come_before_the_new_table_that_uses_them():
    from pgreconcile.schema.model import Collation, CompositeType, Domain, Schema, TypeAttribute
    t = Table("public", "shelf", columns=(Column("id", "public.positive_int"),
                                          Column("p", "public.pair"),
                                          Column("label", "text", collation="public.posix2")))
    live = Schema(namespaces=("public",))
    expected = Schema(namespaces=("public",), tables=(t,),
                      domains=(Domain("public", "positive_int", "integer"),),
                      composite_types=(CompositeType("public", "pair",
                                                     (TypeAttribute("a", "integer"),)),),
                      collations=(Collation("public", "posix2", "c", None, "C", "C"),))
    plan = make_plan(live, expected, diff_schemas(live, expected))
    assert [s.title for s in plan.steps] == [
        "CREATE COLLATION public.posix2", "CREATE DOMAIN public.positive_int",
        "CREATE TYPE public.pair", "CREATE TABLE public.shelf"]
    assert plan.unsupported == ()
