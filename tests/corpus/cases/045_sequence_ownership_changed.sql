-- kinds: sequence
-- live
CREATE TABLE public.queue_item (id bigint NOT NULL PRIMARY KEY, pos bigint);
CREATE SEQUENCE public.queue_pos_seq;
-- expected
CREATE TABLE public.queue_item (id bigint NOT NULL PRIMARY KEY, pos bigint);
CREATE SEQUENCE public.queue_pos_seq OWNED BY public.queue_item.pos;
-- rows
INSERT INTO public.queue_item SELECT g, NULL FROM generate_series(1, 10) g;
