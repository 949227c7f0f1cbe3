-- kinds: privilege
-- live
CREATE TABLE public.ledger_entry (id integer PRIMARY KEY, amount numeric NOT NULL);
-- expected
CREATE TABLE public.ledger_entry (id integer PRIMARY KEY, amount numeric NOT NULL);
GRANT SELECT ON public.ledger_entry TO {role:reader};
GRANT SELECT, INSERT, UPDATE ON public.ledger_entry TO {role:writer};
-- rows
INSERT INTO public.ledger_entry SELECT g, g FROM generate_series(1, 10) g;
