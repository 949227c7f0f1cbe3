-- kinds: table, inheritance
-- live
CREATE TABLE public.animal (id integer NOT NULL, name text NOT NULL);
CREATE TABLE public.dog (id integer NOT NULL, name text NOT NULL, breed text);
-- expected
CREATE TABLE public.animal (id integer NOT NULL, name text NOT NULL);
CREATE TABLE public.dog (breed text) INHERITS (public.animal);
-- rows
INSERT INTO public.animal SELECT g, 'animal ' || g FROM generate_series(1, 10) g;
INSERT INTO public.dog SELECT g, 'dog ' || g, 'mixed' FROM generate_series(11, 30) g;
