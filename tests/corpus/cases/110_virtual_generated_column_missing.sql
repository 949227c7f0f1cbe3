-- kinds: column, generated
-- min-server: 18
-- note: VIRTUAL generated columns exist from PostgreSQL 18 (attgenerated 'v'); adding one
-- note: is metadata only
-- live
CREATE TABLE public.rectangle (id integer PRIMARY KEY, w integer NOT NULL, h integer NOT NULL);
-- expected
CREATE TABLE public.rectangle (id integer PRIMARY KEY, w integer NOT NULL, h integer NOT NULL,
                               area integer GENERATED ALWAYS AS (w * h) VIRTUAL);
-- rows
INSERT INTO public.rectangle SELECT g, g, g + 1 FROM generate_series(1, 100) g;
