-- kinds: constraint, foreign-key
-- live
CREATE TABLE public.folder (id integer PRIMARY KEY);
CREATE TABLE public.file (id integer PRIMARY KEY, folder_id integer NOT NULL,
    CONSTRAINT file_folder_fk FOREIGN KEY (folder_id) REFERENCES public.folder (id));
-- expected
CREATE TABLE public.folder (id integer PRIMARY KEY);
CREATE TABLE public.file (id integer PRIMARY KEY, folder_id integer NOT NULL,
    CONSTRAINT file_folder_fk FOREIGN KEY (folder_id) REFERENCES public.folder (id)
        ON DELETE CASCADE ON UPDATE CASCADE);
-- rows
INSERT INTO public.folder SELECT generate_series(1, 5);
INSERT INTO public.file SELECT g, 1 + g % 5 FROM generate_series(1, 100) g;
