-- kinds: table, partition
-- live
CREATE TABLE public.reading (
    taken_on date NOT NULL,
    sensor integer NOT NULL,
    value double precision
) PARTITION BY RANGE (taken_on);
CREATE TABLE public.reading_2024 PARTITION OF public.reading
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- expected
CREATE TABLE public.reading (
    taken_on date NOT NULL,
    sensor integer NOT NULL,
    value double precision
) PARTITION BY RANGE (taken_on);
CREATE TABLE public.reading_2024 PARTITION OF public.reading
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.reading_2025 PARTITION OF public.reading
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- rows
INSERT INTO public.reading
SELECT date '2024-01-01' + g, g % 7, g * 0.5 FROM generate_series(0, 300) g;
