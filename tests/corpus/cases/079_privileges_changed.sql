-- kinds: privilege
-- allow-destructive
-- note: revoking a privilege can break a client: approval needed
-- live
CREATE TABLE public.archive_item (id integer PRIMARY KEY, data text);
GRANT SELECT, INSERT, DELETE ON public.archive_item TO {role:app};
GRANT SELECT ON public.archive_item TO {role:auditor};
-- expected
CREATE TABLE public.archive_item (id integer PRIMARY KEY, data text);
GRANT SELECT, INSERT ON public.archive_item TO {role:app};
GRANT SELECT ON public.archive_item TO {role:auditor} WITH GRANT OPTION;
-- rows
INSERT INTO public.archive_item SELECT g, 'd' || g FROM generate_series(1, 10) g;
