-- The sets of people of a breakout by people, for every kind of set: int2,
-- int4 and oid people in 8-byte slots, int8, text and uuid people in
-- simplehash entries.  Counts are exact (equal to count(DISTINCT)) serial,
-- in parallel (each worker's state merged as it is read) and in rollups
-- (states kept in a table, merged from their flat form or from text), with
-- sets that grow many times, extreme values, and people in several groups.
CREATE TABLE people_sets AS
SELECT 'k' || (i % 7) AS k,
       CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 11)::float8 END AS m,
       (hashint4(i) % 32768)::int2 AS p2,
       CASE i % 1000 WHEN 0 THEN -2147483648 WHEN 1 THEN 2147483647 WHEN 2 THEN 0 WHEN 3 THEN -1
            ELSE hashint4(i) % 20000 END AS p4,
       (CASE i % 1000 WHEN 0 THEN 4294967295 WHEN 1 THEN 0 ELSE (hashint4(i)::int8 & 65535) + 4294900000 END)::oid AS po,
       CASE i % 1000 WHEN 0 THEN -9223372036854775808 WHEN 1 THEN 9223372036854775807
            ELSE hashint8(i) % 20000 END AS p8,
       'person ' || (hashint4(i) % 20000) AS pt,
       md5((hashint4(i) % 20000)::text)::uuid AS pu
FROM generate_series(1, 60000) AS i;
ANALYZE people_sets;

-- n of each shown group, in the key's order, and what count(DISTINCT) says
CREATE FUNCTION people_ns(result anonymize.breakout_group[]) RETURNS bigint[]
LANGUAGE sql AS $$ SELECT array_agg(n ORDER BY label) FROM unnest(result) $$;
CREATE VIEW people_want AS
SELECT array_agg(c2 ORDER BY k) AS c2, array_agg(c4 ORDER BY k) AS c4, array_agg(co ORDER BY k) AS co,
       array_agg(c8 ORDER BY k) AS c8, array_agg(ct ORDER BY k) AS ct, array_agg(cu ORDER BY k) AS cu,
       array_agg(m4 ORDER BY k) AS m4
FROM (SELECT k, count(DISTINCT p2) AS c2, count(DISTINCT p4) AS c4, count(DISTINCT po) AS co,
             count(DISTINCT p8) AS c8, count(DISTINCT pt) AS ct, count(DISTINCT pu) AS cu,
             count(DISTINCT p4) FILTER (WHERE m IS NOT NULL) AS m4
      FROM people_sets GROUP BY k) AS s;

-- thousands of people a group, so that every set grows many times
SELECT c4, c2, co, m4 FROM people_want;

-- serial
SET max_parallel_workers_per_gather = 0;
SELECT people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p2)) = (SELECT c2 FROM people_want) AS int2,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p4)) = (SELECT c4 FROM people_want) AS int4,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', po)) = (SELECT co FROM people_want) AS oid,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p8)) = (SELECT c8 FROM people_want) AS int8,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', pt)) = (SELECT ct FROM people_want) AS text,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', pu)) = (SELECT cu FROM people_want) AS uuid
FROM people_sets;

-- in parallel: the plan has partial aggregates, the counts stay exact
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
ALTER TABLE people_sets SET (parallel_workers = 2);
EXPLAIN (COSTS OFF)
SELECT anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p4) FROM people_sets;
SELECT people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p2)) = (SELECT c2 FROM people_want) AS int2,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p4)) = (SELECT c4 FROM people_want) AS int4,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', po)) = (SELECT co FROM people_want) AS oid,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p8)) = (SELECT c8 FROM people_want) AS int8,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', pt)) = (SELECT ct FROM people_want) AS text,
       people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', pu)) = (SELECT cu FROM people_want) AS uuid
FROM people_sets;
-- the basic mode counts the people with a metric
SET anonymize.mode = basic;
SELECT people_ns(anonymize.anonymized_breakout(k, m, 5, 'very_sensitive', p4)) = (SELECT m4 FROM people_want) AS basic_int4
FROM people_sets;
RESET anonymize.mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- rollups: states of overlapping parts kept in a table (flat), merged as
-- they are read, and the same through their text form
CREATE TABLE people_rollup AS
SELECT part,
       anonymize.breakout_partial(k, m, 5, 'very_sensitive', p2) AS s2,
       anonymize.breakout_partial(k, m, 5, 'very_sensitive', p4) AS s4,
       anonymize.breakout_partial(k, m, 5, 'very_sensitive', p8) AS s8,
       anonymize.breakout_partial(k, m, 5, 'very_sensitive', pt) AS st,
       anonymize.breakout_partial(k, m, 5, 'very_sensitive', pu) AS su
FROM (SELECT *, (hashint4(p4) & 3) AS part FROM people_sets
      UNION ALL SELECT *, 4 FROM people_sets WHERE p4 % 3 = 0) AS s
GROUP BY part;
SELECT people_ns(anonymize.breakout_groups(anonymize.breakout_merge(s2))) = (SELECT c2 FROM people_want) AS int2,
       people_ns(anonymize.breakout_groups(anonymize.breakout_merge(s4))) = (SELECT c4 FROM people_want) AS int4,
       people_ns(anonymize.breakout_groups(anonymize.breakout_merge(s8))) = (SELECT c8 FROM people_want) AS int8,
       people_ns(anonymize.breakout_groups(anonymize.breakout_merge(st))) = (SELECT ct FROM people_want) AS text,
       people_ns(anonymize.breakout_groups(anonymize.breakout_merge(su))) = (SELECT cu FROM people_want) AS uuid
FROM people_rollup;
SELECT people_ns(anonymize.breakout_groups(anonymize.breakout_merge(s4::text::anonymize.breakout_state))) = (SELECT c4 FROM people_want) AS int4,
       people_ns(anonymize.breakout_groups(anonymize.breakout_merge(st::text::anonymize.breakout_state))) = (SELECT ct FROM people_want) AS text
FROM people_rollup;
-- a state read back writes the same text
SELECT bool_and(s2::text::anonymize.breakout_state::text = s2::text) AS int2,
       bool_and(s4::text::anonymize.breakout_state::text = s4::text) AS int4,
       bool_and(st::text::anonymize.breakout_state::text = st::text) AS text
FROM people_rollup;

DROP TABLE people_rollup;
DROP VIEW people_want;
DROP FUNCTION people_ns(anonymize.breakout_group[]);
DROP TABLE people_sets;
