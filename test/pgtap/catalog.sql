-- Catalog facts: objects, labels and settings of the extension.
BEGIN;
SELECT plan(40);

SELECT has_extension('anonymize');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'anonymize'), false,
	'the extension is not relocatable');
SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'anonymize'),
	'anonymize', 'the extension lives in schema anonymize');

SELECT enum_has_labels('anonymize', 'sensitivity',
	ARRAY['not_sensitive', 'somewhat_sensitive', 'very_sensitive']);
SELECT is((SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
           FROM pg_attribute WHERE attrelid = 'anonymize.breakout_group'::regclass AND attnum > 0),
	ARRAY['label text', 'members text[]', 'n bigint', 'mean double precision',
	      'sum double precision', 'status text'],
	'breakout_group has the documented columns');
SELECT is((SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
           FROM pg_attribute WHERE attrelid = 'anonymize.breakout_cell'::regclass AND attnum > 0),
	ARRAY['label1 text', 'members1 text[]', 'label2 text', 'members2 text[]', 'n bigint',
	      'mean double precision', 'sum double precision', 'status text'],
	'breakout_cell has the documented columns');

SELECT has_function('anonymize', 'anonymized_breakout', ARRAY['anyelement', 'double precision']);
SELECT has_function('anonymize', 'anonymized_breakout', ARRAY['anyelement', 'double precision', 'integer']);
SELECT has_function('anonymize', 'anonymized_breakout',
	ARRAY['anyelement', 'double precision', 'integer', 'anonymize.sensitivity']);
SELECT has_function('anonymize', 'anonymized_breakout',
	ARRAY['"any"', '"any"', 'double precision', 'integer', 'anonymize.sensitivity', 'anonymize.sensitivity']);
SELECT has_function('anonymize', 'anonymized_breakout',
	ARRAY['anyelement', 'double precision', 'integer', 'anonymize.sensitivity', '"any"']);
SELECT has_function('anonymize', 'anonymized_comments', ARRAY['text']);
SELECT has_function('anonymize', 'anonymized_comments', ARRAY['text', 'integer']);
SELECT has_function('anonymize', 'anonymized_comments', ARRAY['text', '"any"', 'integer']);
-- the settings that weaken a breakout are a superuser's, and off by default
LOAD 'anonymize';
SELECT results_eq($$
	SELECT name::text, context::text, boot_val FROM pg_settings
	WHERE name IN ('anonymize.mode', 'anonymize.two_field_rule', 'anonymize.show_grouped_members')
	ORDER BY name $$,
	$$ VALUES ('anonymize.mode', 'superuser', 'enhanced'),
	          ('anonymize.show_grouped_members', 'superuser', 'off'),
	          ('anonymize.two_field_rule', 'superuser', 'protected') $$,
	'mode, two_field_rule and show_grouped_members: superuser only, safe defaults');
SELECT function_returns('anonymize', 'k_anonymity', ARRAY['regclass', 'text[]'], 'bigint');

-- every function of the analytics side is PARALLEL SAFE; what writes is UNSAFE
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc AS p
	JOIN pg_depend AS d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_extension AS e ON e.oid = d.refobjid AND e.extname = 'anonymize'
	WHERE (p.proname LIKE '%breakout%' OR p.proname LIKE '%comments%'
	       OR p.proname IN ('random_secret', 'tenant_default_all'))
	AND p.proparallel <> 's' $$, 'every breakout and comments function and aggregate is PARALLEL SAFE');
SELECT is((
	SELECT string_agg(p.proname, ', ' ORDER BY p.proname) FROM pg_proc AS p
	JOIN pg_depend AS d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_extension AS e ON e.oid = d.refobjid AND e.extname = 'anonymize'
	WHERE p.proparallel = 'u'),
	'anonymized_query, anonymized_query, canonical_condition, distribute, export_key, forget, grant_anonymized, guard, import_key, key_check, '
	'label, label_subject, protect, protect_trigger, refuse_policy_change, remote_forget_epoch, remote_pseudonym, '
	'replace_secret, revoke_anonymized, '
	'set_tenant_policy, set_threshold, unregister_dropped',
	'the functions that write, run DDL or run queries are PARALLEL UNSAFE');

-- volatility is set on purpose: what reads settings is STABLE, the rest IMMUTABLE
SELECT is((
	SELECT string_agg(DISTINCT p.proname || ' ' || p.provolatile::text, ', ') FROM pg_proc AS p
	JOIN pg_depend AS d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_extension AS e ON e.oid = d.refobjid AND e.extname = 'anonymize'
	WHERE p.prokind = 'f'),
	'anonymized_query v, breakout2_combine i, breakout2_deserialize i, breakout2_final s, breakout2_serialize i, '
	'breakout2_state_final s, breakout2_state_trans s, breakout2_trans s, '
	'breakout_combine i, breakout_deserialize i, breakout_final s, breakout_groups s, breakout_serialize i, '
	'breakout_state_combine s, breakout_state_final s, breakout_state_in s, breakout_state_out i, '
	'breakout_state_recv s, breakout_state_send i, breakout_state_trans s, breakout_trans s, '
	'canonical_condition s, comments_combine i, comments_deserialize i, comments_final s, comments_serialize i, comments_trans s, '
	'distribute v, export_key v, forget v, grant_anonymized v, guard v, import_key v, k_anonymity s, key_check v, label v, label_subject v, '
	'normalize_domain i, protect v, protect_trigger v, random_secret v, refuse_policy_change v, '
	'remote_forget_epoch v, remote_pseudonym v, replace_secret v, revoke_anonymized v, set_tenant_policy v, set_threshold v, tenant_default_all s, unregister_dropped v',
'support functions have the intended volatility');

-- every aggregate can run in parallel: combine, serialize and deserialize
-- (of an internal state), read-only final
SELECT is_empty($$
	SELECT a.aggfnoid::regprocedure::text FROM pg_aggregate AS a
	JOIN pg_depend AS d ON d.classid = 'pg_proc'::regclass AND d.objid = a.aggfnoid AND d.deptype = 'e'
	JOIN pg_extension AS e ON e.oid = d.refobjid AND e.extname = 'anonymize'
	WHERE a.aggcombinefn = 0 OR a.aggfinalmodify <> 'r'
	   OR (a.aggtranstype = 'internal'::regtype AND (a.aggserialfn = 0 OR a.aggdeserialfn = 0)) $$,
	'every aggregate has combine, serialize and deserialize if its state is internal, and a read-only final function');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'anonymize'::regnamespace
           AND proname = 'anonymized_breakout' AND prokind = 'a'), 12 + 90,
	'102 forms of anonymized_breakout: one field (three), by people, two fields, their forms for drivers'' types, '
	'and the 90 with a breakout_state');

-- every object carries a comment
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc AS p
	WHERE p.pronamespace = 'anonymize'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL $$,
	'every function and aggregate has a comment');
SELECT is_empty($$
	SELECT t.typname::text FROM pg_type AS t
	WHERE t.typnamespace = 'anonymize'::regnamespace AND t.typname NOT LIKE '\_%'
	AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
	AND obj_description(t.oid, 'pg_type') IS NULL $$,
	'every type has a comment');

SELECT is_empty($$
	SELECT c.relname::text FROM pg_class AS c
	WHERE c.relnamespace = 'anonymize'::regnamespace AND c.relkind IN ('r', 'v')
	AND obj_description(c.oid, 'pg_class') IS NULL $$,
	'every table and view has a comment');

-- privileges: the write side is not for PUBLIC, the key and the map for nobody else
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc AS p
	WHERE p.pronamespace = 'anonymize'::regnamespace
	AND p.proname IN ('protect', 'protect_trigger', 'forget', 'set_tenant_policy', 'random_secret',
	                  'import_key', 'export_key', 'canonical_condition')
	AND has_function_privilege('public', p.oid, 'EXECUTE') $$,
	'protect, protect_trigger, forget, set_tenant_policy, random_secret, import_key and export_key are not executable by PUBLIC');
SELECT is_empty($$
	SELECT c.relname::text FROM pg_class AS c
	WHERE c.relnamespace = 'anonymize'::regnamespace AND c.relkind = 'r'
	AND c.relacl IS NOT NULL AND EXISTS (
		SELECT 1 FROM aclexplode(c.relacl) AS a WHERE a.grantee = 0) $$,
	'no table of the extension grants anything to PUBLIC');
SELECT ok(has_table_privilege('public', 'anonymize.protected_tables', 'SELECT'),
	'anyone can see which tables are protected');
-- SECURITY DEFINER code pins its search_path
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc AS p
	WHERE p.pronamespace = 'anonymize'::regnamespace AND p.prosecdef
	AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false) $$,
	'every SECURITY DEFINER function pins search_path');
SELECT is((SELECT string_agg(evtname || ' ' || evtevent || ' ' || evtenabled::text, ', ' ORDER BY evtname)
           FROM pg_event_trigger WHERE evtname LIKE 'anonymize%'),
	'anonymize_guard ddl_command_start A, anonymize_guard_drop sql_drop A, '
	'anonymize_guard_end ddl_command_end A, anonymize_unregister sql_drop A',
	'the guard event triggers fire ALWAYS');
SELECT is_empty($$
	SELECT evtname::text FROM pg_event_trigger
	WHERE evtname LIKE 'anonymize%' AND obj_description(oid, 'pg_event_trigger') IS NULL $$,
	'every event trigger has a comment');
SELECT is((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text)
           FROM pg_extension AS e, unnest(e.extconfig) AS c WHERE e.extname = 'anonymize'),
	ARRAY['anonymize.anonymized_access', 'anonymize.label_columns', 'anonymize.label_tables',
	      'anonymize.protection', 'anonymize.pseudonyms', 'anonymize.secret', 'anonymize.tenant_policies'],
	'key, map, policies, registry, labels and grants are kept by pg_dump');
SELECT is((SELECT key_id FROM anonymize.secret WHERE key IS NULL) ~ '^[0-9a-f]{32}$', true,
	'anonymize.secret holds a key id and no key');
SELECT is(length(anonymize.export_key()), 32, 'the secret key, in its file, is 32 bytes');

-- settings
SELECT anonymize.anonymized_breakout(1, 1);  -- loads the library
SELECT is((SELECT context FROM pg_settings WHERE name = 'anonymize.min_threshold'), 'superuser',
	'anonymize.min_threshold can be set by a superuser only');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'anonymize.min_threshold'), '1',
	'anonymize.min_threshold defaults to 1');
SELECT is((SELECT boot_val || ' ' || context FROM pg_settings WHERE name = 'anonymize.threshold'),
	'5 user', 'anonymize.threshold defaults to 5, settable by anyone');
SELECT is((SELECT boot_val || ' ' || enumvals::text FROM pg_settings WHERE name = 'anonymize.mode'),
	'enhanced {enhanced,basic}', 'anonymize.mode is enhanced or basic');
SELECT is((SELECT boot_val || ' ' || context FROM pg_settings WHERE name = 'anonymize.tenant_default'),
	'policy superuser', 'anonymize.tenant_default is policy by default, set by a superuser');
SELECT is((SELECT boot_val || ' ' || min_val || ' ' || context FROM pg_settings
           WHERE name = 'anonymize.comment_threshold'),
	'5 1 user', 'anonymize.comment_threshold defaults to 5, at least 1, settable by anyone');
SELECT throws_ok($$SET anonymize.no_such_setting = 1$$, '42602', NULL,
	'the anonymize. prefix is reserved');

SELECT * FROM finish();
ROLLBACK;
