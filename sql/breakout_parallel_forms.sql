-- Parallel aggregation of the two-field and people-counted breakouts and of
-- anonymized_comments: partial states travel between processes in text form
-- and the parallel answer is the serial one.
-- the checks read which groups each bucket merged (off by default)
SET anonymize.show_grouped_members = on;
CREATE TABLE pforms_events (country text, risk int, user_id bigint, score float8, comment text);
INSERT INTO pforms_events
SELECT CASE WHEN i % 101 = 0 THEN NULL ELSE 'c' || (hashint4(i) & 2147483647) % 40 END,
       i % 3,
       CASE WHEN i % 53 = 0 THEN NULL ELSE (hashint4(i + 7) & 2147483647) % 3000 END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 10 END,
       CASE WHEN i % 997 = 0 THEN 'comment ' || (i % 13) END
FROM generate_series(1, 120000) AS i;
INSERT INTO pforms_events VALUES ('rare', 1, 1, 1, 'rare comment'), ('rare', 2, 2, 2, NULL);
ANALYZE pforms_events;

\set forms 'SELECT anonymize.anonymized_breakout(country, risk, score, 40, ''very_sensitive'', ''somewhat_sensitive'') AS two, anonymize.anonymized_breakout(country, score, 80, ''very_sensitive'', user_id) AS people, anonymize.anonymized_breakout(risk, score, 5, ''very_sensitive'', md5(user_id::text)::uuid) AS people_uuid, anonymize.anonymized_comments(comment) AS comments, anonymize.anonymized_comments(comment, user_id, 40) AS authored FROM pforms_events'

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) :forms;
-- workers really run: EXPLAIN ANALYZE of the statement that stores the result
CREATE FUNCTION pforms_workers(query text) RETURNS SETOF text
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
SELECT pforms_workers('CREATE TABLE pforms_parallel AS ' || :'forms');
SET max_parallel_workers_per_gather = 0;
CREATE TABLE pforms_serial AS :forms;
SELECT s.two = p.two AS two, s.people = p.people AS people, s.people_uuid = p.people_uuid AS people_uuid,
       s.comments = p.comments AS comments, s.authored = p.authored AS authored
FROM pforms_serial AS s, pforms_parallel AS p;
SELECT g.label, g.n, g.status FROM pforms_parallel, unnest(people_uuid) AS g;
SELECT risk, count(DISTINCT user_id) FROM pforms_events GROUP BY risk ORDER BY risk;

-- What they hold: people are counted as count(DISTINCT) does, in each shown
-- group and over the members of the grouped bucket
SELECT g.status, count(*) AS groups,
       bool_and(g.n = (SELECT count(DISTINCT user_id) FROM pforms_events AS e
                       WHERE e.country IS NOT DISTINCT FROM g.label)) AS n_is_count_distinct
FROM pforms_serial, unnest(people) AS g WHERE g.status = 'shown' GROUP BY g.status;
SELECT g.members, g.n, (SELECT count(DISTINCT user_id) FROM pforms_events AS e
                        WHERE e.country = ANY (g.members)
                           OR (e.country IS NULL AND array_position(g.members, NULL) IS NOT NULL)) AS count_distinct
FROM pforms_serial, unnest(people) AS g WHERE g.status = 'grouped';
SELECT c.status, count(*) AS cells, sum(c.n) AS rows
FROM pforms_serial, unnest(two) AS c GROUP BY c.status ORDER BY c.status;
SELECT cardinality(comments) AS comments, comments[1] AS first FROM pforms_serial;
-- the authored form shows the same comments: they have more than 40 authors
SELECT authored = comments AS authored_same,
       (SELECT count(DISTINCT user_id) FROM pforms_events WHERE btrim(comment) <> '') AS authors
FROM pforms_serial;
