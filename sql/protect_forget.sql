-- forget(): the link from a person to their pseudonym is deleted; events
-- keep the old pseudonym; the next event gets a new one.
CREATE TABLE forget_views (id int, user_id text, crm_id text);
SELECT anonymize.protect('forget_views', ARRAY['user_id=pseudonym', 'crm_id=pseudonym:crm']);
INSERT INTO forget_views VALUES (1, 'ann@acme.com', 'ann@acme.com'), (2, 'ann@acme.com', 'ann@acme.com'),
	(3, 'ben@acme.com', 'ben@acme.com');
CREATE TEMP TABLE forget_before AS SELECT * FROM forget_views;

-- a forget that rolls back changes nothing
BEGIN;
SELECT anonymize.forget('ann@acme.com');
ROLLBACK;
INSERT INTO forget_views VALUES (4, 'ann@acme.com', NULL);
SELECT (SELECT user_id FROM forget_views WHERE id = 4) = (SELECT user_id FROM forget_before WHERE id = 1) AS same_after_rollback;

-- forgetting, with any spelling of the identifier
SELECT anonymize.forget('  ANN@Acme.com ');
SELECT anonymize.forget('ann@acme.com');	-- nothing left to forget
SELECT anonymize.forget('nobody@acme.com');
SELECT anonymize.forget('   ');

-- events keep their old pseudonym; the old pseudonym is in no map row
SELECT f.id, f.user_id = b.user_id AS kept FROM forget_views AS f JOIN forget_before AS b USING (id) ORDER BY id;
SELECT count(*) AS map_rows_with_old_pseudonym FROM anonymize.pseudonyms
WHERE pseudonym::text = (SELECT user_id FROM forget_before WHERE id = 1);
-- the next event gets a new pseudonym; other namespaces and people are untouched
INSERT INTO forget_views VALUES (5, 'ann@acme.com', 'ann@acme.com'), (6, 'ben@acme.com', NULL);
SELECT (SELECT user_id FROM forget_views WHERE id = 5) <> (SELECT user_id FROM forget_before WHERE id = 1) AS new_pseudonym,
       (SELECT crm_id FROM forget_views WHERE id = 5) = (SELECT crm_id FROM forget_before WHERE id = 1) AS crm_namespace_kept,
       (SELECT user_id FROM forget_views WHERE id = 6) = (SELECT user_id FROM forget_before WHERE id = 3) AS ben_kept;
-- forgetting in the other namespace
SELECT anonymize.forget('ann@acme.com', 'crm');
INSERT INTO forget_views VALUES (7, NULL, 'ann@acme.com');
SELECT (SELECT crm_id FROM forget_views WHERE id = 7) <> (SELECT crm_id FROM forget_before WHERE id = 1) AS new_crm_pseudonym;

-- forget is strict and takes effect in the same transaction
SELECT anonymize.forget(NULL);
BEGIN;
INSERT INTO forget_views VALUES (8, 'cid@acme.com', NULL);
SELECT anonymize.forget('cid@acme.com');
INSERT INTO forget_views VALUES (9, 'cid@acme.com', NULL);
COMMIT;
SELECT (SELECT user_id FROM forget_views WHERE id = 8) <> (SELECT user_id FROM forget_views WHERE id = 9) AS forgotten_within_transaction;

DROP TABLE forget_views;

-- A person first stored in a savepoint that rolls back is stored again by the
-- next event: the pseudonym cached in the savepoint is not reused without
-- its map row (else the person would get a second pseudonym later).
CREATE TABLE forget_saved (id int, user_id text);
SELECT anonymize.protect('forget_saved', ARRAY['user_id=pseudonym']);
BEGIN;
SAVEPOINT first_event;
INSERT INTO forget_saved VALUES (1, 'dee@acme.com');
ROLLBACK TO SAVEPOINT first_event;
INSERT INTO forget_saved VALUES (2, 'dee@acme.com');
COMMIT;
INSERT INTO forget_saved VALUES (3, 'dee@acme.com');
SELECT count(*) AS events, count(DISTINCT user_id) AS pseudonyms FROM forget_saved;
SELECT anonymize.forget('dee@acme.com') AS dee_was_stored;
DROP TABLE forget_saved;
