-- kinds: view
-- note: WITH CHECK OPTION and security_barrier are part of what a view is
-- live
CREATE TABLE public.grant_request (id integer PRIMARY KEY, amount numeric, approved boolean);
CREATE VIEW public.open_request AS
    SELECT id, amount, approved FROM public.grant_request WHERE approved IS NOT TRUE;
-- expected
CREATE TABLE public.grant_request (id integer PRIMARY KEY, amount numeric, approved boolean);
CREATE VIEW public.open_request WITH (security_barrier = true) AS
    SELECT id, amount, approved FROM public.grant_request WHERE approved IS NOT TRUE
    WITH CASCADED CHECK OPTION;
-- rows
INSERT INTO public.grant_request SELECT g, g * 10, g % 3 = 0 FROM generate_series(1, 30) g;
