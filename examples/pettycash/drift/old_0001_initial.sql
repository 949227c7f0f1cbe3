-- treasury.0001_initial AS IT WAS WHEN IT WAS APPLIED (Django 3.2, AutoField `id`).
-- This is `manage.py sqlmigrate treasury 0001` of old_0001_initial.py: an integer
-- `serial` primary key (sequence treasury_payment_id_seq owned by the column),
-- the rest identical to today's 0001. The file in treasury/migrations/ was later
-- edited to make `payment_id uuid` the primary key; databases migrated before the
-- edit still have this table, and `0002_phase6_dashboard_models` then fails with
--   django.db.utils.ProgrammingError: column "payment_id" referenced in foreign key
--   constraint does not exist
-- make_drift.py runs the statements below verbatim (the CREATE INDEX ones after
-- loading the rows, which is faster and ends in the same catalog state).
BEGIN;
--
-- Create model Payment
--
CREATE TABLE "treasury_payment" ("id" serial NOT NULL PRIMARY KEY, "reference" varchar(32) NOT NULL, "payee" varchar(120) NOT NULL, "amount" numeric(12, 2) NOT NULL, "currency" varchar(3) NOT NULL, "memo" text NOT NULL, "status" varchar(16) NOT NULL, "created_at" timestamp with time zone NOT NULL, "updated_at" timestamp with time zone NOT NULL);
CREATE INDEX "treasury_payment_reference_66429b9e" ON "treasury_payment" ("reference");
CREATE INDEX "treasury_payment_reference_66429b9e_like" ON "treasury_payment" ("reference" varchar_pattern_ops);
COMMIT;
