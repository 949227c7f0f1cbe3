-- kinds: sequence
-- live
CREATE SEQUENCE public.ticket_number INCREMENT BY 1 MINVALUE 1 MAXVALUE 999999 CACHE 1;
SELECT setval('public.ticket_number', 50);
-- expected
CREATE SEQUENCE public.ticket_number INCREMENT BY 10 MINVALUE 1 MAXVALUE 9999999 CACHE 20 CYCLE;
