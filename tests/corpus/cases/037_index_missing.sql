-- kinds: index
-- live
CREATE TABLE public.article (id integer PRIMARY KEY, slug text NOT NULL, created date NOT NULL,
                             author integer);
-- expected
CREATE TABLE public.article (id integer PRIMARY KEY, slug text NOT NULL, created date NOT NULL,
                             author integer);
CREATE INDEX article_created_idx ON public.article (created DESC);
CREATE INDEX article_author_created_idx ON public.article (author, created);
CREATE UNIQUE INDEX article_slug_uniq ON public.article (slug);
-- rows
INSERT INTO public.article SELECT g, 'slug-' || g, date '2024-01-01' + g % 365, g % 17
FROM generate_series(1, 1000) g;
