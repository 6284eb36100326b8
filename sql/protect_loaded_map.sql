-- A backend that looks up many people it has not cached loads the map whole
-- (after 1,000 lookups).  It loads only rows that other transactions
-- committed: new people of its own transaction, which a savepoint may roll
-- back, are found in the map as before.  Every stored pseudonym keeps its
-- map row, and each person has one pseudonym.
CREATE TABLE lm_events (id int, user_id text);
SELECT anonymize.protect('lm_events', ARRAY['user_id=pseudonym']);
CREATE TABLE lm_before AS SELECT count(*) AS n FROM anonymize.pseudonyms;
BEGIN;
SAVEPOINT a;
-- 1,500 new people: the map is loaded after 1,000 of them, without them
INSERT INTO lm_events SELECT i, 'lm-' || i FROM generate_series(1, 1500) AS i;
SELECT count(*) AS loaded_maps FROM pg_backend_memory_contexts WHERE name = 'anonymize loaded map';
ROLLBACK TO a;
INSERT INTO lm_events SELECT i, 'lm-' || i FROM generate_series(1, 1500) AS i;
COMMIT;
SELECT count(*) AS events, count(DISTINCT user_id) AS pseudonyms,
       count(*) FILTER (WHERE user_id::uuid NOT IN (SELECT pseudonym FROM anonymize.pseudonyms)) AS without_map_row
FROM lm_events;
-- a person and a marker per new person
SELECT count(*) - (SELECT n FROM lm_before) AS new_map_rows FROM anonymize.pseudonyms;

-- A new backend meets them again, and 500 new people, twice each: the map
-- it loads gives each person the pseudonym stored before.
\c
INSERT INTO lm_events SELECT 10000 + i, 'lm-' || (i % 2000 + 1) FROM generate_series(0, 3999) AS i;
SELECT count(*) AS loaded_maps FROM pg_backend_memory_contexts WHERE name = 'anonymize loaded map';
SELECT count(*) AS people, count(*) FILTER (WHERE pseudonyms > 1) AS with_two_pseudonyms
FROM (SELECT person, count(DISTINCT user_id) AS pseudonyms
      FROM (SELECT CASE WHEN id < 10000 THEN id ELSE (id - 10000) % 2000 + 1 END AS person, user_id
            FROM lm_events) AS e
      GROUP BY person) AS p;
SELECT count(*) - (SELECT n FROM lm_before) AS new_map_rows FROM anonymize.pseudonyms;
-- forget() in this backend drops what it loaded; the person is new again
SELECT anonymize.forget('lm-7') AS forgotten;
SELECT count(*) AS loaded_maps FROM pg_backend_memory_contexts WHERE name = 'anonymize loaded map';
INSERT INTO lm_events VALUES (20000, 'lm-7');
SELECT count(DISTINCT user_id) AS pseudonyms_of_7
FROM lm_events WHERE id IN (7, 20000);

DROP TABLE lm_events, lm_before;
SELECT count(*) FILTER (WHERE anonymize.forget('lm-' || i)) AS forgotten
FROM generate_series(1, 2000) AS i;
