-- kinds: extension, column
-- needs: extension vector
-- live
CREATE TABLE public.chunk (id integer PRIMARY KEY, body text NOT NULL);
-- expected
CREATE EXTENSION vector;
CREATE TABLE public.chunk (id integer PRIMARY KEY, body text NOT NULL, embedding public.vector(3));
-- rows
INSERT INTO public.chunk SELECT g, 'chunk ' || g FROM generate_series(1, 25) g;
