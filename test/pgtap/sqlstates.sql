-- SQLSTATEs of every error a user can cause with anonymized_breakout.
BEGIN;
SELECT plan(33);

CREATE TEMP TABLE r (k text, m float8);
INSERT INTO r VALUES ('a', 1), ('b', 2);

SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, NULL) FROM r$$, '22004',
	'threshold must not be null');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, 0) FROM r$$, '22023',
	'threshold must be at least 1, not 0');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, -1) FROM r$$, '22023',
	'threshold must be at least 1, not -1');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, 5, NULL) FROM r$$, '22004',
	'sensitivity must not be null');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, CASE k WHEN 'a' THEN 5 ELSE 6 END) FROM r$$,
	'22023', 'threshold and sensitivity must be the same for every row of a breakout');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, 'NaN') FROM r$$, '22023',
	'metric must be a finite number, not NaN');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, 'Infinity') FROM r$$, '22023',
	'metric must be a finite number, not Infinity');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, 1e308) FROM (VALUES ('a'), ('a')) v(k)$$,
	'22003', 'sum of the metric is out of range for type double precision');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(point(1, 1), m) FROM r$$, '42883',
	'cannot break out by a key of type point');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout('{}'::json, m) FROM r$$, '42883',
	'cannot break out by a key of type json');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, 5, 'secret') FROM r$$, '22P02', NULL,
	'an unknown sensitivity is refused by the enum');
SELECT throws_ok($$SELECT anonymize.breakout_final(NULL::internal)$$, '0A000', NULL,
	'support functions cannot be called by hand');

-- two fields, people, comments, k-anonymity
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, k, m, NULL, 'very_sensitive', 'not_sensitive') FROM r$$,
	'22004', 'threshold must not be null');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, k, m, 5, 'very_sensitive', NULL) FROM r$$,
	'22004', 'sensitivity must not be null');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, point(1, 1), m, 5, 'very_sensitive', 'not_sensitive') FROM r$$,
	'42883', 'cannot break out by a key of type point');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', point(1, 1)) FROM r$$,
	'42883', 'cannot break out by a subject of type point');
SELECT throws_ok($$SELECT anonymize.anonymized_comments(k, 0) FROM r$$, '22023',
	'threshold must be at least 1, not 0');
SELECT throws_ok($$SELECT anonymize.anonymized_comments(k, NULL) FROM r$$, '22004',
	'threshold must not be null');
SELECT throws_ok($$SELECT anonymize.k_anonymity('r', '{nosuch}')$$, '42703',
	'column "nosuch" of relation "r" does not exist');
SELECT throws_ok($$SELECT anonymize.k_anonymity('r', '{}')$$, '22023',
	'at least one column is required');
SELECT throws_ok($$SELECT anonymize.k_anonymity('r', '{k,NULL}')$$, '22004',
	'column names must not be null');
SELECT throws_ok($$SELECT anonymize.k_anonymity('r', '{xmin}')$$, '0A000',
	'cannot use system column "xmin"');
SELECT throws_ok($$SELECT anonymize.breakout2_trans(NULL::internal, 1, 1, 1, 5, 'very_sensitive', 'very_sensitive')$$,
	'0A000', NULL, 'support functions cannot be called by hand');

-- the threshold floor
SET LOCAL anonymize.min_threshold = 5;
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, 4) FROM r$$, '22023',
	'threshold 4 is below the minimum threshold 5');
SET LOCAL anonymize.threshold = 2;
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m) FROM r$$, '22023',
	'threshold 2 is below the minimum threshold 5');
CREATE ROLE sqlstates_analyst;
SET LOCAL ROLE sqlstates_analyst;
SELECT throws_ok($$SET anonymize.min_threshold = 1$$, '42501', NULL,
	'a non-superuser cannot lower the floor');
SELECT throws_ok($$SET anonymize.mode = basic$$, '42501', NULL,
	'a non-superuser cannot switch to basic mode');
SELECT throws_ok($$SET anonymize.two_field_rule = per_slice$$, '42501', NULL,
	'a non-superuser cannot choose the per-slice rule');
SELECT throws_ok($$SET anonymize.show_grouped_members = on$$, '42501', NULL,
	'a non-superuser cannot list the members of buckets');
RESET ROLE;
SELECT throws_ok($$SET anonymize.mode = 'strict'$$, '22023', NULL, 'unknown mode');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(k, m, 5, 'very_sensitive')
	FROM (VALUES ('a', 1e308::float8), ('b', 1e308), ('c', 1), ('d', 1), ('e', 1)) AS v(k, m)$$, '22003',
	'sum of the metric is out of range for type double precision', 'a bucket''s sum overflows with an error');
SELECT throws_ok($$SELECT anonymize.anonymized_comments(m::text, point(0, 0), 1) FROM r$$, '42883',
	'cannot count authors of type point');
SELECT throws_ok($$SELECT anonymize.anonymized_comments(m::text, k, NULL) FROM r$$, '22004',
	'threshold must not be null');

SELECT * FROM finish();
ROLLBACK;
