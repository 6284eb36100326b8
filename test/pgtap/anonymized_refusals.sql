-- What a role with anonymized access may not do with an anonymized table,
-- with the SQLSTATE it gets (42501), and what it may.
BEGIN;
SELECT plan(56);

CREATE ROLE tap_bi;
CREATE SCHEMA tap_bi_own AUTHORIZATION tap_bi;
CREATE TABLE tap_responses (id int PRIMARY KEY, dept text, tenure text, score float8, name text);
INSERT INTO tap_responses
SELECT i, CASE WHEN i <= 60 THEN 'Sales' WHEN i <= 95 THEN 'Eng' ELSE 'Legal' END,
       CASE WHEN i % 2 = 0 THEN 'new' ELSE 'old' END, i % 7, 'person ' || i
FROM generate_series(1, 100) AS i;
CREATE TABLE tap_other (dept text, budget int);
INSERT INTO tap_other VALUES ('Sales', 10), ('Eng', 20);
GRANT SELECT ON tap_other TO tap_bi;
SELECT anonymize.label('tap_responses', 'dept', 'very_sensitive');
SELECT anonymize.label('tap_responses', 'tenure', 'not_sensitive');
SELECT anonymize.set_threshold('tap_responses', 5);
SELECT anonymize.grant_anonymized('tap_responses', 'tap_bi');

-- catalog facts: the grantee holds no privilege on the table
SELECT ok(NOT has_table_privilege('tap_bi', 'tap_responses', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
	'the grantee holds no privilege on the table');
SELECT ok(NOT has_any_column_privilege('tap_bi', 'tap_responses', 'SELECT'),
	'nor on any of its columns');
SELECT is((SELECT count(*)::int FROM anonymize.anonymized_grants
           WHERE table_name = 'tap_responses'::regclass AND grantee = 'tap_bi'::regrole), 1,
	'the grant is listed');
SELECT ok(NOT has_table_privilege('tap_bi', 'anonymize.anonymized_access', 'SELECT'),
	'the grantee cannot read the grants table');

SET ROLE tap_bi;
-- what works
SELECT lives_ok($$SELECT dept, count(*), avg(score) FROM tap_responses WHERE tenure = 'new' GROUP BY dept$$,
	'GROUP BY with count and avg');
SELECT lives_ok($$SELECT count(*) FROM tap_responses$$, 'a total');
SELECT lives_ok($$SELECT * FROM (SELECT dept, count(*) FROM tap_responses GROUP BY dept) s LIMIT 10$$,
	'a wrapper subquery in FROM');
SELECT lives_ok($$SELECT t.dept, o.budget FROM (SELECT dept, count(*) FROM tap_responses GROUP BY dept) t
                  JOIN tap_other o USING (dept)$$,
	'an anonymized result joined with another table');
SELECT lives_ok($$SELECT 1$$, 'SELECT 1');
SELECT lives_ok($$SELECT * FROM tap_other$$, 'another table');

-- row-level reads
SELECT throws_ok($$SELECT * FROM tap_responses$$, '42501', NULL, 'SELECT *');
SELECT throws_ok($$SELECT dept FROM tap_responses$$, '42501', NULL, 'one column');
SELECT throws_ok($$SELECT dept FROM tap_responses WHERE tenure = 'new' LIMIT 1$$, '42501', NULL, 'a filtered row');
SELECT throws_ok($$SELECT count(*) FROM tap_responses WHERE name = 'person 1'$$, '42501', NULL,
	'a filter on an unlabelled column');
SELECT throws_ok($$SELECT dept, count(*) FROM tap_responses WHERE name <> 'person 1' GROUP BY dept$$, '42501', NULL,
	'the differencing attack on an unlabelled column');
SELECT throws_ok($$SELECT ctid, count(*) FROM tap_responses GROUP BY ctid$$, '42501', NULL, 'system columns');
SELECT throws_ok($$SELECT tap_responses, count(*) FROM tap_responses GROUP BY 1$$, '42501', NULL, 'whole-row references');
SELECT throws_ok($$SELECT id, name, count(*) FROM tap_responses GROUP BY id$$, '42501', NULL,
	'columns that depend on a grouped primary key');
-- writes
SELECT throws_ok($$INSERT INTO tap_responses (id) VALUES (1000)$$, '42501', NULL, 'INSERT');
SELECT throws_ok($$UPDATE tap_responses SET score = 0 RETURNING name$$, '42501', NULL, 'UPDATE ... RETURNING');
SELECT throws_ok($$DELETE FROM tap_responses WHERE dept = 'Legal'$$, '42501', NULL, 'DELETE');
SELECT throws_ok($$INSERT INTO tap_other SELECT name, 1 FROM tap_responses$$, '42501', NULL, 'INSERT ... SELECT of rows');
-- query shapes
SELECT throws_ok($$WITH c AS (SELECT dept, count(*) FROM tap_responses GROUP BY dept) SELECT * FROM c$$, '42501', NULL, 'a CTE');
SELECT throws_ok($$SELECT count(*) FROM tap_other WHERE dept IN (SELECT dept FROM tap_responses)$$, '42501', NULL, 'IN (subquery)');
SELECT throws_ok($$SELECT count(*) FROM tap_other o WHERE EXISTS (SELECT FROM tap_responses r WHERE r.dept = o.dept AND r.name = 'person 1')$$,
	'42501', NULL, 'EXISTS');
SELECT throws_ok($$SELECT (SELECT count(*) FROM tap_responses)$$, '42501', NULL, 'a scalar subquery');
SELECT throws_ok($$SELECT r.dept, count(*) FROM tap_responses r JOIN tap_other o USING (dept) GROUP BY 1$$, '42501', NULL, 'a join');
SELECT throws_ok($$SELECT r.dept, count(*) FROM tap_responses r, tap_other o GROUP BY 1$$, '42501', NULL, 'a cross join');
SELECT throws_ok($$SELECT dept, count(*) OVER () FROM tap_responses$$, '42501', NULL, 'a window function');
SELECT throws_ok($$SELECT dept, count(*) FROM tap_responses GROUP BY dept UNION SELECT 'x', 1$$, '42501', NULL, 'UNION');
SELECT throws_ok($$SELECT dept, count(*) FROM tap_responses GROUP BY ROLLUP (dept)$$, '42501', NULL, 'ROLLUP');
SELECT throws_ok($$SELECT dept, tenure, count(*) FROM tap_responses GROUP BY CUBE (dept, tenure)$$, '42501', NULL, 'CUBE');
SELECT throws_ok($$SELECT dept, count(*) FROM tap_responses GROUP BY GROUPING SETS ((dept), ())$$, '42501', NULL, 'GROUPING SETS');
SELECT throws_ok($$SELECT DISTINCT dept FROM tap_responses$$, '42501', NULL, 'DISTINCT');
SELECT throws_ok($$SELECT DISTINCT ON (dept) dept, name FROM tap_responses$$, '42501', NULL, 'DISTINCT ON');
SELECT throws_ok($$SELECT o.dept, s.n FROM tap_other o, LATERAL (SELECT count(*) AS n FROM tap_responses r WHERE r.dept = o.dept) s$$,
	'42501', NULL, 'LATERAL');
SELECT throws_ok($$SELECT dept, count(*) FROM tap_responses TABLESAMPLE BERNOULLI (50) GROUP BY dept$$, '42501', NULL, 'TABLESAMPLE');
SELECT throws_ok($$SELECT dept, count(*) FROM tap_responses GROUP BY dept FOR UPDATE$$, '0A000', NULL, 'FOR UPDATE (refused by PostgreSQL itself)');
-- functions, operators and aggregates
SELECT throws_ok($$SELECT dept, min(score) FROM tap_responses GROUP BY dept$$, '42501', NULL, 'min');
SELECT throws_ok($$SELECT dept, max(name) FROM tap_responses GROUP BY dept$$, '42501', NULL, 'max');
SELECT throws_ok($$SELECT dept, string_agg(name, ',') FROM tap_responses GROUP BY dept$$, '42501', NULL, 'string_agg');
SELECT throws_ok($$SELECT dept, count(*) FILTER (WHERE name = 'person 1') FROM tap_responses GROUP BY dept$$, '42501', NULL, 'FILTER');
SELECT throws_ok($$SELECT dept || name, count(*) FROM tap_responses GROUP BY 1$$, '42501', NULL, 'a key expression');
SELECT throws_ok($$SELECT upper(dept), count(*) FROM tap_responses GROUP BY 1$$, '42501', NULL, 'a function not listed');
SELECT throws_ok($$SELECT dept, sum(score * 1000) FROM tap_responses GROUP BY dept$$, '42501', NULL, 'a metric expression');
SELECT throws_ok($$SELECT dept, count(*) FROM tap_responses WHERE dept <> 'Sales' GROUP BY dept$$, '42501', NULL,
	'<> on a very_sensitive column');
SELECT throws_ok($$SELECT anonymize.anonymized_breakout(dept, score, 2, 'not_sensitive') FROM tap_responses$$, '42501', NULL,
	'a breakout with a threshold of its own');
-- cursors and the role's own functions
SELECT throws_ok($$DECLARE c CURSOR FOR SELECT * FROM tap_responses$$, '42501', NULL, 'a cursor over the rows');
SELECT throws_ok($$CREATE FUNCTION tap_bi_own.rows_checked() RETURNS SETOF text LANGUAGE sql
                   AS 'SELECT name FROM public.tap_responses'$$, '42501', NULL, 'a SQL function body, checked when created');
-- (bodies checked only when they run)
SET check_function_bodies = off;
CREATE FUNCTION tap_bi_own.rows_sql() RETURNS SETOF text LANGUAGE sql AS $f$ SELECT name FROM public.tap_responses $f$;
CREATE FUNCTION tap_bi_own.rows_plpgsql() RETURNS SETOF text LANGUAGE plpgsql AS
	$f$ BEGIN RETURN QUERY SELECT name FROM public.tap_responses; END $f$;
CREATE FUNCTION tap_bi_own.count_plpgsql() RETURNS bigint LANGUAGE plpgsql AS
	$f$ BEGIN RETURN (SELECT count(*) FROM public.tap_responses WHERE tenure = 'new'); END $f$;
SELECT throws_ok($$SELECT * FROM tap_bi_own.rows_sql()$$, '42501', NULL, 'a SQL function of the role');
SELECT throws_ok($$SELECT * FROM tap_bi_own.rows_plpgsql()$$, '42501', NULL, 'a PL/pgSQL function of the role');
SELECT throws_ok($$SELECT tap_bi_own.count_plpgsql()$$, '42501', NULL, 'a scalar subquery in PL/pgSQL');
SELECT throws_ok($$CREATE VIEW tap_bi_own.v AS SELECT * FROM public.tap_responses$$, '42501', NULL, 'a view over the rows');
-- a breakout's state holds the raw counts and sums of every group
SELECT throws_ok($$SELECT anonymize.breakout_partial(dept, score, 5, 'very_sensitive') FROM tap_responses$$,
	'42501', NULL, 'breakout_partial (a state of raw counts)');
SELECT throws_ok($$SELECT anonymize.breakout_groups(anonymize.breakout_partial(dept, score, 5, 'very_sensitive'))
                   FROM tap_responses$$, '42501', NULL, 'breakout_groups of breakout_partial');
SELECT throws_ok($$SELECT tenure, anonymize.breakout_partial(dept, score, 5, 'very_sensitive') FROM tap_responses
                   GROUP BY tenure$$, '42501', NULL, 'breakout_partial by a GROUP BY');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
