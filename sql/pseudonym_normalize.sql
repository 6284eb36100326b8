-- Normalization does not depend on the database's locale: the same
-- non-ASCII e-mail addresses have the same hashes, under the same key, in a
-- database with LOCALE 'C' and in one with LOCALE 'C.UTF-8' (so a dump
-- restored into another locale keeps its pseudonyms).  The hashes were
-- computed independently: HMAC-SHA256 under the key of bytes 0 to 31 of
-- 'h', 'default', a zero byte and the address lower-cased by Unicode's simple
-- mapping.  So 1 and 2, 3 and 4, 6 and 7 are the same person; 11 and 12
-- are not (simple mapping: no "ß" to "ss"), and 13 has no lower case.
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS anonymize_locale_c;
DROP DATABASE IF EXISTS anonymize_locale_utf8;
RESET client_min_messages;
CREATE DATABASE anonymize_locale_c TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C';
CREATE DATABASE anonymize_locale_utf8 TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8';

\c anonymize_locale_c
SELECT datctype FROM pg_database WHERE datname = current_database();
CREATE EXTENSION anonymize;
-- the known key
INSERT INTO anonymize.secret SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex')
	FROM generate_series(0, 31) AS i;
CREATE TABLE norm (id int, email text);
SELECT anonymize.protect('norm', ARRAY['email=hash']);
INSERT INTO norm VALUES
	(1, 'ÄLICE@BÜCHER.DE'), (2, ' älice@bücher.de'),
	(3, 'İSTANBUL@ÖRNEK.COM.TR'), (4, 'istanbul@örnek.com.tr'),
	(5, 'ΣΊΣΥΦΟΣ@ΠΑΡΆΔΕΙΓΜΑ.GR'), (6, 'ǄEMAL@X.ORG'), (7, 'ǅemal@x.org'),
	(8, 'ЖЕНЯ@ПРИМЕР.РФ'), (9, 'ARMENIAN-Ա@X.ORG'), (10, 'Ⓐ@X.ORG'),
	(11, 'straße@x.org'), (12, 'STRASSE@X.ORG'), (13, 'ﬀ@X.ORG');
SELECT id, email FROM norm ORDER BY id;

\c anonymize_locale_utf8
SELECT datctype FROM pg_database WHERE datname = current_database();
CREATE EXTENSION anonymize;
-- the known key
INSERT INTO anonymize.secret SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex')
	FROM generate_series(0, 31) AS i;
CREATE TABLE norm (id int, email text);
SELECT anonymize.protect('norm', ARRAY['email=hash']);
INSERT INTO norm VALUES
	(1, 'ÄLICE@BÜCHER.DE'), (2, ' älice@bücher.de'),
	(3, 'İSTANBUL@ÖRNEK.COM.TR'), (4, 'istanbul@örnek.com.tr'),
	(5, 'ΣΊΣΥΦΟΣ@ΠΑΡΆΔΕΙΓΜΑ.GR'), (6, 'ǄEMAL@X.ORG'), (7, 'ǅemal@x.org'),
	(8, 'ЖЕНЯ@ПРИМЕР.РФ'), (9, 'ARMENIAN-Ա@X.ORG'), (10, 'Ⓐ@X.ORG'),
	(11, 'straße@x.org'), (12, 'STRASSE@X.ORG'), (13, 'ﬀ@X.ORG');
SELECT id, email FROM norm ORDER BY id;

\c :regress_db
DROP DATABASE anonymize_locale_c;
DROP DATABASE anonymize_locale_utf8;
