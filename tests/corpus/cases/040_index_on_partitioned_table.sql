-- kinds: index, partition
-- note: CREATE INDEX CONCURRENTLY does not work on a partitioned table
-- live
CREATE TABLE public.log_entry (at timestamptz NOT NULL, level text NOT NULL, msg text)
    PARTITION BY RANGE (at);
CREATE TABLE public.log_entry_a PARTITION OF public.log_entry
    FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE public.log_entry_b PARTITION OF public.log_entry
    FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
-- expected
CREATE TABLE public.log_entry (at timestamptz NOT NULL, level text NOT NULL, msg text)
    PARTITION BY RANGE (at);
CREATE TABLE public.log_entry_a PARTITION OF public.log_entry
    FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE public.log_entry_b PARTITION OF public.log_entry
    FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
CREATE INDEX log_entry_level_idx ON public.log_entry (level, at);
-- rows
INSERT INTO public.log_entry
SELECT timestamptz '2024-01-01 00:00+00' + g * interval '1 hour', 'info', 'm' || g
FROM generate_series(1, 2000) g;
