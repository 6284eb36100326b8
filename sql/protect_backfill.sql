-- Protecting a table that already holds rows: backfill rewrites them in the
-- same transaction; VACUUM FULL then removes the old row versions, so the
-- table's files hold no identifier.
CREATE TABLE backfill_events (id int PRIMARY KEY, user_id text, ip inet, kind text);
CREATE INDEX ON backfill_events (user_id);
INSERT INTO backfill_events
SELECT i, 'person-' || (i % 500) || '@legacy.example', ('10.1.' || (i % 200) || '.' || (i % 250))::inet,
       CASE WHEN i % 2 = 0 THEN 'page_view' ELSE 'feed_post' END
FROM generate_series(1, 20001) AS i;
INSERT INTO backfill_events VALUES (0, 'zelda-unique-identifier', '192.0.2.77', 'page_view');

-- without backfill: refused, nothing changes
SELECT anonymize.protect('backfill_events', ARRAY['user_id=pseudonym', 'ip=generalize_ip']);
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'backfill_events'::regclass;

-- a backfill that rolls back leaves nothing behind either
BEGIN;
SELECT anonymize.protect('backfill_events', ARRAY['user_id=pseudonym', 'ip=generalize_ip'],
	backfill => true, when_condition => 'NEW.kind = ''page_view''');
SELECT count(*) FILTER (WHERE user_id LIKE 'person-%') AS identifiers_left FROM backfill_events;
ROLLBACK;
SELECT count(*) FILTER (WHERE user_id LIKE 'person-%') AS identifiers,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'backfill_events'::regclass) AS triggers
FROM backfill_events;

-- with backfill, by the same rules as the trigger, WHEN condition included
SELECT anonymize.protect('backfill_events', ARRAY['user_id=pseudonym', 'ip=generalize_ip'],
	backfill => true, when_condition => 'NEW.kind = ''page_view''');
SELECT kind, count(*) AS rows,
       count(*) FILTER (WHERE user_id LIKE 'person-%' OR user_id LIKE 'zelda%') AS identifiers,
       count(DISTINCT user_id) AS people, count(DISTINCT ip) AS networks
FROM backfill_events GROUP BY kind ORDER BY kind;
SELECT user_id <> 'zelda-unique-identifier' AS anonymized, ip FROM backfill_events WHERE id = 0;

-- The old row versions still hold the identifier until the table is rewritten.
-- (the table and index are far below 1 GB, so each is one segment file)
CREATE FUNCTION backfill_files_hold(rel regclass, needle text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	CHECKPOINT;
	RETURN position(convert_to(needle, 'UTF8') IN
		pg_read_binary_file(pg_relation_filepath(rel))) > 0;
END $$;
SELECT backfill_files_hold('backfill_events', 'zelda-unique-identifier') AS table_holds_it,
       backfill_files_hold('backfill_events_user_id_idx', 'zelda-unique-identifier') AS index_holds_it;
VACUUM FULL backfill_events;
SELECT backfill_files_hold('backfill_events', 'zelda-unique-identifier') AS table_holds_it,
       backfill_files_hold('backfill_events_user_id_idx', 'zelda-unique-identifier') AS index_holds_it,
       backfill_files_hold('backfill_events', 'legacy.example') AS table_holds_others;
-- (feed posts are kept by the WHEN condition, so their identifiers remain)
SELECT count(*) AS kept_feed_posts FROM backfill_events WHERE user_id LIKE 'person-%';

DROP TABLE backfill_events;
DROP FUNCTION backfill_files_hold;
