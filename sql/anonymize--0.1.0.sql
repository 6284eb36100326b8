/* anonymize 0.1.0: threshold grouping for analytics */

\echo Use "CREATE EXTENSION anonymize" to load this file. \quit

CREATE TYPE @extschema@.sensitivity AS ENUM
	('not_sensitive', 'somewhat_sensitive', 'very_sensitive');
COMMENT ON TYPE @extschema@.sensitivity IS
	'how sensitive a breakout field is: small groups are shown, hidden or grouped';

CREATE TYPE @extschema@.breakout_group AS (
	label text,
	members text[],
	n bigint,
	mean float8,
	sum float8,
	status text
);
COMMENT ON TYPE @extschema@.breakout_group IS
	'one group of an anonymized breakout; status is shown, hidden or grouped';

-- Support functions of anonymized_breakout.  The transition and final
-- functions read settings, so they are STABLE.

CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, int4)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, int4,
	@extschema@.sensitivity)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_combine'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_breakout_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout_final(internal)
RETURNS @extschema@.breakout_group[]
AS 'MODULE_PATHNAME', 'anon_breakout_final'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8) IS
	'transition function of anonymized_breakout(key, metric)';
COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, int4) IS
	'transition function of anonymized_breakout(key, metric, threshold)';
COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, int4,
	@extschema@.sensitivity) IS
	'transition function of anonymized_breakout(key, metric, threshold, sensitivity)';
COMMENT ON FUNCTION @extschema@.breakout_combine(internal, internal) IS
	'combine function of anonymized_breakout';
COMMENT ON FUNCTION @extschema@.breakout_serialize(internal) IS
	'serialize function of anonymized_breakout';
COMMENT ON FUNCTION @extschema@.breakout_deserialize(bytea, internal) IS
	'deserialize function of anonymized_breakout';
COMMENT ON FUNCTION @extschema@.breakout_final(internal) IS
	'final function of anonymized_breakout';

CREATE AGGREGATE @extschema@.anonymized_breakout(key anyelement, metric float8) (
	SFUNC = @extschema@.breakout_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.breakout_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.breakout_combine,
	SERIALFUNC = @extschema@.breakout_serialize,
	DESERIALFUNC = @extschema@.breakout_deserialize,
	PARALLEL = SAFE
);

CREATE AGGREGATE @extschema@.anonymized_breakout(key anyelement, metric float8,
	threshold int4) (
	SFUNC = @extschema@.breakout_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.breakout_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.breakout_combine,
	SERIALFUNC = @extschema@.breakout_serialize,
	DESERIALFUNC = @extschema@.breakout_deserialize,
	PARALLEL = SAFE
);

CREATE AGGREGATE @extschema@.anonymized_breakout(key anyelement, metric float8,
	threshold int4, sensitivity @extschema@.sensitivity) (
	SFUNC = @extschema@.breakout_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.breakout_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.breakout_combine,
	SERIALFUNC = @extschema@.breakout_serialize,
	DESERIALFUNC = @extschema@.breakout_deserialize,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8) IS
	'metric by key with no group under anonymize.threshold shown alone; small groups are grouped';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, int4) IS
	'metric by key with no group under the threshold shown alone; small groups are grouped';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, int4,
	@extschema@.sensitivity) IS
	'metric by key with no group under the threshold shown alone, by the field''s sensitivity';
