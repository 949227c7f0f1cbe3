-- kinds: column, type, constraint, foreign-key, sequence, combination
-- allow-destructive
-- note: Django's AutoField -> BigAutoField on a referenced key and the referencing column:
-- note: both rewrite their tables (approval needed), the FK and sequences follow
-- live
CREATE TABLE public.library (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.loan (id serial PRIMARY KEY,
                          library_id integer NOT NULL REFERENCES public.library (id));
CREATE INDEX loan_library_id ON public.loan (library_id);
-- expected
CREATE TABLE public.library (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.loan (id serial PRIMARY KEY,
                          library_id bigint NOT NULL REFERENCES public.library (id));
CREATE INDEX loan_library_id ON public.loan (library_id);
-- rows
INSERT INTO public.library (name) SELECT 'lib ' || g FROM generate_series(1, 10) g;
INSERT INTO public.loan (library_id) SELECT 1 + g % 10 FROM generate_series(1, 200) g;
