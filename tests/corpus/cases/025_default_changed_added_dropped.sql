-- kinds: column, default
-- live
CREATE TABLE public.setting (
    id integer PRIMARY KEY,
    retries integer NOT NULL DEFAULT 0,
    mode text,
    legacy_flag boolean DEFAULT false
);
-- expected
CREATE TABLE public.setting (
    id integer PRIMARY KEY,
    retries integer NOT NULL DEFAULT 5,
    mode text DEFAULT 'auto',
    legacy_flag boolean
);
-- rows
INSERT INTO public.setting (id, mode) SELECT g, 'manual' FROM generate_series(1, 20) g;
