-- Privileges: a role that inserts events needs nothing on the extension and
-- can read neither the secret nor the map; the administrative functions are
-- not executable by PUBLIC; a table owner who is not a superuser can protect
-- a table once granted EXECUTE.
CREATE ROLE regress_writer;
CREATE ROLE regress_owner;
CREATE TABLE priv_events (id int, user_id text, ip inet);
SELECT anonymize.protect('priv_events', ARRAY['user_id=pseudonym', 'ip=generalize_ip']);
GRANT INSERT, SELECT ON priv_events TO regress_writer;
GRANT SELECT ON priv_events TO regress_owner;
SET ROLE regress_writer;
INSERT INTO priv_events VALUES (1, 'ann@acme.com', '10.1.2.3');
SELECT user_id <> 'ann@acme.com' AS anonymized, ip FROM priv_events;
-- even with USAGE on the schema, the tables and functions stay closed
RESET ROLE;
GRANT USAGE ON SCHEMA anonymize TO regress_writer;
SET ROLE regress_writer;
SELECT * FROM anonymize.secret;
SELECT * FROM anonymize.pseudonyms;
SELECT * FROM anonymize.tenant_policies;
SELECT anonymize.forget('ann@acme.com');
SELECT anonymize.set_tenant_policy('priv-tenant', false);
SELECT anonymize.protect('priv_events', ARRAY['id=strip']);
SELECT table_name, rules FROM anonymize.protected_tables;
RESET ROLE;
-- a table owner who is not a superuser
GRANT USAGE ON SCHEMA anonymize TO regress_owner;
GRANT CREATE ON SCHEMA public TO regress_owner;
SET ROLE regress_owner;
CREATE TABLE priv_owned (id int, user_id text);
SELECT anonymize.protect('priv_owned', ARRAY['user_id=pseudonym']);
RESET ROLE;
GRANT EXECUTE ON FUNCTION anonymize.protect(regclass, text[], name, text[], name, boolean, text) TO regress_owner;
SET ROLE regress_owner;
SELECT anonymize.protect('priv_events', ARRAY['id=strip']);
SELECT anonymize.protect('priv_owned', ARRAY['user_id=pseudonym']);
INSERT INTO priv_owned VALUES (1, 'ann@acme.com');
SELECT o.user_id = e.user_id AS same_person FROM priv_owned AS o, priv_events AS e;
-- the owner can neither remove protection nor change the superuser-only settings
DROP TRIGGER zzz_anonymize_protect ON priv_owned;
ALTER TABLE priv_owned DISABLE TRIGGER ALL;
SET anonymize.tenant_default = 'policy';
SET anonymize.min_threshold = 1;
RESET ROLE;
-- forget granted to a privacy officer
GRANT EXECUTE ON FUNCTION anonymize.forget(text, text) TO regress_writer;
SET ROLE regress_writer;
SELECT anonymize.forget('ann@acme.com');
RESET ROLE;
DROP TABLE priv_events, priv_owned;
REVOKE CREATE ON SCHEMA public FROM regress_owner;
DROP OWNED BY regress_writer, regress_owner;
DROP ROLE regress_writer, regress_owner;
