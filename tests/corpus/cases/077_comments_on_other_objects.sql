-- kinds: comment, view, function, index, schema
-- live
CREATE SCHEMA astro;
CREATE TABLE astro.star (id integer PRIMARY KEY, name text NOT NULL);
CREATE INDEX star_name_idx ON astro.star (name);
CREATE VIEW astro.bright AS SELECT id, name FROM astro.star;
CREATE FUNCTION astro.star_count() RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM astro.star $$;
COMMENT ON VIEW astro.bright IS 'old';
-- expected
CREATE SCHEMA astro;
CREATE TABLE astro.star (id integer PRIMARY KEY, name text NOT NULL);
CREATE INDEX star_name_idx ON astro.star (name);
CREATE VIEW astro.bright AS SELECT id, name FROM astro.star;
CREATE FUNCTION astro.star_count() RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM astro.star $$;
COMMENT ON SCHEMA astro IS 'Astronomy';
COMMENT ON VIEW astro.bright IS 'Stars brighter than magnitude 2';
COMMENT ON FUNCTION astro.star_count() IS 'How many stars';
COMMENT ON INDEX astro.star_name_idx IS 'Lookup by name';
-- rows
INSERT INTO astro.star VALUES (1, 'Sirius'), (2, 'Vega');
