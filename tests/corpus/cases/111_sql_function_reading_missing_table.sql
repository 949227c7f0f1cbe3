-- kinds: function, table, view, combination
-- note: a LANGUAGE sql body is checked when the function is created: the table it reads
-- note: must exist first (or the function be created with check_function_bodies off)
-- live
CREATE TABLE public.warehouse_zone (id integer PRIMARY KEY);
-- expected
CREATE TABLE public.warehouse_zone (id integer PRIMARY KEY);
CREATE TABLE public.pallet (id integer PRIMARY KEY,
                            zone_id integer NOT NULL REFERENCES public.warehouse_zone (id));
CREATE FUNCTION public.pallets_in(zone integer) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM public.pallet WHERE zone_id = zone $$;
CREATE VIEW public.zone_load AS
    SELECT z.id, public.pallets_in(z.id) AS pallets FROM public.warehouse_zone z;
-- rows
INSERT INTO public.warehouse_zone SELECT generate_series(1, 4);
