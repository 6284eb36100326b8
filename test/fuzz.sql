-- The database test/fuzz runs random SQL against: tables fit for breakouts
-- (keys of many types, NULL keys and metrics, small groups), protected
-- tables with data (every rule, a tenant scope, a partitioned table), and a
-- role that may use everything the extension offers except superuser powers.
CREATE EXTENSION anonymize;

CREATE TYPE band AS ENUM ('low', 'mid', 'high');
CREATE TABLE survey (
	department text, country text, tenure int, joined date, band band, remote boolean,
	account uuid, salary numeric, score float8, comment text, person bigint
);
INSERT INTO survey
SELECT (ARRAY['eng', 'sales', 'legal', NULL])[1 + i % 4],
       (ARRAY['FR', 'DE', 'JP', 'MX', 'Łódź', '日本'])[1 + i % 6],
       CASE WHEN i % 9 = 0 THEN NULL ELSE i % 7 END,
       date '2020-01-01' + i % 30, (ARRAY['low', 'mid', 'high'])[1 + i % 3]::band, i % 2 = 0,
       ('00000000-0000-0000-0000-' || lpad((i % 40)::text, 12, '0'))::uuid,
       (i % 13) * 1000.5,
       CASE WHEN i % 8 = 0 THEN NULL ELSE i % 11 END,
       CASE WHEN i % 5 = 0 THEN 'comment ' || i WHEN i % 7 = 0 THEN '  ' END,
       CASE WHEN i % 17 = 0 THEN NULL ELSE i % 60 END
FROM generate_series(1, 400) AS i;
INSERT INTO survey (department, country, score) VALUES ('ceo', 'IS', 10);

CREATE TABLE events (
	id bigserial PRIMARY KEY, kind text NOT NULL, user_id text, account uuid, member bigint,
	email text, email_hash text, ip inet, ip_text text, at timestamptz, day timestamp, tenant text
);
SELECT anonymize.protect('events',
	ARRAY['user_id=pseudonym', 'account=pseudonym:crm', 'member=pseudonym', 'email=email_domain',
	      'email_hash=hash', 'ip=generalize_ip', 'ip_text=generalize_ip:16:32', 'at=truncate:hour',
	      'day=truncate:day'],
	tenant_column => 'tenant',
	when_condition => $$NEW.kind <> 'post'$$);
SELECT anonymize.set_tenant_policy('acme', true, ARRAY['acme.com']);
SELECT anonymize.set_tenant_policy('open', false);
INSERT INTO events (kind, user_id, account, member, email, email_hash, ip, ip_text, at, day, tenant)
SELECT (ARRAY['view', 'post', 'click'])[1 + i % 3], 'user-' || (i % 50),
       ('00000000-0000-0000-0000-' || lpad((i % 20)::text, 12, '0'))::uuid, i % 30,
       'p' || (i % 50) || (ARRAY['@acme.com', '@other.org'])[1 + i % 2], 'P' || (i % 50) || '@x.com',
       (ARRAY['10.1.2.3', '2001:db8::1'])[1 + i % 2]::inet, '192.168.' || (i % 255) || '.7',
       timestamptz '2026-01-01' + i * interval '7 minutes', timestamp '2026-01-01' + i * interval '5 hours',
       (ARRAY['acme', 'open', 'new', NULL])[1 + i % 4]
FROM generate_series(1, 300) AS i;

CREATE TABLE views (user_id text, country text, at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE views_2026 PARTITION OF views FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT anonymize.protect('views', ARRAY['user_id=pseudonym', 'at=truncate:week']);
INSERT INTO views SELECT 'v' || (i % 25), (ARRAY['FR', 'DE'])[1 + i % 2], timestamptz '2026-02-01' + i * interval '1 hour'
FROM generate_series(1, 200) AS i;

CREATE ROLE fuzzer LOGIN;
ALTER ROLE fuzzer SET statement_timeout = '3s';
GRANT USAGE ON SCHEMA anonymize TO fuzzer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA anonymize TO fuzzer;
GRANT SELECT, INSERT, UPDATE ON survey, events, views TO fuzzer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO fuzzer;
ANALYZE;
