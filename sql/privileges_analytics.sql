-- Privileges of a role that only reads analytics, and of a plain role with
-- no grant at all: each can do what the README says and nothing more.
CREATE ROLE regress_analyst;
CREATE ROLE regress_plain;
CREATE TABLE analytics_survey (department text, score float8, comment text, person int);
INSERT INTO analytics_survey
SELECT (ARRAY['eng', 'sales', 'legal'])[1 + i % 3 + (i % 50 = 0)::int], i % 10, 'c' || i, i % 20
FROM generate_series(1, 60) AS i;
CREATE TABLE analytics_events (user_id text);
SELECT anonymize.protect('analytics_events', ARRAY['user_id=pseudonym']);
INSERT INTO analytics_events VALUES ('ann@acme.com');
ALTER DATABASE :"DBNAME" SET anonymize.min_threshold = 3;
\c
GRANT USAGE ON SCHEMA anonymize TO regress_analyst;
GRANT SELECT ON analytics_survey TO regress_analyst;

-- The analyst runs every breakout form on what it may read ...
SET ROLE regress_analyst;
SHOW anonymize.min_threshold;
SELECT g.label, g.n, g.status FROM unnest((SELECT anonymize.anonymized_breakout(department, score, 3)
	FROM analytics_survey)) AS g;
SELECT count(*) AS cells FROM unnest((SELECT anonymize.anonymized_breakout(department, person % 2, score, 3,
	'very_sensitive', 'not_sensitive') FROM analytics_survey));
SELECT count(*) AS groups FROM unnest((SELECT anonymize.anonymized_breakout(department, score, 3,
	'very_sensitive', person) FROM analytics_survey));
SELECT cardinality(anonymize.anonymized_comments(comment)) FROM analytics_survey;
SELECT anonymize.k_anonymity('analytics_survey', '{department}');
-- ... but cannot lower the floor, in any way
SELECT anonymize.anonymized_breakout(department, score, 2) FROM analytics_survey;
SET anonymize.min_threshold = 1;
SET anonymize.threshold = 2;
SELECT anonymize.anonymized_breakout(department, score) FROM analytics_survey;
RESET anonymize.threshold;
-- cannot read the key, the map, the policies or a protected table, and
-- cannot change protection
SELECT * FROM anonymize.secret;
SELECT * FROM anonymize.pseudonyms;
SELECT * FROM anonymize.tenant_policies;
SELECT * FROM analytics_events;
SELECT anonymize.k_anonymity('analytics_events', '{user_id}');
SELECT anonymize.forget('ann@acme.com');
SELECT anonymize.protect('analytics_survey', ARRAY['comment=strip']);
SELECT anonymize.set_tenant_policy('t', false);
ALTER TABLE analytics_events DISABLE TRIGGER ALL;
-- what is protected is public knowledge
SELECT table_name, rules FROM anonymize.protected_tables WHERE table_name = 'analytics_events'::regclass;
-- an analyst cannot weaken the rules: the counting mode and the two-field
-- rule are a superuser's settings
SET anonymize.mode = basic;
SET anonymize.two_field_rule = per_slice;
SET anonymize.show_grouped_members = on;
SHOW anonymize.mode;
RESET ROLE;

-- A plain role cannot even reach the extension's schema.
SET ROLE regress_plain;
SELECT anonymize.anonymized_breakout(1, 1);
SELECT * FROM anonymize.protected_tables;
RESET ROLE;

ALTER DATABASE :"DBNAME" RESET anonymize.min_threshold;
DROP TABLE analytics_survey, analytics_events;
DROP OWNED BY regress_analyst, regress_plain;
DROP ROLE regress_analyst, regress_plain;
