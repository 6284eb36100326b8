-- Upgrading from 0.1.0 through 0.2.0: ALTER EXTENSION UPDATE gives the same
-- extension as a fresh CREATE EXTENSION, and what was made before an upgrade
-- keeps working.
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS anonymize_upgrade;
RESET client_min_messages;
CREATE DATABASE anonymize_upgrade;
\c anonymize_upgrade
CREATE EXTENSION anonymize VERSION '0.1.0';
CREATE TABLE upgrade_responses (country text, score float8);
INSERT INTO upgrade_responses VALUES ('FR', 1), ('FR', 2), ('DE', 3);
CREATE VIEW upgrade_report AS
	SELECT anonymize.anonymized_breakout(country, score, 2) AS groups FROM upgrade_responses;
SELECT extversion FROM pg_extension WHERE extname = 'anonymize';

ALTER EXTENSION anonymize UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'anonymize';

-- the view made under 0.1.0 still answers
SELECT g.label, g.members, g.n, g.status FROM upgrade_report, unnest(groups) AS g;

-- the upgrade made a secret of 32 random bytes
SELECT count(*) AS secrets, bool_and(length(key) = 32) AS key_is_32_bytes FROM anonymize.secret;

-- and everything protect() needs: the guard's event triggers are enabled
SELECT evtname, evtevent, evtenabled FROM pg_event_trigger ORDER BY evtname;
CREATE TABLE upgrade_events (user_id text, email text);
SELECT anonymize.protect('upgrade_events', '{user_id=pseudonym,email=hash}');
INSERT INTO upgrade_events VALUES ('alice', ' Alice@ACME.com');
SELECT user_id <> 'alice' AS pseudonymized, email ~ '^[0-9a-f]{64}$' AS hashed FROM upgrade_events;
-- conditions as earlier versions kept them: as written, and free to call
-- a function of the owner's
CREATE FUNCTION up_is_view(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 = 'view' $$;
CREATE TABLE upgrade_when_user (kind text, email text);
SELECT anonymize.protect('upgrade_when_user', '{email=pseudonym}', when_condition => 'NEW.kind = ''view''');
-- (the library refuses such a condition now; here is what 0.2.0 made of it)
CREATE OR REPLACE TRIGGER zzz_anonymize_protect BEFORE INSERT OR UPDATE ON upgrade_when_user
	FOR EACH ROW WHEN (up_is_view(NEW.kind))
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'email', 'pseudonym');
ALTER TABLE upgrade_when_user ENABLE ALWAYS TRIGGER zzz_anonymize_protect;
UPDATE anonymize.protection SET when_condition = 'up_is_view(NEW.kind)'
WHERE relid = 'upgrade_when_user'::regclass;
CREATE TABLE upgrade_when_builtin (kind text, email text);
SELECT anonymize.protect('upgrade_when_builtin', '{email=pseudonym}', when_condition => 'NEW.kind = ''view''');

-- With a known key, hash gives the HMAC-SHA256 of 'h', the namespace, a zero
-- byte and the normalized identifier (computed independently): a stored hash
-- stays comparable with later ones across versions.
INSERT INTO anonymize.secret SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex')
	FROM generate_series(0, 31) AS i;
INSERT INTO upgrade_events VALUES (NULL, ' Alice@ACME.com'), (NULL, 'user-42');
SELECT email FROM upgrade_events WHERE user_id IS NULL ORDER BY email;
-- Under the new key Alice is someone new: the pseudonym this session cached
-- under the old key is not used.
INSERT INTO upgrade_events VALUES ('alice', NULL);
SELECT count(DISTINCT user_id) AS pseudonyms_of_alice FROM upgrade_events;

-- 0.3.0: breakouts by two fields and by people, comments, k-anonymity; and
-- set_tenant_policy refuses a domain with spaces, as protect() does.
SELECT anonymize.set_tenant_policy('spaced', true, ARRAY['acme .com']);
ALTER EXTENSION anonymize UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'anonymize';
SELECT anonymize.set_tenant_policy('spaced-too', true, ARRAY['acme .com']);
SELECT tenant, email_domains FROM anonymize.tenant_policies ORDER BY tenant;
SELECT c.label1, c.label2, c.n, c.status
FROM unnest((SELECT anonymize.anonymized_breakout(country, score > 1, score, 1,
	'not_sensitive', 'not_sensitive') FROM upgrade_responses)) AS c;
SELECT anonymize.k_anonymity('upgrade_responses', '{country}');
SELECT g.label, g.n FROM upgrade_report, unnest(groups) AS g;

-- 0.4.0: the protection holds against ordinary roles.
ALTER EXTENSION anonymize UPDATE TO '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'anonymize';
-- The key has moved out of the table into its file in the data directory:
-- the row keeps its key id, HMAC-SHA256(key, 'anonymize key id') cut to 16
-- bytes (computed independently for the known key).
SELECT key, key_id FROM anonymize.secret;
SELECT anonymize.export_key() = decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') AS same_key
	FROM generate_series(0, 31) AS i;
-- A new session reads the key from its file: Alice keeps the pseudonym and
-- the hash she got under 0.2.0.
\c anonymize_upgrade
INSERT INTO upgrade_events VALUES ('alice', ' Alice@ACME.com');
SELECT count(DISTINCT user_id) AS pseudonyms_of_alice,
	count(*) FILTER (WHERE email = '299ae27a9f59fe4062e35f172f942cec06a86f5617e6616ea034bc710def7f94')
	AS same_hash_of_alice
	FROM upgrade_events;
-- import_key accepts the database's own key as it is, and returns its key id.
SELECT anonymize.import_key(decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex'))
	FROM generate_series(0, 31) AS i;
-- the table protected under 0.2.0 is guarded by the checks of 0.4.0, and its
-- trigger still runs: its arguments are those its registry row implies
INSERT INTO upgrade_events VALUES ('bob', NULL);
SELECT count(*) FILTER (WHERE user_id = 'bob') AS raw FROM upgrade_events;
ALTER TABLE upgrade_events DISABLE TRIGGER zzz_anonymize_protect;
SELECT has_function_privilege('public', 'anonymize.protect_trigger()', 'EXECUTE') AS public_may_attach_trigger;
-- 0.4.0 keeps conditions in canonical form; a condition that calls a
-- function of the owner's (which the owner could replace) stops the trigger
SELECT table_name, when_condition FROM anonymize.protected_tables
WHERE table_name::text LIKE 'upgrade_when%' ORDER BY 1;
INSERT INTO upgrade_when_builtin VALUES ('view', 'ann@acme.com');
SELECT email LIKE '%@%' AS raw FROM upgrade_when_builtin;
INSERT INTO upgrade_when_user VALUES ('view', 'ann@acme.com');

-- 0.5.0: anonymized access for BI roles; what came before keeps answering.
ALTER EXTENSION anonymize UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'anonymize';
SELECT g.label, g.n FROM upgrade_report, unnest(groups) AS g;
SELECT anonymize.label('upgrade_responses', 'country', 'not_sensitive');
SELECT anonymize.set_threshold('upgrade_responses', 2);
SELECT table_name, column_name, sensitivity, is_subject FROM anonymize.labels;
SELECT table_name, threshold FROM anonymize.anonymized_grants;
-- a dropped table still leaves the registry, and now its labels
CREATE TABLE upgrade_dropped (x int);
SELECT anonymize.label('upgrade_dropped', 'x', 'not_sensitive');
DROP TABLE upgrade_dropped;
SELECT count(*) AS labelled_tables FROM anonymize.label_tables;

-- The members of the upgraded extension, with their privileges, are those of
-- a fresh install (in the regression database).
CREATE FUNCTION pg_temp.members() RETURNS TABLE (n bigint, digest text) LANGUAGE sql AS $$
	SELECT count(*), md5(string_agg(m, E'\n' ORDER BY m))
	FROM (SELECT pg_describe_object(d.classid, d.objid, 0) || ' ' ||
	             coalesce((SELECT p.proacl::text FROM pg_proc AS p
	                       WHERE d.classid = 'pg_proc'::regclass AND p.oid = d.objid),
	                      (SELECT c.relacl::text FROM pg_class AS c
	                       WHERE d.classid = 'pg_class'::regclass AND c.oid = d.objid), '') AS m
	      FROM pg_depend AS d
	      WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	        AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'anonymize')) AS s
$$;
SELECT * FROM pg_temp.members();
\c :regress_db
CREATE FUNCTION pg_temp.members() RETURNS TABLE (n bigint, digest text) LANGUAGE sql AS $$
	SELECT count(*), md5(string_agg(m, E'\n' ORDER BY m))
	FROM (SELECT pg_describe_object(d.classid, d.objid, 0) || ' ' ||
	             coalesce((SELECT p.proacl::text FROM pg_proc AS p
	                       WHERE d.classid = 'pg_proc'::regclass AND p.oid = d.objid),
	                      (SELECT c.relacl::text FROM pg_class AS c
	                       WHERE d.classid = 'pg_class'::regclass AND c.oid = d.objid), '') AS m
	      FROM pg_depend AS d
	      WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	        AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'anonymize')) AS s
$$;
SELECT * FROM pg_temp.members();
DROP DATABASE anonymize_upgrade;
