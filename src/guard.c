/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  Refusing every command that would drop, disable or weaken the
 *	  protection of a table.
 *
 * The guard does not try to recognize dangerous commands; it checks the
 * state they leave.  anonymize.guard() runs as an event trigger, enabled
 * ALWAYS, so it runs in every session whether or not the library was loaded
 * before, and under session_replication_role = replica:
 *
 *	- at ddl_command_end of every command, for every table registered in
 *	  anonymize.protection that the transaction has locked for DDL (every
 *	  command that changes a table's definition takes at least SHARE UPDATE
 *	  EXCLUSIVE on it) or whose trigger or rule the command named (ALTER
 *	  TRIGGER ... DEPENDS ON takes less), and every partition of it:
 *		- the protect trigger is there, calls anonymize.protect_trigger() with
 *		  exactly the registered arguments, fires ALWAYS (ORIGIN is turned
 *		  back into ALWAYS), BEFORE INSERT OR UPDATE FOR EACH ROW, and its
 *		  condition deparses to the registered canonical text and calls
 *		  nothing that can be replaced; it is not renamed or copied;
 *		- no other BEFORE ROW trigger fires after it (triggers fire in name
 *		  order);
 *		- no rewrite rules, no inheritance children other than partitions,
 *		  no foreign-table partition; the protected table itself is neither
 *		  a partition, an inheritance child nor a typed table; partition keys
 *		  call only built-in functions;
 *		- every column the trigger names exists and is not generated;
 *		- the trigger does not depend on an extension (which would drop it);
 *		- a partition attached in this transaction holds no row that another
 *		  transaction wrote;
 *	  and of the command itself: no ALTER COLUMN TYPE of a column the trigger
 *	  names (its USING clause would rewrite the column without the trigger),
 *	  no ADD COLUMN of such a name (dropped in the same command), no DETACH;
 *	- at sql_drop, the protect trigger of a table that stays is put back
 *	  (DROP TRIGGER; so that pg_dump --clean output can be replayed), or the
 *	  command is refused when it also dropped a column the trigger needs
 *	  (DROP COLUMN ... CASCADE) or dropped the copy on a partition;
 *	- at ddl_command_start, DROP EXTENSION anonymize and DROP SCHEMA of its
 *	  schema are refused while any table is protected (once the extension is
 *	  dropped, no event trigger of it runs any more), and so are DETACH
 *	  PARTITION (whose CONCURRENTLY form commits a first step), ATTACH
 *	  PARTITION of a table that holds rows, and partition bounds that are not
 *	  constants, for the table's owner (anybody else is refused by the
 *	  command itself, and no lock is taken for them).
 *
 * No condition is ever parsed again after protect() (only deparsed), so no
 * code of anyone's runs in the guard, as whoever issues the DDL.
 *
 * An error rolls the command back.  A registered table whose trigger does
 * not exist at all is accepted at ddl_command_end, because that is the state
 * a pg_dump restore passes through (the registry is loaded as data, the
 * trigger comes with the post-data section); once there, the trigger cannot
 * be dropped, as sql_drop puts it back.
 *
 * Everything is read by catalog scans with no privilege checks: the guard
 * runs as whoever issues the DDL, who may have no USAGE on the schema.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "tcop/deparse_utility.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "anonymize.h"
#include "guard.h"
#include "protect.h"
#include "registry.h"
#include "shards.h"

PG_FUNCTION_INFO_V1(anon_guard);

/* The trigger type protect() installs */
#define GUARD_TRIGGER_TYPE \
	(TRIGGER_TYPE_ROW | TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE)

/* Raise the error for a command that weakened protection. */
#define guard_refuse(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), \
			 errmsg(__VA_ARGS__), \
			 errdetail("Anonymization of a table cannot be disabled once enabled; only dropping the table removes it.")))

/* What the guard checks a protected table against. */
typedef struct GuardTarget
{
	AnonProtection reg;
	Oid			funcoid;
	int			nargs;
	char	  **args;
	const char *root_name;
	const char *trigname;		/* the protect trigger's name on this table */
	bool		shard;			/* a shard of a distributed table */
	bool		at_commit;		/* a shard must have its trigger by now */
} GuardTarget;

static bool guard_locked_by_me(Oid relid);

/*
 * The table a trigger or a rule belongs to (relcol of its catalog row), or
 * InvalidOid.
 */
static Oid
guard_object_table(Oid classid, AttrNumber oidcol, AttrNumber relcol, Oid objid)
{
	Relation	rel = table_open(classid, AccessShareLock);
	HeapTuple	tup = get_catalog_object_by_oid(rel, oidcol, objid);
	Oid			relid = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, relcol, RelationGetDescr(rel), &isnull);

		relid = isnull ? InvalidOid : DatumGetObjectId(d);
	}
	table_close(rel, AccessShareLock);
	return relid;
}

/* The protect trigger of a relation (by name), or NULL. */
static Trigger *
guard_find_trigger(Relation rel, const char *name)
{
	TriggerDesc *trigdesc = rel->trigdesc;

	for (int i = 0; trigdesc && i < trigdesc->numtriggers; i++)
		if (strcmp(trigdesc->triggers[i].tgname, name) == 0)
			return &trigdesc->triggers[i];
	return NULL;
}

/* Whether a partition became one in this transaction. */
static bool
guard_new_partition(Oid relid)
{
	Relation	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&skey, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &skey);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		found = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Whether a table holds a row that another transaction wrote: in a table
 * that became a partition in this transaction, such a row was there before
 * it was attached, and never passed through the trigger.
 */
static bool
guard_holds_old_rows(Relation rel)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found = false;

	while (!found && table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		shouldfree;
		HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, &shouldfree);

		found = !TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
		if (shouldfree)
			heap_freetuple(tup);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	return found;
}

/* Whether a trigger depends on an extension (ALTER TRIGGER ... DEPENDS ON). */
static bool
guard_depends_on_extension(Oid tgoid)
{
	Relation	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyData skey[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&skey[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TriggerRelationId));
	ScanKeyInit(&skey[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(tgoid));
	scan = systable_beginscan(rel, DependDependerIndexId, true, NULL, 2, skey);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		found = ((Form_pg_depend) GETSTRUCT(tup))->deptype == DEPENDENCY_AUTO_EXTENSION;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Whether the trigger's condition is the registered one: its canonical text
 * is, and it calls nothing that can be replaced.  The stored condition is
 * deparsed, never parsed again, so nothing of anyone's runs here.
 */
static bool
guard_same_condition(Relation rel, Trigger *ours, GuardTarget *target)
{
	Node	   *qual = stringToNode(ours->tgqual);

	return !anon_condition_changeable(qual, false) &&
		strcmp(anon_condition_deparse(RelationGetRelid(rel), qual),
			   target->reg.when_condition) == 0;
}

/* Whether a trigger's arguments are exactly the target's. */
static bool
guard_args_match(GuardTarget *target, Trigger *ours)
{
	if (ours->tgnargs != target->nargs)
		return false;
	for (int i = 0; i < target->nargs; i++)
		if (strcmp(ours->tgargs[i], target->args[i]) != 0)
			return false;
	return true;
}

/* Check the triggers of one table of a protected tree. */
static void
guard_check_triggers(Relation rel, GuardTarget *target, Trigger *ours, bool root)
{
	const char *relname = RelationGetRelationName(rel);
	TriggerDesc *trigdesc = rel->trigdesc;

	if (ours->tgfoid != target->funcoid || ours->tgenabled != TRIGGER_FIRES_ALWAYS ||
		ours->tgtype != GUARD_TRIGGER_TYPE || ours->tgnattr != 0 ||
		!guard_args_match(target, ours) ||
		(target->reg.when_condition == NULL) != (ours->tgqual == NULL) ||
		(!root && !ours->tgisclone) ||
		(ours->tgqual && !guard_same_condition(rel, ours, target)))
		guard_refuse("the anonymize trigger of table \"%s\" cannot be replaced, disabled or changed",
					 relname);
	if (guard_depends_on_extension(ours->tgoid))
		guard_refuse("the anonymize trigger of table \"%s\" cannot depend on an extension",
					 relname);
	for (int i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_BEFORE(t->tgtype) &&
			(TRIGGER_FOR_INSERT(t->tgtype) || TRIGGER_FOR_UPDATE(t->tgtype)) &&
			strcmp(t->tgname, target->trigname) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trigger \"%s\" of table \"%s\" would fire after the anonymize trigger",
							t->tgname, relname),
					 errdetail("BEFORE ROW triggers fire in name order, and a row must not change after it is anonymized."),
					 errhint("Choose a name that sorts before \"%s\".", target->trigname)));
	}
}

/* Check that every column the trigger names is there and not generated. */
static void
guard_check_columns(Relation rel, GuardTarget *target)
{
	for (int i = 1; i < target->nargs; i += 3)
	{
		AttrNumber	attnum;

		if (strcmp(target->args[i - 1], ANON_CLUSTER_ARG) == 0)
			continue;			/* the signature names no column */
		attnum = get_attnum(RelationGetRelid(rel), target->args[i]);

		if (attnum == InvalidAttrNumber)
			guard_refuse("column \"%s\" of protected table \"%s\" cannot be dropped or renamed",
						 target->args[i], RelationGetRelationName(rel));
		if (TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attgenerated)
			guard_refuse("column \"%s\" of protected table \"%s\" cannot be generated",
						 target->args[i], RelationGetRelationName(rel));
	}
}

/*
 * Whether a shard created in this transaction holds a tuple, even a dead
 * one, that may not have passed through its trigger tgoid (InvalidOid: it
 * has none): one this transaction wrote before the trigger was made.
 */
static bool
guard_rows_before_trigger(Relation rel, Oid tgoid)
{
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		found = false;
	bool		tgfresh = false;
	CommandId	tgcid = FirstCommandId;

	if (OidIsValid(tgoid))
	{
		Relation	trel = table_open(TriggerRelationId, AccessShareLock);
		HeapTuple	tup = get_catalog_object_by_oid(trel, Anum_pg_trigger_oid, tgoid);

		if (HeapTupleIsValid(tup) &&
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)))
		{
			tgfresh = true;
			tgcid = HeapTupleHeaderGetCmin(tup->t_data);
		}
		table_close(trel, AccessShareLock);
	}
	scan = table_beginscan(rel, SnapshotAny, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (!found && table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		shouldfree;
		HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, &shouldfree);
		TransactionId xmin = HeapTupleHeaderGetXmin(tup->t_data);

		if (!TransactionIdIsCurrentTransactionId(xmin) || !OidIsValid(tgoid))
			found = true;
		else if (tgfresh && HeapTupleHeaderGetCmin(tup->t_data) < tgcid)
			found = true;
		if (shouldfree)
			heap_freetuple(tup);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	return found;
}

/*
 * Check one table of a protected tree, then its partitions.  installed is
 * false when the root has no protect trigger at all (a restore in progress).
 */
static void
guard_check_table(Oid relid, GuardTarget *target, bool root, bool installed,
				  bool fresh)
{
	Relation	rel;
	const char *relname;
	Trigger    *ours;
	List	   *children;
	ListCell   *lc;

	/*
	 * A partition this transaction has not locked is as the last check left
	 * it; if another session holds it exclusively, do not wait for it.
	 */
	if (!root && !guard_locked_by_me(relid) &&
		!ConditionalLockRelationOid(relid, AccessShareLock))
		rel = NULL;
	else
		rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
	{
		foreach(lc, find_inheritance_children(relid, NoLock))
			guard_check_table(lfirst_oid(lc), target, false, installed, fresh);
		return;
	}
	relname = RelationGetRelationName(rel);
	if (root && (rel->rd_rel->relispartition || has_superclass(relid)))
		guard_refuse("protected table \"%s\" cannot become a partition or an inheritance child",
					 relname);
	if (OidIsValid(rel->rd_rel->reloftype))
		guard_refuse("protected table \"%s\" cannot be a typed table", relname);
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		PartitionKey key = RelationGetPartitionKey(rel);

		if (anon_condition_changeable((Node *) key->partexprs, false))
			guard_refuse("the partition key of protected table \"%s\" cannot call a function that is not built in",
						 relname);
		/* a bound is converted to the key's type, maybe by a cast of anyone's */
		for (int i = 0; i < key->partnatts; i++)
			if (key->parttypid[i] >= FirstNormalObjectId)
				guard_refuse("the partition key of protected table \"%s\" must be of built-in types",
							 relname);
	}
	/* a partition attached in this transaction, and all its own partitions */
	fresh = fresh || (!root && guard_new_partition(relid));
	if (fresh && rel->rd_rel->relkind == RELKIND_RELATION && guard_holds_old_rows(rel))
		guard_refuse("partition \"%s\" of protected table \"%s\" holds rows that did not pass through its trigger",
					 relname, target->root_name);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		guard_refuse("partition \"%s\" of protected table \"%s\" must be a table",
					 relname, target->root_name);
	ours = guard_find_trigger(rel, target->trigname);
	for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
		if (rel->trigdesc->triggers[i].tgfoid == target->funcoid &&
			&rel->trigdesc->triggers[i] != ours)
			guard_refuse("the anonymize trigger of table \"%s\" cannot be renamed or copied",
						 relname);
	if (target->shard)
	{
		bool		made_here = rel->rd_createSubid != InvalidSubTransactionId;

		/*
		 * Citus creates a shard, then its trigger, in two commands of one
		 * transaction: a shard made in this transaction may lack its trigger
		 * until it commits, if it holds nothing.  Whatever it holds must have
		 * passed through its trigger.
		 */
		if (ours == NULL &&
			(target->at_commit || !made_here || guard_rows_before_trigger(rel, InvalidOid)))
			guard_refuse("shard \"%s\" of protected table \"%s\" has no anonymize trigger",
						 relname, target->root_name);
		if (ours != NULL && made_here && guard_rows_before_trigger(rel, ours->tgoid))
			guard_refuse("shard \"%s\" of protected table \"%s\" holds rows that did not pass through its trigger",
						 relname, target->root_name);
		if (ours == NULL)
		{
			relation_close(rel, AccessShareLock);
			return;
		}
	}
	if (root)
		installed = ours != NULL;
	if (installed && ours == NULL)
		guard_refuse("partition \"%s\" of protected table \"%s\" has no anonymize trigger",
					 relname, target->root_name);
	if (ours)
		guard_check_triggers(rel, target, ours, root);
	if (rel->rd_rules != NULL)
		guard_refuse("protected table \"%s\" cannot have rules", relname);
	guard_check_columns(rel, target);

	children = find_inheritance_children(relid, NoLock);
	if (children != NIL && rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		guard_refuse("protected table \"%s\" cannot have inheritance children", relname);
	relation_close(rel, AccessShareLock);
	foreach(lc, children)
		guard_check_table(lfirst_oid(lc), target, false, installed, fresh);
}

/*
 * A restore creates the protect trigger enabled ORIGIN first and then makes
 * it ALWAYS; so does ENABLE TRIGGER.  Make it ALWAYS right away, on the
 * table and every partition, rather than leave it able to be skipped under
 * session_replication_role = replica (logical replication).
 */
static void
guard_fire_always(Oid relid, const char *name)
{
	List	   *rels = find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
	ListCell   *lc;

	foreach(lc, rels)
	{
		Relation	rel = table_open(lfirst_oid(lc), NoLock);
		Trigger    *ours = guard_find_trigger(rel, name);

		if (ours && ours->tgenabled == TRIGGER_FIRES_ON_ORIGIN)
		{
			EnableDisableTrigger(rel, name, TRIGGER_FIRES_ALWAYS,
								 false, ShareRowExclusiveLock);
			CommandCounterIncrement();
		}
		table_close(rel, NoLock);
	}
}

/* Whether a protected table or a partition has its trigger enabled ORIGIN. */
static bool
guard_fires_on_origin(Oid relid, const char *name)
{
	List	   *rels = find_all_inheritors(relid, NoLock, NULL);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, rels)
	{
		Relation	rel;
		Trigger    *ours;

		/* a table another session holds exclusively was not changed here */
		if (!ConditionalLockRelationOid(lfirst_oid(lc), AccessShareLock))
			continue;
		rel = try_relation_open(lfirst_oid(lc), NoLock);
		if (rel == NULL)
			continue;
		ours = guard_find_trigger(rel, name);
		found = found || (ours && ours->tgenabled == TRIGGER_FIRES_ON_ORIGIN);
		relation_close(rel, NoLock);
	}
	return found;
}

/*
 * Whether this transaction holds a lock on a relation that lets it change
 * the relation's definition (every such command takes at least SHARE UPDATE
 * EXCLUSIVE); a table it only read or wrote is not checked.
 */
static bool
guard_locked_by_me(Oid relid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	for (LOCKMODE mode = ShareUpdateExclusiveLock; mode <= AccessExclusiveLock; mode++)
		if (LockHeldByMe(&tag, mode))
			return true;
	return false;
}

/*
 * Whether this transaction has locked a shard for DDL, or one of its
 * partitions (the shards of a distributed partitioned table's partitions
 * are partitions of its shards).
 */
static bool
guard_tree_locked_by_me(Oid relid)
{
	ListCell   *lc;

	if (guard_locked_by_me(relid))
		return true;
	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return false;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		if (guard_locked_by_me(lfirst_oid(lc)))
			return true;
	return false;
}

/*
 * The partitions of the protected partitioned tables, cached so that the
 * check of a command does not scan pg_inherits for every protected table:
 * partition OID -> root OID.  Any relcache invalidation of a cached table
 * (attaching, creating, detaching or dropping a partition invalidates its
 * parent) or a change of the list of protected tables rebuilds it.
 */
typedef struct GuardMember
{
	Oid			relid;			/* hash key */
	Oid			root;
} GuardMember;

static HTAB *guard_members = NULL;
static List *guard_members_roots = NIL;	/* the protected tables it was built for */
static bool guard_members_valid = false;

/* Relcache callback: drop the cache when one of its tables changed. */
static void
guard_relcache_callback(Datum arg, Oid relid)
{
	if (!guard_members_valid)
		return;
	if (relid == InvalidOid || list_member_oid(guard_members_roots, relid) ||
		hash_search(guard_members, &relid, HASH_FIND, NULL) != NULL)
		guard_members_valid = false;
}

/* The cache of partitions, for this list of protected tables. */
static HTAB *
guard_partitions(List *protected)
{
	static bool registered = false;
	HASHCTL		ctl;
	MemoryContext old;
	ListCell   *lc;

	if (guard_members_valid && equal(protected, guard_members_roots))
		return guard_members;
	if (!registered)
	{
		anon_register_relcache_callback(guard_relcache_callback, (Datum) 0);
		registered = true;
	}
	if (guard_members != NULL)
		hash_destroy(guard_members);
	list_free(guard_members_roots);
	guard_members_valid = false;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(GuardMember);
	ctl.hcxt = CacheMemoryContext;
	guard_members = hash_create("anonymize guard partitions", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	old = MemoryContextSwitchTo(CacheMemoryContext);
	guard_members_roots = list_copy(protected);
	MemoryContextSwitchTo(old);
	foreach(lc, protected)
	{
		Oid			root = lfirst_oid(lc);
		List	   *rels;
		ListCell   *rc;

		if (get_rel_relkind(root) != RELKIND_PARTITIONED_TABLE)
			continue;
		rels = find_all_inheritors(root, NoLock, NULL);
		foreach(rc, rels)
		{
			Oid			relid = lfirst_oid(rc);
			GuardMember *m;

			if (relid == root)
				continue;
			m = hash_search(guard_members, &relid, HASH_ENTER, NULL);
			m->root = root;
		}
	}
	guard_members_valid = true;
	return guard_members;
}

/*
 * The protected tables this transaction may have changed, itself or in one
 * of its partitions.  Every command that changes a table's triggers, rules,
 * columns, children or partitions locks it, so a tree none of whose tables
 * this transaction has locked is as the last check left it; it is not
 * opened at all, so DDL elsewhere never waits for a lock on it.
 */
static List *
guard_touched(List *protected)
{
	HTAB	   *partitions = guard_partitions(protected);
	HASH_SEQ_STATUS seq;
	GuardMember *m;
	List	   *touched = NIL;
	ListCell   *lc;

	foreach(lc, protected)
		if (guard_locked_by_me(lfirst_oid(lc)))
			touched = lappend_oid(touched, lfirst_oid(lc));
	hash_seq_init(&seq, partitions);
	while ((m = hash_seq_search(&seq)) != NULL)
		if (guard_locked_by_me(m->relid))
			touched = list_append_unique_oid(touched, m->root);
	return touched;
}

/*
 * Check a table protect() has just protected, as the guard checks it after
 * a command: protect() is no DDL command, so no event trigger runs for it.
 */
void
anon_guard_check_protected(Oid relid)
{
	GuardTarget target;

	if (!anon_protection_read(relid, &target.reg))
		elog(ERROR, "table %u is not protected", relid);
	target.funcoid = anon_protect_function_oid();
	target.args = anon_protection_args(&target.reg, &target.nargs);
	target.root_name = get_rel_name(relid);
	target.trigname = ANON_TRIGGER_NAME;
	target.shard = false;
	target.at_commit = false;
	guard_check_table(relid, &target, true, true, false);
}

/* Check the state of every protected table that may have changed. */
static void
guard_check_all(List *protected, List *named, Oid funcoid)
{
	List	   *touched = guard_touched(protected);
	ListCell   *lc;

	foreach(lc, named)
		if (list_member_oid(protected, lfirst_oid(lc)))
			touched = list_append_unique_oid(touched, lfirst_oid(lc));

	foreach(lc, touched)
	{
		GuardTarget target;
		char	   *name = get_rel_name(lfirst_oid(lc));

		if (name == NULL || !anon_protection_read(lfirst_oid(lc), &target.reg))
			continue;
		target.funcoid = funcoid;
		target.args = anon_protection_args(&target.reg, &target.nargs);
		target.root_name = name;
		target.trigname = ANON_TRIGGER_NAME;
		target.shard = false;
		target.at_commit = false;
		if (guard_fires_on_origin(lfirst_oid(lc), ANON_TRIGGER_NAME))
			guard_fire_always(lfirst_oid(lc), ANON_TRIGGER_NAME);
		guard_check_table(lfirst_oid(lc), &target, true, true, false);
		anon_protection_grant_owner(lfirst_oid(lc));
	}
}

/* Whether a table, or any partition of it, holds any tuple, even a dead one. */
static bool
guard_holds_rows(Oid relid)
{
	List	   *rels = find_all_inheritors(relid, AccessShareLock, NULL);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, rels)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);

		if (rel->rd_rel->relkind == RELKIND_RELATION)
		{
			TableScanDesc scan = table_beginscan(rel, SnapshotAny, 0, NULL);
			TupleTableSlot *slot = table_slot_create(rel, NULL);

			found = found || table_scan_getnextslot(scan, ForwardScanDirection, slot);
			ExecDropSingleTupleTableSlot(slot);
			table_endscan(scan);
		}
		table_close(rel, AccessShareLock);
	}
	return found;
}

/* Whether a protect trigger (by its arguments) names a column. */
static bool
guard_names_column(Oid relid, const char *column)
{
	AnonProtection reg;
	int			nargs;
	char	  **args;

	if (!anon_protection_read(anon_protection_root(relid), &reg))
		return false;
	args = anon_protection_args(&reg, &nargs);
	for (int i = 1; i < nargs; i += 3)
		if (strcmp(args[i], column) == 0)
			return true;
	return false;
}

/* Check the subcommands of an ALTER TABLE of a protected table. */
static void
guard_check_alter_table(CollectedCommand *cmd)
{
	Oid			relid = cmd->d.alterTable.objectId;
	AnonProtection reg;
	ListCell   *lc;

	if (!anon_protection_read(anon_protection_root(relid), &reg))
		return;
	foreach(lc, cmd->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = lfirst(lc);
		AlterTableCmd *at = (AlterTableCmd *) sub->parsetree;

		if (!IsA(at, AlterTableCmd))
			continue;
		switch (at->subtype)
		{
			case AT_AlterColumnType:
				if (guard_names_column(relid, at->name))
					guard_refuse("cannot change the type of column \"%s\" of protected table \"%s\"",
								 at->name, get_rel_name(relid));
				break;
			case AT_AddColumn:
			case AT_AddColumnRecurse:
				/* a column of that name was dropped in this very command */
				if (IsA(at->def, ColumnDef) &&
					guard_names_column(relid, ((ColumnDef *) at->def)->colname))
					guard_refuse("cannot add column \"%s\" to protected table \"%s\"",
								 ((ColumnDef *) at->def)->colname, get_rel_name(relid));
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				guard_refuse("cannot detach a partition of protected table \"%s\"",
							 get_rel_name(relid));
				break;
			default:
				break;
		}
	}
}

/* Run a query of the guard's through SPI, with its plan saved once. */
static void
guard_query(SPIPlanPtr *plan, const char *sql, bool read_only)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, 0, NULL);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\"", sql);
		*plan = p;
	}
	if (SPI_execute_plan(*plan, NULL, NULL, read_only, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not run \"%s\"", sql);
}

/*
 * The table a command's object belongs to, when the object is a table, a
 * trigger or a rule; InvalidOid otherwise.  Commands on triggers and rules
 * (ALTER TRIGGER ... DEPENDS ON EXTENSION, say) need not lock their table
 * for DDL, so their tables are checked whatever the locks.
 */
static Oid
guard_command_table(ObjectAddress *address)
{
	if (address->classId == RelationRelationId)
		return address->objectId;
	if (address->classId == TriggerRelationId)
		return guard_object_table(TriggerRelationId, Anum_pg_trigger_oid,
								  Anum_pg_trigger_tgrelid, address->objectId);
	if (address->classId == RewriteRelationId)
		return guard_object_table(RewriteRelationId, Anum_pg_rewrite_oid,
								  Anum_pg_rewrite_ev_class, address->objectId);
	return InvalidOid;
}

/*
 * Check the commands that ddl_command_end reports; returns the protected
 * tables whose triggers or rules they named.
 */
static List *
guard_check_commands(void)
{
	static SPIPlanPtr plan = NULL;
	List	   *named = NIL;
	MemoryContext outer = CurrentMemoryContext; /* named outlives SPI */

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guard_query(&plan, "SELECT command FROM pg_catalog.pg_event_trigger_ddl_commands()", true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		CollectedCommand *cmd = (CollectedCommand *) DatumGetPointer(d);

		if (isnull)
			continue;
		if (cmd->type == SCT_AlterTable &&
			cmd->d.alterTable.classId == RelationRelationId)
			guard_check_alter_table(cmd);
		else if (cmd->type == SCT_Simple)
		{
			Oid			relid = guard_command_table(&cmd->d.simple.address);
			Oid			table;

			/* a table renamed or moved into the name of a protected shard */
			if (OidIsValid(relid) && cmd->d.simple.address.classId == RelationRelationId &&
				cmd->parsetree &&
				((IsA(cmd->parsetree, RenameStmt) &&
				  ((RenameStmt *) cmd->parsetree)->renameType == OBJECT_TABLE) ||
				 (IsA(cmd->parsetree, AlterObjectSchemaStmt) &&
				  ((AlterObjectSchemaStmt *) cmd->parsetree)->objectType == OBJECT_TABLE)) &&
				OidIsValid(table = anon_shard_table(relid, NULL)) &&
				anon_protection_read(table, &(AnonProtection) {0}))
				guard_refuse("table \"%s\" cannot take the name of a shard of protected table \"%s\"",
							 get_rel_name(relid), get_rel_name(table));

			if (OidIsValid(relid))
			{
				Oid			root = anon_protection_root(relid);
				MemoryContext old = MemoryContextSwitchTo(outer);

				named = lappend_oid(named, root);
				MemoryContextSwitchTo(old);
			}
		}
	}
	SPI_finish();
	return named;
}

/*
 * sql_drop: a protected table that stays keeps its trigger.  The trigger is
 * gone from the catalogs by now, so a protected table that a dropped trigger
 * belonged to and that is left with no protect trigger gets it back from its
 * registry row (the drop then changed nothing); unless the command dropped
 * a column of the table too (the trigger may need it) or the table is a
 * partition, which is refused.
 */
static void
guard_check_dropped(void)
{
	static SPIPlanPtr plan = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guard_query(&plan, "SELECT c.oid, EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() AS col "
					"  WHERE col.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					"    AND col.objid OPERATOR(pg_catalog.=) c.oid AND col.objsubid OPERATOR(pg_catalog.<>) 0) "
					"FROM pg_catalog.pg_event_trigger_dropped_objects() AS d "
					"JOIN pg_catalog.pg_namespace AS n "
					"  ON n.nspname OPERATOR(pg_catalog.=) d.address_names[1] "
					"JOIN pg_catalog.pg_class AS c "
					"  ON c.relnamespace OPERATOR(pg_catalog.=) n.oid "
					" AND c.relname OPERATOR(pg_catalog.=) d.address_names[2] "
					"WHERE d.object_type OPERATOR(pg_catalog.=) 'trigger'", false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		bool		column_dropped = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 2, &isnull));
		AnonProtection reg;
		Relation	rel;
		bool		kept;

		if (anon_shard_recorded(relid))
		{
			List	   *records = anon_shard_records();
			ListCell   *rc;

			rel = try_relation_open(relid, AccessShareLock);
			if (rel == NULL)
				continue;
			kept = false;
			foreach(rc, records)
			{
				AnonShardEntry *e = lfirst(rc);

				if (strcmp(e->name, RelationGetRelationName(rel)) == 0 &&
					strcmp(e->schema, get_namespace_name(RelationGetNamespace(rel))) == 0)
					kept = guard_find_trigger(rel, e->trigname) != NULL;
			}
			relation_close(rel, AccessShareLock);
			if (!kept)
				guard_refuse("cannot drop the anonymize trigger of shard \"%s\"",
							 get_rel_name(relid));
			continue;
		}
		if (!anon_protection_read(anon_protection_root(relid), &reg))
			continue;
		rel = try_relation_open(relid, AccessShareLock);
		if (rel == NULL)
			continue;
		{
			int64		shardid;
			bool		shard = OidIsValid(anon_shard_table(relid, &shardid));

			kept = guard_find_trigger(rel, shard ? anon_shard_trigger_name(shardid)
									  : ANON_TRIGGER_NAME) != NULL;
		}
		relation_close(rel, AccessShareLock);
		if (kept)
			continue;
		if (OidIsValid(reg.relid) && reg.relid == relid && !column_dropped &&
			anon_citus_method(relid) == '\0')
		{
			/*
			 * The table stays: put its trigger back.  A DROP TRIGGER thus
			 * changes nothing, which is what lets pg_dump --clean output (a
			 * DROP TRIGGER, then a DROP TABLE) be replayed.
			 */
			anon_protect_reinstall(relid);
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("the anonymize trigger of table \"%s\" was put back",
							get_rel_name(relid)),
					 errdetail("Anonymization of a table cannot be disabled once enabled; only dropping the table removes it.")));
		}
		else
			guard_refuse("cannot drop the anonymize trigger of table \"%s\"",
						 get_rel_name(relid));
	}
	SPI_finish();
}

/*
 * Walker of guard_check_bound: whether a raw bound expression may run code
 * of anyone's (a function, an operator, a cast to a type that is not built
 * in), which could write into the partition before its trigger exists.
 */
static bool
guard_bound_runs_code(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall) || IsA(node, A_Expr) || IsA(node, SubLink))
		return true;
	if (IsA(node, TypeCast))
	{
		Oid			typid = LookupTypeNameOid(NULL, ((TypeCast *) node)->typeName, true);

		if (!OidIsValid(typid) || typid >= FirstNormalObjectId)
			return true;
	}
	return raw_expression_tree_walker(node, guard_bound_runs_code, context);
}

/* Refuse a partition bound of a protected table that may run code. */
static void
guard_check_bound(PartitionBoundSpec *bound, Oid relid)
{
	if (bound == NULL)
		return;
	if (guard_bound_runs_code((Node *) bound->listdatums, NULL) ||
		guard_bound_runs_code((Node *) bound->lowerdatums, NULL) ||
		guard_bound_runs_code((Node *) bound->upperdatums, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("partition bounds of protected table \"%s\" must be constants",
						get_rel_name(relid)),
				 errdetail("A function in a bound runs while the partition has no anonymize trigger yet.")));
}

/* ddl_command_start of CREATE TABLE ... PARTITION OF a protected table. */
static void
guard_check_create_start(CreateStmt *stmt)
{
	Oid			relid;
	AnonProtection reg;

	if (stmt->partbound == NULL || list_length(stmt->inhRelations) != 1)
		return;
	relid = RangeVarGetRelid(linitial(stmt->inhRelations), NoLock, true);
	if (OidIsValid(relid) && anon_protection_read(anon_protection_root(relid), &reg))
		guard_check_bound(stmt->partbound, relid);
}

/*
 * ddl_command_start of ALTER TABLE: refuse attaching a table that holds rows
 * to a protected table, and detaching a partition (DETACH CONCURRENTLY
 * commits its first step before ddl_command_end).  The attached table is
 * resolved here, before the command runs any code of the table's (a
 * partition key's function may change search_path), as the command does.
 */
static void
guard_check_alter_start(AlterTableStmt *stmt)
{
	Oid			relid;
	AnonProtection reg;
	ListCell   *lc;
	LOCKMODE	lockmode = NoLock;

	if (stmt->objtype != OBJECT_TABLE || stmt->relation == NULL)
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *at = lfirst(lc);

		if (at->subtype == AT_DetachPartition && !((PartitionCmd *) at->def)->concurrent)
			lockmode = AccessExclusiveLock;
		else if ((at->subtype == AT_DetachPartition ||
				  at->subtype == AT_DetachPartitionFinalize ||
				  at->subtype == AT_AttachPartition) && lockmode == NoLock)
			lockmode = ShareUpdateExclusiveLock;
	}
	if (lockmode == NoLock)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	/* whoever does not own the table is refused by the command itself */
	if (!OidIsValid(relid) || !pg_class_ownercheck(relid, GetUserId()))
		return;

	/*
	 * Lock the table as the command will, so that the name the command
	 * resolves next is the one checked here: no other session can rename it
	 * away, or another table to it, in between (DETACH CONCURRENTLY commits
	 * its first step on its own, so a check afterwards would be too late).
	 */
	if (RangeVarGetRelid(stmt->relation, lockmode, true) != relid)
		guard_refuse("table \"%s\" changed while it was checked",
					 stmt->relation->relname);
	if (!anon_protection_read(anon_protection_root(relid), &reg))
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *at = lfirst(lc);
		PartitionCmd *part = (PartitionCmd *) at->def;
		Oid			partid;

		if (at->subtype == AT_DetachPartition ||
			at->subtype == AT_DetachPartitionFinalize)
			guard_refuse("cannot detach a partition of protected table \"%s\"",
						 get_rel_name(relid));
		if (at->subtype != AT_AttachPartition)
			continue;
		guard_check_bound(part->bound, relid);
		partid = RangeVarGetRelid(part->name, NoLock, true);
		if (!OidIsValid(partid) || !pg_class_ownercheck(partid, GetUserId()))
			continue;
		/* locked as the command locks it, so it stays the table checked */
		if (RangeVarGetRelid(part->name, AccessExclusiveLock, true) != partid)
			guard_refuse("table \"%s\" changed while it was checked",
						 part->name->relname);
		if (guard_holds_rows(partid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot attach table \"%s\" to protected table \"%s\": it holds rows",
							get_rel_name(partid), get_rel_name(relid)),
					 errdetail("Its rows did not pass through the anonymize trigger; even deleted rows stay in its files until VACUUM."),
					 errhint("Insert its rows through the protected table instead.")));
	}
}

/* ddl_command_start: refuse dropping the extension or its schema. */
static void
guard_check_drop_extension(DropStmt *stmt)
{
	ListCell   *lc;
	Oid			nsp = anon_schema_oid();

	if (stmt->removeType != OBJECT_EXTENSION && stmt->removeType != OBJECT_SCHEMA)
		return;
	foreach(lc, stmt->objects)
	{
		const char *name = strVal(lfirst(lc));
		bool		ours = stmt->removeType == OBJECT_EXTENSION ?
			strcmp(name, "anonymize") == 0 :
			get_namespace_oid(name, true) == nsp;

		if (!ours || anon_protection_all() == NIL)
			continue;
		if (stmt->removeType == OBJECT_EXTENSION)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop extension anonymize because protected tables exist"),
					 errdetail("Anonymization of a table cannot be disabled once enabled."),
					 errhint("Drop the protected tables first; anonymize.protected_tables lists them.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop schema %s because protected tables exist", name),
					 errdetail("Anonymization of a table cannot be disabled once enabled."),
					 errhint("Drop the protected tables first; anonymize.protected_tables lists them.")));
	}
}

/*
 * Distributed tables and their shards are checked after each command, and
 * again when the transaction commits or is prepared (Citus prepares its
 * transactions on the workers): Citus creates a shard and then its trigger
 * in two commands, so only then must every shard have its trigger, and only
 * then is a table whose signed trigger arrived registered and its shards
 * recorded.  The tables to check then are noted in this transaction's
 * memory.
 */
static List *guard_cluster_tables = NIL;
static bool guard_cluster_pending = false;	/* a DDL command ran on a Citus node */
static bool guard_cluster_callback = false;

static void guard_xact_callback(XactEvent event, void *arg);

/* Have this transaction's Citus checks run when it commits. */
static void
guard_cluster_at_commit(void)
{
	if (!guard_cluster_callback)
	{
		RegisterXactCallback(guard_xact_callback, NULL);
		guard_cluster_callback = true;
	}
	guard_cluster_pending = true;
}

/*
 * Check a distributed table, its table on this node and its shards on this
 * node: after each command (only if this node has registered it), and when
 * the transaction commits, when a table whose signed trigger arrived is
 * registered first.
 */
static void
guard_check_cluster_table(Oid relid, bool at_commit)
{
	GuardTarget target;
	List	   *ids;
	List	   *shards;
	ListCell   *lc;
	ListCell   *ic;

	if (get_rel_name(relid) == NULL ||
		(at_commit && !anon_cluster_register(relid)) ||
		!anon_protection_read(relid, &target.reg))
		return;
	target.at_commit = at_commit;
	target.funcoid = anon_protect_function_oid();
	target.args = anon_protection_args(&target.reg, &target.nargs);
	target.root_name = get_rel_name(relid);
	target.trigname = ANON_TRIGGER_NAME;
	target.shard = false;
	if (guard_fires_on_origin(relid, ANON_TRIGGER_NAME))
		guard_fire_always(relid, ANON_TRIGGER_NAME);
	guard_check_table(relid, &target, true, true, false);

	shards = anon_shard_relations(relid, &ids);
	forboth(lc, shards, ic, ids)
	{
		Oid			shard = lfirst_oid(lc);

		/* a shard another session holds exclusively is not changed here */
		if (!guard_tree_locked_by_me(shard) &&
			!ConditionalLockRelationOid(shard, AccessShareLock))
			continue;
		target.trigname = anon_shard_trigger_name(*(int64 *) lfirst(ic));
		target.shard = true;
		if (guard_fires_on_origin(shard, target.trigname))
			guard_fire_always(shard, target.trigname);
		guard_check_table(shard, &target, true, true, false);
		/* from now on held to its trigger whatever Citus's metadata says */
		if (at_commit)
			anon_shard_record(shard, target.trigname, relid, target.args, target.nargs);
	}
}

/*
 * Check the recorded shards of this node (anonymize.protected_shards) that
 * this transaction has locked or the command named, by their names and the
 * arguments recorded with them: a table owner can change Citus's metadata
 * on a worker, or drop the worker's own table of the distributed table,
 * but not the record.
 */
static void
guard_check_recorded_shards(List *named, bool at_commit)
{
	ListCell   *lc;

	foreach(lc, anon_shard_records())
	{
		AnonShardEntry *e = lfirst(lc);
		Oid			nsp = get_namespace_oid(e->schema, true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid(e->name, nsp) : InvalidOid;
		GuardTarget target;

		if (!OidIsValid(relid) ||
			!(guard_tree_locked_by_me(relid) || list_member_oid(named, relid)))
			continue;
		memset(&target, 0, sizeof(target));
		target.funcoid = anon_protect_function_oid();
		target.args = e->args;
		target.nargs = e->nargs;
		target.root_name = e->table;
		target.trigname = e->trigname;
		target.shard = true;
		target.at_commit = at_commit;
		if (guard_fires_on_origin(relid, target.trigname))
			guard_fire_always(relid, target.trigname);
		guard_check_table(relid, &target, true, true, false);
	}
}

/* Transaction callback: check the noted distributed tables. */
static void
guard_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (!guard_cluster_pending)
				break;
			guard_cluster_pending = false;
			/* the registry is written, and read, with SPI */
			PushActiveSnapshot(GetTransactionSnapshot());
			while (guard_cluster_tables != NIL)
			{
				Oid			relid = linitial_oid(guard_cluster_tables);

				guard_cluster_tables = list_delete_first(guard_cluster_tables);
				guard_check_cluster_table(relid, true);
			}
			guard_check_recorded_shards(NIL, true);
			PopActiveSnapshot();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			guard_cluster_tables = NIL; /* its memory is gone */
			guard_cluster_pending = false;
			break;
		default:
			break;
	}
}

/* Note a distributed table to check at the end of the transaction. */
static void
guard_note_cluster_table(Oid relid)
{
	MemoryContext old;

	if (anon_citus_method(relid) != 'h' || list_member_oid(guard_cluster_tables, relid))
		return;
	guard_cluster_at_commit();
	old = MemoryContextSwitchTo(TopTransactionContext);
	guard_cluster_tables = lappend_oid(guard_cluster_tables, relid);
	MemoryContextSwitchTo(old);
}

/*
 * Refuse a table that carries the anonymize trigger of a shard but is not
 * that shard (a shard renamed or moved to another schema): the guard finds
 * shards by their names.
 */
static void
guard_check_shard_trigger_moved(Oid relid, Oid funcoid)
{
	Relation	rel;
	size_t		len = strlen(ANON_TRIGGER_NAME);

	if (OidIsValid(anon_shard_table(relid, NULL)))
		return;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return;
	for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *t = &rel->trigdesc->triggers[i];

		if (t->tgfoid == funcoid && strncmp(t->tgname, ANON_TRIGGER_NAME, len) == 0 &&
			t->tgname[len] == '_')
			guard_refuse("table \"%s\" holds the anonymize trigger of a shard of a protected table",
						 RelationGetRelationName(rel));
	}
	relation_close(rel, AccessShareLock);
}

/*
 * After a command: check the distributed tables it may have changed, those
 * whose triggers or tables (or a table named as one of their shards) it
 * named and the protected ones of which this transaction has locked the
 * table or a shard on this node, and note them to be checked again when
 * the transaction commits.
 */
static void
guard_note_cluster(List *protected, List *named, Oid funcoid)
{
	List	   *check = NIL;
	ListCell   *lc;

	foreach(lc, named)
	{
		Oid			relid = lfirst_oid(lc);

		if (anon_citus_method(relid) == 'h')
			check = list_append_unique_oid(check, relid);
		else
			guard_check_shard_trigger_moved(relid, funcoid);
	}
	foreach(lc, protected)
	{
		Oid			relid = lfirst_oid(lc);
		List	   *ids;
		List	   *shards;
		ListCell   *sc;

		if (anon_citus_method(relid) != 'h' || list_member_oid(check, relid))
			continue;
		if (guard_locked_by_me(relid))
		{
			check = lappend_oid(check, relid);
			continue;
		}
		shards = anon_shard_relations(relid, &ids);
		foreach(sc, shards)
			if (guard_tree_locked_by_me(lfirst_oid(sc)))
			{
				check = lappend_oid(check, relid);
				break;
			}
	}
	foreach(lc, check)
	{
		guard_check_cluster_table(lfirst_oid(lc), false);
		guard_note_cluster_table(lfirst_oid(lc));
	}
	guard_check_recorded_shards(named, false);
	guard_cluster_at_commit();
}

/*
 * anon_guard() RETURNS event_trigger
 *
 * The guard, on ddl_command_start, ddl_command_end and sql_drop.
 */
Datum
anon_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	List	   *protected;
	Oid			funcoid;
	bool		citus;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("anonymize.guard() was not called by event trigger manager")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!OidIsValid(anon_schema_oid()))
		PG_RETURN_VOID();		/* the extension is being created or dropped */

	if (strcmp(trigdata->event, "ddl_command_start") == 0)
	{
		if (IsA(trigdata->parsetree, DropStmt))
			guard_check_drop_extension((DropStmt *) trigdata->parsetree);
		else if (IsA(trigdata->parsetree, AlterTableStmt))
			guard_check_alter_start((AlterTableStmt *) trigdata->parsetree);
		else if (IsA(trigdata->parsetree, CreateStmt))
			guard_check_create_start((CreateStmt *) trigdata->parsetree);
		PG_RETURN_VOID();
	}

	protected = anon_protection_all();
	citus = anon_citus_installed();
	if (protected == NIL && !citus)
		PG_RETURN_VOID();
	funcoid = anon_protect_function_oid();
	if (strcmp(trigdata->event, "sql_drop") == 0)
		guard_check_dropped();
	else if (strcmp(trigdata->event, "ddl_command_end") == 0)
	{
		List	   *named = guard_check_commands();

		if (protected != NIL)
			guard_check_all(protected, named, funcoid);
		if (citus)
			guard_note_cluster(protected, named, funcoid);
	}
	PG_RETURN_VOID();
}
