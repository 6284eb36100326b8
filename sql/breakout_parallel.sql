-- Parallel aggregation: the plan has a Partial Aggregate and the answer is
-- the serial one, for keys serialized in text form (text, integer, date,
-- enum) including NULL keys, NULL metrics and small groups.
-- the checks read which groups each bucket merged (off by default)
SET anonymize.show_grouped_members = on;
CREATE TYPE parallel_band AS ENUM ('low', 'mid', 'high');
CREATE TABLE parallel_events (
	country text, team int, day date, band parallel_band, score float8
);
INSERT INTO parallel_events
SELECT CASE WHEN i % 97 = 0 THEN NULL ELSE 'country_' || (i % 211) END,
       CASE WHEN i % 89 = 0 THEN NULL ELSE (i * 7919) % 1009 END,
       date '2024-01-01' + (i % 400),
       (ARRAY['low', 'mid', 'high'])[1 + i % 3]::parallel_band,
       CASE WHEN i % 13 = 0 THEN NULL ELSE i % 10 END
FROM generate_series(1, 200000) AS i;
-- a few rare keys, so that grouping has work to do
INSERT INTO parallel_events VALUES ('rare_1', 5000, '1999-01-01', 'low', 1),
	('rare_2', 5001, '1999-01-02', 'mid', 2), ('rare_2', 5001, '1999-01-02', 'mid', 3);
ANALYZE parallel_events;

\set breakouts 'SELECT anonymize.anonymized_breakout(country, score, 30, ''very_sensitive'') AS country, anonymize.anonymized_breakout(team, score, 200, ''somewhat_sensitive'') AS team, anonymize.anonymized_breakout(day, score, 5, ''very_sensitive'') AS day, anonymize.anonymized_breakout(band, score) AS band, anonymize.anonymized_breakout(country, score) FILTER (WHERE false) AS nothing FROM parallel_events'

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF)
SELECT anonymize.anonymized_breakout(country, score, 30, 'very_sensitive') FROM parallel_events;

-- Workers really run (their partial states travel to the leader): shown by
-- EXPLAIN ANALYZE of the statement that stores the result.
CREATE FUNCTION parallel_workers(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
		IF line LIKE '%Workers%' THEN
			RETURN NEXT btrim(line);
		END IF;
	END LOOP;
END $$;

-- Serial and parallel answers are the same.
SELECT parallel_workers('CREATE TABLE parallel_parallel AS ' || :'breakouts');
SET max_parallel_workers_per_gather = 0;
SELECT parallel_workers('CREATE TABLE parallel_serial AS ' || :'breakouts');
SET max_parallel_workers_per_gather = 2;
SELECT s.country = p.country AS country, s.team = p.team AS team, s.day = p.day AS day,
       s.band = p.band AS band, s.nothing = p.nothing AS nothing
FROM parallel_serial AS s, parallel_parallel AS p;

-- What they are: the rare countries are grouped with the smallest country,
-- teams under 200 rows are hidden, the rare days grouped with the smallest day.
SELECT 'country' AS breakout, g.status, count(*), sum(g.n), max(g.members::text) FILTER (WHERE g.status = 'grouped') AS bucket
FROM parallel_parallel, unnest(country) AS g GROUP BY g.status
UNION ALL
SELECT 'team', g.status, count(*), sum(g.n), NULL
FROM parallel_parallel, unnest(team) AS g GROUP BY g.status
UNION ALL
SELECT 'day', g.status, count(*), sum(g.n), max(g.members::text) FILTER (WHERE g.status = 'grouped')
FROM parallel_parallel, unnest(day) AS g GROUP BY g.status
ORDER BY 1, 2;
SELECT g.* FROM parallel_parallel, unnest(band) AS g;
SELECT nothing FROM parallel_parallel;

-- One million distinct keys, serial and parallel: every group is counted.
CREATE TABLE parallel_million AS SELECT i AS k FROM generate_series(1, 1000000) AS i;
ANALYZE parallel_million;
SELECT cardinality(b), (SELECT sum(n) FROM unnest(b)) AS rows
FROM (SELECT anonymize.anonymized_breakout(k, 1, 1, 'not_sensitive') AS b FROM parallel_million) AS s;
SELECT cardinality(b) AS buckets, cardinality(b[1].members) AS members, b[1].n
FROM (SELECT anonymize.anonymized_breakout(k, 1, 2, 'very_sensitive') AS b FROM parallel_million) AS s;
SET max_parallel_workers_per_gather = 0;
SELECT cardinality(b), (SELECT sum(n) FROM unnest(b)) AS rows
FROM (SELECT anonymize.anonymized_breakout(k, 1, 1, 'not_sensitive') AS b FROM parallel_million) AS s;

DROP TABLE parallel_events, parallel_serial, parallel_parallel, parallel_million;
DROP TYPE parallel_band;

-- Keys travel between processes in a text form that does not depend on the
-- session's output settings: floats printed with few digits stay distinct.
CREATE TABLE parallel_floats AS
SELECT (ARRAY[0.1, 0.1 + 1e-16, 1e300])[1 + i % 3]::float8 AS k, i AS m
FROM generate_series(1, 30000) AS i;
ANALYZE parallel_floats;
SET extra_float_digits = -10;
SET datestyle = 'SQL, DMY';
SET max_parallel_workers_per_gather = 2;
SELECT parallel_workers('CREATE TABLE parallel_floats_p AS SELECT anonymize.anonymized_breakout(k, m) AS b FROM parallel_floats');
SET max_parallel_workers_per_gather = 0;
CREATE TABLE parallel_floats_s AS SELECT anonymize.anonymized_breakout(k, m) AS b FROM parallel_floats;
SELECT s.b = p.b AS same, cardinality(p.b) AS groups FROM parallel_floats_s AS s, parallel_floats_p AS p;
SELECT g.label, g.n, g.sum FROM parallel_floats_p, unnest(b) AS g;
RESET extra_float_digits;
RESET datestyle;
DROP TABLE parallel_floats, parallel_floats_s, parallel_floats_p;
DROP FUNCTION parallel_workers;
