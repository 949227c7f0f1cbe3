-- kinds: enum, column
-- live
CREATE TABLE public.task (id integer PRIMARY KEY, title text NOT NULL);
-- expected
CREATE TYPE public.priority AS ENUM ('low', 'normal', 'high');
CREATE TABLE public.task (id integer PRIMARY KEY, title text NOT NULL,
                          priority public.priority);
-- rows
INSERT INTO public.task SELECT g, 'task ' || g FROM generate_series(1, 40) g;
