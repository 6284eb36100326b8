/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The registry of protected tables (anonymize.protection), read without
 *	  privilege checks, and the trigger arguments each row implies.
 *
 * The trigger's arguments come in triples:
 *	  ("rule", column, action)			an anonymization rule
 *	  ("email", column, "a.com,b.org")	only rows of these e-mail domains
 *	  ("tenant", column, "")			only rows whose tenant is anonymized
 * in that order, exactly as protect() has always written them.  The
 * registry is read by heap and index scans, not SQL, so a role with no
 * privilege on the schema anonymize (the guard runs as whoever issues DDL)
 * can still be checked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "anonymize.h"
#include "registry.h"
#include "rules.h"

/* Columns of anonymize.protection */
#define Anum_protection_relid 1
#define Anum_protection_rules 2
#define Anum_protection_email_column 3
#define Anum_protection_email_domains 4
#define Anum_protection_tenant_column 5
#define Anum_protection_when_condition 6

/* A text[] column as a palloc'd array of C strings; NULL if the value is. */
static char **
registry_text_array(HeapTuple tup, TupleDesc desc, int attnum, int *n)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	return out;
}

/* A name or text column as a C string, or NULL. */
static char *
registry_string(HeapTuple tup, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);

	if (isnull)
		return NULL;
	if (TupleDescAttr(desc, attnum - 1)->atttypid == NAMEOID)
		return pstrdup(NameStr(*DatumGetName(d)));
	return TextDatumGetCString(d);
}

/* Read the registry row of a table; see registry.h. */
bool
anon_protection_read(Oid relid, AnonProtection *p)
{
	Relation	rel = table_open(anon_table_oid("protection"), AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	memset(p, 0, sizeof(AnonProtection));
	ScanKeyInit(&skey, Anum_protection_relid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  snapshot, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);

		found = true;
		p->relid = relid;
		p->rules = registry_text_array(tup, desc, Anum_protection_rules, &p->nrules);
		p->email_column = registry_string(tup, desc, Anum_protection_email_column);
		p->domains = registry_text_array(tup, desc, Anum_protection_email_domains,
										 &p->ndomains);
		p->tenant_column = registry_string(tup, desc, Anum_protection_tenant_column);
		p->when_condition = registry_string(tup, desc, Anum_protection_when_condition);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}

/* OIDs of every protected table; see registry.h. */
List *
anon_protection_all(void)
{
	Relation	rel = table_open(anon_table_oid("protection"), AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	HeapTuple	tup;
	List	   *result = NIL;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_protection_relid,
									 RelationGetDescr(rel), &isnull);

		result = lappend_oid(result, DatumGetObjectId(d));
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return result;
}

/* The trigger arguments a registry row implies; see registry.h. */
char	  **
anon_protection_args(const AnonProtection *p, int *nargs)
{
	char	  **args = palloc(sizeof(char *) * (3 * p->nrules + 6));
	int			n = 0;

	for (int i = 0; i < p->nrules; i++)
	{
		AnonRule	rule;

		anon_rule_parse_text(p->rules[i], &rule);
		args[n++] = "rule";
		args[n++] = rule.column;
		args[n++] = rule.action_text;
	}
	if (p->email_column)
	{
		StringInfoData list;

		initStringInfo(&list);
		for (int i = 0; i < p->ndomains; i++)
			appendStringInfo(&list, "%s%s", i > 0 ? "," : "", p->domains[i]);
		args[n++] = "email";
		args[n++] = p->email_column;
		args[n++] = list.data;
	}
	if (p->tenant_column)
	{
		args[n++] = "tenant";
		args[n++] = p->tenant_column;
		args[n++] = "";
	}
	*nargs = n;
	return args;
}

/* Whether a trigger's arguments are exactly those of a row; see registry.h. */
bool
anon_protection_args_match(const AnonProtection *p, int tgnargs, char **tgargs)
{
	int			nargs;
	char	  **args = anon_protection_args(p, &nargs);

	if (nargs != tgnargs)
		return false;
	for (int i = 0; i < nargs; i++)
		if (strcmp(args[i], tgargs[i]) != 0)
			return false;
	return true;
}

/* The partition root of a relation, or the relation itself; see registry.h. */
Oid
anon_protection_root(Oid relid)
{
	List	   *ancestors;

	if (!get_rel_relispartition(relid))
		return relid;
	ancestors = get_partition_ancestors(relid);
	return ancestors == NIL ? relid : llast_oid(ancestors);
}
