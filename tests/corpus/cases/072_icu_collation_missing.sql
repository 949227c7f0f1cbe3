-- kinds: collation, index
-- needs: icu
-- live
CREATE TABLE public.keyword (id integer PRIMARY KEY, word text NOT NULL);
-- expected
CREATE COLLATION public.case_insensitive (provider = icu, locale = 'und-u-ks-level2',
                                          deterministic = false);
CREATE TABLE public.keyword (id integer PRIMARY KEY, word text NOT NULL);
CREATE INDEX keyword_word_ci ON public.keyword (word COLLATE public.case_insensitive);
-- rows
INSERT INTO public.keyword SELECT g, 'Word' || g FROM generate_series(1, 100) g;
