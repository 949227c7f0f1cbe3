-- kinds: constraint, not-valid
-- live
CREATE TABLE public.region (id integer PRIMARY KEY);
CREATE TABLE public.store (id integer PRIMARY KEY, region_id integer NOT NULL, size integer);
ALTER TABLE public.store ADD CONSTRAINT store_region_fk FOREIGN KEY (region_id)
    REFERENCES public.region (id) NOT VALID;
ALTER TABLE public.store ADD CONSTRAINT store_size_check CHECK (size > 0) NOT VALID;
-- expected
CREATE TABLE public.region (id integer PRIMARY KEY);
CREATE TABLE public.store (id integer PRIMARY KEY, region_id integer NOT NULL, size integer);
ALTER TABLE public.store ADD CONSTRAINT store_region_fk FOREIGN KEY (region_id)
    REFERENCES public.region (id);
ALTER TABLE public.store ADD CONSTRAINT store_size_check CHECK (size > 0);
-- rows
INSERT INTO public.region SELECT generate_series(1, 3);
INSERT INTO public.store SELECT g, 1 + g % 3, g FROM generate_series(1, 90) g;
