-- kinds: column, not-null
-- live
CREATE TABLE public.employee (id integer PRIMARY KEY, name text, hired date);
-- expected
CREATE TABLE public.employee (id integer PRIMARY KEY, name text NOT NULL, hired date NOT NULL);
-- rows
INSERT INTO public.employee SELECT g, 'emp ' || g, date '2020-01-01' + g FROM generate_series(1, 300) g;
