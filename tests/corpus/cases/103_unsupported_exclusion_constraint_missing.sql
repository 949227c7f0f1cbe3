-- kinds: constraint, exclusion, unsupported
-- unsupported: constraint public.room_booking.room_booking_no_overlap
-- note: ADD CONSTRAINT … EXCLUDE builds its index under an ACCESS EXCLUSIVE lock; there is no
-- note: online way (no CONCURRENTLY, no USING INDEX for exclusion constraints)
-- live
CREATE TABLE public.room_booking (id integer PRIMARY KEY, room integer NOT NULL,
                                  during tsrange NOT NULL);
-- expected
CREATE TABLE public.room_booking (id integer PRIMARY KEY, room integer NOT NULL,
                                  during tsrange NOT NULL,
    CONSTRAINT room_booking_no_overlap EXCLUDE USING gist (during WITH &&));
-- rows
INSERT INTO public.room_booking
SELECT g, g % 5, tsrange(timestamp '2024-01-01' + g * interval '1 day',
                         timestamp '2024-01-01' + (g + 1) * interval '1 day')
FROM generate_series(1, 50) g;
