-- anonymized_breakout with a subject: a group meets the threshold with k
-- distinct subjects (people), n counts people, and a grouped bucket counts a
-- person in two of its groups once.  Mean and sum stay over rows.
CREATE FUNCTION subject_groups(anonymize.breakout_group[]) RETURNS TABLE (
	label text, members text, n bigint, mean numeric, sum float8, status text)
LANGUAGE sql AS $$
	SELECT g.label, array_to_string(g.members, ',', 'NULL'), g.n, round(g.mean::numeric, 2), g.sum, g.status
	FROM unnest($1) WITH ORDINALITY AS g(label, members, n, mean, sum, status, i)
	ORDER BY i
$$;

-- Page views: a thousand views by two people are still two people.
CREATE TABLE subject_views (country text, user_id text, seconds float8);
INSERT INTO subject_views SELECT 'US', 'u' || (i % 2), 10 FROM generate_series(1, 1000) AS i;
INSERT INTO subject_views SELECT 'FR', 'f' || i, 20 FROM generate_series(1, 6) AS i;
-- DE: d1, d2 and x; JP: x (also in DE) and j2
INSERT INTO subject_views VALUES ('DE', 'd1', 30), ('DE', 'd2', 30), ('DE', 'x', 30),
	('JP', 'x', 40), ('JP', 'j2', 40), ('JP', 'j2', 40);

-- Counting rows, US (1000 rows) is shown and DE + JP (6 rows) are grouped.
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(country, seconds, 5, 'very_sensitive')
	FROM subject_views));
-- Counting people, US has 2: it is grouped.  DE (3) and JP (2) would make 5
-- by rows, but x is in both: 4 people, so the next smallest, US, joins, and
-- the bucket holds 6 people (d1, d2, x, j2, u0, u1).
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(country, seconds, 5, 'very_sensitive', user_id)
	FROM subject_views));
SELECT count(DISTINCT user_id) AS people_in_the_bucket
FROM subject_views WHERE country IN ('DE', 'JP', 'US');
-- somewhat_sensitive hides groups of fewer than k people; not_sensitive shows
-- every group, with its people.
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(country, seconds, 3, 'somewhat_sensitive', user_id)
	FROM subject_views));
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(country, seconds, 5, 'not_sensitive', user_id)
	FROM subject_views));
-- 12 people in total: with k = 13 nothing is shown
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(country, seconds, 12, 'not_sensitive', user_id)
	FROM subject_views)) WHERE status <> 'shown';
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(country, seconds, 13, 'not_sensitive', user_id)
	FROM subject_views));

-- The subject may be of another type than the key (an integer, a uuid); a
-- NULL subject is nobody, a NULL key a group of its own.
CREATE TABLE subject_typed (team int, member int, account uuid, score float8);
INSERT INTO subject_typed
SELECT CASE WHEN i % 10 = 0 THEN NULL ELSE i % 3 END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 17 END,
       ('00000000-0000-0000-0000-' || lpad((i % 13)::text, 12, '0'))::uuid,
       i % 7
FROM generate_series(1, 200) AS i;
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(team, score, 5, 'not_sensitive', member)
	FROM subject_typed));
SELECT team, count(DISTINCT member), round(avg(score)::numeric, 2), sum(score)
FROM subject_typed GROUP BY team ORDER BY team;
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(team, score, 13, 'very_sensitive', account)
	FROM subject_typed));
SELECT team, count(DISTINCT account) FROM subject_typed GROUP BY team ORDER BY team;

-- Equal subjects are one person whatever their text form (numeric 1.0, 1.00).
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(k, 1, 2, 'not_sensitive', s)
	FROM (VALUES ('a', 1.0), ('a', 1.00), ('a', 2.0)) AS v(k, s)));

-- basic mode counts the people with a metric
SET anonymize.mode = basic;
SELECT * FROM subject_groups((SELECT anonymize.anonymized_breakout(country,
	CASE WHEN user_id = 'x' THEN NULL ELSE seconds END, 3, 'very_sensitive', user_id)
	FROM subject_views WHERE country IN ('DE', 'JP', 'FR')));
RESET anonymize.mode;

-- Errors: a subject type with no hash function.  An unknown literal is
-- taken as text: everyone is the same person, fewer than k in all.
SELECT anonymize.anonymized_breakout(country, seconds, 5, 'very_sensitive', point(1, 1)) FROM subject_views;
SELECT anonymize.anonymized_breakout(country, seconds, 5, 'very_sensitive', 'someone') FROM subject_views;
SELECT anonymize.anonymized_breakout(country, seconds, 5, NULL, user_id) FROM subject_views;
