-- anonymize.distribute() and key_check() on a server without Citus.
BEGIN;
SELECT plan(8);

SELECT is(anonymize.key_check(), (SELECT key_id FROM anonymize.secret),
	'key_check gives the key id of the database, its file verified');
SELECT ok(NOT has_function_privilege('public', 'anonymize.key_check()', 'EXECUTE'),
	'key_check is not executable by PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'anonymize.distribute()', 'EXECUTE'),
	'distribute is not executable by PUBLIC');
SELECT throws_ok($$SELECT * FROM anonymize.distribute()$$, '55000',
	'Citus is not installed in this database', 'distribute without Citus');
SELECT throws_ok($$SELECT anonymize.remote_pseudonym('default', decode(repeat('00', 32), 'hex'), NULL, NULL, decode(repeat('00', 16), 'hex'))$$,
	'0A000', 'anonymize.remote_pseudonym() runs only on a Citus coordinator', 'remote_pseudonym without Citus');
SELECT throws_ok($$SELECT anonymize.remote_forget_epoch(decode(repeat('00', 16), 'hex'))$$,
	'0A000', 'anonymize.remote_forget_epoch() runs only on a Citus coordinator', 'remote_forget_epoch without Citus');

CREATE ROLE tap_distribute_plain;
GRANT USAGE ON SCHEMA anonymize TO tap_distribute_plain;
GRANT EXECUTE ON FUNCTION anonymize.distribute(), anonymize.key_check() TO tap_distribute_plain;
SET ROLE tap_distribute_plain;
SELECT throws_ok($$SELECT * FROM anonymize.distribute()$$, '42501',
	'must be superuser to distribute anonymize', 'distribute by a plain role, even granted');
SELECT throws_ok($$SELECT anonymize.key_check()$$, '42501',
	'must be superuser to check the secret key of anonymize', 'key_check by a plain role, even granted');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
