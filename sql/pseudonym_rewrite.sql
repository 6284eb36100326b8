-- A value written back into a protected column that already is a pseudonym
-- of the column's namespace (an upsert's EXCLUDED, a copy from another
-- protected table) is stored as it is; forget() removes every map row that
-- links a person's pseudonyms, including the links earlier versions made.
-- In a database of its own with a known key, so that pgcrypto can compute
-- the map's keys independently.
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS anonymize_rewrite;
RESET client_min_messages;
CREATE DATABASE anonymize_rewrite;
\c anonymize_rewrite
CREATE EXTENSION pgcrypto;
CREATE EXTENSION anonymize VERSION '0.3.0';
-- the known key (bytes 0 to 31)
INSERT INTO anonymize.secret SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex')
	FROM generate_series(0, 31) AS i;
CREATE FUNCTION map_key(purpose text, ns text, value text) RETURNS bytea
LANGUAGE sql AS $$
	SELECT hmac(convert_to(purpose || ns, 'UTF8') || '\x00'::bytea || convert_to(value, 'UTF8'),
	            (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') FROM generate_series(0, 31) AS i), 'sha256')
$$;
-- the bigint form of a pseudonym
CREATE FUNCTION int8_form(p uuid) RETURNS bigint
LANGUAGE sql AS $$
	SELECT greatest(('x' || substr(replace(p::text, '-', ''), 1, 16))::bit(64)::bigint
	                & 9223372036854775807, 1)
$$;

-- A table protected under 0.3.0, and a link such as 0.3.0 made when an
-- upsert wrote EXCLUDED back: a pseudonym of ann's pseudonym.  Upgrading
-- marks the pseudonyms found in protected columns (the map had no markers).
CREATE TABLE rw_old (id int PRIMARY KEY, email text);
SELECT anonymize.protect('rw_old', ARRAY['email=pseudonym']);
INSERT INTO rw_old VALUES (1, 'old@acme.com');
INSERT INTO anonymize.pseudonyms
	SELECT map_key('p', 'default', email), gen_random_uuid() FROM rw_old;
DELETE FROM anonymize.pseudonyms WHERE lookup IN
	(SELECT map_key('m', 'default', int8_form(pseudonym)::text) FROM anonymize.pseudonyms);
SELECT count(*) AS map_rows FROM anonymize.pseudonyms;
ALTER EXTENSION anonymize UPDATE TO '0.4.0';
SELECT count(*) AS map_rows,
       count(*) FILTER (WHERE lookup = map_key('m', 'default', int8_form(pseudonym)::text)) AS markers
FROM anonymize.pseudonyms;
-- the stored pseudonym written back is kept
INSERT INTO rw_old VALUES (1, 'old@acme.com') ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email;
SELECT count(DISTINCT email) AS pseudonyms, count(*) AS rows FROM
	(SELECT email FROM rw_old UNION ALL
	 SELECT pseudonym::text FROM anonymize.pseudonyms WHERE lookup = map_key('p', 'default', 'old@acme.com')) AS s;

-- Upserts of text, uuid and bigint columns keep the person's pseudonyms.
CREATE TABLE rw_users (id int PRIMARY KEY, email text, uid uuid, n bigint);
SELECT anonymize.protect('rw_users', ARRAY['email=pseudonym', 'uid=pseudonym', 'n=pseudonym']);
INSERT INTO rw_users VALUES (1, 'ann@acme.com', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 42),
	(2, 'ann@acme.com', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 42);
INSERT INTO rw_users VALUES (1, 'Ann@ACME.com', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 42)
	ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, uid = EXCLUDED.uid, n = EXCLUDED.n;
-- an UPDATE that writes the stored values back, and one that copies them
UPDATE rw_users SET email = email || '', n = n + 0 WHERE id = 2;
SELECT count(DISTINCT email) AS emails, count(DISTINCT uid) AS uids, count(DISTINCT n) AS ns
FROM rw_users;
-- a pseudonym of the namespace copied into another table of the namespace
-- is kept; into a table of another namespace it is pseudonymized there
CREATE TABLE rw_copy (email text, uid uuid);
SELECT anonymize.protect('rw_copy', ARRAY['email=pseudonym', 'uid=pseudonym']);
CREATE TABLE rw_crm (email text);
SELECT anonymize.protect('rw_crm', ARRAY['email=pseudonym:crm']);
INSERT INTO rw_copy SELECT email, uid FROM rw_users WHERE id = 1;
INSERT INTO rw_crm SELECT email FROM rw_users WHERE id = 1;
SELECT c.email = u.email AS copy_kept, c.uid = u.uid AS uuid_kept, m.email <> u.email AS other_namespace_new
FROM rw_users u, rw_copy c, rw_crm m WHERE u.id = 1;
-- a pseudonym in upper case is the pseudonym; a bigint pseudonym written
-- into a text column is an identifier like any other (and the same as the
-- link 0.3.0 made when a bigint pseudonym was written back)
INSERT INTO rw_copy SELECT upper(email), NULL FROM rw_users WHERE id = 1;
INSERT INTO rw_copy SELECT n::text, NULL FROM rw_users WHERE id = 1;
SELECT count(DISTINCT email) AS pseudonyms,
       count(*) FILTER (WHERE email = (SELECT email FROM rw_users WHERE id = 1)) AS kept
FROM rw_copy;
-- each pseudonym has its marker
SELECT count(*) AS markers FROM anonymize.pseudonyms
WHERE lookup = map_key('m', 'default', int8_form(pseudonym)::text)
   OR lookup = map_key('m', 'crm', int8_form(pseudonym)::text);

-- A link such as 0.3.0 made when an upper-case copy of a pseudonym was written.
INSERT INTO anonymize.pseudonyms
	SELECT map_key('p', 'default', upper(uid::text)), gen_random_uuid() FROM rw_users WHERE id = 1;

-- forget() removes the links of ann's identifiers (the uuid in upper case
-- and the number with a sign and leading zero, as a person may give them),
-- their markers, the pseudonym of her pseudonym in crm, the link of her
-- bigint pseudonym as text and that of her uuid pseudonym in upper case: only
-- old@acme.com's rows are left; then none.
SELECT anonymize.forget('ann@acme.com') AS email,
       anonymize.forget('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11') AS uuid,
       anonymize.forget('+042') AS number;
SELECT count(*) AS map_rows FROM anonymize.pseudonyms;
SELECT anonymize.forget('old@acme.com') AS old;
SELECT count(*) AS map_rows FROM anonymize.pseudonyms;

-- A link such as earlier versions made in a database of locale C, where only
-- ASCII letters were folded: forget() finds it.
INSERT INTO anonymize.pseudonyms VALUES (map_key('p', 'default', 'Änn@acme.com'), gen_random_uuid());
SELECT anonymize.forget('ÄNN@ACME.com') AS forgotten;
SELECT count(*) AS map_rows FROM anonymize.pseudonyms;

-- The backends' caches of pseudonyms survive ANALYZE of the map, and are
-- emptied by TRUNCATE of the map (and by forget()).  The map row is deleted
-- by hand here, which sends no invalidation, to show what the cache answers.
CREATE TABLE rw_cache (email text);
SELECT anonymize.protect('rw_cache', ARRAY['email=pseudonym']);
INSERT INTO rw_cache VALUES ('cache@acme.com');
DELETE FROM anonymize.pseudonyms WHERE lookup = map_key('p', 'default', 'cache@acme.com');
ANALYZE anonymize.pseudonyms;
INSERT INTO rw_cache VALUES ('cache@acme.com');
SELECT count(DISTINCT email) AS pseudonyms FROM rw_cache;
TRUNCATE anonymize.pseudonyms;
INSERT INTO rw_cache VALUES ('cache@acme.com');
SELECT count(DISTINCT email) AS pseudonyms FROM rw_cache;

\c :regress_db
DROP DATABASE anonymize_rewrite;
