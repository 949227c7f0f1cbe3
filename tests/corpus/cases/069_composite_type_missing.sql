-- kinds: composite-type, column, function
-- live
CREATE TABLE public.site (id integer PRIMARY KEY, name text NOT NULL);
-- expected
CREATE TYPE public.geo_point AS (lat double precision, lon double precision);
CREATE TABLE public.site (id integer PRIMARY KEY, name text NOT NULL, location public.geo_point);
CREATE FUNCTION public.make_point(double precision, double precision) RETURNS public.geo_point
    LANGUAGE sql IMMUTABLE AS $$ SELECT ROW($1, $2)::public.geo_point $$;
-- rows
INSERT INTO public.site SELECT g, 'site ' || g FROM generate_series(1, 12) g;
