-- The secret key lives in a file of the data directory, anonymize/<key id>.key,
-- and anonymize.secret holds only its key id: no dump and no role that reads
-- every table gets the key; a superuser exports and imports it; a missing key
-- file fails closed; restores and upgrades keep every pseudonym.
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS anonymize_secret;
DROP DATABASE IF EXISTS anonymize_secret_old;
DROP ROLE IF EXISTS regress_key_reader;
RESET client_min_messages;
CREATE DATABASE anonymize_secret;
\c anonymize_secret
CREATE EXTENSION anonymize;
CREATE TABLE secret_events (user_id text, email text);
SELECT anonymize.protect('secret_events', '{user_id=pseudonym,email=hash}');
INSERT INTO secret_events VALUES ('ann@acme.com', 'ann@acme.com');

-- The row holds the key id only; the key id names the file that holds the key.
SELECT key IS NULL AS no_key_in_table, key_id ~ '^[0-9a-f]{32}$' AS key_id_is_hex,
       length(anonymize.export_key()) AS key_bytes
FROM anonymize.secret;
SELECT (pg_stat_file('anonymize/' || key_id || '.key')).size AS file_bytes FROM anonymize.secret;
SELECT encode(anonymize.export_key(), 'hex') AS key_hex \gset
-- importing the database's own key changes nothing
SELECT anonymize.import_key(anonymize.export_key()) = key_id AS same_key_id FROM anonymize.secret;

-- A role with pg_read_all_data reads every table and view of the database:
-- none of them holds the key (a table holding it would be found, as the
-- control shows), and it cannot export the key, even when granted EXECUTE.
CREATE ROLE regress_key_reader;
GRANT pg_read_all_data TO regress_key_reader;
CREATE FUNCTION secret_scan(hex text) RETURNS TABLE (scanned_anonymize text[], holding_key text[])
LANGUAGE plpgsql AS $$
DECLARE
	r regclass;
	hit boolean;
BEGIN
	scanned_anonymize := '{}';
	holding_key := '{}';
	FOR r IN SELECT c.oid FROM pg_class AS c WHERE c.relkind IN ('r', 'v', 'm', 'p') ORDER BY c.oid::regclass::text
	LOOP
		BEGIN
			EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s AS t WHERE strpos(t::text, $1) > 0)', r)
				INTO hit USING hex;
			IF r::text LIKE 'anonymize.%' THEN
				scanned_anonymize := scanned_anonymize || r::text;
			END IF;
			IF hit THEN
				holding_key := holding_key || r::text;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			NULL;	-- a view whose functions the role may not call
		END;
	END LOOP;
	RETURN NEXT;
END
$$;
CREATE TABLE secret_control AS SELECT decode(:'key_hex', 'hex') AS copied_key;
SET ROLE regress_key_reader;
SELECT 'anonymize.secret' = ANY (scanned_anonymize) AS read_secret,
       'anonymize.pseudonyms' = ANY (scanned_anonymize) AS read_map, holding_key
FROM secret_scan(:'key_hex');
RESET ROLE;
DROP TABLE secret_control;
SET ROLE regress_key_reader;
SELECT 'anonymize.secret' = ANY (scanned_anonymize) AS read_secret,
       'anonymize.pseudonyms' = ANY (scanned_anonymize) AS read_map, holding_key
FROM secret_scan(:'key_hex');
SELECT key_id IS NOT NULL AS reads_key_id FROM anonymize.secret;
SELECT anonymize.export_key();
SELECT anonymize.import_key(decode(:'key_hex', 'hex'));
RESET ROLE;
GRANT USAGE ON SCHEMA anonymize TO regress_key_reader;
GRANT EXECUTE ON FUNCTION anonymize.export_key(), anonymize.import_key(bytea, boolean)
	TO regress_key_reader;
SET ROLE regress_key_reader;
SELECT anonymize.export_key();
SELECT anonymize.import_key(decode(:'key_hex', 'hex'));
\set VERBOSITY sqlstate
SELECT anonymize.export_key();
\set VERBOSITY default
RESET ROLE;
REVOKE ALL ON SCHEMA anonymize FROM regress_key_reader;
REVOKE EXECUTE ON FUNCTION anonymize.export_key(), anonymize.import_key(bytea, boolean)
	FROM regress_key_reader;
DROP FUNCTION secret_scan(text);

-- Another key replaces the database's only with force.  Its key id is
-- HMAC-SHA256(key, 'anonymize key id') cut to 16 bytes (computed
-- independently), and every person then gets a new pseudonym.
\set VERBOSITY terse
SELECT anonymize.import_key(decode(repeat('00', 32), 'hex'));
\set VERBOSITY default
SELECT anonymize.import_key(decode(repeat('00', 32), 'hex'), force => true);
SELECT key_id FROM anonymize.secret;
INSERT INTO secret_events VALUES ('ann@acme.com', 'ann@acme.com');
SELECT count(DISTINCT user_id) AS pseudonyms_of_ann, count(DISTINCT email) AS hashes_of_ann
FROM secret_events;
SELECT anonymize.import_key(decode('00', 'hex'));

-- A transaction that replaces the key and rolls back leaves an unused key
-- file behind, and the key id it had: Ann keeps her pseudonym.
BEGIN;
SELECT anonymize.import_key(decode(repeat('11', 32), 'hex'), force => true);
INSERT INTO secret_events VALUES ('ann@acme.com', NULL);
SELECT count(DISTINCT user_id) AS pseudonyms_of_ann FROM secret_events;
ROLLBACK;
SELECT key_id FROM anonymize.secret;
SELECT (pg_stat_file('anonymize/ab82aa596e820d875fbfe6fe5ac9e219.key')).size AS unused_file_bytes;
INSERT INTO secret_events VALUES ('ann@acme.com', NULL);
SELECT count(DISTINCT user_id) AS pseudonyms_of_ann FROM secret_events;

-- A key id whose file is missing (a restore into another cluster before the
-- key is copied) fails closed: protected inserts and forget are refused, and
-- no new key is made.
UPDATE anonymize.secret SET key_id = repeat('ab', 16);
INSERT INTO secret_events VALUES ('ann@acme.com', NULL);
SELECT anonymize.forget('ann@acme.com');
SELECT anonymize.export_key();
SELECT key_id FROM anonymize.secret;
-- a key that does not have this key id is refused
SELECT anonymize.import_key(decode(repeat('00', 32), 'hex'));
-- the SQLSTATEs of a missing key, a key of another key id, a malformed key
\set VERBOSITY sqlstate
INSERT INTO secret_events VALUES ('ann@acme.com', NULL);
SELECT anonymize.import_key(decode(repeat('00', 32), 'hex'));
SELECT anonymize.import_key(decode('00', 'hex'));
\set VERBOSITY default

-- A row inserted into anonymize.secret replaces the one there (a restore
-- loads the dumped row after CREATE EXTENSION made a key): a key id as in a
-- dump of 0.4.0, or a key as in a dump of 0.2.0 or 0.3.0, which moves into
-- its file and never into the table.
INSERT INTO anonymize.secret (key_id) VALUES ('d9012af1b4bb4f5083990b584c4739f7');
SELECT key, key_id FROM anonymize.secret;
INSERT INTO anonymize.secret (key) VALUES (decode(:'key_hex', 'hex'));
SELECT key IS NULL AS no_key_in_table, anonymize.export_key() = decode(:'key_hex', 'hex') AS first_key
FROM anonymize.secret;
-- with the first key back, Ann has her first pseudonym again
INSERT INTO secret_events VALUES ('ann@acme.com', 'ann@acme.com');
SELECT count(DISTINCT user_id) AS pseudonyms_of_ann, count(DISTINCT email) AS hashes_of_ann
FROM secret_events;
-- with the trigger disabled (a data-only restore with --disable-triggers),
-- the key still cannot be stored, and a second row is refused
ALTER TABLE anonymize.secret DISABLE TRIGGER ALL;
INSERT INTO anonymize.secret (key) VALUES (decode(repeat('00', 32), 'hex'));
INSERT INTO anonymize.secret (key_id) VALUES ('d9012af1b4bb4f5083990b584c4739f7');
ALTER TABLE anonymize.secret ENABLE ALWAYS TRIGGER replace_secret;
SELECT count(*) AS rows FROM anonymize.secret;

-- A database at 0.3.0 installed from the first script of 0.2.0, which had no
-- replace_secret trigger: the update to 0.4.0 moves the key out of the table
-- (whose files are replaced), gives it the trigger, and keeps the pseudonym
-- and the hash made before.
CREATE DATABASE anonymize_secret_old;
\c anonymize_secret_old
CREATE EXTENSION anonymize VERSION '0.3.0';
DROP TRIGGER replace_secret ON anonymize.secret;
ALTER EXTENSION anonymize DROP FUNCTION anonymize.replace_secret();
DROP FUNCTION anonymize.replace_secret();
CREATE TABLE old_events (user_id text, email text);
SELECT anonymize.protect('old_events', '{user_id=pseudonym,email=hash}');
INSERT INTO old_events VALUES ('bob@acme.com', 'bob@acme.com');
SELECT pg_relation_filenode('anonymize.secret') AS old_filenode \gset
ALTER EXTENSION anonymize UPDATE TO '0.4.0';
SELECT pg_relation_filenode('anonymize.secret') <> :old_filenode AS new_files,
       key IS NULL AS no_key_in_table
FROM anonymize.secret;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'anonymize.secret'::regclass;
\c anonymize_secret_old
INSERT INTO old_events VALUES ('bob@acme.com', 'bob@acme.com');
SELECT count(*) AS events, count(DISTINCT user_id) AS pseudonyms_of_bob,
       count(DISTINCT email) AS hashes_of_bob
FROM old_events;
-- a restored row now replaces the one there
INSERT INTO anonymize.secret (key_id) SELECT key_id FROM anonymize.secret;
SELECT count(*) AS rows FROM anonymize.secret;

-- The first key that CREATE EXTENSION makes is replaced by a new one when
-- it moves into its file (it went through the WAL), unless it has been used:
-- here it made a pseudonym in the same transaction, so it is kept.
\c :regress_db
DROP DATABASE anonymize_secret_old;
CREATE DATABASE anonymize_secret_old;
\c anonymize_secret_old
BEGIN;
CREATE EXTENSION anonymize VERSION '0.3.0';
CREATE TABLE old_events (user_id text);
SELECT anonymize.protect('old_events', '{user_id=pseudonym}');
INSERT INTO old_events VALUES ('carol@acme.com');
ALTER EXTENSION anonymize UPDATE TO '0.4.0';
COMMIT;
\c anonymize_secret_old
INSERT INTO old_events VALUES ('carol@acme.com');
SELECT count(*) AS events, count(DISTINCT user_id) AS pseudonyms_of_carol FROM old_events;

\c :regress_db
DROP DATABASE anonymize_secret;
DROP DATABASE anonymize_secret_old;
DROP ROLE regress_key_reader;
