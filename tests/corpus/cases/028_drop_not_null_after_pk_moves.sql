-- kinds: column, not-null, constraint, primary-key
-- pk-strategy: swap
-- note: the key moves from code to id before code's NOT NULL can go
-- live
CREATE TABLE public.country (id integer NOT NULL, code char(2) NOT NULL, name text NOT NULL,
                             CONSTRAINT country_pkey PRIMARY KEY (code));
-- expected
CREATE TABLE public.country (id integer NOT NULL, code char(2), name text NOT NULL,
                             CONSTRAINT country_pkey PRIMARY KEY (id));
-- rows
INSERT INTO public.country VALUES (1, 'FR', 'France'), (2, 'PT', 'Portugal'), (3, 'AT', 'Austria'),
                                  (4, 'JP', 'Japan');
