-- kinds: column, not-null, default
-- live
CREATE TABLE public.orders (id bigint PRIMARY KEY, placed timestamptz NOT NULL DEFAULT now());
-- expected
CREATE TABLE public.orders (
    id bigint PRIMARY KEY,
    placed timestamptz NOT NULL DEFAULT now(),
    status varchar(20) NOT NULL DEFAULT 'new',
    priority integer NOT NULL DEFAULT 3,
    discount numeric(5, 2) NOT NULL DEFAULT 0.00
);
-- rows
INSERT INTO public.orders (id, placed)
SELECT g, timestamptz '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 300) g;
