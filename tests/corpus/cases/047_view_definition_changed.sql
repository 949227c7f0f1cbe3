-- kinds: view
-- live
CREATE TABLE public.person (id integer PRIMARY KEY, first text, last text, active boolean);
CREATE VIEW public.active_person AS SELECT id, first, last FROM public.person WHERE active;
-- expected
CREATE TABLE public.person (id integer PRIMARY KEY, first text, last text, active boolean);
CREATE VIEW public.active_person AS
    SELECT id, first, last, first || ' ' || last AS full_name
    FROM public.person WHERE active IS TRUE;
-- rows
INSERT INTO public.person SELECT g, 'f' || g, 'l' || g, g % 2 = 0 FROM generate_series(1, 50) g;
