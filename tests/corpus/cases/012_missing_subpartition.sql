-- kinds: table, partition
-- live
CREATE TABLE public.metric (
    day date NOT NULL,
    host text NOT NULL,
    v integer
) PARTITION BY RANGE (day);
CREATE TABLE public.metric_2024 PARTITION OF public.metric
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (host);
CREATE TABLE public.metric_2024_a PARTITION OF public.metric_2024 FOR VALUES IN ('a');
-- expected
CREATE TABLE public.metric (
    day date NOT NULL,
    host text NOT NULL,
    v integer
) PARTITION BY RANGE (day);
CREATE TABLE public.metric_2024 PARTITION OF public.metric
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (host);
CREATE TABLE public.metric_2024_a PARTITION OF public.metric_2024 FOR VALUES IN ('a');
CREATE TABLE public.metric_2024_b PARTITION OF public.metric_2024 FOR VALUES IN ('b');
-- rows
INSERT INTO public.metric SELECT date '2024-03-01' + g, 'a', g FROM generate_series(1, 50) g;
