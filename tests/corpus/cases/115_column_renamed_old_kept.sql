-- kinds: column, extra, combination
-- expect-kept: extra column public.profile.nick
-- note: a rename looks like a missing column plus an extra one: the new column is added,
-- note: the old one (with its data) stays, kept and reported
-- live
CREATE TABLE public.profile (id integer PRIMARY KEY, nick varchar(30));
-- expected
CREATE TABLE public.profile (id integer PRIMARY KEY, nickname varchar(30));
-- rows
INSERT INTO public.profile SELECT g, 'nick' || g FROM generate_series(1, 50) g;
