-- kinds: extra, enum, column, view, index, constraint, foreign-key, function, table, schema, combination
-- expect-kept: extra enum public.old_flag
-- expect-kept: extra column public.ticket_main.flag
-- expect-kept: extra index public.ticket_main.ticket_main_flag_idx
-- expect-kept: extra view public.flagged_tickets
-- expect-kept: extra function public.flag_label(f public.old_flag)
-- expect-kept: extra schema attic
-- expect-kept: extra table attic.ticket_note
-- note: kept by default; with --drop-extra each must go before what it depends on
-- live
CREATE TYPE public.old_flag AS ENUM ('red', 'green');
CREATE TABLE public.ticket_main (id integer PRIMARY KEY, title text NOT NULL,
                                 flag public.old_flag);
CREATE INDEX ticket_main_flag_idx ON public.ticket_main (flag);
CREATE FUNCTION public.flag_label(f public.old_flag) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'flag ' || f::text $$;
CREATE VIEW public.flagged_tickets AS
    SELECT id, public.flag_label(flag) AS label FROM public.ticket_main WHERE flag IS NOT NULL;
CREATE SCHEMA attic;
CREATE TABLE attic.ticket_note (id integer PRIMARY KEY,
                                ticket_id integer REFERENCES public.ticket_main (id),
                                body text);
-- expected
CREATE TABLE public.ticket_main (id integer PRIMARY KEY, title text NOT NULL);
-- rows
INSERT INTO public.ticket_main SELECT g, 't' || g, CASE WHEN g % 2 = 0 THEN 'red' END::public.old_flag
FROM generate_series(1, 40) g;
INSERT INTO attic.ticket_note SELECT g, g, 'n' FROM generate_series(1, 10) g;
