-- kinds: function
-- allow-destructive
-- note: a return type cannot be changed by CREATE OR REPLACE; the function is dropped first
-- live
CREATE FUNCTION public.score(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE
    AS $$ SELECT a + b $$;
-- expected
CREATE FUNCTION public.score(a integer, b integer) RETURNS numeric LANGUAGE sql IMMUTABLE
    AS $$ SELECT (a + b) / 2.0 $$;
