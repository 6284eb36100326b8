/*
 * bench_floor.c
 *	  The cheapest C BEFORE ROW triggers, for test/bench/protect: what any
 *	  trigger costs before it does any work.  A throwaway module, built with
 *	  the server's PGXS by the bench and never installed with the extension.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "fmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(bench_floor_unchanged);
PG_FUNCTION_INFO_V1(bench_floor_set_null);

/* bench_floor_unchanged() RETURNS trigger: the row as it came. */
Datum
bench_floor_unchanged(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "not called by trigger manager");
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/*
 * bench_floor_set_null() RETURNS trigger: the row with the column named by
 * the trigger's argument set to NULL, by heap_modify_tuple_by_cols.
 */
Datum
bench_floor_set_null(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	int			col;
	Datum		value = (Datum) 0;
	bool		isnull = true;

	if (!CALLED_AS_TRIGGER(fcinfo) || trigdata->tg_trigger->tgnargs != 1)
		elog(ERROR, "not called by trigger manager with one argument");
	col = atoi(trigdata->tg_trigger->tgargs[0]);
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_trigtuple,
													 tupdesc, 1, &col,
													 &value, &isnull));
}
