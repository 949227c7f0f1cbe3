-- kinds: extension, table
-- needs: extension citext
-- live
CREATE TABLE public.login (id integer PRIMARY KEY);
-- expected
CREATE EXTENSION citext;
CREATE TABLE public.login (id integer PRIMARY KEY);
CREATE TABLE public.alias (id integer PRIMARY KEY, name public.citext NOT NULL UNIQUE);
-- rows
INSERT INTO public.login SELECT generate_series(1, 5);
