-- kinds: sequence, column, default
-- live
CREATE TABLE public.voucher (id integer PRIMARY KEY, code text);
-- expected
CREATE SEQUENCE public.voucher_code_seq START 1000;
CREATE TABLE public.voucher (id integer PRIMARY KEY,
                             code text DEFAULT 'V' || nextval('public.voucher_code_seq'));
-- rows
INSERT INTO public.voucher SELECT g, 'OLD' || g FROM generate_series(1, 30) g;
