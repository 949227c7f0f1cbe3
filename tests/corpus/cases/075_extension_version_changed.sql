-- kinds: extension
-- needs: extension-versions hstore
-- allow-destructive
-- note: the older version is installed live; the reference has the default one
-- live
CREATE EXTENSION hstore VERSION '1.4';
CREATE TABLE public.attrs (id integer PRIMARY KEY, kv public.hstore);
-- expected
CREATE EXTENSION hstore;
CREATE TABLE public.attrs (id integer PRIMARY KEY, kv public.hstore);
-- rows
INSERT INTO public.attrs SELECT g, ('a=>' || g)::public.hstore FROM generate_series(1, 10) g;
