-- kinds: materialized-view, view, column, type, combination
-- note: a materialized view over the column must be dropped and rebuilt around the change
-- live
CREATE TABLE public.sku (id integer PRIMARY KEY, code varchar(8) NOT NULL);
CREATE MATERIALIZED VIEW public.sku_codes AS SELECT code FROM public.sku;
CREATE INDEX sku_codes_code ON public.sku_codes (code);
-- expected
CREATE TABLE public.sku (id integer PRIMARY KEY, code varchar(32) NOT NULL);
CREATE MATERIALIZED VIEW public.sku_codes AS SELECT code FROM public.sku;
CREATE INDEX sku_codes_code ON public.sku_codes (code);
-- rows
INSERT INTO public.sku SELECT g, 'S' || g FROM generate_series(1, 100) g;
