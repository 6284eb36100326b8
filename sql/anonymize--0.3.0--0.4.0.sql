/* anonymize 0.3.0 -> 0.4.0: the protection holds against ordinary roles */

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.4.0'" to load this file. \quit

-- ==== the trigger, protect() and the guard ====

-- ==== end of the trigger, protect() and the guard ====


-- ==== the secret key ====

-- ==== end of the secret key ====


-- ==== pseudonyms and rules ====

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
