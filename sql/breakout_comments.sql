-- anonymized_comments: NULL and blank comments are ignored; under the
-- threshold (anonymize.comment_threshold, 5, by default) the answer is NULL;
-- otherwise the comments, sorted, never in the order they arrived.
CREATE TABLE comments_survey (id serial, team text, comment text);
INSERT INTO comments_survey (team, comment) VALUES
	('red', 'Zoe is a great lead'), ('red', 'more coffee'), ('red', NULL), ('red', '   '),
	('red', ''), ('red', 'Better laptops'), ('red', 'always late standups'),
	('blue', 'fine'), ('blue', 'ok'), ('blue', E'\t'),
	('green', 'b'), ('green', 'a'), ('green', 'c'), ('green', 'e'), ('green', 'd');
-- red has 4 comments (NULL and blank ones do not count), green 5, blue 2
SELECT team, count(*) FILTER (WHERE btrim(comment, E' \t') <> '') AS non_blank,
       anonymize.anonymized_comments(comment) AS shown
FROM comments_survey GROUP BY team ORDER BY team;
SHOW anonymize.comment_threshold;
-- at and around an explicit threshold
SELECT t AS threshold, anonymize.anonymized_comments(comment, t)
FROM comments_survey, generate_series(3, 5) AS t WHERE team = 'red' GROUP BY t ORDER BY t;
SET anonymize.comment_threshold = 2;
SELECT team, anonymize.anonymized_comments(comment) FROM comments_survey GROUP BY team ORDER BY team;
RESET anonymize.comment_threshold;
-- Sorted by the input collation, whatever the arrival order.
SELECT anonymize.anonymized_comments(comment ORDER BY id DESC) = anonymize.anonymized_comments(comment ORDER BY id)
	AS order_free,
       anonymize.anonymized_comments(comment COLLATE "C") AS c_order
FROM comments_survey WHERE team IN ('red', 'green');
-- Duplicates stay: two people can write the same thing.
SELECT anonymize.anonymized_comments(c, 2) FROM (VALUES ('same'), ('same'), ('other')) AS v(c);
-- no rows, only blanks
SELECT anonymize.anonymized_comments(comment, 1) FROM comments_survey WHERE false;
SELECT anonymize.anonymized_comments(comment, 1) FROM comments_survey WHERE btrim(comment, E' \t') = '';

-- With an author column the threshold counts distinct authors of non-blank
-- comments: ann's five comments are one author; a NULL author is nobody.
CREATE TABLE comments_authored (author text, comment text);
INSERT INTO comments_authored VALUES
	('ann', 'too many meetings'), ('ann', 'no budget'), ('ann', 'bad chairs'),
	('ann', 'slow laptops'), ('ann', 'noisy office'),
	('bob', 'fine'), ('cid', 'ok'), ('dan', '  '), (NULL, 'anonymous note');
SELECT anonymize.anonymized_comments(comment) AS plain_form,
       anonymize.anonymized_comments(comment, author, 5) AS five_authors,
       anonymize.anonymized_comments(comment, author, 3) AS three_authors,
       anonymize.anonymized_comments(comment, author, 4) AS four_authors
FROM comments_authored;
-- authors of any type; only non-blank comments count their author
SELECT anonymize.anonymized_comments(c, a, 2) AS two_ids,
       anonymize.anonymized_comments(c, a, 3) AS three_ids
FROM (VALUES ('x', 1), ('y', 1), ('z', 2), (' ', 3)) AS v(c, a);
SELECT anonymize.anonymized_comments(comment, author, NULL) FROM comments_authored;
SELECT anonymize.anonymized_comments(comment, point(0, 0), 1) FROM comments_authored;
DROP TABLE comments_authored;

-- Errors
SELECT anonymize.anonymized_comments(comment, NULL) FROM comments_survey;
SELECT anonymize.anonymized_comments(comment, 0) FROM comments_survey;
SELECT anonymize.anonymized_comments(comment, id) FROM comments_survey;
SET anonymize.min_threshold = 8;
SELECT anonymize.anonymized_comments(comment) FROM comments_survey;
RESET anonymize.min_threshold;
SET anonymize.comment_threshold = 0;
