-- Bad input: a clear error with an errcode, never a crash.
CREATE TABLE errors_responses (team text, score float8);
INSERT INTO errors_responses VALUES ('A', 1), ('A', 2), ('B', 3);
\set VERBOSITY default

-- threshold
SELECT anonymize.anonymized_breakout(team, score, NULL) FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, score, 0) FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, score, -2147483648, 'not_sensitive') FROM errors_responses;
-- it must not change from row to row
SELECT anonymize.anonymized_breakout(team, score, CASE team WHEN 'A' THEN 5 ELSE 6 END)
FROM errors_responses;

-- sensitivity
SELECT anonymize.anonymized_breakout(team, score, 5, NULL) FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, score, 5, 'secret') FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, score, 5,
	CASE team WHEN 'A' THEN 'very_sensitive' ELSE 'not_sensitive' END::anonymize.sensitivity)
FROM errors_responses;

-- metrics must be finite
SELECT anonymize.anonymized_breakout(team, 'NaN') FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, 'Infinity') FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, '-Infinity') FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, 1e308) FROM errors_responses;
SELECT anonymize.anonymized_breakout(team, 'abc') FROM errors_responses;

-- keys whose equal values cannot be recognised
SELECT anonymize.anonymized_breakout(point(1, 2), score) FROM errors_responses;
SELECT anonymize.anonymized_breakout('{"a": 1}'::json, score) FROM errors_responses;
SELECT anonymize.anonymized_breakout(ROW(team, score), score) FROM errors_responses;
-- an untyped NULL key is taken as text (PostgreSQL's rule for unknown
-- literals): one NULL group, fewer rows than the default threshold in all
SELECT anonymize.anonymized_breakout(NULL, score) FROM errors_responses;
SELECT g.* FROM unnest((SELECT anonymize.anonymized_breakout(NULL::text, score, 1)
                        FROM errors_responses)) AS g;

-- the support functions cannot be called by hand
SELECT anonymize.breakout_trans(NULL::internal, 1, 1);
SELECT anonymize.breakout_final(NULL::internal);

-- a bucket's sum that overflows is an error, never Infinity
SELECT anonymize.anonymized_breakout(k, m, 2, 'very_sensitive')
FROM (VALUES ('a', 1e308::float8), ('b', 1e308)) AS v(k, m);
SELECT anonymize.anonymized_breakout(k, 1, m, 2, 'very_sensitive', 'not_sensitive')
FROM (VALUES ('a', 1e308::float8), ('b', 1e308)) AS v(k, m);

DROP TABLE errors_responses;
