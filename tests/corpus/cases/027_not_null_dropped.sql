-- kinds: column, not-null
-- live
CREATE TABLE public.contact (id integer PRIMARY KEY, phone text NOT NULL, fax text NOT NULL);
-- expected
CREATE TABLE public.contact (id integer PRIMARY KEY, phone text, fax text);
-- rows
INSERT INTO public.contact SELECT g, '+33' || g, '' FROM generate_series(1, 80) g;
