-- kinds: trigger
-- live
CREATE TABLE public.doc (id integer PRIMARY KEY, version integer NOT NULL DEFAULT 1);
CREATE FUNCTION public.bump() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$;
CREATE TRIGGER doc_bump BEFORE UPDATE ON public.doc
    FOR EACH ROW EXECUTE FUNCTION public.bump();
ALTER TABLE public.doc DISABLE TRIGGER doc_bump;
-- expected
CREATE TABLE public.doc (id integer PRIMARY KEY, version integer NOT NULL DEFAULT 1);
CREATE FUNCTION public.bump() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$;
CREATE TRIGGER doc_bump BEFORE UPDATE ON public.doc
    FOR EACH ROW EXECUTE FUNCTION public.bump();
-- rows
INSERT INTO public.doc (id) SELECT generate_series(1, 20);
