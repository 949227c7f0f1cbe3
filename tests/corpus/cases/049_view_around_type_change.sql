-- kinds: view, column, type
-- note: "cannot alter type of a column used by a view": the views go and come back in one step
-- live
CREATE TABLE public.client (id integer PRIMARY KEY, name varchar(30) NOT NULL, vat varchar(12));
CREATE VIEW public.client_list AS SELECT id, name FROM public.client;
CREATE VIEW public.client_names AS SELECT upper(name) AS shout FROM public.client_list;
-- expected
CREATE TABLE public.client (id integer PRIMARY KEY, name varchar(100) NOT NULL, vat varchar(12));
CREATE VIEW public.client_list AS SELECT id, name FROM public.client;
CREATE VIEW public.client_names AS SELECT upper(name) AS shout FROM public.client_list;
-- rows
INSERT INTO public.client SELECT g, 'client ' || g, 'FR' || g FROM generate_series(1, 70) g;
