-- SQLSTATEs of every error a user can cause with protect(), forget(),
-- set_tenant_policy() and the protection guard.
BEGIN;
SELECT plan(40);

CREATE TABLE ev (
	id int NOT NULL,
	user_id text,
	email text,
	ip inet,
	at timestamptz,
	n int,
	g int GENERATED ALWAYS AS (n + 1) STORED,
	tenant text
);
CREATE TABLE full_table (user_id text);
INSERT INTO full_table VALUES ('alice');
CREATE VIEW ev_view AS SELECT * FROM ev;
CREATE TABLE parted (user_id text, k int) PARTITION BY LIST (k);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1);

-- rules
SELECT throws_ok($$SELECT anonymize.protect('ev', '{nosuch=strip}')$$, '42703',
	'column "nosuch" of relation "ev" does not exist', 'unknown column');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=scramble}')$$, '22023', NULL,
	'unknown action');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id}')$$, '22023', NULL,
	'a rule without an action');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{=strip}')$$, '22023', NULL,
	'a rule without a column');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{ip=generalize_ip:33}')$$, '22023', NULL,
	'IPv4 bits out of range');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{ip=generalize_ip:24:129}')$$, '22023', NULL,
	'IPv6 bits out of range');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{at=truncate:fortnight}')$$, '22023', NULL,
	'unknown truncation unit');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=pseudonym:}')$$, '22023', NULL,
	'an empty namespace');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip,user_id=pseudonym}')$$, '22023',
	'column "user_id" has more than one rule', 'two rules for one column');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{}')$$, '22023',
	'at least one rule is required', 'no rules');
SELECT throws_ok($$SELECT anonymize.protect('ev', NULL)$$, '22004',
	'rules must not be null', 'NULL rules');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{NULL}')$$, '22004',
	'rules must not be null', 'a NULL rule');
SELECT throws_ok($$SELECT anonymize.protect(NULL, '{user_id=strip}')$$, '22004',
	'table must not be null', 'NULL table');

-- rules that do not fit the column
SELECT throws_ok($$SELECT anonymize.protect('ev', '{id=strip}')$$, '22023',
	'cannot strip column "id" because it is NOT NULL', 'strip on a NOT NULL column');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{n=generalize_ip}')$$, '42804',
	'action "generalize_ip" cannot be applied to column "n" of type integer',
	'an action that does not fit the type');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{ip=truncate:day}')$$, '42804', NULL,
	'truncate on an address');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{at=pseudonym}')$$, '42804', NULL,
	'pseudonym on a timestamp');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{ctid=strip}')$$, '0A000',
	'cannot anonymize system column "ctid"', 'a system column');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{g=strip}')$$, '0A000',
	'cannot anonymize generated column "g"', 'a generated column');

-- scope
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', email_column => 'email')$$,
	'22023', 'email_column and email_domains must be given together', 'a domain list is needed');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', 'email', '{}')$$, '22023',
	'the list of e-mail domains is empty', 'an empty domain list');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', 'email', '{"not a domain"}')$$,
	'22023', 'invalid e-mail domain "not a domain"', 'a malformed domain');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', 'n', '{acme.com}')$$, '42804',
	'e-mail column "n" must be of type text or varchar', 'an e-mail column that is not text');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', tenant_column => 'nosuch')$$,
	'42703', NULL, 'an unknown tenant column');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', when_condition => 'NEW.nosuch > 1')$$,
	'42703', NULL, 'a condition over an unknown column');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', when_condition => 'true; DROP TABLE ev')$$,
	'42601', NULL, 'a condition that is not one expression');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}', when_condition => 'NEW.n + 1')$$,
	'42804', NULL, 'a condition that is not boolean');

-- tables
SELECT throws_ok($$SELECT anonymize.protect('full_table', '{user_id=strip}')$$, '55000',
	'table "full_table" already holds rows', 'a table with rows needs backfill');
SELECT throws_ok($$SELECT anonymize.protect('ev_view', '{user_id=strip}')$$, '42809',
	'"ev_view" is not a table', 'a view');
SELECT throws_ok($$SELECT anonymize.protect('parted_1', '{user_id=strip}')$$, '42809',
	'"parted_1" is a partition', 'a partition on its own');
SELECT is((SELECT count(*) FROM anonymize.protected_tables), 0::bigint,
	'no failed call protected anything');

-- weakening and removing protection
SELECT anonymize.protect('ev', '{user_id=pseudonym}');
SELECT throws_ok($$SELECT anonymize.protect('ev', '{user_id=strip}')$$, '55000', NULL,
	'a rule cannot be replaced');
SELECT throws_ok($$ALTER TRIGGER zzz_anonymize_protect ON ev RENAME TO t$$, '55000', NULL,
	'the trigger cannot be renamed');
SELECT throws_ok($$ALTER TABLE ev DISABLE TRIGGER ALL$$, '55000', NULL,
	'the trigger cannot be disabled');
SELECT throws_ok($$DROP EXTENSION anonymize$$, '2BP01', NULL,
	'the extension cannot be dropped while tables are protected');

-- tenant policies
SELECT anonymize.set_tenant_policy('acme', true);
SELECT throws_ok($$SELECT anonymize.set_tenant_policy('acme', false)$$, '23505', NULL,
	'a tenant policy is set once');
SELECT throws_ok($$SELECT anonymize.set_tenant_policy(NULL, true)$$, '22004', NULL,
	'a NULL tenant');

-- the trigger function outside protect()
SELECT throws_ok($$SELECT anonymize.protect_trigger()$$, '39P01', NULL,
	'the trigger function cannot be called by hand');

-- a value that is no address: 22P02, and the message names the column,
-- the table and the rule, never the value
CREATE TABLE ip_text (ip text);
SELECT anonymize.protect('ip_text', '{ip=generalize_ip}');
SELECT throws_ok($$INSERT INTO ip_text VALUES ('ann.smith@acme.com')$$, '22P02',
	'column "ip" of relation "ip_text" does not hold an IP address',
	'generalize_ip on text that is no address');
CREATE FUNCTION pg_temp.error_text(query text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	msg text;
	detail text;
BEGIN
	EXECUTE query;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN msg || ' ' || coalesce(detail, '');
END
$f$;
SELECT unalike(pg_temp.error_text($$INSERT INTO ip_text VALUES ('ann.smith@acme.com')$$),
	'%ann.smith%', 'neither message nor detail holds the value');

SELECT * FROM finish();
ROLLBACK;
