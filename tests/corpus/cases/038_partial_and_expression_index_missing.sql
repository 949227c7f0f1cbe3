-- kinds: index, partial-index, expression-index
-- live
CREATE TABLE public.account_user (id integer PRIMARY KEY, email text NOT NULL,
                                  deleted_at timestamptz);
-- expected
CREATE TABLE public.account_user (id integer PRIMARY KEY, email text NOT NULL,
                                  deleted_at timestamptz);
CREATE UNIQUE INDEX account_user_email_live ON public.account_user (lower(email))
    WHERE deleted_at IS NULL;
CREATE INDEX account_user_deleted ON public.account_user (deleted_at)
    WHERE deleted_at IS NOT NULL;
-- rows
INSERT INTO public.account_user
SELECT g, 'User' || g || '@Example.org', CASE WHEN g % 10 = 0 THEN now() END
FROM generate_series(1, 500) g;
