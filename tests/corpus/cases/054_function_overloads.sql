-- kinds: function, overload
-- live
CREATE FUNCTION public.describe(v integer) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'int ' || v $$;
-- expected
CREATE FUNCTION public.describe(v integer) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'int ' || v $$;
CREATE FUNCTION public.describe(v text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'text ' || v $$;
CREATE FUNCTION public.describe(v integer, w integer) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'pair ' || v || ',' || w $$;
