-- kinds: sequence, sequence-behind, index, extra, combination
-- expect-kept: extra column public.customer_note.legacy
-- live
CREATE TABLE public.customer_note (id bigserial PRIMARY KEY, customer integer NOT NULL,
                                   body text, legacy text);
-- expected
CREATE TABLE public.customer_note (id bigserial PRIMARY KEY, customer integer NOT NULL,
                                   body text);
CREATE INDEX customer_note_customer ON public.customer_note (customer);
-- rows
INSERT INTO public.customer_note (id, customer, body, legacy)
SELECT g, g % 13, 'b' || g, 'l' || g FROM generate_series(1, 700) g;
