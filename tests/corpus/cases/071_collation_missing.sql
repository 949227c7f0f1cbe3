-- kinds: collation, column
-- live
CREATE TABLE public.person_name (id integer PRIMARY KEY, name text NOT NULL);
-- expected
CREATE COLLATION public.bytewise (provider = libc, locale = 'C');
CREATE TABLE public.person_name (id integer PRIMARY KEY, name text NOT NULL,
                                 sort_key text COLLATE public.bytewise);
-- rows
INSERT INTO public.person_name SELECT g, 'name ' || g FROM generate_series(1, 30) g;
