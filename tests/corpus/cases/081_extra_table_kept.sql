-- kinds: extra, table
-- expect-kept: extra table public.legacy_import
-- live
CREATE TABLE public.widget (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.legacy_import (line integer, raw text);
-- expected
CREATE TABLE public.widget (id integer PRIMARY KEY, name text NOT NULL, color text);
-- rows
INSERT INTO public.widget SELECT g, 'w' || g FROM generate_series(1, 20) g;
INSERT INTO public.legacy_import SELECT g, 'raw' || g FROM generate_series(1, 20) g;
