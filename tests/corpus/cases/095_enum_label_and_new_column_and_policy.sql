-- kinds: enum, column, rls, policy, combination
-- live
CREATE TYPE public.visibility AS ENUM ('private', 'public');
CREATE TABLE public.album (id integer PRIMARY KEY, vis public.visibility NOT NULL DEFAULT 'private');
-- expected
CREATE TYPE public.visibility AS ENUM ('private', 'friends', 'public');
CREATE TABLE public.album (id integer PRIMARY KEY, vis public.visibility NOT NULL DEFAULT 'private',
                           owner_name text);
ALTER TABLE public.album ENABLE ROW LEVEL SECURITY;
CREATE POLICY album_visible ON public.album FOR SELECT
    USING (vis = 'public' OR owner_name = current_user);
-- rows
INSERT INTO public.album SELECT g, CASE WHEN g % 2 = 0 THEN 'public' ELSE 'private' END::public.visibility
FROM generate_series(1, 30) g;
