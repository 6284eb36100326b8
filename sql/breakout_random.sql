-- Random breakouts checked against invariants: random numbers of groups and
-- group sizes (mostly small), thresholds, sensitivities, NULL keys, NULL
-- metrics and people in several groups, for every breakout form.  The seed
-- is fixed, so a failure can be replayed; each check prints the number of
-- cases that broke it, which must be 0.
SELECT setseed(0.20261122);
-- the checks read which groups each bucket merged
SET anonymize.show_grouped_members = on;

CREATE TABLE random_rows (k text, k2 int, person int, metric float8);
CREATE TABLE random_violations (form text, invariant text, detail text);

-- Fill random_rows with one random data set.
CREATE FUNCTION random_fill() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	ngroups int := 1 + floor(random() * 12)::int;
	size int;
BEGIN
	TRUNCATE random_rows;
	FOR g IN 1..ngroups LOOP
		-- mostly small groups, some large ones
		size := CASE WHEN random() < 0.7 THEN 1 + floor(random() * 6)::int
		             ELSE 5 + floor(random() * 40)::int END;
		INSERT INTO random_rows
		SELECT CASE WHEN g = 1 AND random() < 0.3 THEN NULL ELSE 'g' || lpad(g::text, 2, '0') END,
		       floor(random() * 4)::int,
		       floor(random() * (size + 3))::int,
		       CASE WHEN random() < 0.2 THEN NULL ELSE floor(random() * 10) END
		FROM generate_series(1, size);
	END LOOP;
END $$;

-- One field, counting rows: check one breakout of random_rows.
CREATE FUNCTION random_check_rows(thr int, sens anonymize.sensitivity) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	result anonymize.breakout_group[];
	total bigint;
BEGIN
	SELECT anonymize.anonymized_breakout(r.k, r.metric, thr, sens), count(*) INTO result, total FROM random_rows AS r;
	IF total < thr THEN
		INSERT INTO random_violations
		SELECT 'rows', 'under k in total nothing is shown', g.label
		FROM unnest(result) AS g;
		RETURN;
	END IF;
	-- every key is listed exactly once, NULL included
	INSERT INTO random_violations
	SELECT 'rows', 'every key listed once', key
	FROM (SELECT coalesce(m, '<NULL>') AS key, count(*) AS c
	      FROM unnest(result) AS g, unnest(g.members) AS m GROUP BY 1) AS l
	FULL JOIN (SELECT DISTINCT coalesce(r.k, '<NULL>') AS key FROM random_rows AS r) AS d USING (key)
	WHERE c IS DISTINCT FROM 1;
	-- a shown group has its true count; unless not_sensitive, at least k
	INSERT INTO random_violations
	SELECT 'rows', 'shown groups are exact and not small', g.label
	FROM unnest(result) AS g
	WHERE g.status = 'shown'
	  AND (g.n <> (SELECT count(*) FROM random_rows AS r WHERE r.k IS NOT DISTINCT FROM g.label)
	       OR (sens <> 'not_sensitive' AND g.n < thr));
	-- hiding only when somewhat sensitive, grouping only when very
	INSERT INTO random_violations
	SELECT 'rows', 'statuses follow the sensitivity', g.status
	FROM unnest(result) AS g
	WHERE (g.status = 'hidden' AND (sens <> 'somewhat_sensitive' OR g.n IS NOT NULL))
	   OR (g.status = 'grouped' AND sens <> 'very_sensitive');
	-- hidden groups are none, or at least two that reach k together (unless
	-- every group is hidden)
	INSERT INTO random_violations
	SELECT 'rows', 'hidden groups cover k rows of two groups', h.hidden::text
	FROM (SELECT count(*) AS hidden, count(*) = cardinality(result) AS all_hidden,
	             sum((SELECT count(*) FROM random_rows AS r WHERE r.k IS NOT DISTINCT FROM g.label)) AS rows
	      FROM unnest(result) AS g WHERE g.status = 'hidden') AS h
	WHERE h.hidden > 0 AND NOT h.all_hidden AND (h.hidden < 2 OR h.rows < thr);
	-- the bucket reaches k, never holds a single group, counts its rows
	INSERT INTO random_violations
	SELECT 'rows', 'the bucket is safe', array_to_string(g.members, ',', 'NULL')
	FROM unnest(result) AS g
	WHERE g.status = 'grouped'
	  AND (g.n < thr OR cardinality(g.members) < 2
	       OR g.n <> (SELECT count(*) FROM random_rows AS r
	                  WHERE r.k = ANY (g.members) OR (r.k IS NULL AND array_position(g.members, NULL) IS NOT NULL)));
	-- no group of the bucket could be recovered: every group under k is in it
	INSERT INTO random_violations
	SELECT 'rows', 'every small group is grouped', coalesce(d.k, 'NULL')
	FROM (SELECT r.k, count(*) AS c FROM random_rows AS r GROUP BY r.k) AS d
	WHERE sens = 'very_sensitive' AND d.c < thr
	  AND NOT EXISTS (SELECT 1 FROM unnest(result) AS g
	                  WHERE g.status = 'grouped'
	                    AND (d.k = ANY (g.members) OR (d.k IS NULL AND array_position(g.members, NULL) IS NOT NULL)));
	-- shown and grouped rows plus hidden groups' rows make the total
	INSERT INTO random_violations
	SELECT 'rows', 'counts add up', s::text
	FROM (SELECT coalesce(sum(g.n), 0) + coalesce((SELECT count(*) FROM random_rows AS r, unnest(result) AS h
	                                               WHERE h.status = 'hidden' AND r.k IS NOT DISTINCT FROM h.label), 0) AS s
	      FROM unnest(result) AS g WHERE g.status <> 'hidden') AS x
	WHERE s <> total;
END $$;

-- One field, counting people.
CREATE FUNCTION random_check_people(thr int, sens anonymize.sensitivity) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	result anonymize.breakout_group[];
	people bigint;
BEGIN
	SELECT anonymize.anonymized_breakout(r.k, r.metric, thr, sens, r.person), count(DISTINCT r.person)
	INTO result, people FROM random_rows AS r;
	IF people < thr THEN
		INSERT INTO random_violations
		SELECT 'people', 'under k people in total nothing is shown', g.label
		FROM unnest(result) AS g;
		RETURN;
	END IF;
	INSERT INTO random_violations
	SELECT 'people', 'shown groups count their people and are not small', g.label
	FROM unnest(result) AS g
	WHERE g.status = 'shown'
	  AND (g.n <> (SELECT count(DISTINCT r.person) FROM random_rows AS r WHERE r.k IS NOT DISTINCT FROM g.label)
	       OR (sens <> 'not_sensitive' AND g.n < thr));
	INSERT INTO random_violations
	SELECT 'people', 'the bucket counts each person once and is safe', array_to_string(g.members, ',', 'NULL')
	FROM unnest(result) AS g
	WHERE g.status = 'grouped'
	  AND (g.n < thr OR cardinality(g.members) < 2
	       OR g.n <> (SELECT count(DISTINCT r.person) FROM random_rows AS r
	                  WHERE r.k = ANY (g.members) OR (r.k IS NULL AND array_position(g.members, NULL) IS NOT NULL)));
	INSERT INTO random_violations
	SELECT 'people', 'every key listed once', key
	FROM (SELECT coalesce(m, '<NULL>') AS key, count(*) AS c
	      FROM unnest(result) AS g, unnest(g.members) AS m GROUP BY 1) AS l
	FULL JOIN (SELECT DISTINCT coalesce(r.k, '<NULL>') AS key FROM random_rows AS r) AS d USING (key)
	WHERE c IS DISTINCT FROM 1;
END $$;

-- Two fields: k is the primary field (random sensitivity), k2 the other.
CREATE FUNCTION random_check_two(thr int, s1 anonymize.sensitivity, s2 anonymize.sensitivity) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	result anonymize.breakout_cell[];
	total bigint;
	primary_sens anonymize.sensitivity := greatest(s1, s2);
BEGIN
	SELECT anonymize.anonymized_breakout(r.k, r.k2, r.metric, thr, s1, s2), count(*) INTO result, total
	FROM random_rows AS r;
	IF total < thr THEN
		INSERT INTO random_violations
		SELECT 'two', 'under k in total nothing is shown', c.label1
		FROM unnest(result) AS c;
		RETURN;
	END IF;
	-- every pair of values with rows is in one cell at most (none in a slice
	-- under k of a sensitive primary field)
	INSERT INTO random_violations
	SELECT 'two', 'every pair listed at most once', coalesce(p.k, 'NULL') || '/' || p.k2
	FROM (SELECT DISTINCT r.k, r.k2 FROM random_rows AS r) AS p
	WHERE (SELECT count(*) FROM unnest(result) AS c
	       WHERE (p.k = ANY (c.members1) OR (p.k IS NULL AND array_position(c.members1, NULL) IS NOT NULL))
	         AND p.k2::text = ANY (c.members2)) > 1;
	-- no row is counted twice
	INSERT INTO random_violations
	SELECT 'two', 'counts add up', s::text
	FROM (SELECT coalesce(sum(c.n) FILTER (WHERE c.status <> 'hidden'), 0)
	             + coalesce((SELECT count(*) FROM random_rows AS r, unnest(result) AS h
	                         WHERE h.status = 'hidden'
	                           AND (r.k = ANY (h.members1) OR (r.k IS NULL AND array_position(h.members1, NULL) IS NOT NULL))
	                           AND r.k2::text = ANY (h.members2)), 0) AS s
	      FROM unnest(result) AS c) AS x
	WHERE s > total;
	-- a shown cell of a sensitive primary field has k rows; a grouped cell
	-- merges at least two values and reaches k
	INSERT INTO random_violations
	SELECT 'two', 'shown and grouped cells are safe', c.status || ' ' || c.members1::text || ' ' || c.members2::text
	FROM unnest(result) AS c
	WHERE (c.status = 'shown' AND primary_sens <> 'not_sensitive' AND c.n < thr)
	   OR (c.status = 'grouped' AND c.n < thr)
	   -- a bucket merges several cells, unless its one cell is public anyway:
	   -- it is all its slice holds, or all its primary value holds
	   OR (c.status = 'grouped' AND cardinality(CASE WHEN s2 > s1 THEN c.members2 ELSE c.members1 END) < 2
	       AND (SELECT count(*) FROM unnest(result) AS o
	            WHERE CASE WHEN s2 > s1 THEN o.label1 = c.label1 ELSE o.label2 = c.label2 END) > 1
	       AND c.n <> (SELECT count(*) FROM random_rows AS r
	                   WHERE CASE WHEN s2 > s1 THEN r.k2::text = c.members2[1]
	                              ELSE r.k IS NOT DISTINCT FROM c.members1[1] END));
	-- a merged slice merges at least two slices
	INSERT INTO random_violations
	SELECT 'two', 'a merged slice merges several', c.members1::text || ' ' || c.members2::text
	FROM unnest(result) AS c
	WHERE (CASE WHEN s2 > s1 THEN c.label1 ELSE c.label2 END) = 'Grouped for anonymity'
	  AND cardinality(CASE WHEN s2 > s1 THEN c.members1 ELSE c.members2 END) < 2;
END $$;

-- The attacker of the two-field form (anonymize.two_field_rule): from the
-- one-field breakouts of both fields and the two-field breakout of the same
-- rows, every published total is an equation over the cells (each pair of
-- values with rows; the attacker is given which cells exist and what each
-- bucket merges).  Repeatedly solve every equation with a single unknown
-- cell; a solved cell under k that was not shown, or an equation whose
-- unknown cells add up to less than k, is a violation, unless the one-field
-- breakouts alone give it away (a small slice of a not_sensitive field).
CREATE TABLE attack_cells (k text, k2 text, n bigint, val bigint, PRIMARY KEY (k, k2));
CREATE TABLE attack_eqs (id int, total bigint);
CREATE TABLE attack_eq_cells (id int, k text, k2 text);

CREATE FUNCTION attack_solve(thr int, one1 anonymize.breakout_group[],
                             one2 anonymize.breakout_group[], two anonymize.breakout_cell[])
RETURNS TABLE (invariant text, detail text)
LANGUAGE plpgsql AS $$
DECLARE
	solved int;
BEGIN
	TRUNCATE attack_cells, attack_eqs, attack_eq_cells;
	INSERT INTO attack_cells
	SELECT coalesce(r.k, '<NULL>'), r.k2::text, count(*), NULL FROM random_rows AS r GROUP BY 1, 2;
	-- equations: the values both one-field breakouts show or group, the
	-- two-field cells shown or grouped (members tell which cells each adds
	-- up), and the whole
	INSERT INTO attack_eqs SELECT row_number() OVER (), n FROM (
		SELECT g.n FROM unnest(one1) AS g WHERE g.status <> 'hidden'
		UNION ALL SELECT g.n FROM unnest(one2) AS g WHERE g.status <> 'hidden'
		UNION ALL SELECT c.n FROM unnest(two) AS c WHERE c.status <> 'hidden'
		UNION ALL SELECT sum(a.n) FROM attack_cells AS a) AS e;
	INSERT INTO attack_eq_cells
	SELECT e.id, a.k, a.k2
	FROM (SELECT row_number() OVER () AS id, m1, m2 FROM (
		SELECT g.members AS m1, NULL::text[] AS m2 FROM unnest(one1) AS g WHERE g.status <> 'hidden'
		UNION ALL SELECT NULL, g.members FROM unnest(one2) AS g WHERE g.status <> 'hidden'
		UNION ALL SELECT c.members1, c.members2 FROM unnest(two) AS c WHERE c.status <> 'hidden'
		UNION ALL SELECT NULL, NULL) AS x) AS e
	JOIN attack_cells AS a
	  ON (e.m1 IS NULL OR a.k = ANY (e.m1)) AND (e.m2 IS NULL OR a.k2 = ANY (e.m2));
	LOOP
		WITH rest AS (
			SELECT e.id, e.total - coalesce(sum(a.val), 0) AS rest,
			       count(*) FILTER (WHERE a.val IS NULL) AS unknown,
			       min(a.k || '/' || a.k2) FILTER (WHERE a.val IS NULL) AS cell
			FROM attack_eqs AS e JOIN attack_eq_cells AS ec USING (id)
			JOIN attack_cells AS a USING (k, k2) GROUP BY e.id, e.total)
		UPDATE attack_cells AS a SET val = r.rest
		FROM rest AS r WHERE r.unknown = 1 AND a.k || '/' || a.k2 = r.cell AND a.val IS NULL;
		GET DIAGNOSTICS solved = ROW_COUNT;
		EXIT WHEN solved = 0;
	END LOOP;
	-- a cell is not shown when no two-field cell adds up just that one
	RETURN QUERY
	SELECT 'no cell under k is determined', a.k || '/' || a.k2 || '=' || a.val
	FROM attack_cells AS a
	WHERE a.val BETWEEN 1 AND thr - 1
	  AND NOT EXISTS (SELECT 1 FROM unnest(two) AS c
	                  WHERE c.status = 'shown' AND c.members1 = ARRAY[a.k] AND c.members2 = ARRAY[a.k2]);
	RETURN QUERY
	SELECT 'no total isolates fewer than k', r.cells || '=' || r.rest
	FROM (SELECT e.id, e.total, e.total - coalesce(sum(a.val), 0) AS rest,
	             count(*) FILTER (WHERE a.val IS NULL) AS unknown,
	             string_agg(a.k || '/' || a.k2, ',' ORDER BY a.k, a.k2) FILTER (WHERE a.val IS NULL) AS cells
	      FROM attack_eqs AS e JOIN attack_eq_cells AS ec USING (id)
	      JOIN attack_cells AS a USING (k, k2) GROUP BY e.id, e.total) AS r
	WHERE r.unknown > 0 AND r.rest BETWEEN 1 AND thr - 1;
END $$;

-- The attack on one random data set: what the two-field breakout adds to
-- what the one-field breakouts give away.
CREATE FUNCTION random_attack_two(thr int, s1 anonymize.sensitivity, s2 anonymize.sensitivity,
                                  label text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	one1 anonymize.breakout_group[];
	one2 anonymize.breakout_group[];
	two anonymize.breakout_cell[];
BEGIN
	SELECT anonymize.anonymized_breakout(coalesce(r.k, '<NULL>'), r.metric, thr, s1),
	       anonymize.anonymized_breakout(r.k2, r.metric, thr, s2),
	       anonymize.anonymized_breakout(coalesce(r.k, '<NULL>'), r.k2, r.metric, thr, s1, s2)
	INTO one1, one2, two FROM random_rows AS r;
	INSERT INTO random_violations
	SELECT 'attack ' || label, v.invariant, v.detail
	FROM (SELECT * FROM attack_solve(thr, one1, one2, two)
	      EXCEPT SELECT * FROM attack_solve(thr, one1, one2, '{}')) AS v;
END $$;

CREATE FUNCTION random_run(cases int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	sens anonymize.sensitivity[] := enum_range(NULL::anonymize.sensitivity);
	k int;
BEGIN
	FOR i IN 1..cases LOOP
		PERFORM random_fill();
		k := 1 + floor(random() * 10)::int;
		PERFORM random_check_rows(k, sens[1 + floor(random() * 3)::int]);
		PERFORM random_check_people(k, sens[1 + floor(random() * 3)::int]);
		PERFORM random_check_two(k, sens[1 + floor(random() * 3)::int], sens[1 + floor(random() * 3)::int]);
	END LOOP;
	RETURN cases;
END $$;


-- The attack, on random data sets, against both rules: 'protected' must give
-- nothing away; 'per_slice' must be caught (so the attack can fail).
CREATE FUNCTION attack_run(cases int, label text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	sens anonymize.sensitivity[] := enum_range(NULL::anonymize.sensitivity);
	k int;
BEGIN
	FOR i IN 1..cases LOOP
		PERFORM random_fill();
		k := 2 + floor(random() * 6)::int;
		PERFORM random_attack_two(k, sens[1 + floor(random() * 3)::int], sens[1 + floor(random() * 3)::int], label);
	END LOOP;
	RETURN cases;
END $$;

SELECT random_run(300) AS cases;
SELECT attack_run(150, 'protected') AS cases;
SET anonymize.two_field_rule = per_slice;
SELECT attack_run(150, 'per_slice') AS cases;
RESET anonymize.two_field_rule;
SELECT count(*) > 0 AS per_slice_caught FROM random_violations WHERE form = 'attack per_slice';
DELETE FROM random_violations WHERE form = 'attack per_slice';
SELECT form, invariant, count(*) AS broken, min(detail) AS example
FROM random_violations GROUP BY form, invariant ORDER BY form, invariant;
SELECT count(*) AS violations FROM random_violations;
