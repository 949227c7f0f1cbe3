-- kinds: enum, domain, column, combination
-- live
CREATE TYPE public.weekday AS ENUM ('mon', 'tue', 'wed', 'thu', 'fri');
CREATE TABLE public.shift (id integer PRIMARY KEY);
-- expected
CREATE TYPE public.weekday AS ENUM ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun');
CREATE DOMAIN public.workday AS public.weekday
    CONSTRAINT workday_check CHECK (VALUE NOT IN ('sat', 'sun'));
CREATE TABLE public.shift (id integer PRIMARY KEY, days public.weekday[],
                           main_day public.workday);
-- rows
INSERT INTO public.shift SELECT generate_series(1, 12);
