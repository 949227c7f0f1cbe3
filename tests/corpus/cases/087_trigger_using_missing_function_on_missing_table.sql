-- kinds: trigger, function, table, combination
-- live
CREATE TABLE public.orderbook (id integer PRIMARY KEY);
-- expected
CREATE TABLE public.orderbook (id integer PRIMARY KEY);
CREATE TABLE public.order_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION public.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.order_history (order_id) VALUES (NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER orderbook_log AFTER INSERT ON public.orderbook
    FOR EACH ROW EXECUTE FUNCTION public.log_order();
-- rows
INSERT INTO public.orderbook SELECT generate_series(1, 15);
