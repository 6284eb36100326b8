/* anonymize 0.2.0 -> 0.3.0: breakouts by two fields and by people, comments, k-anonymity */

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.3.0'" to load this file. \quit

-- Breakouts by two fields.
CREATE TYPE @extschema@.breakout_cell AS (
	label1 text,
	members1 text[],
	label2 text,
	members2 text[],
	n bigint,
	mean float8,
	sum float8,
	status text
);
COMMENT ON TYPE @extschema@.breakout_cell IS
	'one cell of an anonymized breakout by two fields; status is shown, hidden or grouped';

CREATE FUNCTION @extschema@.breakout2_trans(internal, "any", "any", float8, int4,
	@extschema@.sensitivity, @extschema@.sensitivity)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout2_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout2_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout2_combine'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout2_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_breakout2_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout2_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout2_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.breakout2_final(internal)
RETURNS @extschema@.breakout_cell[]
AS 'MODULE_PATHNAME', 'anon_breakout2_final'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.breakout2_trans(internal, "any", "any", float8, int4,
	@extschema@.sensitivity, @extschema@.sensitivity) IS
	'transition function of anonymized_breakout(key1, key2, metric, threshold, sensitivity1, sensitivity2)';
COMMENT ON FUNCTION @extschema@.breakout2_combine(internal, internal) IS
	'combine function of anonymized_breakout by two fields';
COMMENT ON FUNCTION @extschema@.breakout2_serialize(internal) IS
	'serialize function of anonymized_breakout by two fields';
COMMENT ON FUNCTION @extschema@.breakout2_deserialize(bytea, internal) IS
	'deserialize function of anonymized_breakout by two fields';
COMMENT ON FUNCTION @extschema@.breakout2_final(internal) IS
	'final function of anonymized_breakout by two fields';

CREATE AGGREGATE @extschema@.anonymized_breakout(key1 "any", key2 "any", metric float8,
	threshold int4, sensitivity1 @extschema@.sensitivity,
	sensitivity2 @extschema@.sensitivity) (
	SFUNC = @extschema@.breakout2_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.breakout2_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.breakout2_combine,
	SERIALFUNC = @extschema@.breakout2_serialize,
	DESERIALFUNC = @extschema@.breakout2_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.anonymized_breakout("any", "any", float8, int4,
	@extschema@.sensitivity, @extschema@.sensitivity) IS
	'metric by two fields: the more sensitive one is grouped or hidden within each value of the other';

-- Breakouts whose threshold counts people: the transition function of the
-- one-field form, with a sixth argument.
CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, int4,
	@extschema@.sensitivity, "any")
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, int4,
	@extschema@.sensitivity, "any") IS
	'transition function of anonymized_breakout(key, metric, threshold, sensitivity, subject)';

CREATE AGGREGATE @extschema@.anonymized_breakout(key anyelement, metric float8,
	threshold int4, sensitivity @extschema@.sensitivity, subject "any") (
	SFUNC = @extschema@.breakout_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.breakout_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.breakout_combine,
	SERIALFUNC = @extschema@.breakout_serialize,
	DESERIALFUNC = @extschema@.breakout_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, int4,
	@extschema@.sensitivity, "any") IS
	'metric by key, where a group meets the threshold with that many distinct subjects (people)';

-- Free-text comments.
CREATE FUNCTION @extschema@.comments_trans(internal, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_comments_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.comments_trans(internal, text, int4)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_comments_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.comments_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_comments_combine'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.comments_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_comments_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.comments_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_comments_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.comments_final(internal)
RETURNS text[]
AS 'MODULE_PATHNAME', 'anon_comments_final'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.comments_trans(internal, text) IS
	'transition function of anonymized_comments(comment)';
COMMENT ON FUNCTION @extschema@.comments_trans(internal, text, int4) IS
	'transition function of anonymized_comments(comment, threshold)';
COMMENT ON FUNCTION @extschema@.comments_combine(internal, internal) IS
	'combine function of anonymized_comments';
COMMENT ON FUNCTION @extschema@.comments_serialize(internal) IS
	'serialize function of anonymized_comments';
COMMENT ON FUNCTION @extschema@.comments_deserialize(bytea, internal) IS
	'deserialize function of anonymized_comments';
COMMENT ON FUNCTION @extschema@.comments_final(internal) IS
	'final function of anonymized_comments';

CREATE AGGREGATE @extschema@.anonymized_comments(comment text) (
	SFUNC = @extschema@.comments_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.comments_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.comments_combine,
	SERIALFUNC = @extschema@.comments_serialize,
	DESERIALFUNC = @extschema@.comments_deserialize,
	PARALLEL = SAFE
);
CREATE AGGREGATE @extschema@.anonymized_comments(comment text, threshold int4) (
	SFUNC = @extschema@.comments_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.comments_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.comments_combine,
	SERIALFUNC = @extschema@.comments_serialize,
	DESERIALFUNC = @extschema@.comments_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.anonymized_comments(text) IS
	'the non-blank comments, sorted, or NULL when fewer than anonymize.comment_threshold';
COMMENT ON AGGREGATE @extschema@.anonymized_comments(text, int4) IS
	'the non-blank comments, sorted, or NULL when fewer than the threshold';

-- k-anonymity of a table over some of its columns.
CREATE FUNCTION @extschema@.k_anonymity(rel regclass, columns text[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'anon_k_anonymity'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.k_anonymity(regclass, text[]) IS
	'size of the smallest group of rows sharing the values of the given columns (0: no rows)';

-- set_tenant_policy: a domain with spaces inside is refused, as by protect().
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
			d := lower(btrim(d));
			IF d IS NULL OR d = '' OR d ~ '[@,[:space:]]' THEN
				RAISE EXCEPTION 'invalid e-mail domain "%"', d
					USING ERRCODE = 'invalid_parameter_value',
					      DETAIL = 'A domain is written without "@", "," or spaces, as in "acme.com".';
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
