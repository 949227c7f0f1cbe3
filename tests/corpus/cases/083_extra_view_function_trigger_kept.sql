-- kinds: extra, view, function, trigger
-- expect-kept: extra view public.gizmo_report
-- expect-kept: extra function public.gizmo_hook()
-- expect-kept: extra trigger public.gizmo.gizmo_hook_trg
-- live
CREATE TABLE public.gizmo (id integer PRIMARY KEY, name text NOT NULL);
CREATE VIEW public.gizmo_report AS SELECT count(*) AS n FROM public.gizmo;
CREATE FUNCTION public.gizmo_hook() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER gizmo_hook_trg BEFORE INSERT ON public.gizmo
    FOR EACH ROW EXECUTE FUNCTION public.gizmo_hook();
-- expected
CREATE TABLE public.gizmo (id integer PRIMARY KEY, name text NOT NULL);
CREATE INDEX gizmo_name_idx ON public.gizmo (name);
-- rows
INSERT INTO public.gizmo SELECT g, 'gz' || g FROM generate_series(1, 30) g;
