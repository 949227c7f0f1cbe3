-- kinds: function
-- live
CREATE FUNCTION public.slugify(value text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT lower(value) $$;
CREATE FUNCTION public.clamp(v integer, lo integer, hi integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN RETURN v; END $$;
-- expected
CREATE FUNCTION public.slugify(value text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT regexp_replace(lower(value), '[^a-z0-9]+', '-', 'g') $$;
CREATE FUNCTION public.clamp(v integer, lo integer, hi integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN RETURN greatest(lo, least(hi, v)); END $$;
