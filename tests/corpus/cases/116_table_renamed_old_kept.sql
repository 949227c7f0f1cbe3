-- kinds: table, extra, sequence, combination
-- expect-kept: extra table public.old_customer
-- note: a table renamed live: the expected one is created, the old one keeps its rows
-- live
CREATE TABLE public.old_customer (id serial PRIMARY KEY, name text NOT NULL);
-- expected
CREATE TABLE public.client_account (id serial PRIMARY KEY, name text NOT NULL);
-- rows
INSERT INTO public.old_customer (name) SELECT 'c' || g FROM generate_series(1, 25) g;
