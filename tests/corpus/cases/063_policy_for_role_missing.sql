-- kinds: policy, privilege
-- live
CREATE TABLE public.report_row (id integer PRIMARY KEY, team text NOT NULL);
ALTER TABLE public.report_row ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON public.report_row TO {role:reader};
-- expected
CREATE TABLE public.report_row (id integer PRIMARY KEY, team text NOT NULL);
ALTER TABLE public.report_row ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON public.report_row TO {role:reader};
CREATE POLICY report_row_team ON public.report_row AS RESTRICTIVE FOR SELECT
    TO {role:reader} USING (team = 'blue');
-- rows
INSERT INTO public.report_row SELECT g, CASE WHEN g % 2 = 0 THEN 'blue' ELSE 'red' END
FROM generate_series(1, 10) g;
