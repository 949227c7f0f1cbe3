-- kinds: schema, table, inheritance
-- live
CREATE TABLE public.document (id integer NOT NULL, title text NOT NULL);
-- expected
CREATE TABLE public.document (id integer NOT NULL, title text NOT NULL);
CREATE SCHEMA archive;
CREATE TABLE archive.old_document (archived_on date NOT NULL DEFAULT current_date)
    INHERITS (public.document);
-- rows
INSERT INTO public.document SELECT g, 'doc ' || g FROM generate_series(1, 15) g;
