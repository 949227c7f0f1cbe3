-- kinds: table, unlogged
-- allow-destructive
-- note: an unlogged table loses its rows on a crash: approval needed
-- live
CREATE TABLE public.scratch_import (line integer PRIMARY KEY, raw text);
-- expected
CREATE UNLOGGED TABLE public.scratch_import (line integer PRIMARY KEY, raw text);
-- rows
INSERT INTO public.scratch_import SELECT g, repeat('x', g % 40) FROM generate_series(1, 150) g;
