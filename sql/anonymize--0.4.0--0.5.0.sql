-- anonymize 0.4.0 -> 0.5.0: anonymized access for BI roles.
\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.5.0'" to load this file. \quit

-- Labels: how sensitive each column of a table is, which column is the
-- person, and the table's threshold.  A table with a row here is anonymized.
CREATE TABLE @extschema@.label_tables (
	rel regclass PRIMARY KEY,
	subject name,
	threshold int4 NOT NULL CHECK (threshold >= 1),
	labelled_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	labelled_by name NOT NULL
);
COMMENT ON TABLE @extschema@.label_tables IS
	'anonymized tables: their person column and threshold';

CREATE TABLE @extschema@.label_columns (
	rel regclass NOT NULL,
	col name NOT NULL,
	sensitivity @extschema@.sensitivity NOT NULL,
	PRIMARY KEY (rel, col)
);
COMMENT ON TABLE @extschema@.label_columns IS
	'sensitivity of the labelled columns of anonymized tables (others are very_sensitive)';

CREATE TABLE @extschema@.anonymized_access (
	rel regclass NOT NULL,
	grantee regrole NOT NULL,
	granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	granted_by name NOT NULL,
	PRIMARY KEY (rel, grantee)
);
COMMENT ON TABLE @extschema@.anonymized_access IS
	'roles whose queries on a table get the threshold rules (grant_anonymized)';

REVOKE ALL ON @extschema@.label_tables, @extschema@.label_columns,
	@extschema@.anonymized_access FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.label_tables', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.label_columns', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.anonymized_access', '');

-- Setting labels: the caller must own the table (role membership counts);
-- the functions write the tables above as their owner.
CREATE FUNCTION @extschema@.label(rel regclass, col name, sensitivity @extschema@.sensitivity)
RETURNS void
AS 'MODULE_PATHNAME', 'anon_label'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.label(regclass, name, @extschema@.sensitivity) IS
	'how sensitive a column of an anonymized table is when grouped or filtered by';

CREATE FUNCTION @extschema@.label_subject(rel regclass, col name)
RETURNS void
AS 'MODULE_PATHNAME', 'anon_label_subject'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.label_subject(regclass, name) IS
	'the column naming the person of each row: thresholds of the table count distinct people';

CREATE FUNCTION @extschema@.set_threshold(rel regclass, threshold int4)
RETURNS void
AS 'MODULE_PATHNAME', 'anon_set_threshold'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.set_threshold(regclass, int4) IS
	'the threshold k of an anonymized table (never below anonymize.min_threshold)';

CREATE FUNCTION @extschema@.grant_anonymized(rel regclass, grantee regrole)
RETURNS void
AS 'MODULE_PATHNAME', 'anon_grant_anonymized'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.grant_anonymized(regclass, regrole) IS
	'let a role that has no SELECT on the table run GROUP BY queries on it under the threshold rules';

CREATE FUNCTION @extschema@.revoke_anonymized(rel regclass, grantee regrole)
RETURNS void
AS 'MODULE_PATHNAME', 'anon_revoke_anonymized'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.revoke_anonymized(regclass, regrole) IS
	'take back what grant_anonymized gave';

CREATE VIEW @extschema@.labels AS
	SELECT c.rel AS table_name, c.col AS column_name,
	       CASE WHEN c.col = t.subject THEN 'very_sensitive' ELSE c.sensitivity END AS sensitivity,
	       COALESCE(c.col = t.subject, false) AS is_subject
	FROM @extschema@.label_columns AS c JOIN @extschema@.label_tables AS t USING (rel)
	UNION ALL
	SELECT t.rel, t.subject, 'very_sensitive', true
	FROM @extschema@.label_tables AS t
	WHERE t.subject IS NOT NULL AND NOT EXISTS
		(SELECT FROM @extschema@.label_columns AS c WHERE c.rel = t.rel AND c.col = t.subject);
GRANT SELECT ON @extschema@.labels TO PUBLIC;
COMMENT ON VIEW @extschema@.labels IS
	'labelled columns of anonymized tables, with the sensitivity that applies (a person column is very_sensitive)';

CREATE VIEW @extschema@.anonymized_grants AS
	SELECT a.rel AS table_name, a.grantee,
	       GREATEST(t.threshold,
	                           pg_catalog.current_setting('anonymize.min_threshold', true)::int4) AS threshold
	FROM @extschema@.anonymized_access AS a JOIN @extschema@.label_tables AS t USING (rel);
GRANT SELECT ON @extschema@.anonymized_grants TO PUBLIC;
COMMENT ON VIEW @extschema@.anonymized_grants IS
	'roles with anonymized access to a table, and the threshold their queries get';

-- Anonymized queries: the query hook turns a grantee's GROUP BY query into a
-- call of this function, which checks the query again (so that calling it
-- directly gives nothing more), runs it as the table's owner and applies the
-- threshold rules of the table's labels.
CREATE FUNCTION @extschema@.anonymized_query(query text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'anon_anonymized_query'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE ROWS 100;
CREATE FUNCTION @extschema@.anonymized_query(query text, VARIADIC params "any")
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'anon_anonymized_query'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;
COMMENT ON FUNCTION @extschema@.anonymized_query(text) IS
	'the rows of a GROUP BY query on an anonymized table, under the table''s threshold rules';
COMMENT ON FUNCTION @extschema@.anonymized_query(text, "any") IS
	'the rows of a GROUP BY query with parameters $1... on an anonymized table, under the table''s threshold rules';

-- A dropped table loses its labels and grants (its OID may come back); a
-- dropped column loses its label (a dropped table's columns go with it).  A dropped person column stays named, so
-- that the table's queries are refused rather than counted by rows.
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
	DELETE FROM @extschema@.label_tables AS t
	USING pg_event_trigger_dropped_objects() AS d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = t.rel::oid
	  AND d.objsubid = 0;
	DELETE FROM @extschema@.anonymized_access AS a
	USING pg_event_trigger_dropped_objects() AS d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = a.rel::oid
	  AND d.objsubid = 0;
	DELETE FROM @extschema@.label_columns AS c
	USING pg_event_trigger_dropped_objects() AS d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = c.rel::oid
	  AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
	                  WHERE a.attrelid = c.rel AND a.attname = c.col AND NOT a.attisdropped);
END
$$;
COMMENT ON EVENT TRIGGER anonymize_unregister IS
	'removes dropped tables from anonymize.protection, and their labels';

-- BEGIN driver types
-- Forms of the aggregates for the types that client drivers give parameters
-- without a cast: a threshold of type bigint, numeric or unknown (an untyped
-- parameter), and a sensitivity of type text or varchar.  Their threshold is
-- float8, the one type to which every integer and numeric type, and an
-- untyped parameter, cast implicitly while being preferred over integer:
-- a numeric threshold would make a smallint or untyped one ambiguous between
-- it and the integer forms.  It must be a whole number in the range of
-- integer.  A threshold of type integer still resolves to the original forms,
-- which match it exactly; the state and the results are those of the
-- original forms.
CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8,
	@extschema@.sensitivity)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8, text, "any")
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8,
	@extschema@.sensitivity, "any")
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout2_trans(internal, "any", "any", float8, float8,
	text, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout2_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.breakout2_trans(internal, "any", "any", float8, float8,
	@extschema@.sensitivity, @extschema@.sensitivity)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_breakout2_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.comments_trans(internal, text, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_comments_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.comments_trans(internal, text, "any", float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'anon_comments_trans'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8) IS
	'transition function of anonymized_breakout(key, metric, threshold float8)';
COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8, text) IS
	'transition function of anonymized_breakout(key, metric, threshold float8, sensitivity text)';
COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8,
	@extschema@.sensitivity) IS
	'transition function of anonymized_breakout(key, metric, threshold float8, sensitivity)';
COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8, text, "any") IS
	'transition function of anonymized_breakout(key, metric, threshold float8, sensitivity text, subject)';
COMMENT ON FUNCTION @extschema@.breakout_trans(internal, anyelement, float8, float8,
	@extschema@.sensitivity, "any") IS
	'transition function of anonymized_breakout(key, metric, threshold float8, sensitivity, subject)';
COMMENT ON FUNCTION @extschema@.breakout2_trans(internal, "any", "any", float8, float8,
	text, text) IS
	'transition function of anonymized_breakout(key1, key2, metric, threshold float8, sensitivity1 text, sensitivity2 text)';
COMMENT ON FUNCTION @extschema@.breakout2_trans(internal, "any", "any", float8, float8,
	@extschema@.sensitivity, @extschema@.sensitivity) IS
	'transition function of anonymized_breakout(key1, key2, metric, threshold float8, sensitivity1, sensitivity2)';
COMMENT ON FUNCTION @extschema@.comments_trans(internal, text, float8) IS
	'transition function of anonymized_comments(comment, threshold float8)';
COMMENT ON FUNCTION @extschema@.comments_trans(internal, text, "any", float8) IS
	'transition function of anonymized_comments(comment, author, threshold float8)';

CREATE AGGREGATE @extschema@.anonymized_breakout(key anyelement, metric float8,
	threshold float8) (
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
	threshold float8, sensitivity text) (
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
	threshold float8, sensitivity @extschema@.sensitivity) (
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
	threshold float8, sensitivity text, subject "any") (
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
	threshold float8, sensitivity @extschema@.sensitivity, subject "any") (
	SFUNC = @extschema@.breakout_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.breakout_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.breakout_combine,
	SERIALFUNC = @extschema@.breakout_serialize,
	DESERIALFUNC = @extschema@.breakout_deserialize,
	PARALLEL = SAFE
);
CREATE AGGREGATE @extschema@.anonymized_breakout(key1 "any", key2 "any", metric float8,
	threshold float8, sensitivity1 text, sensitivity2 text) (
	SFUNC = @extschema@.breakout2_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.breakout2_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.breakout2_combine,
	SERIALFUNC = @extschema@.breakout2_serialize,
	DESERIALFUNC = @extschema@.breakout2_deserialize,
	PARALLEL = SAFE
);
CREATE AGGREGATE @extschema@.anonymized_breakout(key1 "any", key2 "any", metric float8,
	threshold float8, sensitivity1 @extschema@.sensitivity,
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
CREATE AGGREGATE @extschema@.anonymized_comments(comment text, threshold float8) (
	SFUNC = @extschema@.comments_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.comments_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.comments_combine,
	SERIALFUNC = @extschema@.comments_serialize,
	DESERIALFUNC = @extschema@.comments_deserialize,
	PARALLEL = SAFE
);
CREATE AGGREGATE @extschema@.anonymized_comments(comment text, author "any",
	threshold float8) (
	SFUNC = @extschema@.comments_trans,
	STYPE = internal,
	FINALFUNC = @extschema@.comments_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = @extschema@.comments_combine,
	SERIALFUNC = @extschema@.comments_serialize,
	DESERIALFUNC = @extschema@.comments_deserialize,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, float8) IS
	'anonymized_breakout(key, metric, threshold) for a threshold of type bigint, numeric or unknown';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, float8, text) IS
	'anonymized_breakout(key, metric, threshold, sensitivity) for a sensitivity given as text';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, float8,
	@extschema@.sensitivity) IS
	'anonymized_breakout(key, metric, threshold, sensitivity) for a threshold of type bigint or numeric';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, float8, text, "any") IS
	'anonymized_breakout(key, metric, threshold, sensitivity, subject) for a sensitivity given as text';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout(anyelement, float8, float8,
	@extschema@.sensitivity, "any") IS
	'anonymized_breakout(key, metric, threshold, sensitivity, subject) for a threshold of type bigint or numeric';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout("any", "any", float8, float8, text, text) IS
	'anonymized_breakout by two fields for sensitivities given as text';
COMMENT ON AGGREGATE @extschema@.anonymized_breakout("any", "any", float8, float8,
	@extschema@.sensitivity, @extschema@.sensitivity) IS
	'anonymized_breakout by two fields for a threshold of type bigint or numeric';
COMMENT ON AGGREGATE @extschema@.anonymized_comments(text, float8) IS
	'anonymized_comments(comment, threshold) for a threshold of type bigint, numeric or unknown';
COMMENT ON AGGREGATE @extschema@.anonymized_comments(text, "any", float8) IS
	'anonymized_comments(comment, author, threshold) for a threshold of type bigint, numeric or unknown';
-- END driver types
