-- kinds: function, procedure
-- live
CREATE TABLE public.audit_event (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text);
-- expected
CREATE TABLE public.audit_event (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text);
CREATE PROCEDURE public.purge_audit(keep integer)
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM public.audit_event WHERE id < (SELECT max(id) - keep FROM public.audit_event);
END
$$;
-- rows
INSERT INTO public.audit_event (what) SELECT 'e' || g FROM generate_series(1, 30) g;
