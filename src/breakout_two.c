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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "anonymize.h"
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
	float8		sum;
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
typedef struct TwoState
{
	MemoryContext mcxt;
	AnonKeyType key1;
	AnonKeyType key2;
	bool		settings_known;
	int32		threshold;
	Oid			sens_oid[2];
	cells_hash *cells;
	int64		rows;
	int64		metric_rows;
} TwoState;

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
	threshold = PG_GETARG_INT32(4);
	sens[0] = PG_GETARG_OID(5);
	sens[1] = PG_GETARG_OID(6);

	if (state->settings_known)
	{
		if (threshold != state->threshold ||
			sens[0] != state->sens_oid[0] || sens[1] != state->sens_oid[1])
			anon_settings_differ();
		return;
	}
	anon_check_threshold(threshold);
	state->threshold = threshold;
	state->sens_oid[0] = sens[0];
	state->sens_oid[1] = sens[1];
	state->settings_known = true;
}

/* Add counts to a cell, creating it if needed; refuse an overflowing sum. */
static void
two_add(TwoState *state, CellKey key, int64 rows, int64 metric_rows,
		float8 sum)
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
		cell->sum = 0.0;
	}
	cell->rows += rows;
	cell->metric_rows += metric_rows;
	cell->sum += sum;
	anon_check_sum(cell->sum);
	state->rows += rows;
	state->metric_rows += metric_rows;
}

/*
 * anon_breakout2_trans(internal, "any", "any", float8, int4, sensitivity,
 *						sensitivity) RETURNS internal
 *
 * Transition function: count the row in the cell of its two keys.
 */
Datum
anon_breakout2_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = anon_agg_context(fcinfo, AGGNAME);
	TwoState   *state;
	CellKey		key;
	float8		metric = 0.0;
	bool		has_metric = !PG_ARGISNULL(3);

	if (PG_ARGISNULL(0))
		state = two_state_create(aggcxt,
								 get_fn_expr_argtype(fcinfo->flinfo, 1),
								 get_fn_expr_argtype(fcinfo->flinfo, 2),
								 PG_GET_COLLATION());
	else
		state = (TwoState *) PG_GETARG_POINTER(0);
	two_read_settings(state, fcinfo);

	if (has_metric)
		metric = anon_metric(PG_GETARG_FLOAT8(3));
	key.null1 = PG_ARGISNULL(1);
	key.k1 = key.null1 ? (Datum) 0 : PG_GETARG_DATUM(1);
	key.null2 = PG_ARGISNULL(2);
	key.k2 = key.null2 ? (Datum) 0 : PG_GETARG_DATUM(2);
	two_add(state, key, 1, has_metric ? 1 : 0, metric);

	PG_RETURN_POINTER(state);
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
	}
	else if (src->settings_known &&
			 (src->threshold != dst->threshold ||
			  src->sens_oid[0] != dst->sens_oid[0] ||
			  src->sens_oid[1] != dst->sens_oid[1]))
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
		pq_sendfloat8(&buf, c->sum);
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
	ncells = pq_getmsgint64(&buf);

	nest = anon_portable_settings();
	for (int64 i = 0; i < ncells; i++)
	{
		int64		rows = pq_getmsgint64(&buf);
		int64		metric_rows = pq_getmsgint64(&buf);
		float8		sum = pq_getmsgfloat8(&buf);
		CellKey		key = {0};

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
 * the slice's; they are put in key1/key2 order.  n < 0 withholds n; the
 * metric is shown only with show_metric and some row having one.
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
	values[p + 1] = anon_text_array(pmembers, npm);
	nulls[s] = slabel == NULL;
	values[s] = slabel ? CStringGetTextDatum(slabel) : (Datum) 0;
	values[s + 1] = anon_text_array(smembers, nsm);
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
 * Apply the primary field's rule within one slice and emit its cells.  The
 * slice's cells are given in primary-value order; in a merged slice several
 * cells of one primary value are added up.  hide_all hides every cell (a
 * small somewhat_sensitive slice, or a breakout under the threshold).
 */
static void
two_emit_slice(TwoView *view, TwoOut *out, const int *cells, int ncells,
			   char *slabel, char **smembers, int nsm, bool hide_all,
			   AnonSensitivity psens, bool basic, int32 threshold)
{
	int			pf = out->primary;
	int		   *value = palloc(sizeof(int) * Max(ncells, 1));
	int64	   *rows = palloc0(sizeof(int64) * Max(ncells, 1));
	int64	   *mrows = palloc0(sizeof(int64) * Max(ncells, 1));
	float8	   *sums = palloc0(sizeof(float8) * Max(ncells, 1));
	int64	   *counts = palloc(sizeof(int64) * Max(ncells, 1));
	AnonStatus *status = palloc(sizeof(AnonStatus) * Max(ncells, 1));
	char	  **members = palloc(sizeof(char *) * Max(ncells, 1));
	int			ng = 0;
	int			nmembers = 0;
	int64		total = 0;
	int64		brows = 0;
	int64		bmrows = 0;
	float8		bsum = 0.0;
	bool		visible;

	/* the slice's groups: one per primary value, in order */
	for (int i = 0; i < ncells; i++)
	{
		Cell	   *c = view->cells[cells[i]];
		int			pv = view->pos[pf][cells[i]];

		if (ng == 0 || value[ng - 1] != pv)
			value[ng++] = pv;
		rows[ng - 1] += c->rows;
		mrows[ng - 1] += c->metric_rows;
		sums[ng - 1] += c->sum;
	}
	for (int g = 0; g < ng; g++)
	{
		counts[g] = basic ? mrows[g] : rows[g];
		total += counts[g];
	}
	if (hide_all)
	{
		for (int g = 0; g < ng; g++)
			status[g] = ANON_HIDDEN;
		visible = false;
	}
	else
		visible = anon_apply_threshold(ng, counts, total, threshold, psens,
									   NULL, NULL, status);

	for (int g = 0; g < ng; g++)
	{
		char	   *plabel = view->labels[pf][value[g]];

		switch (status[g])
		{
			case ANON_SHOWN:
				two_emit(out, plabel, &plabel, 1, slabel, smembers, nsm,
						 counts[g], mrows[g], sums[g], true, "shown");
				break;
			case ANON_HIDDEN:
				two_emit(out, plabel, &plabel, 1, slabel, smembers, nsm,
						 (basic && visible) ? counts[g] : -1, 0, 0.0, false,
						 "hidden");
				break;
			case ANON_GROUPED:
				members[nmembers++] = plabel;
				brows += counts[g];
				bmrows += mrows[g];
				bsum += sums[g];
				break;
		}
	}
	if (nmembers > 0)
		two_emit(out, GROUPED_LABEL, members, nmembers, slabel, smembers, nsm,
				 brows, bmrows, bsum, true, "grouped");
}

/* Apply both fields' rules and build the breakout_cell array. */
static ArrayType *
two_build_result(TwoState *state, Oid rowtype)
{
	bool		basic = anon_mode == ANON_MODE_BASIC;
	AnonSensitivity sens[2];
	TwoView		view = {state};
	TwoOut		out;
	cells_iterator it;
	Cell	   *c;
	int			sf;
	int			ns;
	int64	   *stotals;
	AnonStatus *sstatus;
	char	  **smembers;
	int			nsm = 0;
	int		   *order;
	int		   *merged;
	int			nmerged = 0;
	int64		total = basic ? state->metric_rows : state->rows;
	bool		visible;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	/* basic mode ignores sensitivity and hides small groups, as in one field */
	for (int f = 0; f < 2; f++)
		sens[f] = basic ? ANON_SOMEWHAT_SENSITIVE :
			anon_sensitivity_from_oid(state->sens_oid[f]);

	view.ncells = state->cells->members;
	view.cells = palloc(sizeof(Cell *) * Max(view.ncells, 1));
	view.ncells = 0;
	cells_start_iterate(state->cells, &it);
	while ((c = cells_iterate(state->cells, &it)) != NULL)
		view.cells[view.ncells++] = c;
	two_number_field(&view, 0);
	two_number_field(&view, 1);

	out.view = &view;
	out.primary_only = false;
	out.tupdesc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	/* a cell appears at most once, plus one grouped cell per slice */
	out.rows = palloc(sizeof(Datum) * (2 * view.ncells + view.nvalues[0] + view.nvalues[1] + 1));
	out.nrows = 0;
	out.primary = sens[1] > sens[0] ? 1 : 0;
	sf = 1 - out.primary;
	ns = view.nvalues[sf];

	/* the slices' totals, and the slice field's own rule on them */
	stotals = palloc0(sizeof(int64) * Max(ns, 1));
	sstatus = palloc(sizeof(AnonStatus) * Max(ns, 1));
	smembers = palloc(sizeof(char *) * Max(ns, 1));
	for (int i = 0; i < view.ncells; i++)
		stotals[view.pos[sf][i]] += basic ? view.cells[i]->metric_rows :
			view.cells[i]->rows;
	visible = anon_apply_threshold(ns, stotals, total, state->threshold,
								   sens[sf], NULL, NULL, sstatus);

	/* cells by slice, then by primary value */
	order = palloc(sizeof(int) * Max(view.ncells, 1));
	merged = palloc(sizeof(int) * Max(view.ncells, 1));
	for (int i = 0; i < view.ncells; i++)
		order[i] = i;
	qsort_arg(order, view.ncells, sizeof(int), two_slice_cmp, &out);

	for (int start = 0, end; start < view.ncells; start = end)
	{
		int			s = view.pos[sf][order[start]];
		char	   *slabel = view.labels[sf][s];

		for (end = start; end < view.ncells && view.pos[sf][order[end]] == s; end++)
		{
			if (sstatus[s] == ANON_GROUPED)
				merged[nmerged++] = order[end];
		}
		if (sstatus[s] == ANON_GROUPED)
			smembers[nsm++] = slabel;
		else
			two_emit_slice(&view, &out, order + start, end - start,
						   slabel, &slabel, 1,
						   !visible || sstatus[s] == ANON_HIDDEN,
						   sens[out.primary], basic, state->threshold);
	}
	if (nsm > 0)
	{
		out.primary_only = true;
		qsort_arg(merged, nmerged, sizeof(int), two_slice_cmp, &out);
		two_emit_slice(&view, &out, merged, nmerged, GROUPED_LABEL, smembers, nsm,
					   false, sens[out.primary], basic, state->threshold);
	}

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
