-- kinds: table, column, index, constraint, view, quoted-identifiers, combination
-- live
CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."Order" ("ID" integer PRIMARY KEY, "Customer Name" text NOT NULL);
-- expected
CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."Order" ("ID" integer PRIMARY KEY, "Customer Name" text NOT NULL,
                                   "Qty ""boxed""" integer,
                                   CONSTRAINT "Qty ""positive""" CHECK ("Qty ""boxed""" > 0));
CREATE TABLE "Sales Dept"."Order Line" (
    "Line No" integer PRIMARY KEY,
    "Order ID" integer NOT NULL REFERENCES "Sales Dept"."Order" ("ID"),
    "Note's" text
);
CREATE INDEX "Order line by order" ON "Sales Dept"."Order Line" ("Order ID");
CREATE VIEW "Sales Dept"."Big ""Orders""" AS
    SELECT "ID", "Customer Name" FROM "Sales Dept"."Order" WHERE "Qty ""boxed""" > 10;
-- rows
INSERT INTO "Sales Dept"."Order" SELECT g, 'Customer ' || g FROM generate_series(1, 30) g;
