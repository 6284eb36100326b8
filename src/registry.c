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
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/syscache.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "rewrite/rewriteManip.h"
#include "utils/guc.h"
#include "utils/ruleutils.h"
#include "access/transam.h"
#include "access/xact.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_clause.h"
#include "parser/parse_collate.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"

#include "anonymize.h"
#include "keys.h"
#include "registry.h"
#include "rules.h"
#include "shards.h"

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
	char	  **args = palloc(sizeof(char *) * (3 * p->nrules + 9));
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
	/* a distributed table's: signed, so that every node can register it */
	if (anon_citus_method(p->relid) == 'h')
	{
		char	   *signature = anon_cluster_signature(p->relid, args, n);

		args[n++] = ANON_CLUSTER_ARG;
		args[n++] = "";
		args[n++] = signature;
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
	Oid			root = relid;
	Oid			table;

	if (get_rel_relispartition(relid))
	{
		ancestors = get_partition_ancestors(relid);
		if (ancestors != NIL)
			root = llast_oid(ancestors);
	}
	/* a shard of a distributed table (or a partition of one): that table */
	table = anon_shard_table(root, NULL);
	return OidIsValid(table) ? table : root;
}

/*
 * Error context of a WHEN condition: report error positions in the
 * condition's own text (arg), as for the body of a function.
 */
static void
registry_condition_errcontext(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

/* Parse a WHEN condition as one raw expression; see registry.h. */
Node *
anon_condition_parse(const char *cond)
{
	ErrorContextCallback errcallback;
	List	   *parsed;
	SelectStmt *select;

	errcallback.callback = registry_condition_errcontext;
	errcallback.arg = (void *) cond;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	parsed = raw_parser(cond, RAW_PARSE_PLPGSQL_EXPR);
	error_context_stack = errcallback.previous;

	if (list_length(parsed) == 1)
	{
		select = (SelectStmt *) ((RawStmt *) linitial(parsed))->stmt;
		if (IsA(select, SelectStmt) && list_length(select->targetList) == 1 &&
			select->distinctClause == NIL && select->fromClause == NIL &&
			select->whereClause == NULL && select->groupClause == NIL &&
			select->havingClause == NULL && select->windowClause == NIL &&
			select->sortClause == NIL && select->limitCount == NULL &&
			select->limitOffset == NULL && select->lockingClause == NIL &&
			select->intoClause == NULL &&
			((ResTarget *) linitial(select->targetList))->name == NULL)
			return ((ResTarget *) linitial(select->targetList))->val;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("when_condition must be a single boolean expression")));
	return NULL;
}

/*
 * Settings under which a condition's canonical text is written and read, so
 * that the text means the same whoever handles it: only pg_catalog on the
 * search path (no object of anyone's can be picked up, and every other is
 * named with its schema), and fixed forms of strings, arrays, dates, times,
 * intervals, floats, bytea and xml.  Returns the nesting level to restore
 * with AtEOXact_GUC.
 */
static int
registry_fixed_settings(void)
{
	int			nestlevel = anon_literal_settings();

	/* pg_temp last: else it would be searched first for types */
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("timezone", "UTC", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Cook a WHEN condition against a table as CREATE TRIGGER does: OLD is range
 * table entry 1 and NEW entry 2; see registry.h.  A canonical text is read
 * under the settings it was written under.
 */
Node *
anon_condition_cook(Relation rel, const char *cond, List **rtable, bool canonical)
{
	ErrorContextCallback errcallback;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *raw;
	Node	   *qual;
	int			nestlevel = canonical ? registry_fixed_settings() : -1;

	pstate = make_parsestate(NULL);
	raw = anon_condition_parse(cond);

	pstate->p_sourcetext = cond;
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   makeAlias("old", NIL), false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   makeAlias("new", NIL), false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);

	errcallback.callback = registry_condition_errcontext;
	errcallback.arg = (void *) cond;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	qual = transformWhereClause(pstate, raw, EXPR_KIND_TRIGGER_WHEN, "WHEN");
	assign_expr_collations(pstate, qual);
	error_context_stack = errcallback.previous;

	if (rtable)
		*rtable = pstate->p_rtable;
	free_parsestate(pstate);
	if (canonical)
		AtEOXact_GUC(true, nestlevel);
	return qual;
}

/*
 * check_functions_in_node callback: a function that could change; context
 * points to whether a built-in function must also be immutable.
 */
static bool
registry_changeable_function(Oid funcid, void *context)
{
	return funcid >= FirstNormalObjectId ||
		(*(bool *) context && func_volatile(funcid) != PROVOLATILE_IMMUTABLE);
}

/* Whether a type is one of the OID aliases that name catalog objects. */
static bool
registry_names_object(Oid typid)
{
	switch (typid)
	{
		case OIDOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGTYPEOID:
		case REGROLEOID:
		case REGNAMESPACEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
			return true;
		default:
			return false;
	}
}

/* Walker of anon_condition_check: whether anything in it could change. */
static bool
registry_changeable(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, registry_changeable_function, context))
		return true;
	if (IsA(node, RowCompareExpr))
	{
		ListCell   *lc;

		foreach(lc, ((RowCompareExpr *) node)->opnos)
			if (registry_changeable_function(get_opcode(lfirst_oid(lc)), context))
				return true;
	}
	if (IsA(node, CoerceToDomain) || IsA(node, SubLink) ||
		(*(bool *) context && IsA(node, SQLValueFunction)) ||
		IsA(node, NextValueExpr) || IsA(node, Param))
		return true;
	/*
	 * A literal of a type that is not built in ran (and may run) its code,
	 * and means something else once its type or label is renamed; a literal
	 * naming a catalog object (regconfig, regclass, ...) means what its
	 * owner later makes of the object; so does a collation that is not built
	 * in.
	 */
	if (IsA(node, Const) &&
		(((Const *) node)->consttype >= FirstNormalObjectId ||
		 registry_names_object(((Const *) node)->consttype)))
		return true;
	/* any expression of a type that names a catalog object (casts too) */
	if (!IsA(node, List) && registry_names_object(exprType(node)))
		return true;
	if (IsA(node, CollateExpr) && ((CollateExpr *) node)->collOid >= FirstNormalObjectId)
		return true;
	if (IsA(node, Const) && ((Const *) node)->constcollid >= FirstNormalObjectId)
		return true;
	return expression_tree_walker(node, registry_changeable, context);
}

/* Whether a cooked condition could change meaning later; see registry.h. */
bool
anon_condition_changeable(Node *qual, bool immutable)
{
	return (immutable && contain_mutable_functions(qual)) ||
		registry_changeable(qual, &immutable);
}

/* Refuse a cooked condition that could change later; see registry.h. */
void
anon_condition_check(Node *qual)
{
	if (anon_condition_changeable(qual, true))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("when_condition may use only built-in immutable functions, operators and types"),
				 errdetail("A condition that reads settings or other tables, or that calls something that can be replaced later, could switch the protection off.")));
}

/*
 * Let a protected table's owner use the trigger function, which PUBLIC may
 * not (see registry.h):
 * creating or attaching a partition copies the trigger as whoever runs the
 * command (the owner), and that needs EXECUTE.
 */
void
anon_protection_grant_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;
	Oid			funcoid = anon_protect_function_oid();
	GrantStmt  *grant;
	ObjectWithArgs *func;
	AccessPriv *priv;
	RoleSpec   *grantee;
	Oid			save_userid;
	int			save_sec;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	if (pg_proc_aclcheck(funcoid, owner, ACL_EXECUTE) == ACLCHECK_OK)
		return;
	func = makeNode(ObjectWithArgs);
	func->objname = list_make2(makeString(get_namespace_name(anon_schema_oid())),
							   makeString("protect_trigger"));
	func->objargs = NIL;
	priv = makeNode(AccessPriv);
	priv->priv_name = "execute";
	grantee = makeNode(RoleSpec);
	grantee->roletype = ROLESPEC_CSTRING;
	grantee->rolename = GetUserNameFromId(owner, false);
	grantee->location = -1;
	grant = makeNode(GrantStmt);
	grant->is_grant = true;
	grant->targtype = ACL_TARGET_OBJECT;
	grant->objtype = OBJECT_FUNCTION;
	grant->objects = list_make1(func);
	grant->privileges = list_make1(priv);
	grant->grantees = list_make1(grantee);
	grant->behavior = DROP_RESTRICT;

	anon_become_owner("protection", &save_userid, &save_sec);
	PG_TRY();
	{
		ExecuteGrantStmt(grant);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	CommandCounterIncrement();
}

/*
 * The canonical text of a cooked WHEN condition of a table (or of one of its
 * partitions): deparsed with search_path = pg_catalog, so that it names
 * every object it uses outside pg_catalog with its schema, and with NEW as
 * its only range table entry.  It depends on column names, not numbers, so
 * it survives a dump and restore, and producing it runs no code of anyone's
 * once anon_condition_check has accepted the condition (only built-in
 * output functions).
 */
char *
anon_condition_deparse(Oid relid, Node *qual)
{
	Node	   *q = copyObject(qual);
	int			nestlevel = registry_fixed_settings();
	char	   *text;

	ChangeVarNodes(q, PRS2_NEW_VARNO, 1, 0);
	text = deparse_expression(q, deparse_context_for("new", relid), true, false);
	AtEOXact_GUC(true, nestlevel);
	return text;
}
