/*-------------------------------------------------------------------------
 *
 * anonymize.c
 *	  Module entry point of the anonymize extension, and the catalog helpers
 *	  its features share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "anonymize.h"
#include "pseudonym.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Load-time set-up: one call per feature that needs it. */
void
_PG_init(void)
{
	AnonGucInit();
	AnonPseudonymInit();
	AnonProtectInit();
}

/* OID of a table of the extension's schema; error if it is missing. */
Oid
anon_table_oid(const char *name)
{
	Oid			nsp = get_namespace_oid("anonymize", false);
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table anonymize.%s does not exist", name),
				 errhint("Reinstall the extension anonymize.")));
	return relid;
}

/* OID of anonymize.protect_trigger(), or InvalidOid if it is not there. */
Oid
anon_protect_function_oid(void)
{
	List	   *name = list_make2(makeString("anonymize"),
								  makeString("protect_trigger"));

	return LookupFuncName(name, 0, NULL, true);
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
