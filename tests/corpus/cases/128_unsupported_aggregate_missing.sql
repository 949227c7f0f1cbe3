-- kinds: function, unsupported
-- unsupported: function public.comma_list(text)
-- note: an aggregate has no printable definition to replay: refused, a migration makes it
-- live
CREATE FUNCTION public.concat_step(acc text, v text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN acc = '' THEN v ELSE acc || ',' || v END $$;
-- expected
CREATE FUNCTION public.concat_step(acc text, v text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN acc = '' THEN v ELSE acc || ',' || v END $$;
CREATE AGGREGATE public.comma_list(text) (SFUNC = public.concat_step, STYPE = text,
                                          INITCOND = '');
