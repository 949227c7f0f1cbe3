-- kinds: schema, enum, domain, table, view, combination
-- live
CREATE TABLE public.anchor (id integer PRIMARY KEY);
-- expected
CREATE TABLE public.anchor (id integer PRIMARY KEY);
CREATE SCHEMA hr;
CREATE TYPE hr.contract_kind AS ENUM ('permanent', 'fixed', 'intern');
CREATE DOMAIN hr.salary AS numeric(10, 2) CONSTRAINT salary_positive CHECK (VALUE > 0);
CREATE TABLE hr.staff (
    id integer PRIMARY KEY,
    anchor_id integer REFERENCES public.anchor (id),
    kind hr.contract_kind NOT NULL DEFAULT 'permanent',
    pay hr.salary
);
CREATE VIEW hr.payroll AS SELECT kind, sum(pay) AS total FROM hr.staff GROUP BY kind;
-- rows
INSERT INTO public.anchor SELECT generate_series(1, 5);
