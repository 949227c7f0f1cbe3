-- kinds: table, partition, index, constraint, foreign-key, combination
-- live
CREATE TABLE public.device (id integer PRIMARY KEY);
CREATE TABLE public.ping (device_id integer NOT NULL, at date NOT NULL, ms integer)
    PARTITION BY RANGE (at);
CREATE TABLE public.ping_h1 PARTITION OF public.ping FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
-- expected
CREATE TABLE public.device (id integer PRIMARY KEY);
CREATE TABLE public.ping (device_id integer NOT NULL REFERENCES public.device (id),
                          at date NOT NULL, ms integer)
    PARTITION BY RANGE (at);
CREATE TABLE public.ping_h1 PARTITION OF public.ping FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE public.ping_h2 PARTITION OF public.ping FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
CREATE INDEX ping_device_at ON public.ping (device_id, at);
-- rows
INSERT INTO public.device SELECT generate_series(1, 4);
INSERT INTO public.ping SELECT 1 + g % 4, date '2024-01-01' + g % 180, g FROM generate_series(1, 400) g;
