-- kinds: constraint, foreign-key
-- live
CREATE TABLE public.team (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.player (id integer PRIMARY KEY, team_id integer, name text NOT NULL);
-- expected
CREATE TABLE public.team (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.player (id integer PRIMARY KEY, team_id integer, name text NOT NULL,
    CONSTRAINT player_team_fk FOREIGN KEY (team_id) REFERENCES public.team (id)
        DEFERRABLE INITIALLY DEFERRED);
-- rows
INSERT INTO public.team SELECT g, 'team ' || g FROM generate_series(1, 10) g;
INSERT INTO public.player SELECT g, 1 + g % 10, 'p' || g FROM generate_series(1, 200) g;
INSERT INTO public.player VALUES (201, NULL, 'free agent');
