-- kinds: column, type, view, index, default, combination
-- allow-destructive
-- note: integer -> bigint under a view, an index and a default
-- live
CREATE TABLE public.counter (id integer PRIMARY KEY, hits integer NOT NULL DEFAULT 0,
                             name varchar(10));
CREATE INDEX counter_hits ON public.counter (hits);
CREATE VIEW public.top_counter AS SELECT name, hits FROM public.counter ORDER BY hits DESC LIMIT 10;
-- expected
CREATE TABLE public.counter (id integer PRIMARY KEY, hits bigint NOT NULL DEFAULT 0,
                             name varchar(10));
CREATE INDEX counter_hits ON public.counter (hits);
CREATE VIEW public.top_counter AS SELECT name, hits FROM public.counter ORDER BY hits DESC LIMIT 10;
-- rows
INSERT INTO public.counter SELECT g, g * 7, 'c' || g FROM generate_series(1, 100) g;
