-- kinds: sequence, sequence-behind
-- note: the classic Django drift: rows loaded with explicit ids, the sequence left at 1
-- live
CREATE TABLE public.payment (id serial PRIMARY KEY, amount numeric(10, 2) NOT NULL);
-- expected
CREATE TABLE public.payment (id serial PRIMARY KEY, amount numeric(10, 2) NOT NULL);
-- rows
INSERT INTO public.payment (id, amount) SELECT g, g FROM generate_series(1, 500) g;
