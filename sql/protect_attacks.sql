-- Attacks on the protection, tried as a plain role, an analyst (USAGE on the
-- schema, as analysts get it for the aggregates), a table owner and a role
-- with only the TRIGGER privilege.  Every attempt must fail, and no
-- identifier may end up stored.
SET client_min_messages = warning;
CREATE ROLE regress_atk_owner;
CREATE ROLE regress_atk_analyst;
CREATE ROLE regress_atk_trigger;
CREATE ROLE regress_atk_plain;
RESET client_min_messages;
GRANT USAGE ON SCHEMA anonymize TO regress_atk_owner, regress_atk_analyst;
GRANT EXECUTE ON FUNCTION anonymize.protect(regclass, text[], name, text[], name, boolean, text)
	TO regress_atk_owner;
GRANT CREATE ON SCHEMA public TO regress_atk_owner, regress_atk_plain;
GRANT CREATE ON DATABASE :"DBNAME" TO regress_atk_plain, regress_atk_owner;
CREATE FUNCTION public.atk_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
-- an earlier-sorting trigger may stash the raw value (a documented limit);
-- these tests use it to show that nothing runs after the anonymize trigger
CREATE TABLE public.atk_stash (v text);
GRANT INSERT, SELECT ON public.atk_stash TO PUBLIC;
CREATE FUNCTION public.atk_stash_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.atk_stash VALUES (NEW.email); RETURN NEW; END $$;
CREATE FUNCTION public.atk_restore_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.email := (SELECT max(v) FROM public.atk_stash); RETURN NEW; END $$;

SET ROLE regress_atk_owner;
CREATE TABLE atk_events (id int, email text, kind text);
SELECT anonymize.protect('atk_events', ARRAY['email=pseudonym']);
INSERT INTO atk_events VALUES (1, 'ann@acme.com', 'view');
RESET ROLE;

-- C1: the trigger function is no oracle.  An analyst cannot attach it to a
-- table of its own (a TEMP table is enough to try), and a trigger that
-- protect() did not install refuses to run, even one made by a superuser.
SET ROLE regress_atk_analyst;
CREATE TEMP TABLE oracle (x text);
CREATE TRIGGER zzz_anonymize_protect BEFORE INSERT ON oracle FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'x', 'pseudonym');
RESET ROLE;
CREATE TRIGGER zzz_anonymize_protect BEFORE INSERT ON oracle FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'x', 'pseudonym');
SET ROLE regress_atk_analyst;
INSERT INTO oracle VALUES ('ann@acme.com') RETURNING x;
BEGIN READ ONLY;
INSERT INTO oracle VALUES ('junk@example.org');
ROLLBACK;
RESET ROLE;
-- a registered table's rules cannot be borrowed with other arguments either
CREATE TABLE atk_borrow (id int, email text);
CREATE TRIGGER zzz_anonymize_protect BEFORE INSERT ON atk_borrow FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'email', 'hash');
INSERT INTO atk_borrow VALUES (1, 'ann@acme.com');
DROP TABLE atk_borrow, oracle;
-- temporary tables cannot be protected
SET ROLE regress_atk_owner;
CREATE TEMP TABLE atk_temp (email text);
SELECT anonymize.protect('atk_temp', ARRAY['email=pseudonym']);
DROP TABLE atk_temp;
RESET ROLE;

-- C2: the routes of the review, each refused by the state it leaves.
-- (a) CREATE OR REPLACE TRIGGER with another function, as the owner and as a
-- role that holds only the TRIGGER privilege
GRANT TRIGGER ON atk_events TO regress_atk_trigger;
SET ROLE regress_atk_trigger;
CREATE OR REPLACE TRIGGER zzz_anonymize_protect BEFORE INSERT OR UPDATE ON atk_events
	FOR EACH ROW EXECUTE FUNCTION public.atk_noop();
RESET ROLE;
SET ROLE regress_atk_owner;
CREATE OR REPLACE TRIGGER zzz_anonymize_protect BEFORE INSERT OR UPDATE ON atk_events
	FOR EACH ROW EXECUTE FUNCTION public.atk_noop();
-- ... or with the same function but other arguments (needs EXECUTE on it)
CREATE OR REPLACE TRIGGER zzz_anonymize_protect BEFORE INSERT OR UPDATE ON atk_events
	FOR EACH ROW EXECUTE FUNCTION anonymize.protect_trigger('rule', 'kind', 'strip');
-- (b) a trigger renamed to sort after the anonymize trigger
CREATE TRIGGER aab_restore BEFORE INSERT ON atk_events FOR EACH ROW
	EXECUTE FUNCTION public.atk_restore_email();
ALTER TRIGGER aab_restore ON atk_events RENAME TO zzzz_restore;
CREATE TRIGGER zzzz_restore BEFORE UPDATE ON atk_events FOR EACH ROW
	EXECUTE FUNCTION public.atk_restore_email();
DROP TRIGGER aab_restore ON atk_events;
-- the anonymize trigger itself cannot be renamed away
ALTER TRIGGER zzz_anonymize_protect ON atk_events RENAME TO aaa_protect;
RESET ROLE;
-- (c) a dependency on an extension, which would drop the trigger with it
CREATE EXTENSION btree_gin;
ALTER TRIGGER zzz_anonymize_protect ON atk_events DEPENDS ON EXTENSION btree_gin;
DROP EXTENSION btree_gin;
SET ROLE regress_atk_owner;
-- (d) attaching a partition that already holds rows, or that brings a
-- BEFORE trigger sorting after the anonymize trigger
CREATE TABLE atk_parted (id int, email text) PARTITION BY RANGE (id);
SELECT anonymize.protect('atk_parted', ARRAY['email=pseudonym']);
CREATE TABLE atk_part_full (id int, email text);
INSERT INTO atk_part_full VALUES (5, 'preloaded@acme.com');
ALTER TABLE atk_parted ATTACH PARTITION atk_part_full FOR VALUES FROM (0) TO (10);
CREATE TABLE atk_part_late (id int, email text);
CREATE TRIGGER zzzz_restore BEFORE INSERT ON atk_part_late FOR EACH ROW
	EXECUTE FUNCTION public.atk_restore_email();
ALTER TABLE atk_parted ATTACH PARTITION atk_part_late FOR VALUES FROM (10) TO (20);
-- an empty partition without such triggers is fine, and protected
CREATE TABLE atk_part_ok (id int, email text);
ALTER TABLE atk_parted ATTACH PARTITION atk_part_ok FOR VALUES FROM (20) TO (30);
-- the owner may create partitions: protect() let it use the trigger function
CREATE TABLE atk_part_new PARTITION OF atk_parted FOR VALUES FROM (30) TO (40);
INSERT INTO atk_parted VALUES (21, 'ann@acme.com');
SELECT email = (SELECT email FROM atk_events WHERE id = 1) AS same_pseudonym FROM atk_parted;
ALTER TABLE atk_parted DETACH PARTITION atk_part_ok;
-- (e) inheritance children, made or attached
CREATE TABLE atk_child () INHERITS (atk_events);
CREATE TABLE atk_child (id int, email text, kind text);
ALTER TABLE atk_child INHERIT atk_events;
DROP TABLE atk_child;
-- (f) a column rewritten without the trigger
ALTER TABLE atk_events ALTER COLUMN email TYPE varchar USING 'ann@acme.com';
ALTER TABLE atk_events ALTER COLUMN email TYPE varchar;
-- other columns may still change type
ALTER TABLE atk_events ALTER COLUMN kind TYPE varchar;
-- (g) a rule copying the row before the trigger runs, and a WHEN condition
-- calling a function that could be replaced later
CREATE RULE atk_copy AS ON INSERT TO atk_events DO ALSO INSERT INTO public.atk_stash VALUES (NEW.email);
CREATE FUNCTION public.atk_is_view(text) RETURNS boolean LANGUAGE sql AS $$ SELECT $1 = 'view' $$;
CREATE TABLE atk_when (id int, email text, kind text);
SELECT anonymize.protect('atk_when', ARRAY['email=pseudonym'], when_condition => 'public.atk_is_view(NEW.kind)');
SELECT anonymize.protect('atk_when', ARRAY['email=pseudonym'], when_condition => 'NEW.kind = ''view''');
-- routes not in the review: dropping or renaming a rule column, making a
-- partition a foreign table, disabling the trigger under replication
ALTER TABLE atk_events RENAME COLUMN email TO email_old;
ALTER TABLE atk_events DROP COLUMN email;
ALTER TABLE atk_events DISABLE TRIGGER zzz_anonymize_protect;
-- dropping another column keeps the table protected
ALTER TABLE atk_events ADD COLUMN extra int;
ALTER TABLE atk_events DROP COLUMN extra;
SELECT count(*) AS still_protected FROM anonymize.protected_tables WHERE table_name = 'atk_events'::regclass;
RESET ROLE;
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO atk_events VALUES (2, 'bob@acme.com', 'view');
ROLLBACK;
-- After all of this, the table holds no identifier, its trigger is intact,
-- and nothing the owner did was left in place.
SELECT count(*) FILTER (WHERE email LIKE '%@%') AS raw_emails, count(*) AS rows FROM atk_events;
SELECT tgname, tgenabled, tgfoid::regproc FROM pg_trigger
WHERE tgrelid = 'atk_events'::regclass ORDER BY tgname;
SELECT count(*) AS rules FROM pg_rewrite WHERE ev_class = 'atk_events'::regclass;
SELECT count(*) AS stashed FROM public.atk_stash;

-- C3: protect() cannot be injected: arguments are nodes, never SQL text.
SET ROLE regress_atk_owner;
CREATE TABLE atk_inject (id int, email text);
SELECT anonymize.protect('atk_inject',
	ARRAY[E'email=pseudonym:x\n) EXECUTE FUNCTION public.atk_noop(); CREATE TABLE public.atk_injected AS SELECT current_user AS who --'],
	when_condition => 'true --');
SELECT anonymize.protect('atk_inject', ARRAY['email=pseudonym:x) EXECUTE FUNCTION public.atk_noop(); --'],
	when_condition => 'true --');
SELECT to_regclass('public.atk_injected') AS injected;
SELECT tgname, tgfoid::regproc, tgnargs, encode(tgargs, 'escape') AS args
FROM pg_trigger WHERE tgrelid = 'atk_inject'::regclass;
RESET ROLE;

-- C4: a role without USAGE on the schema runs its migrations as before.
SET ROLE regress_atk_plain;
CREATE SCHEMA atk_plain_app;
CREATE TABLE atk_plain_app.t (a int);
ALTER TABLE atk_plain_app.t ADD COLUMN b int;
CREATE TRIGGER t_noop BEFORE INSERT ON atk_plain_app.t FOR EACH ROW EXECUTE FUNCTION public.atk_noop();
ALTER TRIGGER t_noop ON atk_plain_app.t RENAME TO t_noop2;
DROP TRIGGER t_noop2 ON atk_plain_app.t;
CREATE TABLE atk_plain_app.p (id int) PARTITION BY RANGE (id);
CREATE TABLE atk_plain_app.p1 PARTITION OF atk_plain_app.p FOR VALUES FROM (0) TO (10);
ALTER TABLE atk_plain_app.p DETACH PARTITION atk_plain_app.p1;
DROP SCHEMA atk_plain_app CASCADE;
RESET ROLE;

-- C8: only a strictly well-formed address of a domain that is not listed
-- leaves the scope; anything malformed is anonymized.
CREATE TABLE atk_scope (id int, user_id text, email text);
SELECT anonymize.protect('atk_scope', ARRAY['user_id=pseudonym', 'email=strip'],
	email_column => 'email', email_domains => ARRAY[' ACME.com ']);
SELECT email_domains FROM anonymize.protected_tables WHERE table_name = 'atk_scope'::regclass;
INSERT INTO atk_scope VALUES
	(1, 'ann', 'ann@acme.com'), (2, 'ann', 'ann@ acme.com'), (3, 'ann', 'Ann <ann@acme.com>'),
	(4, 'ann', 'ann@acme.com.'), (5, 'ann', 'ann@@acme.com'), (6, 'ann', 'ann@acme'),
	(7, 'ann', 'ann@ACME.COM'), (8, 'bob', ' bob@other.org '), (9, 'bob', 'bob@other.org.'),
	(10, 'bob', 'bob@xn--bcher-kva.example'), (11, 'bob', 'bob@bücher.example');
SELECT id, user_id = 'ann' OR user_id = 'bob' AS kept, email FROM atk_scope ORDER BY id;
SELECT anonymize.normalize_domain(' Acme.COM '), anonymize.normalize_domain('xn--bcher-kva.example');
SELECT anonymize.normalize_domain('acme.com.');
SELECT anonymize.normalize_domain('bücher.example');
SELECT anonymize.set_tenant_policy('atk-tenant', true, ARRAY['bücher.example']);

-- C9: a backfill leaves no identifier in the planner statistics.
CREATE TABLE atk_stats (id int, email text, domain text);
INSERT INTO atk_stats SELECT g, 'user' || (g % 7) || '@acme.com', 'acme.com' FROM generate_series(1, 700) g;
CREATE STATISTICS atk_stats_ext (mcv) ON email, domain FROM atk_stats;
ANALYZE atk_stats;
SELECT count(*) AS stats_before FROM pg_stats WHERE tablename = 'atk_stats' AND attname = 'email';
SELECT count(*) > 0 AS ext_stats_before FROM pg_statistic_ext_data AS d
	JOIN pg_statistic_ext AS s ON s.oid = d.stxoid WHERE s.stxname = 'atk_stats_ext';
SELECT anonymize.protect('atk_stats', ARRAY['email=pseudonym'], backfill => true);
SELECT count(*) AS stats_after FROM pg_stats WHERE tablename = 'atk_stats' AND attname = 'email';
SELECT count(*) AS ext_stats_after FROM pg_statistic_ext_data AS d
	JOIN pg_statistic_ext AS s ON s.oid = d.stxoid WHERE s.stxname = 'atk_stats_ext';
SELECT count(*) AS domain_stats_kept FROM pg_stats WHERE tablename = 'atk_stats' AND attname = 'domain';

-- C10: rows hidden by row-level security are seen, and a backfill that
-- cannot rewrite every row fails.
SET ROLE regress_atk_owner;
CREATE TABLE atk_rls (id int, tenant text, email text);
INSERT INTO atk_rls VALUES (1, 'a', 'ann@acme.com'), (2, 'b', 'bob@acme.com');
ALTER TABLE atk_rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE atk_rls FORCE ROW LEVEL SECURITY;
CREATE POLICY only_a ON atk_rls USING (tenant = 'a');
SELECT count(*) AS visible FROM atk_rls;
SELECT anonymize.protect('atk_rls', ARRAY['email=pseudonym']);
SELECT anonymize.protect('atk_rls', ARRAY['email=pseudonym'], backfill => true);
ALTER TABLE atk_rls NO FORCE ROW LEVEL SECURITY;
SELECT anonymize.protect('atk_rls', ARRAY['email=pseudonym'], backfill => true);
SELECT count(*) FILTER (WHERE email LIKE '%@%') AS raw_emails FROM atk_rls;
CREATE TABLE atk_skip (id int, email text);
INSERT INTO atk_skip VALUES (1, 'ann@acme.com'), (2, 'bob@acme.com');
CREATE FUNCTION atk_skip_bob() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF OLD.id = 2 THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER a_skip BEFORE UPDATE ON atk_skip FOR EACH ROW EXECUTE FUNCTION atk_skip_bob();
SELECT anonymize.protect('atk_skip', ARRAY['email=pseudonym'], backfill => true);
SELECT count(*) AS protected FROM anonymize.protected_tables WHERE table_name = 'atk_skip'::regclass;
CREATE TABLE atk_parent (id int, email text);
CREATE TABLE atk_kid () INHERITS (atk_parent);
SELECT anonymize.protect('atk_parent', ARRAY['email=pseudonym'], backfill => true);
-- S3: a role that may call protect() but does not own the table is refused
SELECT anonymize.protect('atk_stats', ARRAY['domain=strip']);
RESET ROLE;

-- More routes, found by attacking 0.4.0 itself.
SET ROLE regress_atk_owner;
-- no code of the caller's runs with the extension owner's rights: a domain
-- check in a literal of the condition runs as the caller
CREATE FUNCTION public.atk_escalate(text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN EXECUTE 'ALTER ROLE regress_atk_owner SUPERUSER'; RETURN true; END$$;
CREATE DOMAIN public.atk_checked AS text CHECK (public.atk_escalate(VALUE));
CREATE TYPE public.atk_wrap AS (v public.atk_checked);
CREATE TABLE atk_esc (id int, email text);
SELECT anonymize.protect('atk_esc', ARRAY['email=pseudonym'],
	when_condition => $$'(x)'::public.atk_wrap IS NOT NULL$$);
-- conditions that read settings, other tables or the session are refused
SELECT anonymize.protect('atk_esc', ARRAY['email=pseudonym'],
	when_condition => $$current_setting('app.raw', true) IS NULL$$);
SELECT anonymize.protect('atk_esc', ARRAY['email=pseudonym'],
	when_condition => $$to_regclass('public.atk_off') IS NULL$$);
SELECT anonymize.protect('atk_esc', ARRAY['email=pseudonym'],
	when_condition => $$NEW.email <> current_user$$);
SELECT anonymize.protect('atk_esc', ARRAY['email=pseudonym']);
-- a protected table cannot become a partition, an inheritance child or a
-- typed table (whose parent's or type's changes reach it)
CREATE TABLE atk_host (id int, email text) PARTITION BY RANGE (id);
ALTER TABLE atk_host ATTACH PARTITION atk_esc FOR VALUES FROM (0) TO (100);
CREATE TABLE atk_par (id int, email text);
ALTER TABLE atk_esc INHERIT atk_par;
CREATE TYPE public.atk_row AS (id int, email text);
ALTER TABLE atk_esc OF public.atk_row;
-- dropping a protected column and adding one of the same name with a
-- default for the existing rows
INSERT INTO atk_esc VALUES (1, 'ann@acme.com');
ALTER TABLE atk_esc DROP COLUMN email, ADD COLUMN email text DEFAULT 'carol@acme.com';
SELECT count(*) FILTER (WHERE email LIKE '%@%') AS raw_emails FROM atk_esc;
-- protect() refuses a table whose state the guard would refuse
CREATE TABLE atk_pre (id int, email text);
CREATE TRIGGER zzzz_restore BEFORE INSERT ON atk_pre FOR EACH ROW
	EXECUTE FUNCTION public.atk_restore_email();
SELECT anonymize.protect('atk_pre', ARRAY['email=pseudonym']);
DROP TRIGGER zzzz_restore ON atk_pre;
CREATE RULE atk_keep AS ON UPDATE TO atk_pre DO INSTEAD NOTHING;
SELECT anonymize.protect('atk_pre', ARRAY['email=pseudonym']);
DROP RULE atk_keep ON atk_pre;
-- the WHEN clause cannot be replaced by another one, even by a role that may
-- use the trigger function
CREATE TABLE atk_cond (id int, email text, kind text);
SELECT anonymize.protect('atk_cond', ARRAY['email=pseudonym'], when_condition => 'NEW.kind = ''view''');
CREATE OR REPLACE TRIGGER zzz_anonymize_protect BEFORE INSERT OR UPDATE ON atk_cond FOR EACH ROW
	WHEN (false) EXECUTE FUNCTION anonymize.protect_trigger('rule', 'email', 'pseudonym');
-- a column of the condition cannot be dropped
ALTER TABLE atk_cond DROP COLUMN kind;
ALTER TABLE atk_cond DROP COLUMN kind CASCADE;
INSERT INTO atk_cond VALUES (1, 'ann@acme.com', 'view');
SELECT email LIKE '%@%' AS raw FROM atk_cond;
-- the attached table is the one the command attaches, whatever a partition
-- key's function does to search_path while the command runs
CREATE SCHEMA atk_shadow;
CREATE TABLE atk_shadow.atk_x (id int, email text);
CREATE FUNCTION public.atk_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF current_setting('atk.go', true) = 'yes' THEN
		PERFORM set_config('search_path', 'atk_shadow, public', false);
	END IF;
	RETURN i;
END $$;
CREATE TABLE atk_keyed (id int, email text) PARTITION BY RANGE (public.atk_key(id));
SELECT anonymize.protect('atk_keyed', ARRAY['email=pseudonym']);
-- (such a key is refused since: no code of the owner's runs in a command on
-- the table; with a plain key, the attached table is the one named)
DROP TABLE atk_keyed;
CREATE TABLE atk_keyed (id int, email text) PARTITION BY RANGE (id);
SELECT anonymize.protect('atk_keyed', ARRAY['email=pseudonym']);
CREATE TABLE public.atk_x (id int, email text);
INSERT INTO public.atk_x VALUES (1, 'ann@acme.com');
SET atk.go = 'yes';
ALTER TABLE atk_keyed ATTACH PARTITION atk_x FOR VALUES FROM (0) TO (10);
RESET atk.go;
SET search_path = public;
SELECT count(*) AS attached_rows FROM atk_keyed;
-- DETACH CONCURRENTLY is refused before its first step commits
CREATE TABLE atk_keyed_1 PARTITION OF atk_keyed FOR VALUES FROM (10) TO (20);
ALTER TABLE atk_keyed DETACH PARTITION atk_keyed_1 CONCURRENTLY;
SELECT count(*) AS pending FROM pg_inherits WHERE inhrelid = 'atk_keyed_1'::regclass AND inhdetachpending;
RESET ROLE;
-- a new owner may create partitions: the guard lets it use the trigger function
ALTER TABLE atk_keyed OWNER TO regress_atk_plain;
SET ROLE regress_atk_plain;
CREATE TABLE atk_keyed_2 PARTITION OF atk_keyed FOR VALUES FROM (20) TO (30);
-- and a role that only read a protected table runs DDL elsewhere
BEGIN;
SELECT count(*) FROM atk_keyed;
CREATE TABLE atk_plain_t (x int);
DROP TABLE atk_plain_t;
COMMIT;
RESET ROLE;

-- The guard never parses a stored condition again (only deparses the
-- trigger's), so operators and types that others create later in public
-- neither change its meaning nor run as whoever does DDL on the table.
CREATE TABLE atk_ops (id int, amount numeric, code varchar, email text);
SELECT anonymize.protect('atk_ops', ARRAY['email=pseudonym'],
	when_condition => 'NEW.amount > 0 AND NEW.code <> ''x''');
SELECT when_condition FROM anonymize.protected_tables WHERE table_name = 'atk_ops'::regclass;
RESET ROLE;
SET ROLE regress_atk_plain;
CREATE FUNCTION public.atk_gt(numeric, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR public.> (LEFTARG = numeric, RIGHTARG = int, FUNCTION = public.atk_gt);
RESET ROLE;
CREATE INDEX ON atk_ops (id);
INSERT INTO atk_ops VALUES (1, 5, 'y', 'ann@acme.com');
SELECT email LIKE '%@%' AS raw FROM atk_ops;
DROP OPERATOR public.> (numeric, int);
DROP FUNCTION public.atk_gt;
SET ROLE regress_atk_owner;
-- partition bounds and keys that run code are refused: they run while a new
-- partition has no trigger yet
CREATE TABLE atk_bound (id int, email text) PARTITION BY RANGE (id);
SELECT anonymize.protect('atk_bound', ARRAY['email=pseudonym']);
CREATE FUNCTION public.atk_zero() RETURNS int LANGUAGE sql AS 'SELECT 0';
CREATE TABLE atk_bound_1 (id int, email text);
ALTER TABLE atk_bound ATTACH PARTITION atk_bound_1 FOR VALUES FROM (public.atk_zero()) TO (10);
CREATE TABLE atk_bound_2 PARTITION OF atk_bound FOR VALUES FROM (public.atk_zero()) TO (10);
CREATE TABLE atk_bound_3 PARTITION OF atk_bound FOR VALUES FROM (-5) TO (0);
CREATE FUNCTION public.atk_k(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN i; END';
CREATE TABLE atk_keyfn (id int, email text) PARTITION BY RANGE (public.atk_k(id));
SELECT anonymize.protect('atk_keyfn', ARRAY['email=pseudonym']);
CREATE TABLE atk_bound_4 PARTITION OF atk_bound FOR VALUES FROM (10) TO (20) PARTITION BY RANGE (public.atk_k(id));
RESET ROLE;
-- a role that does not own the protected table cannot make the guard lock
-- or scan another table
SET ROLE regress_atk_plain;
ALTER TABLE atk_bound ATTACH PARTITION pg_catalog.pg_class FOR VALUES FROM (100) TO (200);
RESET ROLE;

-- S2: the map is written as a catalog is (heap and index directly): it is
-- not written at all once something was added to it that would be skipped
CREATE INDEX atk_map_extra ON anonymize.pseudonyms ((length(lookup)));
INSERT INTO atk_events VALUES (3, 'new-person@acme.com', 'view');
DROP INDEX anonymize.atk_map_extra;
INSERT INTO atk_events VALUES (3, 'new-person@acme.com', 'view');
SELECT count(*) FILTER (WHERE email LIKE '%@%') AS raw_emails, count(*) AS rows FROM atk_events;

-- Canonical conditions mean the same under every setting: written and read
-- with DateStyle ISO, TimeZone UTC and only pg_catalog on the search path.
SET ROLE regress_atk_owner;
SET DateStyle = 'SQL, MDY';
CREATE TABLE atk_dates (id int, email text, d date);
SELECT anonymize.protect('atk_dates', ARRAY['email=pseudonym'], when_condition => $$NEW.d >= '2024-01-12'$$);
SELECT when_condition FROM anonymize.protected_tables WHERE table_name = 'atk_dates'::regclass;
-- the same text means another date under DMY: the replacement is refused
SET DateStyle = 'SQL, DMY';
CREATE OR REPLACE TRIGGER zzz_anonymize_protect BEFORE INSERT OR UPDATE ON atk_dates FOR EACH ROW
	WHEN (NEW.d >= '2024-12-01') EXECUTE FUNCTION anonymize.protect_trigger('rule', 'email', 'pseudonym');
-- DROP TRIGGER puts back the registered condition, whatever the settings
DROP TRIGGER zzz_anonymize_protect ON atk_dates;
RESET DateStyle;
SET TimeZone = 'Asia/Kolkata';
INSERT INTO atk_dates VALUES (1, 'ann@acme.com', '2024-06-01');
SELECT email LIKE '%@%' AS raw FROM atk_dates;
RESET TimeZone;
-- enums (whose labels can be renamed, so that a literal or a cast to text
-- means another label) and literals naming catalog objects (a text search
-- configuration can be changed) are refused
CREATE TYPE public.atk_kinds AS ENUM ('view', 'click');
CREATE TABLE atk_enum (id int, email text, kind public.atk_kinds);
SELECT anonymize.protect('atk_enum', ARRAY['email=pseudonym'], when_condition => $$NEW.kind = 'view'$$);
SELECT anonymize.protect('atk_enum', ARRAY['email=pseudonym'], when_condition => $$NEW.kind::text = 'view'$$);
CREATE TEXT SEARCH CONFIGURATION public.atk_cfg (COPY = pg_catalog.simple);
CREATE TABLE atk_ts (id int, email text, kind text);
SELECT anonymize.protect('atk_ts', ARRAY['email=pseudonym'],
	when_condition => $$to_tsvector('public.atk_cfg'::regconfig, NEW.kind) @@ 'view'::tsquery$$);
RESET ROLE;
-- a superuser whose search_path puts another schema first runs nobody's
-- code when the trigger is put back
SET search_path = atk_shadow, pg_catalog, public;
DROP TRIGGER zzz_anonymize_protect ON public.atk_dates;
RESET search_path;
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'atk_dates'::regclass AND tgname = 'zzz_anonymize_protect';

-- The canonical text is read with standard_conforming_strings on and
-- pg_temp searched last, whatever the session that puts a trigger back.
SET ROLE regress_atk_owner;
CREATE TABLE atk_bs (id int, email text, kind varchar);
SELECT anonymize.protect('atk_bs', ARRAY['email=pseudonym'],
	when_condition => $$length('\\') = 2 AND NEW.kind::text IS NOT NULL$$);
SET standard_conforming_strings = off;
CREATE TEMP TABLE atk_tmp (a int);
CREATE TYPE pg_temp.text AS (a int, b int);
DROP TRIGGER zzz_anonymize_protect ON atk_bs;
RESET standard_conforming_strings;
DROP TYPE pg_temp.text;
INSERT INTO atk_bs VALUES (1, 'ann@acme.com', 'view');
SELECT email LIKE '%@%' AS raw FROM atk_bs;
-- an expression of a type naming a catalog object is refused, also behind a
-- cast of a number
CREATE TEXT SEARCH DICTIONARY public.atk_dict (TEMPLATE = pg_catalog.simple, ACCEPT = true);
CREATE TABLE atk_lex (id int, email text);
SELECT anonymize.protect('atk_lex', ARRAY['email=pseudonym'],
	when_condition => format($$ts_lexize(%s::oid::regdictionary, 'x') IS NOT NULL$$,
	                         'public.atk_dict'::regdictionary::oid));
-- a partition key of a type that is not built in is refused: a bound is
-- converted to it, maybe by a cast of the owner's
CREATE TYPE public.atk_keytype AS ENUM ('a', 'b');
CREATE TABLE atk_enumkey (id public.atk_keytype, email text) PARTITION BY LIST (id);
SELECT anonymize.protect('atk_enumkey', ARRAY['email=pseudonym']);
RESET ROLE;

-- S9: DROP EXTENSION is refused only because of registered tables
DROP EXTENSION anonymize;

DROP TABLE atk_events, atk_parted, atk_part_full, atk_part_late, atk_part_ok, atk_when,
	atk_inject, atk_scope, atk_stats, atk_rls, atk_skip, atk_parent, atk_esc, atk_host,
	atk_par, atk_pre, atk_cond, atk_keyed, public.atk_x, atk_ops, atk_bound, atk_bound_1,
	atk_keyfn, atk_dates, atk_enum, atk_ts, atk_bs, atk_lex, atk_enumkey CASCADE;
DROP TYPE public.atk_keytype;
DROP TEXT SEARCH DICTIONARY public.atk_dict;
DROP TYPE public.atk_kinds;
DROP TEXT SEARCH CONFIGURATION public.atk_cfg;
DROP SCHEMA atk_shadow CASCADE;
DROP TYPE public.atk_row, public.atk_wrap;
DROP DOMAIN public.atk_checked;
DROP FUNCTION public.atk_escalate, public.atk_key, public.atk_zero, public.atk_k;
DROP FUNCTION public.atk_noop, public.atk_stash_email, public.atk_restore_email, public.atk_is_view;
DROP TABLE public.atk_stash;
REVOKE CREATE ON DATABASE :"DBNAME" FROM regress_atk_plain, regress_atk_owner;
DROP OWNED BY regress_atk_owner, regress_atk_analyst, regress_atk_trigger, regress_atk_plain;
DROP ROLE regress_atk_owner, regress_atk_analyst, regress_atk_trigger, regress_atk_plain;
