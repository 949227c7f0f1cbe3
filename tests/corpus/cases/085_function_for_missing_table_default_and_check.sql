-- kinds: function, table, default, check, combination
-- note: the functions must exist before the table whose default and check call them
-- live
CREATE TABLE public.coupon_batch (id integer PRIMARY KEY);
-- expected
CREATE TABLE public.coupon_batch (id integer PRIMARY KEY);
CREATE FUNCTION public.new_coupon_code() RETURNS text LANGUAGE sql VOLATILE
    AS $$ SELECT upper(substr(md5(random()::text), 1, 8)) $$;
CREATE FUNCTION public.valid_coupon_code(code text) RETURNS boolean LANGUAGE sql IMMUTABLE
    AS $$ SELECT code ~ '^[A-Z0-9]{8}$' $$;
CREATE TABLE public.coupon (
    id integer PRIMARY KEY,
    batch_id integer NOT NULL REFERENCES public.coupon_batch (id),
    code text NOT NULL DEFAULT public.new_coupon_code()
        CONSTRAINT coupon_code_valid CHECK (public.valid_coupon_code(code))
);
-- rows
INSERT INTO public.coupon_batch SELECT generate_series(1, 3);
