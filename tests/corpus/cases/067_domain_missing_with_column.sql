-- kinds: domain, column
-- live
CREATE TABLE public.shop (id integer PRIMARY KEY, name text NOT NULL);
-- expected
CREATE DOMAIN public.email_address AS text
    CONSTRAINT email_address_check CHECK (VALUE ~ '^[^@]+@[^@]+$');
CREATE DOMAIN public.positive_int AS integer NOT NULL DEFAULT 1
    CONSTRAINT positive_int_check CHECK (VALUE > 0);
CREATE TABLE public.shop (id integer PRIMARY KEY, name text NOT NULL,
                          contact public.email_address);
-- rows
INSERT INTO public.shop SELECT g, 'shop ' || g FROM generate_series(1, 15) g;
