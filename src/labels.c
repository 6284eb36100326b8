/*-------------------------------------------------------------------------
 *
 * labels.c
 *	  Labels of anonymized tables and grants of anonymized access.
 *
 * The labels live in three configuration tables of the extension
 * (label_tables, label_columns, anonymized_access), dumped by pg_dump.  The
 * SQL functions here check that the caller owns the table, then write them
 * as their owner.  Readers (the query hook and anonymized_query) scan them
 * directly, with no privilege check: a grantee may not read them.
 *
 * The query hook asks, for every query, whether the current user can be a
 * grantee at all; the answer comes from a list of every (table, grantee)
 * pair kept by each session and read again after a relcache invalidation of
 * anonymized_access, which the functions here send.  A stale list can only
 * make the hook pass a query to PostgreSQL's own permission checks, or make
 * anonymized_query read the tables again: it never grants anything.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "anonymize.h"
#include "keys.h"
#include "labels.h"

PG_FUNCTION_INFO_V1(anon_label);
PG_FUNCTION_INFO_V1(anon_label_subject);
PG_FUNCTION_INFO_V1(anon_set_threshold);
PG_FUNCTION_INFO_V1(anon_grant_anonymized);
PG_FUNCTION_INFO_V1(anon_revoke_anonymized);

/* One row of anonymized_access, as the session's list keeps it. */
typedef struct AnonGrant
{
	Oid			relid;
	Oid			grantee;
} AnonGrant;

static bool grants_valid = false;
static Oid	grants_table = InvalidOid;	/* anonymized_access, if installed */
static int	ngrants = 0;
static AnonGrant *grants = NULL;
static int	ngrantees = 0;		/* distinct grantees of the list */
static Oid *grantees = NULL;
static bool callback_registered = false;

/* The answer of anon_user_may_be_grantee for one user, until a change. */
static Oid	answered_user = InvalidOid;
static bool answer = false;

/* Relcache callback: forget the list when anonymized_access changes. */
static void
grants_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == grants_table || !OidIsValid(grants_table))
	{
		grants_valid = false;
		answered_user = InvalidOid;
	}
}

/* Syscache callback: roles or memberships changed. */
static void
grants_roles_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	answered_user = InvalidOid;
}

/* OID of a table of the extension's schema, or InvalidOid. */
static Oid
labels_table_oid(const char *name)
{
	Oid			nsp = anon_schema_oid();

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/* Read every row of anonymized_access into the session's list. */
static void
grants_load(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	int			n = 0;
	int			size = 16;
	AnonGrant  *list;

	if (!callback_registered)
	{
		anon_register_relcache_callback(grants_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, grants_roles_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, grants_roles_changed, (Datum) 0);
		callback_registered = true;
	}
	grants_table = labels_table_oid("anonymized_access");
	if (grants)
		pfree(grants);
	if (grantees)
		pfree(grantees);
	grants = NULL;
	grantees = NULL;
	ngrants = ngrantees = 0;
	answered_user = InvalidOid;
	grants_valid = true;
	if (!OidIsValid(grants_table))
		return;

	list = MemoryContextAlloc(TopMemoryContext, sizeof(AnonGrant) * size);
	rel = table_open(grants_table, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		relid = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
		Datum		grantee = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		if (n == size)
		{
			size *= 2;
			list = repalloc(list, sizeof(AnonGrant) * size);
		}
		list[n].relid = DatumGetObjectId(relid);
		list[n].grantee = DatumGetObjectId(grantee);
		n++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	grants = list;
	ngrants = n;
	grantees = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		seen = false;

		for (int j = 0; j < ngrantees && !seen; j++)
			seen = grantees[j] == list[i].grantee;
		if (!seen)
			grantees[ngrantees++] = list[i].grantee;
	}
}

/* See labels.h. */
bool
anon_user_may_be_grantee(void)
{
	Oid			user = GetUserId();

	if (!grants_valid)
		grants_load();
	if (ngrants == 0)
		return false;
	if (user == answered_user)
		return answer;
	answer = false;
	if (!superuser_arg(user))
		for (int i = 0; i < ngrantees && !answer; i++)
			answer = has_privs_of_role(user, grantees[i]);
	answered_user = user;
	return answer;
}

/* Whether some role the current user has the privileges of has a grant. */
static bool
grants_find(Oid relid)
{
	Oid			user = GetUserId();

	for (int i = 0; i < ngrants; i++)
		if (grants[i].relid == relid && has_privs_of_role(user, grants[i].grantee))
			return true;
	return false;
}

/* See labels.h. */
bool
anon_user_is_grantee(Oid relid)
{
	if (!grants_valid)
		grants_load();
	return grants_find(relid) &&
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK;
}

/* See labels.h. */
bool
anon_user_has_grant(Oid relid)
{
	grants_load();
	return grants_find(relid);
}

/* See labels.h. */
AnonPolicy *
anon_policy_read(Oid relid)
{
	Oid			tables = labels_table_oid("label_tables");
	Oid			columns = labels_table_oid("label_columns");
	AnonPolicy *policy = NULL;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	int			size = 8;

	if (!OidIsValid(tables) || !OidIsValid(columns))
		return NULL;

	rel = table_open(tables, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	if ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		subject = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		Datum		threshold;

		policy = palloc0(sizeof(AnonPolicy));
		policy->relid = relid;
		if (!isnull)
		{
			policy->subject = pstrdup(NameStr(*DatumGetName(subject)));
			policy->subject_attnum = get_attnum(relid, policy->subject);
		}
		threshold = heap_getattr(tup, 3, RelationGetDescr(rel), &isnull);
		policy->threshold = Max(DatumGetInt32(threshold), anon_min_threshold);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (policy == NULL)
		return NULL;

	policy->colnames = palloc(sizeof(char *) * size);
	policy->sens = palloc(sizeof(AnonSensitivity) * size);
	rel = table_open(columns, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		col = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		Datum		sens = heap_getattr(tup, 3, RelationGetDescr(rel), &isnull);

		if (policy->ncols == size)
		{
			size *= 2;
			policy->colnames = repalloc(policy->colnames, sizeof(char *) * size);
			policy->sens = repalloc(policy->sens, sizeof(AnonSensitivity) * size);
		}
		policy->colnames[policy->ncols] = pstrdup(NameStr(*DatumGetName(col)));
		policy->sens[policy->ncols] = anon_sensitivity_from_oid(DatumGetObjectId(sens));
		policy->ncols++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return policy;
}

/* See labels.h. */
bool
anon_policy_column(AnonPolicy *policy, const char *colname,
				   AnonSensitivity *sens)
{
	bool		labelled = false;

	*sens = ANON_VERY_SENSITIVE;
	for (int i = 0; i < policy->ncols; i++)
		if (strcmp(policy->colnames[i], colname) == 0)
		{
			*sens = policy->sens[i];
			labelled = true;
		}
	if (policy->subject && strcmp(policy->subject, colname) == 0)
		*sens = ANON_VERY_SENSITIVE;
	return labelled;
}

/* Refuse a NULL argument of a label function (22004). */
static void
labels_not_null(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/*
 * Check the table of a label function: an existing permanent table or
 * partitioned table, not a partition, owned by the caller (role membership
 * counts).  Returns its name for messages.
 */
static const char *
labels_check_table(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;
	const char *name;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	form = (Form_pg_class) GETSTRUCT(tup);
	name = pstrdup(NameStr(form->relname));
	if (form->relkind != RELKIND_RELATION &&
		form->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", name),
				 errdetail("Only tables and partitioned tables can be anonymized.")));
	if (form->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partition", name),
				 errhint("Label its partitioned table, which covers every partition.")));
	if (form->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("temporary table \"%s\" cannot be anonymized", name)));
	ReleaseSysCache(tup);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, name);
	if (has_superclass(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" inherits from another table", name),
				 errdetail("Its rows are read through its parent with the parent's privileges."),
				 errhint("Label its parent, or make it a table of its own.")));
	return name;
}

/* The number of a live column of a table; error 42703 if there is none. */
static AttrNumber
labels_check_column(Oid relid, const char *relname, const char *col)
{
	AttrNumber	attnum = get_attnum(relid, col);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", col, relname)));
	return attnum;
}

/*
 * Run one statement on the label tables as their owner, with arguments
 * $1 (the table) and the given ones; returns the number of rows it touched.
 */
static uint64
labels_write(const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, int expected)
{
	Oid			save_userid;
	int			save_sec;
	uint64		processed = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anon_become_owner("label_tables", &save_userid, &save_sec);
	PG_TRY();
	{
		if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0) != expected)
			elog(ERROR, "could not write the labels");
		processed = SPI_processed;
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
	return processed;
}

/*
 * Make the table anonymized if it is not yet: its row in label_tables, with
 * the caller's anonymize.threshold (never below anonymize.min_threshold).
 */
static void
labels_ensure_table(Oid relid)
{
	Oid			types[3] = {OIDOID, INT4OID, NAMEOID};
	Datum		values[3];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int32GetDatum(Max(anon_threshold, anon_min_threshold));
	values[2] = CStringGetDatum(GetUserNameFromId(GetUserId(), false));
	labels_write("INSERT INTO anonymize.label_tables (rel, threshold, labelled_by) "
				 "VALUES ($1::pg_catalog.regclass, $2, $3) ON CONFLICT (rel) DO NOTHING",
				 3, types, values, NULL, SPI_OK_INSERT);
}

/* Tell every session that the labels or grants of a table changed. */
static void
labels_changed(Oid relid)
{
	Oid			access = labels_table_oid("anonymized_access");

	CacheInvalidateRelcacheByRelid(relid);
	if (OidIsValid(access))
		CacheInvalidateRelcacheByRelid(access);
	grants_valid = false;
}

/*
 * anon_label(rel regclass, col name, sensitivity) RETURNS void
 *
 * Label a column of a table, which becomes anonymized if it was not.
 */
Datum
anon_label(PG_FUNCTION_ARGS)
{
	Oid			relid;
	const char *relname;
	const char *col;
	Oid			types[3] = {OIDOID, NAMEOID, InvalidOid};
	Datum		values[3];

	types[2] = get_fn_expr_argtype(fcinfo->flinfo, 2);
	labels_not_null(fcinfo, 0, "table");
	labels_not_null(fcinfo, 1, "column");
	labels_not_null(fcinfo, 2, "sensitivity");
	relid = PG_GETARG_OID(0);
	col = NameStr(*PG_GETARG_NAME(1));
	relname = labels_check_table(relid);
	labels_check_column(relid, relname, col);

	labels_ensure_table(relid);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	labels_write("INSERT INTO anonymize.label_columns AS c (rel, col, sensitivity) "
				 "VALUES ($1::pg_catalog.regclass, $2, $3) "
				 "ON CONFLICT (rel, col) DO UPDATE SET sensitivity = excluded.sensitivity",
				 3, types, values, NULL, SPI_OK_INSERT);
	labels_changed(relid);
	PG_RETURN_VOID();
}

/*
 * anon_label_subject(rel regclass, col name) RETURNS void
 *
 * Name the column of a table that identifies the person of each row: the
 * table's thresholds then count distinct people.
 */
Datum
anon_label_subject(PG_FUNCTION_ARGS)
{
	Oid			relid;
	const char *relname;
	const char *col;
	AttrNumber	attnum;
	TypeCacheEntry *tc;
	Oid			types[2] = {OIDOID, NAMEOID};
	Datum		values[2];

	labels_not_null(fcinfo, 0, "table");
	labels_not_null(fcinfo, 1, "column");
	relid = PG_GETARG_OID(0);
	col = NameStr(*PG_GETARG_NAME(1));
	relname = labels_check_table(relid);
	attnum = labels_check_column(relid, relname, col);
	tc = lookup_type_cache(get_atttype(relid, attnum),
						   TYPECACHE_HASH_PROC | TYPECACHE_EQ_OPR);
	if (!OidIsValid(tc->hash_proc) || !OidIsValid(tc->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("people cannot be counted by column \"%s\" of type %s",
						col, format_type_be(tc->type_id)),
				 errdetail("Its type has no default hash operator class.")));

	labels_ensure_table(relid);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PG_GETARG_DATUM(1);
	labels_write("UPDATE anonymize.label_tables SET subject = $2 "
				 "WHERE rel = $1::pg_catalog.regclass",
				 2, types, values, NULL, SPI_OK_UPDATE);
	labels_changed(relid);
	PG_RETURN_VOID();
}

/*
 * anon_set_threshold(rel regclass, threshold int4) RETURNS void
 *
 * Set the threshold k of a table's anonymized queries.
 */
Datum
anon_set_threshold(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int32		threshold;
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2];

	labels_not_null(fcinfo, 0, "table");
	labels_not_null(fcinfo, 1, "threshold");
	relid = PG_GETARG_OID(0);
	threshold = PG_GETARG_INT32(1);
	labels_check_table(relid);
	anon_check_threshold(threshold);

	labels_ensure_table(relid);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int32GetDatum(threshold);
	labels_write("UPDATE anonymize.label_tables SET threshold = $2 "
				 "WHERE rel = $1::pg_catalog.regclass",
				 2, types, values, NULL, SPI_OK_UPDATE);
	labels_changed(relid);
	PG_RETURN_VOID();
}

/*
 * anon_grant_anonymized(rel regclass, grantee regrole) RETURNS void
 *
 * Give a role anonymized access to a table.  A role that can read the table
 * itself keeps reading it directly: warn about it.
 */
Datum
anon_grant_anonymized(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			grantee;
	const char *relname;
	Oid			types[3] = {OIDOID, OIDOID, NAMEOID};
	Datum		values[3];

	labels_not_null(fcinfo, 0, "table");
	labels_not_null(fcinfo, 1, "grantee");
	relid = PG_GETARG_OID(0);
	grantee = PG_GETARG_OID(1);
	relname = labels_check_table(relid);
	if (!OidIsValid(grantee) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(grantee)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", grantee)));

	labels_ensure_table(relid);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = CStringGetDatum(GetUserNameFromId(GetUserId(), false));
	labels_write("INSERT INTO anonymize.anonymized_access (rel, grantee, granted_by) "
				 "VALUES ($1::pg_catalog.regclass, $2::pg_catalog.regrole, $3) "
				 "ON CONFLICT (rel, grantee) DO NOTHING",
				 3, types, values, NULL, SPI_OK_INSERT);
	labels_changed(relid);

	if (pg_class_aclcheck(relid, grantee, ACL_SELECT) == ACLCHECK_OK)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("role \"%s\" can read table \"%s\" directly",
						GetUserNameFromId(grantee, false), relname),
				 errdetail("A role with SELECT on a table reads its rows; anonymized access applies only to roles without it."),
				 errhint("REVOKE SELECT ON %s FROM %s.",
						 quote_identifier(relname),
						 quote_identifier(GetUserNameFromId(grantee, false)))));
	PG_RETURN_VOID();
}

/*
 * anon_revoke_anonymized(rel regclass, grantee regrole) RETURNS void
 *
 * Take a role's anonymized access to a table back.
 */
Datum
anon_revoke_anonymized(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2];

	labels_not_null(fcinfo, 0, "table");
	labels_not_null(fcinfo, 1, "grantee");
	relid = PG_GETARG_OID(0);
	labels_check_table(relid);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PG_GETARG_DATUM(1);
	labels_write("DELETE FROM anonymize.anonymized_access "
				 "WHERE rel = $1::pg_catalog.regclass AND grantee = $2::pg_catalog.regrole",
				 2, types, values, NULL, SPI_OK_DELETE);
	labels_changed(relid);
	PG_RETURN_VOID();
}
