-- kinds: table, unlogged
-- live
CREATE TABLE public.job (id integer PRIMARY KEY, name text NOT NULL);
-- expected
CREATE TABLE public.job (id integer PRIMARY KEY, name text NOT NULL);
CREATE UNLOGGED TABLE public.job_lock (job_id integer PRIMARY KEY, holder text NOT NULL);
-- rows
INSERT INTO public.job SELECT g, 'job ' || g FROM generate_series(1, 10) g;
