/* anonymize 0.3.0 -> 0.4.0: the protection holds against ordinary roles */

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.4.0'" to load this file. \quit

-- ==== the trigger, protect() and the guard ====

-- ==== end of the trigger, protect() and the guard ====


-- ==== the secret key ====

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

-- ==== end of breakouts and comments ====
