-- kinds: view, materialized-view, index
-- live
CREATE TABLE public.click (id integer PRIMARY KEY, page text NOT NULL, at date NOT NULL);
CREATE MATERIALIZED VIEW public.daily_clicks AS
    SELECT at, count(*) AS n FROM public.click GROUP BY at;
-- expected
CREATE TABLE public.click (id integer PRIMARY KEY, page text NOT NULL, at date NOT NULL);
CREATE MATERIALIZED VIEW public.daily_clicks AS
    SELECT at, page, count(*) AS n FROM public.click GROUP BY at, page;
CREATE MATERIALIZED VIEW public.page_clicks AS
    SELECT page, count(*) AS n FROM public.click GROUP BY page;
CREATE UNIQUE INDEX page_clicks_page ON public.page_clicks (page);
-- rows
INSERT INTO public.click SELECT g, '/p' || g % 7, date '2024-05-01' + g % 30 FROM generate_series(1, 400) g;
