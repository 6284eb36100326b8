-- k_anonymity(rel, columns): the size of the smallest group of rows sharing
-- the values of the columns; 0 for an empty table.
CREATE TABLE kanon_people (zip text, age_band text, gender text, "Weird ""Name""; DROP TABLE x" int);
INSERT INTO kanon_people
SELECT '100' || (i % 3), (ARRAY['20-29', '30-39'])[1 + i % 2], (ARRAY['f', 'm'])[1 + i % 5 % 2], i % 2
FROM generate_series(1, 60) AS i;
INSERT INTO kanon_people VALUES ('1009', '90-99', NULL, NULL);
SELECT anonymize.k_anonymity('kanon_people', '{zip}') AS by_zip,
       anonymize.k_anonymity('kanon_people', '{zip,age_band}') AS by_zip_age,
       anonymize.k_anonymity('kanon_people', '{age_band,gender}') AS by_age_gender;
-- the same as the GROUP BY it stands for
SELECT min(n) FROM (SELECT count(*) AS n FROM kanon_people WHERE zip <> '1009' GROUP BY zip, age_band, gender) AS s;
DELETE FROM kanon_people WHERE zip = '1009';
SELECT anonymize.k_anonymity('kanon_people', '{zip,age_band,gender}') AS all_three;
-- NULLs are one value; a column named with quotes and SQL is just a name
SELECT anonymize.k_anonymity('kanon_people', ARRAY['Weird "Name"; DROP TABLE x']) AS weird;
SELECT anonymize.k_anonymity('kanon_people', '{zip,zip}') AS same_column_twice;
TRUNCATE kanon_people;
SELECT anonymize.k_anonymity('kanon_people', '{zip}') AS empty;
-- a table in another schema with a name that needs quoting
CREATE SCHEMA "Kanon Schema";
CREATE TABLE "Kanon Schema"."Table" (v int);
INSERT INTO "Kanon Schema"."Table" VALUES (1), (1), (2), (2), (2);
SELECT anonymize.k_anonymity('"Kanon Schema"."Table"', '{v}');

-- Errors
SELECT anonymize.k_anonymity('kanon_people', '{nosuch}');
SELECT anonymize.k_anonymity('kanon_people', '{zip,"zip; DROP TABLE kanon_people"}');
SELECT anonymize.k_anonymity('kanon_people', '{}');
SELECT anonymize.k_anonymity('kanon_people', '{zip,NULL}');
SELECT anonymize.k_anonymity('kanon_people', '{ctid}');
SELECT anonymize.k_anonymity('kanon_people', NULL) IS NULL AS strict;
SELECT anonymize.k_anonymity('nosuch_table', '{zip}');
SELECT anonymize.k_anonymity(0, '{zip}');
-- the caller needs SELECT on the table
CREATE ROLE kanon_reader;
GRANT USAGE ON SCHEMA anonymize, "Kanon Schema" TO kanon_reader;
SET ROLE kanon_reader;
SELECT anonymize.k_anonymity('"Kanon Schema"."Table"', '{v}');
RESET ROLE;
GRANT SELECT ON "Kanon Schema"."Table" TO kanon_reader;
SET ROLE kanon_reader;
SELECT anonymize.k_anonymity('"Kanon Schema"."Table"', '{v}');
RESET ROLE;
DROP OWNED BY kanon_reader;
DROP ROLE kanon_reader;
SELECT to_regclass('kanon_people') IS NOT NULL AS still_there;
