-- kinds: column
-- live
CREATE TABLE public.product (id integer PRIMARY KEY, name text NOT NULL);
-- expected
CREATE TABLE public.product (id integer PRIMARY KEY, name text NOT NULL, description text,
                             weight_g integer);
-- rows
INSERT INTO public.product SELECT g, 'product ' || g FROM generate_series(1, 500) g;
