-- Large and hostile inputs: keys of 10 kB, thresholds at the integer limits,
-- identifiers with control and multi-byte characters, column names with
-- quotes and SQL in them.  Each gives an answer or a clear error.

-- Keys of 10 kB: equal long keys meet, the labels are whole.
CREATE TABLE hostile_long (k text, m float8);
INSERT INTO hostile_long SELECT repeat(chr(65 + i % 3), 10000) || i % 3, 1 FROM generate_series(1, 30) AS i;
SELECT length(g.label), left(g.label, 3), g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k, m, 5) FROM hostile_long)) AS g;
SELECT length(c.label1), length(c.label2), c.n
FROM unnest((SELECT anonymize.anonymized_breakout(k, k, m, 5, 'not_sensitive', 'not_sensitive') FROM hostile_long)) AS c;
-- long subjects: three people, under k = 5
SELECT g.n, g.status FROM unnest((SELECT anonymize.anonymized_breakout(m, m, 5, 'not_sensitive', k) FROM hostile_long)) AS g;
SELECT g.n, g.status FROM unnest((SELECT anonymize.anonymized_breakout(m, m, 3, 'not_sensitive', k) FROM hostile_long)) AS g;

-- Thresholds at the integer limits.
SELECT g.status, g.n FROM unnest((SELECT anonymize.anonymized_breakout(k, m, 2147483647) FROM hostile_long)) AS g;
SELECT anonymize.anonymized_breakout(k, m, -2147483648) FROM hostile_long;
SELECT anonymize.anonymized_comments(k, 2147483647) IS NULL AS none_shown FROM hostile_long;
SELECT anonymize.anonymized_breakout(k, k, m, 2147483647, 'very_sensitive', 'very_sensitive') IS NOT NULL
FROM hostile_long;
SET anonymize.threshold = 2147483647;
SELECT cardinality(anonymize.anonymized_breakout(k, m)) FROM hostile_long;
RESET anonymize.threshold;
SET anonymize.threshold = 0;
-- metrics at the limits of double precision
SELECT g.sum FROM unnest((SELECT anonymize.anonymized_breakout(1, m, 1)
	FROM (VALUES (1.7e308::float8), (-1.7e308)) AS v(m))) AS g;
SELECT anonymize.anonymized_breakout(1, m, 1) FROM (VALUES (1.7e308::float8), (1.7e308)) AS v(m);

-- Identifiers with control and multi-byte characters (text cannot hold a
-- NUL byte): each is one person, the same however it is spaced or cased
-- when it is an e-mail address, never stored.
CREATE TABLE hostile_events (id int, user_id text, email_hash text);
SELECT anonymize.protect('hostile_events', ARRAY['user_id=pseudonym', 'email_hash=hash']);
INSERT INTO hostile_events VALUES
	(1, E'a\\x01b', E'ÄLICE@BÜCHER.de'), (2, E'a\\x01b', E' älice@bücher.DE\t'),
	(3, E'a\\x02b', E'älice@bücher.de'), (4, '日本語のユーザー', E'\u200Bzero@width.com'),
	(5, '日本語のユーザー', 'zero@width.com'), (6, E'\\x7f', '''; DROP TABLE hostile_events; --'),
	(7, repeat('x', 100000), repeat('y@', 50000));
SELECT a.id, b.id, a.user_id = b.user_id AS same_person, a.email_hash = b.email_hash AS same_hash
FROM hostile_events AS a JOIN hostile_events AS b ON a.id < b.id
WHERE (a.id, b.id) IN ((1, 2), (1, 3), (4, 5)) ORDER BY a.id, b.id;
SELECT count(*) AS rows_holding_an_identifier FROM hostile_events
WHERE user_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
   OR email_hash !~ '^[0-9a-f]{64}$';
SELECT anonymize.forget(E'a\\x01b') AS forgotten, anonymize.forget(repeat('x', 100000)) AS long_forgotten,
       anonymize.forget('日本語のユーザー') AS multibyte_forgotten;

-- Column names with quotes, '=' and SQL in them.
CREATE TABLE hostile_names ("user""; DROP TABLE hostile_names; --" text, "a=b" text, "Mixed Case" inet);
SELECT anonymize.protect('hostile_names',
	ARRAY['user"; DROP TABLE hostile_names; --=pseudonym', 'a=b=strip', 'Mixed Case=generalize_ip:8']);
INSERT INTO hostile_names VALUES ('someone', 'secret', '10.20.30.40');
SELECT "user""; DROP TABLE hostile_names; --" <> 'someone' AS pseudonymized, "a=b" AS stripped, "Mixed Case"
FROM hostile_names;
SELECT table_name, rules FROM anonymize.protected_tables WHERE table_name = 'hostile_names'::regclass;
SELECT anonymize.protect('hostile_names', ARRAY['nosuch"; DROP TABLE hostile_names; --=strip']);
SELECT anonymize.protect('hostile_names', ARRAY['user=pseudonym:'';DROP TABLE x;--']);
SELECT anonymize.protect('hostile_names', ARRAY['a=b=pseudonym:x=y']);
SELECT anonymize.k_anonymity('hostile_names', ARRAY['user"; DROP TABLE hostile_names; --', 'a=b']);
SELECT count(*) AS still_there FROM hostile_names;
