-- kinds: rls, policy
-- live
CREATE TABLE public.note_share (id integer PRIMARY KEY, author text NOT NULL, shared boolean);
ALTER TABLE public.note_share ENABLE ROW LEVEL SECURITY;
CREATE POLICY note_read ON public.note_share FOR SELECT USING (author = current_user);
CREATE POLICY note_write ON public.note_share FOR INSERT WITH CHECK (true);
-- expected
CREATE TABLE public.note_share (id integer PRIMARY KEY, author text NOT NULL, shared boolean);
ALTER TABLE public.note_share ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.note_share FORCE ROW LEVEL SECURITY;
CREATE POLICY note_read ON public.note_share FOR SELECT
    USING (author = current_user OR shared);
CREATE POLICY note_write ON public.note_share FOR INSERT WITH CHECK (author = current_user);
-- rows
INSERT INTO public.note_share SELECT g, 'a' || g, g % 2 = 0 FROM generate_series(1, 20) g;
