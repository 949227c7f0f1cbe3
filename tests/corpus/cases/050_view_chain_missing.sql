-- kinds: view
-- live
CREATE SCHEMA report;
CREATE TABLE public.expense (id integer PRIMARY KEY, cat text, amount numeric NOT NULL);
-- expected
CREATE SCHEMA report;
CREATE TABLE public.expense (id integer PRIMARY KEY, cat text, amount numeric NOT NULL);
CREATE VIEW report.expense_clean AS
    SELECT id, coalesce(cat, 'other') AS cat, amount FROM public.expense;
CREATE VIEW report.expense_total AS
    SELECT cat, sum(amount) AS total FROM report.expense_clean GROUP BY cat;
CREATE VIEW public.big_expense AS
    SELECT * FROM report.expense_clean WHERE amount > 100;
-- rows
INSERT INTO public.expense SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'c' || g % 3 END, g * 5
FROM generate_series(1, 60) g;
