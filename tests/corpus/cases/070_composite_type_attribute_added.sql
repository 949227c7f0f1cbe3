-- kinds: composite-type
-- live
CREATE TYPE public.money_amount AS (amount numeric, currency char(3));
-- expected
CREATE TYPE public.money_amount AS (amount numeric, currency char(3), rate numeric);
