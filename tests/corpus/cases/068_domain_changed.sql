-- kinds: domain
-- live
CREATE DOMAIN public.percent AS numeric CONSTRAINT percent_range CHECK (VALUE >= 0);
CREATE DOMAIN public.label AS text DEFAULT 'none';
CREATE TABLE public.survey (id integer PRIMARY KEY, score public.percent, tag public.label);
-- expected
CREATE DOMAIN public.percent AS numeric
    CONSTRAINT percent_range CHECK (VALUE >= 0 AND VALUE <= 100);
CREATE DOMAIN public.label AS text DEFAULT 'unlabelled' NOT NULL;
CREATE TABLE public.survey (id integer PRIMARY KEY, score public.percent, tag public.label);
-- rows
INSERT INTO public.survey SELECT g, g % 101, 't' || g FROM generate_series(1, 60) g;
