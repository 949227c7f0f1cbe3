-- kinds: table, inheritance
-- live
CREATE TABLE public.vehicle (
    id integer NOT NULL,
    plate text NOT NULL,
    wheels smallint NOT NULL DEFAULT 4
);
-- expected
CREATE TABLE public.vehicle (
    id integer NOT NULL,
    plate text NOT NULL,
    wheels smallint NOT NULL DEFAULT 4
);
CREATE TABLE public.truck (
    max_load integer
) INHERITS (public.vehicle);
-- rows
INSERT INTO public.vehicle (id, plate) SELECT g, 'AB-' || g FROM generate_series(1, 30) g;
