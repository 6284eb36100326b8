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

-- END breakout_state
