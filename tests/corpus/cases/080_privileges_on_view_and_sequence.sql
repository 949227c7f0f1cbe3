-- kinds: privilege, view, sequence
-- live
CREATE TABLE public.invoice_line (id serial PRIMARY KEY, amount numeric NOT NULL);
CREATE VIEW public.invoice_total AS SELECT sum(amount) AS total FROM public.invoice_line;
-- expected
CREATE TABLE public.invoice_line (id serial PRIMARY KEY, amount numeric NOT NULL);
CREATE VIEW public.invoice_total AS SELECT sum(amount) AS total FROM public.invoice_line;
GRANT SELECT ON public.invoice_total TO {role:bi};
GRANT USAGE, SELECT ON SEQUENCE public.invoice_line_id_seq TO {role:bi};
-- rows
INSERT INTO public.invoice_line (amount) SELECT g FROM generate_series(1, 10) g;
