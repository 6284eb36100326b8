/* anonymize 0.3.0 -> 0.4.0: the protection holds against ordinary roles */

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.4.0'" to load this file. \quit

-- ==== the trigger, protect() and the guard ====

-- ==== end of the trigger, protect() and the guard ====


-- ==== the secret key ====

-- The key leaves the database: it moves into a file of the data directory,
-- anonymize/<key id>.key (mode 0600), and anonymize.secret keeps only its
-- key id, which names and verifies the key and reveals nothing of it.  Dumps
-- and pg_read_all_data no longer hold the key.  The same key moves, so every
-- pseudonym and hash stays the same.

-- The trigger that lets a restored row replace the one CREATE EXTENSION
-- made, now in C: a row bringing a key (as the dumps of 0.2.0 and 0.3.0 do)
-- has it moved into its file before the row is stored.  Databases installed
-- from the first script of 0.2.0 never had this trigger: all get it here.
CREATE OR REPLACE FUNCTION @extschema@.replace_secret()
RETURNS trigger
AS 'MODULE_PATHNAME', 'anon_replace_secret'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION @extschema@.replace_secret() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.replace_secret() IS
	'trigger: a restored key id replaces the one CREATE EXTENSION made; a key inserted moves into its file';
DROP TRIGGER IF EXISTS replace_secret ON @extschema@.secret;
ALTER TABLE @extschema@.secret
	ALTER COLUMN key DROP NOT NULL,
	DROP CONSTRAINT secret_key_check,
	ADD COLUMN key_id text;
CREATE TRIGGER replace_secret BEFORE INSERT ON @extschema@.secret
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_secret();
ALTER TABLE @extschema@.secret ENABLE ALWAYS TRIGGER replace_secret;

-- TRUNCATE gives the table new, empty files (the old ones, which hold the
-- key, are removed at commit); the key, held in memory only, is inserted
-- again and the trigger moves it into its file.
DO $$
DECLARE
	k bytea;
BEGIN
	SELECT s.key INTO k FROM @extschema@.secret AS s;
	IF k IS NULL THEN
		RAISE EXCEPTION 'the secret key of anonymize is missing'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'anonymize.secret holds no key.',
			      HINT = 'Restore anonymize.secret from a dump of this database before updating.';
	END IF;
	TRUNCATE @extschema@.secret;
	INSERT INTO @extschema@.secret (key) VALUES (k);
END
$$;

ALTER TABLE @extschema@.secret
	ADD CONSTRAINT secret_key_not_stored CHECK (key IS NULL),
	ALTER COLUMN key_id SET NOT NULL,
	ADD CONSTRAINT secret_key_id_check
		CHECK (key_id OPERATOR(pg_catalog.~) '^[0-9a-f]{32}$');
COMMENT ON TABLE @extschema@.secret IS
	'the key id of the HMAC key of pseudonyms and hashes; the key is in the file anonymize/<key_id>.key of the data directory';
COMMENT ON COLUMN @extschema@.secret.key IS
	'always NULL: a key inserted here (by a dump of 0.2.0 or 0.3.0) moves into its file';
COMMENT ON COLUMN @extschema@.secret.key_id IS
	'names the key file and verifies its content: 16 bytes of HMAC-SHA256(key, ''anonymize key id''), in hex';
COMMENT ON INDEX @extschema@.secret_one_row IS
	'anonymize.secret holds one row';
COMMENT ON TRIGGER replace_secret ON @extschema@.secret IS
	'a restored row replaces the one CREATE EXTENSION made';

CREATE FUNCTION @extschema@.import_key(key bytea, force boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'anon_import_key'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION @extschema@.import_key(bytea, boolean) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.import_key(bytea, boolean) IS
	'superuser only: write the key file of this database''s key id from a key kept with the backups; with force, replace the key';

CREATE FUNCTION @extschema@.export_key()
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_export_key'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION @extschema@.export_key() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.export_key() IS
	'superuser only: the secret key of this database, to keep with the backups';

-- ==== end of the secret key ====


-- ==== pseudonyms and rules ====

-- ==== end of pseudonyms and rules ====


-- ==== breakouts and comments ====

-- ==== end of breakouts and comments ====
