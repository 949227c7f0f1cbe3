-- kinds: function
-- live
CREATE TABLE public.price (id integer PRIMARY KEY, net numeric NOT NULL);
-- expected
CREATE TABLE public.price (id integer PRIMARY KEY, net numeric NOT NULL);
CREATE FUNCTION public.gross(net numeric, rate numeric DEFAULT 0.2) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT round(net * (1 + rate), 2) $$;
CREATE FUNCTION public.price_count() RETURNS bigint
    LANGUAGE plpgsql STABLE
    AS $$ BEGIN RETURN (SELECT count(*) FROM public.price); END $$;
-- rows
INSERT INTO public.price SELECT g, g * 1.5 FROM generate_series(1, 20) g;
