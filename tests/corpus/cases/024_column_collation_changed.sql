-- kinds: column, collation
-- live
CREATE TABLE public.word (id integer PRIMARY KEY, spelling text NOT NULL);
-- expected
CREATE TABLE public.word (id integer PRIMARY KEY, spelling text COLLATE "C" NOT NULL);
-- rows
INSERT INTO public.word SELECT g, md5(g::text) FROM generate_series(1, 100) g;
