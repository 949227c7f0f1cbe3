-- kinds: sequence, sequence-behind, quoted-identifiers, schema
-- live
CREATE SCHEMA "Legacy Data";
CREATE TABLE "Legacy Data"."Import Row" ("Row Id" serial PRIMARY KEY, payload text);
-- expected
CREATE SCHEMA "Legacy Data";
CREATE TABLE "Legacy Data"."Import Row" ("Row Id" serial PRIMARY KEY, payload text);
-- rows
INSERT INTO "Legacy Data"."Import Row" SELECT g, 'p' || g FROM generate_series(1, 250) g;
