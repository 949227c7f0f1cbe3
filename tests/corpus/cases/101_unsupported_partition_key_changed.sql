-- kinds: table, partition, unsupported
-- unsupported: table public.visit_log
-- note: a partition key cannot be altered; the table must be rebuilt
-- live
CREATE TABLE public.visit_log (at date NOT NULL, site integer NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE public.visit_log_all PARTITION OF public.visit_log DEFAULT;
-- expected
CREATE TABLE public.visit_log (at date NOT NULL, site integer NOT NULL) PARTITION BY LIST (site);
CREATE TABLE public.visit_log_all PARTITION OF public.visit_log DEFAULT;
-- rows
INSERT INTO public.visit_log SELECT date '2024-01-01' + g, g % 3 FROM generate_series(1, 30) g;
