/*-------------------------------------------------------------------------
 *
 * breakout_two.c
 *	  The anonymized_breakout aggregate over two fields.
 *
 * The state counts the rows of each cell, a pair of keys, in a hash table
 * keyed by both key datums.  The final function picks the primary field,
 * the more sensitive one (key1 on a tie); the values of the other field are
 * the slices.  A sensitive slice field is handled first on the slices'
 * totals with its own one-field rule (very: small slices are merged into one
 * slice; somewhat: the cells of small slices are hidden); then, within each
 * slice, the primary field's one-field rule applies to the slice's cells.
 * Both steps use the same rule as the one-field aggregate (grouping.c).
 * Last, unless anonymize.two_field_rule is per_slice, more cells are
 * suppressed until no total that the one-field breakouts of either field
 * publish can be reduced, by subtracting shown cells, to a single cell or to
 * fewer than k rows (two_protect_margins).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "anonymize.h"
#include "breakout.h"
#include "grouping.h"
#include "keys.h"

/* Columns of anonymize.breakout_cell */
#define BREAKOUT_CELL_NATTS 8

/* The pair of keys of a cell; a NULL key is a value of its own. */
typedef struct CellKey
{
	Datum		k1;
	Datum		k2;
	bool		null1;
	bool		null2;
} CellKey;

/* The rows of one cell. */
typedef struct Cell
{
	CellKey		key;
	uint32		hash;
	char		status;			/* used by simplehash */
	int64		rows;
	int64		metric_rows;
	AnonSum		sum;
} Cell;

struct TwoState;
static inline uint32 two_cell_hash(struct TwoState *state, CellKey key);
static inline bool two_cell_equal(struct TwoState *state, CellKey a, CellKey b);

#define SH_PREFIX			cells
#define SH_ELEMENT_TYPE		Cell
#define SH_KEY_TYPE			CellKey
#define SH_KEY				key
#define SH_HASH_KEY(tb, k)	two_cell_hash((struct TwoState *) (tb)->private_data, k)
#define SH_EQUAL(tb, a, b)	two_cell_equal((struct TwoState *) (tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)	((a)->hash)
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Transition state of the two-field anonymized_breakout. */
struct TwoState
{
	MemoryContext mcxt;
	AnonKeyType key1;
	AnonKeyType key2;
	bool		settings_known;
	int32		threshold;
	Oid			sens_oid[2];	/* enum values they came from, or 0 (read back) */
	AnonSensitivity sens[2];
	/* how the arguments are typed (in states made by the transition only) */
	bool		threshold_float;	/* the threshold is float8, not int4 */
	bool		sensitivity_text;	/* the sensitivities are text, not the enum */
	AnonSensitivityText sens_label[2];
	cells_hash *cells;
	int64		rows;
	int64		metric_rows;
};

PG_FUNCTION_INFO_V1(anon_breakout2_trans);
PG_FUNCTION_INFO_V1(anon_breakout2_combine);
PG_FUNCTION_INFO_V1(anon_breakout2_serialize);
PG_FUNCTION_INFO_V1(anon_breakout2_deserialize);
PG_FUNCTION_INFO_V1(anon_breakout2_final);

#define AGGNAME "anonymized_breakout"

/* Hash of a pair of keys. */
static inline uint32
two_cell_hash(TwoState *state, CellKey key)
{
	uint32		h1 = key.null1 ? 0x9e3779b9 : anon_key_hash(&state->key1, key.k1);
	uint32		h2 = key.null2 ? 0x9e3779b9 : anon_key_hash(&state->key2, key.k2);

	return hash_combine(h1, h2);
}

/* Whether two pairs of keys are equal, NULL equal to NULL. */
static inline bool
two_cell_equal(TwoState *state, CellKey a, CellKey b)
{
	if (a.null1 != b.null1 || a.null2 != b.null2)
		return false;
	if (!a.null1 && !anon_key_equal(&state->key1, a.k1, b.k1))
		return false;
	return a.null2 || anon_key_equal(&state->key2, a.k2, b.k2);
}

/* Make an empty state for keys of the given types, in mcxt. */
static TwoState *
two_state_create(MemoryContext mcxt, Oid type1, Oid type2, Oid collation)
{
	TwoState   *state = MemoryContextAllocZero(mcxt, sizeof(TwoState));

	state->mcxt = mcxt;
	anon_key_type_init(&state->key1, type1, collation, mcxt, "key");
	anon_key_type_init(&state->key2, type2, collation, mcxt, "key");
	state->cells = cells_create(mcxt, 64, state);
	return state;
}

/* Read this row's threshold and sensitivities; all rows must agree. */
static void
two_read_settings(TwoState *state, FunctionCallInfo fcinfo)
{
	int32		threshold;
	Oid			sens[2];

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("threshold must not be null")));
	if (PG_ARGISNULL(5) || PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sensitivity must not be null")));
	threshold = state->threshold_float ?
		anon_threshold_from_float8(PG_GETARG_FLOAT8(4)) : PG_GETARG_INT32(4);
	for (int f = 0; f < 2; f++)
		sens[f] = state->sensitivity_text ?
			anon_sensitivity_text(&state->sens_label[f], PG_GETARG_DATUM(5 + f),
								  fcinfo, state->mcxt) :
			PG_GETARG_OID(5 + f);

	if (state->settings_known)
	{
		if (threshold != state->threshold)
			anon_settings_differ();
		for (int f = 0; f < 2; f++)
			if (unlikely(sens[f] != state->sens_oid[f]))
			{
				/* a state read back knows its sensitivities, not the enum values */
				if (anon_sensitivity_from_oid(sens[f]) != state->sens[f])
					anon_settings_differ();
				state->sens_oid[f] = sens[f];
			}
		return;
	}
	anon_check_threshold(threshold);
	state->threshold = threshold;
	for (int f = 0; f < 2; f++)
	{
		state->sens_oid[f] = sens[f];
		state->sens[f] = anon_sensitivity_from_oid(sens[f]);
	}
	state->settings_known = true;
}

/* Add counts to a cell, creating it if needed; refuse an overflowing sum. */
static void
two_add(TwoState *state, CellKey key, int64 rows, int64 metric_rows,
		AnonSum sum)
{
	bool		found;
	Cell	   *cell = cells_insert(state->cells, key, &found);

	if (!found)
	{
		if (!key.null1)
			cell->key.k1 = anon_key_copy(&state->key1, state->mcxt, key.k1);
		if (!key.null2)
			cell->key.k2 = anon_key_copy(&state->key2, state->mcxt, key.k2);
		cell->rows = 0;
		cell->metric_rows = 0;
		cell->sum.sum = cell->sum.comp = 0.0;
	}
	cell->rows += rows;
	cell->metric_rows += metric_rows;
	anon_sum_merge(&cell->sum, sum);
	state->rows += rows;
	state->metric_rows += metric_rows;
}

/*
 * anon_breakout2_trans(internal, "any", "any", float8, int4, sensitivity,
 *						sensitivity) RETURNS internal
 * anon_breakout2_trans(internal, "any", "any", float8, float8, text, text)
 * anon_breakout2_trans(internal, "any", "any", float8, float8, sensitivity,
 *						sensitivity) RETURNS internal
 *
 * Transition function: count the row in the cell of its two keys.
 */
Datum
anon_breakout2_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, AGGNAME);
	TwoState   *state;

	if (PG_ARGISNULL(0))
	{
		state = two_state_create(aggcxt,
								 get_fn_expr_argtype(fcinfo->flinfo, 1),
								 get_fn_expr_argtype(fcinfo->flinfo, 2),
								 PG_GET_COLLATION());
		state->threshold_float =
			get_fn_expr_argtype(fcinfo->flinfo, 4) == FLOAT8OID;
		state->sensitivity_text =
			get_fn_expr_argtype(fcinfo->flinfo, 5) == TEXTOID;
	}
	else
		state = (TwoState *) PG_GETARG_POINTER(0);
	anon_two_advance(state, fcinfo);
	PG_RETURN_POINTER(state);
}

/* Count the row of a transition call; see breakout.h. */
void
anon_two_advance(TwoState *state, FunctionCallInfo fcinfo)
{
	CellKey		key;
	float8		metric = 0.0;
	bool		has_metric = !PG_ARGISNULL(3);

	two_read_settings(state, fcinfo);

	if (has_metric)
		metric = anon_metric(PG_GETARG_FLOAT8(3));
	key.null1 = PG_ARGISNULL(1);
	key.k1 = key.null1 ? (Datum) 0 : PG_GETARG_DATUM(1);
	key.null2 = PG_ARGISNULL(2);
	key.k2 = key.null2 ? (Datum) 0 : PG_GETARG_DATUM(2);
	{
		AnonSum		add = {metric, 0.0};

		two_add(state, key, 1, has_metric ? 1 : 0, add);
	}
}

/* Fold the cells and settings of src into dst. */
static void
two_merge(TwoState *dst, TwoState *src)
{
	cells_iterator it;
	Cell	   *c;

	if (dst->key1.type != src->key1.type || dst->key2.type != src->key2.type)
		elog(ERROR, "cannot combine breakouts of different key types");
	if (!dst->settings_known)
	{
		dst->settings_known = src->settings_known;
		dst->threshold = src->threshold;
		dst->sens_oid[0] = src->sens_oid[0];
		dst->sens_oid[1] = src->sens_oid[1];
		dst->sens[0] = src->sens[0];
		dst->sens[1] = src->sens[1];
	}
	else if (src->settings_known &&
			 (src->threshold != dst->threshold ||
			  src->sens[0] != dst->sens[0] ||
			  src->sens[1] != dst->sens[1]))
		anon_settings_differ();

	cells_start_iterate(src->cells, &it);
	while ((c = cells_iterate(src->cells, &it)) != NULL)
		two_add(dst, c->key, c->rows, c->metric_rows, c->sum);
}

/*
 * anon_breakout2_combine(internal, internal) RETURNS internal
 *
 * Combine function: merge the state of a parallel worker into another.
 */
Datum
anon_breakout2_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, AGGNAME);
	TwoState   *dst = PG_ARGISNULL(0) ? NULL : (TwoState *) PG_GETARG_POINTER(0);
	TwoState   *src = PG_ARGISNULL(1) ? NULL : (TwoState *) PG_GETARG_POINTER(1);

	if (src == NULL)
	{
		if (dst == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(dst);
	}
	if (dst == NULL)
		dst = two_state_create(aggcxt, src->key1.type, src->key2.type,
							   src->key1.collation);
	two_merge(dst, src);
	PG_RETURN_POINTER(dst);
}

/*
 * anon_breakout2_serialize(internal) RETURNS bytea
 *
 * Serialize function: the state as bytes, keys in text form.
 */
Datum
anon_breakout2_serialize(PG_FUNCTION_ARGS)
{
	TwoState   *state;
	StringInfoData buf;
	cells_iterator it;
	Cell	   *c;
	int			nest;

	anon_agg_context(fcinfo, AGGNAME);
	state = (TwoState *) PG_GETARG_POINTER(0);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, state->key1.type);
	pq_sendint32(&buf, state->key2.type);
	pq_sendint32(&buf, state->key1.collation);
	pq_sendbyte(&buf, state->settings_known);
	pq_sendint32(&buf, state->threshold);
	pq_sendint32(&buf, state->sens_oid[0]);
	pq_sendint32(&buf, state->sens_oid[1]);
	pq_sendint64(&buf, state->cells->members);

	nest = anon_portable_settings();
	cells_start_iterate(state->cells, &it);
	while ((c = cells_iterate(state->cells, &it)) != NULL)
	{
		pq_sendint64(&buf, c->rows);
		pq_sendint64(&buf, c->metric_rows);
		pq_sendfloat8(&buf, c->sum.sum);
		pq_sendfloat8(&buf, c->sum.comp);
		pq_sendbyte(&buf, c->key.null1);
		if (!c->key.null1)
			anon_key_send(&buf, &state->key1, c->key.k1);
		pq_sendbyte(&buf, c->key.null2);
		if (!c->key.null2)
			anon_key_send(&buf, &state->key2, c->key.k2);
	}
	AtEOXact_GUC(true, nest);

	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * anon_breakout2_deserialize(bytea, internal) RETURNS internal
 *
 * Deserialize function: rebuild a state from anon_breakout2_serialize's bytes.
 */
Datum
anon_breakout2_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	TwoState   *state;
	Oid			type1;
	Oid			type2;
	int64		ncells;
	int			nest;

	anon_agg_context(fcinfo, AGGNAME);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));

	type1 = pq_getmsgint(&buf, 4);
	type2 = pq_getmsgint(&buf, 4);
	state = two_state_create(CurrentMemoryContext, type1, type2,
							 pq_getmsgint(&buf, 4));
	state->settings_known = pq_getmsgbyte(&buf);
	state->threshold = pq_getmsgint(&buf, 4);
	state->sens_oid[0] = pq_getmsgint(&buf, 4);
	state->sens_oid[1] = pq_getmsgint(&buf, 4);
	for (int f = 0; f < 2; f++)
		state->sens[f] = state->settings_known ?
			anon_sensitivity_from_oid(state->sens_oid[f]) : ANON_VERY_SENSITIVE;
	ncells = pq_getmsgint64(&buf);

	nest = anon_portable_settings();
	for (int64 i = 0; i < ncells; i++)
	{
		int64		rows = pq_getmsgint64(&buf);
		int64		metric_rows = pq_getmsgint64(&buf);
		AnonSum		sum;
		CellKey		key = {0};

		sum.sum = pq_getmsgfloat8(&buf);
		sum.comp = pq_getmsgfloat8(&buf);

		key.null1 = pq_getmsgbyte(&buf);
		if (!key.null1)
			key.k1 = anon_key_recv(&buf, &state->key1);
		key.null2 = pq_getmsgbyte(&buf);
		if (!key.null2)
			key.k2 = anon_key_recv(&buf, &state->key2);
		two_add(state, key, rows, metric_rows, sum);
	}
	AtEOXact_GUC(true, nest);
	pq_getmsgend(&buf);
	pfree(buf.data);

	PG_RETURN_POINTER(state);
}

/*
 * The final function's view of the cells: the distinct values of each field
 * in the key's own order (NULL last), and each cell's position in both.
 */
typedef struct TwoView
{
	TwoState   *state;
	int			ncells;
	Cell	  **cells;
	int		   *pos[2];			/* cell -> index of its value in each field */
	int			nvalues[2];
	char	  **labels[2];		/* label of each value, NULL for NULL */
} TwoView;

/* Sort context: which field, and the labels of every cell's key. */
typedef struct TwoSort
{
	TwoView    *view;
	int			field;
	char	  **celllabels;
} TwoSort;

static inline bool
two_isnull(Cell *c, int field)
{
	return field == 0 ? c->key.null1 : c->key.null2;
}

static inline Datum
two_key(Cell *c, int field)
{
	return field == 0 ? c->key.k1 : c->key.k2;
}

static inline AnonKeyType *
two_keytype(TwoState *state, int field)
{
	return field == 0 ? &state->key1 : &state->key2;
}

/* qsort_arg comparator of cell indexes by one field's key, NULL last. */
static int
two_cell_cmp(const void *a, const void *b, void *arg)
{
	TwoSort    *sort = arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	Cell	   *ca = sort->view->cells[ia];
	Cell	   *cb = sort->view->cells[ib];
	bool		na = two_isnull(ca, sort->field);
	bool		nb = two_isnull(cb, sort->field);

	if (na || nb)
		return (int) na - (int) nb;
	return anon_key_cmp(two_keytype(sort->view->state, sort->field),
						two_key(ca, sort->field), sort->celllabels[ia],
						two_key(cb, sort->field), sort->celllabels[ib]);
}

/* Number the distinct values of one field in order; see TwoView. */
static void
two_number_field(TwoView *view, int field)
{
	AnonKeyType *kt = two_keytype(view->state, field);
	int			n = view->ncells;
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	char	  **celllabels = palloc(sizeof(char *) * Max(n, 1));
	TwoSort		sort = {view, field, celllabels};
	int			nvalues = 0;

	view->pos[field] = palloc(sizeof(int) * Max(n, 1));
	view->labels[field] = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		Cell	   *c = view->cells[i];

		order[i] = i;
		celllabels[i] = two_isnull(c, field) ? NULL :
			OutputFunctionCall(&kt->out_fn, two_key(c, field));
	}
	qsort_arg(order, n, sizeof(int), two_cell_cmp, &sort);

	for (int j = 0; j < n; j++)
	{
		Cell	   *c = view->cells[order[j]];

		if (j > 0)
		{
			Cell	   *prev = view->cells[order[j - 1]];
			bool		same;

			if (two_isnull(c, field) || two_isnull(prev, field))
				same = two_isnull(c, field) == two_isnull(prev, field);
			else
				same = anon_key_equal(kt, two_key(c, field), two_key(prev, field));
			if (!same)
				nvalues++;
		}
		else
			nvalues = 0;
		view->pos[field][order[j]] = nvalues;
		view->labels[field][nvalues] = celllabels[order[j]];
	}
	view->nvalues[field] = n > 0 ? nvalues + 1 : 0;
}

/*
 * The table the final function decides on: one group per primary value in
 * each column.  A column is a value of the slice field, or the slices that
 * the slice field's rule merged, counted as one; a merged column adds up the
 * cells of each primary value.  Groups are stored column by column, each
 * column in primary-value order.
 */
typedef struct TwoGroup
{
	int			pv;				/* index of the primary value */
	int			col;			/* index of the column */
	int64		count;			/* what counts towards the threshold */
	int64		mrows;			/* rows with a metric */
	AnonSum		sum;
	AnonStatus	status;
	bool		derived;		/* count follows from published totals */
} TwoGroup;

typedef struct TwoColumn
{
	int			first;			/* its groups: groups[first .. first + n) */
	int			n;
	int64		total;
	char	   *slabel;
	char	  **smembers;		/* the slices it stands for */
	int			nsm;
	bool		hidden;			/* a hidden slice: every cell hidden */
	bool		unlabeled;		/* a shown slice under the threshold */
} TwoColumn;

typedef struct TwoTable
{
	TwoGroup   *groups;
	int			ngroups;
	TwoColumn  *cols;
	int			ncols;
	int			npv;			/* number of primary values */
	bool	   *prest;			/* primary values the one-field form does not show */
	int64		threshold;
	AnonSensitivity psens;
} TwoTable;

/* Builder of the result array. */
typedef struct TwoOut
{
	TwoView    *view;
	TupleDesc	tupdesc;
	Datum	   *rows;
	int			nrows;
	int			primary;		/* 0: key1 is primary, 1: key2 */
	bool		primary_only;	/* two_slice_cmp: ignore the slice */
} TwoOut;

/*
 * Emit one cell.  The primary field's label and members come first, then
 * the slice's; they are put in key1/key2 order.  NULL members are withheld,
 * n < 0 withholds n; the metric is shown only with show_metric.
 */
static void
two_emit(TwoOut *out, char *plabel, char **pmembers, int npm,
		 char *slabel, char **smembers, int nsm,
		 int64 n, int64 metric_rows, float8 sum, bool show_metric,
		 const char *status)
{
	Datum		values[BREAKOUT_CELL_NATTS];
	bool		nulls[BREAKOUT_CELL_NATTS] = {false};
	int			p = out->primary == 0 ? 0 : 2;
	int			s = out->primary == 0 ? 2 : 0;

	nulls[p] = plabel == NULL;
	values[p] = plabel ? CStringGetTextDatum(plabel) : (Datum) 0;
	nulls[p + 1] = pmembers == NULL;
	values[p + 1] = pmembers ? anon_text_array(pmembers, npm) : (Datum) 0;
	nulls[s] = slabel == NULL;
	values[s] = slabel ? CStringGetTextDatum(slabel) : (Datum) 0;
	nulls[s + 1] = smembers == NULL;
	values[s + 1] = smembers ? anon_text_array(smembers, nsm) : (Datum) 0;
	nulls[4] = n < 0;
	values[4] = Int64GetDatum(n);
	nulls[5] = nulls[6] = !show_metric || metric_rows == 0;
	values[5] = Float8GetDatum(metric_rows > 0 ? sum / metric_rows : 0.0);
	values[6] = Float8GetDatum(sum);
	values[7] = CStringGetTextDatum(status);
	out->rows[out->nrows++] =
		heap_copy_tuple_as_datum(heap_form_tuple(out->tupdesc, values, nulls),
								 out->tupdesc);
}

/*
 * qsort_arg comparator of cell indexes by (slice value, primary value), or
 * by primary value only.
 */
static int
two_slice_cmp(const void *a, const void *b, void *arg)
{
	TwoOut	   *out = arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	int			sf = 1 - out->primary;

	if (!out->primary_only && out->view->pos[sf][ia] != out->view->pos[sf][ib])
		return out->view->pos[sf][ia] < out->view->pos[sf][ib] ? -1 : 1;
	if (out->view->pos[out->primary][ia] != out->view->pos[out->primary][ib])
		return out->view->pos[out->primary][ia] < out->view->pos[out->primary][ib] ? -1 : 1;
	return 0;
}

/*
 * Append a column made of the given cells (in primary-value order; cells of
 * one primary value are added up) and apply the primary field's rule to it.
 */
static void
two_add_column(TwoTable *t, TwoView *view, int pf, const int *cells,
			   int ncells, bool basic, bool hidden)
{
	TwoColumn  *col = &t->cols[t->ncols];
	int64	   *counts = palloc(sizeof(int64) * Max(ncells, 1));
	AnonStatus *status = palloc(sizeof(AnonStatus) * Max(ncells, 1));

	col->first = t->ngroups;
	col->n = 0;
	col->total = 0;
	col->hidden = hidden;
	for (int i = 0; i < ncells; i++)
	{
		Cell	   *c = view->cells[cells[i]];
		int			pv = view->pos[pf][cells[i]];
		TwoGroup   *g = &t->groups[t->ngroups];

		if (col->n == 0 || g[-1].pv != pv)
		{
			memset(g, 0, sizeof(TwoGroup));
			g->pv = pv;
			g->col = t->ncols;
			t->ngroups++;
			col->n++;
		}
		g = &t->groups[t->ngroups - 1];
		g->count += basic ? c->metric_rows : c->rows;
		g->mrows += c->metric_rows;
		anon_sum_merge(&g->sum, c->sum);
		col->total += basic ? c->metric_rows : c->rows;
	}
	for (int g = 0; g < col->n; g++)
		counts[g] = t->groups[col->first + g].count;
	/* a slice under k shows no cell of a sensitive field, not even its label */
	col->unlabeled = !hidden && t->psens != ANON_NOT_SENSITIVE &&
		!anon_apply_threshold(col->n, counts, col->total, t->threshold,
							  t->psens, NULL, NULL, status);
	if (t->psens == ANON_NOT_SENSITIVE)
		for (int g = 0; g < col->n; g++)
			status[g] = ANON_SHOWN;
	for (int g = 0; g < col->n; g++)
		t->groups[col->first + g].status = hidden ? ANON_HIDDEN : status[g];
	t->ncols++;
}

/* Whether a group's count is not published, nor follows from what is. */
static inline bool
two_count_unknown(const TwoGroup *g)
{
	return g->status != ANON_SHOWN && !g->derived;
}

/* Whether a group's sum of the metric is not published. */
static inline bool
two_sum_unknown(const TwoGroup *g, int64 threshold)
{
	if (!isfinite(anon_sum_value(g->sum)))
		return true;			/* withheld (anonymize.hide_bad_metrics) */
	return g->status == ANON_SHOWN ? g->mrows < threshold : !g->derived;
}

/*
 * Check one published total (a line: a set of groups) against the cells not
 * shown in it, and suppress one more cell if needed.  The count of a line is
 * published when it reaches the threshold, its sum when that many rows have
 * a metric.  Then "line minus its shown cells" must cover no cell, or at
 * least two cells reaching the threshold together, and the rows with a
 * metric of the cells whose sum is withheld must be none or reach the
 * threshold.  Otherwise the smallest shown cell of the line is suppressed
 * (grouped or hidden, as the primary field's rule does), or, when none is
 * left, the line's single unknown cell is marked as derived.  Returns
 * whether something changed.
 */
static bool
two_check_line(TwoTable *t, const int *line, int n)
{
	int64		k = t->threshold;
	int64		total = 0;
	int64		mtotal = 0;
	int64		ucount = 0;
	int64		umrows = 0;
	int			nunknown = 0;
	int			unknown = -1;
	int			best = -1;
	int			best_sum = -1;
	bool		count_bad;
	bool		sum_bad;

	bool		col_line = true;
	bool		unlabeled = false;

	for (int i = 1; i < n; i++)
		if (t->groups[line[i]].col != t->groups[line[0]].col)
			col_line = false;
	for (int i = 0; i < n; i++)
	{
		TwoGroup   *g = &t->groups[line[i]];

		total += g->count;
		mtotal += g->mrows;

		/*
		 * The only cell of a slice that shows no cell: its count follows
		 * from the slice's total, but not the primary value it belongs to.
		 */
		if (!col_line && g->status != ANON_SHOWN && t->cols[g->col].unlabeled)
			unlabeled = true;
		if (two_count_unknown(g))
		{
			nunknown++;
			ucount += g->count;
			unknown = line[i];
		}
		if (two_sum_unknown(g, k))
			umrows += g->mrows;
		if (g->status != ANON_SHOWN)
			continue;
		if (best < 0 || g->count < t->groups[best].count)
			best = line[i];
		if (g->mrows >= k &&
			(best_sum < 0 || g->count < t->groups[best_sum].count))
			best_sum = line[i];
	}
	/* a shown slice of a not_sensitive field under k: its only cell is known */
	if (total < k)
	{
		if (nunknown != 1 || best >= 0)
			return false;
		t->groups[unknown].derived = true;
		return true;
	}
	count_bad = nunknown > 0 && (nunknown == 1 || ucount < k);

	/*
	 * In another line than its slice's, such a cell is safe only among at
	 * least two other unknown cells that reach k: with none, what the line's
	 * total leaves is that cell, so its primary value is this line's; with
	 * one, or fewer than k, what it leaves minus that cell's known count
	 * isolates them.
	 */
	if (unlabeled && (nunknown < 2 || ucount < k))
		count_bad = true;
	sum_bad = mtotal >= k && umrows > 0 && umrows < k;
	if (!count_bad && sum_bad)
		best = best_sum;
	if ((count_bad || sum_bad) && best >= 0)
	{
		t->groups[best].status = t->psens == ANON_VERY_SENSITIVE ?
			ANON_GROUPED : ANON_HIDDEN;
		return true;
	}
	if (count_bad && nunknown == 1)
	{
		t->groups[unknown].derived = true;
		return true;
	}
	return false;
}

/* The line of the column of a group, and the line of its primary value. */
static inline void
two_group_lines(TwoTable *t, const TwoGroup *g, const AnonStatus *pstatus,
				int *cl, int *pl)
{
	*cl = t->cols[g->col].hidden ? t->ncols : g->col;
	*pl = pstatus[g->pv] == ANON_SHOWN ? t->ncols + 1 + g->pv :
		t->ncols + 1 + t->npv;
}

/*
 * The lines of the table, each a list of group indexes: every column but the
 * hidden ones, the hidden columns together, every primary value that the
 * one-field breakout shows, the other primary values together, and the whole
 * table.  Line l is idx[start[l] .. start[l + 1]).  Returns their number.
 */
static int
two_lines(TwoTable *t, int **idxp, int **startp)
{
	int			nlines = t->ncols + t->npv + 3;
	int			all = nlines - 1;
	int		   *start = palloc0(sizeof(int) * (nlines + 1));
	int		   *fill = palloc0(sizeof(int) * nlines);
	int		   *idx = palloc(sizeof(int) * Max(3 * t->ngroups, 1));
	int64	   *ptotals = palloc0(sizeof(int64) * Max(t->npv, 1));
	AnonStatus *pstatus = palloc(sizeof(AnonStatus) * Max(t->npv, 1));
	int64		total = 0;
	int			cl;
	int			pl;

	/* which primary values the one-field breakout shows */
	for (int i = 0; i < t->ngroups; i++)
	{
		ptotals[t->groups[i].pv] += t->groups[i].count;
		total += t->groups[i].count;
	}
	anon_apply_threshold(t->npv, ptotals, total, t->threshold, t->psens,
						 NULL, NULL, pstatus);
	t->prest = palloc(sizeof(bool) * Max(t->npv, 1));
	for (int v = 0; v < t->npv; v++)
		t->prest[v] = pstatus[v] != ANON_SHOWN;

	for (int i = 0; i < t->ngroups; i++)
	{
		two_group_lines(t, &t->groups[i], pstatus, &cl, &pl);
		start[cl + 1]++;
		start[pl + 1]++;
	}
	start[all + 1] = t->ngroups;
	for (int l = 0; l < nlines; l++)
		start[l + 1] += start[l];
	for (int i = 0; i < t->ngroups; i++)
	{
		two_group_lines(t, &t->groups[i], pstatus, &cl, &pl);
		idx[start[cl] + fill[cl]++] = i;
		idx[start[pl] + fill[pl]++] = i;
		idx[start[all] + fill[all]++] = i;
	}
	*idxp = idx;
	*startp = start;
	return nlines;
}

/* Whether the unknown cells of a remainder are unsafe: one, or under k. */
static inline bool
two_unsafe(int nunknown, int64 count, int64 threshold)
{
	return nunknown == 1 || (nunknown > 1 && count < threshold);
}

/*
 * Totals nested in the total of the primary values that the one-field form
 * does not show (the "rest"): a column whose unknown cells all belong to rest
 * values can be subtracted from it.  What remains, the rest's unknown cells
 * in the other columns, must be none or safe.  If not, the smallest shown
 * cell of another value in such a column is suppressed (that column is then
 * no longer nested), or else the smallest shown rest cell of another column.
 * Returns 1 if a cell was suppressed, 0 if nothing was needed, -1 if nothing
 * can be done.
 */
static int
two_check_rest(TwoTable *t)
{
	bool	   *nested = palloc(sizeof(bool) * Max(t->ncols, 1));
	int			nunknown = 0;
	int64		count = 0;
	int			best = -1;

	for (int c = 0; c < t->ncols; c++)
	{
		TwoColumn  *col = &t->cols[c];
		bool		any = false;

		nested[c] = !col->hidden;
		for (int i = col->first; i < col->first + col->n && nested[c]; i++)
		{
			if (!two_count_unknown(&t->groups[i]))
				continue;
			any = true;
			nested[c] = t->prest[t->groups[i].pv];
		}
		nested[c] = nested[c] && any;
	}
	for (int i = 0; i < t->ngroups; i++)
	{
		TwoGroup   *g = &t->groups[i];

		if (t->prest[g->pv] && !nested[g->col] && two_count_unknown(g))
		{
			nunknown++;
			count += g->count;
		}
	}
	if (!two_unsafe(nunknown, count, t->threshold))
		return 0;
	for (int pass = 0; pass < 2 && best < 0; pass++)
		for (int i = 0; i < t->ngroups; i++)
		{
			TwoGroup   *g = &t->groups[i];
			bool		fits = pass == 0 ?
				nested[g->col] && !t->prest[g->pv] :
				!nested[g->col] && !t->cols[g->col].hidden && t->prest[g->pv];

			if (g->status == ANON_SHOWN && fits &&
				(best < 0 || g->count < t->groups[best].count))
				best = i;
		}
	if (best < 0)
		return -1;
	t->groups[best].status = t->psens == ANON_VERY_SENSITIVE ?
		ANON_GROUPED : ANON_HIDDEN;
	return 1;
}

/*
 * The same along the slice field: the hidden slices' total (public as the
 * whole minus the shown slices) holds the totals of the primary values whose
 * unknown cells all lie in hidden slices.  What remains must be none or
 * safe; otherwise the smallest shown cell of such a value is suppressed.
 * Returns as two_check_rest.
 */
static int
two_check_hidden(TwoTable *t)
{
	bool	   *nested = palloc(sizeof(bool) * Max(t->npv, 1));
	bool	   *any = palloc0(sizeof(bool) * Max(t->npv, 1));
	int			nunknown = 0;
	int64		count = 0;
	int			best = -1;

	for (int v = 0; v < t->npv; v++)
		nested[v] = true;
	for (int i = 0; i < t->ngroups; i++)
	{
		TwoGroup   *g = &t->groups[i];

		if (!two_count_unknown(g))
			continue;
		any[g->pv] = true;
		if (!t->cols[g->col].hidden)
			nested[g->pv] = false;
	}
	/* the rest values count as one total: nested only all together */
	for (int v = 0; v < t->npv; v++)
		if (t->prest[v] && !(nested[v] || !any[v]))
			for (int w = 0; w < t->npv; w++)
				if (t->prest[w])
					nested[w] = false;
	for (int i = 0; i < t->ngroups; i++)
	{
		TwoGroup   *g = &t->groups[i];

		if (t->cols[g->col].hidden && !nested[g->pv] && two_count_unknown(g))
		{
			nunknown++;
			count += g->count;
		}
	}
	if (!two_unsafe(nunknown, count, t->threshold))
		return 0;
	for (int i = 0; i < t->ngroups; i++)
	{
		TwoGroup   *g = &t->groups[i];

		if (g->status == ANON_SHOWN && nested[g->pv] && any[g->pv] &&
			(best < 0 || g->count < t->groups[best].count))
			best = i;
	}
	if (best < 0)
		return -1;
	t->groups[best].status = t->psens == ANON_VERY_SENSITIVE ?
		ANON_GROUPED : ANON_HIDDEN;
	return 1;
}

/*
 * The rule of anonymize.two_field_rule = 'protected' (complementary cell
 * suppression).  Whoever reads this breakout may also read both one-field
 * breakouts of the same rows, so the published totals are: each shown value
 * of either field, the merged (or hidden) values of either field together,
 * the whole, and in this breakout each shown cell and each slice's bucket.
 * Each is a linear equation over the cells; a cell not shown is recovered by
 * subtraction only from an equation in which it is the single unknown.
 * two_check_line keeps every line at zero unknown cells or at least two that
 * reach k together (and the same for the rows with a metric, for sums), and
 * a bucket is a line of its column, so no equation ever has a single unknown
 * under k: none can be solved, and no cell under k follows from them by
 * substitution.  Suppressing along one field can break a line of the other,
 * so the check runs until nothing changes; it ends, since every change
 * suppresses or derives one more cell.  Two totals of which one holds the
 * other can also be subtracted: the columns held in the rest of the primary
 * values, and the primary values held in the hidden slices are checked too
 * (two_check_rest, two_check_hidden).  If a derived cell is under k anyway,
 * or a nested remainder cannot be fixed (only possible when no shown cell is
 * left to suppress), returns false and nothing is shown.
 */
static bool
two_protect_margins(TwoTable *t)
{
	int		   *idx;
	int		   *start;
	int			nlines = two_lines(t, &idx, &start);
	bool		changed = true;

	while (changed)
	{
		int			rest;
		int			hidden;

		changed = false;
		for (int l = 0; l < nlines; l++)
			if (start[l + 1] > start[l] &&
				two_check_line(t, idx + start[l], start[l + 1] - start[l]))
				changed = true;
		if (changed)
			continue;
		rest = two_check_rest(t);
		hidden = rest == 0 ? two_check_hidden(t) : 0;
		if (rest < 0 || hidden < 0)
			return false;
		changed = rest > 0 || hidden > 0;
	}
	for (int i = 0; i < t->ngroups; i++)
	{
		TwoGroup   *g = &t->groups[i];

		if (g->derived && !t->cols[g->col].unlabeled &&
			(g->count < t->threshold ||
						   (g->mrows > 0 && g->mrows < t->threshold)))
			return false;
	}
	return true;
}

/* Emit the cells of one column, its bucket last. */
static void
two_emit_column(TwoTable *t, TwoView *view, TwoOut *out, TwoColumn *col,
				bool basic)
{
	int			pf = out->primary;
	char	  **members = palloc(sizeof(char *) * Max(col->n, 1));
	char	  **smembers = col->smembers;
	int			nmembers = 0;
	int64		brows = 0;
	int64		bmrows = 0;
	AnonSum		bsum = {0.0, 0.0};

	if (col->unlabeled)
		return;
	for (int i = col->first; i < col->first + col->n; i++)
	{
		TwoGroup   *g = &t->groups[i];
		char	   *plabel = view->labels[pf][g->pv];

		if (g->status == ANON_SHOWN)
			two_emit(out, plabel, &plabel, 1, col->slabel, smembers, col->nsm,
					 g->count, g->mrows, anon_sum_value(g->sum),
					 g->mrows >= t->threshold && isfinite(anon_sum_value(g->sum)),
					 "shown");
		else if (g->status == ANON_HIDDEN)
			two_emit(out, plabel, &plabel, 1, col->slabel, smembers, col->nsm,
					 basic ? g->count : -1, 0, 0.0, false, "hidden");
		else
		{
			members[nmembers++] = plabel;
			brows += g->count;
			bmrows += g->mrows;
			anon_sum_merge(&bsum, g->sum);
		}
	}
	if (nmembers > 0)
		two_emit(out, GROUPED_LABEL,
				 anon_show_grouped_members ? members : NULL, nmembers,
				 col->slabel, smembers, col->nsm,
				 brows, bmrows, anon_sum_value(bsum),
				 bmrows >= t->threshold && isfinite(anon_sum_value(bsum)), "grouped");
}

/*
 * Build the table: the slice field's own rule on the slices' totals (very:
 * small slices merged into one column; somewhat: small slices hidden), then
 * one column per slice, the merged one last, each with the primary field's
 * rule.  Returns whether the breakout reaches the threshold.
 */
static bool
two_build_table(TwoState *state, TwoView *view, TwoOut *out,
				AnonSensitivity ssens, bool basic, TwoTable *t)
{
	int			sf = 1 - out->primary;
	int			ns = view->nvalues[sf];
	int64	   *stotals = palloc0(sizeof(int64) * Max(ns, 1));
	AnonStatus *sstatus = palloc(sizeof(AnonStatus) * Max(ns, 1));
	char	  **smembers = palloc(sizeof(char *) * Max(ns, 1));
	int		   *order = palloc(sizeof(int) * Max(view->ncells, 1));
	int		   *merged = palloc(sizeof(int) * Max(view->ncells, 1));
	int			nmerged = 0;
	int			nsm = 0;
	int64		total = basic ? state->metric_rows : state->rows;

	t->groups = palloc(sizeof(TwoGroup) * Max(view->ncells, 1));
	t->cols = palloc(sizeof(TwoColumn) * (ns + 1));
	t->ngroups = t->ncols = 0;
	t->npv = view->nvalues[out->primary];
	t->threshold = state->threshold;

	for (int i = 0; i < view->ncells; i++)
		stotals[view->pos[sf][i]] += basic ? view->cells[i]->metric_rows :
			view->cells[i]->rows;
	if (!anon_apply_threshold(ns, stotals, total, state->threshold, ssens,
							  NULL, NULL, sstatus))
		return false;

	for (int i = 0; i < view->ncells; i++)
		order[i] = i;
	out->primary_only = false;
	qsort_arg(order, view->ncells, sizeof(int), two_slice_cmp, out);
	for (int start = 0, end; start < view->ncells; start = end)
	{
		int			s = view->pos[sf][order[start]];

		for (end = start; end < view->ncells && view->pos[sf][order[end]] == s; end++)
			if (sstatus[s] == ANON_GROUPED)
				merged[nmerged++] = order[end];
		if (sstatus[s] == ANON_GROUPED)
		{
			smembers[nsm++] = view->labels[sf][s];
			continue;
		}
		t->cols[t->ncols].slabel = view->labels[sf][s];
		t->cols[t->ncols].smembers = &t->cols[t->ncols].slabel;
		t->cols[t->ncols].nsm = 1;
		two_add_column(t, view, out->primary, order + start, end - start,
					   basic, sstatus[s] == ANON_HIDDEN);
	}
	if (nsm > 0)
	{
		out->primary_only = true;
		qsort_arg(merged, nmerged, sizeof(int), two_slice_cmp, out);
		t->cols[t->ncols].slabel = GROUPED_LABEL;
		t->cols[t->ncols].smembers = anon_show_grouped_members ? smembers : NULL;
		t->cols[t->ncols].nsm = nsm;
		two_add_column(t, view, out->primary, merged, nmerged, basic, false);
	}
	return true;
}

/* Apply both fields' rules and build the breakout_cell array. */
static ArrayType *
two_build_result(TwoState *state, Oid rowtype)
{
	bool		basic = anon_mode == ANON_MODE_BASIC;
	AnonSensitivity sens[2];
	TwoView		view = {state};
	TwoOut		out;
	TwoTable	table;
	cells_iterator it;
	Cell	   *c;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	/* basic mode ignores sensitivity and hides small groups, as in one field */
	for (int f = 0; f < 2; f++)
		sens[f] = basic ? ANON_SOMEWHAT_SENSITIVE : state->sens[f];

	view.ncells = 0;
	view.cells = palloc(sizeof(Cell *) * Max(state->cells->members, 1));
	cells_start_iterate(state->cells, &it);
	while ((c = cells_iterate(state->cells, &it)) != NULL)
		view.cells[view.ncells++] = c;
	two_number_field(&view, 0);
	two_number_field(&view, 1);

	out.view = &view;
	out.tupdesc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	/* a cell appears at most once, plus one bucket per column */
	out.rows = palloc(sizeof(Datum) * (2 * view.ncells + view.nvalues[0] + view.nvalues[1] + 1));
	out.nrows = 0;
	out.primary = sens[1] > sens[0] ? 1 : 0;
	table.psens = sens[out.primary];

	/* under the threshold in total nothing is shown, no label either */
	if (!two_build_table(state, &view, &out, sens[1 - out.primary], basic,
						 &table))
		return construct_empty_array(rowtype);
	if (anon_two_field_rule == ANON_TWO_FIELD_PROTECTED &&
		table.psens != ANON_NOT_SENSITIVE &&
		!two_protect_margins(&table))
		return construct_empty_array(rowtype);

	for (int i = 0; i < table.ncols; i++)
		two_emit_column(&table, &view, &out, &table.cols[i], basic);

	get_typlenbyvalalign(rowtype, &typlen, &typbyval, &typalign);
	return construct_array(out.rows, out.nrows, rowtype, typlen, typbyval,
						   typalign);
}

/*
 * anon_breakout2_final(internal) RETURNS anonymize.breakout_cell[]
 *
 * Final function: the cells that may be shown.  Does not modify the state.
 */
Datum
anon_breakout2_final(PG_FUNCTION_ARGS)
{
	Oid			rowtype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));

	anon_agg_context(fcinfo, AGGNAME);
	if (!OidIsValid(rowtype))
		elog(ERROR, "could not determine the result type of anonymized_breakout");
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(rowtype));
	PG_RETURN_ARRAYTYPE_P(two_build_result((TwoState *) PG_GETARG_POINTER(0),
										   rowtype));
}

/* Make an empty state for a transition call; see breakout.h. */
TwoState *
anon_two_begin(FunctionCallInfo fcinfo, MemoryContext mcxt)
{
	TwoState   *state = two_state_create(mcxt, anon_agg_value_type(fcinfo, 1),
										 anon_agg_value_type(fcinfo, 2),
										 anon_agg_collation(fcinfo));

	state->threshold_float = anon_agg_declared_argtype(fcinfo, 4) == FLOAT8OID;
	state->sensitivity_text = anon_agg_declared_argtype(fcinfo, 5) == TEXTOID;
	return state;
}

/* Refuse a state that is not of the call's types; see breakout.h. */
void
anon_two_check_call(TwoState *state, FunctionCallInfo fcinfo)
{
	Oid			collation = anon_agg_collation(fcinfo);
	Oid			type1 = anon_agg_value_type(fcinfo, 1);

	/* as anon_key_type_init takes it */
	if (!OidIsValid(collation) && type_is_collatable(type1))
		collation = DEFAULT_COLLATION_OID;
	if (state->key1.type != type1 ||
		state->key2.type != anon_agg_value_type(fcinfo, 2) ||
		state->key1.collation != collation ||
		anon_agg_declared_argtype(fcinfo, 4) != INT4OID ||
		anon_agg_declared_argtype(fcinfo, 5) == TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("breakout state does not match the arguments of the aggregate"),
				 errdetail("A state given to the transition function must be of its key types.")));
}

/* Merge src into dst, refusing states of another form; see breakout.h. */
void
anon_two_merge_state(TwoState *dst, TwoState *src)
{
	if (dst->key1.type != src->key1.type || dst->key2.type != src->key2.type)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different key types"),
				 errdetail("One state has keys of types %s and %s, the other of types %s and %s.",
						   format_type_be(dst->key1.type), format_type_be(dst->key2.type),
						   format_type_be(src->key1.type), format_type_be(src->key2.type))));
	if (dst->key1.collation != src->key1.collation)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different collations")));
	if (dst->settings_known && src->settings_known &&
		(dst->threshold != src->threshold || dst->sens[0] != src->sens[0] ||
		 dst->sens[1] != src->sens[1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge breakout states of different thresholds or sensitivities")));
	two_merge(dst, src);
}

/* Write a state in its portable form; see breakout.h. */
void
anon_two_write(StringInfo buf, TwoState *state)
{
	cells_iterator it;
	Cell	   *c;
	int			nest;

	pq_sendbyte(buf, 3);
	anon_write_type(buf, state->key1.type);
	anon_write_type(buf, state->key2.type);
	anon_write_collation(buf, state->key1.collation);
	pq_sendint32(buf, state->threshold);
	pq_sendbyte(buf, state->sens[0]);
	pq_sendbyte(buf, state->sens[1]);
	pq_sendint64(buf, state->cells->members);

	nest = anon_portable_settings();
	cells_start_iterate(state->cells, &it);
	while ((c = cells_iterate(state->cells, &it)) != NULL)
	{
		pq_sendint64(buf, c->rows);
		pq_sendint64(buf, c->metric_rows);
		pq_sendfloat8(buf, c->sum.sum);
		pq_sendfloat8(buf, c->sum.comp);
		pq_sendbyte(buf, c->key.null1);
		if (!c->key.null1)
			anon_key_send(buf, &state->key1, c->key.k1);
		pq_sendbyte(buf, c->key.null2);
		if (!c->key.null2)
			anon_key_send(buf, &state->key2, c->key.k2);
	}
	AtEOXact_GUC(true, nest);
}

/* Read a state written by anon_two_write, checked; see breakout.h. */
TwoState *
anon_two_read(AnonReader *r, MemoryContext mcxt)
{
	TwoState   *state;
	Oid			type1;
	Oid			type2;
	Oid			collation;
	int32		threshold;
	int64		ncells;
	int			nest;

	if (anon_read_byte(r) != 3)
		anon_read_fail(r, "The state's form is unknown.");
	type1 = anon_read_type(r);
	type2 = anon_read_type(r);
	collation = anon_read_collation(r);
	state = two_state_create(mcxt, type1, type2, collation);
	threshold = anon_read_int32(r);
	if (threshold < 1)
		anon_read_fail(r, "The state's threshold is below 1.");
	state->threshold = threshold;
	for (int f = 0; f < 2; f++)
	{
		uint8		sens = anon_read_byte(r);

		if (sens > ANON_VERY_SENSITIVE)
			anon_read_fail(r, "The state's sensitivity is unknown.");
		state->sens[f] = (AnonSensitivity) sens;
		state->sens_oid[f] = InvalidOid;
	}
	state->settings_known = true;
	ncells = anon_read_int64(r);
	/* each cell takes at least 34 bytes */
	if (ncells < 0 || ncells > (r->end - r->cur) / 34)
		anon_read_fail(r, "The state's count of cells does not match its length.");

	nest = anon_portable_settings();
	for (int64 i = 0; i < ncells; i++)
	{
		int64		rows = anon_read_int64(r);
		int64		metric_rows = anon_read_int64(r);
		AnonSum		sum;
		CellKey		key = {0};
		uint8		null;
		bool		found;
		Cell	   *cell;

		sum.sum = anon_read_float8(r);
		sum.comp = anon_read_float8(r);
		if (rows < 1 || metric_rows < 0 || metric_rows > rows)
			anon_read_fail(r, "A cell's counts are negative or inconsistent.");
		/* a sum may be NaN or infinite (anonymize.hide_bad_metrics): it is withheld */
		if ((null = anon_read_byte(r)) > 1)
			anon_read_fail(r, "A key's flag is neither 0 nor 1.");
		key.null1 = null;
		if (!key.null1)
			key.k1 = anon_key_read(r, &state->key1);
		if ((null = anon_read_byte(r)) > 1)
			anon_read_fail(r, "A key's flag is neither 0 nor 1.");
		key.null2 = null;
		if (!key.null2)
			key.k2 = anon_key_read(r, &state->key2);
		cell = cells_insert(state->cells, key, &found);
		if (found)
			anon_read_fail(r, "A cell appears twice in the state.");
		cell->key.k1 = key.null1 ? (Datum) 0 :
			anon_key_copy(&state->key1, state->mcxt, key.k1);
		cell->key.k2 = key.null2 ? (Datum) 0 :
			anon_key_copy(&state->key2, state->mcxt, key.k2);
		cell->rows = rows;
		cell->metric_rows = metric_rows;
		cell->sum = sum;
		if (pg_add_s64_overflow(state->rows, rows, &state->rows) ||
			pg_add_s64_overflow(state->metric_rows, metric_rows, &state->metric_rows))
			anon_read_fail(r, "The state's counts overflow.");
	}
	AtEOXact_GUC(true, nest);
	if (r->cur != r->end)
		anon_read_fail(r, "The state has bytes after its end.");
	return state;
}

/* The cells of a state that may be shown; see breakout.h. */
ArrayType *
anon_two_result(TwoState *state, Oid rowtype)
{
	/* anonymize.min_threshold may be higher here than where it was made */
	anon_check_threshold(state->threshold);
	return two_build_result(state, rowtype);
}
