/*-------------------------------------------------------------------------
 *
 * shards.c
 *	  Protection of Citus distributed tables on every node.
 *
 * Citus copies a distributed table's triggers to its table on every node
 * (the "shell", which holds no row) and to every shard, whose trigger is
 * named after the shard (zzz_anonymize_protect_102008 on events_102008).
 * Rows are written into shards, on the workers, so each node must know by
 * itself which tables are protected and with which rules.
 *
 * protect() on the coordinator appends to the trigger's arguments a triple
 * ("cluster", "", signature): a keyed hash, under the key that
 * anonymize.distribute() checked is the same on every node, of the table's
 * schema, name and other arguments.  Nobody without the key can make one, so
 * when the guard of a node sees that trigger on a distributed table its
 * registry does not hold, it registers the table from the arguments (see
 * anon_cluster_register), in the same distributed transaction.  From then
 * on that node's guard holds the table and each of its shards on the node
 * to the state protect() made (guard.c), and a shard's trigger runs only
 * with exactly the registered arguments (protect.c).  A signature covers
 * the name, so a copy of the trigger on another table does nothing.
 *
 * Citus's catalogs are read by catalog scans, found by name in pg_catalog
 * (only a superuser can create tables there); without Citus every function
 * here answers "not a Citus table" after one syscache lookup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "anonymize.h"
#include "pseudonym.h"
#include "registry.h"
#include "shards.h"

#define ANON_PURPOSE_CLUSTER 'c'	/* keyed hash purpose of a signature */
#define ANON_SIGNATURE_BYTES 16

/* Columns of Citus's catalogs read here */
#define Anum_dist_partition_logicalrelid 1
#define Anum_dist_partition_partmethod 2
#define Anum_dist_partition_partkey 3
#define Anum_dist_shard_logicalrelid 1
#define Anum_dist_shard_shardid 2

/* Whether Citus's catalogs exist in this database. */
bool
anon_citus_installed(void)
{
	return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE));
}

/*
 * Read a table's row of Citus's pg_dist_partition: its partition method
 * ('\0' if it has none) and the attribute number of its distribution
 * column (its partkey, a Var as node text; 0 if none).
 */
static char
citus_partition_row(Oid relid, AttrNumber *distcol)
{
	Oid			catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	Oid			index;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	char		method = '\0';

	if (distcol)
		*distcol = 0;
	if (!OidIsValid(catalog))
		return '\0';
	index = get_relname_relid("pg_dist_partition_logical_relid_index", PG_CATALOG_NAMESPACE);
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, Anum_dist_partition_logicalrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_dist_partition_partmethod,
									 RelationGetDescr(rel), &isnull);

		method = isnull || DatumGetChar(d) == '\0' ? 'n' : DatumGetChar(d);
		d = heap_getattr(tup, Anum_dist_partition_partkey, RelationGetDescr(rel), &isnull);
		if (distcol && !isnull)
		{
			Node	   *n = stringToNode(TextDatumGetCString(d));

			if (n && IsA(n, Var))
				*distcol = ((Var *) n)->varattno;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return method;
}

/* The partition method of a Citus table, or '\0'; see shards.h. */
char
anon_citus_method(Oid relid)
{
	return citus_partition_row(relid, NULL);
}

/* The distribution column of a distributed table, or 0; see shards.h. */
AttrNumber
anon_citus_distribution_column(Oid relid)
{
	AttrNumber	distcol;

	(void) citus_partition_row(relid, &distcol);
	return distcol;
}

/* Whether this node is the coordinator; see shards.h. */
bool
anon_citus_coordinator(void)
{
	Oid			catalog = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		coordinator = true;

	if (!OidIsValid(catalog))
		return true;
	rel = table_open(catalog, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		coordinator = isnull || DatumGetInt32(d) == 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return coordinator;
}

/* The name of a shard table of a relation, as Citus makes it. */
static char *
shard_name(Oid relid, int64 shardid)
{
	char	   *relname = get_rel_name(relid);

	return relname ? psprintf("%s_" INT64_FORMAT, relname, shardid) : NULL;
}

/* The distributed table of a shard table; see shards.h. */
Oid
anon_shard_table(Oid relid, int64 *shardid)
{
	Oid			catalog = get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE);
	Oid			index;
	char	   *relname;
	char	   *sep;
	char	   *end;
	int64		id;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			table = InvalidOid;

	if (!OidIsValid(catalog))
		return InvalidOid;
	index = get_relname_relid("pg_dist_shard_shardid_index", PG_CATALOG_NAMESPACE);
	relname = get_rel_name(relid);
	if (relname == NULL || (sep = strrchr(relname, '_')) == NULL ||
		sep[1] < '1' || sep[1] > '9')
		return InvalidOid;
	errno = 0;
	id = strtoi64(sep + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return InvalidOid;

	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, Anum_dist_shard_shardid, BTEqualStrategyNumber,
				F_INT8EQ, Int64GetDatum(id));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_dist_shard_logicalrelid,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			table = DatumGetObjectId(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* the same schema, and exactly the name Citus gives that shard */
	if (OidIsValid(table))
	{
		char	   *name = shard_name(table, id);

		if (table == relid || name == NULL || strcmp(name, relname) != 0 ||
			get_rel_namespace(table) != get_rel_namespace(relid))
			table = InvalidOid;
	}
	if (OidIsValid(table) && shardid)
		*shardid = id;
	return table;
}

/* The shard tables of a distributed table on this node; see shards.h. */
List *
anon_shard_relations(Oid relid, List **shardids)
{
	Oid			catalog = get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE);
	Oid			index;
	Oid			nsp = get_rel_namespace(relid);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	List	   *result = NIL;

	*shardids = NIL;
	if (!OidIsValid(catalog))
		return NIL;
	index = get_relname_relid("pg_dist_shard_logical_relid_index", PG_CATALOG_NAMESPACE);
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, Anum_dist_shard_logicalrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_dist_shard_shardid,
									 RelationGetDescr(rel), &isnull);
		char	   *name;
		Oid			shard;

		if (isnull)
			continue;
		name = shard_name(relid, DatumGetInt64(d));
		shard = name ? get_relname_relid(name, nsp) : InvalidOid;
		if (OidIsValid(shard))
		{
			int64	   *id = palloc(sizeof(int64));

			*id = DatumGetInt64(d);
			result = lappend_oid(result, shard);
			*shardids = lappend(*shardids, id);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* The name of the anonymize trigger on a shard; see shards.h. */
char *
anon_shard_trigger_name(int64 shardid)
{
	return psprintf("%s_" INT64_FORMAT, ANON_TRIGGER_NAME, shardid);
}

/* The signature of a distributed table's trigger arguments; see shards.h. */
char *
anon_cluster_signature(Oid relid, char **args, int nargs)
{
	StringInfoData msg;
	uint8		digest[ANON_DIGEST_LEN];
	char	   *hex = palloc(2 * ANON_SIGNATURE_BYTES + 1);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);

	if (nspname == NULL || relname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	/* every part ends with a NUL, so no two lists give the same bytes */
	initStringInfo(&msg);
	appendBinaryStringInfo(&msg, nspname, strlen(nspname) + 1);
	appendBinaryStringInfo(&msg, relname, strlen(relname) + 1);
	for (int i = 0; i < nargs; i++)
		appendBinaryStringInfo(&msg, args[i], strlen(args[i]) + 1);
	anon_keyed_hash(ANON_PURPOSE_CLUSTER, "anonymize.protect", msg.data, msg.len, digest);
	hex_encode((const char *) digest, ANON_SIGNATURE_BYTES, hex);
	hex[2 * ANON_SIGNATURE_BYTES] = '\0';
	explicit_bzero(digest, sizeof(digest));
	return hex;
}

/* The anonymize trigger of a table (by name and function), or NULL. */
static Trigger *
cluster_trigger(Relation rel)
{
	Oid			funcoid = anon_protect_function_oid();

	for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *t = &rel->trigdesc->triggers[i];

		if (strcmp(t->tgname, ANON_TRIGGER_NAME) == 0 && t->tgfoid == funcoid)
			return t;
	}
	return NULL;
}

/* Refuse a distributed table's trigger whose arguments are not protect()'s. */
#define cluster_refuse(relname, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED), \
			 errmsg("the anonymize trigger of distributed table \"%s\" was not installed by anonymize.protect()", \
					relname), \
			 errdetail(__VA_ARGS__), \
			 errhint("Call anonymize.distribute() on the coordinator: it checks that every node has its key, then call anonymize.protect() there.")))

/* Register a distributed table from its signed trigger; see shards.h. */
bool
anon_cluster_register(Oid relid)
{
	Relation	rel;
	Trigger    *t;
	AnonProtection reg;
	ArrayBuildState *rules;
	ArrayBuildState *domains = NULL;
	char	  **args;
	int			nargs;
	const char *relname;
	Oid			types[5] = {OIDOID, TEXTARRAYOID, NAMEOID, TEXTARRAYOID, NAMEOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', 'n', 'n', ' '};
	Oid			save_userid;
	int			save_sec;

	if (anon_protection_read(relid, &reg))
		return true;
	if (anon_citus_method(relid) != 'h')
		return false;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	relname = pstrdup(RelationGetRelationName(rel));
	t = cluster_trigger(rel);
	if (t == NULL)
	{
		relation_close(rel, AccessShareLock);
		return false;
	}

	/* rebuild the registry row from the arguments */
	memset(&reg, 0, sizeof(reg));
	reg.relid = relid;
	rules = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	reg.rules = palloc(sizeof(char *) * (t->tgnargs / 3 + 1));
	if (t->tgnargs < 3 || t->tgnargs % 3 != 0 || t->tgqual != NULL ||
		strcmp(t->tgargs[t->tgnargs - 3], ANON_CLUSTER_ARG) != 0)
		cluster_refuse(relname, "Its arguments are not those of a protected distributed table.");
	for (int i = 0; i < t->tgnargs - 3; i += 3)
	{
		const char *kind = t->tgargs[i];

		if (strcmp(kind, "rule") == 0)
		{
			char	   *rule = psprintf("%s=%s", t->tgargs[i + 1], t->tgargs[i + 2]);

			rules = accumArrayResult(rules, CStringGetTextDatum(rule), false,
									 TEXTOID, CurrentMemoryContext);
			reg.rules[reg.nrules++] = rule;
		}
		else if (strcmp(kind, "email") == 0 && reg.email_column == NULL &&
				 t->tgargs[i + 1][0] != '\0')
		{
			char	   *copy = pstrdup(t->tgargs[i + 2]);
			char	   *save;

			reg.email_column = t->tgargs[i + 1];
			if (copy[0] != '\0')
			{
				domains = initArrayResult(TEXTOID, CurrentMemoryContext, false);
				reg.domains = palloc(sizeof(char *) * (strlen(copy) / 2 + 1));
				for (char *tok = strtok_r(copy, ",", &save); tok;
					 tok = strtok_r(NULL, ",", &save))
				{
					reg.domains[reg.ndomains++] = tok;
					domains = accumArrayResult(domains, CStringGetTextDatum(tok), false,
											   TEXTOID, CurrentMemoryContext);
				}
			}
		}
		else
			cluster_refuse(relname, "Its arguments are not those of a protected distributed table.");
	}
	if (reg.nrules == 0)
		cluster_refuse(relname, "Its arguments name no rule.");
	args = anon_protection_args(&reg, &nargs);
	if (nargs != t->tgnargs)
		cluster_refuse(relname, "Its arguments are not those of a protected distributed table.");
	for (int i = 0; i < nargs; i++)
		if (strcmp(args[i], t->tgargs[i]) != 0)
			cluster_refuse(relname, "Its signature was not made with the key of this node, or for this table with these rules.");
	relation_close(rel, AccessShareLock);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = makeArrayResult(rules, CurrentMemoryContext);
	if (reg.email_column)
	{
		values[2] = CStringGetDatum(reg.email_column);
		nulls[2] = ' ';
	}
	if (domains)
	{
		values[3] = makeArrayResult(domains, CurrentMemoryContext);
		nulls[3] = ' ';
	}
	values[4] = CStringGetDatum(GetUserNameFromId(GetUserId(), false));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anon_become_owner("protection", &save_userid, &save_sec);
	PG_TRY();
	{
		if (SPI_execute_with_args("INSERT INTO anonymize.protection "
								  "(relid, rules, email_column, email_domains, protected_by) "
								  "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5)",
								  5, types, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the protection");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
	CommandCounterIncrement();
	return true;
}

/* Record a shard and its trigger's arguments; see shards.h. */
void
anon_shard_record(Oid shard, const char *trigname, Oid table, char **args, int nargs)
{
	Oid			relid = get_relname_relid("protected_shards", anon_schema_oid());
	Oid			types[5] = {NAMEOID, NAMEOID, NAMEOID, TEXTOID, TEXTARRAYOID};
	Datum		values[5];
	Datum	   *elems = palloc(sizeof(Datum) * Max(nargs, 1));
	Oid			save_userid;
	int			save_sec;

	if (!OidIsValid(relid))
		return;					/* before 0.7.0 */
	for (int i = 0; i < nargs; i++)
		elems[i] = CStringGetTextDatum(args[i]);
	values[0] = CStringGetDatum(get_namespace_name(get_rel_namespace(shard)));
	values[1] = CStringGetDatum(get_rel_name(shard));
	values[2] = CStringGetDatum(trigname);
	values[3] = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
															   get_rel_name(table)));
	values[4] = PointerGetDatum(construct_array(elems, nargs, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anon_become_owner("protected_shards", &save_userid, &save_sec);
	PG_TRY();
	{
		if (SPI_execute_with_args("INSERT INTO anonymize.protected_shards "
								  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
								  5, types, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record a protected shard");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
}

/* Every recorded shard; see shards.h.  Read by a heap scan, as the guard. */
List *
anon_shard_records(void)
{
	Oid			relid = get_relname_relid("protected_shards", anon_schema_oid());
	Relation	rel;
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *result = NIL;

	if (!OidIsValid(relid))
		return NIL;
	rel = table_open(relid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		AnonShardEntry *e = palloc0(sizeof(AnonShardEntry));
		bool		isnull;
		Datum	   *elems;
		int			n;

		e->schema = pstrdup(NameStr(*DatumGetName(heap_getattr(tup, 1, desc, &isnull))));
		e->name = pstrdup(NameStr(*DatumGetName(heap_getattr(tup, 2, desc, &isnull))));
		e->trigname = pstrdup(NameStr(*DatumGetName(heap_getattr(tup, 3, desc, &isnull))));
		e->table = TextDatumGetCString(heap_getattr(tup, 4, desc, &isnull));
		deconstruct_array(DatumGetArrayTypeP(heap_getattr(tup, 5, desc, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
		e->nargs = n;
		e->args = palloc(sizeof(char *) * Max(n, 1));
		for (int i = 0; i < n; i++)
			e->args[i] = TextDatumGetCString(elems[i]);
		result = lappend(result, e);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return result;
}

/* Whether a relation has a recorded shard's name; see shards.h. */
bool
anon_shard_recorded(Oid relid)
{
	char	   *name = get_rel_name(relid);
	char	   *schema = get_namespace_name(get_rel_namespace(relid));
	ListCell   *lc;

	if (name == NULL || schema == NULL)
		return false;
	foreach(lc, anon_shard_records())
	{
		AnonShardEntry *e = lfirst(lc);

		if (strcmp(e->name, name) == 0 && strcmp(e->schema, schema) == 0)
			return true;
	}
	return false;
}
