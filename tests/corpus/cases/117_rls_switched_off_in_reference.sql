-- kinds: rls, policy, extra
-- expect-kept: extra policy public.vault.vault_owner
-- note: live enforces row security the reference does not have; the policy stays (kept)
-- live
CREATE TABLE public.vault (id integer PRIMARY KEY, owner_name text NOT NULL);
ALTER TABLE public.vault ENABLE ROW LEVEL SECURITY;
CREATE POLICY vault_owner ON public.vault USING (owner_name = current_user);
-- expected
CREATE TABLE public.vault (id integer PRIMARY KEY, owner_name text NOT NULL);
-- rows
INSERT INTO public.vault SELECT g, 'o' || g FROM generate_series(1, 10) g;
