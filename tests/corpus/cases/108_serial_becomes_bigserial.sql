-- kinds: column, type, sequence, combination
-- allow-destructive
-- note: integer -> bigint rewrites the table; the owned sequence becomes bigint too
-- live
CREATE TABLE public.event_log (id serial PRIMARY KEY, msg text);
-- expected
CREATE TABLE public.event_log (id bigserial PRIMARY KEY, msg text);
-- rows
INSERT INTO public.event_log (msg) SELECT 'm' || g FROM generate_series(1, 200) g;
