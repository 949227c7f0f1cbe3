-- kinds: enum, function, trigger, view, comment, quoted-identifiers, combination
-- live
CREATE SCHEMA "CRM";
CREATE TABLE "CRM"."Lead" ("Id" integer PRIMARY KEY, "Full Name" text NOT NULL,
                           "Updated" timestamptz);
-- expected
CREATE SCHEMA "CRM";
CREATE TYPE "CRM"."Lead Status" AS ENUM ('new', 'it''s hot', 'Won');
CREATE TABLE "CRM"."Lead" ("Id" integer PRIMARY KEY, "Full Name" text NOT NULL,
                           "Updated" timestamptz, "Status" "CRM"."Lead Status");
CREATE FUNCTION "CRM"."Touch ""Row"""() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW."Updated" := now(); RETURN NEW; END $$;
CREATE TRIGGER "Lead Touch" BEFORE UPDATE ON "CRM"."Lead"
    FOR EACH ROW EXECUTE FUNCTION "CRM"."Touch ""Row"""();
CREATE VIEW "CRM"."Hot Leads" AS
    SELECT "Id", "Full Name" FROM "CRM"."Lead" WHERE "Status" = 'it''s hot';
COMMENT ON COLUMN "CRM"."Lead"."Full Name" IS 'Name as the lead wrote it: "quoted", it''s fine';
-- rows
INSERT INTO "CRM"."Lead" SELECT g, 'Lead ' || g, NULL FROM generate_series(1, 20) g;
