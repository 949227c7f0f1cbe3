-- kinds: constraint, unique
-- live
CREATE TABLE public.member (id integer PRIMARY KEY, login text NOT NULL, club integer NOT NULL,
                            badge integer NOT NULL);
-- expected
CREATE TABLE public.member (id integer PRIMARY KEY, login text NOT NULL, club integer NOT NULL,
                            badge integer NOT NULL,
    CONSTRAINT member_login_key UNIQUE (login),
    CONSTRAINT member_club_badge_key UNIQUE (club, badge));
-- rows
INSERT INTO public.member SELECT g, 'user' || g, g % 4, g FROM generate_series(1, 400) g;
