-- kinds: table
-- live
CREATE SCHEMA inventory;
CREATE TABLE inventory.warehouse (id integer PRIMARY KEY, city text NOT NULL);
-- expected
CREATE SCHEMA inventory;
CREATE TABLE inventory.warehouse (id integer PRIMARY KEY, city text NOT NULL);
CREATE TABLE inventory.bin (
    id integer PRIMARY KEY,
    label text NOT NULL,
    capacity smallint NOT NULL DEFAULT 10
);
-- rows
INSERT INTO inventory.warehouse VALUES (1, 'Lyon'), (2, 'Porto'), (3, 'Graz');
