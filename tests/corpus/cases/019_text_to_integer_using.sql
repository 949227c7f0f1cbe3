-- kinds: column, type
-- allow-destructive
-- live
CREATE TABLE public.stock (id integer PRIMARY KEY, sku text NOT NULL, quantity text);
-- expected
CREATE TABLE public.stock (id integer PRIMARY KEY, sku text NOT NULL, quantity integer);
-- rows
INSERT INTO public.stock SELECT g, 'SKU' || g, (g * 3)::text FROM generate_series(1, 200) g;
INSERT INTO public.stock VALUES (1000, 'SKU-NULL', NULL);
