-- kinds: view
-- live
CREATE TABLE public.sale (id integer PRIMARY KEY, region text NOT NULL, amount numeric NOT NULL);
-- expected
CREATE TABLE public.sale (id integer PRIMARY KEY, region text NOT NULL, amount numeric NOT NULL);
CREATE VIEW public.sale_by_region AS
    SELECT region, sum(amount) AS total, count(*) AS n FROM public.sale GROUP BY region;
-- rows
INSERT INTO public.sale SELECT g, 'r' || g % 4, g FROM generate_series(1, 100) g;
