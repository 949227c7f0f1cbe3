-- kinds: partition, not-null
-- live
CREATE TABLE public.order_event (at date NOT NULL, order_id integer, kind text)
    PARTITION BY RANGE (at);
CREATE TABLE public.order_event_a PARTITION OF public.order_event
    FOR VALUES FROM ('2024-01-01') TO ('2030-01-01');
-- expected
CREATE TABLE public.order_event (at date NOT NULL, order_id integer NOT NULL, kind text)
    PARTITION BY RANGE (at);
CREATE TABLE public.order_event_a PARTITION OF public.order_event
    FOR VALUES FROM ('2024-01-01') TO ('2030-01-01');
-- rows
INSERT INTO public.order_event SELECT date '2024-01-01' + g, g, 'k' FROM generate_series(1, 300) g;
