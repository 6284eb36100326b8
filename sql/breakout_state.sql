-- anonymize.breakout_state: a breakout's state as a value.  Daily states
-- merged give the month's breakout; states read back from text and binary;
-- states that do not belong together, or that are malformed, are refused.
\set VERBOSITY default
CREATE TABLE st_events (day date, country text, team int4, user_id int8, score float8);
INSERT INTO st_events
	SELECT date '2026-11-01' + (i % 30), 'c' || lpad((i % 13)::text, 2, '0'), i % 7,
	       (hashint4(i) & 1023), CASE WHEN i % 10 = 0 THEN NULL ELSE i % 50 END
	FROM generate_series(1, 20000) AS i;
-- small groups, seen on a few days each, and a NULL key
INSERT INTO st_events
	SELECT date '2026-11-01' + i, 'rare' || (i % 2), 100 + i % 3, 5000 + i % 4, i
	FROM generate_series(0, 11) AS i;
INSERT INTO st_events VALUES ('2026-11-03', NULL, NULL, 99999, 7);

-- one row of states per day
CREATE TABLE st_daily AS
	SELECT day,
	       anonymize.breakout_partial(country, score, 5, 'very_sensitive') AS by_country,
	       anonymize.breakout_partial(team::int2, score, 5, 'somewhat_sensitive') AS by_team,
	       anonymize.breakout_partial(user_id % 20, score, 5, 'not_sensitive') AS by_int8,
	       anonymize.breakout_partial(md5(country)::uuid, score, 5, 'very_sensitive') AS by_uuid,
	       anonymize.breakout_partial(country, score, 5, 'very_sensitive', user_id) AS people,
	       anonymize.breakout_partial(team, score, 3, 'very_sensitive', 'u' || user_id) AS people_text
	FROM st_events GROUP BY day;
SELECT count(*) AS days, pg_typeof(min(day)), pg_typeof((array_agg(by_country))[1]) FROM st_daily;

-- the month from the days: what anonymized_breakout gives over the month's rows
SELECT label, members, n, mean, status
FROM unnest((SELECT anonymize.breakout_groups(anonymize.breakout_merge(by_country)) FROM st_daily));
SELECT (SELECT anonymize.breakout_groups(anonymize.breakout_merge(by_country)) FROM st_daily) =
       (SELECT anonymize.anonymized_breakout(country, score, 5, 'very_sensitive') FROM st_events) AS text_key,
       (SELECT anonymize.breakout_groups(anonymize.breakout_merge(by_team)) FROM st_daily) =
       (SELECT anonymize.anonymized_breakout(team::int2, score, 5, 'somewhat_sensitive') FROM st_events) AS int2_key,
       (SELECT anonymize.breakout_groups(anonymize.breakout_merge(by_int8)) FROM st_daily) =
       (SELECT anonymize.anonymized_breakout(user_id % 20, score, 5, 'not_sensitive') FROM st_events) AS int8_key,
       (SELECT anonymize.breakout_groups(anonymize.breakout_merge(by_uuid)) FROM st_daily) =
       (SELECT anonymize.anonymized_breakout(md5(country)::uuid, score, 5, 'very_sensitive') FROM st_events) AS uuid_key,
       (SELECT anonymize.breakout_groups(anonymize.breakout_merge(people)) FROM st_daily) =
       (SELECT anonymize.anonymized_breakout(country, score, 5, 'very_sensitive', user_id) FROM st_events) AS people,
       (SELECT anonymize.breakout_groups(anonymize.breakout_merge(people_text)) FROM st_daily) =
       (SELECT anonymize.anonymized_breakout(team, score, 3, 'very_sensitive', 'u' || user_id) FROM st_events) AS people_text;
-- a week: the states of its days
SELECT (SELECT anonymize.breakout_groups(anonymize.breakout_merge(people)) FROM st_daily
        WHERE day < date '2026-11-08') =
       (SELECT anonymize.anonymized_breakout(country, score, 5, 'very_sensitive', user_id) FROM st_events
        WHERE day < date '2026-11-08') AS week;

-- People: someone seen on several days counts once.  'rare0' and 'rare1'
-- have 2 people each (seen on 6 days each) and the NULL key 1: grouped
-- together they are 5 people.
SELECT label, members, n, status
FROM unnest((SELECT anonymize.breakout_groups(anonymize.breakout_merge(people)) FROM st_daily))
WHERE status <> 'shown' OR label = 'c00';
SELECT count(DISTINCT user_id) AS people_of_c00 FROM st_events WHERE country = 'c00';

-- no state (no row) gives no group; a NULL state among others is skipped
SELECT anonymize.breakout_groups(NULL) AS no_state,
       anonymize.breakout_partial(country, score, 5, 'very_sensitive') IS NULL AS no_row
FROM st_events WHERE false;
SELECT anonymize.breakout_groups(anonymize.breakout_merge(s)) =
       (SELECT anonymize.breakout_groups(anonymize.breakout_merge(by_country)) FROM st_daily) AS null_skipped
FROM (SELECT by_country AS s FROM st_daily UNION ALL SELECT NULL) AS u;

-- The text form round-trips exactly; its prefix names the version.
SELECT count(*) FILTER (WHERE people::text::anonymize.breakout_state::text = people::text) AS people,
       count(*) FILTER (WHERE by_uuid::text::anonymize.breakout_state::text = by_uuid::text) AS uuid,
       count(*) FILTER (WHERE left(by_country::text, 5) = 'abs1:') AS prefixed
FROM st_daily;
SELECT (SELECT anonymize.breakout_groups(anonymize.breakout_merge(people::text::anonymize.breakout_state))
        FROM st_daily) =
       (SELECT anonymize.breakout_groups(anonymize.breakout_merge(people)) FROM st_daily) AS from_text;

-- The binary form too (COPY ... FORMAT binary, through a file of the server).
CREATE TABLE st_copy (LIKE st_daily);
SELECT current_setting('data_directory') || '/anonymize_breakout_state.bin' AS st_file \gset
COPY st_daily TO :'st_file' WITH (FORMAT binary);
COPY st_copy FROM :'st_file' WITH (FORMAT binary);
SELECT count(*) FILTER (WHERE c.people::text = d.people::text AND c.by_team::text = d.by_team::text) AS equal
FROM st_copy AS c JOIN st_daily AS d USING (day);

-- States in parallel: merged by workers and the leader, the same answer.
CREATE TABLE st_many AS SELECT i, s.people FROM st_daily AS s, generate_series(1, 40) AS i;
ALTER TABLE st_many SET (parallel_workers = 2);
SELECT anonymize.breakout_groups(anonymize.breakout_merge(people)) AS serial_merge FROM st_many \gset
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT anonymize.breakout_merge(people) FROM st_many;
SELECT anonymize.breakout_groups(anonymize.breakout_merge(people))::text = :'serial_merge' AS parallel_merge
FROM st_many;
EXPLAIN (COSTS OFF) SELECT anonymize.breakout_partial(country, score, 5, 'very_sensitive', user_id) FROM st_events;
SELECT anonymize.breakout_groups(anonymize.breakout_partial(country, score, 5, 'very_sensitive', user_id)) =
       anonymize.anonymized_breakout(country, score, 5, 'very_sensitive', user_id) AS parallel_partial
FROM st_events;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- As a window aggregate the state is decided again for each frame.
SELECT day, cardinality(anonymize.anonymized_breakout(country, score, 5, 'very_sensitive')
                        OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS groups
FROM (SELECT * FROM st_events WHERE day < date '2026-11-04' ORDER BY day, user_id LIMIT 5) AS e
ORDER BY day, groups;

-- A key of a type that text takes as it is keeps its own equality: citext
-- groups 'Paris' and 'PARIS' as before.
CREATE EXTENSION IF NOT EXISTS citext;
SELECT label, n FROM unnest((SELECT anonymize.anonymized_breakout(c, 1, 2, 'not_sensitive')
                             FROM (VALUES ('Paris'::citext), ('PARIS'), ('Lyon'), ('lyon')) AS v(c)));
SELECT label, n FROM unnest((SELECT anonymize.breakout_groups(anonymize.breakout_partial(c, 1, 2, 'not_sensitive'))
                             FROM (VALUES ('Paris'::citext), ('PARIS'), ('Lyon'), ('lyon')) AS v(c)));

-- The two-field form with keys of those types has a breakout_state too: the
-- same answer as the form for drivers' types (whose state is internal),
-- serial and in parallel.
SELECT anonymize.anonymized_breakout(country, team, score, 5, 'very_sensitive', 'not_sensitive')::text =
       anonymize.anonymized_breakout(country, team, score, 5.0, 'very_sensitive'::text, 'not_sensitive'::text)::text
       AS two_fields,
       cardinality(anonymize.anonymized_breakout(country, team, score, 5, 'very_sensitive', 'not_sensitive')) AS cells
FROM st_events;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT anonymize.anonymized_breakout(country, team, score, 5, 'very_sensitive', 'not_sensitive') FROM st_events;
SELECT anonymize.anonymized_breakout(country, team, score, 5, 'very_sensitive', 'not_sensitive')::text =
       anonymize.anonymized_breakout(country, team, score, 5.0, 'very_sensitive'::text, 'not_sensitive'::text)::text
       AS two_fields_parallel
FROM st_events;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- a two-field state (written by hand: no cell) is not for breakout_groups,
-- and does not merge with a one-field state
SELECT ('abs1:' || translate(encode(
	'\x03'::bytea || int4send(10) || 'pg_catalog' || int4send(4) || 'text' ||
	int4send(10) || 'pg_catalog' || int4send(4) || 'int4' || '\x00'::bytea ||
	int4send(5) || '\x0200'::bytea || int8send(0),
	'base64'), E'\n', '')) AS two_state \gset
SELECT anonymize.breakout_groups(:'two_state');
SELECT anonymize.breakout_merge(s) FROM (SELECT :'two_state'::anonymize.breakout_state
	UNION ALL SELECT by_country FROM st_daily) AS u(s);

-- The threshold of a state is checked again where it is decided.
SET anonymize.min_threshold = 10;
SELECT anonymize.breakout_groups(by_country) FROM st_daily LIMIT 1;
RESET anonymize.min_threshold;

-- States that do not belong together are not merged (22023).
\set VERBOSITY default
SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(country, score, 5, 'very_sensitive') FROM st_events
	UNION ALL SELECT anonymize.breakout_partial(country, score, 6, 'very_sensitive') FROM st_events) AS u(s);
SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(country, score, 5, 'very_sensitive') FROM st_events
	UNION ALL SELECT anonymize.breakout_partial(country, score, 5, 'not_sensitive') FROM st_events) AS u(s);
SELECT anonymize.breakout_merge(s) FROM (
	SELECT by_country FROM st_daily UNION ALL SELECT by_team FROM st_daily) AS u(s);
SELECT anonymize.breakout_merge(s) FROM (
	SELECT by_country FROM st_daily UNION ALL SELECT people FROM st_daily) AS u(s);
SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(team, score, 3, 'very_sensitive', user_id) FROM st_events
	UNION ALL SELECT people_text FROM st_daily) AS u(s);
SELECT anonymize.breakout_merge(s) FROM (
	SELECT anonymize.breakout_partial(country COLLATE "C", score, 5, 'very_sensitive') FROM st_events
	UNION ALL SELECT by_country FROM st_daily) AS u(s);

-- The support functions cannot be called by hand (0A000).
SELECT anonymize.breakout_state_combine(NULL, NULL);
SELECT anonymize.breakout_state_trans(NULL, 'a'::text, 1.0::float8);

-- Malformed text: a clear error, never a crash.
SELECT 'garbage'::anonymize.breakout_state;
SELECT 'abs1:'::anonymize.breakout_state;
SELECT 'abs1:***'::anonymize.breakout_state;
SELECT 'abs2:AAAA'::anonymize.breakout_state;
SELECT 'abs1:AAAAAA=='::anonymize.breakout_state;
-- a state whose key type does not exist here
SELECT ('abs1:' || translate(encode(
	'\x01'::bytea || int4send(6) || 'public' || int4send(7) || 'nothere' || '\x00'::bytea ||
	int4send(5) || '\x02'::bytea || int8send(0) || int8send(0) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(0),
	'base64'), E'\n', ''))::anonymize.breakout_state;
-- a well-formed state written by hand: one group 'x' of 7 rows
SELECT g.* FROM unnest(anonymize.breakout_groups(('abs1:' || translate(encode(
	'\x01'::bytea || int4send(10) || 'pg_catalog' || int4send(4) || 'text' || '\x00'::bytea ||
	int4send(5) || '\x00'::bytea || int8send(7) || int8send(7) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(1) ||
	int8send(7) || int8send(7) || float8send(14) || float8send(0) || int4send(1) || 'x',
	'base64'), E'\n', ''))::anonymize.breakout_state)) AS g;
-- the same with totals that are not the sums of its groups
SELECT ('abs1:' || translate(encode(
	'\x01'::bytea || int4send(10) || 'pg_catalog' || int4send(4) || 'text' || '\x00'::bytea ||
	int4send(5) || '\x00'::bytea || int8send(70) || int8send(7) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(1) ||
	int8send(7) || int8send(7) || float8send(14) || float8send(0) || int4send(1) || 'x',
	'base64'), E'\n', ''))::anonymize.breakout_state;
-- a key that is not valid in the server encoding, an int2 key out of range
SELECT ('abs1:' || translate(encode(
	'\x01'::bytea || int4send(10) || 'pg_catalog' || int4send(4) || 'text' || '\x00'::bytea ||
	int4send(5) || '\x00'::bytea || int8send(7) || int8send(7) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(1) ||
	int8send(7) || int8send(7) || float8send(14) || float8send(0) || int4send(1) || '\xff'::bytea,
	'base64'), E'\n', ''))::anonymize.breakout_state;
SELECT ('abs1:' || translate(encode(
	'\x01'::bytea || int4send(10) || 'pg_catalog' || int4send(4) || 'int2' || '\x00'::bytea ||
	int4send(5) || '\x00'::bytea || int8send(7) || int8send(7) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(1) ||
	int8send(7) || int8send(7) || float8send(14) || float8send(0) || int8send(40000),
	'base64'), E'\n', ''))::anonymize.breakout_state;

-- the sum of a group's counts must not overflow
SELECT ('abs1:' || translate(encode(
	'\x01'::bytea || int4send(10) || 'pg_catalog' || int4send(4) || 'text' || '\x00'::bytea ||
	int4send(5) || '\x00'::bytea || int8send(0) || int8send(0) ||
	int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(2) ||
	int8send(9223372036854775807) || int8send(0) || float8send(0) || float8send(0) || int4send(1) || 'x' ||
	int8send(2) || int8send(0) || float8send(0) || float8send(0) || int4send(1) || 'y',
	'base64'), E'\n', ''))::anonymize.breakout_state;
-- 'abs' followed by no version is no state of another version
SELECT 'absolutely'::anonymize.breakout_state;

-- A state names its types; only base types are read (a domain's CHECK, or
-- the parts of a composite or an array, could run anyone's code as the
-- reader), and only types the reader may use.
CREATE SCHEMA st_hidden;
CREATE DOMAIN st_hidden.d AS text CHECK (VALUE <> '');
CREATE FUNCTION pg_temp.state_of_type(nsp text, typ text) RETURNS text LANGUAGE sql AS $$
	SELECT 'abs1:' || translate(encode(
		'\x01'::bytea || int4send(length(nsp)) || convert_to(nsp, 'UTF8') ||
		int4send(length(typ)) || convert_to(typ, 'UTF8') || '\x00'::bytea ||
		int4send(5) || '\x02'::bytea || int8send(0) || int8send(0) ||
		int8send(0) || int8send(0) || float8send(0) || float8send(0) || int8send(0),
		'base64'), E'\n', '') $$;
SELECT pg_temp.state_of_type('st_hidden', 'd')::anonymize.breakout_state;
SELECT pg_temp.state_of_type('pg_catalog', '_text')::anonymize.breakout_state;
SELECT pg_temp.state_of_type('anonymize', 'breakout_group')::anonymize.breakout_state;
CREATE ROLE st_plain;
GRANT USAGE ON SCHEMA anonymize TO st_plain;
SELECT pg_temp.state_of_type('st_hidden', 'd') AS hidden_state \gset
SET ROLE st_plain;
SELECT :'hidden_state'::anonymize.breakout_state;
RESET ROLE;

-- A state given as an aggregate's initial value must be of the aggregate's
-- types and form (42804): a role's own aggregate over the transition
-- function cannot make it read an argument as another type.
SELECT by_int8::text AS int8_state, people::text AS people_state FROM st_daily WHERE day = date '2026-11-02' \gset
SET ROLE st_plain;
CREATE AGGREGATE pg_temp.confused(text, float8, int4, anonymize.sensitivity) (
	SFUNC = anonymize.breakout_state_trans, STYPE = anonymize.breakout_state,
	FINALFUNC = anonymize.breakout_state_final, INITCOND = :'int8_state');
SELECT pg_temp.confused('x', 1, 5, 'not_sensitive');
CREATE AGGREGATE pg_temp.confused_form(text, float8, int4, anonymize.sensitivity) (
	SFUNC = anonymize.breakout_state_trans, STYPE = anonymize.breakout_state,
	FINALFUNC = anonymize.breakout_state_final, INITCOND = :'people_state');
SELECT pg_temp.confused_form('x', 1, 5, 'very_sensitive');
-- of the right types it is merely a breakout that starts with those rows
CREATE AGGREGATE pg_temp.started(int8, float8, int4, anonymize.sensitivity) (
	SFUNC = anonymize.breakout_state_trans, STYPE = anonymize.breakout_state,
	FINALFUNC = anonymize.breakout_state_final, INITCOND = :'int8_state');
SELECT cardinality(pg_temp.started(1, 1, 5, 'not_sensitive')) > 0 AS started;
RESET ROLE;

-- With anonymize.hide_bad_metrics a sum may be infinite: such a state is
-- read back, in parallel too, and its sum withheld.
SET anonymize.hide_bad_metrics = on;
CREATE TABLE st_bad AS SELECT * FROM st_events;
INSERT INTO st_bad VALUES ('2026-11-02', 'c01', 1, 1, 'Infinity');
SELECT label, n, mean, sum, status FROM unnest((SELECT anonymize.breakout_groups(
	anonymize.breakout_partial(country, score, 5, 'very_sensitive')::text::anonymize.breakout_state)
	FROM st_bad)) WHERE label IN ('c00', 'c01');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT label, n, mean, sum, status FROM unnest((SELECT anonymize.anonymized_breakout(country, score, 5, 'very_sensitive')
	FROM st_bad)) WHERE label IN ('c00', 'c01');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET anonymize.hide_bad_metrics;

-- Every truncation of a real state is refused as malformed (22P02), and
-- every byte of it changed gives a valid state or a clear error of a known
-- kind: the SQLSTATEs seen are listed.
CREATE FUNCTION pg_temp.try_state(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM anonymize.breakout_groups(t::anonymize.breakout_state);
	RETURN 'valid';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
CREATE TABLE st_small AS
	SELECT 'rows' AS form, anonymize.breakout_partial(country, score, 2, 'very_sensitive') AS state
	FROM st_events WHERE day = date '2026-11-03' AND user_id < 200
	UNION ALL
	SELECT 'people', anonymize.breakout_partial(country, score, 2, 'very_sensitive', user_id)
	FROM st_events WHERE day = date '2026-11-03' AND user_id < 200;
CREATE TABLE st_fuzz AS SELECT form, decode(substr(state::text, 6), 'base64') AS bytes FROM st_small;
SELECT form, length(bytes) > 100 AS long_enough FROM st_fuzz ORDER BY form;
SELECT form, pg_temp.try_state('abs1:' || translate(encode(substr(bytes, 1, len), 'base64'), E'\n', '')) AS sqlstate,
       count(*) = max(length(bytes)) AS every_truncation
FROM st_fuzz, generate_series(0, length(bytes) - 1) AS len GROUP BY 1, 2 ORDER BY 1, 2;
SELECT form, pg_temp.try_state('abs1:' || translate(encode(
	set_byte(bytes, pos, get_byte(bytes, pos) # x), 'base64'), E'\n', '')) AS sqlstate,
       count(*) > 0 AS seen
FROM st_fuzz, generate_series(0, length(bytes) - 1) AS pos, (VALUES (1), (128), (255)) AS f(x)
GROUP BY 1, 2 ORDER BY 1, 2;

-- Malformed binary input is refused as 22P03.
CREATE TABLE st_bin (state bytea);
INSERT INTO st_bin VALUES ('\x414253'), ('\x4142530101');
COPY st_bin TO :'st_file' WITH (FORMAT binary);
CREATE TABLE st_bin_states (state anonymize.breakout_state);
COPY st_bin_states FROM :'st_file' WITH (FORMAT binary);
TRUNCATE st_bin;
INSERT INTO st_bin VALUES ('\x41425302');
COPY st_bin TO :'st_file' WITH (FORMAT binary);
COPY st_bin_states FROM :'st_file' WITH (FORMAT binary);
SELECT count(*) AS nothing_stored FROM st_bin_states;

DROP TABLE st_events, st_daily, st_copy, st_many, st_small, st_fuzz, st_bin, st_bin_states, st_bad;
DROP SCHEMA st_hidden CASCADE;
DROP OWNED BY st_plain;
DROP ROLE st_plain;
