-- kinds: schema, table
-- live
CREATE TABLE public.customer (id integer PRIMARY KEY, email text NOT NULL UNIQUE);
-- expected
CREATE TABLE public.customer (id integer PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE SCHEMA billing;
CREATE TABLE billing.invoice (
    id integer PRIMARY KEY,
    number varchar(20) NOT NULL UNIQUE,
    total numeric(12, 2) NOT NULL DEFAULT 0
);
-- rows
INSERT INTO public.customer SELECT g, 'c' || g || '@example.org' FROM generate_series(1, 25) g;
