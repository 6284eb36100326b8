-- Loaded by test/run before pg_dump: protected tables holding events of
-- people whose identifiers must appear nowhere in the dump.
CREATE EXTENSION anonymize;
CREATE TABLE dump_events (id int, kind text, user_id text, email text, ip inet, note text);
SELECT anonymize.protect('dump_events', ARRAY['user_id=pseudonym', 'email=hash', 'ip=generalize_ip', 'note=strip'],
	when_condition => $$NEW.kind <> 'feed_post'$$);
CREATE TABLE dump_parted (id int, user_id uuid, at date) PARTITION BY RANGE (at);
CREATE TABLE dump_parted_2024 PARTITION OF dump_parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT anonymize.protect('dump_parted', ARRAY['user_id=pseudonym:accounts']);
INSERT INTO dump_events
SELECT i, 'page_view', 'dumpperson' || (i % 50) || '@Example.com', 'dumpmail' || i || '@example.com',
       ('198.51.100.' || (i % 200))::inet, 'dumpnote' || i
FROM generate_series(1, 1000) AS i;
INSERT INTO dump_events VALUES (0, 'feed_post', 'kept-public-author', NULL, NULL, 'kept-public-post');
INSERT INTO dump_parted VALUES (1, 'dddddddd-0000-4000-8000-00000000d0d0', '2024-06-01');
SELECT anonymize.set_tenant_policy('dump-tenant', true);
SELECT anonymize.forget('dumpperson7@example.com');
-- A labelled table with anonymized access: labels and grants are dumped.
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dump_bi') THEN CREATE ROLE dump_bi; END IF; END $$;
CREATE TABLE dump_survey (dept text, score float8);
INSERT INTO dump_survey SELECT CASE WHEN i <= 6 THEN 'Sales' WHEN i <= 8 THEN 'Eng' ELSE 'Legal' END, i FROM generate_series(1, 10) AS i;
SELECT anonymize.label('dump_survey', 'dept', 'very_sensitive');
SELECT anonymize.set_threshold('dump_survey', 3);
SELECT anonymize.grant_anonymized('dump_survey', 'dump_bi');
-- Rollups: a table of breakout states, by people (pseudonyms); restored, it
-- answers the same.
CREATE TABLE dump_rollup AS
	SELECT id % 3 AS part, anonymize.breakout_partial('quarter ' || id % 4, id, 2, 'very_sensitive', user_id) AS state
	FROM dump_events GROUP BY 1;
