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
-- of the extension while a table is protected (ddl_command_start).
DROP EVENT TRIGGER anonymize_guard;
CREATE EVENT TRIGGER anonymize_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
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
	'refuses DROP EXTENSION anonymize and DROP SCHEMA of its schema while a table is protected';
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

-- ==== end of the trigger, protect() and the guard ====


-- ==== the secret key ====

-- ==== end of the secret key ====


-- ==== pseudonyms and rules ====

-- ==== end of pseudonyms and rules ====


-- ==== breakouts and comments ====

-- ==== end of breakouts and comments ====
