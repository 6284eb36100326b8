-- Which rows are anonymized: a WHEN condition, e-mail domains, tenants.

-- Behavioural events are anonymized, feed posts and registrations kept.
CREATE TABLE scope_events (id int, kind text, user_id text, marketing_consent boolean);
SELECT anonymize.protect('scope_events', ARRAY['user_id=pseudonym'],
	when_condition => $$NEW.kind IN ('page_view', 'video_view') AND NOT coalesce(NEW.marketing_consent, false)$$);
INSERT INTO scope_events VALUES
	(1, 'page_view', 'ann', false), (2, 'video_view', 'ann', NULL),
	(3, 'feed_post', 'ann', false), (4, 'registration', 'ann', false),
	(5, 'page_view', 'ann', true);
SELECT id, kind, user_id = 'ann' AS kept FROM scope_events ORDER BY id;
SELECT when_condition FROM anonymize.protected_tables WHERE table_name = 'scope_events'::regclass;
-- On UPDATE the rules apply to changed columns: a kept row turned into a
-- behavioural one keeps the identifier it was stored with, unless the update
-- sets it again (a documented limit of WHEN conditions).
UPDATE scope_events SET kind = 'page_view' WHERE id = 3;
SELECT id, user_id = 'ann' AS kept FROM scope_events WHERE id = 3;
UPDATE scope_events SET kind = 'page_view', user_id = 'ann' WHERE id = 4;
SELECT id, user_id = 'ann' AS kept FROM scope_events WHERE id = 4;

-- Only the organisation's own staff: e-mail domain, case-insensitive and exact.
CREATE TABLE scope_staff (id int, email text, user_id text);
SELECT anonymize.protect('scope_staff', ARRAY['user_id=pseudonym', 'email=strip'],
	email_column => 'email', email_domains => ARRAY['Acme.com', ' partner.org ']);
INSERT INTO scope_staff VALUES
	(1, 'ann@acme.com', 'ann'), (2, 'Ben@ACME.COM', 'ben'), (3, 'cat@partner.org', 'cat'),
	(4, 'dan@sub.acme.com', 'dan'), (5, 'eve@acme.com.evil.net', 'eve'), (6, 'fay@gmail.com', 'fay'),
	(7, NULL, 'gus'), (8, 'no address', 'hal');
-- rows 7 and 8 have no domain to check: they fail closed, anonymized
SELECT id, email, user_id IN ('ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal') AS kept
FROM scope_staff ORDER BY id;
SELECT email_column, email_domains FROM anonymize.protected_tables
WHERE table_name = 'scope_staff'::regclass;
-- a row that enters the listed domains on UPDATE is anonymized whole
UPDATE scope_staff SET email = 'fay@acme.com' WHERE id = 6;
SELECT id, email, user_id = 'fay' AS kept FROM scope_staff WHERE id = 6;

-- Tenants: a policy is set once; tenants without one are anonymized.
CREATE TABLE scope_tenant_events (id int, workspace text, email text, user_id text);
SELECT anonymize.protect('scope_tenant_events', ARRAY['user_id=pseudonym'],
	email_column => 'email', tenant_column => 'workspace');
SELECT anonymize.set_tenant_policy('scope-open', false);
SELECT anonymize.set_tenant_policy('scope-closed', true);
SELECT anonymize.set_tenant_policy('scope-staff', true, ARRAY['ACME.com']);
INSERT INTO scope_tenant_events VALUES
	(1, 'scope-open', 'a@acme.com', 'ann'), (2, 'scope-closed', 'b@gmail.com', 'ben'),
	(3, 'scope-staff', 'c@acme.com', 'cat'), (4, 'scope-staff', 'd@gmail.com', 'dan'),
	(5, 'scope-new', 'e@gmail.com', 'eve'), (6, NULL, 'f@gmail.com', 'fay');
SELECT id, workspace, user_id IN ('ann', 'ben', 'cat', 'dan', 'eve', 'fay') AS kept
FROM scope_tenant_events ORDER BY id;
SELECT tenant, anonymized, email_domains, set_by = session_user AS by_me
FROM anonymize.tenant_policies WHERE tenant LIKE 'scope-%' ORDER BY tenant;

-- A policy can never change, by the function or by hand.
SELECT anonymize.set_tenant_policy('scope-open', true);
UPDATE anonymize.tenant_policies SET anonymized = true WHERE tenant = 'scope-open';
DELETE FROM anonymize.tenant_policies WHERE tenant = 'scope-open';
TRUNCATE anonymize.tenant_policies;
SELECT anonymize.set_tenant_policy(NULL, true);
SELECT anonymize.set_tenant_policy('scope-bad', true, ARRAY['a@b.com']);
SELECT anonymize.set_tenant_policy('scope-bad', true, ARRAY[]::text[]);

-- The organisation can impose anonymization on every tenant.
SET anonymize.tenant_default = 'all';
INSERT INTO scope_tenant_events VALUES (7, 'scope-open', 'g@acme.com', 'gus');
SELECT id, user_id = 'gus' AS kept FROM scope_tenant_events WHERE id = 7;
SELECT anonymize.set_tenant_policy('scope-later', false);
RESET anonymize.tenant_default;

DROP TABLE scope_events, scope_staff, scope_tenant_events;
