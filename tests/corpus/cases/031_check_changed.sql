-- kinds: constraint, check
-- live
CREATE TABLE public.rating (id integer PRIMARY KEY, stars integer NOT NULL,
    CONSTRAINT rating_stars_check CHECK (stars >= 0));
-- expected
CREATE TABLE public.rating (id integer PRIMARY KEY, stars integer NOT NULL,
    CONSTRAINT rating_stars_check CHECK (stars BETWEEN 0 AND 5));
-- rows
INSERT INTO public.rating SELECT g, g % 6 FROM generate_series(1, 300) g;
