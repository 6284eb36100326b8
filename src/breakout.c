/*-------------------------------------------------------------------------
 *
 * breakout.c
 *	  The anonymized_breakout aggregate over one field.
 *
 * The transition state is a hash table of groups keyed by the key datum
 * itself, using the key type's default hash and equality functions, so the
 * per-row cost is one hash probe and a few additions.  Keys are turned into
 * text only by the final function.  The state lives in the aggregate's
 * memory context and grows with the number of groups, not of rows.
 *
 * Contracts:
 *	- the final function never modifies the state (it may run more than once,
 *	  for instance as a window aggregate);
 *	- serialized states carry keys in their text form, written and read under
 *	  fixed settings (ISO dates, exact floats), so they depend neither on
 *	  client_encoding, on the session's output settings nor on the type OIDs
 *	  of the sending server's enums.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "anonymize.h"
#include "grouping.h"

#define GROUPED_LABEL "Grouped for anonymity"

/* Columns of anonymize.breakout_group */
#define BREAKOUT_GROUP_NATTS 6

/* One group of the breakout: the rows that share one key. */
typedef struct BreakoutGroup
{
	Datum		key;
	uint32		hash;
	char		status;			/* used by simplehash */
	int64		rows;			/* rows in the group */
	int64		metric_rows;	/* rows whose metric is not NULL */
	float8		sum;			/* sum of the non-NULL metrics */
} BreakoutGroup;

struct BreakoutState;

static inline uint32 breakout_hash_key(struct BreakoutState *state, Datum key);
static inline bool breakout_keys_equal(struct BreakoutState *state,
									   Datum a, Datum b);

#define SH_PREFIX			bgroup
#define SH_ELEMENT_TYPE		BreakoutGroup
#define SH_KEY_TYPE			Datum
#define SH_KEY				key
#define SH_HASH_KEY(tb, k)	breakout_hash_key((struct BreakoutState *) (tb)->private_data, k)
#define SH_EQUAL(tb, a, b)	breakout_keys_equal((struct BreakoutState *) (tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)	((a)->hash)
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Transition state of anonymized_breakout. */
typedef struct BreakoutState
{
	MemoryContext mcxt;			/* where groups and key copies live */
	Oid			keytype;
	Oid			collation;
	int16		typlen;
	bool		typbyval;
	FmgrInfo	hash_fn;
	FmgrInfo	eq_fn;

	bool		settings_known; /* threshold and sensitivity are set */
	int32		threshold;
	AnonSensitivity sensitivity;
	Oid			sensitivity_oid;	/* enum value they came from, or 0 */

	bgroup_hash *groups;		/* groups with a non-NULL key */
	BreakoutGroup nullgroup;	/* rows with a NULL key (rows = 0: none) */
	int64		rows;			/* totals over every group */
	int64		metric_rows;
} BreakoutState;

PG_FUNCTION_INFO_V1(anon_breakout_trans);
PG_FUNCTION_INFO_V1(anon_breakout_combine);
PG_FUNCTION_INFO_V1(anon_breakout_serialize);
PG_FUNCTION_INFO_V1(anon_breakout_deserialize);
PG_FUNCTION_INFO_V1(anon_breakout_final);

/* Hash a non-NULL key with its type's default hash function. */
static inline uint32
breakout_hash_key(BreakoutState *state, Datum key)
{
	return DatumGetUInt32(FunctionCall1Coll(&state->hash_fn, state->collation,
											key));
}

/* Whether two non-NULL keys are equal by their type's equality operator. */
static inline bool
breakout_keys_equal(BreakoutState *state, Datum a, Datum b)
{
	return DatumGetBool(FunctionCall2Coll(&state->eq_fn, state->collation,
										  a, b));
}

/* Raise an error unless called as part of an aggregate. */
static MemoryContext
breakout_agg_context(FunctionCallInfo fcinfo)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("anonymized_breakout support function called outside an aggregate")));
	return aggcxt;
}

/* Make an empty state for keys of the given type, allocated in mcxt. */
static BreakoutState *
breakout_state_create(MemoryContext mcxt, Oid keytype, Oid collation)
{
	TypeCacheEntry *tc;
	BreakoutState *state;

	if (!OidIsValid(keytype))
		ereport(ERROR,
				(errcode(ERRCODE_INDETERMINATE_DATATYPE),
				 errmsg("could not determine the type of the breakout key")));

	tc = lookup_type_cache(keytype,
						   TYPECACHE_HASH_PROC_FINFO | TYPECACHE_EQ_OPR_FINFO);
	if (!OidIsValid(tc->hash_proc) || !OidIsValid(tc->eq_opr_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("cannot break out by a key of type %s",
						format_type_be(keytype)),
				 errdetail("Type %s has no default hash operator class, so equal keys cannot be recognized.",
						   format_type_be(keytype)),
				 errhint("Cast the key to a type that has one, such as text.")));

	state = MemoryContextAllocZero(mcxt, sizeof(BreakoutState));
	state->mcxt = mcxt;
	state->keytype = keytype;
	state->collation = collation;
	state->typlen = tc->typlen;
	state->typbyval = tc->typbyval;
	fmgr_info_copy(&state->hash_fn, &tc->hash_proc_finfo, mcxt);
	fmgr_info_copy(&state->eq_fn, &tc->eq_opr_finfo, mcxt);
	state->groups = bgroup_create(mcxt, 64, state);
	return state;
}

/* Map a value of the enum anonymize.sensitivity to its C form. */
static AnonSensitivity
breakout_sensitivity_from_oid(Oid enumval)
{
	HeapTuple	tup;
	const char *label;
	AnonSensitivity result;

	tup = SearchSysCache1(ENUMOID, ObjectIdGetDatum(enumval));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for enum value %u", enumval);
	label = NameStr(((Form_pg_enum) GETSTRUCT(tup))->enumlabel);
	if (strcmp(label, "not_sensitive") == 0)
		result = ANON_NOT_SENSITIVE;
	else if (strcmp(label, "somewhat_sensitive") == 0)
		result = ANON_SOMEWHAT_SENSITIVE;
	else if (strcmp(label, "very_sensitive") == 0)
		result = ANON_VERY_SENSITIVE;
	else
		elog(ERROR, "unrecognized sensitivity \"%s\"", label);
	ReleaseSysCache(tup);
	return result;
}

/* Refuse a threshold below 1 or below anonymize.min_threshold. */
static void
breakout_check_threshold(int32 threshold)
{
	if (threshold < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be at least 1, not %d", threshold)));
	if (threshold < anon_min_threshold)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold %d is below the minimum threshold %d",
						threshold, anon_min_threshold),
				 errdetail("anonymize.min_threshold is set to %d.",
						   anon_min_threshold)));
}

/*
 * Read the threshold and sensitivity of this row (arguments 4 and 5, or
 * their defaults) and check them against those of the earlier rows.
 */
static void
breakout_read_settings(BreakoutState *state, FunctionCallInfo fcinfo)
{
	int32		threshold = anon_threshold;
	Oid			sens_oid = InvalidOid;

	if (PG_NARGS() > 3)
	{
		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("threshold must not be null")));
		threshold = PG_GETARG_INT32(3);
	}
	if (PG_NARGS() > 4)
	{
		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("sensitivity must not be null")));
		sens_oid = PG_GETARG_OID(4);
	}

	if (state->settings_known)
	{
		if (threshold != state->threshold ||
			sens_oid != state->sensitivity_oid)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("threshold and sensitivity must be the same for every row of a breakout")));
		return;
	}

	breakout_check_threshold(threshold);
	state->threshold = threshold;
	state->sensitivity_oid = sens_oid;
	state->sensitivity = OidIsValid(sens_oid) ?
		breakout_sensitivity_from_oid(sens_oid) : ANON_VERY_SENSITIVE;
	state->settings_known = true;
}

/* Copy a new group's key into the state's memory, detoasted. */
static Datum
breakout_copy_key(BreakoutState *state, Datum key)
{
	MemoryContext old;
	Datum		copy;

	if (state->typbyval)
		return key;
	old = MemoryContextSwitchTo(state->mcxt);
	if (state->typlen == -1)
		key = PointerGetDatum(PG_DETOAST_DATUM_PACKED(key));
	copy = datumCopy(key, false, state->typlen);
	MemoryContextSwitchTo(old);
	return copy;
}

/* Add counts to a group and refuse a sum that overflows. */
static inline void
breakout_group_add(BreakoutGroup *group, int64 rows, int64 metric_rows,
				   float8 sum)
{
	group->rows += rows;
	group->metric_rows += metric_rows;
	group->sum += sum;
	if (unlikely(isinf(group->sum)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sum of the metric is out of range for type double precision")));
}

/* Find or create the group of a key. */
static BreakoutGroup *
breakout_find_group(BreakoutState *state, Datum key, bool isnull)
{
	BreakoutGroup *group;
	bool		found;

	if (isnull)
		return &state->nullgroup;
	group = bgroup_insert(state->groups, key, &found);
	if (!found)
	{
		group->key = breakout_copy_key(state, key);
		group->rows = 0;
		group->metric_rows = 0;
		group->sum = 0.0;
	}
	return group;
}

/*
 * anon_breakout_trans(internal, anyelement, float8 [, int4 [, sensitivity]])
 *	RETURNS internal
 *
 * Transition function: count the row in its key's group.
 */
Datum
anon_breakout_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = breakout_agg_context(fcinfo);
	BreakoutState *state;
	BreakoutGroup *group;
	float8		metric = 0.0;
	bool		has_metric = !PG_ARGISNULL(2);

	if (PG_ARGISNULL(0))
		state = breakout_state_create(aggcxt,
									  get_fn_expr_argtype(fcinfo->flinfo, 1),
									  PG_GET_COLLATION());
	else
		state = (BreakoutState *) PG_GETARG_POINTER(0);

	breakout_read_settings(state, fcinfo);

	if (has_metric)
	{
		metric = PG_GETARG_FLOAT8(2);
		if (unlikely(isnan(metric) || isinf(metric)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("metric must be a finite number, not %s",
							isnan(metric) ? "NaN" :
							metric > 0 ? "Infinity" : "-Infinity")));
	}

	group = breakout_find_group(state, PG_GETARG_DATUM(1), PG_ARGISNULL(1));
	breakout_group_add(group, 1, has_metric ? 1 : 0, metric);
	state->rows++;
	state->metric_rows += has_metric ? 1 : 0;

	PG_RETURN_POINTER(state);
}

/* Fold the groups and settings of src into dst. */
static void
breakout_merge(BreakoutState *dst, BreakoutState *src)
{
	bgroup_iterator it;
	BreakoutGroup *g;

	if (dst->keytype != src->keytype)
		elog(ERROR, "cannot combine breakouts of types %u and %u",
			 dst->keytype, src->keytype);

	if (!dst->settings_known)
	{
		dst->settings_known = src->settings_known;
		dst->threshold = src->threshold;
		dst->sensitivity = src->sensitivity;
		dst->sensitivity_oid = src->sensitivity_oid;
	}
	else if (src->settings_known &&
			 (src->threshold != dst->threshold ||
			  src->sensitivity != dst->sensitivity))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold and sensitivity must be the same for every row of a breakout")));

	dst->rows += src->rows;
	dst->metric_rows += src->metric_rows;
	breakout_group_add(&dst->nullgroup, src->nullgroup.rows,
					   src->nullgroup.metric_rows, src->nullgroup.sum);

	bgroup_start_iterate(src->groups, &it);
	while ((g = bgroup_iterate(src->groups, &it)) != NULL)
	{
		bool		found;
		BreakoutGroup *d = bgroup_insert_hash(dst->groups, g->key, g->hash,
											  &found);

		if (!found)
		{
			d->key = breakout_copy_key(dst, g->key);
			d->rows = 0;
			d->metric_rows = 0;
			d->sum = 0.0;
		}
		breakout_group_add(d, g->rows, g->metric_rows, g->sum);
	}
}

/*
 * anon_breakout_combine(internal, internal) RETURNS internal
 *
 * Combine function: merge the state of a parallel worker into another.
 */
Datum
anon_breakout_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = breakout_agg_context(fcinfo);
	BreakoutState *dst = PG_ARGISNULL(0) ? NULL :
		(BreakoutState *) PG_GETARG_POINTER(0);
	BreakoutState *src = PG_ARGISNULL(1) ? NULL :
		(BreakoutState *) PG_GETARG_POINTER(1);

	if (src == NULL)
	{
		if (dst == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(dst);
	}
	/* src may live in a short-lived context: copy it into the aggregate's */
	if (dst == NULL)
		dst = breakout_state_create(aggcxt, src->keytype, src->collation);
	breakout_merge(dst, src);
	PG_RETURN_POINTER(dst);
}

/*
 * Fix the settings that change the text form of keys, so that it reads back
 * to an equal key anywhere; returns the nest level to pass to AtEOXact_GUC.
 */
static int
breakout_portable_settings(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("datestyle", "ISO, YMD", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Write one group's counts, and its key in text form unless it is NULL. */
static void
breakout_send_group(StringInfo buf, BreakoutGroup *g, FmgrInfo *outfn)
{
	pq_sendint64(buf, g->rows);
	pq_sendint64(buf, g->metric_rows);
	pq_sendfloat8(buf, g->sum);
	if (outfn)
	{
		char	   *str = OutputFunctionCall(outfn, g->key);
		int			len = strlen(str);

		pq_sendint32(buf, len);
		pq_sendbytes(buf, str, len);
		pfree(str);
	}
}

/*
 * anon_breakout_serialize(internal) RETURNS bytea
 *
 * Serialize function: the state as bytes, for parallel query.
 */
Datum
anon_breakout_serialize(PG_FUNCTION_ARGS)
{
	BreakoutState *state;
	StringInfoData buf;
	FmgrInfo	outfn;
	Oid			outfunc;
	bool		isvarlena;
	bgroup_iterator it;
	BreakoutGroup *g;
	int			nest;

	breakout_agg_context(fcinfo);
	state = (BreakoutState *) PG_GETARG_POINTER(0);
	getTypeOutputInfo(state->keytype, &outfunc, &isvarlena);
	fmgr_info(outfunc, &outfn);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, state->keytype);
	pq_sendint32(&buf, state->collation);
	pq_sendbyte(&buf, state->settings_known);
	pq_sendint32(&buf, state->threshold);
	pq_sendint32(&buf, state->sensitivity);
	pq_sendint32(&buf, state->sensitivity_oid);
	pq_sendint64(&buf, state->rows);
	pq_sendint64(&buf, state->metric_rows);
	breakout_send_group(&buf, &state->nullgroup, NULL);
	pq_sendint64(&buf, state->groups->members);

	nest = breakout_portable_settings();
	bgroup_start_iterate(state->groups, &it);
	while ((g = bgroup_iterate(state->groups, &it)) != NULL)
		breakout_send_group(&buf, g, &outfn);
	AtEOXact_GUC(true, nest);

	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Read one group's counts into g. */
static void
breakout_recv_counts(StringInfo buf, BreakoutGroup *g)
{
	g->rows = pq_getmsgint64(buf);
	g->metric_rows = pq_getmsgint64(buf);
	g->sum = pq_getmsgfloat8(buf);
}

/*
 * anon_breakout_deserialize(bytea, internal) RETURNS internal
 *
 * Deserialize function: rebuild a state from anon_breakout_serialize's bytes.
 */
Datum
anon_breakout_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	BreakoutState *state;
	Oid			keytype;
	Oid			collation;
	Oid			infunc;
	Oid			ioparam;
	FmgrInfo	infn;
	int64		ngroups;
	int			nest;

	breakout_agg_context(fcinfo);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));

	keytype = pq_getmsgint(&buf, 4);
	collation = pq_getmsgint(&buf, 4);
	state = breakout_state_create(CurrentMemoryContext, keytype, collation);
	getTypeInputInfo(keytype, &infunc, &ioparam);
	fmgr_info(infunc, &infn);

	state->settings_known = pq_getmsgbyte(&buf);
	state->threshold = pq_getmsgint(&buf, 4);
	state->sensitivity = pq_getmsgint(&buf, 4);
	state->sensitivity_oid = pq_getmsgint(&buf, 4);
	state->rows = pq_getmsgint64(&buf);
	state->metric_rows = pq_getmsgint64(&buf);
	breakout_recv_counts(&buf, &state->nullgroup);
	ngroups = pq_getmsgint64(&buf);

	nest = breakout_portable_settings();
	for (int64 i = 0; i < ngroups; i++)
	{
		BreakoutGroup tmp;
		BreakoutGroup *g;
		int			len;
		char	   *str;

		breakout_recv_counts(&buf, &tmp);
		len = pq_getmsgint(&buf, 4);
		str = pnstrdup(pq_getmsgbytes(&buf, len), len);
		g = breakout_find_group(state,
								InputFunctionCall(&infn, str, ioparam, -1),
								false);
		breakout_group_add(g, tmp.rows, tmp.metric_rows, tmp.sum);
		pfree(str);
	}
	AtEOXact_GUC(true, nest);
	pq_getmsgend(&buf);
	pfree(buf.data);

	PG_RETURN_POINTER(state);
}

/* Sort support for the final function: groups in the key's own order. */
typedef struct BreakoutSort
{
	FmgrInfo   *cmp_fn;			/* btree comparison, or NULL: compare labels */
	Oid			collation;
} BreakoutSort;

/* One group as the final function sees it. */
typedef struct BreakoutItem
{
	BreakoutGroup *group;
	char	   *label;			/* key's text form, NULL for the NULL key */
} BreakoutItem;

/* qsort_arg comparator of two non-NULL-key items. */
static int
breakout_item_cmp(const void *a, const void *b, void *arg)
{
	const BreakoutItem *ia = a;
	const BreakoutItem *ib = b;
	BreakoutSort *sort = arg;

	if (sort->cmp_fn == NULL)
		return strcmp(ia->label, ib->label);
	return DatumGetInt32(FunctionCall2Coll(sort->cmp_fn, sort->collation,
										   ia->group->key, ib->group->key));
}

/*
 * Collect the groups of a state into an array sorted by key, NULL key last,
 * each with its label.  Returns the number of groups.
 */
static int
breakout_sorted_items(BreakoutState *state, BreakoutItem **itemsp)
{
	TypeCacheEntry *tc = lookup_type_cache(state->keytype,
										   TYPECACHE_CMP_PROC_FINFO);
	BreakoutSort sort;
	Oid			outfunc;
	bool		isvarlena;
	FmgrInfo	outfn;
	BreakoutItem *items;
	bgroup_iterator it;
	BreakoutGroup *g;
	int			n = 0;

	getTypeOutputInfo(state->keytype, &outfunc, &isvarlena);
	fmgr_info(outfunc, &outfn);

	items = palloc(sizeof(BreakoutItem) * (state->groups->members + 1));
	bgroup_start_iterate(state->groups, &it);
	while ((g = bgroup_iterate(state->groups, &it)) != NULL)
	{
		items[n].group = g;
		items[n].label = OutputFunctionCall(&outfn, g->key);
		n++;
	}

	sort.cmp_fn = OidIsValid(tc->cmp_proc) ? &tc->cmp_proc_finfo : NULL;
	sort.collation = state->collation;
	qsort_arg(items, n, sizeof(BreakoutItem), breakout_item_cmp, &sort);

	if (state->nullgroup.rows > 0)
	{
		items[n].group = &state->nullgroup;
		items[n].label = NULL;
		n++;
	}
	*itemsp = items;
	return n;
}

/* A text[] from C strings, NULL pointers becoming NULL elements. */
static Datum
breakout_text_array(char **strs, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = strs[i] == NULL;
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(strs[i]);
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  TEXTOID, -1, false,
											  TYPALIGN_INT));
}

/*
 * One anonymize.breakout_group value.  n < 0 means n is withheld; the metric
 * is shown only when show_metric is set and some row had one.
 */
static Datum
breakout_make_row(TupleDesc tupdesc, char *label, char **members,
				  int nmembers, int64 n, int64 metric_rows, float8 sum,
				  bool show_metric, const char *status)
{
	Datum		values[BREAKOUT_GROUP_NATTS];
	bool		nulls[BREAKOUT_GROUP_NATTS] = {false};

	nulls[0] = label == NULL;
	values[0] = label ? CStringGetTextDatum(label) : (Datum) 0;
	values[1] = breakout_text_array(members, nmembers);
	nulls[2] = n < 0;
	values[2] = Int64GetDatum(n);
	nulls[3] = nulls[4] = !show_metric || metric_rows == 0;
	values[3] = Float8GetDatum(metric_rows > 0 ? sum / metric_rows : 0.0);
	values[4] = Float8GetDatum(sum);
	values[5] = CStringGetTextDatum(status);

	return heap_copy_tuple_as_datum(heap_form_tuple(tupdesc, values, nulls),
									tupdesc);
}

/* Apply the threshold rule to a state and build the breakout_group array. */
static ArrayType *
breakout_build_result(BreakoutState *state, Oid rowtype)
{
	bool		basic = anon_mode == ANON_MODE_BASIC;
	TupleDesc	tupdesc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	BreakoutItem *items;
	int			n = breakout_sorted_items(state, &items);
	int64	   *counts = palloc(sizeof(int64) * n);
	AnonStatus *status = palloc(sizeof(AnonStatus) * n);
	Datum	   *rows = palloc(sizeof(Datum) * (n + 1));
	char	  **members = palloc(sizeof(char *) * n);
	int			nrows = 0;
	int			nmembers = 0;
	BreakoutGroup bucket = {0};
	bool		visible;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	for (int i = 0; i < n; i++)
		counts[i] = basic ? items[i].group->metric_rows : items[i].group->rows;
	visible = anon_apply_threshold(n, counts,
								   basic ? state->metric_rows : state->rows,
								   state->threshold,
								   basic ? ANON_SOMEWHAT_SENSITIVE : state->sensitivity,
								   NULL, NULL, status);

	for (int i = 0; i < n; i++)
	{
		BreakoutGroup *g = items[i].group;

		switch (status[i])
		{
			case ANON_SHOWN:
				rows[nrows++] = breakout_make_row(tupdesc, items[i].label,
												  &items[i].label, 1,
												  counts[i], g->metric_rows,
												  g->sum, true, "shown");
				break;
			case ANON_HIDDEN:
				rows[nrows++] = breakout_make_row(tupdesc, items[i].label,
												  &items[i].label, 1,
												  (basic && visible) ? counts[i] : -1,
												  0, 0.0, false, "hidden");
				break;
			case ANON_GROUPED:
				members[nmembers++] = items[i].label;
				bucket.rows += counts[i];
				bucket.metric_rows += g->metric_rows;
				bucket.sum += g->sum;
				break;
		}
	}
	if (nmembers > 0)
		rows[nrows++] = breakout_make_row(tupdesc, GROUPED_LABEL, members,
										  nmembers, bucket.rows,
										  bucket.metric_rows, bucket.sum,
										  true, "grouped");

	get_typlenbyvalalign(rowtype, &typlen, &typbyval, &typalign);
	return construct_array(rows, nrows, rowtype, typlen, typbyval, typalign);
}

/*
 * anon_breakout_final(internal) RETURNS anonymize.breakout_group[]
 *
 * Final function: the groups that may be shown.  Does not modify the state.
 */
Datum
anon_breakout_final(PG_FUNCTION_ARGS)
{
	Oid			rowtype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));

	breakout_agg_context(fcinfo);
	if (!OidIsValid(rowtype))
		elog(ERROR, "could not determine the result type of anonymized_breakout");
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(rowtype));
	PG_RETURN_ARRAYTYPE_P(breakout_build_result((BreakoutState *) PG_GETARG_POINTER(0),
												rowtype));
}
