-- protect(): every action, on every column type it fits.  Pseudonyms are
-- random, so the tests show what they are like and how they relate, not
-- their values.
CREATE TABLE rules_events (
	id int PRIMARY KEY,
	user_id text,
	account uuid,
	member bigint,
	email text,
	email_hash text,
	device uuid,
	ip inet,
	ip_net cidr,
	ip_text varchar,
	seen_at timestamptz,
	seen_local timestamp,
	note text
);
SELECT anonymize.protect('rules_events', ARRAY[
	'user_id=pseudonym', 'account=pseudonym', 'member=pseudonym:members',
	'email=email_domain', 'email_hash=hash', 'device=hash:devices',
	'ip=generalize_ip', 'ip_net=generalize_ip:8:32', 'ip_text=generalize_ip:16:64',
	'seen_at=truncate:hour', 'seen_local=truncate:day', 'note=strip']);

SET timezone = 'UTC';
INSERT INTO rules_events VALUES
	(1, 'alice@acme.com', '00000000-0000-0000-0000-0000000000a1', 1001,
	 'Alice@Acme.COM', 'alice@acme.com', '00000000-0000-0000-0000-0000000000d1',
	 '192.168.17.77', '10.20.30.0/24', '172.16.5.4',
	 '2024-05-01 10:42:13.5+00', '2024-05-01 10:42:13', 'lives at 4 Elm St'),
	(2, '  ALICE@acme.com ', '00000000-0000-0000-0000-0000000000a1', 1001,
	 'alice@acme.com', ' ALICE@ACME.COM', '00000000-0000-0000-0000-0000000000d1',
	 '2001:db8:abcd:1234::99', '2001:db8::/64', '2001:db8:abcd:1234::1',
	 '2024-05-01 11:59:59+00', '2024-05-02 00:00:01', NULL),
	(3, 'bob', '00000000-0000-0000-0000-0000000000b2', 1002,
	 'bob@example.org', 'bob', '00000000-0000-0000-0000-0000000000d2',
	 '10.0.0.1/8', '10.0.0.0/8', '::ffff:1.2.3.4',
	 '2024-05-01 10:00:00+00', '2024-05-01 00:00:00', ''),
	(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(5, '   ', NULL, NULL, 'no-at-sign', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- Generalized, truncated, reduced and stripped values are exact.
SELECT id, email, ip, ip_net, ip_text, seen_at, seen_local, note
FROM rules_events ORDER BY id;

-- truncate works in UTC: the same instant written by sessions in other time
-- zones is stored the same (the hour and day of UTC, not of the session).
CREATE TABLE rules_zones (zone text, at_hour timestamptz, at_day timestamptz);
SELECT anonymize.protect('rules_zones', ARRAY['at_hour=truncate:hour', 'at_day=truncate:day']);
SET timezone = 'Asia/Kolkata';
INSERT INTO rules_zones VALUES ('Asia/Kolkata', '2024-05-01 20:42:13+00', '2024-05-01 20:42:13+00');
SET timezone = 'America/St_Johns';
INSERT INTO rules_zones VALUES ('America/St_Johns', '2024-05-01 20:42:13+00', '2024-05-01 20:42:13+00');
SET timezone = 'UTC';
INSERT INTO rules_zones VALUES ('UTC', '2024-05-01 20:42:13+00', '2024-05-01 20:42:13+00');
SELECT zone, at_hour, at_day FROM rules_zones ORDER BY zone;
DROP TABLE rules_zones;

-- Pseudonyms: one per person (identifiers are trimmed, e-mails lower-cased),
-- NULL and blank identifiers stay NULL, none equals what came in.
SELECT id,
       user_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS text_token,
       account IS NOT NULL AND account <> '00000000-0000-0000-0000-0000000000a1' AS uuid_token,
       member > 0 AND member <> 1001 AS bigint_token,
       length(email_hash) AS hash_length,
       device IS NOT NULL AS uuid_hash
FROM rules_events ORDER BY id;
SELECT count(DISTINCT user_id) AS users, count(DISTINCT account) AS accounts,
       count(DISTINCT member) AS members, count(DISTINCT email_hash) AS email_hashes,
       count(DISTINCT device) AS devices
FROM rules_events;
SELECT (SELECT user_id FROM rules_events WHERE id = 1) = (SELECT user_id FROM rules_events WHERE id = 2) AS alice_once,
       (SELECT email_hash FROM rules_events WHERE id = 1) = (SELECT email_hash FROM rules_events WHERE id = 2) AS hash_normalized,
       (SELECT user_id FROM rules_events WHERE id = 1) <> (SELECT user_id FROM rules_events WHERE id = 3) AS bob_differs;

-- The same person gets the same pseudonym in another table of the same
-- namespace, and a different one in another namespace.
CREATE TABLE rules_clicks (user_id text, crm_id text);
SELECT anonymize.protect('rules_clicks', ARRAY['user_id=pseudonym', 'crm_id=pseudonym:crm']);
INSERT INTO rules_clicks VALUES ('Alice@acme.com', 'alice@acme.com');
SELECT c.user_id = e.user_id AS same_in_namespace, c.crm_id <> e.user_id AS other_namespace
FROM rules_clicks AS c, rules_events AS e WHERE e.id = 1;

-- hash is deterministic across tables and never equals a pseudonym.
CREATE TABLE rules_hashed (email_hash text);
SELECT anonymize.protect('rules_hashed', ARRAY['email_hash=hash']);
INSERT INTO rules_hashed VALUES ('alice@ACME.com');
SELECT h.email_hash = e.email_hash AS same_hash, h.email_hash ~ '^[0-9a-f]{64}$' AS hex
FROM rules_hashed AS h, rules_events AS e WHERE e.id = 1;

-- The map holds keyed hashes and random pseudonyms, never identifiers.
SELECT count(*) > 0 AS has_entries,
       bool_and(length(lookup) = 32) AS lookups_are_hashes,
       bool_and(position(convert_to('alice', 'UTF8') IN lookup) = 0) AS no_identifier
FROM anonymize.pseudonyms;

-- UPDATE: only changed columns are anonymized again, so an unrelated update
-- keeps the pseudonym, and a new identifier gets its own.
CREATE TEMP TABLE rules_before AS SELECT * FROM rules_events;
UPDATE rules_events SET note = 'call back' WHERE id = 1;
SELECT e.user_id = b.user_id AS kept_pseudonym, e.email = b.email AS kept_domain,
       e.ip = b.ip AS kept_network, e.note AS note
FROM rules_events AS e JOIN rules_before AS b USING (id) WHERE id = 1;
UPDATE rules_events SET user_id = 'bob', ip = '192.168.99.5' WHERE id = 1;
SELECT e.user_id = (SELECT user_id FROM rules_events WHERE id = 3) AS now_bob, e.ip
FROM rules_events AS e WHERE id = 1;

-- The registry lists the table with its rules.
SELECT table_name, rules, protected_by = current_user AS by_me, protected_at <= now() AS since
FROM anonymize.protected_tables WHERE table_name = 'rules_events'::regclass;

-- The trigger is one BEFORE INSERT OR UPDATE row trigger, fired ALWAYS, so
-- session_replication_role = replica does not bypass it.
SELECT tgname, tgenabled, tgtype FROM pg_trigger WHERE tgrelid = 'rules_events'::regclass;
SET session_replication_role = replica;
INSERT INTO rules_events (id, user_id, note) VALUES (6, 'carol', 'replica');
RESET session_replication_role;
SELECT user_id <> 'carol' AS anonymized, note FROM rules_events WHERE id = 6;

-- COPY goes through the trigger too.
COPY rules_events (id, user_id, ip) FROM stdin;
7	dave@acme.com	8.8.4.4
\.
SELECT user_id <> 'dave@acme.com' AS anonymized, ip FROM rules_events WHERE id = 7;

-- Protecting again with a rule a column already has changes nothing; a rule
-- for a new column is added (the table holds rows: backfill rewrites the new
-- column only, the pseudonyms already stored stay as they are).
SELECT anonymize.protect('rules_clicks', ARRAY['user_id=pseudonym']);
ALTER TABLE rules_clicks ADD COLUMN ip inet;
CREATE TEMP TABLE rules_clicks_before AS SELECT * FROM rules_clicks;
SELECT anonymize.protect('rules_clicks', ARRAY['ip=generalize_ip:24']);
SELECT anonymize.protect('rules_clicks', ARRAY['ip=generalize_ip:24'], backfill => true);
SELECT c.user_id = b.user_id AND c.crm_id = b.crm_id AS pseudonyms_kept
FROM rules_clicks AS c, rules_clicks_before AS b;
INSERT INTO rules_clicks VALUES ('erin', 'erin', '203.0.113.9');
SELECT ip, user_id <> 'erin' AS anonymized FROM rules_clicks WHERE ip IS NOT NULL;
SELECT rules FROM anonymize.protected_tables WHERE table_name = 'rules_clicks'::regclass;

DROP TABLE rules_events, rules_clicks, rules_hashed;
SELECT count(*) AS still_listed FROM anonymize.protected_tables
WHERE table_name::text LIKE 'rules%';
