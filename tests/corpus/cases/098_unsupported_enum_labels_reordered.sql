-- kinds: enum, unsupported
-- unsupported: enum public.level
-- note: reordering labels changes the sort order of existing values; no ALTER TYPE does it
-- live
CREATE TYPE public.level AS ENUM ('high', 'low', 'medium');
-- expected
CREATE TYPE public.level AS ENUM ('low', 'medium', 'high');
