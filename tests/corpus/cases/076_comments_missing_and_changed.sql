-- kinds: comment
-- live
CREATE TABLE public.planet (id integer PRIMARY KEY, name text NOT NULL, mass double precision);
COMMENT ON TABLE public.planet IS 'planets';
COMMENT ON COLUMN public.planet.mass IS 'mass';
-- expected
CREATE TABLE public.planet (id integer PRIMARY KEY, name text NOT NULL, mass double precision);
COMMENT ON TABLE public.planet IS 'Planets of the solar system';
COMMENT ON COLUMN public.planet.mass IS 'Mass in kilograms';
COMMENT ON COLUMN public.planet.name IS 'IAU name';
-- rows
INSERT INTO public.planet VALUES (1, 'Mercury', 3.3e23), (2, 'Venus', 4.87e24);
