-- kinds: partition, column, not-null, default, constraint, check, combination
-- note: ADD COLUMN and ADD CONSTRAINT on a partitioned table reach every partition; NOT VALID
-- note: is not accepted there for every kind of constraint
-- live
CREATE TABLE public.measurement (at date NOT NULL, probe integer NOT NULL, v numeric)
    PARTITION BY RANGE (at);
CREATE TABLE public.measurement_2024 PARTITION OF public.measurement
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.measurement_2025 PARTITION OF public.measurement
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- expected
CREATE TABLE public.measurement (at date NOT NULL, probe integer NOT NULL, v numeric,
                                 unit text NOT NULL DEFAULT 'C',
                                 CONSTRAINT measurement_probe_check CHECK (probe > 0))
    PARTITION BY RANGE (at);
CREATE TABLE public.measurement_2024 PARTITION OF public.measurement
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.measurement_2025 PARTITION OF public.measurement
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- rows
INSERT INTO public.measurement SELECT date '2024-06-01' + g, 1 + g % 3, g FROM generate_series(1, 400) g;
