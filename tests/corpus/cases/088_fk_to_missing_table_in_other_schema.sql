-- kinds: schema, table, constraint, foreign-key, combination
-- live
CREATE TABLE public.shipment_line (id integer PRIMARY KEY, carrier_id integer);
-- expected
CREATE SCHEMA logistics;
CREATE TABLE logistics.carrier (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.shipment_line (id integer PRIMARY KEY, carrier_id integer,
    CONSTRAINT shipment_line_carrier_fk FOREIGN KEY (carrier_id)
        REFERENCES logistics.carrier (id) ON DELETE SET NULL);
-- rows
INSERT INTO public.shipment_line SELECT g, NULL FROM generate_series(1, 40) g;
