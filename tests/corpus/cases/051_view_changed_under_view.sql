-- kinds: view
-- note: the inner view's column list changes while another view reads it
-- live
CREATE TABLE public.course (id integer PRIMARY KEY, title text, credits integer);
CREATE VIEW public.course_v AS SELECT id, title FROM public.course;
CREATE VIEW public.course_titles AS SELECT title FROM public.course_v;
-- expected
CREATE TABLE public.course (id integer PRIMARY KEY, title text, credits integer);
CREATE VIEW public.course_v AS SELECT id, title, credits FROM public.course;
CREATE VIEW public.course_titles AS SELECT title FROM public.course_v;
-- rows
INSERT INTO public.course SELECT g, 'course ' || g, g % 6 FROM generate_series(1, 25) g;
