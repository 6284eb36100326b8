-- The SQL contract of anonymized_breakout over one field.
CREATE TABLE basics_responses (country text, score float8);
INSERT INTO basics_responses
SELECT country, score
FROM (VALUES ('US', 10), ('FR', 3), ('DE', 2), ('JP', 1), ('MX', 6)) AS v(country, n),
     generate_series(1, n) AS score;

-- Default form: threshold from anonymize.threshold (5), very_sensitive.
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(country, score)
                        FROM basics_responses)) AS g;

-- The three forms agree when given the defaults.
SELECT anonymize.anonymized_breakout(country, score)
     = anonymize.anonymized_breakout(country, score, 5)
   AND anonymize.anonymized_breakout(country, score, 5)
     = anonymize.anonymized_breakout(country, score, 5, 'very_sensitive') AS same
FROM basics_responses;

-- Each sensitivity.
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(country, score, 5, 'not_sensitive')
                        FROM basics_responses)) AS g;
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(country, score, 5, 'somewhat_sensitive')
                        FROM basics_responses)) AS g;
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(country, score, 5, 'very_sensitive')
                        FROM basics_responses)) AS g;

-- The form from the README, with unnest in the select list.
SELECT (g).label, (g).n, (g).status
FROM (SELECT unnest(anonymize.anonymized_breakout(country, score, 5, 'very_sensitive')) AS g
      FROM basics_responses) AS s;

-- No input rows: an empty array, for every form.
SELECT anonymize.anonymized_breakout(country, score) AS two,
       anonymize.anonymized_breakout(country, score, 3) AS three,
       anonymize.anonymized_breakout(country, score, 3, 'not_sensitive') AS four
FROM basics_responses WHERE false;

-- NULL keys form one group with a NULL label; NULL metrics are left out of
-- mean and sum but counted in n.
CREATE TABLE basics_nulls (team text, score float8);
INSERT INTO basics_nulls VALUES
	(NULL, 1), (NULL, 2), (NULL, NULL), (NULL, 3), (NULL, 4), (NULL, 5),
	('ops', NULL), ('ops', NULL), ('ops', NULL), ('ops', NULL), ('ops', NULL),
	('dev', 2), ('dev', 4), ('dev', 6), ('dev', 8), ('dev', 10);
SELECT g.label IS NULL AS null_label, g.* FROM unnest((SELECT anonymize.anonymized_breakout(team, score, 5)
                        FROM basics_nulls)) AS g;

-- The aggregate works with GROUP BY (one breakout per group) and with FILTER.
SELECT score > 5 AS high, cardinality(anonymize.anonymized_breakout(team, score, 1, 'not_sensitive'))
FROM basics_nulls GROUP BY 1 ORDER BY 1;
SELECT anonymize.anonymized_breakout(country, score, 2, 'not_sensitive') FILTER (WHERE country < 'G')
FROM basics_responses;

-- As a window aggregate the final function runs once per row and must not
-- change the state: each running result is right.
SELECT country, score, anonymize.anonymized_breakout(country, score, 1, 'not_sensitive')
	OVER (ORDER BY score, country ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
FROM basics_responses WHERE country IN ('FR', 'DE') ORDER BY score, country;

-- A bucket names the groups it merged only when a superuser allows it.
SHOW anonymize.show_grouped_members;
SET anonymize.show_grouped_members = on;
SELECT g.label, g.members, g.n FROM unnest((SELECT anonymize.anonymized_breakout(country, score)
                        FROM basics_responses)) AS g;
RESET anonymize.show_grouped_members;

-- Sums are compensated (Neumaier): 1e16 + 1 - 1e16 is 1 in every order of
-- the rows, where a plain float8 sum (core sum()) loses the 1 and gives 0.
SELECT o AS row_order, g.sum
FROM (VALUES ('up'), ('down')) AS x(o),
     LATERAL (SELECT anonymize.anonymized_breakout('all'::text, m, 1, 'not_sensitive' ORDER BY CASE WHEN o = 'up' THEN i ELSE -i END) AS b
              FROM (VALUES (1, 1e16::float8), (2, 1), (3, -1e16)) AS v(i, m)) AS s,
     unnest(s.b) AS g;
SELECT c.sum FROM unnest((SELECT anonymize.anonymized_breakout('all'::text, 'x'::text, m, 1, 'not_sensitive', 'not_sensitive')
                          FROM (VALUES (1e16::float8), (1), (-1e16)) AS v(m))) AS c;

DROP TABLE basics_responses, basics_nulls;

