-- kinds: trigger
-- live
CREATE TABLE public.page (id integer PRIMARY KEY, body text, updated_at timestamptz);
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
-- expected
CREATE TABLE public.page (id integer PRIMARY KEY, body text, updated_at timestamptz);
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER page_touch BEFORE INSERT OR UPDATE ON public.page
    FOR EACH ROW EXECUTE FUNCTION public.touch();
-- rows
INSERT INTO public.page SELECT g, 'body ' || g, NULL FROM generate_series(1, 40) g;
