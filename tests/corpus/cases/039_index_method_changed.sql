-- kinds: index
-- live
CREATE TABLE public.token (id integer PRIMARY KEY, value text NOT NULL, scopes text[]);
CREATE INDEX token_value_idx ON public.token USING btree (value);
CREATE INDEX token_scopes_idx ON public.token USING btree (scopes);
-- expected
CREATE TABLE public.token (id integer PRIMARY KEY, value text NOT NULL, scopes text[]);
CREATE INDEX token_value_idx ON public.token USING hash (value);
CREATE INDEX token_scopes_idx ON public.token USING gin (scopes);
-- rows
INSERT INTO public.token SELECT g, md5(g::text), ARRAY['read', 'w' || g % 3] FROM generate_series(1, 300) g;
