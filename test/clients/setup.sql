-- Fixture of the client tests: a survey table owned by survey_owner, labelled
-- and granted to the BI role bi_reader, which has no SELECT on it.  Run as a
-- superuser in a new database anonymize_clients (test/clients/run).
--
-- 200 people (person_id 1..200, one row each), by tenure band:
--   '1-3y' 113 rows: Engineering 60, Sales 30, Support 12, Finance 6, Legal 3, HR 2
--                    sites Berlin 60, Lisbon 45, Oslo 3, Riga 3, Tallinn 2
--   '3y+'   83 rows: Engineering 45, Sales 20, Support 7, Finance 7, Legal 4
--                    sites Berlin 50, Lisbon 30, Oslo 3
--   '<1y'    4 rows: Engineering 4, site Berlin (fewer than k in total)
-- Sites are given in person_id order within each tenure band.  Scores are
-- whole numbers 1..6 (1 + id % 3 + id % 4): every sum is exact in float8 and
-- every mean one division, whatever the order in which rows are added.
-- bi_reader gets nothing but grant_anonymized (and what PUBLIC has): no
-- SELECT on the table, and no USAGE on the schema anonymize, which the
-- table's owner could not give.
SET client_min_messages = warning;
CREATE EXTENSION anonymize;
-- the query hook must be loaded in the BI role's sessions
ALTER DATABASE anonymize_clients SET session_preload_libraries = 'anonymize';
DROP ROLE IF EXISTS survey_owner;
DROP ROLE IF EXISTS bi_reader;
CREATE ROLE survey_owner LOGIN;
CREATE ROLE bi_reader LOGIN;
GRANT USAGE ON SCHEMA anonymize TO survey_owner;
GRANT CREATE ON SCHEMA public TO survey_owner;

SET ROLE survey_owner;
CREATE TABLE responses (
	person_id int PRIMARY KEY,
	department text NOT NULL,
	site text NOT NULL,
	tenure text NOT NULL,
	score float8 NOT NULL
);
INSERT INTO responses
SELECT row_number() OVER w AS person_id, g.department,
       CASE g.tenure
       WHEN '1-3y' THEN CASE WHEN row_number() OVER t <= 60 THEN 'Berlin'
                             WHEN row_number() OVER t <= 105 THEN 'Lisbon'
                             WHEN row_number() OVER t <= 108 THEN 'Oslo'
                             WHEN row_number() OVER t <= 111 THEN 'Riga'
                             ELSE 'Tallinn' END
       WHEN '3y+' THEN CASE WHEN row_number() OVER t <= 50 THEN 'Berlin'
                            WHEN row_number() OVER t <= 80 THEN 'Lisbon'
                            ELSE 'Oslo' END
       ELSE 'Berlin' END AS site,
       g.tenure,
       (row_number() OVER w % 3 + row_number() OVER w % 4 + 1)::float8 AS score
FROM (VALUES (1, '1-3y', 'Engineering', 60), (2, '1-3y', 'Sales', 30),
             (3, '1-3y', 'Support', 12), (4, '1-3y', 'Finance', 6),
             (5, '1-3y', 'Legal', 3), (6, '1-3y', 'HR', 2),
             (7, '3y+', 'Engineering', 45), (8, '3y+', 'Sales', 20),
             (9, '3y+', 'Support', 7), (10, '3y+', 'Finance', 7),
             (11, '3y+', 'Legal', 4),
             (12, '<1y', 'Engineering', 4)) AS g (ord, tenure, department, size),
     generate_series(1, g.size) AS i
WINDOW w AS (ORDER BY g.ord, i), t AS (PARTITION BY g.tenure ORDER BY g.ord, i);
COMMENT ON TABLE responses IS 'survey answers, one row per person';

SELECT anonymize.label('responses', 'department', 'very_sensitive');
SELECT anonymize.label('responses', 'site', 'somewhat_sensitive');
SELECT anonymize.label('responses', 'tenure', 'not_sensitive');
SELECT anonymize.label_subject('responses', 'person_id');
SELECT anonymize.set_threshold('responses', 5);
SELECT anonymize.grant_anonymized('responses', 'bi_reader');
RESET ROLE;
