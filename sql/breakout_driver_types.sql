-- The aggregates called with the types that client drivers give parameters
-- without a cast: a threshold of type smallint, bigint, numeric or unknown (an
-- untyped parameter), a sensitivity of type text or varchar.  Which aggregate
-- each call resolves to, before and after the upgrade to 0.5.0; the answers
-- are those of the original forms, serial and parallel; bad values get clear
-- errors.

-- Resolution: every call that worked under 0.4.0 still works and, with a
-- threshold of type integer, still calls the same aggregate.
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS anonymize_drivers;
RESET client_min_messages;
CREATE DATABASE anonymize_drivers;
\c anonymize_drivers
CREATE EXTENSION anonymize VERSION '0.4.0';
-- columns of each type a driver may send: threshold t2/t4/t8/tn, sensitivity
-- st (text), sv (varchar), se (the enum)
CREATE TABLE calls_data (k text, m float8, mi int, a int, t2 int2, t4 int, t8 int8, tn numeric,
                         st text, sv varchar, se anonymize.sensitivity);
CREATE TABLE calls (id serial, call text, before_upgrade text, after_upgrade text);
INSERT INTO calls (call) VALUES
	('anonymized_breakout(k, m)'),
	('anonymized_breakout(k, m, 5)'),
	('anonymized_breakout(k, mi, t4)'),
	('anonymized_breakout(k, m, t2)'),
	('anonymized_breakout(k, m, ''5'')'),
	('anonymized_breakout(k, m, t8)'),
	('anonymized_breakout(k, m, tn)'),
	('anonymized_breakout(k, m, 5, ''very_sensitive'')'),
	('anonymized_breakout(k, mi, t4, ''very_sensitive'')'),
	('anonymized_breakout(k, m, 5, NULL)'),
	('anonymized_breakout(k, m, 5, se)'),
	('anonymized_breakout(k, m, t2, se)'),
	('anonymized_breakout(k, m, t2, ''very_sensitive'')'),
	('anonymized_breakout(k, m, ''5'', ''very_sensitive'')'),
	('anonymized_breakout(k, m, t8, ''very_sensitive'')'),
	('anonymized_breakout(k, m, t8, se)'),
	('anonymized_breakout(k, m, tn, se)'),
	('anonymized_breakout(k, m, 5, st)'),
	('anonymized_breakout(k, m, 5, sv)'),
	('anonymized_breakout(k, m, t8, sv)'),
	('anonymized_breakout(k, m, tn, st)'),
	('anonymized_breakout(k, m, t2, sv)'),
	('anonymized_breakout(k, m, 5, ''very_sensitive'', a)'),
	('anonymized_breakout(k, m, 5, se, a)'),
	('anonymized_breakout(k, m, t2, ''very_sensitive'', a)'),
	('anonymized_breakout(k, m, t8, sv, a)'),
	('anonymized_breakout(k, m, tn, se, a)'),
	('anonymized_breakout(k, a, m, 5, ''very_sensitive'', ''not_sensitive'')'),
	('anonymized_breakout(k, a, m, t4, se, se)'),
	('anonymized_breakout(k, a, m, t2, se, se)'),
	('anonymized_breakout(k, a, m, t2, ''very_sensitive'', ''not_sensitive'')'),
	('anonymized_breakout(k, a, m, ''5'', ''very_sensitive'', ''not_sensitive'')'),
	('anonymized_breakout(k, a, m, t8, sv, sv)'),
	('anonymized_breakout(k, a, m, tn, se, se)'),
	('anonymized_breakout(k, a, m, 5, st, ''not_sensitive'')'),
	('anonymized_breakout(k, a, m, 5, se, st)'),
	('anonymized_comments(k)'),
	('anonymized_comments(k, 5)'),
	('anonymized_comments(k, t2)'),
	('anonymized_comments(k, ''5'')'),
	('anonymized_comments(k, t8)'),
	('anonymized_comments(k, tn)'),
	('anonymized_comments(k, a, 5)'),
	('anonymized_comments(k, a, t2)'),
	('anonymized_comments(k, a, t8)'),
	('anonymized_comments(k, a, tn)');
-- the aggregate a call resolves to (the one a view over it depends on), or the error
CREATE FUNCTION resolves(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE 'CREATE TEMP VIEW resolved AS SELECT anonymize.' || call || ' FROM calls_data';
	SELECT pg_get_function_identity_arguments(p.oid) INTO result
	FROM pg_depend AS d
	JOIN pg_rewrite AS w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
	JOIN pg_proc AS p ON d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid
	WHERE w.ev_class = 'resolved'::regclass AND p.prokind = 'a';
	DROP VIEW resolved;
	RETURN result;
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ' ' || split_part(SQLERRM, '(', 1);
END $$;
UPDATE calls SET before_upgrade = resolves(call);
ALTER EXTENSION anonymize UPDATE TO '0.5.0';
UPDATE calls SET after_upgrade = resolves(call);
-- (the enum without its schema)
UPDATE calls SET before_upgrade = replace(before_upgrade, 'anonymize.', ''),
                 after_upgrade = replace(after_upgrade, 'anonymize.', '');
-- nothing that resolved before fails now, nothing is ambiguous
SELECT call, before_upgrade FROM calls
WHERE before_upgrade NOT LIKE '4%' AND after_upgrade LIKE '4%';
SELECT call, after_upgrade FROM calls WHERE after_upgrade LIKE '42725%';
-- calls with a threshold of type integer resolve as before (and the one mix
-- that has no form, the enum and text for the two sensitivities, fails as
-- before)
SELECT call, after_upgrade AS resolves_to FROM calls
WHERE before_upgrade = after_upgrade ORDER BY id;
-- calls that now resolve to the forms with a float8 threshold or a text
-- sensitivity: an untyped or smallint threshold (which no longer picks the
-- integer form: float8 is the numeric category's preferred type), and the
-- types that had no form before
SELECT call, before_upgrade, after_upgrade FROM calls
WHERE before_upgrade IS DISTINCT FROM after_upgrade ORDER BY id;
\c :regress_db
DROP DATABASE anonymize_drivers;

-- Answers: a driver form gives the answer of the original form.
CREATE TABLE driver_responses (department text, tenure text, user_id bigint, score int,
                               comment text);
INSERT INTO driver_responses
SELECT d, CASE WHEN i % 3 = 0 THEN 'new' ELSE 'senior' END, i, i % 7,
       CASE WHEN i % 2 = 0 THEN 'comment ' || i END
FROM (VALUES ('Engineering', 14), ('Sales', 9), ('Support', 6), ('Legal', 2), ('People', 3))
	AS s(d, n), generate_series(1, n) AS i;
INSERT INTO driver_responses VALUES ('Sales', 'new', 1, NULL, 'comment 1');
SELECT g.label, g.members, g.n, round(g.mean::numeric, 2) AS mean, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(department, score, 5::bigint,
                                                  'very_sensitive'::varchar)
             FROM driver_responses)) AS g;
SELECT
	(SELECT anonymize.anonymized_breakout(department, score, 5, 'very_sensitive') FROM driver_responses) AS original,
	(SELECT anonymize.anonymized_breakout(department, score, 5::bigint, 'very_sensitive'::varchar) FROM driver_responses) AS bigint_varchar,
	(SELECT anonymize.anonymized_breakout(department, score, 5::numeric, 'very_sensitive'::text) FROM driver_responses) AS numeric_text,
	(SELECT anonymize.anonymized_breakout(department, score, 5::smallint, 'very_sensitive') FROM driver_responses) AS smallint_unknown,
	(SELECT anonymize.anonymized_breakout(department, score, 5.0, 'very_sensitive'::anonymize.sensitivity) FROM driver_responses) AS numeric_enum
\gset
SELECT :'original' = :'bigint_varchar' AS bigint_varchar, :'original' = :'numeric_text' AS numeric_text,
       :'original' = :'smallint_unknown' AS smallint_unknown, :'original' = :'numeric_enum' AS numeric_enum;
-- every form and sensitivity, against the original form
SELECT s AS sensitivity,
	(SELECT anonymize.anonymized_breakout(department, score, 4::bigint)
	 = anonymize.anonymized_breakout(department, score, 4) FROM driver_responses) AS threshold_only,
	(SELECT anonymize.anonymized_breakout(department, score, 4::bigint, s::varchar)
	 = anonymize.anonymized_breakout(department, score, 4, s) FROM driver_responses) AS text_sensitivity,
	(SELECT anonymize.anonymized_breakout(department, score, 4::numeric, s)
	 = anonymize.anonymized_breakout(department, score, 4, s) FROM driver_responses) AS numeric_threshold,
	(SELECT anonymize.anonymized_breakout(department, score, 2::bigint, s::text, user_id % 4)
	 = anonymize.anonymized_breakout(department, score, 2, s, user_id % 4) FROM driver_responses) AS people,
	(SELECT anonymize.anonymized_breakout(department, score, 2::numeric, s, user_id % 4)
	 = anonymize.anonymized_breakout(department, score, 2, s, user_id % 4) FROM driver_responses) AS people_numeric,
	(SELECT anonymize.anonymized_breakout(department, tenure, score, 4::bigint, s::varchar, 'somewhat_sensitive'::varchar)
	 = anonymize.anonymized_breakout(department, tenure, score, 4, s, 'somewhat_sensitive') FROM driver_responses) AS two_fields,
	(SELECT anonymize.anonymized_breakout(department, tenure, score, 4::numeric, 'not_sensitive', s)
	 = anonymize.anonymized_breakout(department, tenure, score, 4, 'not_sensitive', s) FROM driver_responses) AS two_numeric
FROM unnest(enum_range(NULL::anonymize.sensitivity)) AS s;
SELECT department,
	anonymize.anonymized_comments(comment, 3::bigint) IS NOT DISTINCT FROM
		anonymize.anonymized_comments(comment, 3) AS comments,
	anonymize.anonymized_comments(comment, user_id % 2, 2::numeric) IS NOT DISTINCT FROM
		anonymize.anonymized_comments(comment, user_id % 2, 2) AS by_author,
	anonymize.anonymized_comments(comment, 3::bigint) IS NOT NULL AS shown
FROM driver_responses GROUP BY department ORDER BY department;
-- each group of a GROUP BY has its state, read from its own rows
SELECT tenure, array_length(anonymize.anonymized_breakout(department, score, 3::bigint,
                                                          'very_sensitive'::text), 1) AS groups
FROM driver_responses GROUP BY tenure ORDER BY tenure;
-- a sensitivity from a text column, the same on every row
SELECT anonymize.anonymized_breakout(department, score, 5, s)
	= anonymize.anonymized_breakout(department, score, 5, 'somewhat_sensitive') AS same
FROM driver_responses, (VALUES ('somewhat_sensitive'::text)) AS v(s);

-- Prepared statements as drivers send them: typed parameters (bigint and
-- varchar, numeric and text, smallint and the enum) and untyped ones.
PREPARE driver_typed(bigint, varchar) AS
	SELECT anonymize.anonymized_breakout(department, score, $1, $2) FROM driver_responses;
PREPARE driver_numeric(numeric, text, text) AS
	SELECT anonymize.anonymized_breakout(department, tenure, score, $1, $2, $3) FROM driver_responses;
PREPARE driver_smallint(smallint, anonymize.sensitivity) AS
	SELECT anonymize.anonymized_breakout(department, score, $1, $2) FROM driver_responses;
-- untyped parameters take the types of the form of a text key: integer and
-- the enum (a threshold of '5.0' sent untyped is refused as no integer)
PREPARE driver_untyped AS
	SELECT anonymize.anonymized_breakout(department, score, $1, $2) FROM driver_responses;
PREPARE driver_untyped_threshold AS
	SELECT anonymize.anonymized_breakout(department, score, $1) FROM driver_responses;
PREPARE driver_comments(bigint) AS
	SELECT anonymize.anonymized_comments(comment, user_id % 3, $1) FROM driver_responses;
SELECT name, parameter_types FROM pg_prepared_statements ORDER BY name;
-- (:original is the answer of the original form, read above)
EXECUTE driver_typed(5, 'very_sensitive') \gset typed_
EXECUTE driver_untyped('5', 'very_sensitive') \gset untyped_
EXECUTE driver_smallint(5, 'very_sensitive') \gset smallint_
EXECUTE driver_untyped_threshold('5') \gset untyped_threshold_
SELECT :'typed_anonymized_breakout' = :'original' AS typed,
       :'untyped_anonymized_breakout' = :'original' AS untyped,
       :'smallint_anonymized_breakout' = :'original' AS smallint_enum,
       :'untyped_threshold_anonymized_breakout' = :'original' AS untyped_threshold;
EXECUTE driver_untyped_threshold('5.0');
EXECUTE driver_numeric(5, 'very_sensitive', 'not_sensitive') \gset numeric_
SELECT :'numeric_anonymized_breakout' = anonymize.anonymized_breakout(department, tenure, score, 5,
	'very_sensitive', 'not_sensitive')::text AS two_fields FROM driver_responses;
EXECUTE driver_comments(3);

-- Bad values: the errors of the original forms, and for a threshold that is
-- no integer or a sensitivity that is no label, errors that do not repeat it.
CREATE FUNCTION driver_error(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
	msg text;
	hint text;
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN state || ': ' || msg || CASE WHEN hint <> '' THEN ' (' || hint || ')' ELSE '' END;
END $$;
SELECT arg AS call, driver_error('SELECT anonymize.' || arg || ' FROM driver_responses') AS error
FROM (VALUES
	('anonymized_breakout(department, score, 5, ''Very_Sensitive''::text)'),
	('anonymized_breakout(department, score, 5::bigint, ''''::varchar)'),
	('anonymized_breakout(department, score, 5, repeat(''x'', 100))'),
	('anonymized_breakout(department, score, 5, NULL::text)'),
	('anonymized_breakout(department, score, 5, department)'),
	('anonymized_breakout(department, score, 5::bigint, CASE WHEN score > 3 THEN ''not_sensitive'' ELSE ''very_sensitive'' END)'),
	('anonymized_breakout(department, score, 5, ''secret''::text, user_id)'),
	('anonymized_breakout(department, score, 5::bigint, NULL::varchar, user_id)'),
	('anonymized_breakout(department, score, 5.5)'),
	('anonymized_breakout(department, score, 5.5::float8, ''very_sensitive'')'),
	('anonymized_breakout(department, score, ''NaN''::numeric, ''very_sensitive'')'),
	('anonymized_breakout(department, score, ''Infinity''::numeric)'),
	('anonymized_breakout(department, score, ''-Infinity''::float8, ''not_sensitive''::text)'),
	('anonymized_breakout(department, score, 2147483648)'),
	('anonymized_breakout(department, score, 1e30, ''very_sensitive'')'),
	('anonymized_breakout(department, score, -9223372036854775808)'),
	('anonymized_breakout(department, score, ''abc'')'),
	('anonymized_breakout(department, score, NULL::bigint)'),
	('anonymized_breakout(department, score, NULL, ''very_sensitive'')'),
	('anonymized_breakout(department, score, 0::bigint, ''very_sensitive'')'),
	('anonymized_breakout(department, score, -2147483648::bigint, ''very_sensitive'')'),
	('anonymized_breakout(department, score, 5 + (score > 3)::int::bigint)'),
	('anonymized_breakout(department, score, 5 + user_id / 100.0, ''very_sensitive'')'),
	('anonymized_breakout(department, score, 5.5, ''very_sensitive'', user_id)'),
	('anonymized_breakout(department, tenure, score, 5.5, ''very_sensitive'', ''not_sensitive'')'),
	('anonymized_breakout(department, tenure, score, 5::bigint, ''very_sensitive'', ''secret''::text)'),
	('anonymized_breakout(department, tenure, score, 5::bigint, ''very_sensitive'', NULL::text)'),
	('anonymized_breakout(department, tenure, score, 5::bigint, ''very_sensitive'', CASE WHEN score > 3 THEN ''not_sensitive'' ELSE ''very_sensitive'' END)'),
	('anonymized_breakout(department, tenure, score, ''NaN''::numeric, ''very_sensitive''::anonymize.sensitivity, ''not_sensitive'')'),
	('anonymized_comments(comment, 2.5)'),
	('anonymized_comments(comment, 0::bigint)'),
	('anonymized_comments(comment, 1e10)'),
	('anonymized_comments(comment, user_id, ''Infinity''::numeric)'),
	('anonymized_comments(comment, 3 + (score > 3)::int::bigint)')
) AS v(arg);
SET anonymize.min_threshold = 5;
SELECT driver_error('SELECT anonymize.anonymized_breakout(department, score, 4::bigint, ''very_sensitive''::text) FROM driver_responses') AS below_floor,
       driver_error('SELECT anonymize.anonymized_comments(comment, user_id, 4::numeric) FROM driver_responses') AS comments_below_floor;
RESET anonymize.min_threshold;
-- a numeric threshold is read as double precision: one that differs from a
-- whole number by less than its precision is that number
SELECT anonymize.anonymized_breakout(department, score, 5.0000000000000001)
	= anonymize.anonymized_breakout(department, score, 5) AS read_as_five
FROM driver_responses;

-- Parallel: the driver forms combine, serialize and deserialize as the
-- original forms do, and answer the same.
CREATE TABLE driver_events (country text, risk int, user_id bigint, score float8, comment text);
INSERT INTO driver_events
SELECT CASE WHEN i % 101 = 0 THEN NULL ELSE 'c' || (hashint4(i) & 2147483647) % 40 END,
       i % 3, (hashint4(i + 7) & 2147483647) % 3000,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 10 END,
       CASE WHEN i % 997 = 0 THEN 'comment ' || (i % 13) END
FROM generate_series(1, 60000) AS i;
ANALYZE driver_events;
\set driver_forms 'SELECT anonymize.anonymized_breakout(country, score, 60::bigint) AS one, anonymize.anonymized_breakout(country, score, 60::numeric, ''somewhat_sensitive''::varchar) AS one_text, anonymize.anonymized_breakout(country, score, 20::bigint, ''very_sensitive''::text, user_id) AS people, anonymize.anonymized_breakout(country, risk, score, 40::bigint, ''very_sensitive''::text, ''somewhat_sensitive''::text) AS two, anonymize.anonymized_comments(comment, user_id, 3::bigint) AS authored FROM driver_events'
\set original_forms 'SELECT anonymize.anonymized_breakout(country, score, 60) AS one, anonymize.anonymized_breakout(country, score, 60, ''somewhat_sensitive'') AS one_text, anonymize.anonymized_breakout(country, score, 20, ''very_sensitive'', user_id) AS people, anonymize.anonymized_breakout(country, risk, score, 40, ''very_sensitive'', ''somewhat_sensitive'') AS two, anonymize.anonymized_comments(comment, user_id, 3) AS authored FROM driver_events'
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) :driver_forms;
-- workers really run (and the leader reads no rows): EXPLAIN ANALYZE of the
-- statement that stores the result
CREATE FUNCTION driver_workers(query text) RETURNS SETOF text
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
SELECT driver_workers('CREATE TABLE driver_parallel AS ' || :'driver_forms');
RESET parallel_leader_participation;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE driver_serial AS :original_forms;
SELECT s.one = p.one AS one, s.one_text = p.one_text AS one_text, s.people = p.people AS people,
       s.two = p.two AS two, s.authored = p.authored AS authored,
       cardinality(s.one) AS one_groups, cardinality(s.two) AS two_cells
FROM driver_serial AS s, driver_parallel AS p;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
