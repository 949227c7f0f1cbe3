-- kinds: table, sequence, comment, privilege, combination
-- live
CREATE TABLE public.forum (id integer PRIMARY KEY, title text NOT NULL);
-- expected
CREATE TABLE public.forum (id integer PRIMARY KEY, title text NOT NULL);
CREATE TABLE public.post (
    id serial PRIMARY KEY,
    forum_id integer NOT NULL REFERENCES public.forum (id) ON DELETE CASCADE,
    body text NOT NULL
);
COMMENT ON TABLE public.post IS 'Forum posts';
GRANT SELECT, INSERT ON public.post TO {role:web};
-- rows
INSERT INTO public.forum SELECT g, 'forum ' || g FROM generate_series(1, 6) g;
