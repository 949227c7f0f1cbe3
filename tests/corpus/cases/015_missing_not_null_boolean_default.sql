-- kinds: column, not-null, default
-- live
CREATE TABLE public.subscriber (id integer PRIMARY KEY, email text NOT NULL);
-- expected
CREATE TABLE public.subscriber (
    id integer PRIMARY KEY,
    email text NOT NULL,
    active boolean NOT NULL DEFAULT true
);
-- rows
INSERT INTO public.subscriber SELECT g, 's' || g || '@example.org' FROM generate_series(1, 400) g;
