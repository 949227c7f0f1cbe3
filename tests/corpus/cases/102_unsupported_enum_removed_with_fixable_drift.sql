-- kinds: enum, unsupported, combination
-- unsupported: enum public.channel
-- note: one unsupported change refuses the whole plan, the fixable drift included
-- live
CREATE TYPE public.channel AS ENUM ('mail', 'sms', 'fax');
CREATE TABLE public.notice (id integer PRIMARY KEY, via public.channel);
-- expected
CREATE TYPE public.channel AS ENUM ('mail', 'sms');
CREATE TABLE public.notice (id integer PRIMARY KEY, via public.channel, sent_at timestamptz);
-- rows
INSERT INTO public.notice SELECT g, 'mail' FROM generate_series(1, 10) g;
