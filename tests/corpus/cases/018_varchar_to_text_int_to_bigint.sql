-- kinds: column, type
-- allow-destructive
-- note: int -> bigint rewrites the table, so the plan needs approval
-- live
CREATE TABLE public.visit (id integer PRIMARY KEY, path varchar(200), hits integer NOT NULL);
-- expected
CREATE TABLE public.visit (id integer PRIMARY KEY, path text, hits bigint NOT NULL);
-- rows
INSERT INTO public.visit SELECT g, '/page/' || g, g * 1000 FROM generate_series(1, 250) g;
