-- kinds: column, index, constraint, comment, privilege, default, not-null, combination
-- allow-destructive
-- note: text -> varchar(2) narrows the column: approval needed (the rows fit)
-- live
CREATE TABLE public.course_enrolment (id integer PRIMARY KEY, student integer, course integer,
                                      grade text);
-- expected
CREATE TABLE public.course_enrolment (
    id integer PRIMARY KEY,
    student integer NOT NULL,
    course integer NOT NULL,
    grade varchar(2) DEFAULT 'NA',
    enrolled_on date,
    CONSTRAINT course_enrolment_once UNIQUE (student, course)
);
CREATE INDEX course_enrolment_course ON public.course_enrolment (course);
COMMENT ON COLUMN public.course_enrolment.grade IS 'A to F, NA until graded';
GRANT SELECT ON public.course_enrolment TO {role:teacher};
-- rows
INSERT INTO public.course_enrolment SELECT g, g, g % 5, 'B' FROM generate_series(1, 200) g;
