-- kinds: constraint, primary-key
-- live
CREATE TABLE public.station (id integer NOT NULL, name text NOT NULL);
-- expected
CREATE TABLE public.station (id integer NOT NULL, name text NOT NULL,
                             CONSTRAINT station_pkey PRIMARY KEY (id));
-- rows
INSERT INTO public.station SELECT g, 'station ' || g FROM generate_series(1, 250) g;
