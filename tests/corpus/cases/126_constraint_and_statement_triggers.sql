-- kinds: trigger, function
-- live
CREATE TABLE public.transfer (id integer PRIMARY KEY, amount numeric NOT NULL);
CREATE FUNCTION public.check_balance() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NULL; END $$;
CREATE FUNCTION public.count_new() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN PERFORM count(*) FROM new_rows; RETURN NULL; END $$;
-- expected
CREATE TABLE public.transfer (id integer PRIMARY KEY, amount numeric NOT NULL);
CREATE FUNCTION public.check_balance() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NULL; END $$;
CREATE FUNCTION public.count_new() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN PERFORM count(*) FROM new_rows; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER transfer_balance AFTER INSERT OR UPDATE ON public.transfer
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.check_balance();
CREATE TRIGGER transfer_batch AFTER INSERT ON public.transfer
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_new();
CREATE TRIGGER transfer_truncate BEFORE TRUNCATE ON public.transfer
    FOR EACH STATEMENT EXECUTE FUNCTION public.check_balance();
-- rows
INSERT INTO public.transfer SELECT g, g FROM generate_series(1, 20) g;
