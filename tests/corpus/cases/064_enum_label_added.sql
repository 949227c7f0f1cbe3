-- kinds: enum
-- live
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.diary (id integer PRIMARY KEY, mood public.mood NOT NULL);
-- expected
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy', 'ecstatic');
CREATE TABLE public.diary (id integer PRIMARY KEY, mood public.mood NOT NULL);
-- rows
INSERT INTO public.diary SELECT g, (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::public.mood
FROM generate_series(1, 90) g;
