-- kinds: rls, policy
-- live
CREATE TABLE public.secret (id integer PRIMARY KEY, owner_name text NOT NULL, body text);
-- expected
CREATE TABLE public.secret (id integer PRIMARY KEY, owner_name text NOT NULL, body text);
ALTER TABLE public.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY secret_owner ON public.secret USING (owner_name = current_user);
-- rows
INSERT INTO public.secret SELECT g, 'u' || g % 3, 's' || g FROM generate_series(1, 30) g;
