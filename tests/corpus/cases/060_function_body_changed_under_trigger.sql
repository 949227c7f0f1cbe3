-- kinds: function, trigger
-- live
CREATE TABLE public.signup (id integer PRIMARY KEY, email text NOT NULL);
CREATE FUNCTION public.normalize_email() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.email := trim(NEW.email); RETURN NEW; END $$;
CREATE TRIGGER signup_normalize BEFORE INSERT ON public.signup
    FOR EACH ROW EXECUTE FUNCTION public.normalize_email();
-- expected
CREATE TABLE public.signup (id integer PRIMARY KEY, email text NOT NULL);
CREATE FUNCTION public.normalize_email() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.email := lower(trim(NEW.email)); RETURN NEW; END $$;
CREATE TRIGGER signup_normalize BEFORE INSERT ON public.signup
    FOR EACH ROW EXECUTE FUNCTION public.normalize_email();
-- rows
INSERT INTO public.signup SELECT g, ' A' || g || '@x.org ' FROM generate_series(1, 20) g;
