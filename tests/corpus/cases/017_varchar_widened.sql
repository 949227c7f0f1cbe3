-- kinds: column, type
-- live
CREATE TABLE public.city (id integer PRIMARY KEY, name varchar(20) NOT NULL, zip varchar(5));
-- expected
CREATE TABLE public.city (id integer PRIMARY KEY, name varchar(120) NOT NULL, zip varchar(10));
-- rows
INSERT INTO public.city SELECT g, 'city ' || g, lpad(g::text, 5, '0') FROM generate_series(1, 200) g;
