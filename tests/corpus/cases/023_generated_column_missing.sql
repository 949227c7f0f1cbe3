-- kinds: column, generated
-- live
CREATE TABLE public.line_item (
    id integer PRIMARY KEY,
    qty integer NOT NULL,
    unit_price numeric(10, 2) NOT NULL
);
-- expected
CREATE TABLE public.line_item (
    id integer PRIMARY KEY,
    qty integer NOT NULL,
    unit_price numeric(10, 2) NOT NULL,
    total numeric(12, 2) GENERATED ALWAYS AS (qty * unit_price) STORED
);
-- rows
INSERT INTO public.line_item SELECT g, g % 9 + 1, (g % 50) + 0.99 FROM generate_series(1, 300) g;
