-- kinds: function
-- live
CREATE FUNCTION public.half(v numeric) RETURNS numeric LANGUAGE sql VOLATILE
    AS $$ SELECT v / 2 $$;
CREATE FUNCTION public.whoami() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT current_user::text $$;
-- expected
CREATE FUNCTION public.half(v numeric) RETURNS numeric LANGUAGE plpgsql IMMUTABLE STRICT
    AS $$ BEGIN RETURN v / 2; END $$;
CREATE FUNCTION public.whoami() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $$ SELECT current_user::text $$;
