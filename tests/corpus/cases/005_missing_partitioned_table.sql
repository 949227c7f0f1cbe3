-- kinds: table, partition
-- live
CREATE TABLE public.tenant (id integer PRIMARY KEY, name text NOT NULL);
-- expected
CREATE TABLE public.tenant (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.event (
    tenant_id integer NOT NULL,
    id bigint NOT NULL,
    kind text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY LIST (tenant_id);
CREATE TABLE public.event_t1 PARTITION OF public.event FOR VALUES IN (1);
CREATE TABLE public.event_t2 PARTITION OF public.event FOR VALUES IN (2, 3);
CREATE TABLE public.event_other PARTITION OF public.event DEFAULT;
-- rows
INSERT INTO public.tenant VALUES (1, 'one'), (2, 'two'), (3, 'three');
