-- kinds: constraint, check
-- live
CREATE TABLE public.booking (id integer PRIMARY KEY, room integer NOT NULL,
                             during tsrange NOT NULL, guests integer NOT NULL);
-- expected
CREATE TABLE public.booking (id integer PRIMARY KEY, room integer NOT NULL,
                             during tsrange NOT NULL, guests integer NOT NULL,
    CONSTRAINT booking_guests_check CHECK (guests > 0 AND guests < 10));
-- rows
INSERT INTO public.booking
SELECT g, g % 5, tsrange(timestamp '2024-01-01' + g * interval '1 day',
                         timestamp '2024-01-01' + (g + 1) * interval '1 day'), 2
FROM generate_series(1, 50) g;
