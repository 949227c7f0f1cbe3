-- kinds: trigger
-- live
CREATE TABLE public.stockmove (id integer PRIMARY KEY, qty integer NOT NULL);
CREATE FUNCTION public.no_zero() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN IF NEW.qty = 0 THEN RAISE EXCEPTION 'zero'; END IF; RETURN NEW; END $$;
CREATE TRIGGER stockmove_no_zero BEFORE INSERT ON public.stockmove
    FOR EACH ROW EXECUTE FUNCTION public.no_zero();
-- expected
CREATE TABLE public.stockmove (id integer PRIMARY KEY, qty integer NOT NULL);
CREATE FUNCTION public.no_zero() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN IF NEW.qty = 0 THEN RAISE EXCEPTION 'zero'; END IF; RETURN NEW; END $$;
CREATE TRIGGER stockmove_no_zero BEFORE INSERT OR UPDATE OF qty ON public.stockmove
    FOR EACH ROW WHEN (NEW.qty IS NOT NULL) EXECUTE FUNCTION public.no_zero();
-- rows
INSERT INTO public.stockmove SELECT g, g FROM generate_series(1, 50) g;
