-- kinds: column, type, enum
-- allow-destructive
-- live
CREATE TYPE public.old_state AS ENUM ('draft', 'sent', 'paid');
CREATE TYPE public.invoice_state AS ENUM ('draft', 'sent', 'paid', 'void');
CREATE TABLE public.bill (id integer PRIMARY KEY, state public.old_state NOT NULL DEFAULT 'draft');
-- expected
CREATE TYPE public.old_state AS ENUM ('draft', 'sent', 'paid');
CREATE TYPE public.invoice_state AS ENUM ('draft', 'sent', 'paid', 'void');
CREATE TABLE public.bill (id integer PRIMARY KEY,
                          state public.invoice_state NOT NULL DEFAULT 'draft');
-- rows
INSERT INTO public.bill
SELECT g, (ARRAY['draft', 'sent', 'paid'])[1 + g % 3]::public.old_state FROM generate_series(1, 90) g;
