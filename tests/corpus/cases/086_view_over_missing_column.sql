-- kinds: view, column, combination
-- live
CREATE TABLE public.hotel (id integer PRIMARY KEY, name text NOT NULL);
-- expected
CREATE TABLE public.hotel (id integer PRIMARY KEY, name text NOT NULL, stars smallint);
CREATE VIEW public.hotel_stars AS SELECT name, stars FROM public.hotel WHERE stars >= 4;
-- rows
INSERT INTO public.hotel SELECT g, 'hotel ' || g FROM generate_series(1, 25) g;
