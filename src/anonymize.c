/*-------------------------------------------------------------------------
 *
 * anonymize.c
 *	  Module entry point of the anonymize extension, and the catalog helpers
 *	  its features share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "anonymize.h"
#include "pseudonym.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

#define ANON_RELCACHE_CALLBACKS 8

static struct
{
	void		(*func) (Datum arg, Oid relid);
	Datum		arg;
}			anon_relcache_callbacks[ANON_RELCACHE_CALLBACKS];
static int	anon_nrelcache_callbacks = 0;

/* The one relcache callback of the extension: it calls each of its own. */
static void
anon_relcache_dispatch(Datum arg, Oid relid)
{
	for (int i = 0; i < anon_nrelcache_callbacks; i++)
		anon_relcache_callbacks[i].func(anon_relcache_callbacks[i].arg, relid);
}

/* Register a relcache invalidation callback; see anonymize.h. */
void
anon_register_relcache_callback(void (*func) (Datum arg, Oid relid), Datum arg)
{
	if (anon_nrelcache_callbacks == 0)
		CacheRegisterRelcacheCallback(anon_relcache_dispatch, (Datum) 0);
	if (anon_nrelcache_callbacks >= ANON_RELCACHE_CALLBACKS)
		elog(FATAL, "out of anonymize relcache callback slots");
	anon_relcache_callbacks[anon_nrelcache_callbacks].func = func;
	anon_relcache_callbacks[anon_nrelcache_callbacks].arg = arg;
	anon_nrelcache_callbacks++;
}

/* Load-time set-up: one call per feature that needs it. */
void
_PG_init(void)
{
	AnonGucInit();
	AnonPseudonymInit();
	AnonProtectInit();
	AnonAccessInit();
}

/*
 * OID of the extension's schema, found through pg_extension rather than by
 * name, with no privilege check: the guard runs as whoever issues DDL, who
 * may have no USAGE on it.  InvalidOid if the extension is not installed.
 */
Oid
anon_schema_oid(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	ScanKeyInit(&skey, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("anonymize"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* OID of a table of the extension's schema; error if it is missing. */
Oid
anon_table_oid(const char *name)
{
	Oid			nsp = anon_schema_oid();
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table anonymize.%s does not exist", name),
				 errhint("Reinstall the extension anonymize.")));
	return relid;
}

/*
 * OID of anonymize.protect_trigger(), or InvalidOid if the extension is not
 * installed; no privilege check (see anon_schema_oid).
 */
Oid
anon_protect_function_oid(void)
{
	Oid			nsp = anon_schema_oid();
	oidvector  *noargs = buildoidvector(NULL, 0);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						   CStringGetDatum("protect_trigger"),
						   PointerGetDatum(noargs), ObjectIdGetDatum(nsp));
}

/*
 * Act as the owner of one of the extension's tables, to read or write it on
 * behalf of a role that has no privilege on it.  The caller restores the
 * saved user with SetUserIdAndSecContext, also on error.
 */
void
anon_become_owner(const char *table, Oid *save_userid, int *save_sec)
{
	Oid			relid = anon_table_oid(table);
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}
