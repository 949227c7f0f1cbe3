"""Schema models built by hand for the planner's unit tests: no database.

The seed shape is the example project's drift: `treasury_payment` has an integer `id`
primary key live, and the reference expects a `payment_id` uuid primary key.
"""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.schema.diff import Change, Diff, diff_schemas
from pgreconcile.schema.model import Column, Constraint, Enum, Extension, Index, Schema, Table

PAYMENT = "public.treasury_payment"


def pk(table: str, *columns: str, name: str | None = None) -> Constraint:
    cols = ", ".join(columns)
    return Constraint(name or f"{table}_pkey", "pk", tuple(columns), f"PRIMARY KEY ({cols})",
                      index=name or f"{table}_pkey")


def payment_columns() -> tuple[Column, ...]:
    return (Column("reference", "character varying(40)", not_null=True),
            Column("amount", "numeric(12,2)", not_null=True),
            Column("status", "character varying(20)", not_null=True))


def seed_live(rows: int = 5000, extra_tables: tuple[Table, ...] = ()) -> Schema:
    table = Table("public", "treasury_payment",
                  columns=(Column("id", "integer", not_null=True,
                                  default="nextval('public.treasury_payment_id_seq'::regclass)"),
                           *payment_columns()),
                  constraints=(pk("treasury_payment", "id"),),
                  indexes=(Index("treasury_payment_pkey", ("id",),
                                 "CREATE UNIQUE INDEX treasury_payment_pkey ON "
                                 "public.treasury_payment USING btree (id)", unique=True,
                                 primary=True, constraint="treasury_payment_pkey"),),
                  row_estimate=rows)
    return Schema(namespaces=("public",), tables=tuple(sorted(
        (table, *extra_tables), key=lambda t: t.qualified_name)), database="pettycash",
        server_version=180000)


def seed_expected() -> Schema:
    table = Table("public", "treasury_payment",
                  columns=(Column("payment_id", "uuid", not_null=True), *payment_columns()),
                  constraints=(pk("treasury_payment", "payment_id"),),
                  indexes=(Index("treasury_payment_pkey", ("payment_id",),
                                 "CREATE UNIQUE INDEX treasury_payment_pkey ON "
                                 "public.treasury_payment USING btree (payment_id)",
                                 unique=True, primary=True, constraint="treasury_payment_pkey"),),
                  row_estimate=0)
    return Schema(namespaces=("public",), tables=(table,), database="reference")


def refund_table(not_null: bool = True) -> Table:
    """A live table whose foreign key points at the old key (the swap must move it)."""
    return Table("public", "treasury_refund",
                 columns=(Column("id", "integer", not_null=True,
                                 default="nextval('public.treasury_refund_id_seq'::regclass)"),
                          Column("payment_id", "integer", not_null=not_null),
                          Column("amount", "numeric(12,2)", not_null=True)),
                 constraints=(pk("treasury_refund", "id"),
                              Constraint("treasury_refund_payment_id_fkey", "fk", ("payment_id",),
                                         "FOREIGN KEY (payment_id) REFERENCES "
                                         "public.treasury_payment(id) ON DELETE CASCADE",
                                         ref_table=PAYMENT, ref_columns=("id",),
                                         on_delete="CASCADE", on_update="NO ACTION")),
                 row_estimate=600)


def seed(rows: int = 5000, extra_tables: tuple[Table, ...] = ()) -> tuple[Schema, Schema, Diff]:
    live, expected = seed_live(rows, extra_tables), seed_expected()
    return live, expected, diff_schemas(live, expected)


# -- the generic drift kinds: a parent/child pair --------------------------------------------
def child_columns() -> list[Column]:
    return [Column("id", "integer", not_null=True), Column("parent_id", "integer"),
            Column("name", "character varying(20)"),
            Column("qty", "integer", not_null=True, default="0"), Column("note", "text"),
            Column("feeling", "public.mood"), Column("price", "numeric(10,2)")]


def child(columns=None, constraints=(), indexes=(), rows: int = 500) -> Table:
    return Table("public", "child", columns=tuple(columns or child_columns()),
                 constraints=(pk("child", "id"), *constraints), indexes=tuple(indexes),
                 row_estimate=rows)


def parent(rows: int = 50) -> Table:
    return Table("public", "parent", columns=(Column("id", "integer", not_null=True),
                                              Column("code", "character varying(10)",
                                                     not_null=True)),
                 constraints=(pk("parent", "id"),), row_estimate=rows)


MOOD = Enum("public", "mood", ("sad", "ok", "happy"))


def pair(live_child: Table, expected_child: Table, *, live_enum: Enum = MOOD,
         expected_enum: Enum = MOOD, live_extensions=(), expected_extensions=(),
         live_extra: tuple[Table, ...] = ()) -> tuple[Schema, Schema, Diff]:
    def schema(c, enum, extensions, extra, name):
        return Schema(namespaces=("public",),
                      tables=tuple(sorted((c, parent(), *extra), key=lambda t: t.name)),
                      enums=(enum,), extensions=tuple(extensions), database=name)
    live = schema(live_child, live_enum, live_extensions, live_extra, "app")
    expected = schema(replace(expected_child, row_estimate=0), expected_enum,
                      expected_extensions, (), "reference")
    return live, expected, diff_schemas(live, expected)


def only(diff: Diff, kind: str, bucket: str) -> Change:
    found = [c for c in diff.significant if c.kind == kind and c.bucket == bucket]
    assert len(found) == 1, found
    return found[0]


def index(name: str, columns: tuple[str, ...], *, table: str = "child", unique: bool = False,
          predicate: str | None = None, method: str = "btree", tail: str | None = None) -> Index:
    body = tail or f"{method} ({', '.join(columns)})" + (f" WHERE {predicate}" if predicate
                                                         else "")
    return Index(name, columns, f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON "
                 f"public.{table} USING {body}", unique=unique, predicate=predicate,
                 method=method)


__all__ = ["Extension", "PAYMENT", "child", "child_columns", "index", "only", "pair", "parent",
           "pk", "refund_table", "seed", "seed_expected", "seed_live"]
