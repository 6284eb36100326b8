-- Bad input to protect() and misuse of the trigger: a clear error with an
-- errcode, and nothing changed.
CREATE TABLE errors_events (
	id int PRIMARY KEY, user_id text NOT NULL, email text, ip inet, at timestamptz,
	n int, short varchar(10), total int GENERATED ALWAYS AS (id * 2) STORED
);
CREATE VIEW errors_view AS SELECT * FROM errors_events;

-- unknown column, system columns, generated columns
SELECT anonymize.protect('errors_events', ARRAY['nope=strip']);
SELECT anonymize.protect('errors_events', ARRAY['ctid=strip']);
SELECT anonymize.protect('errors_events', ARRAY['xmin=strip']);
SELECT anonymize.protect('errors_events', ARRAY['total=strip']);
-- actions that do not fit the column's type
SELECT anonymize.protect('errors_events', ARRAY['ip=pseudonym']);
SELECT anonymize.protect('errors_events', ARRAY['n=hash']);
SELECT anonymize.protect('errors_events', ARRAY['at=generalize_ip']);
SELECT anonymize.protect('errors_events', ARRAY['email=truncate:day']);
SELECT anonymize.protect('errors_events', ARRAY['ip=email_domain']);
SELECT anonymize.protect('errors_events', ARRAY['short=pseudonym']);
-- strip on a NOT NULL column
SELECT anonymize.protect('errors_events', ARRAY['user_id=strip']);
-- unknown actions and malformed rules
SELECT anonymize.protect('errors_events', ARRAY['email=encrypt']);
SELECT anonymize.protect('errors_events', ARRAY['email']);
SELECT anonymize.protect('errors_events', ARRAY['=strip']);
SELECT anonymize.protect('errors_events', ARRAY['email=strip:now']);
SELECT anonymize.protect('errors_events', ARRAY['email=pseudonym:']);
SELECT anonymize.protect('errors_events', ARRAY['ip=generalize_ip:33']);
SELECT anonymize.protect('errors_events', ARRAY['ip=generalize_ip:24:129']);
SELECT anonymize.protect('errors_events', ARRAY['ip=generalize_ip:x']);
SELECT anonymize.protect('errors_events', ARRAY['at=truncate:second']);
SELECT anonymize.protect('errors_events', ARRAY['at=truncate']);
SELECT anonymize.protect('errors_events', ARRAY['email=strip', 'email=hash']);
SELECT anonymize.protect('errors_events', ARRAY[]::text[]);
SELECT anonymize.protect('errors_events', NULL);
SELECT anonymize.protect('errors_events', ARRAY[NULL]);
SELECT anonymize.protect(NULL, ARRAY['email=strip']);
-- scope options
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], email_column => 'nope', email_domains => ARRAY['a.com']);
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], email_column => 'n', email_domains => ARRAY['a.com']);
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], email_column => 'email');
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], email_domains => ARRAY['a.com']);
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], email_column => 'email', email_domains => ARRAY['@a.com']);
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], email_column => 'email', email_domains => ARRAY['acme .com']);
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], email_column => 'email', email_domains => ARRAY[]::text[]);
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], tenant_column => 'nope');
-- malformed WHEN conditions, including one that tries to end the statement
-- (a condition is parsed on its own first, so it cannot close the WHEN clause)
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], when_condition => 'NEW.nope = 1');
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], when_condition => 'NEW.n +');
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], when_condition => 'true) EXECUTE FUNCTION suppress_redundant_updates_trigger(); --');
SELECT anonymize.protect('errors_events', ARRAY['ip=strip'], when_condition => 'NEW.n');
-- not a table, a partition
SELECT anonymize.protect('errors_view', ARRAY['ip=strip']);
CREATE TABLE errors_parted (id int, ip inet) PARTITION BY RANGE (id);
CREATE TABLE errors_part PARTITION OF errors_parted FOR VALUES FROM (0) TO (10);
SELECT anonymize.protect('errors_part', ARRAY['ip=strip']);
-- a table with rows, without backfill
INSERT INTO errors_events (id, user_id) VALUES (1, 'u');
SELECT anonymize.protect('errors_events', ARRAY['ip=strip']);

-- nothing above left a trace
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid IN ('errors_events'::regclass, 'errors_parted'::regclass);
SELECT count(*) AS registered FROM anonymize.protected_tables;

-- The trigger function only works as installed by protect().
SELECT anonymize.protect_trigger();
CREATE TABLE errors_misuse (id int, ip inet);
INSERT INTO errors_misuse VALUES (0, '1.2.3.4');
CREATE TRIGGER a_after AFTER INSERT ON errors_misuse FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'ip', 'strip');
INSERT INTO errors_misuse VALUES (1, '1.2.3.4');
DROP TRIGGER a_after ON errors_misuse;
CREATE TRIGGER a_stmt BEFORE INSERT ON errors_misuse FOR EACH STATEMENT
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'ip', 'strip');
INSERT INTO errors_misuse VALUES (1, '1.2.3.4');
DROP TRIGGER a_stmt ON errors_misuse;
CREATE TRIGGER a_delete BEFORE DELETE ON errors_misuse FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'ip', 'strip');
DELETE FROM errors_misuse;
DROP TRIGGER a_delete ON errors_misuse;
CREATE TRIGGER a_args BEFORE INSERT ON errors_misuse FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('ip=strip');
INSERT INTO errors_misuse VALUES (1, '1.2.3.4');
DROP TRIGGER a_args ON errors_misuse;
CREATE TRIGGER a_bad BEFORE INSERT ON errors_misuse FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'ip', 'encrypt');
INSERT INTO errors_misuse VALUES (1, '1.2.3.4');
DROP TRIGGER a_bad ON errors_misuse;
SELECT id, ip FROM errors_misuse;

-- Values the rules cannot read are errors, never stored as they are.
CREATE TABLE errors_ip_text (ip text);
SELECT anonymize.protect('errors_ip_text', ARRAY['ip=generalize_ip']);
INSERT INTO errors_ip_text VALUES ('not an address');
SELECT count(*) AS rows_stored FROM errors_ip_text;

DROP TABLE errors_events, errors_parted, errors_misuse, errors_ip_text CASCADE;
