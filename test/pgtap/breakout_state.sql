-- anonymize.breakout_state: catalog facts (what Citus needs to compute the
-- breakout on the workers) and the SQLSTATE of every error a user can cause
-- with states.
BEGIN;
SELECT plan(30);

CREATE TEMP TABLE r (k text, i int4, p int8, m float8);
INSERT INTO r SELECT 'k' || (g % 3), g % 4, g % 9, g FROM generate_series(1, 60) AS g;

-- catalog facts
SELECT has_type('anonymize', 'breakout_state', 'the type anonymize.breakout_state exists');
SELECT is((SELECT typlen::int FROM pg_type WHERE oid = 'anonymize.breakout_state'::regtype), -1,
	'it is of variable length');
SELECT ok((SELECT typsend <> 0 AND typreceive <> 0 FROM pg_type WHERE oid = 'anonymize.breakout_state'::regtype),
	'it has a binary form');
-- every concrete-typed anonymized_breakout and breakout_partial has the state
-- type and a combine function, and concrete arguments only (Citus refuses
-- polymorphic ones on the workers)
SELECT is((SELECT count(*)::int FROM pg_aggregate AS a JOIN pg_proc AS p ON p.oid = a.aggfnoid
           WHERE p.pronamespace = 'anonymize'::regnamespace
             AND a.aggtranstype = 'anonymize.breakout_state'::regtype
             AND p.proname = 'anonymized_breakout'), 6 * 3 + 6 * 6 + 6 * 6,
	'anonymized_breakout has 90 overloads with the state type: 6 key types, 3 forms by rows, 6 subject types, 6 x 6 pairs of keys');
SELECT is((SELECT count(*)::int FROM pg_aggregate AS a JOIN pg_proc AS p ON p.oid = a.aggfnoid
           WHERE p.pronamespace = 'anonymize'::regnamespace
             AND a.aggtranstype = 'anonymize.breakout_state'::regtype
             AND (a.aggcombinefn = 0 OR p.proparallel <> 's'
                  OR EXISTS (SELECT FROM unnest(p.proargtypes) AS t(oid)
                             JOIN pg_type AS y ON y.oid = t.oid WHERE y.typtype = 'p'))), 0,
	'each aggregate of the state type has a combine function, is parallel safe and has concrete arguments');
SELECT is((SELECT count(*)::int FROM pg_proc
           WHERE pronamespace = 'anonymize'::regnamespace AND proname = 'breakout_partial'), 6 + 6 * 6,
	'breakout_partial has 42 overloads');
SELECT is((SELECT aggfinalfn::oid FROM pg_aggregate
           WHERE aggfnoid = 'anonymize.breakout_partial(text, float8, int4, anonymize.sensitivity)'::regprocedure), 0::oid,
	'breakout_partial returns the state itself');
SELECT is((SELECT prorettype::regtype::text FROM pg_proc
           WHERE oid = 'anonymize.breakout_groups(anonymize.breakout_state)'::regprocedure),
	'anonymize.breakout_group[]', 'breakout_groups returns breakout_group[]');
-- which overload a call takes
SELECT is(pg_typeof(anonymize.breakout_partial(k, m, 5, 'very_sensitive'))::text, 'anonymize.breakout_state',
	'a text key takes the concrete form') FROM r;
SELECT lives_ok($$SELECT anonymize.anonymized_breakout(i::int2, m, 5, 'very_sensitive', p::int2) FROM r$$,
	'int2 keys and subjects are not ambiguous');
SELECT lives_ok($$SELECT anonymize.anonymized_breakout(k::"char", m, 5) FROM r$$,
	'"char" keys are not ambiguous');
SELECT lives_ok($$SELECT anonymize.anonymized_breakout(k::varchar, m, 5, 'very_sensitive', k::name) FROM r$$,
	'varchar keys and name subjects take the text form');

-- merging states that do not belong together: 22023
SELECT throws_ok($$SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive') FROM r
	UNION ALL SELECT anonymize.breakout_partial(k, m, 6, 'very_sensitive') FROM r) AS u(s)$$,
	'22023', 'cannot merge breakout states of different thresholds or sensitivities');
SELECT throws_ok($$SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive') FROM r
	UNION ALL SELECT anonymize.breakout_partial(k, m, 5, 'somewhat_sensitive') FROM r) AS u(s)$$,
	'22023', 'cannot merge breakout states of different thresholds or sensitivities');
SELECT throws_ok($$SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive') FROM r
	UNION ALL SELECT anonymize.breakout_partial(i, m, 5, 'very_sensitive') FROM r) AS u(s)$$,
	'22023', 'cannot merge breakout states of different key types');
SELECT throws_ok($$SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive') FROM r
	UNION ALL SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive', p) FROM r) AS u(s)$$,
	'22023', 'cannot merge breakout states of different forms');
SELECT throws_ok($$SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive', p) FROM r
	UNION ALL SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive', i) FROM r) AS u(s)$$,
	'22023', 'cannot merge breakout states of different subject types');
SELECT throws_ok($$SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(k COLLATE "C", m, 5, 'very_sensitive') FROM r
	UNION ALL SELECT anonymize.breakout_partial(k, m, 5, 'very_sensitive') FROM r) AS u(s)$$,
	'22023', 'cannot merge breakout states of different collations');

-- a state's threshold below anonymize.min_threshold where it is decided: 22023
CREATE TEMP TABLE low AS SELECT anonymize.breakout_partial(k, m, 2, 'very_sensitive') AS s FROM r;
SET LOCAL anonymize.min_threshold = 3;
SELECT throws_ok($$SELECT anonymize.breakout_groups(s) FROM low$$, '22023', NULL,
	'a state below anonymize.min_threshold is refused where it is decided');
RESET anonymize.min_threshold;

-- malformed input
SELECT throws_ok($$SELECT 'nonsense'::anonymize.breakout_state$$, '22P02',
	'invalid input syntax for type breakout_state');
SELECT throws_ok($$SELECT 'abs1:@@@@'::anonymize.breakout_state$$, '22P02',
	'invalid input syntax for type breakout_state');
SELECT throws_ok($$SELECT 'abs1:AAAA'::anonymize.breakout_state$$, '22P02',
	'malformed breakout state');
SELECT throws_ok($$SELECT 'abs9:AAAA'::anonymize.breakout_state$$, '0A000',
	'breakout state of another version is not supported');
SELECT throws_ok($$SELECT ('abs1:' || translate(encode(
	'\x01'::bytea || int4send(6) || 'public' || int4send(7) || 'nothere' || '\x00'::bytea ||
	int4send(5) || '\x02'::bytea || int8send(0) || int8send(0) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(0),
	'base64'), E'\n', ''))::anonymize.breakout_state$$, '42704',
	'type "public.nothere" of a breakout state does not exist');

-- a state of another type than its transition call's arguments: 42804
CREATE TEMP TABLE int_state AS SELECT anonymize.breakout_partial(i, m, 5, 'very_sensitive')::text AS s FROM r;
SELECT lives_ok(format($$CREATE AGGREGATE pg_temp.confused(text, float8, int4, anonymize.sensitivity) (
	SFUNC = anonymize.breakout_state_trans, STYPE = anonymize.breakout_state,
	FINALFUNC = anonymize.breakout_state_final, INITCOND = %L)$$, (SELECT s FROM int_state)),
	'an aggregate over the transition function with a state of int4 keys as initial value');
SELECT throws_ok($$SELECT pg_temp.confused(k, m, 5, 'very_sensitive') FROM r$$, '42804',
	'breakout state does not match the arguments of the aggregate');
-- a state naming a domain (whose CHECK would run as the reader): 0A000
CREATE DOMAIN pg_temp.tap_dom AS text;
SELECT throws_ok(format($$SELECT %L::anonymize.breakout_state$$, 'abs1:' || translate(encode(
	'\x01'::bytea || int4send(length(pg_my_temp_schema()::regnamespace::text)) ||
	convert_to(pg_my_temp_schema()::regnamespace::text, 'UTF8') || int4send(7) || 'tap_dom' || '\x00'::bytea ||
	int4send(5) || '\x02'::bytea || int8send(0) || int8send(0) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(0),
	'base64'), E'\n', '')), '0A000', NULL, 'a state of a domain type is refused');

-- the support functions outside an aggregate: 0A000
SELECT throws_ok($$SELECT anonymize.breakout_state_combine(NULL, NULL)$$, '0A000',
	'breakout_merge support function called outside an aggregate');
SELECT throws_ok($$SELECT anonymize.breakout_state_trans(NULL, 'a'::text, 1.0::float8, 5)$$, '0A000',
	'anonymized_breakout support function called outside an aggregate');
SELECT throws_ok($$SELECT anonymize.breakout_state_final(NULL)$$, '0A000',
	'anonymized_breakout support function called outside an aggregate');

SELECT * FROM finish();
ROLLBACK;
