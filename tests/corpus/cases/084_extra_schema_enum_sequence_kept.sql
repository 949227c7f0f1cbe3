-- kinds: extra, schema, enum, sequence, table
-- expect-kept: extra schema scratch
-- expect-kept: extra table scratch.tmp
-- expect-kept: extra enum public.legacy_kind
-- expect-kept: extra sequence public.legacy_counter
-- live
CREATE SCHEMA scratch;
CREATE TABLE scratch.tmp (x integer);
CREATE TYPE public.legacy_kind AS ENUM ('a', 'b');
CREATE SEQUENCE public.legacy_counter;
CREATE TABLE public.thing (id integer PRIMARY KEY);
-- expected
CREATE TABLE public.thing (id integer PRIMARY KEY, label text);
-- rows
INSERT INTO public.thing SELECT generate_series(1, 10);
INSERT INTO scratch.tmp SELECT generate_series(1, 10);
