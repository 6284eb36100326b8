/*-------------------------------------------------------------------------
 *
 * breakout.c
 *	  The anonymized_breakout aggregate over one field, counting rows or
 *	  distinct subjects (people).
 *
 * The transition state is a hash table of groups keyed by the key datum
 * itself, using the key type's default hash and equality functions, so the
 * per-row cost is one hash probe and a few additions.  Keys are turned into
 * text only by the final function.  The state lives in the aggregate's
 * memory context and grows with the number of groups (and, with a subject,
 * of distinct subjects per group), not of rows.
 *
 * Contracts:
 *	- the final function never modifies the state (it may run more than once,
 *	  for instance as a window aggregate);
 *	- serialized states carry keys in their text form (integers, text and
 *	  uuid as their bytes), written and read under fixed settings (ISO dates,
 *	  exact floats), so they depend neither on client_encoding nor on the
 *	  session's output settings.  They do carry OIDs (of the key and subject
 *	  types, the collation and the sensitivity's enum value): a state is only
 *	  ever read by the server that wrote it (leader and parallel workers), not
 *	  by another node;
 *	- under the threshold in total the result is empty; a mean and a sum are
 *	  shown only where at least k rows (people) have a metric.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "common/int.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "anonymize.h"
#include "breakout.h"
#include "grouping.h"
#include "keys.h"

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
	AnonSum		sum;			/* sum of the non-NULL metrics */
	SubjectSet *subjects;		/* distinct subjects, if counted */
} BreakoutGroup;

#define SH_PREFIX			bgroup
#define SH_ELEMENT_TYPE		BreakoutGroup
#define SH_KEY_TYPE			Datum
#define SH_KEY				key
#define SH_HASH_KEY(tb, k)	anon_key_hash((AnonKeyType *) (tb)->private_data, k)
#define SH_EQUAL(tb, a, b)	anon_key_equal((AnonKeyType *) (tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)	((a)->hash)
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Transition state of anonymized_breakout. */
struct BreakoutState
{
	MemoryContext mcxt;			/* where groups and key copies live */
	AnonKeyType key;
	bool		by_subject;		/* groups count distinct subjects */
	AnonKeyType subject;

	bool		settings_known; /* threshold and sensitivity are set */
	bool		threshold_deferred; /* 0: anonymize.threshold where decided */
	int32		threshold;
	AnonSensitivity sensitivity;
	Oid			sensitivity_oid;	/* enum value they came from, or 0 */

	/* how the arguments are typed (in states made by the transition only) */
	bool		threshold_float;	/* the threshold is float8, not int4 */
	bool		sensitivity_text;	/* the sensitivity is text, not the enum */
	AnonSensitivityText sensitivity_label;

	SubjectBatch batch;			/* subjects of rows not yet stored */
	bgroup_hash *groups;		/* groups with a non-NULL key */
	BreakoutGroup nullgroup;	/* rows with a NULL key (rows = 0: none) */
	int64		rows;			/* totals over every group */
	int64		metric_rows;
};

/* An empty set of subjects for a group of the state. */
static SubjectSet *
breakout_new_subjects(BreakoutState *state)
{
	return anon_subjects_create_batched(&state->subject, state->mcxt,
										&state->batch);
}

PG_FUNCTION_INFO_V1(anon_breakout_trans);
PG_FUNCTION_INFO_V1(anon_breakout_combine);
PG_FUNCTION_INFO_V1(anon_breakout_serialize);
PG_FUNCTION_INFO_V1(anon_breakout_deserialize);
PG_FUNCTION_INFO_V1(anon_breakout_final);

/*
 * Make an empty state for keys of the given type, allocated in mcxt; with a
 * valid subject type, groups count distinct subjects of that type.
 */
static BreakoutState *
breakout_state_create(MemoryContext mcxt, Oid keytype, Oid collation,
					  Oid subjecttype)
{
	BreakoutState *state = MemoryContextAllocZero(mcxt, sizeof(BreakoutState));

	state->mcxt = mcxt;
	anon_key_type_init(&state->key, keytype, collation, mcxt, "key");
	state->by_subject = OidIsValid(subjecttype);
	if (state->by_subject)
		anon_key_type_init(&state->subject, subjecttype, collation, mcxt,
						   "subject");
	state->groups = bgroup_create(mcxt, 64, &state->key);
	return state;
}

/*
 * Note how the threshold and sensitivity arguments of this form are typed:
 * int4 or float8, the enum or text.
 */
static void
breakout_arg_types(BreakoutState *state, FunctionCallInfo fcinfo)
{
	if (PG_NARGS() > 3)
		state->threshold_float =
			get_fn_expr_argtype(fcinfo->flinfo, 3) == FLOAT8OID;
	if (PG_NARGS() > 4)
		state->sensitivity_text =
			get_fn_expr_argtype(fcinfo->flinfo, 4) == TEXTOID;
}

/*
 * Read the threshold and sensitivity of this row (arguments 4 and 5, or
 * their defaults) and check them against those of the earlier rows.
 */
static void
breakout_read_settings(BreakoutState *state, FunctionCallInfo fcinfo)
{
	int32		threshold = state->threshold_deferred ? 0 : anon_threshold;
	Oid			sens_oid = InvalidOid;

	if (PG_NARGS() > 3)
	{
		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("threshold must not be null")));
		threshold = state->threshold_float ?
			anon_threshold_from_float8(PG_GETARG_FLOAT8(3)) :
			PG_GETARG_INT32(3);
	}
	if (PG_NARGS() > 4)
	{
		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("sensitivity must not be null")));
		sens_oid = state->sensitivity_text ?
			anon_sensitivity_text(&state->sensitivity_label, PG_GETARG_DATUM(4),
								  fcinfo, state->mcxt) :
			PG_GETARG_OID(4);
	}

	if (state->settings_known)
	{
		if (unlikely(sens_oid != state->sensitivity_oid))
		{
			/* a state read back knows its sensitivity, not the enum value */
			if ((OidIsValid(sens_oid) ? anon_sensitivity_from_oid(sens_oid) :
				 ANON_VERY_SENSITIVE) != state->sensitivity)
				anon_settings_differ();
			state->sensitivity_oid = sens_oid;
		}
		if (threshold != state->threshold)
			anon_settings_differ();
		return;
	}

	if (!state->threshold_deferred)
		anon_check_threshold(threshold);
	state->threshold = threshold;
	state->sensitivity_oid = sens_oid;
	state->sensitivity = OidIsValid(sens_oid) ?
		anon_sensitivity_from_oid(sens_oid) : ANON_VERY_SENSITIVE;
	state->settings_known = true;
}

/* Add counts to a group and refuse a sum that overflows. */
static inline void
breakout_group_add(BreakoutGroup *group, int64 rows, int64 metric_rows,
				   AnonSum sum)
{
	group->rows += rows;
	group->metric_rows += metric_rows;
	anon_sum_merge(&group->sum, sum);
}

/* Find or create the group of a key. */
static BreakoutGroup *
breakout_find_group(BreakoutState *state, Datum key, bool isnull)
{
	BreakoutGroup *group;
	bool		found;

	if (isnull)
		group = &state->nullgroup;
	else
	{
		group = bgroup_insert(state->groups, key, &found);
		if (!found)
		{
			group->key = anon_key_copy(&state->key, state->mcxt, key);
			group->rows = 0;
			group->metric_rows = 0;
			group->sum.sum = group->sum.comp = 0.0;
			group->subjects = NULL;
		}
	}
	if (state->by_subject && group->subjects == NULL)
		group->subjects = breakout_new_subjects(state);
	return group;
}

/*
 * anon_breakout_trans(internal, anyelement, float8 [, int4 [, sensitivity
 *					   [, "any" subject]]]) RETURNS internal
 * anon_breakout_trans(internal, anyelement, float8, float8 [, text or
 *					   sensitivity [, "any" subject]]) RETURNS internal
 *
 * Transition function: count the row in its key's group, and its subject
 * among the group's subjects (a NULL subject is nobody).
 */
Datum
anon_breakout_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, "anonymized_breakout");
	BreakoutState *state;

	if (PG_ARGISNULL(0))
	{
		state = breakout_state_create(aggcxt,
									  get_fn_expr_argtype(fcinfo->flinfo, 1),
									  PG_GET_COLLATION(),
									  PG_NARGS() > 5 ?
									  get_fn_expr_argtype(fcinfo->flinfo, 5) :
									  InvalidOid);
		breakout_arg_types(state, fcinfo);
	}
	else
		state = (BreakoutState *) PG_GETARG_POINTER(0);

	anon_breakout_advance(state, fcinfo);
	PG_RETURN_POINTER(state);
}

/* Count the row of a transition call; see breakout.h. */
void
anon_breakout_advance(BreakoutState *state, FunctionCallInfo fcinfo)
{
	BreakoutGroup *group;
	float8		metric = 0.0;
	bool		has_metric = !PG_ARGISNULL(2);
	AnonSum		add = {0.0, 0.0};

	breakout_read_settings(state, fcinfo);

	if (has_metric)
		metric = anon_metric(PG_GETARG_FLOAT8(2));

	group = breakout_find_group(state, PG_GETARG_DATUM(1), PG_ARGISNULL(1));
	add.sum = metric;
	breakout_group_add(group, 1, has_metric ? 1 : 0, add);
	if (state->by_subject && !PG_ARGISNULL(5))
		anon_subjects_add_later(group->subjects, PG_GETARG_DATUM(5), has_metric);
	state->rows++;
	state->metric_rows += has_metric ? 1 : 0;
}

/* Take the settings of src into dst, if dst has none yet; else check them. */
static void
breakout_merge_settings(BreakoutState *dst, BreakoutState *src)
{
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
		anon_settings_differ();
}

/* Fold the groups and settings of src into dst. */
static void
breakout_merge(BreakoutState *dst, BreakoutState *src)
{
	bgroup_iterator it;
	BreakoutGroup *g;

	if (dst->key.type != src->key.type || dst->by_subject != src->by_subject)
		elog(ERROR, "cannot combine breakouts of types %u and %u",
			 dst->key.type, src->key.type);

	breakout_merge_settings(dst, src);
	dst->rows += src->rows;
	dst->metric_rows += src->metric_rows;
	breakout_group_add(&dst->nullgroup, src->nullgroup.rows,
					   src->nullgroup.metric_rows, src->nullgroup.sum);
	if (src->nullgroup.subjects)
		anon_subjects_merge(breakout_find_group(dst, (Datum) 0, true)->subjects,
							src->nullgroup.subjects);

	bgroup_start_iterate(src->groups, &it);
	while ((g = bgroup_iterate(src->groups, &it)) != NULL)
	{
		bool		found;
		BreakoutGroup *d = bgroup_insert_hash(dst->groups, g->key, g->hash,
											  &found);

		if (!found)
		{
			d->key = anon_key_copy(&dst->key, dst->mcxt, g->key);
			d->rows = 0;
			d->metric_rows = 0;
			d->sum.sum = d->sum.comp = 0.0;
			d->subjects = dst->by_subject ? breakout_new_subjects(dst) : NULL;
		}
		breakout_group_add(d, g->rows, g->metric_rows, g->sum);
		if (g->subjects)
			anon_subjects_merge(d->subjects, g->subjects);
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
	MemoryContext aggcxt = anon_agg_context(fcinfo, "anonymized_breakout");
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
		dst = breakout_state_create(aggcxt, src->key.type, src->key.collation,
									src->by_subject ? src->subject.type : InvalidOid);
	breakout_merge(dst, src);
	PG_RETURN_POINTER(dst);
}

/* Write one group's counts and subjects, and its key unless it is NULL. */
static void
breakout_send_group(StringInfo buf, BreakoutState *state, BreakoutGroup *g,
					bool with_key)
{
	pq_sendint64(buf, g->rows);
	pq_sendint64(buf, g->metric_rows);
	pq_sendfloat8(buf, g->sum.sum);
	pq_sendfloat8(buf, g->sum.comp);
	if (state->by_subject)
	{
		pq_sendbyte(buf, g->subjects != NULL);
		if (g->subjects)
			anon_subjects_send(buf, g->subjects);
	}
	if (with_key)
		anon_key_send(buf, &state->key, g->key);
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
	bgroup_iterator it;
	BreakoutGroup *g;
	int			nest;

	anon_agg_context(fcinfo, "anonymized_breakout");
	state = (BreakoutState *) PG_GETARG_POINTER(0);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, state->key.type);
	pq_sendint32(&buf, state->key.collation);
	pq_sendint32(&buf, state->by_subject ? state->subject.type : InvalidOid);
	pq_sendbyte(&buf, state->settings_known);
	pq_sendint32(&buf, state->threshold);
	pq_sendint32(&buf, state->sensitivity);
	pq_sendint32(&buf, state->sensitivity_oid);
	pq_sendint64(&buf, state->rows);
	pq_sendint64(&buf, state->metric_rows);

	nest = anon_portable_settings();
	breakout_send_group(&buf, state, &state->nullgroup, false);
	pq_sendint64(&buf, state->groups->members);
	bgroup_start_iterate(state->groups, &it);
	while ((g = bgroup_iterate(state->groups, &it)) != NULL)
		breakout_send_group(&buf, state, g, true);
	AtEOXact_GUC(true, nest);

	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Read one group written by breakout_send_group: its counts into *counts,
 * and its subjects into a set made in the current context (NULL if none).
 */
static SubjectSet *
breakout_recv_group(StringInfo buf, BreakoutState *state, BreakoutGroup *counts)
{
	SubjectSet *subjects = NULL;

	counts->rows = pq_getmsgint64(buf);
	counts->metric_rows = pq_getmsgint64(buf);
	counts->sum.sum = pq_getmsgfloat8(buf);
	counts->sum.comp = pq_getmsgfloat8(buf);
	if (state->by_subject && pq_getmsgbyte(buf))
	{
		subjects = anon_subjects_create(&state->subject, CurrentMemoryContext);
		anon_subjects_recv(buf, subjects);
	}
	return subjects;
}

/* Add a group read by breakout_recv_group to the state. */
static void
breakout_add_received(BreakoutState *state, BreakoutGroup *g,
					  BreakoutGroup *counts, SubjectSet *subjects)
{
	breakout_group_add(g, counts->rows, counts->metric_rows, counts->sum);
	if (subjects)
		anon_subjects_merge(g->subjects, subjects);
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
	Oid			subjecttype;
	BreakoutGroup counts;
	SubjectSet *subjects;
	int64		ngroups;
	int			nest;

	anon_agg_context(fcinfo, "anonymized_breakout");
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));

	keytype = pq_getmsgint(&buf, 4);
	collation = pq_getmsgint(&buf, 4);
	subjecttype = pq_getmsgint(&buf, 4);
	state = breakout_state_create(CurrentMemoryContext, keytype, collation,
								  subjecttype);
	state->settings_known = pq_getmsgbyte(&buf);
	state->threshold = pq_getmsgint(&buf, 4);
	state->sensitivity = pq_getmsgint(&buf, 4);
	state->sensitivity_oid = pq_getmsgint(&buf, 4);
	state->rows = pq_getmsgint64(&buf);
	state->metric_rows = pq_getmsgint64(&buf);

	nest = anon_portable_settings();
	subjects = breakout_recv_group(&buf, state, &counts);
	if (counts.rows > 0)
		breakout_add_received(state, breakout_find_group(state, (Datum) 0, true),
							  &counts, subjects);
	ngroups = pq_getmsgint64(&buf);
	for (int64 i = 0; i < ngroups; i++)
	{
		subjects = breakout_recv_group(&buf, state, &counts);
		breakout_add_received(state,
							  breakout_find_group(state,
												  anon_key_recv(&buf, &state->key),
												  false),
							  &counts, subjects);
	}
	AtEOXact_GUC(true, nest);
	pq_getmsgend(&buf);
	pfree(buf.data);

	PG_RETURN_POINTER(state);
}

/* One group as the final function sees it. */
typedef struct BreakoutItem
{
	BreakoutGroup *group;
	char	   *label;			/* key's text form, NULL for the NULL key */
} BreakoutItem;

/* qsort_arg comparator of two non-NULL-key items: in the key's own order. */
static int
breakout_item_cmp(const void *a, const void *b, void *arg)
{
	const BreakoutItem *ia = a;
	const BreakoutItem *ib = b;

	return anon_key_cmp((AnonKeyType *) arg, ia->group->key, ia->label,
						ib->group->key, ib->label);
}

/*
 * Collect the groups of a state into an array sorted by key, NULL key last,
 * each with its label.  Returns the number of groups.
 */
static int
breakout_sorted_items(BreakoutState *state, BreakoutItem **itemsp)
{
	BreakoutItem *items;
	bgroup_iterator it;
	BreakoutGroup *g;
	int			n = 0;

	items = palloc(sizeof(BreakoutItem) * (state->groups->members + 1));
	bgroup_start_iterate(state->groups, &it);
	while ((g = bgroup_iterate(state->groups, &it)) != NULL)
	{
		items[n].group = g;
		items[n].label = OutputFunctionCall(&state->key.out_fn, g->key);
		n++;
	}
	qsort_arg(items, n, sizeof(BreakoutItem), breakout_item_cmp, &state->key);

	if (state->nullgroup.rows > 0)
	{
		items[n].group = &state->nullgroup;
		items[n].label = NULL;
		n++;
	}
	*itemsp = items;
	return n;
}

/*
 * One anonymize.breakout_group value.  members NULL withholds the members,
 * n < 0 withholds n; the metric is shown only when show_metric is set and
 * some row had one.
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
	nulls[1] = members == NULL;
	values[1] = members ? anon_text_array(members, nmembers) : (Datum) 0;
	nulls[2] = n < 0;
	values[2] = Int64GetDatum(n);
	nulls[3] = nulls[4] = !show_metric || metric_rows == 0;
	values[3] = Float8GetDatum(metric_rows > 0 ? sum / metric_rows : 0.0);
	values[4] = Float8GetDatum(sum);
	values[5] = CStringGetTextDatum(status);

	return heap_copy_tuple_as_datum(heap_form_tuple(tupdesc, values, nulls),
									tupdesc);
}

/* The groups of a breakout by subject, for breakout_bucket_subjects. */
typedef struct BreakoutUnion
{
	BreakoutState *state;
	BreakoutItem *items;
	bool		basic;
	int32		k;				/* the threshold applied */
} BreakoutUnion;

/* Distinct subjects over the groups with status ANON_GROUPED. */
static int64
breakout_bucket_subjects(void *arg, int ngroups, const AnonStatus *status)
{
	BreakoutUnion *u = arg;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "anonymized_breakout union",
											  ALLOCSET_DEFAULT_SIZES);
	SubjectSet *all = anon_subjects_create(&u->state->subject, cxt);
	int64		count;

	for (int i = 0; i < ngroups; i++)
		if (status == NULL || status[i] != ANON_SHOWN)
			anon_subjects_merge(all, u->items[i].group->subjects);
	count = anon_subjects_count(all, u->basic);
	MemoryContextDelete(cxt);
	return count;
}

/*
 * The count of each group towards the threshold, and the count of the whole
 * breakout (only whether it reaches the threshold matters with subjects).
 */
static int64
breakout_counts(BreakoutState *state, BreakoutUnion *u, int n, int64 *counts)
{
	int64		total = 0;

	for (int i = 0; i < n; i++)
	{
		BreakoutGroup *g = u->items[i].group;

		if (state->by_subject)
			counts[i] = anon_subjects_count(g->subjects, u->basic);
		else
			counts[i] = u->basic ? g->metric_rows : g->rows;
	}
	if (!state->by_subject)
		return u->basic ? state->metric_rows : state->rows;

	/*
	 * A group that reaches the threshold on its own settles it without the
	 * union of every group.
	 */
	for (int i = 0; i < n; i++)
		total = Max(total, counts[i]);
	if (total < u->k)
		total = breakout_bucket_subjects(u, n, NULL);
	return total;
}

/* Rows (people, with subjects) with a metric in a group. */
static int64
breakout_metric_count(BreakoutState *state, BreakoutGroup *g)
{
	if (state->by_subject)
		return anon_subjects_count(g->subjects, true);
	return g->metric_rows;
}

/* Rows (people) with a metric in the groups whose status is ANON_GROUPED. */
static int64
breakout_bucket_metric_count(BreakoutState *state, BreakoutUnion *u, int n,
							 const AnonStatus *status)
{
	int64		count = 0;

	if (state->by_subject)
	{
		/* people in two merged groups count once */
		BreakoutUnion people = {u->state, u->items, true, u->k};

		return breakout_bucket_subjects(&people, n, status);
	}
	for (int i = 0; i < n; i++)
		if (status[i] == ANON_GROUPED)
			count += u->items[i].group->metric_rows;
	return count;
}

/*
 * Decide whose mean and sum are shown: show[i] for group i, *bucket_show for
 * the bucket.  A sum is shown only where at least k rows (people) have a
 * metric.  The sum of the whole is public too (a breakout by a constant
 * key), so the withheld sums must together cover no metric at all, or at
 * least k rows with one; otherwise the smallest shown sum is withheld too.
 */
static void
breakout_protect_sums(BreakoutState *state, BreakoutUnion *u, int n,
					  const AnonStatus *status, bool *show, bool *bucket_show)
{
	int64	   *mc = palloc(sizeof(int64) * Max(n, 1));
	int64		k = u->k;
	int64		bucket_mc = breakout_bucket_metric_count(state, u, n, status);
	bool		grouped = false;
	int64		total = 0;

	bool		bucket_finite = true;

	for (int i = 0; i < n; i++)
	{
		bool		finite = isfinite(anon_sum_value(u->items[i].group->sum));

		mc[i] = breakout_metric_count(state, u->items[i].group);
		/* a NaN or overflowed sum (anonymize.hide_bad_metrics) is withheld */
		show[i] = status[i] == ANON_SHOWN && mc[i] >= k && finite;
		grouped |= status[i] == ANON_GROUPED;
		if (status[i] == ANON_GROUPED)
			bucket_finite &= finite;
		total += mc[i];
	}
	*bucket_show = grouped && bucket_mc >= k && bucket_finite;
	for (;;)
	{
		int64		withheld = grouped && !*bucket_show ? bucket_mc : 0;
		int			next = -1;

		for (int i = 0; i < n; i++)
		{
			if (status[i] != ANON_GROUPED && !show[i])
				withheld += mc[i];
			if (show[i] && (next < 0 || mc[i] < mc[next]))
				next = i;
		}
		if (total < k || withheld == 0 || withheld >= k)
			break;
		if (next >= 0)
			show[next] = false;
		else if (*bucket_show)
			*bucket_show = false;
		else
			break;
	}
}

/*
 * The "Grouped for anonymity" row of the groups whose status is ANON_GROUPED:
 * its count, and its metric if show_metric.
 */
static Datum
breakout_bucket_row(BreakoutState *state, BreakoutUnion *u, int n,
					const int64 *counts, const AnonStatus *status,
					bool show_metric, TupleDesc tupdesc)
{
	char	  **members = palloc(sizeof(char *) * Max(n, 1));
	int			nmembers = 0;
	BreakoutGroup bucket = {0};

	for (int i = 0; i < n; i++)
	{
		BreakoutGroup *g = u->items[i].group;

		if (status[i] != ANON_GROUPED)
			continue;
		members[nmembers++] = u->items[i].label;
		bucket.rows += counts[i];
		bucket.metric_rows += g->metric_rows;
		anon_sum_merge(&bucket.sum, g->sum);
	}
	/* people in two merged groups count once */
	if (state->by_subject)
		bucket.rows = breakout_bucket_subjects(u, n, status);
	return breakout_make_row(tupdesc, GROUPED_LABEL,
							 anon_show_grouped_members ? members : NULL,
							 nmembers, bucket.rows, bucket.metric_rows,
							 anon_sum_value(bucket.sum), show_metric, "grouped");
}

/* Apply the threshold rule to a state and build the breakout_group array. */
static ArrayType *
breakout_build_result(BreakoutState *state, Oid rowtype, int32 k)
{
	bool		basic = anon_mode == ANON_MODE_BASIC;
	TupleDesc	tupdesc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	BreakoutItem *items;
	int			n = breakout_sorted_items(state, &items);
	int64	   *counts = palloc(sizeof(int64) * Max(n, 1));
	AnonStatus *status = palloc(sizeof(AnonStatus) * Max(n, 1));
	Datum	   *rows = palloc(sizeof(Datum) * (n + 1));
	bool	   *show = palloc(sizeof(bool) * Max(n, 1));
	BreakoutUnion u = {state, items, basic, k};
	int64		total;
	int			nrows = 0;
	bool		grouped = false;
	bool		bucket_show;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	total = breakout_counts(state, &u, n, counts);
	/* under the threshold in total, nothing is shown: no label either */
	if (!anon_apply_threshold(n, counts, total, k,
							  basic ? ANON_SOMEWHAT_SENSITIVE : state->sensitivity,
							  state->by_subject ? breakout_bucket_subjects : NULL,
							  &u, status))
		return construct_empty_array(rowtype);
	breakout_protect_sums(state, &u, n, status, show, &bucket_show);

	for (int i = 0; i < n; i++)
	{
		BreakoutGroup *g = items[i].group;

		if (status[i] == ANON_SHOWN)
			rows[nrows++] = breakout_make_row(tupdesc, items[i].label,
											  &items[i].label, 1,
											  counts[i], g->metric_rows, anon_sum_value(g->sum),
											  show[i], "shown");
		else if (status[i] == ANON_HIDDEN)
			rows[nrows++] = breakout_make_row(tupdesc, items[i].label,
											  &items[i].label, 1,
											  basic ? counts[i] : -1,
											  0, 0.0, false, "hidden");
		else
			grouped = true;
	}
	if (grouped)
		rows[nrows++] = breakout_bucket_row(state, &u, n, counts, status,
											bucket_show, tupdesc);

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
	BreakoutState *state;

	anon_agg_context(fcinfo, "anonymized_breakout");
	if (!OidIsValid(rowtype))
		elog(ERROR, "could not determine the result type of anonymized_breakout");
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(rowtype));
	state = (BreakoutState *) PG_GETARG_POINTER(0);
	PG_RETURN_ARRAYTYPE_P(breakout_build_result(state, rowtype, state->threshold));
}

/* Make an empty state for a transition call; see breakout.h. */
BreakoutState *
anon_breakout_begin(FunctionCallInfo fcinfo, MemoryContext mcxt)
{
	BreakoutState *state;

	state = breakout_state_create(mcxt, anon_agg_value_type(fcinfo, 1),
								  anon_agg_collation(fcinfo),
								  PG_NARGS() > 5 ?
								  anon_agg_value_type(fcinfo, 5) : InvalidOid);
	/*
	 * Without a threshold argument the threshold is anonymize.threshold where
	 * the state is decided: on Citus the coordinator's, not a worker's.
	 */
	state->threshold_deferred = PG_NARGS() <= 3;
	if (PG_NARGS() > 3)
		state->threshold_float =
			anon_agg_declared_argtype(fcinfo, 3) == FLOAT8OID;
	if (PG_NARGS() > 4)
		state->sensitivity_text =
			anon_agg_declared_argtype(fcinfo, 4) == TEXTOID;
	return state;
}

/*
 * Refuse a state that this transition call did not make, unless it is of
 * the call's types and form: a state given as an aggregate's initial value
 * must not make the transition read an argument as another type.
 */
void
anon_breakout_check_call(BreakoutState *state, FunctionCallInfo fcinfo)
{
	bool		by_subject = PG_NARGS() > 5;
	Oid			keytype = anon_agg_value_type(fcinfo, 1);
	Oid			collation = anon_agg_collation(fcinfo);

	/* as anon_key_type_init takes it */
	if (!OidIsValid(collation) && type_is_collatable(keytype))
		collation = DEFAULT_COLLATION_OID;
	if (state->key.type != keytype || state->key.collation != collation ||
		state->by_subject != by_subject ||
		(by_subject && state->subject.type != anon_agg_value_type(fcinfo, 5)) ||
		state->threshold_deferred != (PG_NARGS() <= 3) ||
		(PG_NARGS() > 3 && anon_agg_declared_argtype(fcinfo, 3) != INT4OID) ||
		(PG_NARGS() > 4 && anon_agg_declared_argtype(fcinfo, 4) == TEXTOID))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("breakout state does not match the arguments of the aggregate"),
				 errdetail("A state given to the transition function must be of its key and subject types and form.")));
}

/* An empty state like src; see breakout.h. */
BreakoutState *
anon_breakout_like(BreakoutState *src, MemoryContext mcxt)
{
	BreakoutState *state = breakout_state_create(mcxt, src->key.type,
												 src->key.collation,
												 src->by_subject ?
												 src->subject.type : InvalidOid);

	state->settings_known = src->settings_known;
	state->threshold_deferred = src->threshold_deferred;
	state->threshold = src->threshold;
	state->sensitivity = src->sensitivity;
	state->sensitivity_oid = src->sensitivity_oid;
	return state;
}

/* Names of the sensitivities, in the order of AnonSensitivity. */
static const char *const breakout_sensitivity_names[] = {
	"not_sensitive", "somewhat_sensitive", "very_sensitive"
};

/* The name of a collation for messages. */
static char *
breakout_collation_name(Oid collation)
{
	char	   *name = OidIsValid(collation) ? get_collation_name(collation) : NULL;

	return name ? name : "default";
}

/* Refuse to merge src into dst if they are of another form or settings. */
static void
breakout_check_mergeable(BreakoutState *dst, BreakoutState *src)
{
	if (dst->by_subject != src->by_subject)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different forms"),
				 errdetail("One state counts rows, the other distinct people.")));
	if (dst->key.type != src->key.type)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different key types"),
				 errdetail("One state has keys of type %s, the other of type %s.",
						   format_type_be(dst->key.type),
						   format_type_be(src->key.type))));
	if (dst->key.collation != src->key.collation)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different collations"),
				 errdetail("One state compares keys under collation %s, the other under %s.",
						   breakout_collation_name(dst->key.collation),
						   breakout_collation_name(src->key.collation))));
	if (dst->by_subject && dst->subject.type != src->subject.type)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different subject types"),
				 errdetail("One state counts people of type %s, the other of type %s.",
						   format_type_be(dst->subject.type),
						   format_type_be(src->subject.type))));
	if (dst->settings_known && src->settings_known &&
		(dst->threshold != src->threshold ||
		 dst->sensitivity != src->sensitivity))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different thresholds or sensitivities"),
				 errdetail("One state has threshold %d and sensitivity %s, the other threshold %d and sensitivity %s.",
						   dst->threshold,
						   breakout_sensitivity_names[dst->sensitivity],
						   src->threshold,
						   breakout_sensitivity_names[src->sensitivity])));
}

/* Merge src into dst, refusing states of another form; see breakout.h. */
void
anon_breakout_merge_state(BreakoutState *dst, BreakoutState *src)
{
	breakout_check_mergeable(dst, src);
	breakout_merge(dst, src);
}

/*
 * Write a state in its portable form: types and the collation by name,
 * the sensitivity by its place in the enum, keys and subjects as
 * anon_key_send writes them; see breakout.h.
 */
void
anon_breakout_write(StringInfo buf, BreakoutState *state)
{
	bgroup_iterator it;
	BreakoutGroup *g;
	int			nest;

	pq_sendbyte(buf, state->by_subject ? 2 : 1);
	anon_write_type(buf, state->key.type);
	anon_write_collation(buf, state->key.collation);
	if (state->by_subject)
		anon_write_type(buf, state->subject.type);
	pq_sendint32(buf, state->threshold);
	pq_sendbyte(buf, state->sensitivity);
	pq_sendint64(buf, state->rows);
	pq_sendint64(buf, state->metric_rows);

	nest = anon_portable_settings();
	breakout_send_group(buf, state, &state->nullgroup, false);
	pq_sendint64(buf, state->groups->members);
	bgroup_start_iterate(state->groups, &it);
	while ((g = bgroup_iterate(state->groups, &it)) != NULL)
		breakout_send_group(buf, state, g, true);
	AtEOXact_GUC(true, nest);
}

/* Read one group's row counts and sum, checked. */
static void
breakout_read_sums(AnonReader *r, BreakoutGroup *g)
{
	g->rows = anon_read_int64(r);
	g->metric_rows = anon_read_int64(r);
	g->sum.sum = anon_read_float8(r);
	g->sum.comp = anon_read_float8(r);
	if (g->rows < 0 || g->metric_rows < 0 || g->metric_rows > g->rows)
		anon_read_fail(r, "A group's counts are negative or inconsistent.");
	/* a sum may be NaN or infinite (anonymize.hide_bad_metrics): it is withheld */
}

/* Read whether a group's subjects follow, checked. */
static bool
breakout_read_flag(AnonReader *r)
{
	uint8		has = anon_read_byte(r);

	if (has > 1)
		anon_read_fail(r, "A group's flag is neither 0 nor 1.");
	return has;
}

/*
 * Read one group's counts (and subjects, into g->subjects if by subject),
 * checked.
 */
static void
breakout_read_counts(AnonReader *r, BreakoutState *state, BreakoutGroup *g)
{
	breakout_read_sums(r, g);
	if (state->by_subject)
	{
		uint8		has = breakout_read_flag(r);

		if (has)
		{
			if (g->subjects == NULL)
				g->subjects = breakout_new_subjects(state);
			anon_subjects_read(r, g->subjects);
			if (anon_subjects_count(g->subjects, false) > g->rows)
				anon_read_fail(r, "A group has more people than rows.");
		}
	}
}

/*
 * Read what comes before the groups in a state written by
 * anon_breakout_write: an empty state of its form and settings, in mcxt,
 * with its totals.
 */
static BreakoutState *
breakout_read_header(AnonReader *r, MemoryContext mcxt)
{
	BreakoutState *state;
	uint8		form = anon_read_byte(r);
	Oid			keytype;
	Oid			collation;
	Oid			subjecttype = InvalidOid;
	int32		threshold;
	uint8		sensitivity;

	if (form != 1 && form != 2)
		anon_read_fail(r, "The state's form is unknown.");
	keytype = anon_read_type(r);
	collation = anon_read_collation(r);
	if (form == 2)
		subjecttype = anon_read_type(r);
	state = breakout_state_create(mcxt, keytype, collation, subjecttype);

	threshold = anon_read_int32(r);
	sensitivity = anon_read_byte(r);
	if (threshold < 0)
		anon_read_fail(r, "The state's threshold is negative.");
	if (sensitivity > ANON_VERY_SENSITIVE)
		anon_read_fail(r, "The state's sensitivity is unknown.");
	state->settings_known = true;
	state->threshold_deferred = threshold == 0;
	state->threshold = threshold;
	state->sensitivity = (AnonSensitivity) sensitivity;
	state->sensitivity_oid = InvalidOid;
	state->rows = anon_read_int64(r);
	state->metric_rows = anon_read_int64(r);
	return state;
}

/* The count of groups that follows the NULL key's group, checked. */
static int64
breakout_read_ngroups(AnonReader *r)
{
	int64		ngroups = anon_read_int64(r);

	/* each group takes at least 37 bytes */
	if (ngroups < 0 || ngroups > (r->end - r->cur) / 37)
		anon_read_fail(r, "The state's count of groups does not match its length.");
	return ngroups;
}

/* Check the end of a state read and its totals (the sums of its groups). */
static void
breakout_read_end(AnonReader *r, BreakoutState *state, int64 rows,
				  int64 metric_rows)
{
	if (r->cur != r->end)
		anon_read_fail(r, "The state has bytes after its end.");
	if (rows != state->rows || metric_rows != state->metric_rows)
		anon_read_fail(r, "The state's totals are not the sums of its groups.");
}

/* Read a state written by anon_breakout_write, checked; see breakout.h. */
BreakoutState *
anon_breakout_read(AnonReader *r, MemoryContext mcxt)
{
	BreakoutState *state = breakout_read_header(r, mcxt);
	int64		ngroups;
	int64		rows = 0;
	int64		metric_rows = 0;
	int			nest;

	nest = anon_portable_settings();
	if (state->by_subject)
		state->nullgroup.subjects = NULL;
	breakout_read_counts(r, state, &state->nullgroup);
	if (state->by_subject && state->nullgroup.rows > 0 &&
		state->nullgroup.subjects == NULL)
		state->nullgroup.subjects = breakout_new_subjects(state);
	rows += state->nullgroup.rows;
	metric_rows += state->nullgroup.metric_rows;
	ngroups = breakout_read_ngroups(r);
	for (int64 i = 0; i < ngroups; i++)
	{
		BreakoutGroup counts = {0};
		BreakoutGroup *g;
		bool		found;
		Datum		key;

		breakout_read_counts(r, state, &counts);
		if (counts.rows == 0)
			anon_read_fail(r, "A group has no row.");
		key = anon_key_read(r, &state->key);
		g = bgroup_insert(state->groups, key, &found);
		if (found)
			anon_read_fail(r, "A key appears twice in the state.");
		g->key = anon_key_copy(&state->key, state->mcxt, key);
		g->rows = counts.rows;
		g->metric_rows = counts.metric_rows;
		g->sum = counts.sum;
		g->subjects = counts.subjects ? counts.subjects :
			(state->by_subject ? breakout_new_subjects(state) : NULL);
		if (pg_add_s64_overflow(rows, g->rows, &rows) ||
			pg_add_s64_overflow(metric_rows, g->metric_rows, &metric_rows))
			anon_read_fail(r, "The state's counts overflow.");
	}
	AtEOXact_GUC(true, nest);
	breakout_read_end(r, state, rows, metric_rows);
	return state;
}

/*
 * Read one group of a state written by anon_breakout_write and add it to
 * dst's group of the same key (null: the NULL key's group); subjects go
 * through batch.  Adds the group's rows to *rows and *metric_rows.
 */
static void
breakout_read_merge_group(AnonReader *r, BreakoutState *dst, bool null,
						  SubjectBatch *batch, int nstates, int64 *rows,
						  int64 *metric_rows)
{
	BreakoutGroup counts = {0};
	BreakoutGroup *g;
	AnonReader	subjects = {0};
	bool		has = false;

	breakout_read_sums(r, &counts);
	if (dst->by_subject && (has = breakout_read_flag(r)))
	{
		/* the key comes after the subjects: find it first */
		subjects = *r;
		anon_subjects_skip(r, &dst->subject);
	}
	if (null)
		g = counts.rows > 0 || has ?
			breakout_find_group(dst, (Datum) 0, true) : &dst->nullgroup;
	else
	{
		if (counts.rows == 0)
			anon_read_fail(r, "A group has no row.");
		g = breakout_find_group(dst, anon_key_read(r, &dst->key), false);
	}
	breakout_group_add(g, counts.rows, counts.metric_rows, counts.sum);
	if (has)
	{
		if (g->subjects == NULL)
			g->subjects = breakout_new_subjects(dst);
		if (anon_subjects_read_merge(&subjects, g->subjects, batch,
									 nstates) > counts.rows)
			anon_read_fail(r, "A group has more people than rows.");
	}
	if (pg_add_s64_overflow(*rows, counts.rows, rows) ||
		pg_add_s64_overflow(*metric_rows, counts.metric_rows, metric_rows))
		anon_read_fail(r, "The state's counts overflow.");
}

/*
 * Read a state written by anon_breakout_write and merge it into dst as it
 * is read; see breakout.h.
 */
BreakoutState *
anon_breakout_read_merge(AnonReader *r, BreakoutState *dst, MemoryContext mcxt,
						 int nstates)
{
	BreakoutState *src = breakout_read_header(r, dst ? CurrentMemoryContext : mcxt);
	SubjectBatch batch = {0};
	int64		ngroups;
	int64		rows = 0;
	int64		metric_rows = 0;
	int			nest;

	if (dst == NULL)
		dst = src;				/* its totals are already those read */
	else
	{
		breakout_check_mergeable(dst, src);
		breakout_merge_settings(dst, src);
		dst->rows += src->rows;
		dst->metric_rows += src->metric_rows;
	}

	nest = anon_portable_settings();
	breakout_read_merge_group(r, dst, true, &batch, nstates, &rows,
							  &metric_rows);
	ngroups = breakout_read_ngroups(r);
	for (int64 i = 0; i < ngroups; i++)
		breakout_read_merge_group(r, dst, false, &batch, nstates, &rows,
								  &metric_rows);
	anon_subjects_flush(&batch);
	AtEOXact_GUC(true, nest);
	breakout_read_end(r, src, rows, metric_rows);
	return dst;
}

/* The groups of a state that may be shown; see breakout.h. */
ArrayType *
anon_breakout_groups(BreakoutState *state, Oid rowtype)
{
	int32		k = state->threshold_deferred ? anon_threshold : state->threshold;

	/* anonymize.min_threshold may be higher here than where it was made */
	anon_check_threshold(k);
	return breakout_build_result(state, rowtype, k);
}
