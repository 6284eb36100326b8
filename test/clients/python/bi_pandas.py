#!/usr/bin/python3
"""BI questions through psycopg2 and pandas as a role with anonymized access.

Connects as bi_reader (anonymized access to responses, no SELECT on it) and
as survey_owner (the table's owner) to the database anonymize_clients made by
test/clients/run; PGHOST and PGPORT name the server.  Exits 1 with a message
naming the question and both answers when something differs.
"""
import os
import sys
import warnings

import pandas
import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
DB = "anonymize_clients"
K = 5
TENURES = ["1-3y", "3y+", "<1y"]
COLUMNS = [("department", "very_sensitive"), ("site", "somewhat_sensitive")]
# Types of the plain query's columns: text, int8 (count), float8 (avg).
TYPES = [25, 20, 701]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAILED: " + msg)


def bi_query(col):
    """The BI tool's question, with a psycopg2 placeholder for the filter."""
    return (f"SELECT {col}, count(*) AS count, avg(score) AS avg FROM responses "
            f"WHERE tenure = %s GROUP BY {col} ORDER BY {col}")


def owner_query(col, sensitivity):
    """What the owner computes for the same rows with anonymized_breakout (the
    grantee gets no row for a hidden group)."""
    return (f"SELECT b.label, b.n, b.mean FROM (SELECT anonymize.anonymized_breakout("
            f"{col}, score, {K}, '{sensitivity}') AS a FROM responses WHERE tenure = %s) AS s, "
            f"unnest(s.a) AS b WHERE b.status <> 'hidden' ORDER BY b.label")


def fmt(rows):
    if not rows:
        return "    (no row)"
    return "\n".join("    %s | %s | %s" % tuple("NULL" if v is None else repr(v) for v in r)
                     for r in rows)


def load_expected():
    expected = {}
    with open(os.path.join(HERE, "..", "expected.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            col, tenure, key, n, mean = line.rstrip("\n").split("\t")
            expected.setdefault((col, tenure), []).append(
                (key, None if n == r"\N" else int(n), None if mean == r"\N" else float(mean)))
    return expected


def frame_rows(df):
    """Rows of a DataFrame as (key, count, avg), NaN read as NULL."""
    rows = []
    for key, n, mean in df.itertuples(index=False, name=None):
        rows.append((None if pandas.isna(key) else key,
                     None if pandas.isna(n) else int(n),
                     None if pandas.isna(mean) else float(mean)))
    return rows


def pg_error(exc):
    """The psycopg2 error behind an exception (pandas wraps it in its own)."""
    while exc is not None and not isinstance(exc, psycopg2.Error):
        exc = exc.__cause__
    return exc


def read_sql(sql, con, params=None):
    """pandas.read_sql_query, raising the server's error as psycopg2 gives it."""
    try:
        return pandas.read_sql_query(sql, con, params=params)
    except Exception as e:
        err = pg_error(e)
        if err is None:
            raise
        raise err


def compare(what, got, want, want_name):
    if got != want:
        fail(f"{what}: got\n{fmt(got)}\n  but {want_name}\n{fmt(want)}")
        return False
    return True


def main():
    warnings.filterwarnings("ignore", message=".*SQLAlchemy.*")
    expected = load_expected()
    owner = psycopg2.connect(dbname=DB, user="survey_owner")
    bi = psycopg2.connect(dbname=DB, user="bi_reader", application_name="bi_pandas")
    print("pandas %s, psycopg2 %s, server %s" % (pandas.__version__, psycopg2.__version__,
                                                 bi.server_version))

    for col, sensitivity in COLUMNS:
        for tenure in TENURES:
            question = f"GROUP BY {col} WHERE tenure = '{tenure}'"
            what = f"{question} (pandas.read_sql_query as bi_reader)"
            # read through pandas as well, so that its reading of NULLs is
            # checked against expected.tsv
            want = frame_rows(read_sql(owner_query(col, sensitivity), owner, params=(tenure,)))
            owner.rollback()
            owned = (f"owner's anonymized_breakout({col}, score, {K}, '{sensitivity}') "
                     f"WHERE tenure = '{tenure}'")
            if compare(owned, want, expected.get((col, tenure), []), "expected.tsv holds"):
                print(f"ok {owned}: the {len(want)} rows of expected.tsv")
            try:
                df = read_sql(bi_query(col), bi, params=(tenure,))
            except psycopg2.Error as e:
                fail(f"{what}: error {e.pgcode}: {(e.pgerror or str(e)).strip()}")
                bi.rollback()
                continue
            if list(df.columns) != [col, "count", "avg"]:
                fail(f"{what}: columns {list(df.columns)}, not {[col, 'count', 'avg']}")
            if compare(what, frame_rows(df), want, "the owner's anonymized_breakout gives"):
                print(f"ok {what}: {len(df)} rows")
            # the same question through a plain cursor: the column types
            what = f"{question} (psycopg2 cursor as bi_reader)"
            try:
                with bi.cursor() as cur:
                    cur.execute(bi_query(col), (tenure,))
                    types = [d.type_code for d in cur.description]
                    names = [d.name for d in cur.description]
                    if types != TYPES or names != [col, "count", "avg"]:
                        fail(f"{what}: columns {list(zip(names, types))}, "
                             f"not {list(zip([col, 'count', 'avg'], TYPES))} (name, type OID)")
                    compare(what, [tuple(r) for r in cur.fetchall()], want,
                            "the owner's anonymized_breakout gives")
                bi.commit()
            except psycopg2.Error as e:
                fail(f"{what}: error {e.pgcode}: {(e.pgerror or str(e)).strip()}")
                bi.rollback()

    # A server-side (named) cursor, as tools that stream large results use:
    # DECLARE ... CURSOR, then FETCH two rows at a time.
    for query, tenure, want in [(bi_query("site"), "1-3y", expected[("site", "1-3y")]),
                                ("SELECT * FROM responses WHERE tenure = %s", "1-3y", None)]:
        what = f"{query} with '{tenure}' through a named cursor (DECLARE, FETCH 2)"
        try:
            with bi.cursor(name="bi_stream") as cur:
                cur.itersize = 2
                cur.execute(query, (tenure,))
                rows = [tuple(r) for r in cur]
            if want is None:
                fail(f"{what}: {len(rows)} rows, not SQLSTATE 42501")
            elif compare(what, rows, want, "expected.tsv holds"):
                print(f"ok {what}: {len(rows)} rows")
        except psycopg2.Error as e:
            if want is None and e.pgcode == "42501":
                print(f"ok {what}: SQLSTATE 42501: " + e.pgerror.splitlines()[0])
            else:
                fail(f"{what}: error {e.pgcode}: {(e.pgerror or str(e)).strip()}")
        bi.rollback()

    # Rows of the table: refused with insufficient_privilege, and the
    # connection still answers after a rollback.
    try:
        df = read_sql("SELECT * FROM responses", bi)
        fail(f"SELECT * FROM responses as bi_reader returned {len(df)} rows, not SQLSTATE 42501")
    except psycopg2.Error as e:
        if e.pgcode != "42501":
            fail(f"SELECT * FROM responses as bi_reader: SQLSTATE {e.pgcode}, not 42501 ({e.pgerror})")
        else:
            print("ok SELECT * FROM responses as bi_reader: SQLSTATE 42501: "
                  + e.pgerror.splitlines()[0])
    bi.rollback()
    what = "GROUP BY department WHERE tenure = '3y+' after the refused query"
    try:
        df = read_sql(bi_query("department"), bi, params=("3y+",))
        if compare(what, frame_rows(df), expected[("department", "3y+")], "expected.tsv holds"):
            print(f"ok {what}")
    except psycopg2.Error as e:
        fail(f"{what}: error {e.pgcode}: {e.pgerror.strip()}")

    bi.close()
    owner.close()
    if failures:
        print(f"bi_pandas: {len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
