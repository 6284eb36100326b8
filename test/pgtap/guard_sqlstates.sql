-- SQLSTATEs of the errors of the guard, of the trigger's registry check and
-- of what protect() refuses since 0.4.0.
BEGIN;
SELECT plan(22);

CREATE TABLE gev (id int, email text, kind text, day date,
	low text GENERATED ALWAYS AS (lower(kind)) STORED);
SELECT anonymize.protect('gev', '{email=pseudonym}');
CREATE TABLE gparted (id int, email text) PARTITION BY RANGE (id);
SELECT anonymize.protect('gparted', '{email=pseudonym}');
CREATE TABLE gfull (id int, email text);
INSERT INTO gfull VALUES (1, 'ann@acme.com');
CREATE TABLE gplain (x text);
CREATE FUNCTION gnoop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION gtrue(text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE TEMP TABLE gtemp (email text);
CREATE TABLE gtenant (id int, email text, day date, email2 text GENERATED ALWAYS AS (lower(email)) STORED);

-- the trigger refuses to run unless protect() installed it
CREATE TRIGGER zzz_anonymize_protect BEFORE INSERT ON gplain FOR EACH ROW
	EXECUTE FUNCTION anonymize.protect_trigger('rule', 'x', 'pseudonym');
SELECT throws_ok($$INSERT INTO gplain VALUES ('ann@acme.com')$$, '39P01', NULL,
	'a trigger protect() did not install');
DROP TRIGGER zzz_anonymize_protect ON gplain;

-- the guard: the state after a command
SELECT throws_ok($$CREATE OR REPLACE TRIGGER zzz_anonymize_protect BEFORE INSERT OR UPDATE ON gev
	FOR EACH ROW EXECUTE FUNCTION gnoop()$$, '55000', NULL, 'a replaced trigger');
SELECT throws_ok($$ALTER TABLE gev DISABLE TRIGGER zzz_anonymize_protect$$, '55000', NULL,
	'a disabled trigger');
SELECT throws_ok($$ALTER TRIGGER zzz_anonymize_protect ON gev RENAME TO a$$, '55000', NULL,
	'a renamed trigger');
SELECT throws_ok($$CREATE TRIGGER zzzz BEFORE INSERT ON gev FOR EACH ROW EXECUTE FUNCTION gnoop()$$,
	'55000', NULL, 'a trigger firing after it');
SELECT throws_ok($$CREATE RULE r AS ON INSERT TO gev DO ALSO NOTIFY gev$$, '55000', NULL, 'a rule');
SELECT throws_ok($$CREATE TABLE gchild () INHERITS (gev)$$, '55000', NULL, 'an inheritance child');
SELECT throws_ok($$ALTER TABLE gev RENAME COLUMN email TO e$$, '55000', NULL, 'a renamed column');
SELECT throws_ok($$ALTER TABLE gev DROP COLUMN email$$, '55000', NULL, 'a dropped column');
SELECT throws_ok($$ALTER TABLE gev ALTER COLUMN email TYPE varchar$$, '55000', NULL,
	'a column type change');
SELECT throws_ok($$ALTER TABLE gparted ATTACH PARTITION gfull FOR VALUES FROM (0) TO (10)$$,
	'55000', NULL, 'attaching a table with rows');
CREATE TABLE gpart1 PARTITION OF gparted FOR VALUES FROM (10) TO (20);
SELECT throws_ok($$ALTER TABLE gparted DETACH PARTITION gpart1$$, '55000', NULL,
	'detaching a partition');
SELECT throws_ok($$DROP TRIGGER zzz_anonymize_protect ON gpart1$$, '2BP01', NULL,
	'dropping the copy of the trigger on a partition');
SET client_min_messages = error;
SELECT lives_ok($$DROP TRIGGER zzz_anonymize_protect ON gev$$, 'dropping the trigger puts it back');
RESET client_min_messages;
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'gev'::regclass
           AND tgname = 'zzz_anonymize_protect' AND tgenabled = 'A'), 1, 'the trigger is back');
SELECT throws_ok($$DROP EXTENSION anonymize$$, '2BP01', NULL, 'dropping the extension');

-- protect()
SELECT throws_ok($$SELECT anonymize.protect('gtemp', '{email=strip}')$$, '0A000', NULL,
	'a temporary table');
SELECT throws_ok($$SELECT anonymize.protect('gtenant', '{email=strip}', tenant_column => 'day')$$,
	'42804', NULL, 'a date tenant column');
SELECT throws_ok($$SELECT anonymize.protect('gtenant', '{email=strip}', email_column => 'email2',
	email_domains => '{acme.com}')$$, '0A000', NULL, 'a generated e-mail column');
SELECT throws_ok($$SELECT anonymize.protect('gtenant', '{email=strip}', when_condition => 'gtrue(NEW.email)')$$,
	'0A000', NULL, 'a condition calling a user function');
SELECT throws_ok($$SELECT anonymize.protect('gtenant', ARRAY[E'email=pseudonym:a\nb'])$$, '22023', NULL,
	'a control character in a rule');
SELECT throws_ok($$SELECT anonymize.normalize_domain('acme.com.')$$, '22023', NULL,
	'a malformed domain');

SELECT * FROM finish();
ROLLBACK;
