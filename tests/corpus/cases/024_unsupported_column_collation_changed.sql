-- kinds: column, collation, unsupported
-- unsupported: column public.word.spelling
-- note: docs/kinds.md: a column collation that differs is refused (it rebuilds and reorders
-- note: the column's indexes); a migration decides
-- live
CREATE TABLE public.word (id integer PRIMARY KEY, spelling text NOT NULL);
-- expected
CREATE TABLE public.word (id integer PRIMARY KEY, spelling text COLLATE "C" NOT NULL);
-- rows
INSERT INTO public.word SELECT g, md5(g::text) FROM generate_series(1, 100) g;
