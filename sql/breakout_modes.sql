-- Counting modes (anonymize.mode) and the threshold settings.
CREATE TABLE modes_responses (team text, score float8);
-- A: 6 rows, 3 with a score; B: 4 rows, all with a score; C: 5 rows, 4 with a score.
INSERT INTO modes_responses VALUES
	('A', 1), ('A', 2), ('A', 3), ('A', NULL), ('A', NULL), ('A', NULL),
	('B', 4), ('B', 4), ('B', 4), ('B', 4),
	('C', 10), ('C', 20), ('C', 30), ('C', 40), ('C', NULL);

-- enhanced (default): every row counts.  B (4) is alone under 5, so C (5),
-- the smallest other group, joins it; mean and sum are over scores only.
-- A has 3 scores, fewer than 5: its mean is withheld, and so is the bucket's,
-- or the sum of all scores (a breakout by a constant) minus the bucket's
-- would give A's.
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(team, score, 5, 'very_sensitive')
                        FROM modes_responses)) AS g;
SHOW anonymize.mode;

-- basic: only rows with a score count (A 3, B 4, C 4, total 11).  The
-- sensitivity is ignored: groups under k are hidden but show their count.
SET anonymize.mode = basic;
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(team, score, 5, 'very_sensitive')
                        FROM modes_responses)) AS g;
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(team, score, 4, 'not_sensitive')
                        FROM modes_responses)) AS g;
-- basic, total under k: nothing is shown, not even counts.
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(team, score, 12, 'very_sensitive')
                        FROM modes_responses)) AS g;
-- basic, a group with no score at all counts 0.
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(team, score, 3, 'somewhat_sensitive')
                        FROM (SELECT * FROM modes_responses
                              UNION ALL SELECT 'D', NULL) AS r)) AS g;
RESET anonymize.mode;
SET anonymize.mode = 'strict';

-- anonymize.threshold is the default k of the two-argument form.
SET anonymize.threshold = 4;
SELECT g.label, g.n, g.status FROM unnest((SELECT anonymize.anonymized_breakout(team, score)
                                           FROM modes_responses)) AS g;
SET anonymize.threshold = 0;
RESET anonymize.threshold;

-- anonymize.min_threshold is a floor nobody can go under, given or default.
SET anonymize.min_threshold = 5;
SELECT anonymize.anonymized_breakout(team, score, 4) FROM modes_responses;
SELECT anonymize.anonymized_breakout(team, score, 4, 'not_sensitive') FROM modes_responses;
SET anonymize.threshold = 3;
SELECT anonymize.anonymized_breakout(team, score) FROM modes_responses;
RESET anonymize.threshold;
SELECT cardinality(anonymize.anonymized_breakout(team, score, 5)) FROM modes_responses;

-- Only a superuser can move the floor.
CREATE ROLE modes_analyst LOGIN;
GRANT USAGE ON SCHEMA anonymize TO modes_analyst;
GRANT SELECT ON modes_responses TO modes_analyst;
SET ROLE modes_analyst;
SET anonymize.min_threshold = 1;
SELECT anonymize.anonymized_breakout(team, score, 2) FROM modes_responses;
SHOW anonymize.min_threshold;
RESET ROLE;
RESET anonymize.min_threshold;

-- Nor can a value set before the library is loaded in a new session: the
-- floor set for the role by a superuser holds.
ALTER ROLE modes_analyst SET anonymize.min_threshold = 5;
-- (sessions of the role preload another library instead of this one)
ALTER ROLE modes_analyst SET session_preload_libraries = 'plpgsql';
SELECT current_user AS superuser \gset
\c - modes_analyst
SET anonymize.min_threshold = 1;
SELECT anonymize.anonymized_breakout(team, score, 2) FROM modes_responses;
SHOW anonymize.min_threshold;
\c - :superuser

DROP TABLE modes_responses;
DROP OWNED BY modes_analyst;
DROP ROLE modes_analyst;
