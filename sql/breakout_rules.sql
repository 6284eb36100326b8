-- The threshold rule, case by case.  rules_breakout(k, sensitivity, 'A:2', ...)
-- makes group A of 2 rows with metrics 1..2, and so on ('NULL:3' is a NULL
-- key), in the order given, and shows the breakout.
-- the checks read which groups each bucket merged (off by default)
SET anonymize.show_grouped_members = on;
CREATE FUNCTION rules_breakout(k int, sens anonymize.sensitivity, VARIADIC spec text[])
RETURNS SETOF anonymize.breakout_group
LANGUAGE sql AS $$
	SELECT g.*
	FROM unnest((SELECT anonymize.anonymized_breakout(key, metric, k, sens)
	             FROM (SELECT NULLIF(split_part(s, ':', 1), 'NULL') AS key, m::float8 AS metric
	                   FROM unnest(spec) WITH ORDINALITY AS u(s, o),
	                        generate_series(1, split_part(s, ':', 2)::int) AS m
	                   ORDER BY o, m) AS rows)) AS g
$$;

-- very_sensitive: A and B are under 5 and together still under 5, so the
-- smallest other group, C, joins the bucket; D is shown.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:2', 'B:1', 'C:7', 'D:9');

-- Two small groups that reach 5 together are enough: C stays shown.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:3', 'B:2', 'C:10');

-- A lone small group is never shown alone as a bucket (it could be
-- recovered as total minus shown): the smallest other group joins it even
-- though it meets the threshold.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:3', 'B:8', 'C:6');

-- Ties are broken by the key's own order, not by arrival order: B and C
-- both have 5 rows, B joins.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'C:5', 'B:5', 'A:1');

-- NULL sorts last among ties: Z joins, the NULL group stays shown.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'NULL:5', 'Z:5', 'A:1');

-- A small NULL group is a bucket member like any other, listed last.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'NULL:2', 'A:2', 'B:9', 'C:12');

-- A cascade that swallows every group: one grouped row with the total.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:1', 'B:1', 'C:1', 'D:5');

-- Every group small but the total reaches k: they are all grouped.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:2', 'B:3');

-- A group of exactly k rows meets the threshold.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:5', 'B:4', 'C:1');

-- No small group: nothing is grouped.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:5', 'B:6');

-- A single group that meets the threshold is shown.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:7');

-- Fewer than k rows in total: everything is hidden, whatever the sensitivity.
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:2', 'B:2');
SELECT * FROM rules_breakout(5, 'somewhat_sensitive', 'A:2', 'B:2');
SELECT * FROM rules_breakout(5, 'not_sensitive', 'A:2', 'B:2');
SELECT * FROM rules_breakout(5, 'very_sensitive', 'A:4');

-- somewhat_sensitive: small groups keep their label and lose their figures.
SELECT * FROM rules_breakout(5, 'somewhat_sensitive', 'A:2', 'B:1', 'C:7', 'NULL:3');

-- not_sensitive: a group of one is shown as it is.
SELECT * FROM rules_breakout(5, 'not_sensitive', 'A:2', 'B:1', 'C:7', 'NULL:3');

-- Threshold 1 shows every group at every sensitivity.
SELECT * FROM rules_breakout(1, 'very_sensitive', 'A:1', 'B:2');

-- Threshold at the integer limit hides everything.
SELECT * FROM rules_breakout(2147483647, 'very_sensitive', 'A:1', 'B:2');

-- Invariants on many random breakouts: nothing under k is shown alone, a
-- bucket holds at least two original groups and at least k rows, every key
-- is listed exactly once, and the counts add up to the total.
CREATE TABLE rules_random AS
SELECT b AS breakout, 1 + (b % 7) AS k,
       (ARRAY['not_sensitive', 'somewhat_sensitive', 'very_sensitive'])[1 + b % 3]::anonymize.sensitivity AS sens,
       CASE WHEN hashint4(b * 1000 + r) % 11 = 0 THEN NULL
            ELSE abs(hashint4(b * 1000 + r)) % (1 + b % 13) END AS key
FROM generate_series(1, 300) AS b, generate_series(1, 1 + b % 40) AS r;

CREATE TABLE rules_results AS
SELECT breakout, k, sens, total, g.*
FROM (SELECT breakout, k, sens, count(*) AS total,
             anonymize.anonymized_breakout(key, 1, k, sens) AS result
      FROM rules_random GROUP BY breakout, k, sens) AS b,
     unnest(b.result) AS g;

SELECT count(DISTINCT breakout) AS breakouts,
       count(*) FILTER (WHERE status = 'grouped') AS buckets,
       count(*) FILTER (WHERE status = 'hidden') AS hidden_groups
FROM rules_results;
-- nothing under k is shown alone, and shown counts are real
SELECT count(*) AS small_shown FROM rules_results
WHERE status IN ('shown', 'grouped') AND sens <> 'not_sensitive' AND n < k;
-- a bucket holds two or more groups
SELECT count(*) AS lone_buckets FROM rules_results
WHERE status = 'grouped' AND cardinality(members) < 2;
-- at most one bucket per breakout, only for very_sensitive
SELECT count(*) AS bad_buckets FROM (
	SELECT breakout FROM rules_results WHERE status = 'grouped'
	GROUP BY breakout, sens HAVING count(*) > 1 OR sens <> 'very_sensitive') AS s;
-- every key appears exactly once in members, when the total reaches k
SELECT count(*) AS keys_not_listed_once FROM (
	SELECT breakout, key FROM rules_random AS o GROUP BY breakout, key
	HAVING (SELECT count(*) FROM rules_random AS x WHERE x.breakout = o.breakout) >= min(k)) AS k
WHERE (SELECT count(*) FROM rules_results r, unnest(r.members) AS m
       WHERE r.breakout = k.breakout AND m IS NOT DISTINCT FROM k.key::text) <> 1;
-- when the total reaches k, the visible counts add up to it (very and not)
SELECT count(*) AS totals_off FROM (
	SELECT breakout, total, sum(n) AS shown FROM rules_results
	WHERE sens <> 'somewhat_sensitive' AND total >= k
	GROUP BY breakout, total) AS s
WHERE shown <> total;
-- when the total is under k, nothing is shown, no label either
SELECT count(*) AS leaked_small_totals FROM rules_results WHERE total < k;
-- somewhat_sensitive: the hidden groups are none, or two or more that reach k
-- together (unless every group is hidden)
SELECT count(*) AS lone_hidden FROM (
	SELECT r.breakout, count(*) AS hidden, sum(g.c) AS rows,
	       (SELECT count(DISTINCT key) FROM rules_random AS x WHERE x.breakout = r.breakout) AS groups
	FROM rules_results AS r
	JOIN (SELECT breakout, key::text AS label, count(*) AS c FROM rules_random GROUP BY 1, 2) AS g
	  ON g.breakout = r.breakout AND g.label IS NOT DISTINCT FROM r.label
	WHERE r.status = 'hidden' GROUP BY r.breakout) AS h
WHERE (hidden < 2 OR rows < (SELECT min(k) FROM rules_random AS x WHERE x.breakout = h.breakout))
  AND hidden < groups;

DROP TABLE rules_random, rules_results;
DROP FUNCTION rules_breakout;
