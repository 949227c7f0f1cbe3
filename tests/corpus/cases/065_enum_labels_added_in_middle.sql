-- kinds: enum
-- live
CREATE TYPE public.size AS ENUM ('s', 'l');
CREATE TABLE public.shirt (id integer PRIMARY KEY, size public.size);
-- expected
CREATE TYPE public.size AS ENUM ('xs', 's', 'm', 'l', 'xl');
CREATE TABLE public.shirt (id integer PRIMARY KEY, size public.size);
-- rows
INSERT INTO public.shirt SELECT g, CASE WHEN g % 2 = 0 THEN 's' ELSE 'l' END::public.size
FROM generate_series(1, 30) g;
