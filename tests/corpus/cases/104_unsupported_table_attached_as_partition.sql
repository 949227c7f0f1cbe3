-- kinds: table, partition, unsupported
-- unsupported: table public.sensor_data_2025
-- note: live has the partition's table, detached (or never attached); ATTACH PARTITION checks
-- note: every row against the bound under lock: refused, a migration does it
-- live
CREATE TABLE public.sensor_data (at date NOT NULL, v integer) PARTITION BY RANGE (at);
CREATE TABLE public.sensor_data_2024 PARTITION OF public.sensor_data
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.sensor_data_2025 (at date NOT NULL, v integer);
-- expected
CREATE TABLE public.sensor_data (at date NOT NULL, v integer) PARTITION BY RANGE (at);
CREATE TABLE public.sensor_data_2024 PARTITION OF public.sensor_data
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.sensor_data_2025 PARTITION OF public.sensor_data
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- rows
INSERT INTO public.sensor_data SELECT date '2024-01-01' + g, g FROM generate_series(0, 99) g;
INSERT INTO public.sensor_data_2025 SELECT date '2025-01-01' + g, g FROM generate_series(0, 99) g;
