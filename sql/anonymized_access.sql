-- Anonymized access: a grantee's plain GROUP BY queries get the threshold
-- rules of the table's labels, and give what anonymized_breakout gives on
-- the same rows.
SET client_min_messages = warning;
DROP ROLE IF EXISTS aa_bi, aa_bi_member, aa_etl, aa_other;
RESET client_min_messages;
CREATE ROLE aa_bi;
CREATE ROLE aa_bi_member IN ROLE aa_bi;
CREATE ROLE aa_etl;
CREATE ROLE aa_other;

-- 200 answers: Sales 100, Eng 60, Ops 30, Legal 3, HR 3, CEO office 4
CREATE TABLE responses (
	id int PRIMARY KEY,
	department text,
	tenure text,
	score float8,
	salary int,
	name text,
	answered timestamp
);
INSERT INTO responses
SELECT i,
       CASE WHEN i <= 100 THEN 'Sales' WHEN i <= 160 THEN 'Eng' WHEN i <= 190 THEN 'Ops'
            WHEN i <= 193 THEN 'Legal' WHEN i <= 196 THEN 'HR' ELSE 'CEO office' END,
       CASE WHEN i % 3 = 0 THEN '1-2 years' ELSE '3+ years' END,
       (i % 10)::float8, 1000 + i, 'person ' || i,
       timestamp '2024-01-01' + (i % 90) * interval '1 day'
FROM generate_series(1, 200) AS i;
GRANT SELECT ON responses TO aa_etl;

-- labels: the table becomes anonymized; name and id stay unlabelled
SELECT anonymize.label('responses', 'department', 'very_sensitive');
SELECT anonymize.label('responses', 'tenure', 'not_sensitive');
SELECT anonymize.label('responses', 'salary', 'somewhat_sensitive');
SELECT anonymize.label('responses', 'answered', 'not_sensitive');
SELECT anonymize.set_threshold('responses', 5);
SELECT anonymize.grant_anonymized('responses', 'aa_bi');
-- a role that can read the table keeps reading it: a warning says so
SELECT anonymize.grant_anonymized('responses', 'aa_etl');
SELECT anonymize.revoke_anonymized('responses', 'aa_etl');
SELECT * FROM anonymize.labels ORDER BY column_name;
SELECT * FROM anonymize.anonymized_grants;

-- the owner's breakouts, to compare with
SELECT g.label, g.n, g.mean, g.sum, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(department, score, 5, 'very_sensitive')
             FROM responses WHERE tenure = '1-2 years')) AS g;

SET ROLE aa_bi;
-- a BI tool's question: the small departments are merged into one row
SELECT department, count(*) AS count, avg(score) AS avg
FROM responses WHERE tenure = '1-2 years' GROUP BY department ORDER BY department;
-- with the plain query's column names and types
SELECT department, count(*) AS count, avg(score) AS avg, sum(id) AS total
FROM responses GROUP BY department \gdesc
-- the same rows as the breakout, checked row by row
CREATE TEMP TABLE aa_answer AS
	SELECT department, count(*) AS count, avg(score) AS avg, sum(score) AS sum
	FROM responses WHERE tenure = '1-2 years' GROUP BY department;
RESET ROLE;
SELECT count(*) AS rows, count(*) FILTER (WHERE NOT matched) AS differing
FROM (SELECT a.department IS NOT NULL AND g.label IS NOT NULL AS matched
      FROM aa_answer AS a
      FULL JOIN unnest((SELECT anonymize.anonymized_breakout(department, score, 5, 'very_sensitive')
                        FROM responses WHERE tenure = '1-2 years')) AS g
        ON g.label = a.department AND g.n = a.count AND g.mean = a.avg AND g.sum = a.sum) AS j;

SET ROLE aa_bi;
-- somewhat_sensitive: small groups are hidden, and a hidden group is not returned
SELECT width_bucket(salary, 1000, 1200, 4) AS bucket, count(*), avg(score)
FROM responses GROUP BY 1 ORDER BY 1;
-- not_sensitive: every group
SELECT tenure, count(*), sum(score) FROM responses GROUP BY tenure ORDER BY tenure;
-- an unlabelled column counts as very_sensitive when grouped by
SELECT substring(name, 8, 2) AS number, count(*) FROM responses GROUP BY 1 ORDER BY 1;
-- no key: the total, hidden under k
SELECT count(*), avg(score) FROM responses;
SELECT count(*), avg(score) FROM responses WHERE department = 'Sales' AND tenure = '1-2 years';
SELECT count(*), avg(score) FROM responses WHERE salary < 1003;
-- the whole result under k: nothing shown
SELECT tenure, count(*) FROM responses WHERE salary < 1003 GROUP BY tenure;
-- two keys: the two-field rule
SELECT tenure, department, count(*), avg(score)
FROM responses GROUP BY tenure, department ORDER BY 1, 2;
RESET ROLE;
SELECT c.label1, c.label2, c.n, c.mean, c.status
FROM unnest((SELECT anonymize.anonymized_breakout(tenure, department, score, 5, 'not_sensitive', 'very_sensitive')
             FROM responses)) AS c ORDER BY 1, 2;
SET ROLE aa_bi;

-- generalizations of a column BI tools emit
SELECT date_trunc('month', answered) AS month, count(*) FROM responses GROUP BY 1 ORDER BY 1;
SELECT extract(dow FROM answered) AS dow, count(*) FROM responses GROUP BY 1 ORDER BY 1;
SELECT round(salary, -1) AS tens, count(*) FROM responses WHERE salary < 1040 GROUP BY 1 ORDER BY 1;
-- the bucket of a key that is not text has a NULL key
SELECT floor(score) AS floor, count(*) FROM responses WHERE salary <= 1030 GROUP BY 1 ORDER BY 1;
SELECT substring(tenure, 1, 1) AS t, count(*) FROM responses GROUP BY 1 ORDER BY 1;
SELECT answered::date AS day, count(*) FROM responses WHERE answered < '2024-01-03' GROUP BY 1 ORDER BY 1;
-- numeric arithmetic with constants, as Grafana and Metabase bin times and numbers
SELECT floor(extract(epoch FROM answered) / 864000) * 864000 AS "time", count(*)
FROM responses WHERE answered < '2024-01-20' GROUP BY 1 ORDER BY 1;
SELECT ((floor(((salary - 1000.0) / 50.0)) * 50.0) + 1000.0) AS salary, count(*) AS count
FROM responses GROUP BY 1 ORDER BY 1 ASC;
-- but not arithmetic of integers or floats, which can overflow on some values
SELECT salary * 1000, count(*) FROM responses GROUP BY 1;
SELECT count(1), count(*) FROM responses;
-- a unit date_trunc does not know is an error before any row is read
SELECT date_trunc('fortnight', answered), count(*) FROM responses GROUP BY 1;

-- filters: ranges, lists, patterns and NULL tests on labelled columns
SELECT tenure, count(*) FROM responses
WHERE answered BETWEEN '2024-01-10' AND '2024-02-10' AND salary NOT IN (1001, 1002)
GROUP BY tenure ORDER BY tenure;
SELECT department, count(*) FROM responses
WHERE tenure LIKE '3%' OR tenure IS NULL GROUP BY department ORDER BY department;
-- on a very_sensitive column only = and IN, and a value under k matches nothing
SELECT department, count(*) FROM responses WHERE department = 'Legal' GROUP BY department;
SELECT count(*) FROM responses WHERE department = 'Legal' OR tenure = '1-2 years';
SELECT department, count(*) FROM responses WHERE department IN ('Sales', 'HR', 'Ops')
GROUP BY department ORDER BY department;

-- HAVING, ORDER BY, LIMIT and OFFSET work on the anonymized rows
SELECT department, count(*) AS n FROM responses GROUP BY department
HAVING count(*) > 40 ORDER BY n DESC;
SELECT department, count(*) AS n FROM responses GROUP BY department
ORDER BY n DESC NULLS LAST LIMIT 2 OFFSET 1;
-- one anonymized query per statement: two would give their difference
SELECT a.n - b.n FROM (SELECT count(*) AS n FROM responses) a,
	(SELECT count(*) AS n FROM responses WHERE tenure <> '1-2 years') b;
-- ... also through the grantee's own views, or inside one of its functions
RESET ROLE;
CREATE SCHEMA aa_own AUTHORIZATION aa_bi;
SET ROLE aa_bi;
CREATE VIEW aa_own.total AS SELECT count(*) AS n FROM responses;
CREATE VIEW aa_own.rest AS SELECT count(*) AS n FROM responses WHERE tenure <> '1-2 years';
SELECT n FROM aa_own.total;
SELECT t.n - r.n FROM aa_own.total t, aa_own.rest r;
DO $$
DECLARE
	a bigint;
	b bigint;
BEGIN
	SELECT count(*) INTO a FROM responses;
	SELECT count(*) INTO b FROM responses WHERE tenure <> '1-2 years';
	RAISE NOTICE 'difference %', a - b;
END
$$;
-- (the same answer twice in one statement is one answer)
SELECT t.n, g FROM aa_own.total t, generate_series(1, 2) AS g;
-- a function of the grantee's run once per row would give one answer per
-- value of its argument
CREATE FUNCTION aa_own.others(s int) RETURNS bigint LANGUAGE sql STABLE
	AS $f$ SELECT count(*) FROM public.responses WHERE salary <> s $f$;
SELECT aa_own.others(1001);
SELECT g, aa_own.others(g) FROM generate_series(1001, 1003) AS g;
-- the wrappers of BI tools
SELECT "source".* FROM (SELECT department, count(*) AS "count" FROM responses
                        GROUP BY department ORDER BY department) "source" LIMIT 2000;
SELECT department AS department, count AS count FROM
  (SELECT department, count(*) AS count FROM responses GROUP BY department) AS virtual_table
ORDER BY count DESC LIMIT 1000;
-- a cursor over an anonymized query
BEGIN;
DECLARE c CURSOR FOR SELECT tenure, count(*) FROM responses GROUP BY tenure ORDER BY tenure;
FETCH 1 FROM c;
FETCH 1 FROM c;
COMMIT;

-- prepared statements with parameters, also as generic plans
PREPARE q(text, int) AS
	SELECT department, count(*), avg(score) FROM responses
	WHERE tenure = $1 AND salary >= $2 GROUP BY department ORDER BY department;
EXECUTE q('1-2 years', 1000);
EXECUTE q('3+ years', 1150);
EXECUTE q('3+ years', 1150);
EXECUTE q('3+ years', 1150);
EXECUTE q('3+ years', 1150);
SET plan_cache_mode = force_generic_plan;
EXECUTE q('1-2 years', 1000);
RESET plan_cache_mode;
EXPLAIN (COSTS OFF) EXECUTE q('1-2 years', 1000);
DEALLOCATE q;

-- NaN and infinite metrics hide the mean of their group, never raise
RESET ROLE;
INSERT INTO responses VALUES (201, 'Legal', '3+ years', 'NaN', 1201, 'person 201', '2024-01-01'),
	(202, 'Sales', '3+ years', 'Infinity', 1202, 'person 202', '2024-01-01');
SET ROLE aa_bi;
SELECT department, count(*), avg(score), sum(score) FROM responses GROUP BY department ORDER BY department;
RESET ROLE;
DELETE FROM responses WHERE id > 200;
-- nor does a numeric beyond double precision
CREATE TABLE aa_amounts (dept text, amount numeric);
INSERT INTO aa_amounts SELECT CASE WHEN i <= 10 THEN 'big' ELSE 'small' END, i FROM generate_series(1, 15) AS i;
INSERT INTO aa_amounts VALUES ('small', 1e400);
SELECT anonymize.label('aa_amounts', 'dept', 'not_sensitive');
SELECT anonymize.grant_anonymized('aa_amounts', 'aa_bi');
SET ROLE aa_bi;
SELECT dept, count(*), sum(amount), avg(amount) FROM aa_amounts GROUP BY dept ORDER BY dept;
RESET ROLE;

-- the policy is the table's: the caller's settings do not weaken it
SET anonymize.threshold = 1;
SET anonymize.min_threshold = 1;
SET anonymize.mode = basic;
SET anonymize.two_field_rule = per_slice;
SET anonymize.show_grouped_members = on;
SET ROLE aa_bi;
SELECT department, count(*) FROM responses GROUP BY department ORDER BY department;
RESET ROLE;
RESET anonymize.threshold;
RESET anonymize.min_threshold;
RESET anonymize.mode;
RESET anonymize.two_field_rule;
RESET anonymize.show_grouped_members;
-- a higher anonymize.min_threshold applies to every table
SET anonymize.min_threshold = 40;
SET ROLE aa_bi;
SELECT department, count(*) FROM responses GROUP BY department ORDER BY department;
RESET ROLE;
RESET anonymize.min_threshold;

-- nothing of the owner's query reaches the grantee but its answer: no
-- statistics counted, no buffers
SET ROLE aa_bi;
BEGIN;
SELECT seq_scan AS scans, seq_tup_read AS reads, idx_scan AS index_scans
FROM pg_stat_xact_user_tables WHERE relname = 'responses' \gset
SELECT count(*) FROM responses WHERE tenure = '1-2 years';
SELECT seq_scan = :scans AND seq_tup_read = :reads AND idx_scan = :index_scans AS unchanged
FROM pg_stat_xact_user_tables WHERE relname = 'responses';
COMMIT;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF)
	SELECT tenure, count(*) FROM responses GROUP BY tenure;
-- a filter on a sensitive column makes the groups of a not_sensitive key
-- hide under k: here all of them
SELECT tenure, count(*) FROM responses WHERE salary IN (1001, 1002, 1003, 1004, 1005, 1006)
GROUP BY tenure;
-- two keys: a hidden cell is not returned (its keys would pair a name with
-- a tenure)
SELECT tenure, name, count(*) FROM responses GROUP BY 1, 2 ORDER BY 1, 2;
SELECT tenure, department, avg(score), sum(id) FROM responses GROUP BY 1, 2 ORDER BY 1, 2;
-- a column labelled sensitive is grouped or filtered by, not summed (a 0/1
-- column summed counts the people who have it)
SELECT department, sum(salary) FROM responses GROUP BY 1;
-- constants of the grantee's own types are refused: the owner would read
-- them again, and run their input function or domain check
CREATE DOMAIN pg_temp.aa_text AS text CHECK (VALUE <> 'never');
SELECT left(department, cardinality('{x}'::pg_temp.aa_text[])), count(*) FROM responses GROUP BY 1;
PREPARE typed(pg_temp.aa_text) AS SELECT count(*) FROM responses WHERE tenure = $1;
-- substring by a regular expression is a filter in disguise: refused
SELECT department, count(substring(name FROM 'person 1.*')) FROM responses GROUP BY 1;
SELECT substring(name, '^person'), count(*) FROM responses GROUP BY 1;
-- a width_bucket whose count + 1 overflows is refused
SELECT width_bucket(salary, 1000, 1100, 2147483647), count(*) FROM responses GROUP BY 1;
RESET ROLE;

-- role membership counts as PostgreSQL counts it
SET ROLE aa_bi_member;
SELECT tenure, count(*) FROM responses GROUP BY tenure ORDER BY tenure;
-- a role with SELECT reads the table directly
SET ROLE aa_etl;
SELECT department, count(*) FROM responses GROUP BY department ORDER BY department;
-- a role without either gets permission denied
SET ROLE aa_other;
SELECT department, count(*) FROM responses GROUP BY department;
RESET ROLE;

-- calling anonymized_query directly gives the same, and no more (the
-- rewritten queries call it by OID: only a direct call needs USAGE)
GRANT USAGE ON SCHEMA anonymize TO aa_bi, aa_other;
SET ROLE aa_bi;
SELECT * FROM anonymize.anonymized_query(
	'SELECT department, count(*) FROM responses WHERE tenure = $1 GROUP BY department',
	'1-2 years'::text) AS t(department text, n bigint) ORDER BY 1;
SELECT * FROM anonymize.anonymized_query('SELECT id, name FROM responses') AS t(id int, name text);
SELECT * FROM anonymize.anonymized_query('SELECT department, count(*) FROM responses GROUP BY 1')
	AS t(department text);
SELECT * FROM anonymize.anonymized_query('SELECT department, count(*) FROM responses GROUP BY 1 ORDER BY 2')
	AS t(department text, n bigint);
SELECT * FROM anonymize.anonymized_query('SELECT department, count(*) + 1 FROM responses GROUP BY 1')
	AS t(department text, n bigint);
RESET ROLE;

-- this extension's aggregates work too, with the table's policy: no lower
-- threshold or sensitivity than the labels', and the table's person column
SET ROLE aa_bi;
SELECT (g).* FROM (SELECT unnest(anonymize.anonymized_breakout(department, score, 5, 'very_sensitive')) AS g
                   FROM responses WHERE tenure = '1-2 years') AS s;
-- (the two-argument form: very_sensitive, and the table's threshold)
SELECT (unnest(anonymize.anonymized_breakout(department, score))).* FROM responses WHERE tenure = '3+ years';
SELECT anonymize.anonymized_breakout(department, score, 3) FROM responses;
SELECT anonymize.anonymized_breakout(department, score, 5, 'not_sensitive') FROM responses;
SELECT tenure, anonymize.anonymized_breakout(department, score) FROM responses GROUP BY tenure;
SELECT anonymize.anonymized_comments(name) FROM responses;
RESET ROLE;

-- a count, sum or mean is withheld where the rows without a value are fewer
-- than k, but some: next to count(*) they would count a small subset
RESET ROLE;
CREATE TABLE aa_answers (dept text, answer int);
INSERT INTO aa_answers SELECT d, CASE WHEN d = 'b' AND i = 1 OR d = 'c' AND i <= 6 THEN NULL ELSE i END
FROM unnest(ARRAY['a', 'b', 'c']) AS d, generate_series(1, 20) AS i;
SELECT anonymize.label('aa_answers', 'dept', 'not_sensitive');
SELECT anonymize.grant_anonymized('aa_answers', 'aa_bi');
SET ROLE aa_bi;
SELECT dept, count(*), count(answer), avg(answer), sum(answer) FROM aa_answers GROUP BY dept ORDER BY dept;
-- (a mean alone, or a sum alone, does not tell how many rows have a value)
SELECT dept, count(*), avg(answer) FROM aa_answers GROUP BY dept ORDER BY dept;
-- ... but the sum of one cast next to the mean of another does
SELECT dept, count(*), sum(answer::int8), avg(answer) FROM aa_answers GROUP BY dept ORDER BY dept;
-- a metric is a column: a generalization would count a subset (here, the
-- rows with a value, as count(answer) would, or those of one range)
SELECT dept, count(*), sum(width_bucket(answer, -2147483648, 2147483647, 1)) FROM aa_answers GROUP BY dept;
SELECT dept, count(*), sum(floor(answer / 20.0)) FROM aa_answers GROUP BY dept;
SELECT (unnest(anonymize.anonymized_breakout(dept, answer, 5, 'not_sensitive'))).* FROM aa_answers;
-- a NULL numeric is no value, not one out of double precision's range
RESET ROLE;
ALTER TABLE aa_answers ADD COLUMN amount numeric;
UPDATE aa_answers SET amount = answer;
SET ROLE aa_bi;
SELECT dept, sum(amount) FROM aa_answers GROUP BY dept ORDER BY dept;
-- the forms for drivers' types, with the same policy
SELECT (unnest(anonymize.anonymized_breakout(dept, answer, 5.0::float8, 'not_sensitive'::text))).label FROM aa_answers;
SELECT anonymize.anonymized_breakout(dept, answer, 4.5::float8, 'not_sensitive'::text) FROM aa_answers;
SELECT anonymize.anonymized_breakout(dept, answer, 5::bigint, 'no such thing'::text) FROM aa_answers;
RESET ROLE;

-- a key of a domain type: its bucket reads Grouped for anonymity, which
-- its check would refuse; the same key twice is refused
RESET ROLE;
CREATE DOMAIN aa_team AS text CHECK (VALUE IN ('red', 'blue', 'green'));
CREATE TABLE aa_teams (team aa_team, note text);
INSERT INTO aa_teams SELECT CASE WHEN i <= 10 THEN 'red' WHEN i <= 12 THEN 'blue' ELSE 'green' END, 'a\b'
FROM generate_series(1, 15) AS i;
SELECT anonymize.label('aa_teams', 'team', 'very_sensitive');
SELECT anonymize.label('aa_teams', 'note', 'not_sensitive');
SELECT anonymize.grant_anonymized('aa_teams', 'aa_bi');
SET ROLE aa_bi;
SELECT team, count(*) FROM aa_teams GROUP BY team ORDER BY team;
SELECT team, team, count(*) FROM aa_teams GROUP BY 1, 2;
-- literals mean the same under either standard_conforming_strings
SET standard_conforming_strings = off;
SELECT count(*) FROM aa_teams WHERE note = E'a\\b';
RESET standard_conforming_strings;
SELECT count(*) FROM aa_teams WHERE note = 'a\b';
RESET ROLE;

-- what keeps working for the grantee: catalogs, settings, other tables
CREATE TABLE aa_public (x int);
INSERT INTO aa_public VALUES (1), (2);
GRANT SELECT ON aa_public TO aa_bi;
ANALYZE responses;
SET ROLE aa_bi;
SELECT 1 AS one;
SHOW anonymize.threshold;
SET work_mem = '8MB';
RESET work_mem;
SELECT sum(x) FROM aa_public;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'responses'::regclass AND attnum > 0 ORDER BY attnum;
-- (information_schema lists only the columns a role holds a privilege on)
SELECT count(*) FROM information_schema.columns WHERE table_name = 'responses';
\d responses
-- statistics of the anonymized table show it nothing
SELECT count(*) AS stats FROM pg_stats WHERE tablename = 'responses';
RESET ROLE;
SELECT count(*) > 0 AS owner_sees_stats FROM pg_stats WHERE tablename = 'responses';

-- revoking takes effect at once, also for a prepared statement
SET ROLE aa_bi;
PREPARE r AS SELECT tenure, count(*) FROM responses GROUP BY tenure ORDER BY tenure;
EXECUTE r;
RESET ROLE;
SELECT anonymize.revoke_anonymized('responses', 'aa_bi');
SET ROLE aa_bi;
EXECUTE r;
SELECT tenure, count(*) FROM responses GROUP BY tenure;
RESET ROLE;
SELECT anonymize.grant_anonymized('responses', 'aa_bi');

-- only the owner sets labels
SET ROLE aa_other;
SELECT anonymize.label('responses', 'name', 'not_sensitive');
SELECT anonymize.grant_anonymized('responses', 'aa_other');
RESET ROLE;
-- bad input
SELECT anonymize.label('responses', 'nosuchcolumn', 'not_sensitive');
SELECT anonymize.label('responses', NULL, 'not_sensitive');
SELECT anonymize.set_threshold('responses', 0);
SELECT anonymize.set_threshold('responses', NULL);
SELECT anonymize.label_subject('responses', 'nosuchcolumn');
SELECT anonymize.grant_anonymized('responses', NULL);
SELECT anonymize.grant_anonymized(0, 'aa_bi');
CREATE TEMP TABLE aa_temp (x int);
SELECT anonymize.label('aa_temp', 'x', 'not_sensitive');
CREATE TABLE aa_parent (x int);
CREATE TABLE aa_child () INHERITS (aa_parent);
SELECT anonymize.label('aa_child', 'x', 'not_sensitive');
CREATE VIEW aa_view AS SELECT 1 AS x;
SELECT anonymize.label('aa_view', 'x', 'not_sensitive');

-- people: with a person column, thresholds count distinct people
CREATE TABLE visits (user_id text, country text, minutes int);
INSERT INTO visits
SELECT 'u' || (i % 40), CASE WHEN i % 40 < 30 THEN 'FR' WHEN i % 40 < 37 THEN 'DE' ELSE 'IS' END, i % 7
FROM generate_series(1, 400) AS i;
SELECT anonymize.label('visits', 'country', 'very_sensitive');
SELECT anonymize.label('visits', 'user_id', 'not_sensitive');
SELECT anonymize.label_subject('visits', 'user_id');
SELECT anonymize.set_threshold('visits', 5);
SELECT anonymize.grant_anonymized('visits', 'aa_bi');
SELECT * FROM anonymize.labels WHERE table_name = 'visits'::regclass ORDER BY column_name;
SELECT g.label, g.n, g.mean, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(country, minutes, 5, 'very_sensitive', user_id)
             FROM visits)) AS g;
SET ROLE aa_bi;
SELECT country, count(DISTINCT user_id) AS people, avg(minutes)
FROM visits GROUP BY country ORDER BY country;
SELECT country, count(*) AS visits FROM visits GROUP BY country ORDER BY country;
-- people and rows in one answer would tell how many more rows its people have
SELECT country, count(DISTINCT user_id), count(*) FROM visits GROUP BY country;
-- a breakout called without the person column still counts people
SELECT (unnest(anonymize.anonymized_breakout(country, minutes, 5, 'very_sensitive'))).* FROM visits;
-- count(DISTINCT) of another column, or two keys, are refused
SELECT country, count(DISTINCT minutes) FROM visits GROUP BY country;
SELECT country, minutes, count(*) FROM visits GROUP BY 1, 2;
-- the person column is very_sensitive: one person matches nothing
SELECT count(*) FROM visits WHERE user_id = 'u1';
RESET ROLE;

-- a dropped table loses its labels and grants
SELECT count(*) AS tables FROM anonymize.label_tables;
DROP TABLE visits;
SELECT (SELECT count(*) FROM anonymize.label_tables) AS tables,
       (SELECT count(*) FROM anonymize.label_columns WHERE rel::oid NOT IN (SELECT oid FROM pg_class)) AS columns_left,
       (SELECT count(*) FROM anonymize.anonymized_access WHERE rel::oid NOT IN (SELECT oid FROM pg_class)) AS grants_left;
-- a dropped column loses its label
ALTER TABLE responses DROP COLUMN salary;
SELECT column_name FROM anonymize.labels WHERE table_name = 'responses'::regclass ORDER BY 1;

-- fail closed: in a session without the library, the grantee gets
-- permission denied, never rows
SELECT 'dbname=' || current_database() || ' options=-csession_preload_libraries=plpgsql' AS conn \gset
\c :conn
SHOW session_preload_libraries;
SET ROLE aa_bi;
SELECT tenure, count(*) FROM responses GROUP BY tenure;
SELECT * FROM responses;
EXPLAIN SELECT tenure, count(*) FROM responses GROUP BY tenure;
RESET ROLE;
