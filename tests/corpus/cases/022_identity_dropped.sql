-- kinds: column, identity, sequence
-- allow-destructive
-- note: dropping an identity drops its sequence
-- live
CREATE TABLE public.tag (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text NOT NULL);
-- expected
CREATE TABLE public.tag (id integer NOT NULL PRIMARY KEY, label text NOT NULL);
-- rows
INSERT INTO public.tag (label) SELECT 'tag ' || g FROM generate_series(1, 60) g;
