-- kinds: column, not-null, unsupported
-- unsupported: column public.parcel.tracking_code
-- note: a NOT NULL column with no default cannot be added to a table with rows: the value
-- note: for existing rows is a data decision (a data migration)
-- live
CREATE TABLE public.parcel (id integer PRIMARY KEY, weight integer);
-- expected
CREATE TABLE public.parcel (id integer PRIMARY KEY, weight integer,
                            tracking_code text NOT NULL);
-- rows
INSERT INTO public.parcel SELECT g, g * 10 FROM generate_series(1, 30) g;
