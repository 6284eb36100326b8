/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  Refusing to drop, disable or weaken the protection of a table.
 *
 * anonymize.guard() is an event trigger on ddl_command_start, enabled
 * ALWAYS, so it runs in every session whether or not the library was loaded
 * before, and under session_replication_role = replica.  It inspects the
 * parse tree of the command about to run and refuses:
 *	- DROP TRIGGER, ALTER TRIGGER ... RENAME and ALTER TABLE ... ENABLE,
 *	  ENABLE REPLICA or DISABLE TRIGGER (by name, ALL or USER) that touch a
 *	  protect trigger;
 *	- DETACH PARTITION of a protected partition;
 *	- RENAME of a column that a protect trigger names;
 *	- a BEFORE ROW trigger on a protected table that would fire after the
 *	  protect trigger (and so could put identifiers back);
 *	- DROP EXTENSION anonymize or DROP SCHEMA anonymize while any table is
 *	  protected.
 * Only dropping the table itself removes its protection.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "anonymize.h"
#include "guard.h"

bool		anon_guard_allow_drop = false;

PG_FUNCTION_INFO_V1(anon_guard);

/*
 * The protect trigger of a relation (the one protect() installed, or its copy
 * on a partition), or NULL.
 */
static Trigger *
guard_protect_trigger(Relation rel, Oid funcoid)
{
	TriggerDesc *trigdesc = rel->trigdesc;

	for (int i = 0; trigdesc && i < trigdesc->numtriggers; i++)
		if (trigdesc->triggers[i].tgfoid == funcoid &&
			strcmp(trigdesc->triggers[i].tgname, ANON_TRIGGER_NAME) == 0)
			return &trigdesc->triggers[i];
	return NULL;
}

/* Open a relation named by a RangeVar, or return NULL if there is none. */
static Relation
guard_open(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	return OidIsValid(relid) ? try_relation_open(relid, AccessShareLock) : NULL;
}

/* Raise the error for an attempt to weaken protection; msg names it. */
static void
guard_refuse(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s", msg),
			 errdetail("Anonymization of a table cannot be disabled once enabled; only dropping the table removes it.")));
}

/*
 * Refuse when a relation's protect trigger is named (tgname) or, with tgname
 * NULL, when the relation is protected at all.  msg has one %s: the table.
 */
static void
guard_trigger_command(RangeVar *rv, const char *tgname, Oid funcoid,
					  const char *msg)
{
	Relation	rel = guard_open(rv);
	Trigger    *trig;

	if (rel == NULL)
		return;
	trig = guard_protect_trigger(rel, funcoid);
	if (trig && (tgname == NULL || strcmp(trig->tgname, tgname) == 0))
		guard_refuse(psprintf(msg, RelationGetRelationName(rel)));
	relation_close(rel, AccessShareLock);
}

/* Whether a protect trigger's arguments name a column. */
static bool
guard_names_column(Trigger *trig, const char *column)
{
	for (int i = 0; i + 1 < trig->tgnargs; i += 3)
		if (strcmp(trig->tgargs[i + 1], column) == 0)
			return true;
	return false;
}

/* Whether any table of the database is protected. */
static bool
guard_any_protected(Oid funcoid)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;
	bool		found = false;

	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tup);

		found = trig->tgfoid == funcoid &&
			strcmp(NameStr(trig->tgname), ANON_TRIGGER_NAME) == 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Check one subcommand of ALTER TABLE. */
static void
guard_alter_table_cmd(RangeVar *rv, AlterTableCmd *cmd, Oid funcoid)
{
	switch (cmd->subtype)
	{
		case AT_EnableTrig:
		case AT_EnableReplicaTrig:
		case AT_DisableTrig:
			guard_trigger_command(rv, cmd->name, funcoid, "cannot change how the anonymize trigger of table \"%s\" fires");
			break;
		case AT_EnableTrigAll:
		case AT_DisableTrigAll:
		case AT_EnableTrigUser:
		case AT_DisableTrigUser:
			guard_trigger_command(rv, NULL, funcoid, "cannot enable or disable all triggers of protected table \"%s\"");
			break;
		case AT_DetachPartition:
			guard_trigger_command(((PartitionCmd *) cmd->def)->name, NULL, funcoid,
								  "cannot detach protected partition \"%s\"");
			break;
		default:
			break;
	}
}

/* Refuse renaming a protect trigger or a column one of them names. */
static void
guard_rename(RenameStmt *stmt, Oid funcoid)
{
	Relation	rel;
	Trigger    *trig;

	if (stmt->renameType != OBJECT_TRIGGER && stmt->renameType != OBJECT_COLUMN)
		return;
	rel = guard_open(stmt->relation);
	if (rel == NULL)
		return;
	trig = guard_protect_trigger(rel, funcoid);
	if (trig && stmt->renameType == OBJECT_TRIGGER &&
		strcmp(trig->tgname, stmt->subname) == 0)
		guard_refuse(psprintf("cannot rename the anonymize trigger of table \"%s\"",
							  RelationGetRelationName(rel)));
	if (trig && stmt->renameType == OBJECT_COLUMN &&
		guard_names_column(trig, stmt->subname))
		guard_refuse(psprintf("cannot rename column \"%s\" of protected table \"%s\"",
							  stmt->subname, RelationGetRelationName(rel)));
	relation_close(rel, AccessShareLock);
}

/* Refuse a BEFORE ROW trigger that would fire after the protect trigger. */
static void
guard_create_trigger(CreateTrigStmt *stmt, Oid funcoid)
{
	Relation	rel;

	if (!stmt->row || stmt->timing != TRIGGER_TYPE_BEFORE ||
		strcmp(stmt->trigname, ANON_TRIGGER_NAME) <= 0)
		return;
	rel = guard_open(stmt->relation);
	if (rel == NULL)
		return;
	if (guard_protect_trigger(rel, funcoid) && !anon_guard_allow_drop)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot create trigger \"%s\": it would fire after the anonymize trigger of table \"%s\"",
						stmt->trigname, RelationGetRelationName(rel)),
				 errdetail("BEFORE ROW triggers fire in name order, and a row must not change after it is anonymized."),
				 errhint("Choose a name that sorts before \"%s\".", ANON_TRIGGER_NAME)));
	relation_close(rel, AccessShareLock);
}

/* Refuse DROP TRIGGER of a protect trigger, or dropping the extension. */
static void
guard_drop(DropStmt *stmt, Oid funcoid)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		if (stmt->removeType == OBJECT_TRIGGER && !anon_guard_allow_drop)
		{
			List	   *names = (List *) lfirst(lc);
			List	   *relname = list_truncate(list_copy(names), list_length(names) - 1);

			guard_trigger_command(makeRangeVarFromNameList(relname),
								  strVal(llast(names)), funcoid,
								  "cannot drop the anonymize trigger of table \"%s\"");
		}
		else if ((stmt->removeType == OBJECT_EXTENSION ||
				  stmt->removeType == OBJECT_SCHEMA) &&
				 strcmp(strVal(lfirst(lc)), "anonymize") == 0 &&
				 guard_any_protected(funcoid))
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop %s anonymize because protected tables exist",
							stmt->removeType == OBJECT_EXTENSION ? "extension" : "schema"),
					 errdetail("Anonymization of a table cannot be disabled once enabled."),
					 errhint("Drop the protected tables first; anonymize.protected_tables lists them.")));
	}
}

/*
 * anon_guard() RETURNS event_trigger
 *
 * Event trigger on ddl_command_start: refuse commands that would drop,
 * disable or weaken the protection of a table.
 */
Datum
anon_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *parsetree;
	Oid			funcoid;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("anonymize.guard() was not called by event trigger manager")));
	trigdata = (EventTriggerData *) fcinfo->context;
	parsetree = trigdata->parsetree;
	funcoid = anon_protect_function_oid();
	if (!OidIsValid(funcoid))
		PG_RETURN_VOID();

	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			guard_drop((DropStmt *) parsetree, funcoid);
			break;
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				ListCell   *lc;

				foreach(lc, stmt->cmds)
					guard_alter_table_cmd(stmt->relation, lfirst(lc), funcoid);
				break;
			}
		case T_RenameStmt:
			guard_rename((RenameStmt *) parsetree, funcoid);
			break;
		case T_CreateTrigStmt:
			guard_create_trigger((CreateTrigStmt *) parsetree, funcoid);
			break;
		default:
			break;
	}
	PG_RETURN_VOID();
}
