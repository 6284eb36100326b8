/*-------------------------------------------------------------------------
 *
 * comments.c
 *	  The anonymized_comments aggregate: free-text comments shown only when
 *	  there are enough of them, and never in arrival order.
 *
 * The state keeps the non-blank comments of the group in the aggregate's
 * memory context.  The final function returns NULL under the threshold and
 * otherwise the comments sorted by the input collation, so their order says
 * nothing about who wrote them or when.  The plain form's threshold counts
 * comments; the form with an author column counts the distinct authors of
 * the non-blank comments (a NULL author is nobody), so that one person's
 * five comments do not reach a threshold of 5.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "anonymize.h"
#include "keys.h"

#define AGGNAME "anonymized_comments"

/* Transition state of anonymized_comments. */
typedef struct CommentsState
{
	MemoryContext mcxt;
	bool		threshold_known;
	int32		threshold;
	bool		threshold_float;	/* the threshold argument is float8 */
	int64		n;
	int64		size;			/* allocated length of comments */
	text	  **comments;
	bool		by_author;		/* the threshold counts distinct authors */
	AnonKeyType author;
	SubjectSet *authors;
} CommentsState;

PG_FUNCTION_INFO_V1(anon_comments_trans);
PG_FUNCTION_INFO_V1(anon_comments_combine);
PG_FUNCTION_INFO_V1(anon_comments_serialize);
PG_FUNCTION_INFO_V1(anon_comments_deserialize);
PG_FUNCTION_INFO_V1(anon_comments_final);

/*
 * An empty state in mcxt; with a valid author type, it counts the distinct
 * authors (compared under collation).
 */
static CommentsState *
comments_create(MemoryContext mcxt, Oid authortype, Oid collation)
{
	CommentsState *state = MemoryContextAllocZero(mcxt, sizeof(CommentsState));

	state->mcxt = mcxt;
	state->size = 16;
	state->comments = MemoryContextAlloc(mcxt, sizeof(text *) * state->size);
	state->by_author = OidIsValid(authortype);
	if (state->by_author)
	{
		anon_key_type_init(&state->author, authortype, collation, mcxt,
						   "author");
		state->authors = anon_subjects_create(&state->author, mcxt);
	}
	return state;
}

/* Set the threshold, or check that it is the one of the earlier rows. */
static void
comments_set_threshold(CommentsState *state, int32 threshold)
{
	if (state->threshold_known)
	{
		if (threshold != state->threshold)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("threshold must be the same for every row of anonymized_comments")));
		return;
	}
	anon_check_threshold(threshold);
	state->threshold = threshold;
	state->threshold_known = true;
}

/* Append a comment (copied into the state's memory). */
static void
comments_add(CommentsState *state, text *comment)
{
	if (state->n == state->size)
	{
		if (state->size >= MaxArraySize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many comments in one group"),
					 errdetail("A group can have at most %d comments.",
							   (int) MaxArraySize)));
		state->size = Min(state->size * 2, MaxArraySize);
		state->comments = repalloc(state->comments,
								   sizeof(text *) * state->size);
	}
	state->comments[state->n++] = (text *) MemoryContextAlloc(state->mcxt,
															  VARSIZE_ANY(comment));
	memcpy(state->comments[state->n - 1], comment, VARSIZE_ANY(comment));
}

/* Whether a comment holds nothing but white space. */
static bool
comments_blank(text *comment)
{
	const char *p = VARDATA_ANY(comment);
	const char *end = p + VARSIZE_ANY_EXHDR(comment);

	for (; p < end; p++)
		if (!isspace((unsigned char) *p))
			return false;
	return true;
}

/*
 * anon_comments_trans(internal, text [, int4 or float8]) RETURNS internal
 * anon_comments_trans(internal, text, "any" author, int4 or float8)
 *					   RETURNS internal
 *
 * Transition function: keep a non-blank comment, and count its author.
 */
Datum
anon_comments_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, AGGNAME);
	bool		with_author = PG_NARGS() > 3;
	int			targ = with_author ? 3 : 2;
	CommentsState *state;

	if (PG_ARGISNULL(0))
	{
		state = comments_create(aggcxt,
								with_author ?
								get_fn_expr_argtype(fcinfo->flinfo, 2) : InvalidOid,
								PG_GET_COLLATION());
		state->threshold_float = PG_NARGS() > targ &&
			get_fn_expr_argtype(fcinfo->flinfo, targ) == FLOAT8OID;
	}
	else
		state = (CommentsState *) PG_GETARG_POINTER(0);

	if (PG_NARGS() > targ && PG_ARGISNULL(targ))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("threshold must not be null")));
	if (PG_NARGS() <= targ)
		comments_set_threshold(state, anon_comment_threshold);
	else if (state->threshold_float)
		comments_set_threshold(state,
							   anon_threshold_from_float8(PG_GETARG_FLOAT8(targ)));
	else
		comments_set_threshold(state, PG_GETARG_INT32(targ));
	if (!PG_ARGISNULL(1))
	{
		text	   *comment = PG_GETARG_TEXT_PP(1);

		if (!comments_blank(comment))
		{
			comments_add(state, comment);
			if (with_author && !PG_ARGISNULL(2))
				anon_subjects_add(state->authors, PG_GETARG_DATUM(2), false);
		}
	}
	PG_RETURN_POINTER(state);
}

/*
 * anon_comments_combine(internal, internal) RETURNS internal
 *
 * Combine function: append the comments of a parallel worker.
 */
Datum
anon_comments_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, AGGNAME);
	CommentsState *dst = PG_ARGISNULL(0) ? NULL :
		(CommentsState *) PG_GETARG_POINTER(0);
	CommentsState *src = PG_ARGISNULL(1) ? NULL :
		(CommentsState *) PG_GETARG_POINTER(1);

	if (src == NULL)
	{
		if (dst == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(dst);
	}
	if (dst == NULL)
		dst = comments_create(aggcxt,
							  src->by_author ? src->author.type : InvalidOid,
							  src->by_author ? src->author.collation : InvalidOid);
	if (src->threshold_known)
		comments_set_threshold(dst, src->threshold);
	for (int64 i = 0; i < src->n; i++)
		comments_add(dst, src->comments[i]);
	if (src->by_author)
		anon_subjects_merge(dst->authors, src->authors);
	PG_RETURN_POINTER(dst);
}

/*
 * anon_comments_serialize(internal) RETURNS bytea
 *
 * Serialize function: threshold and comments as bytes.
 */
Datum
anon_comments_serialize(PG_FUNCTION_ARGS)
{
	CommentsState *state;
	StringInfoData buf;

	anon_agg_context(fcinfo, AGGNAME);
	state = (CommentsState *) PG_GETARG_POINTER(0);
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, state->threshold_known);
	pq_sendint32(&buf, state->threshold);
	pq_sendint32(&buf, state->by_author ? state->author.type : InvalidOid);
	pq_sendint32(&buf, state->by_author ? state->author.collation : InvalidOid);
	pq_sendint64(&buf, state->n);
	for (int64 i = 0; i < state->n; i++)
	{
		int			len = VARSIZE_ANY_EXHDR(state->comments[i]);

		pq_sendint32(&buf, len);
		pq_sendbytes(&buf, VARDATA_ANY(state->comments[i]), len);
	}
	if (state->by_author)
	{
		int			nest = anon_portable_settings();

		anon_subjects_send(&buf, state->authors);
		AtEOXact_GUC(true, nest);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * anon_comments_deserialize(bytea, internal) RETURNS internal
 *
 * Deserialize function: rebuild a state from anon_comments_serialize's bytes.
 */
Datum
anon_comments_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	CommentsState *state;
	int64		n;

	bool		threshold_known;
	int32		threshold;
	Oid			authortype;
	Oid			collation;

	anon_agg_context(fcinfo, AGGNAME);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
	threshold_known = pq_getmsgbyte(&buf);
	threshold = pq_getmsgint(&buf, 4);
	authortype = pq_getmsgint(&buf, 4);
	collation = pq_getmsgint(&buf, 4);
	state = comments_create(CurrentMemoryContext, authortype, collation);
	state->threshold_known = threshold_known;
	state->threshold = threshold;
	n = pq_getmsgint64(&buf);
	for (int64 i = 0; i < n; i++)
	{
		int			len = pq_getmsgint(&buf, 4);

		comments_add(state, cstring_to_text_with_len(pq_getmsgbytes(&buf, len), len));
	}
	if (state->by_author)
	{
		int			nest = anon_portable_settings();

		anon_subjects_recv(&buf, state->authors);
		AtEOXact_GUC(true, nest);
	}
	pq_getmsgend(&buf);
	pfree(buf.data);
	PG_RETURN_POINTER(state);
}

/* qsort_arg comparator of comments under a collation. */
static int
comments_cmp(const void *a, const void *b, void *arg)
{
	text	   *ta = *(text *const *) a;
	text	   *tb = *(text *const *) b;
	int			r = varstr_cmp(VARDATA_ANY(ta), VARSIZE_ANY_EXHDR(ta),
						   VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(tb),
						   *(Oid *) arg);

	/* equal under a nondeterministic collation: bytes decide */
	if (r == 0)
		r = varstr_cmp(VARDATA_ANY(ta), VARSIZE_ANY_EXHDR(ta),
					   VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(tb), C_COLLATION_OID);
	return r;
}

/*
 * anon_comments_final(internal) RETURNS text[]
 *
 * Final function: NULL under the threshold, else the comments sorted.  Sorts
 * a copy of the list, so the state is not modified.
 */
Datum
anon_comments_final(PG_FUNCTION_ARGS)
{
	CommentsState *state;
	Oid			collation = PG_GET_COLLATION();
	Datum	   *elems;

	anon_agg_context(fcinfo, AGGNAME);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (CommentsState *) PG_GETARG_POINTER(0);
	if (state->n == 0 || state->n < state->threshold)
		PG_RETURN_NULL();
	if (state->by_author &&
		anon_subjects_count(state->authors, false) < state->threshold)
		PG_RETURN_NULL();
	if (!OidIsValid(collation))
		collation = DEFAULT_COLLATION_OID;

	elems = palloc(sizeof(Datum) * state->n);
	for (int64 i = 0; i < state->n; i++)
		elems[i] = PointerGetDatum(state->comments[i]);
	qsort_arg(elems, state->n, sizeof(Datum), comments_cmp, &collation);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, state->n, TEXTOID, -1, false,
										  TYPALIGN_INT));
}
