/* anonymize 0.1.0 -> 0.2.0: identifier stripping at write time */

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.2.0'" to load this file. \quit

-- Key material: one 32-byte secret, used only as the HMAC key.
CREATE FUNCTION @extschema@.random_secret()
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_random_secret'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
REVOKE EXECUTE ON FUNCTION @extschema@.random_secret() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.random_secret() IS
	'32 bytes from pg_strong_random, for the secret key';

CREATE TABLE @extschema@.secret (
	key bytea NOT NULL CHECK (pg_catalog.length(key) = 32)
);
CREATE UNIQUE INDEX secret_one_row ON @extschema@.secret ((true));
INSERT INTO @extschema@.secret VALUES (@extschema@.random_secret());

-- Restoring a dump loads the dumped key after CREATE EXTENSION made a new
-- one: the loaded key replaces it, so restored pseudonyms stay valid.
CREATE FUNCTION @extschema@.replace_secret()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.secret;
	RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.replace_secret() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.replace_secret() IS
	'trigger: a restored key replaces the one CREATE EXTENSION made';
CREATE TRIGGER replace_secret BEFORE INSERT ON @extschema@.secret
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_secret();
ALTER TABLE @extschema@.secret ENABLE ALWAYS TRIGGER replace_secret;
COMMENT ON TABLE @extschema@.secret IS
	'the HMAC key of pseudonyms and hashes; readable by its owner only';

-- The pseudonym map: keyed hashes of identifiers, never the identifiers.
CREATE TABLE @extschema@.pseudonyms (
	lookup bytea PRIMARY KEY,
	pseudonym uuid NOT NULL
);
COMMENT ON TABLE @extschema@.pseudonyms IS
	'pseudonym of each person: HMAC of (namespace, identifier) -> random pseudonym';

CREATE TABLE @extschema@.tenant_policies (
	tenant text COLLATE "C" PRIMARY KEY,
	anonymized boolean NOT NULL,
	email_domains text[],
	set_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	set_by name NOT NULL
);
COMMENT ON TABLE @extschema@.tenant_policies IS
	'whether each tenant''s rows are anonymized; set once, never changed';

CREATE TABLE @extschema@.protection (
	relid regclass PRIMARY KEY,
	rules text[] NOT NULL,
	email_column name,
	email_domains text[],
	tenant_column name,
	when_condition text,
	protected_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	protected_by name NOT NULL
);
COMMENT ON TABLE @extschema@.protection IS
	'tables protected by anonymize.protect(), for display and for the guard';

REVOKE ALL ON @extschema@.secret, @extschema@.pseudonyms,
	@extschema@.tenant_policies, @extschema@.protection FROM PUBLIC;

-- Dumps keep the key, the map and the registry, so that a restored database
-- gives returning people the same pseudonyms.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.secret', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pseudonyms', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tenant_policies', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.protection', '');

CREATE VIEW @extschema@.protected_tables AS
	SELECT relid AS table_name, rules, email_column, email_domains, tenant_column,
	       when_condition, protected_at, protected_by
	FROM @extschema@.protection;
GRANT SELECT ON @extschema@.protected_tables TO PUBLIC;
COMMENT ON VIEW @extschema@.protected_tables IS
	'which tables are protected, with which rules, since when and by whom';

-- The trigger, and protect() which installs it.
CREATE FUNCTION @extschema@.protect_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'anon_protect_trigger'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.protect_trigger() IS
	'BEFORE INSERT OR UPDATE row trigger that anonymizes identifiers; installed by protect()';

CREATE FUNCTION @extschema@.protect(rel regclass, rules text[],
	email_column name DEFAULT NULL, email_domains text[] DEFAULT NULL,
	tenant_column name DEFAULT NULL, backfill boolean DEFAULT false,
	when_condition text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'anon_protect'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION @extschema@.protect(regclass, text[], name, text[], name,
	boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.protect(regclass, text[], name, text[], name, boolean, text) IS
	'anonymize a table''s rows before they are stored, irreversibly';

-- Forgetting a person.
CREATE FUNCTION @extschema@.forget(identifier text, namespace text DEFAULT 'default')
RETURNS boolean
AS 'MODULE_PATHNAME', 'anon_forget'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION @extschema@.forget(text, text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.forget(text, text) IS
	'delete the only link from an identifier to its pseudonym; true if there was one';

-- Tenant policies.
CREATE FUNCTION @extschema@.tenant_default_all()
RETURNS boolean
AS 'MODULE_PATHNAME', 'anon_tenant_default_all'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tenant_default_all() IS
	'whether anonymize.tenant_default is all';

CREATE FUNCTION @extschema@.set_tenant_policy(tenant text, anonymized boolean,
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
			d := lower(btrim(d));
			IF d IS NULL OR d = '' OR strpos(d, '@') > 0 OR strpos(d, ',') > 0 THEN
				RAISE EXCEPTION 'invalid e-mail domain "%"', d
					USING ERRCODE = 'invalid_parameter_value',
					      DETAIL = 'A domain is written without "@" or ",", as in "acme.com".';
			END IF;
			domains := domains || d;
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
REVOKE EXECUTE ON FUNCTION @extschema@.set_tenant_policy(text, boolean, text[]) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.set_tenant_policy(text, boolean, text[]) IS
	'set once whether a tenant''s rows are anonymized, and for which e-mail domains';

CREATE FUNCTION @extschema@.refuse_policy_change()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'tenant policies cannot be changed or removed'
		USING ERRCODE = 'object_not_in_prerequisite_state',
		      DETAIL = 'A tenant''s policy is set once and can never be changed.';
END
$$;
COMMENT ON FUNCTION @extschema@.refuse_policy_change() IS
	'trigger refusing UPDATE, DELETE and TRUNCATE of tenant policies';
CREATE TRIGGER refuse_change BEFORE UPDATE OR DELETE ON @extschema@.tenant_policies
	FOR EACH ROW EXECUTE FUNCTION @extschema@.refuse_policy_change();
CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON @extschema@.tenant_policies
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.refuse_policy_change();
ALTER TABLE @extschema@.tenant_policies ENABLE ALWAYS TRIGGER refuse_change;
ALTER TABLE @extschema@.tenant_policies ENABLE ALWAYS TRIGGER refuse_truncate;

-- The guard: protection cannot be dropped or disabled.
CREATE FUNCTION @extschema@.guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'anon_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.guard() IS
	'event trigger refusing commands that would drop, disable or weaken protection';
CREATE EVENT TRIGGER anonymize_guard ON ddl_command_start
	WHEN TAG IN ('DROP TRIGGER', 'ALTER TABLE', 'ALTER TRIGGER', 'CREATE TRIGGER',
	             'DROP EXTENSION', 'DROP SCHEMA')
	EXECUTE FUNCTION @extschema@.guard();
ALTER EVENT TRIGGER anonymize_guard ENABLE ALWAYS;

CREATE FUNCTION @extschema@.unregister_dropped()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.protection AS p
	USING pg_event_trigger_dropped_objects() AS d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = p.relid::oid;
END
$$;
COMMENT ON FUNCTION @extschema@.unregister_dropped() IS
	'event trigger removing dropped tables from anonymize.protection';
CREATE EVENT TRIGGER anonymize_unregister ON sql_drop
	EXECUTE FUNCTION @extschema@.unregister_dropped();
ALTER EVENT TRIGGER anonymize_unregister ENABLE ALWAYS;
