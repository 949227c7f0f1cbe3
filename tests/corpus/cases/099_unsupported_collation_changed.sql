-- kinds: collation, unsupported
-- unsupported: collation public.sorter
-- note: a collation cannot be altered; indexes using it would need a rebuild
-- live
CREATE COLLATION public.sorter (provider = libc, locale = 'C');
CREATE TABLE public.entry (id integer PRIMARY KEY, k text COLLATE public.sorter);
-- expected
CREATE COLLATION public.sorter (provider = libc, locale = 'POSIX');
CREATE TABLE public.entry (id integer PRIMARY KEY, k text COLLATE public.sorter);
-- rows
INSERT INTO public.entry SELECT g, 'k' || g FROM generate_series(1, 10) g;
