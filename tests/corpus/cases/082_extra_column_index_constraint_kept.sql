-- kinds: extra, column, index, constraint
-- expect-kept: extra column public.gadget.old_code
-- expect-kept: extra index public.gadget.gadget_name_idx
-- expect-kept: extra constraint public.gadget.gadget_name_check
-- live
CREATE TABLE public.gadget (id integer PRIMARY KEY, name text NOT NULL, old_code text,
    CONSTRAINT gadget_name_check CHECK (name <> ''));
CREATE INDEX gadget_name_idx ON public.gadget (name);
-- expected
CREATE TABLE public.gadget (id integer PRIMARY KEY, name text NOT NULL, price numeric);
-- rows
INSERT INTO public.gadget SELECT g, 'g' || g, 'C' || g FROM generate_series(1, 50) g;
