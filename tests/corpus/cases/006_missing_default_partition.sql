-- kinds: table, partition
-- live
CREATE TABLE public.ticket (
    id bigint NOT NULL,
    region text NOT NULL,
    subject text
) PARTITION BY LIST (region);
CREATE TABLE public.ticket_eu PARTITION OF public.ticket FOR VALUES IN ('eu');
CREATE TABLE public.ticket_us PARTITION OF public.ticket FOR VALUES IN ('us');
-- expected
CREATE TABLE public.ticket (
    id bigint NOT NULL,
    region text NOT NULL,
    subject text
) PARTITION BY LIST (region);
CREATE TABLE public.ticket_eu PARTITION OF public.ticket FOR VALUES IN ('eu');
CREATE TABLE public.ticket_us PARTITION OF public.ticket FOR VALUES IN ('us');
CREATE TABLE public.ticket_rest PARTITION OF public.ticket DEFAULT;
-- rows
INSERT INTO public.ticket
SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'subject ' || g
FROM generate_series(1, 120) g;
