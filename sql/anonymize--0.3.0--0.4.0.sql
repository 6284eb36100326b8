/* anonymize 0.3.0 -> 0.4.0: the protection holds against ordinary roles */

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.4.0'" to load this file. \quit

-- ==== the trigger, protect() and the guard ====

-- The trigger function can no longer be attached to just any table: only
-- protect() (which creates the trigger as the extension's owner, after
-- checking that the caller owns the table) and superusers may use it, and
-- it refuses to run unless its table is registered with exactly its rules.
REVOKE EXECUTE ON FUNCTION @extschema@.protect_trigger() FROM PUBLIC;
-- Creating or attaching a partition copies the trigger as the table's owner,
-- which needs EXECUTE: the owners of tables protected so far keep it.
DO $$
DECLARE
	owner text;
BEGIN
	FOR owner IN SELECT DISTINCT c.relowner::regrole::text
	             FROM @extschema@.protection AS p JOIN pg_catalog.pg_class AS c ON c.oid = p.relid
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.protect_trigger() TO %s', owner);
	END LOOP;
END
$$;

-- One normalization of e-mail domains for protect(), set_tenant_policy()
-- and the trigger.
CREATE FUNCTION @extschema@.normalize_domain(domain text)
RETURNS text
AS 'MODULE_PATHNAME', 'anon_normalize_domain'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_domain(text) IS
	'an e-mail domain trimmed and lower-cased; an error unless it is well-formed (ASCII labels joined by dots)';

CREATE OR REPLACE FUNCTION @extschema@.set_tenant_policy(tenant text, anonymized boolean,
	email_domains text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	domains text[];
	d text;
BEGIN
	IF tenant IS NULL OR anonymized IS NULL THEN
		RAISE EXCEPTION 'tenant and anonymized must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT anonymized AND @extschema@.tenant_default_all() THEN
		RAISE EXCEPTION 'tenant "%" cannot be left unanonymized', tenant
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'anonymize.tenant_default is all: every tenant is anonymized.';
	END IF;
	IF email_domains IS NOT NULL THEN
		FOREACH d IN ARRAY email_domains LOOP
			IF d IS NULL THEN
				RAISE EXCEPTION 'e-mail domains must not be null'
					USING ERRCODE = 'null_value_not_allowed';
			END IF;
			domains := domains || @extschema@.normalize_domain(d);
		END LOOP;
		IF domains IS NULL THEN
			RAISE EXCEPTION 'the list of e-mail domains is empty'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END IF;
	INSERT INTO @extschema@.tenant_policies (tenant, anonymized, email_domains, set_by)
	VALUES (tenant, anonymized, domains, session_user)
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the policy of tenant "%" is already set', tenant
			USING ERRCODE = 'unique_violation',
			      DETAIL = 'A tenant''s policy is set once and can never be changed.';
	END IF;
END
$$;

-- The guard checks the state every command leaves (ddl_command_end), the
-- objects it dropped (sql_drop), and refuses DROP EXTENSION and DROP SCHEMA
-- of the extension while a table is protected, ATTACH PARTITION of a table
-- holding rows and DETACH PARTITION (ddl_command_start).
DROP EVENT TRIGGER anonymize_guard;
CREATE EVENT TRIGGER anonymize_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'ALTER TABLE', 'CREATE TABLE')
	EXECUTE FUNCTION @extschema@.guard();
ALTER EVENT TRIGGER anonymize_guard ENABLE ALWAYS;
CREATE EVENT TRIGGER anonymize_guard_end ON ddl_command_end
	EXECUTE FUNCTION @extschema@.guard();
ALTER EVENT TRIGGER anonymize_guard_end ENABLE ALWAYS;
CREATE EVENT TRIGGER anonymize_guard_drop ON sql_drop
	EXECUTE FUNCTION @extschema@.guard();
ALTER EVENT TRIGGER anonymize_guard_drop ENABLE ALWAYS;
COMMENT ON FUNCTION @extschema@.guard() IS
	'event trigger refusing any command that leaves a protected table less protected';
COMMENT ON EVENT TRIGGER anonymize_guard IS
	'refuses DROP EXTENSION anonymize and DROP SCHEMA of its schema while a table is protected, and attaching rows to or detaching partitions from a protected table';
COMMENT ON EVENT TRIGGER anonymize_guard_end IS
	'checks the protected tables after every command';
COMMENT ON EVENT TRIGGER anonymize_guard_drop IS
	'refuses dropping the anonymize trigger of a table that stays';
COMMENT ON EVENT TRIGGER anonymize_unregister IS
	'removes dropped tables from anonymize.protection';

-- A dropped column is reported with its table's OID (and its number as
-- objsubid): only a dropped table leaves the registry.
CREATE OR REPLACE FUNCTION @extschema@.unregister_dropped()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.protection AS p
	USING pg_event_trigger_dropped_objects() AS d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = p.relid::oid
	  AND d.objsubid = 0;
END
$$;

-- Conditions are kept in a canonical text (deparsed, every object outside
-- pg_catalog named with its schema), which the guard compares with the
-- trigger's; those kept as written by earlier versions are rewritten so,
-- unless they call a function that is not built in (the trigger then refuses
-- to run until a superuser fixes it).
CREATE FUNCTION @extschema@.canonical_condition(rel regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'anon_canonical_condition'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION @extschema@.canonical_condition(regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.canonical_condition(regclass) IS
	'the canonical text of the condition of a table''s anonymize trigger, as the registry keeps it';
UPDATE @extschema@.protection
	SET when_condition = coalesce(@extschema@.canonical_condition(relid), when_condition)
	WHERE when_condition IS NOT NULL;

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

-- Markers: from 0.4.0 the map holds, for each pseudonym, a row keyed by a
-- keyed hash of (namespace, the pseudonym's bigint form) that tells a value
-- written back into a protected column (an upsert's EXCLUDED, a pseudonym
-- copied from another protected table) as already being a pseudonym of the
-- namespace, to be stored as it is.  Pseudonyms made by earlier versions get
-- theirs here: those found in the protected columns of their namespace.
CREATE FUNCTION @extschema@.mark_pseudonym(pseudonym uuid, namespace text)
RETURNS void
AS 'MODULE_PATHNAME', 'anon_mark_pseudonym'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION @extschema@.mark_pseudonym(uuid, text) FROM PUBLIC;

DO $$
DECLARE
	r record;
	form text;
BEGIN
	FOR r IN
		SELECT p.relid, m[1] AS col, coalesce(m[2], 'default') AS ns,
		       a.atttypid::regtype AS typ
		FROM @extschema@.protection p,
		     pg_catalog.unnest(p.rules) AS rule,
		     pg_catalog.regexp_match(rule, '^(.*)=pseudonym(?::([^=]*))?$') AS m,
		     pg_catalog.pg_attribute a
		WHERE a.attrelid = p.relid AND a.attname = m[1] AND NOT a.attisdropped
	LOOP
		-- the pseudonym as the column holds it
		form := CASE r.typ
			WHEN 'uuid'::regtype THEN 'm.pseudonym'
			WHEN 'bigint'::regtype THEN
				'pg_catalog.greatest((''x'' OPERATOR(pg_catalog.||) pg_catalog.substr('
				'pg_catalog.replace(m.pseudonym::text, ''-'', ''''), 1, 16))::bit(64)::bigint'
				' OPERATOR(pg_catalog.&) 9223372036854775807, 1)'
			ELSE 'm.pseudonym::text' END;
		EXECUTE pg_catalog.format(
			'SELECT @extschema@.mark_pseudonym(m.pseudonym, %L) '
			'FROM @extschema@.pseudonyms m WHERE %s IN (SELECT t.%I%s FROM %s t)',
			r.ns, form, r.col,
			CASE WHEN r.typ IN ('uuid'::regtype, 'bigint'::regtype) THEN '' ELSE '::text' END,
			r.relid);
	END LOOP;
END
$$;

DROP FUNCTION @extschema@.mark_pseudonym(uuid, text);

-- forget() tells every backend to empty its cache of pseudonyms through an
-- invalidation of this view, which nothing else invalidates: ANALYZE and
-- autovacuum of the map no longer empty the caches.
CREATE VIEW @extschema@.forget_signal AS SELECT WHERE false;
REVOKE ALL ON @extschema@.forget_signal FROM PUBLIC;
COMMENT ON VIEW @extschema@.forget_signal IS
	'no data: forget() invalidates it to empty every backend''s cache of pseudonyms';

-- ==== end of pseudonyms and rules ====


-- ==== breakouts and comments ====

-- Comments whose threshold counts distinct authors, not comments.
CREATE FUNCTION @extschema@.comments_trans(internal, text, "any", int4)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_comments_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.comments_trans(internal, text, "any", int4) IS
	'transition function of anonymized_comments(comment, author, threshold)';

CREATE AGGREGATE @extschema@.anonymized_comments(comment text, author "any", threshold int4) (
	SFUNC = @extschema@.comments_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.comments_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.comments_combine,
	SERIALFUNC = @extschema@.comments_serialize,
	DESERIALFUNC = @extschema@.comments_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.anonymized_comments(text, "any", int4) IS
	'the non-blank comments, sorted, or NULL when they have fewer distinct authors than the threshold';

-- ==== end of breakouts and comments ====
