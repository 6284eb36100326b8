-- Keys of any type work without casts; labels are the keys' text forms and
-- ties and members follow each type's own order.
-- the checks read which groups each bucket merged (off by default)
SET anonymize.show_grouped_members = on;
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';

-- integers sort as numbers (2 before 10), not as text
SELECT g.label, g.members, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k, 1, 3)
             FROM (VALUES (10), (10), (2), (2), (30), (30), (30)) AS v(k))) AS g;

-- bigint and smallint; integer metrics are cast to double precision
SELECT g.label, g.n, g.sum, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k::bigint, m, 1, 'not_sensitive')
             FROM (VALUES (9000000000, 1), (9000000000, 2), (-1, 5)) AS v(k, m))) AS g;
SELECT g.label, g.n, g.sum, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k::smallint, m::numeric, 1, 'not_sensitive')
             FROM (VALUES (1, 1.5), (1, 2.5)) AS v(k, m))) AS g;

-- dates: the bucket lists its members in date order
SELECT g.label, g.members, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(d, 1, 3)
             FROM (VALUES (date '2024-03-01'), ('2024-01-15'), ('2024-01-15'),
                          ('2024-02-01'), ('2024-02-01'), ('2024-02-01')) AS v(d))) AS g;

-- timestamps with time zone
SELECT g.label, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(date_trunc('day', t), 1, 1)
             FROM (VALUES (timestamptz '2024-01-01 10:00+00'), ('2024-01-01 23:00+00'),
                          ('2024-01-02 01:00+00')) AS v(t))) AS g;

-- booleans: false sorts before true, NULL last
SELECT g.label, g.members, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(b, 1, 2, 'somewhat_sensitive')
             FROM (VALUES (true), (true), (false), (NULL::boolean), (NULL)) AS v(b))) AS g;

-- numeric: 1.0 and 1.00 are one group
SELECT g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k, 1, 1)
             FROM (VALUES (1.0), (1.00), (1.000)) AS v(k))) AS g;

-- uuid
SELECT g.label, g.n
FROM unnest((SELECT anonymize.anonymized_breakout(k, 1, 1)
             FROM (VALUES ('00000000-0000-0000-0000-000000000002'::uuid),
                          ('00000000-0000-0000-0000-000000000001'),
                          ('00000000-0000-0000-0000-000000000002')) AS v(k))) AS g;

-- enums sort in their declared order, not alphabetically
CREATE TYPE types_tenure AS ENUM ('under 1 year', '1-3 years', 'over 3 years');
SELECT g.label, g.members, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(t, 1, 4)
             FROM (VALUES ('over 3 years'::types_tenure), ('over 3 years'),
                          ('over 3 years'), ('over 3 years'), ('1-3 years'),
                          ('under 1 year'), ('1-3 years')) AS v(t))) AS g;

-- arrays
SELECT g.label, g.n
FROM unnest((SELECT anonymize.anonymized_breakout(k, 1, 1)
             FROM (VALUES (ARRAY[1, 2]), (ARRAY[1, 2]), (ARRAY[1])) AS v(k))) AS g;

-- varchar columns with a type modifier, and a named composite type
CREATE TABLE types_people (team varchar(10), site text, score int);
INSERT INTO types_people VALUES ('ops', 'Lyon', 3), ('ops', 'Lyon', 4), ('dev', 'Oslo', 5);
SELECT g.label, g.n, g.sum
FROM unnest((SELECT anonymize.anonymized_breakout(team, score, 1) FROM types_people)) AS g;
SELECT g.label, g.n, g.sum
FROM unnest((SELECT anonymize.anonymized_breakout(p, score, 1) FROM types_people AS p)) AS g;

-- text keys follow their collation: a case-insensitive collation makes one group
CREATE COLLATION types_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k COLLATE types_ci, 1, 3)
             FROM (VALUES ('Lyon'), ('LYON'), ('lyon')) AS v(k))) AS g;
SELECT g.label, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k COLLATE "C", 1, 1)
             FROM (VALUES ('Lyon'), ('LYON'), ('lyon')) AS v(k))) AS g;
-- the subject follows the aggregate's collation too: Ann written three ways
-- is one person under the case-insensitive collation (so under k = 3
-- nothing is shown), three under "C"
SELECT g.label, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k, 1, 3, 'very_sensitive', s COLLATE types_ci)
             FROM (VALUES ('x', 'Ann'), ('x', 'ANN'), ('x', 'ann')) AS v(k, s))) AS g;
SELECT g.label, g.n, g.status
FROM unnest((SELECT anonymize.anonymized_breakout(k, 1, 3, 'very_sensitive', s COLLATE "C")
             FROM (VALUES ('x', 'Ann'), ('x', 'ANN'), ('x', 'ann')) AS v(k, s))) AS g;

-- long keys (10 kB, stored compressed) are compared and shown whole
CREATE TABLE types_long (k text, m float8);
INSERT INTO types_long
SELECT repeat(chr(65 + i % 3), 10000), i FROM generate_series(1, 30) AS i;
SELECT length(g.label), left(g.label, 3) AS starts, g.n, g.sum
FROM unnest((SELECT anonymize.anonymized_breakout(k, m, 5) FROM types_long)) AS g;

-- multi-byte text
SELECT g.label, g.n
FROM unnest((SELECT anonymize.anonymized_breakout(k, 1, 1)
             FROM (VALUES ('Zürich'), ('東京'), ('東京')) AS v(k))) AS g;

DROP TABLE types_people, types_long;
DROP TYPE types_tenure;
DROP COLLATION types_ci;
