-- kinds: table, partition
-- live
CREATE TABLE public.account (id integer PRIMARY KEY);
-- expected
CREATE TABLE public.account (id integer PRIMARY KEY);
CREATE TABLE public.ledger_line (
    account_id integer NOT NULL,
    line_no integer NOT NULL,
    amount numeric(14, 2) NOT NULL,
    PRIMARY KEY (account_id, line_no)
) PARTITION BY HASH (account_id);
CREATE TABLE public.ledger_line_p0 PARTITION OF public.ledger_line
    FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE public.ledger_line_p1 PARTITION OF public.ledger_line
    FOR VALUES WITH (MODULUS 2, REMAINDER 1);
-- rows
INSERT INTO public.account SELECT generate_series(1, 20);
