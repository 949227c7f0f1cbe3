-- kinds: table, partition, unsupported
-- unsupported: table public.sample_q1
-- note: moving a partition's bound means detaching it and moving rows between partitions
-- live
CREATE TABLE public.sample (at date NOT NULL, v integer) PARTITION BY RANGE (at);
CREATE TABLE public.sample_q1 PARTITION OF public.sample FOR VALUES FROM ('2024-01-01') TO ('2024-03-01');
-- expected
CREATE TABLE public.sample (at date NOT NULL, v integer) PARTITION BY RANGE (at);
CREATE TABLE public.sample_q1 PARTITION OF public.sample FOR VALUES FROM ('2024-01-01') TO ('2024-04-01');
-- rows
INSERT INTO public.sample SELECT date '2024-01-01' + g % 59, g FROM generate_series(1, 100) g;
