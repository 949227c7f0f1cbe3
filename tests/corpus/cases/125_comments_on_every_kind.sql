-- kinds: comment, constraint, trigger, domain, composite-type, enum, sequence, materialized-view
-- live
CREATE TYPE public.tone AS ENUM ('soft', 'loud');
CREATE DOMAIN public.short_text AS varchar(20);
CREATE TYPE public.pair AS (a integer, b integer);
CREATE SEQUENCE public.ref_seq;
CREATE TABLE public.memo (id integer PRIMARY KEY, body public.short_text,
                          CONSTRAINT memo_id_positive CHECK (id > 0));
CREATE FUNCTION public.memo_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER memo_noop BEFORE INSERT ON public.memo FOR EACH ROW EXECUTE FUNCTION public.memo_noop();
CREATE MATERIALIZED VIEW public.memo_count AS SELECT count(*) AS n FROM public.memo;
-- expected
CREATE TYPE public.tone AS ENUM ('soft', 'loud');
CREATE DOMAIN public.short_text AS varchar(20);
CREATE TYPE public.pair AS (a integer, b integer);
CREATE SEQUENCE public.ref_seq;
CREATE TABLE public.memo (id integer PRIMARY KEY, body public.short_text,
                          CONSTRAINT memo_id_positive CHECK (id > 0));
CREATE FUNCTION public.memo_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER memo_noop BEFORE INSERT ON public.memo FOR EACH ROW EXECUTE FUNCTION public.memo_noop();
CREATE MATERIALIZED VIEW public.memo_count AS SELECT count(*) AS n FROM public.memo;
COMMENT ON TYPE public.tone IS 'How loud';
COMMENT ON DOMAIN public.short_text IS 'Up to 20 characters';
COMMENT ON TYPE public.pair IS 'Two integers';
COMMENT ON SEQUENCE public.ref_seq IS 'Reference numbers';
COMMENT ON CONSTRAINT memo_id_positive ON public.memo IS 'Ids start at 1';
COMMENT ON TRIGGER memo_noop ON public.memo IS 'Does nothing yet';
COMMENT ON MATERIALIZED VIEW public.memo_count IS 'Refreshed nightly';
COMMENT ON COLUMN public.memo.body IS 'The memo';
-- rows
INSERT INTO public.memo SELECT g, 'm' || g FROM generate_series(1, 10) g;
