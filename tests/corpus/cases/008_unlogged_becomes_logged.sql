-- kinds: table, unlogged
-- live
CREATE UNLOGGED TABLE public.session_cache (
    key text PRIMARY KEY,
    payload jsonb,
    expires timestamptz
);
-- expected
CREATE TABLE public.session_cache (
    key text PRIMARY KEY,
    payload jsonb,
    expires timestamptz
);
-- rows
INSERT INTO public.session_cache
SELECT 'k' || g, jsonb_build_object('n', g), timestamptz '2030-01-01' + g * interval '1 min'
FROM generate_series(1, 200) g;
