/*-------------------------------------------------------------------------
 *
 * breakout_state.c
 *	  The type anonymize.breakout_state: the state of a one-field breakout
 *	  (by rows or by people) or of a two-field breakout as a value, and the
 *	  aggregates over it.
 *
 * With a concrete state type, Citus computes the breakout's states on the
 * workers and merges them on the coordinator (the concrete-typed overloads
 * of anonymized_breakout), and users can keep states and merge them later
 * (breakout_partial, breakout_merge, breakout_groups: rollups).
 *
 * In memory a state is an expanded object holding the hash tables of
 * breakout.c (or breakout_two.c); the transition function changes it in
 * place, so a row costs what it costs with the internal state of the
 * polymorphic forms.  Its flat form (on disk, between parallel workers, in
 * binary I/O) is the bytes "ABS", a version byte, and the portable bytes of
 * anon_breakout_write (or anon_two_write); its text form, which Citus
 * sends from the workers, is "abs1:" and the base64 of the bytes after the
 * version.  Every state read from outside is checked as it is read: a
 * malformed one is an error (22P02 as text, 22P03 in binary), and a state of
 * another version is refused with a clear message.  A state names only base
 * types, and a state that a transition call did not make itself (an
 * aggregate's initial value) must be of its argument types: no state makes
 * the extension read a value as another type.
 *
 * A state holds raw counts, sums and (by people) the distinct subjects of
 * every group: it is as sensitive as the rows it was made of.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "nodes/execnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "anonymize.h"
#include "breakout.h"
#include "keys.h"

#define BSTATE_MAGIC		"ABS"
#define BSTATE_VERSION		1
#define BSTATE_TEXT_PREFIX	"abs1:"

/* The form byte of a two-field state (one field: 1 by rows, 2 by people) */
#define BSTATE_FORM_TWO		3

/* A state: a one-field BreakoutState or a two-field TwoState. */
typedef struct BState
{
	bool		two;
	void	   *state;
} BState;

/* A state as an expanded object. */
typedef struct BreakoutStateEOH
{
	ExpandedObjectHeader hdr;
	BState		s;
	StringInfo	flat;			/* the flat form while unchanged, or NULL */
} BreakoutStateEOH;

static Size bstate_get_flat_size(ExpandedObjectHeader *eohptr);
static void bstate_flatten_into(ExpandedObjectHeader *eohptr, void *result,
								Size allocated_size);

static const ExpandedObjectMethods bstate_methods = {
	bstate_get_flat_size,
	bstate_flatten_into
};

PG_FUNCTION_INFO_V1(anon_bstate_in);
PG_FUNCTION_INFO_V1(anon_bstate_out);
PG_FUNCTION_INFO_V1(anon_bstate_recv);
PG_FUNCTION_INFO_V1(anon_bstate_send);
PG_FUNCTION_INFO_V1(anon_bstate_trans);
PG_FUNCTION_INFO_V1(anon_bstate2_trans);
PG_FUNCTION_INFO_V1(anon_bstate_combine);
PG_FUNCTION_INFO_V1(anon_bstate_final);
PG_FUNCTION_INFO_V1(anon_bstate2_final);
PG_FUNCTION_INFO_V1(anon_bstate_groups);

/* An expanded object without a state yet, in a new child context of parent. */
static BreakoutStateEOH *
bstate_new(MemoryContext parent)
{
	/* starting small: a GROUP BY makes one state per group */
	MemoryContext cxt = AllocSetContextCreate(parent, "breakout_state",
											  ALLOCSET_SMALL_MINSIZE,
											  ALLOCSET_SMALL_INITSIZE,
											  ALLOCSET_DEFAULT_MAXSIZE);
	BreakoutStateEOH *eoh = MemoryContextAllocZero(cxt, sizeof(BreakoutStateEOH));

	EOH_init_header(&eoh->hdr, &bstate_methods, cxt);
	return eoh;
}

/* The state is about to change: its flat form no longer holds. */
static inline void
bstate_changed(BreakoutStateEOH *eoh)
{
	if (unlikely(eoh->flat != NULL))
	{
		pfree(eoh->flat->data);
		pfree(eoh->flat);
		eoh->flat = NULL;
	}
}

/* The flat form of a state (with room for the varlena header), cached. */
static StringInfo
bstate_flat(BreakoutStateEOH *eoh)
{
	if (eoh->flat == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(eoh->hdr.eoh_context);
		StringInfo	buf = makeStringInfo();

		appendStringInfoSpaces(buf, VARHDRSZ);
		appendBinaryStringInfo(buf, BSTATE_MAGIC, 3);
		appendStringInfoChar(buf, BSTATE_VERSION);
		if (eoh->s.two)
			anon_two_write(buf, eoh->s.state);
		else
			anon_breakout_write(buf, eoh->s.state);
		MemoryContextSwitchTo(old);
		eoh->flat = buf;
	}
	return eoh->flat;
}

/* Expanded object method: the size of the flat form. */
static Size
bstate_get_flat_size(ExpandedObjectHeader *eohptr)
{
	return bstate_flat((BreakoutStateEOH *) eohptr)->len;
}

/* Expanded object method: write the flat form. */
static void
bstate_flatten_into(ExpandedObjectHeader *eohptr, void *result,
					Size allocated_size)
{
	StringInfo	flat = bstate_flat((BreakoutStateEOH *) eohptr);

	Assert(allocated_size == flat->len);
	memcpy(result, flat->data, flat->len);
	SET_VARSIZE(result, flat->len);
}

/*
 * A reader of the bytes of a flat form after its varlena header, past the
 * magic and the version, which it checks.  sqlstate is that of a malformed
 * input.
 */
static AnonReader
bstate_reader(const char *data, int len, int sqlstate)
{
	AnonReader	r = {data, data + len, sqlstate};
	const char *magic = anon_read_bytes(&r, 3);
	uint8		version;

	if (memcmp(magic, BSTATE_MAGIC, 3) != 0)
		anon_read_fail(&r, "The bytes are not a breakout state.");
	version = anon_read_byte(&r);
	if (version != BSTATE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("breakout state of version %d is not supported", version),
				 errdetail("This version of anonymize reads states of version %d.",
						   BSTATE_VERSION),
				 errhint("Read the state with the version of anonymize that wrote it, or make it again from the rows.")));
	return r;
}

/* Whether what a reader of a flat form reads next is a two-field state. */
static inline bool
bstate_reads_two(AnonReader *r)
{
	/* the form byte comes next; each form's reader reads it */
	return r->cur < r->end && (uint8) *r->cur == BSTATE_FORM_TWO;
}

/*
 * Read the bytes of a flat form after its varlena header: the magic, the
 * version, the state.  sqlstate is that of a malformed input.
 */
static BState
bstate_read_bytes(const char *data, int len, int sqlstate, MemoryContext mcxt)
{
	AnonReader	r = bstate_reader(data, len, sqlstate);
	BState		result;

	result.two = bstate_reads_two(&r);
	result.state = result.two ? (void *) anon_two_read(&r, mcxt) :
		(void *) anon_breakout_read(&r, mcxt);
	return result;
}

/*
 * A state to read, from a datum of the type: the expanded object's own, or
 * one read from the flat form into the current memory context.
 */
static BState
bstate_peek(Datum d)
{
	struct varlena *v;

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods == &bstate_methods)
			return ((BreakoutStateEOH *) eoh)->s;
	}
	v = PG_DETOAST_DATUM(d);
	return bstate_read_bytes(VARDATA(v), VARSIZE(v) - VARHDRSZ,
							 ERRCODE_DATA_CORRUPTED, CurrentMemoryContext);
}

/*
 * A state that this call may change: argument argno if it is a read-write
 * expanded object of the aggregate's context, else a copy made there (then
 * *adopted is set: the state was not made by this aggregate's calls).
 */
static BreakoutStateEOH *
bstate_rw(FunctionCallInfo fcinfo, int argno, MemoryContext aggcxt,
		  bool *adopted)
{
	Datum		d = PG_GETARG_DATUM(argno);
	BreakoutStateEOH *eoh;
	struct varlena *v;

	if (VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *h = DatumGetEOHP(d);

		if (h->eoh_methods == &bstate_methods &&
			MemoryContextGetParent(h->eoh_context) == aggcxt)
		{
			*adopted = false;
			return (BreakoutStateEOH *) h;
		}
	}
	*adopted = true;
	eoh = bstate_new(aggcxt);
	v = PG_DETOAST_DATUM(d);
	eoh->s = bstate_read_bytes(VARDATA(v), VARSIZE(v) - VARHDRSZ,
							   ERRCODE_DATA_CORRUPTED, eoh->hdr.eoh_context);
	return eoh;
}

/* Refuse a state of a breakout by one field where one by two is needed, or the reverse. */
static void
bstate_not_two(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cannot merge breakout states of different forms"),
			 errdetail("One state is of a breakout by one field, the other by two fields.")));
}

/*
 * anon_bstate_in(cstring) RETURNS anonymize.breakout_state
 *
 * Input function: "abs1:" and base64; checked (22P02).
 */
Datum
anon_bstate_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		plen = strlen(BSTATE_TEXT_PREFIX);
	size_t		len = strlen(str);
	int			maxlen;
	int			declen;
	bytea	   *result;
	MemoryContext cxt;
	MemoryContext old;

	if (len < plen || strncmp(str, BSTATE_TEXT_PREFIX, plen) != 0)
	{
		if (len >= 5 && strncmp(str, "abs", 3) == 0 && isdigit((unsigned char) str[3]) &&
			strchr(str, ':') != NULL &&
			strspn(str + 3, "0123456789") == (size_t) (strchr(str, ':') - str - 3))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("breakout state of another version is not supported"),
					 errdetail("This version of anonymize reads states written as \"%s...\".",
							   BSTATE_TEXT_PREFIX),
					 errhint("Read the state with the version of anonymize that wrote it, or make it again from the rows.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type breakout_state"),
				 errdetail("A breakout state starts with \"%s\".", BSTATE_TEXT_PREFIX)));
	}
	if (len - plen > MaxAllocSize / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("breakout state is too long")));
	maxlen = pg_b64_dec_len(len - plen);
	result = palloc(VARHDRSZ + 4 + maxlen);
	memcpy(VARDATA(result), BSTATE_MAGIC, 3);
	VARDATA(result)[3] = BSTATE_VERSION;
	declen = pg_b64_decode(str + plen, len - plen, VARDATA(result) + 4, maxlen);
	if (declen < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type breakout_state"),
				 errdetail("What follows \"%s\" is not valid base64.",
						   BSTATE_TEXT_PREFIX)));
	SET_VARSIZE(result, VARHDRSZ + 4 + declen);

	/* check every byte now, in a context of its own */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "breakout_state check",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	(void) bstate_read_bytes(VARDATA(result), VARSIZE(result) - VARHDRSZ,
							 ERRCODE_INVALID_TEXT_REPRESENTATION, cxt);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	PG_RETURN_BYTEA_P(result);
}

/*
 * anon_bstate_out(anonymize.breakout_state) RETURNS cstring
 *
 * Output function: "abs1:" and the base64 of the state's bytes.
 */
Datum
anon_bstate_out(PG_FUNCTION_ARGS)
{
	struct varlena *v = PG_GETARG_VARLENA_P(0);
	int			len = VARSIZE(v) - VARHDRSZ - 4;
	size_t		plen = strlen(BSTATE_TEXT_PREFIX);
	int			enclen;
	char	   *result;

	if (len < 0 || memcmp(VARDATA(v), BSTATE_MAGIC, 3) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed breakout state")));
	enclen = pg_b64_enc_len(len);
	result = palloc(plen + enclen + 1);
	memcpy(result, BSTATE_TEXT_PREFIX, plen);
	enclen = pg_b64_encode(VARDATA(v) + 4, len, result + plen, enclen);
	if (enclen < 0)
		elog(ERROR, "could not encode a breakout state");
	result[plen + enclen] = '\0';
	PG_RETURN_CSTRING(result);
}

/*
 * anon_bstate_recv(internal) RETURNS anonymize.breakout_state
 *
 * Binary input function: the flat bytes; checked (22P03).
 */
Datum
anon_bstate_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	bytea	   *result = palloc(VARHDRSZ + len);
	MemoryContext cxt;
	MemoryContext old;

	memcpy(VARDATA(result), buf->data + buf->cursor, len);
	SET_VARSIZE(result, VARHDRSZ + len);
	buf->cursor = buf->len;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "breakout_state check",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	(void) bstate_read_bytes(VARDATA(result), len,
							 ERRCODE_INVALID_BINARY_REPRESENTATION, cxt);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	PG_RETURN_BYTEA_P(result);
}

/*
 * anon_bstate_send(anonymize.breakout_state) RETURNS bytea
 *
 * Binary output function: the flat bytes.
 */
Datum
anon_bstate_send(PG_FUNCTION_ARGS)
{
	struct varlena *v = PG_GETARG_VARLENA_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA(v), VARSIZE(v) - VARHDRSZ);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * anon_bstate_trans(breakout_state, key, float8 [, int4 [, sensitivity
 *					 [, subject]]]) RETURNS breakout_state
 *
 * Transition function of the concrete-typed anonymized_breakout and of
 * breakout_partial: count the row, in place.
 */
Datum
anon_bstate_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, "anonymized_breakout");
	BreakoutStateEOH *eoh;
	bool		adopted;

	if (PG_ARGISNULL(0))
	{
		eoh = bstate_new(aggcxt);
		eoh->s.state = anon_breakout_begin(fcinfo, eoh->hdr.eoh_context);
	}
	else
	{
		eoh = bstate_rw(fcinfo, 0, aggcxt, &adopted);
		bstate_changed(eoh);
		if (eoh->s.two)
			bstate_not_two();
		if (adopted)
			anon_breakout_check_call(eoh->s.state, fcinfo);
	}
	anon_breakout_advance(eoh->s.state, fcinfo);
	PG_RETURN_DATUM(EOHPGetRWDatum(&eoh->hdr));
}

/*
 * anon_bstate2_trans(breakout_state, key1, key2, float8, int4, sensitivity,
 *					  sensitivity) RETURNS breakout_state
 *
 * Transition function of the concrete-typed two-field anonymized_breakout:
 * count the row, in place.
 */
Datum
anon_bstate2_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, "anonymized_breakout");
	BreakoutStateEOH *eoh;
	bool		adopted;

	if (PG_ARGISNULL(0))
	{
		eoh = bstate_new(aggcxt);
		eoh->s.two = true;
		eoh->s.state = anon_two_begin(fcinfo, eoh->hdr.eoh_context);
	}
	else
	{
		eoh = bstate_rw(fcinfo, 0, aggcxt, &adopted);
		bstate_changed(eoh);
		if (!eoh->s.two)
			bstate_not_two();
		if (adopted)
			anon_two_check_call(eoh->s.state, fcinfo);
	}
	anon_two_advance(eoh->s.state, fcinfo);
	PG_RETURN_DATUM(EOHPGetRWDatum(&eoh->hdr));
}

/* The state of a datum of the type if it is expanded, else NULL. */
static BState *
bstate_expanded(Datum d)
{
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods == &bstate_methods)
			return &((BreakoutStateEOH *) eoh)->s;
	}
	return NULL;
}

/*
 * How many states a combine call of this aggregate merges at most: where
 * the aggregate reads a Gather (or Gather Merge), one state from each of
 * its workers and one from the leader; else an unknown number, 1.
 */
static int
bstate_parallel_states(FunctionCallInfo fcinfo)
{
	PlanState  *outer;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, AggState))
		return 1;
	outer = outerPlanState((AggState *) fcinfo->context);
	if (outer != NULL && IsA(outer, GatherState))
		return ((GatherState *) outer)->nworkers_launched + 1;
	if (outer != NULL && IsA(outer, GatherMergeState))
		return ((GatherMergeState *) outer)->nworkers_launched + 1;
	return 1;
}

/*
 * Merge the state of a datum of the type into dst, or, if dst has no state
 * yet, make dst a copy of it in mcxt (22023 for states of different forms).
 * A one-field state is merged from its hash tables if it is expanded, and
 * as it is read if it is flat (each person hashed once, rather than read
 * into a state and merged from it; a group's people read first make room
 * for those of nstates states, so that its table does not grow with each
 * state merged); a two-field state is read, then merged.  Values read are
 * allocated in the current memory context.
 */
static void
bstate_merge_datum(BState *dst, Datum d, MemoryContext mcxt, int nstates)
{
	BState	   *src = bstate_expanded(d);
	BState		read;
	struct varlena *v;
	AnonReader	r;

	if (src == NULL)
	{
		v = PG_DETOAST_DATUM(d);
		r = bstate_reader(VARDATA(v), VARSIZE(v) - VARHDRSZ,
						  ERRCODE_DATA_CORRUPTED);
		read.two = bstate_reads_two(&r);
		if (dst->state != NULL && read.two != dst->two)
			bstate_not_two();
		dst->two = read.two;
		if (!read.two)
		{
			dst->state = anon_breakout_read_merge(&r, dst->state, mcxt,
												  nstates);
			return;
		}
		if (dst->state == NULL)
		{
			dst->state = anon_two_read(&r, mcxt);
			return;
		}
		read.state = anon_two_read(&r, CurrentMemoryContext);
		src = &read;
	}
	else if (dst->state != NULL && src->two != dst->two)
		bstate_not_two();
	dst->two = src->two;
	if (src->two)
	{
		if (dst->state == NULL)
		{
			/* a copy through the flat form */
			v = PG_DETOAST_DATUM(d);
			r = bstate_reader(VARDATA(v), VARSIZE(v) - VARHDRSZ,
							  ERRCODE_DATA_CORRUPTED);
			dst->state = anon_two_read(&r, mcxt);
			return;
		}
		anon_two_merge_state(dst->state, src->state);
		return;
	}
	if (dst->state == NULL)
		dst->state = anon_breakout_like(src->state, mcxt);
	anon_breakout_merge_state(dst->state, src->state);
}

/*
 * anon_bstate_combine(breakout_state, breakout_state) RETURNS breakout_state
 *
 * Combine function of the type's aggregates, and transition function of
 * breakout_merge: merge the second state into the first (22023 if they are
 * of different forms or settings).
 */
Datum
anon_bstate_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, "breakout_merge");
	BreakoutStateEOH *eoh;
	bool		adopted;
	MemoryContext cxt;
	MemoryContext old;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	cxt = AllocSetContextCreate(CurrentMemoryContext, "breakout_state merge",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	if (PG_ARGISNULL(0))
	{
		Datum		d = PG_GETARG_DATUM(1);
		ExpandedObjectHeader *h;

		/* a state of this aggregate's own is taken as it is */
		if (VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)) &&
			(h = DatumGetEOHP(d))->eoh_methods == &bstate_methods &&
			MemoryContextGetParent(h->eoh_context) == aggcxt)
			eoh = (BreakoutStateEOH *) h;
		else
		{
			eoh = bstate_new(aggcxt);
			bstate_merge_datum(&eoh->s, d, eoh->hdr.eoh_context,
							   bstate_parallel_states(fcinfo));
		}
	}
	else
	{
		eoh = bstate_rw(fcinfo, 0, aggcxt, &adopted);
		bstate_changed(eoh);
		bstate_merge_datum(&eoh->s, PG_GETARG_DATUM(1), NULL,
						   bstate_parallel_states(fcinfo));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(EOHPGetRWDatum(&eoh->hdr));
}

/* The element type of this function's declared result (breakout_group). */
static Oid
bstate_result_rowtype(FunctionCallInfo fcinfo)
{
	Oid			rowtype = get_element_type(get_func_rettype(fcinfo->flinfo->fn_oid));

	if (!OidIsValid(rowtype))
		elog(ERROR, "function %u does not return an array",
			 fcinfo->flinfo->fn_oid);
	return rowtype;
}

/* The groups of a one-field state; 22023 for a two-field one. */
static ArrayType *
bstate_groups(BState s, Oid rowtype)
{
	if (s.two)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("breakout_groups takes the state of a breakout by one field"),
				 errdetail("The state is of a breakout by two fields.")));
	return anon_breakout_groups(s.state, rowtype);
}

/*
 * anon_bstate_final(breakout_state) RETURNS anonymize.breakout_group[]
 *
 * Final function of the concrete-typed anonymized_breakout: the groups that
 * may be shown.  Does not modify the state.
 */
Datum
anon_bstate_final(PG_FUNCTION_ARGS)
{
	Oid			rowtype = bstate_result_rowtype(fcinfo);

	anon_agg_context(fcinfo, "anonymized_breakout");
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(rowtype));
	PG_RETURN_ARRAYTYPE_P(bstate_groups(bstate_peek(PG_GETARG_DATUM(0)), rowtype));
}

/*
 * anon_bstate2_final(breakout_state) RETURNS anonymize.breakout_cell[]
 *
 * Final function of the concrete-typed two-field anonymized_breakout: the
 * cells that may be shown.  Does not modify the state.
 */
Datum
anon_bstate2_final(PG_FUNCTION_ARGS)
{
	Oid			rowtype = bstate_result_rowtype(fcinfo);
	BState		s;

	anon_agg_context(fcinfo, "anonymized_breakout");
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(rowtype));
	s = bstate_peek(PG_GETARG_DATUM(0));
	if (!s.two)
		elog(ERROR, "a two-field breakout got the state of a one-field breakout");
	PG_RETURN_ARRAYTYPE_P(anon_two_result(s.state, rowtype));
}

/*
 * anon_bstate_groups(breakout_state) RETURNS anonymize.breakout_group[]
 *
 * breakout_groups(state): the groups of a state (merged or not) that may be
 * shown, as anonymized_breakout over its rows gives them.  No state (an
 * aggregate over no row) gives no group.
 */
Datum
anon_bstate_groups(PG_FUNCTION_ARGS)
{
	Oid			rowtype = bstate_result_rowtype(fcinfo);

	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(rowtype));
	PG_RETURN_ARRAYTYPE_P(bstate_groups(bstate_peek(PG_GETARG_DATUM(0)), rowtype));
}
