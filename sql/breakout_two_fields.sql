-- anonymized_breakout by two fields: the more sensitive field is grouped or
-- hidden within each value of the other field.
CREATE FUNCTION two_cells(anonymize.breakout_cell[]) RETURNS TABLE (
	label1 text, members1 text, label2 text, members2 text, n bigint, mean numeric, status text)
LANGUAGE sql AS $$
	SELECT c.label1, array_to_string(c.members1, ',', 'NULL'), c.label2,
	       array_to_string(c.members2, ',', 'NULL'), c.n, round(c.mean::numeric, 2), c.status
	FROM unnest($1) WITH ORDINALITY AS c(label1, members1, label2, members2, n, mean, sum, status, i)
	ORDER BY i
$$;

-- The example of the rule, k = 5, country very sensitive by risk not
-- sensitive: in the high-risk slice Japan (2), Mexico (1) and Poland (2) are
-- one grouped cell; in the low-risk slice Mexico (17) is shown and Japan (3)
-- and Poland (2) are grouped.
CREATE TABLE two_attrition (country text, risk text, score float8);
INSERT INTO two_attrition
SELECT country, risk, g % 4
FROM (VALUES ('Japan', 'high', 2), ('Mexico', 'high', 1), ('Poland', 'high', 2),
             ('Mexico', 'low', 17), ('Japan', 'low', 3), ('Poland', 'low', 2)) AS v(country, risk, n),
     generate_series(1, n) AS g;
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(country, risk, score, 5,
	'very_sensitive', 'not_sensitive') FROM two_attrition));
-- The same with the fields the other way round: the primary field is still
-- country, and label1 is still the first key's.
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(risk, country, score, 5,
	'not_sensitive', 'very_sensitive') FROM two_attrition));

-- Every pair of sensitivities, k = 5, on this table of counts:
--          a1  a2  a3   total
--   b1      6   2   1       9
--   b2      4   7          11
--   b3      1       2       3
CREATE TABLE two_grid (a text, b text, score float8);
INSERT INTO two_grid
SELECT a, b, 1
FROM (VALUES ('a1', 'b1', 6), ('a2', 'b1', 2), ('a3', 'b1', 1), ('a1', 'b2', 4),
             ('a2', 'b2', 7), ('a1', 'b3', 1), ('a3', 'b3', 2)) AS v(a, b, n),
     generate_series(1, n);
CREATE FUNCTION grid(sa anonymize.sensitivity, sb anonymize.sensitivity) RETURNS TABLE (
	a text, members_a text, b text, members_b text, n bigint, status text)
LANGUAGE sql AS $$
	SELECT label1, members1, label2, members2, n, status
	FROM two_cells((SELECT anonymize.anonymized_breakout(a, b, score, 5, sa, sb) FROM two_grid))
$$;
-- a is primary on a tie; nothing is sensitive, so every cell is shown
SELECT * FROM grid('not_sensitive', 'not_sensitive');
-- b is primary: within each a, b cells under 5 are hidden
SELECT * FROM grid('not_sensitive', 'somewhat_sensitive');
-- b is primary: within a1, b2 and b3 are grouped; within a2, b1 (2) takes b2 along
SELECT * FROM grid('not_sensitive', 'very_sensitive');
SELECT * FROM grid('somewhat_sensitive', 'not_sensitive');
-- the slice field is sensitive too: the cells of the small slice b3 are hidden
SELECT * FROM grid('somewhat_sensitive', 'somewhat_sensitive');
SELECT * FROM grid('somewhat_sensitive', 'very_sensitive');
-- within b1, a2 and a3 (3) take a1 along; within b2, a1 (4) takes a2 along
SELECT * FROM grid('very_sensitive', 'not_sensitive');
SELECT * FROM grid('very_sensitive', 'somewhat_sensitive');
-- both very sensitive: the small slice b3 takes b1 along into one slice,
-- within which a2 and a3 are grouped and a1 (6 + 1) is shown
SELECT * FROM grid('very_sensitive', 'very_sensitive');

-- No row is counted twice: shown and grouped cells add up to the 23 rows,
-- less the rows of the slices whose cells are hidden (12 rows, when the slice
-- field is somewhat sensitive) or not shown (3 rows of a slice under k).
SELECT sa, sb, sum(n) AS shown_or_grouped
FROM unnest(enum_range(NULL::anonymize.sensitivity)) AS sa,
     unnest(enum_range(NULL::anonymize.sensitivity)) AS sb,
     LATERAL grid(sa, sb)
WHERE sa = 'very_sensitive' OR sb = 'very_sensitive'
GROUP BY sa, sb ORDER BY sa, sb;

-- Keys of different types, without casts; NULL keys are values of their own,
-- sorted last; the mean is over the rows of a cell with a metric.
CREATE TYPE two_band AS ENUM ('junior', 'senior');
CREATE TABLE two_typed (team int, band two_band, joined date, remote boolean, score float8);
INSERT INTO two_typed
SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 END,
       CASE WHEN i % 2 = 0 THEN 'junior' ELSE 'senior' END::two_band,
       date '2024-01-01' + (i % 2), i % 5 = 0,
       CASE WHEN i % 4 = 0 THEN NULL ELSE i % 10 END
FROM generate_series(1, 60) AS i;
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(team, band, score, 3,
	'not_sensitive', 'not_sensitive') FROM two_typed));
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(joined, remote, score, 5,
	'somewhat_sensitive', 'not_sensitive') FROM two_typed));
SELECT team, band, count(*), round(avg(score)::numeric, 2)
FROM two_typed GROUP BY team, band ORDER BY team, band;

-- Two keys of the same column.
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(country, country, score, 5,
	'very_sensitive', 'very_sensitive') FROM two_attrition));

-- Under the threshold in total, every cell is hidden; no rows, no cells.
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(country, risk, score, 30,
	'not_sensitive', 'not_sensitive') FROM two_attrition));
SELECT anonymize.anonymized_breakout(country, risk, score, 5, 'very_sensitive', 'not_sensitive')
FROM two_attrition WHERE false;

-- The margins.  The review's example (k = 5, country very sensitive, risk
-- not sensitive): X 20 (high 3, low 17), Y 22 (high 2, low 20), Z 20 (10, 10).
-- The one-field breakout of country shows all three totals.  two_margins
-- subtracts, for each country, its shown cells from its one-field total:
-- that is what the cells not shown hold together, and how many they are.
CREATE TABLE two_review (country text, risk text, score float8);
INSERT INTO two_review SELECT c, r, 1
FROM (VALUES ('X', 'high', 3), ('X', 'low', 17), ('Y', 'high', 2), ('Y', 'low', 20),
             ('Z', 'high', 10), ('Z', 'low', 10)) AS v(c, r, n), generate_series(1, n);
CREATE FUNCTION two_margins(tab regclass) RETURNS TABLE (country text, total bigint, not_shown bigint,
	cells_not_shown bigint) LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format($q$
	WITH one AS (SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(t.country, t.score, 5,
	                                     'very_sensitive') FROM %1$s AS t)) AS g WHERE g.status = 'shown'),
	     two AS (SELECT c.* FROM unnest((SELECT anonymize.anonymized_breakout(t.country, t.risk, t.score, 5,
	                                     'very_sensitive', 'not_sensitive') FROM %1$s AS t)) AS c)
	SELECT one.label, one.n, one.n - coalesce((SELECT sum(two.n) FROM two
	                                            WHERE two.status = 'shown' AND two.label1 = one.label), 0)::bigint,
	       (SELECT count(DISTINCT t.risk) FROM %1$s AS t WHERE t.country = one.label)
	       - (SELECT count(*) FROM two WHERE two.status = 'shown' AND two.label1 = one.label)
	FROM one ORDER BY one.label $q$, tab);
END $$;
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(country, risk, score, 5,
	'very_sensitive', 'not_sensitive') FROM two_review));
-- protected: every country's cells not shown are none, or two or more that
-- hold at least 5 rows
SELECT * FROM two_margins('two_review');
SELECT * FROM two_margins('two_attrition');
-- per_slice (a superuser's choice): X 20 - 17 = 3 and Y 22 - 20 = 2 are one
-- cell each, the high-risk X and Y; Mexico 18 - 17 = 1 is the high-risk Mexican
SET anonymize.two_field_rule = per_slice;
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(country, risk, score, 5,
	'very_sensitive', 'not_sensitive') FROM two_review));
SELECT * FROM two_margins('two_review');
SELECT * FROM two_margins('two_attrition');
RESET anonymize.two_field_rule;
DROP TABLE two_review;

-- One breakout per GROUP BY group.
SELECT s.a, c.label1, c.label2, c.n, c.status
FROM (SELECT a, anonymize.anonymized_breakout(a, b, score, 2, 'not_sensitive', 'very_sensitive') AS cells
      FROM two_grid GROUP BY a) AS s, unnest(s.cells) AS c
ORDER BY s.a, c.label2;

-- basic mode counts rows with a metric and shows a small cell's count
SET anonymize.mode = basic;
SELECT * FROM two_cells((SELECT anonymize.anonymized_breakout(country, risk,
	CASE WHEN country = 'Japan' THEN NULL ELSE score END, 5, 'very_sensitive', 'not_sensitive')
	FROM two_attrition));
RESET anonymize.mode;

-- Errors
SELECT anonymize.anonymized_breakout(country, risk, score, NULL, 'very_sensitive', 'not_sensitive') FROM two_attrition;
SELECT anonymize.anonymized_breakout(country, risk, score, 5, NULL, 'not_sensitive') FROM two_attrition;
SELECT anonymize.anonymized_breakout(country, risk, score, 0, 'very_sensitive', 'not_sensitive') FROM two_attrition;
SELECT anonymize.anonymized_breakout(country, risk, score, CASE WHEN country = 'Japan' THEN 5 ELSE 6 END,
	'very_sensitive', 'not_sensitive') FROM two_attrition;
SELECT anonymize.anonymized_breakout(country, risk, 'NaN', 5, 'very_sensitive', 'not_sensitive') FROM two_attrition;
SELECT anonymize.anonymized_breakout(country, point(1, 2), score, 5, 'very_sensitive', 'not_sensitive') FROM two_attrition;
-- untyped literal keys are taken as text: one row, fewer than k in all
SELECT anonymize.anonymized_breakout('a', 'b', 1, 5, 'very_sensitive', 'not_sensitive');
SET anonymize.min_threshold = 10;
SELECT anonymize.anonymized_breakout(country, risk, score, 5, 'very_sensitive', 'not_sensitive') FROM two_attrition;
RESET anonymize.min_threshold;
SELECT anonymize.breakout2_final(NULL::internal);

-- A slice of a not_sensitive field under k shows no cell; its one cell's
-- count follows from the slice's one-field total, but its primary value must
-- not follow from the primary field's totals: here gender f has 31, m 30,
-- and team aX one person.  Showing every other cell would leave 1 for f.
CREATE TABLE two_small_slice (team text, gender text);
INSERT INTO two_small_slice
SELECT 'a' || (i % 3), CASE WHEN i % 2 = 0 THEN 'f' ELSE 'm' END FROM generate_series(0, 59) AS i;
INSERT INTO two_small_slice VALUES ('aX', 'f');
SELECT c.label1 AS gender, c.label2 AS team, c.n, c.status
FROM unnest((SELECT anonymize.anonymized_breakout(gender, team, NULL::float8, 5,
                                                  'very_sensitive', 'not_sensitive')
             FROM two_small_slice)) AS c
ORDER BY 1, 2;
DROP TABLE two_small_slice;
