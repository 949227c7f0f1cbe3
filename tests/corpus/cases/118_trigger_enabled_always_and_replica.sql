-- kinds: trigger
-- live
CREATE TABLE public.outbox (id integer PRIMARY KEY, sent boolean NOT NULL DEFAULT false);
CREATE FUNCTION public.outbox_guard() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER outbox_guard_a BEFORE INSERT ON public.outbox
    FOR EACH ROW EXECUTE FUNCTION public.outbox_guard();
CREATE TRIGGER outbox_guard_b BEFORE UPDATE ON public.outbox
    FOR EACH ROW EXECUTE FUNCTION public.outbox_guard();
-- expected
CREATE TABLE public.outbox (id integer PRIMARY KEY, sent boolean NOT NULL DEFAULT false);
CREATE FUNCTION public.outbox_guard() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER outbox_guard_a BEFORE INSERT ON public.outbox
    FOR EACH ROW EXECUTE FUNCTION public.outbox_guard();
CREATE TRIGGER outbox_guard_b BEFORE UPDATE ON public.outbox
    FOR EACH ROW EXECUTE FUNCTION public.outbox_guard();
ALTER TABLE public.outbox ENABLE ALWAYS TRIGGER outbox_guard_a;
ALTER TABLE public.outbox ENABLE REPLICA TRIGGER outbox_guard_b;
-- rows
INSERT INTO public.outbox (id) SELECT generate_series(1, 10);
