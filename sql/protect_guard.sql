-- Once protected, always protected: the trigger cannot be dropped, disabled,
-- switched to REPLICA, renamed or outrun, including the partitions' copies,
-- and the extension cannot be dropped while protected tables exist.
CREATE TABLE guard_events (id int, user_id text, at date) PARTITION BY RANGE (at);
CREATE TABLE guard_2024 PARTITION OF guard_events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT anonymize.protect('guard_events', ARRAY['user_id=pseudonym']);
-- partitions created or attached later are covered too
CREATE TABLE guard_2025 PARTITION OF guard_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE guard_2026 (id int, user_id text, at date);
ALTER TABLE guard_events ATTACH PARTITION guard_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT tgrelid::regclass AS table_name, tgname, tgenabled, tgparentid <> 0 AS copy
FROM pg_trigger WHERE tgname = 'zzz_anonymize_protect' ORDER BY 1;
INSERT INTO guard_events VALUES (1, 'ann', '2024-03-01'), (2, 'ann', '2025-03-01'), (3, 'ann', '2026-03-01');
INSERT INTO guard_2026 VALUES (4, 'ann', '2026-04-01');
SELECT count(DISTINCT user_id) AS pseudonyms, bool_and(user_id <> 'ann') AS anonymized FROM guard_events;

-- every way to remove or weaken the trigger is refused
DROP TRIGGER zzz_anonymize_protect ON guard_events;
DROP TRIGGER zzz_anonymize_protect ON guard_2024;
ALTER TABLE guard_events DISABLE TRIGGER zzz_anonymize_protect;
ALTER TABLE guard_2025 DISABLE TRIGGER zzz_anonymize_protect;
ALTER TABLE guard_events DISABLE TRIGGER ALL;
ALTER TABLE guard_2024 DISABLE TRIGGER USER;
ALTER TABLE guard_events ENABLE TRIGGER zzz_anonymize_protect;
ALTER TABLE guard_events ENABLE TRIGGER ALL;
ALTER TABLE guard_events ENABLE REPLICA TRIGGER zzz_anonymize_protect;
ALTER TRIGGER zzz_anonymize_protect ON guard_events RENAME TO a_trigger;
ALTER TABLE guard_events RENAME COLUMN user_id TO person;
ALTER TABLE guard_events DETACH PARTITION guard_2024;
CREATE TRIGGER zzzz_late BEFORE INSERT ON guard_events FOR EACH ROW
	EXECUTE FUNCTION suppress_redundant_updates_trigger();
DROP EXTENSION anonymize;
DROP EXTENSION anonymize CASCADE;
DROP SCHEMA anonymize CASCADE;
-- ... also inside a transaction block and under session_replication_role
BEGIN;
SET LOCAL session_replication_role = replica;
ALTER TABLE guard_events DISABLE TRIGGER zzz_anonymize_protect;
ROLLBACK;

-- what stays allowed: harmless changes, other triggers, dropping the table
ALTER TABLE guard_events ENABLE ALWAYS TRIGGER zzz_anonymize_protect;
ALTER TABLE guard_events RENAME COLUMN id TO event_id;
ALTER TABLE guard_events ADD COLUMN note text;
CREATE TRIGGER a_early BEFORE INSERT ON guard_events FOR EACH ROW
	EXECUTE FUNCTION suppress_redundant_updates_trigger();
DROP TRIGGER a_early ON guard_events;
SELECT tgrelid::regclass AS table_name, tgenabled FROM pg_trigger
WHERE tgname = 'zzz_anonymize_protect' ORDER BY 1;
-- a partition can be dropped: its rows go with it
DROP TABLE guard_2026;
SELECT count(*) AS protected FROM anonymize.protected_tables WHERE table_name = 'guard_events'::regclass;
DROP TABLE guard_events;
SELECT count(*) AS protected FROM anonymize.protected_tables;
