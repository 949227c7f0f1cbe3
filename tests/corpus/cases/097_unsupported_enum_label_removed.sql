-- kinds: enum, unsupported
-- unsupported: enum public.phase
-- note: PostgreSQL cannot drop an enum label; rows may hold it
-- live
CREATE TYPE public.phase AS ENUM ('plan', 'build', 'test', 'ship');
CREATE TABLE public.project (id integer PRIMARY KEY, phase public.phase NOT NULL);
-- expected
CREATE TYPE public.phase AS ENUM ('plan', 'build', 'ship');
CREATE TABLE public.project (id integer PRIMARY KEY, phase public.phase NOT NULL);
-- rows
INSERT INTO public.project SELECT g, (ARRAY['plan', 'build', 'test', 'ship'])[1 + g % 4]::public.phase
FROM generate_series(1, 20) g;
