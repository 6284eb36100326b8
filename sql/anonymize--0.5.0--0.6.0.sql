-- anonymize 0.5.0 -> 0.6.0: the breakout state as a type (anonymize.breakout_state),
-- concrete-typed one-field breakouts that Citus computes on the workers, and rollups
-- (breakout_partial, breakout_merge, breakout_groups).

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.6.0'" to load this file. \quit

-- BEGIN breakout_state

CREATE TYPE @extschema@.breakout_state;

CREATE FUNCTION @extschema@.breakout_state_in(cstring)
RETURNS @extschema@.breakout_state
AS 'MODULE_PATHNAME', 'anon_bstate_in'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout_state_out(@extschema@.breakout_state)
RETURNS cstring
AS 'MODULE_PATHNAME', 'anon_bstate_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout_state_recv(internal)
RETURNS @extschema@.breakout_state
AS 'MODULE_PATHNAME', 'anon_bstate_recv'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout_state_send(@extschema@.breakout_state)
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_bstate_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE @extschema@.breakout_state (
	INPUT = @extschema@.breakout_state_in,
	OUTPUT = @extschema@.breakout_state_out,
	RECEIVE = @extschema@.breakout_state_recv,
	SEND = @extschema@.breakout_state_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended
);
COMMENT ON FUNCTION @extschema@.breakout_state_in(cstring) IS
	'input function of breakout_state: "abs1:" and base64, checked';
COMMENT ON FUNCTION @extschema@.breakout_state_out(@extschema@.breakout_state) IS
	'output function of breakout_state';
COMMENT ON FUNCTION @extschema@.breakout_state_recv(internal) IS
	'binary input function of breakout_state, checked';
COMMENT ON FUNCTION @extschema@.breakout_state_send(@extschema@.breakout_state) IS
	'binary output function of breakout_state';
COMMENT ON TYPE @extschema@.breakout_state IS
	'state of a one-field breakout: raw counts, sums and people of every group (as sensitive as the rows)';

CREATE FUNCTION @extschema@.breakout_state_combine(@extschema@.breakout_state,
	@extschema@.breakout_state)
RETURNS @extschema@.breakout_state
AS 'MODULE_PATHNAME', 'anon_bstate_combine'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.breakout_state_combine(@extschema@.breakout_state,
	@extschema@.breakout_state) IS
	'combine function of the breakout_state aggregates, transition function of breakout_merge';
CREATE FUNCTION @extschema@.breakout_state_final(@extschema@.breakout_state)
RETURNS @extschema@.breakout_group[]
AS 'MODULE_PATHNAME', 'anon_bstate_final'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.breakout_state_final(@extschema@.breakout_state) IS
	'final function of anonymized_breakout with a breakout_state';

CREATE FUNCTION @extschema@.breakout_groups(state @extschema@.breakout_state)
RETURNS @extschema@.breakout_group[]
AS 'MODULE_PATHNAME', 'anon_bstate_groups'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.breakout_groups(@extschema@.breakout_state) IS
	'the groups of a breakout state that may be shown, as anonymized_breakout gives them';

CREATE AGGREGATE @extschema@.breakout_merge(state @extschema@.breakout_state) (
	SFUNC = @extschema@.breakout_state_combine,
	STYPE = @extschema@.breakout_state,
	COMBINEFUNC = @extschema@.breakout_state_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.breakout_merge(@extschema@.breakout_state) IS
	'breakout states merged into one (states of one form, threshold and sensitivity)';

-- For each key type and subject type (Citus computes a partial aggregate on
-- the workers only with concrete argument types): a transition function, the
-- overloads of anonymized_breakout with this state, and breakout_partial.
-- int2 and "char" are there so that they do not make calls ambiguous.
DO $$
DECLARE
	types text[] := ARRAY['text', 'int2', 'int4', 'int8', 'uuid', '"char"'];
	key text;
	subject text;
	args text;
	sig text;
BEGIN
	FOREACH key IN ARRAY types LOOP
		FOR i IN 1..3 LOOP
			args := CASE i WHEN 1 THEN format('key %s, metric float8', key)
				WHEN 2 THEN format('key %s, metric float8, threshold int4', key)
				ELSE format('key %s, metric float8, threshold int4, sensitivity @extschema@.sensitivity', key) END;
			sig := CASE i WHEN 1 THEN format('%s, float8', key)
				WHEN 2 THEN format('%s, float8, int4', key)
				ELSE format('%s, float8, int4, @extschema@.sensitivity', key) END;
			EXECUTE format($f$CREATE FUNCTION @extschema@.breakout_state_trans(@extschema@.breakout_state, %s)
				RETURNS @extschema@.breakout_state AS 'MODULE_PATHNAME', 'anon_bstate_trans'
				LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE$f$, sig);
			EXECUTE format($f$COMMENT ON FUNCTION @extschema@.breakout_state_trans(@extschema@.breakout_state, %s)
				IS 'transition function of anonymized_breakout(%s) and breakout_partial'$f$, sig, args);
			EXECUTE format($f$CREATE AGGREGATE @extschema@.anonymized_breakout(%s) (
				SFUNC = @extschema@.breakout_state_trans, STYPE = @extschema@.breakout_state,
				FINALFUNC = @extschema@.breakout_state_final, FINALFUNC_MODIFY = READ_ONLY,
				COMBINEFUNC = @extschema@.breakout_state_combine, PARALLEL = SAFE)$f$, args);
			EXECUTE format($f$COMMENT ON AGGREGATE @extschema@.anonymized_breakout(%s)
				IS 'metric by key with no group under the threshold shown alone (state breakout_state)'$f$, sig);
			IF i = 3 THEN
				EXECUTE format($f$CREATE AGGREGATE @extschema@.breakout_partial(%s) (
					SFUNC = @extschema@.breakout_state_trans, STYPE = @extschema@.breakout_state,
					COMBINEFUNC = @extschema@.breakout_state_combine, PARALLEL = SAFE)$f$, args);
				EXECUTE format($f$COMMENT ON AGGREGATE @extschema@.breakout_partial(%s)
					IS 'the state of anonymized_breakout over the rows, to keep and merge'$f$, sig);
			END IF;
		END LOOP;
		FOREACH subject IN ARRAY types LOOP
			args := format('key %s, metric float8, threshold int4, sensitivity @extschema@.sensitivity, subject %s',
				key, subject);
			sig := format('%s, float8, int4, @extschema@.sensitivity, %s', key, subject);
			EXECUTE format($f$CREATE FUNCTION @extschema@.breakout_state_trans(@extschema@.breakout_state, %s)
				RETURNS @extschema@.breakout_state AS 'MODULE_PATHNAME', 'anon_bstate_trans'
				LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE$f$, sig);
			EXECUTE format($f$COMMENT ON FUNCTION @extschema@.breakout_state_trans(@extschema@.breakout_state, %s)
				IS 'transition function of anonymized_breakout(%s) and breakout_partial'$f$, sig, args);
			EXECUTE format($f$CREATE AGGREGATE @extschema@.anonymized_breakout(%s) (
				SFUNC = @extschema@.breakout_state_trans, STYPE = @extschema@.breakout_state,
				FINALFUNC = @extschema@.breakout_state_final, FINALFUNC_MODIFY = READ_ONLY,
				COMBINEFUNC = @extschema@.breakout_state_combine, PARALLEL = SAFE)$f$, args);
			EXECUTE format($f$COMMENT ON AGGREGATE @extschema@.anonymized_breakout(%s)
				IS 'metric by key with no group under the threshold of distinct subjects shown alone (state breakout_state)'$f$, sig);
			EXECUTE format($f$CREATE AGGREGATE @extschema@.breakout_partial(%s) (
				SFUNC = @extschema@.breakout_state_trans, STYPE = @extschema@.breakout_state,
				COMBINEFUNC = @extschema@.breakout_state_combine, PARALLEL = SAFE)$f$, args);
			EXECUTE format($f$COMMENT ON AGGREGATE @extschema@.breakout_partial(%s)
				IS 'the state of anonymized_breakout by people over the rows, to keep and merge'$f$, sig);
		END LOOP;
	END LOOP;
END
$$;

-- The two-field form by pairs of those key types.
CREATE FUNCTION @extschema@.breakout2_state_final(@extschema@.breakout_state)
RETURNS @extschema@.breakout_cell[]
AS 'MODULE_PATHNAME', 'anon_bstate2_final'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.breakout2_state_final(@extschema@.breakout_state) IS
	'final function of the two-field anonymized_breakout with a breakout_state';
DO $$
DECLARE
	types text[] := ARRAY['text', 'int2', 'int4', 'int8', 'uuid', '"char"'];
	key1 text;
	key2 text;
	sig text;
BEGIN
	FOREACH key1 IN ARRAY types LOOP
		FOREACH key2 IN ARRAY types LOOP
			sig := format('%s, %s, float8, int4, @extschema@.sensitivity, @extschema@.sensitivity', key1, key2);
			EXECUTE format($f$CREATE FUNCTION @extschema@.breakout2_state_trans(@extschema@.breakout_state, %s)
				RETURNS @extschema@.breakout_state AS 'MODULE_PATHNAME', 'anon_bstate2_trans'
				LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE$f$, sig);
			EXECUTE format($f$COMMENT ON FUNCTION @extschema@.breakout2_state_trans(@extschema@.breakout_state, %s)
				IS 'transition function of the two-field anonymized_breakout with a breakout_state'$f$, sig);
			EXECUTE format($f$CREATE AGGREGATE @extschema@.anonymized_breakout(key1 %s, key2 %s, metric float8,
				threshold int4, sensitivity1 @extschema@.sensitivity, sensitivity2 @extschema@.sensitivity) (
				SFUNC = @extschema@.breakout2_state_trans, STYPE = @extschema@.breakout_state,
				FINALFUNC = @extschema@.breakout2_state_final, FINALFUNC_MODIFY = READ_ONLY,
				COMBINEFUNC = @extschema@.breakout_state_combine, PARALLEL = SAFE)$f$, key1, key2);
			EXECUTE format($f$COMMENT ON AGGREGATE @extschema@.anonymized_breakout(%s)
				IS 'metric by two keys with no cell under the threshold shown alone (state breakout_state)'$f$, sig);
		END LOOP;
	END LOOP;
END
$$;

-- END breakout_state

-- BEGIN distribute

CREATE FUNCTION @extschema@.key_check()
RETURNS text
AS 'MODULE_PATHNAME', 'anon_key_check'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@.key_check() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.key_check() IS
	'the key id of this database''s key, its file read and verified now (superuser only)';

-- On a Citus coordinator: check that every node has this version and the
-- same key (by key id, never the key), and say how to fix a node that has
-- not.  Read-only, so calling it again is harmless.
CREATE FUNCTION @extschema@.distribute()
RETURNS TABLE (node text, version text, key_id text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE
	my_key text;
	my_version text := (SELECT extversion FROM pg_extension WHERE extname = 'anonymize');
	problems text[] := '{}';
	r record;
	parts text[];
BEGIN
	IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'must be superuser to distribute anonymize'
			USING ERRCODE = '42501';
	END IF;
	IF to_regproc('pg_catalog.run_command_on_workers') IS NULL
	   OR to_regproc('pg_catalog.citus_is_coordinator') IS NULL THEN
		RAISE EXCEPTION 'Citus is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = 'anonymize.distribute() checks the nodes of a Citus cluster; a single server needs nothing.';
	END IF;
	IF NOT citus_is_coordinator() THEN
		RAISE EXCEPTION 'anonymize.distribute() must run on the coordinator'
			USING ERRCODE = '55000';
	END IF;
	my_key := @extschema@.key_check();
	node := 'coordinator';
	version := my_version;
	key_id := my_key;
	RETURN NEXT;
	FOR r IN
		SELECT w.nodename, w.nodeport, w.success, w.result
		FROM run_command_on_workers(
			$q$SELECT coalesce((SELECT extversion FROM pg_catalog.pg_extension
			                    WHERE extname = 'anonymize'), '-')
			          || ' ' || coalesce(@extschema@.key_check(), '-')$q$) AS w
		ORDER BY w.nodename, w.nodeport
	LOOP
		node := r.nodename || ':' || r.nodeport;
		IF NOT r.success THEN
			IF r.result LIKE '%secret key of anonymize is missing%' THEN
				problems := problems || format('%s has no key file for key id %s.', node, my_key);
			ELSIF r.result LIKE '%schema "anonymize" does not exist%'
			      OR r.result LIKE '%function%key_check%does not exist%' THEN
				problems := problems || format('%s does not have anonymize %s.', node, my_version);
			ELSE
				problems := problems || format('%s: %s', node, r.result);
			END IF;
			CONTINUE;
		END IF;
		parts := string_to_array(r.result, ' ');
		version := parts[1];
		key_id := parts[2];
		IF version IS DISTINCT FROM my_version THEN
			problems := problems || format('%s has anonymize %s, the coordinator %s.', node, version, my_version);
		ELSIF key_id IS DISTINCT FROM my_key THEN
			problems := problems || format('%s has key id %s, the coordinator %s.', node, key_id, my_key);
		END IF;
		RETURN NEXT;
	END LOOP;
	IF cardinality(problems) > 0 THEN
		RAISE EXCEPTION 'anonymize is not the same on every node'
			USING ERRCODE = '55000',
			      DETAIL = array_to_string(problems, ' '),
			      HINT = 'Install the same version of anonymize on every node. Give every node the coordinator''s key: '
			             'SELECT encode(anonymize.export_key(), ''hex'') on the coordinator, then on each node named '
			             '(before it holds protected rows) SELECT anonymize.import_key(decode(''<that hex>'', ''hex''), force => true); '
			             'or copy the file anonymize/' || my_key || '.key of the coordinator''s data directory into the '
			             'node''s, mode 0600, where the node has key id ' || my_key || ' already. Then call anonymize.distribute() again.';
	END IF;
END
$f$;
REVOKE ALL ON FUNCTION @extschema@.distribute() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.distribute() IS
	'on a Citus coordinator: check that every node has this version of anonymize and the same key';

-- END distribute
