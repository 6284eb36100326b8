/*-------------------------------------------------------------------------
 *
 * protect.c
 *	  protect(): installing the anonymizing trigger, and the trigger itself.
 *
 * The trigger takes everything it needs from its own arguments (see
 * registry.c), so a partition's copy of the trigger works alone; its row
 * condition is the trigger's own WHEN clause.  It refuses to run unless its
 * arguments are exactly those of its table's (or partition root's) row in
 * anonymize.protection, so a trigger that protect() did not install cannot
 * be used to compute pseudonyms.  Parsed arguments are cached per trigger
 * OID; a relcache invalidation of the table only marks the entry invalid,
 * and it is rebuilt (and the old one freed) at the trigger's next call, never
 * while a call is using it.
 *
 * protect() checks that the caller owns the table, grants the table's owner
 * EXECUTE on anonymize.protect_trigger() (which PUBLIC lacks; partitions
 * need it) as the extension's owner, then builds the trigger as a
 * CreateTrigStmt node, never as SQL text, and creates it as the caller: no
 * code of the caller's ever runs with the extension owner's rights.  Its
 * condition is cooked once, checked (built-in, immutable) and kept in the
 * registry as canonical text.  Before returning it checks the table as the
 * guard checks tables after a command.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/heap.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/defrem.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/scansup.h"
#include "utils/relcache.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/plannodes.h"
#include "tcop/utility.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/guc.h"

#include "anonymize.h"
#include "guard.h"
#include "protect.h"
#include "registry.h"
#include "rules.h"
#include "shards.h"

#define BACKFILL_NOTICE_EVERY 10000

/* The parsed arguments of one protect trigger. */
typedef struct ProtectConfig
{
	Oid			tgoid;			/* hash key */
	Oid			relid;
	bool		valid;			/* false once the table was invalidated */
	MemoryContext cxt;			/* NULL while nothing is built */
	int			nrules;
	AnonRule   *rules;
	AttrNumber	email_attnum;	/* 0: no e-mail scope */
	int			ndomains;
	char	  **domains;		/* lower-cased */
	AttrNumber	tenant_attnum;	/* 0: no tenant scope */
	FmgrInfo	tenant_out;
} ProtectConfig;

static HTAB *protect_configs = NULL;
static ProtectConfig *protect_last = NULL;	/* of the last call, in it */

/* Backfill in progress: rules on these columns apply even if unchanged. */
static Oid	backfill_relid = InvalidOid;
static List *backfill_columns = NIL;
static int64 backfill_rows = 0;

PG_FUNCTION_INFO_V1(anon_protect_trigger);
PG_FUNCTION_INFO_V1(anon_protect);
PG_FUNCTION_INFO_V1(anon_normalize_domain);

/*
 * Relcache callback: a table changed, its triggers' columns may have too.
 * Only mark the entries invalid: a trigger call may be using one right now
 * (the callback runs whenever invalidation messages are accepted, e.g. when
 * the trigger opens a table), so it is rebuilt at the next call.
 */
static void
protect_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	ProtectConfig *cfg;

	if (protect_configs == NULL)
		return;
	hash_seq_init(&seq, protect_configs);
	while ((cfg = hash_seq_search(&seq)) != NULL)
		if (relid == InvalidOid || cfg->relid == relid)
			cfg->valid = false;
}

/* Register the cache's invalidation callback. */
void
AnonProtectInit(void)
{
	anon_register_relcache_callback(protect_relcache_callback, (Datum) 0);
}

/* Find a column by name, for the scope options; error if it is missing. */
static AttrNumber
protect_column(TupleDesc tupdesc, const char *column, const char *relname)
{
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(tupdesc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), column) == 0)
			return a->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of relation \"%s\" does not exist",
					column, relname)));
	return InvalidAttrNumber;
}

/* Split a comma-separated domain list into a palloc'd array. */
static char **
protect_split_domains(const char *list, int *n)
{
	char	   *copy = pstrdup(list);
	char	  **domains = palloc(sizeof(char *) * (strlen(list) / 2 + 2));
	char	   *tok;
	char	   *save;

	*n = 0;
	if (*list == '\0')
		return NULL;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		domains[(*n)++] = tok;
	return domains;
}

/* Parse the arguments of a trigger against its relation. */
static void
protect_parse_args(ProtectConfig *cfg, Trigger *trigger, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *relname = RelationGetRelationName(rel);

	if (trigger->tgnargs == 0 || trigger->tgnargs % 3 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" has malformed arguments", trigger->tgname),
				 errhint("Install the trigger with anonymize.protect().")));

	cfg->rules = palloc0(sizeof(AnonRule) * trigger->tgnargs / 3);
	for (int i = 0; i < trigger->tgnargs; i += 3)
	{
		const char *kind = trigger->tgargs[i];
		const char *column = trigger->tgargs[i + 1];
		const char *value = trigger->tgargs[i + 2];

		if (strcmp(kind, "rule") == 0)
		{
			AnonRule   *rule = &cfg->rules[cfg->nrules++];

			anon_rule_parse(column, value, rule);
			anon_rule_bind(rule, tupdesc, relname);
		}
		else if (strcmp(kind, "email") == 0)
		{
			cfg->email_attnum = protect_column(tupdesc, column, relname);
			cfg->domains = protect_split_domains(value, &cfg->ndomains);
		}
		else if (strcmp(kind, ANON_CLUSTER_ARG) == 0 && i + 3 == trigger->tgnargs)
			continue;			/* the signature: checked by protect_verify */
		else if (strcmp(kind, "tenant") == 0)
		{
			Oid			outfunc;
			bool		isvarlena;

			cfg->tenant_attnum = protect_column(tupdesc, column, relname);
			getTypeOutputInfo(TupleDescAttr(tupdesc, cfg->tenant_attnum - 1)->atttypid,
							  &outfunc, &isvarlena);
			fmgr_info_cxt(outfunc, &cfg->tenant_out, cfg->cxt);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("trigger \"%s\" has malformed arguments", trigger->tgname),
					 errhint("Install the trigger with anonymize.protect().")));
	}
}

/*
 * Refuse to run a trigger that protect() did not install: its table (or
 * partition root) must be registered, with exactly these arguments and a
 * WHEN clause exactly when the registry has one.  Temporary tables are never
 * protected.
 */
static void
protect_verify(Trigger *trigger, Relation rel)
{
	AnonProtection reg;

	if (rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP &&
		anon_protection_read(anon_protection_root(RelationGetRelid(rel)), &reg) &&
		anon_protection_args_match(&reg, trigger->tgnargs, trigger->tgargs) &&
		(reg.when_condition == NULL) == (trigger->tgqual == NULL))
	{
		Node	   *qual;

		if (trigger->tgqual == NULL)
			return;
		qual = stringToNode(trigger->tgqual);
		if (anon_condition_changeable(qual, false))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the condition of the anonymize trigger of table \"%s\" could be switched off",
							RelationGetRelationName(rel)),
					 errdetail("It calls a function that is not built in, which its owner can replace."),
					 errhint("A superuser must drop the trigger's condition, or the table.")));
		if (strcmp(anon_condition_deparse(RelationGetRelid(rel), qual),
				   reg.when_condition) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger \"%s\" of table \"%s\" was not installed by anonymize.protect()",
					trigger->tgname, RelationGetRelationName(rel)),
			 errdetail("anonymize.protect_trigger() runs only with the rules its table is registered with in anonymize.protected_tables."),
			 anon_citus_method(anon_protection_root(RelationGetRelid(rel))) == 'h' ?
			 errhint("On a Citus node, the trigger of a distributed table also needs this node to have the coordinator's key: anonymize.distribute() on the coordinator checks it.") : 0));
}

/* The parsed configuration of a firing trigger, from the cache if possible. */
static ProtectConfig *
protect_config(Trigger *trigger, Relation rel)
{
	ProtectConfig *cfg;
	bool		found;
	MemoryContext cxt;

	if (protect_configs == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ProtectConfig);
		protect_configs = hash_create("anonymize protect triggers", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS);
	}
	/* the trigger of the last call, most often (entries never move) */
	if (protect_last != NULL && protect_last->tgoid == trigger->tgoid &&
		protect_last->valid && protect_last->cxt != NULL)
		return protect_last;
	cfg = hash_search(protect_configs, &trigger->tgoid, HASH_ENTER, &found);
	if (found && cfg->valid && cfg->cxt != NULL)
	{
		protect_last = cfg;
		return cfg;
	}

	/* no call uses an invalid entry any more: free it before rebuilding */
	if (found && cfg->cxt != NULL)
		MemoryContextDelete(cfg->cxt);
	cfg->cxt = NULL;
	cfg->valid = false;
	cfg->relid = RelationGetRelid(rel);

	protect_verify(trigger, rel);
	cxt = AllocSetContextCreate(CacheMemoryContext, "anonymize protect trigger",
								ALLOCSET_SMALL_SIZES);
	cfg->nrules = 0;
	cfg->email_attnum = 0;
	cfg->tenant_attnum = 0;
	cfg->ndomains = 0;
	cfg->domains = NULL;
	cfg->cxt = cxt;
	PG_TRY();
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		protect_parse_args(cfg, trigger, rel);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		cfg->cxt = NULL;
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	cfg->valid = true;
	protect_last = cfg;
	return cfg;
}

/*
 * Look a tenant's policy up.  Returns false if it has none; else sets
 * *anonymized and *domains (NULL when the policy has no list).
 */
static bool
protect_tenant_policy(const char *tenant, bool *anonymized, ArrayType **domains)
{
	Relation	rel = table_open(anon_table_oid("tenant_policies"), AccessShareLock);
	ScanKeyData skey;
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(tenant));
	skey.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  snapshot, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d;

		found = true;
		*anonymized = DatumGetBool(heap_getattr(tup, 2, RelationGetDescr(rel), &isnull));
		d = heap_getattr(tup, 3, RelationGetDescr(rel), &isnull);
		*domains = isnull ? NULL : DatumGetArrayTypePCopy(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * An e-mail domain, lower-cased, if it is well-formed: two or more labels of
 * ASCII letters, digits and hyphens, joined by single dots, with no trailing
 * dot; NULL otherwise.  protect(), set_tenant_policy() and the trigger all
 * compare domains in this one form.
 */
static char *
anon_domain_normalize(const char *domain, int len)
{
	char	   *out = palloc(len + 1);
	int			labels = 1;
	bool		label_empty = true;

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) domain[i];

		if (c == '.')
		{
			if (label_empty)
				return NULL;
			labels++;
			label_empty = true;
		}
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9') || c == '-')
			label_empty = false;
		else
			return NULL;
		out[i] = pg_ascii_tolower(c);
	}
	if (label_empty || labels < 2)
		return NULL;
	out[len] = '\0';
	return out;
}

/* Whether a byte may be part of the local part of an address we accept. */
static bool
protect_local_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && strchr("<>()[]\\,;:\"@", c) == NULL;
}

/*
 * The lower-cased domain of a strictly well-formed e-mail address (white
 * space around it ignored), or NULL for anything else: a malformed address
 * is never taken out of the scope of the rules.
 */
static char *
protect_email_domain(const char *email)
{
	const char *start = email;
	const char *end = email + strlen(email);
	const char *at;

	while (start < end && scanner_isspace(*start))
		start++;
	while (end > start && scanner_isspace(end[-1]))
		end--;
	at = memchr(start, '@', end - start);
	if (at == NULL || at == start)
		return NULL;
	for (const char *p = start; p < at; p++)
		if (!protect_local_char((unsigned char) *p))
			return NULL;
	return anon_domain_normalize(at + 1, end - at - 1);
}

/*
 * Whether the rules apply to a row: its tenant is anonymized (or has no
 * policy, or every tenant is), and its e-mail domain is listed when a list
 * applies.  A missing tenant or e-mail address fails closed: anonymized.
 */
static bool
protect_in_scope(ProtectConfig *cfg, HeapTuple tuple, TupleDesc tupdesc)
{
	char	  **domains = cfg->domains;
	int			ndomains = cfg->ndomains;
	ArrayType  *tenant_domains = NULL;
	bool		isnull;
	Datum		value;
	char	   *domain;

	if (cfg->tenant_attnum != 0 && anon_tenant_default != ANON_TENANT_ALL)
	{
		bool		anonymized = true;

		value = heap_getattr(tuple, cfg->tenant_attnum, tupdesc, &isnull);
		if (!isnull &&
			protect_tenant_policy(OutputFunctionCall(&cfg->tenant_out, value),
								  &anonymized, &tenant_domains))
		{
			if (!anonymized)
				return false;
			if (tenant_domains != NULL)
			{
				Datum	   *elems;
				int			n;

				deconstruct_array(tenant_domains, TEXTOID, -1, false,
								  TYPALIGN_INT, &elems, NULL, &n);
				domains = palloc(sizeof(char *) * Max(n, 1));
				for (int i = 0; i < n; i++)
					domains[i] = TextDatumGetCString(elems[i]);
				ndomains = n;
			}
		}
	}

	if (cfg->email_attnum == 0 || (domains == NULL && tenant_domains == NULL))
		return true;
	value = heap_getattr(tuple, cfg->email_attnum, tupdesc, &isnull);
	if (isnull)
		return true;
	domain = protect_email_domain(TextDatumGetCString(value));
	if (domain == NULL)
		return true;
	for (int i = 0; i < ndomains; i++)
		if (strcmp(domain, domains[i]) == 0)
			return true;
	return false;
}

/* Whether a backfill is rewriting this relation (or its partitioned root). */
static bool
protect_backfilling(Relation rel)
{
	if (!OidIsValid(backfill_relid))
		return false;
	if (RelationGetRelid(rel) == backfill_relid)
		return true;
	return rel->rd_rel->relispartition &&
		list_member_oid(get_partition_ancestors(RelationGetRelid(rel)),
						backfill_relid);
}

/* Refuse to run other than as a BEFORE INSERT OR UPDATE FOR EACH ROW trigger. */
static TriggerData *
protect_check_call(FunctionCallInfo fcinfo)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("anonymize.protect_trigger() was not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("anonymize.protect_trigger() must be fired BEFORE and FOR EACH ROW")));
	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) &&
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("anonymize.protect_trigger() must be fired for INSERT or UPDATE")));
	return trigdata;
}

/*
 * anon_protect_trigger() RETURNS trigger
 *
 * Apply the trigger's rules to the new row before it is stored.  On UPDATE
 * only columns whose value changed are rewritten, so a pseudonym is never
 * pseudonymized again, unless the row enters the tenant or e-mail scope of
 * the rules.  (The WHEN condition is evaluated by PostgreSQL on the new row
 * only, so a row entering it on UPDATE is not known as such.)
 */
Datum
anon_protect_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protect_check_call(fcinfo);
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	bool		is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	HeapTuple	newtuple = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	HeapTuple	oldtuple = is_update ? trigdata->tg_trigtuple : NULL;
	ProtectConfig *cfg = protect_config(trigdata->tg_trigger, rel);
	bool		backfilling = is_update && protect_backfilling(rel);
	bool		all_columns;
	Datum	   *values;
	bool	   *nulls;
	bool		changed = false;
	HeapTuple	result;

	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot anonymize a row in a read-only transaction")));
	if (!protect_in_scope(cfg, newtuple, tupdesc))
		return PointerGetDatum(newtuple);
	/* a row entering the scope (tenant, e-mail) is anonymized whole */
	all_columns = !is_update ||
		((cfg->tenant_attnum || cfg->email_attnum) &&
		 !protect_in_scope(cfg, oldtuple, tupdesc));

	/* the row is deformed once, and formed once if a rule changed it */
	values = palloc(sizeof(Datum) * tupdesc->natts);
	nulls = palloc(sizeof(bool) * tupdesc->natts);
	heap_deform_tuple(newtuple, tupdesc, values, nulls);
	for (int i = 0; i < cfg->nrules; i++)
	{
		AnonRule   *rule = &cfg->rules[i];
		int			col = rule->attnum - 1;

		if (nulls[col])
			continue;
		if (!all_columns &&
			!(backfilling && list_member(backfill_columns, makeString(rule->column))))
		{
			bool		oldnull;
			Datum		old = heap_getattr(oldtuple, rule->attnum, tupdesc, &oldnull);

			if (!oldnull && datumIsEqual(values[col], old, rule->typbyval, rule->typlen))
				continue;
		}
		values[col] = anon_rule_apply(rule, values[col], &nulls[col]);
		changed = true;
	}

	if (backfilling && ++backfill_rows % BACKFILL_NOTICE_EVERY == 0)
		ereport(NOTICE,
				(errmsg("backfill of \"%s\": " INT64_FORMAT " rows anonymized",
						RelationGetRelationName(rel), backfill_rows)));
	if (!changed)
		return PointerGetDatum(newtuple);

	/* as heap_modify_tuple_by_cols does: the new row keeps its identity */
	result = heap_form_tuple(tupdesc, values, nulls);
	result->t_data->t_ctid = newtuple->t_data->t_ctid;
	result->t_self = newtuple->t_self;
	result->t_tableOid = newtuple->t_tableOid;
	return PointerGetDatum(result);
}

/* Options of one protect() call, validated. */
typedef struct ProtectOptions
{
	int			nrules;
	AnonRule   *rules;
	char	   *email_column;
	int			ndomains;
	char	  **domains;		/* normalized */
	char	   *tenant_column;
	char	   *when_condition;
} ProtectOptions;

/*
 * A domain given to protect() or set_tenant_policy(), trimmed and normalized;
 * an error if it is not well-formed.
 */
static char *
protect_domain_arg(const char *arg)
{
	const char *start = arg;
	const char *end = arg + strlen(arg);
	char	   *domain;

	while (start < end && scanner_isspace(*start))
		start++;
	while (end > start && scanner_isspace(end[-1]))
		end--;
	domain = anon_domain_normalize(start, end - start);
	if (domain == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid e-mail domain \"%s\"", arg),
				 errdetail("A domain is two or more labels of ASCII letters, digits and hyphens joined by dots, as in \"acme.com\", without \"@\".")));
	return domain;
}

/* Normalize and check the e-mail domains given to protect(). */
static char **
protect_check_domains(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **domains;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	domains = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("e-mail domains must not be null")));
		domains[i] = protect_domain_arg(TextDatumGetCString(elems[i]));
	}
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the list of e-mail domains is empty")));
	return domains;
}

/* Refuse a name with control characters (it ends up in trigger arguments). */
static void
protect_check_printable(const char *what, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain control characters", what)));
}

/* Check that a column a rule or a scope names can be relied on. */
static void
protect_check_column(TupleDesc tupdesc, AttrNumber attnum, const char *relname)
{
	Form_pg_attribute a = TupleDescAttr(tupdesc, attnum - 1);

	if (a->attgenerated)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" of table \"%s\" is a generated column",
						NameStr(a->attname), relname),
				 errdetail("A generated column is computed after the anonymize trigger has run.")));
}

/*
 * Check a tenant column: its values are matched as text, so its type must
 * print the same whatever the session's settings (no dates or times).
 */
static void
protect_check_tenant_type(Oid typid, const char *column)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case UUIDOID:
			return;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("tenant column \"%s\" must be of a text, integer or uuid type",
							column),
					 errdetail("Tenants are matched by their text, which must not depend on settings such as DateStyle.")));
	}
}

/* Read and check protect()'s rules. */
static void
protect_read_rules(FunctionCallInfo fcinfo, Relation rel, ProtectOptions *opt)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *relname = RelationGetRelationName(rel);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rules must not be null")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	opt->rules = palloc0(sizeof(AnonRule) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		AnonRule   *rule = &opt->rules[opt->nrules];

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("rules must not be null")));
		protect_check_printable("a rule", TextDatumGetCString(elems[i]));
		anon_rule_parse_text(TextDatumGetCString(elems[i]), rule);
		anon_rule_bind(rule, tupdesc, relname);
		protect_check_column(tupdesc, rule->attnum, relname);
		for (int j = 0; j < opt->nrules; j++)
			if (opt->rules[j].attnum == rule->attnum)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" has more than one rule", rule->column)));
		opt->nrules++;
	}
	if (opt->nrules == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at least one rule is required")));
}

/* Read protect()'s arguments and check them against the table. */
static void
protect_read_options(FunctionCallInfo fcinfo, Relation rel, ProtectOptions *opt)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *relname = RelationGetRelationName(rel);

	memset(opt, 0, sizeof(ProtectOptions));
	protect_read_rules(fcinfo, rel, opt);
	if (!PG_ARGISNULL(2))
	{
		AttrNumber	attnum;
		Oid			typid;

		opt->email_column = NameStr(*PG_GETARG_NAME(2));
		attnum = protect_column(tupdesc, opt->email_column, relname);
		protect_check_column(tupdesc, attnum, relname);
		typid = TupleDescAttr(tupdesc, attnum - 1)->atttypid;
		if (typid != TEXTOID && typid != VARCHAROID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("e-mail column \"%s\" must be of type text or varchar",
							opt->email_column)));
	}
	if (!PG_ARGISNULL(3))
		opt->domains = protect_check_domains(PG_GETARG_ARRAYTYPE_P(3), &opt->ndomains);
	if (!PG_ARGISNULL(4))
	{
		AttrNumber	attnum;

		opt->tenant_column = NameStr(*PG_GETARG_NAME(4));
		attnum = protect_column(tupdesc, opt->tenant_column, relname);
		protect_check_column(tupdesc, attnum, relname);
		protect_check_tenant_type(TupleDescAttr(tupdesc, attnum - 1)->atttypid,
								  opt->tenant_column);
	}
	if ((opt->domains != NULL) != (opt->email_column != NULL) &&
		!(opt->email_column != NULL && opt->tenant_column != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("email_column and email_domains must be given together"),
				 errdetail("Without email_domains, an e-mail column is used only with the domains of tenant policies, which needs tenant_column.")));
	if (!PG_ARGISNULL(6))
	{
		Node	   *qual;

		/* cooked as the caller, checked, and kept in its canonical text */
		qual = anon_condition_cook(rel, text_to_cstring(PG_GETARG_TEXT_PP(6)), NULL, false);
		anon_condition_check(qual);
		opt->when_condition = anon_condition_deparse(RelationGetRelid(rel), qual);
	}
}

/* The registry row that options describe. */
static void
protect_registry_row(ProtectOptions *opt, AnonProtection *reg)
{
	memset(reg, 0, sizeof(AnonProtection));
	reg->nrules = opt->nrules;
	reg->rules = palloc(sizeof(char *) * Max(opt->nrules, 1));
	for (int i = 0; i < opt->nrules; i++)
		reg->rules[i] = psprintf("%s=%s", opt->rules[i].column,
								 opt->rules[i].action_text);
	reg->email_column = opt->email_column;
	reg->ndomains = opt->ndomains;
	reg->domains = opt->domains;
	reg->tenant_column = opt->tenant_column;
	reg->when_condition = opt->when_condition;
}

/* Whether two optional strings differ. */
static bool
protect_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Whether two optional domain lists differ. */
static bool
protect_domains_differ(char **a, int na, char **b, int nb)
{
	if (a == NULL || b == NULL)
		return a != b;
	if (na != nb)
		return true;
	for (int i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return true;
	return false;
}

/*
 * Merge an earlier protection of the table into opt: its rules stay, new
 * rules may only cover columns that had none, and the scope cannot change.
 * Returns false if the table was not protected.  On return, opt->nrules -
 * *nold rules are new.
 */
static bool
protect_merge_existing(Relation rel, ProtectOptions *opt, int *nold)
{
	const char *relname = RelationGetRelationName(rel);
	AnonProtection old;
	AnonRule   *merged;
	int			nmerged = 0;

	*nold = 0;
	if (!anon_protection_read(RelationGetRelid(rel), &old))
		return false;

	merged = palloc0(sizeof(AnonRule) * (old.nrules + opt->nrules));
	for (int i = 0; i < old.nrules; i++)
	{
		anon_rule_parse_text(old.rules[i], &merged[nmerged]);
		anon_rule_bind(&merged[nmerged], RelationGetDescr(rel), relname);
		nmerged++;
	}
	*nold = nmerged;
	for (int i = 0; i < opt->nrules; i++)
	{
		AnonRule   *rule = &opt->rules[i];
		bool		dup = false;

		for (int j = 0; j < *nold; j++)
		{
			if (merged[j].attnum != rule->attnum)
				continue;
			if (strcmp(merged[j].action_text, rule->action_text) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("column \"%s\" of table \"%s\" is already protected by rule \"%s=%s\"",
								rule->column, relname, merged[j].column,
								merged[j].action_text),
						 errdetail("Protection can only be extended: a rule is never removed or changed.")));
			dup = true;
		}
		if (!dup)
			merged[nmerged++] = *rule;
	}

	if (opt->domains == NULL && old.domains != NULL)
	{
		opt->domains = old.domains;
		opt->ndomains = old.ndomains;
	}
	if ((opt->email_column && protect_differs(opt->email_column, old.email_column)) ||
		protect_domains_differ(opt->domains, opt->ndomains, old.domains, old.ndomains) ||
		(opt->tenant_column && protect_differs(opt->tenant_column, old.tenant_column)) ||
		(opt->when_condition && protect_differs(opt->when_condition, old.when_condition)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the scope of the protection of table \"%s\" cannot be changed", relname),
				 errdetail("email_column, email_domains, tenant_column and when_condition are chosen when a table is first protected.")));
	opt->email_column = old.email_column;
	opt->tenant_column = old.tenant_column;
	opt->when_condition = old.when_condition;
	opt->rules = merged;
	opt->nrules = nmerged;
	return true;
}

/*
 * Number of live rows of a table and of all its partitions, counted in the
 * heap: row-level security and the caller's privileges hide none.
 */
static uint64
protect_count_rows(Oid relid)
{
	List	   *rels = find_all_inheritors(relid, AccessShareLock, NULL);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	uint64		n = 0;
	ListCell   *lc;

	foreach(lc, rels)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);
		TableScanDesc scan;
		TupleTableSlot *slot;

		if (rel->rd_rel->relkind != RELKIND_RELATION)
		{
			table_close(rel, AccessShareLock);
			continue;
		}
		scan = table_beginscan(rel, snapshot, 0, NULL);
		slot = table_slot_create(rel, NULL);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			CHECK_FOR_INTERRUPTS();
			n++;
		}
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	UnregisterSnapshot(snapshot);
	return n;
}

/*
 * Drop the planner statistics of the rewritten columns, of the table and of
 * every partition, and the data of extended statistics on them: they hold
 * the values the backfill replaced.
 */
static void
protect_drop_statistics(Oid relid, ProtectOptions *opt, int first_new)
{
	List	   *rels = find_all_inheritors(relid, AccessShareLock, NULL);
	ListCell   *lc;

	foreach(lc, rels)
	{
		Oid			child = lfirst_oid(lc);
		Relation	rel = table_open(child, AccessShareLock);
		List	   *stats = RelationGetStatExtList(rel);
		ListCell   *sc;

		for (int i = first_new; i < opt->nrules; i++)
		{
			AttrNumber	attnum = get_attnum(child, opt->rules[i].column);

			if (attnum != InvalidAttrNumber)
				RemoveStatistics(child, attnum);
		}
		foreach(sc, stats)
		{
			RemoveStatisticsDataById(lfirst_oid(sc), false);
			RemoveStatisticsDataById(lfirst_oid(sc), true);
		}
		table_close(rel, AccessShareLock);
	}
	CommandCounterIncrement();
}

/*
 * Rewrite every row by the rules on the given columns (a backfill), as the
 * caller but with row_security off, so that no row is hidden from it (with
 * FORCE ROW LEVEL SECURITY this raises an error instead); then check that
 * every row was rewritten.
 */
static void
protect_backfill(Relation rel, ProtectOptions *opt, int first_new)
{
	Oid			relid = RelationGetRelid(rel);
	const char *relname = RelationGetRelationName(rel);
	char	   *qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													  relname);
	uint64		expected = protect_count_rows(relid);
	uint64		rewritten;
	StringInfoData sql;
	int			nestlevel;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", qualname);
	backfill_columns = NIL;
	for (int i = first_new; i < opt->nrules; i++)
	{
		const char *col = quote_identifier(opt->rules[i].column);

		appendStringInfo(&sql, "%s%s = %s", i > first_new ? ", " : "", col, col);
		backfill_columns = lappend(backfill_columns, makeString(opt->rules[i].column));
	}

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	backfill_relid = relid;
	backfill_rows = 0;
	PG_TRY();
	{
		if (SPI_execute(sql.data, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not backfill table \"%s\"", relname);
	}
	PG_FINALLY();
	{
		backfill_relid = InvalidOid;
		backfill_columns = NIL;
	}
	PG_END_TRY();
	rewritten = SPI_processed;
	AtEOXact_GUC(true, nestlevel);

	if (rewritten != expected)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill of \"%s\" rewrote " UINT64_FORMAT " of its " UINT64_FORMAT " rows",
						relname, rewritten, expected),
				 errdetail("A trigger or a rule of the table kept rows from being updated; their identifiers would stay.")));
	protect_drop_statistics(relid, opt, first_new);

	ereport(NOTICE,
			(errmsg("backfill of \"%s\" done: " UINT64_FORMAT " rows rewritten",
					relname, rewritten),
			 errdetail("The old versions of these rows, with the original values, stay in the table's files until it is rewritten; the planner statistics of the rewritten columns were dropped."),
			 errhint("Run VACUUM FULL %s; ANALYZE %s; after this transaction commits.",
					 qualname, qualname)));
}

/* Record the protection of a table in anonymize.protection (as its owner). */
static void
protect_register(Oid relid, ProtectOptions *opt)
{
	Oid			types[7] = {OIDOID, TEXTARRAYOID, NAMEOID, TEXTARRAYOID, NAMEOID,
	TEXTOID, NAMEOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	AnonProtection reg;
	Datum	   *elems;
	Oid			save_userid;
	int			save_sec;
	const char *who = GetUserNameFromId(GetUserId(), false);

	protect_registry_row(opt, &reg);
	elems = palloc(sizeof(Datum) * Max(Max(reg.nrules, reg.ndomains), 1));
	values[0] = ObjectIdGetDatum(relid);
	for (int i = 0; i < reg.nrules; i++)
		elems[i] = CStringGetTextDatum(reg.rules[i]);
	values[1] = PointerGetDatum(construct_array(elems, reg.nrules, TEXTOID, -1,
												false, TYPALIGN_INT));
	if (reg.email_column)
		values[2] = CStringGetDatum(reg.email_column);
	else
		nulls[2] = 'n';
	if (reg.domains)
	{
		Datum	   *d = palloc(sizeof(Datum) * reg.ndomains);

		for (int i = 0; i < reg.ndomains; i++)
			d[i] = CStringGetTextDatum(reg.domains[i]);
		values[3] = PointerGetDatum(construct_array(d, reg.ndomains, TEXTOID,
													-1, false, TYPALIGN_INT));
	}
	else
		nulls[3] = 'n';
	if (reg.tenant_column)
		values[4] = CStringGetDatum(reg.tenant_column);
	else
		nulls[4] = 'n';
	if (reg.when_condition)
		values[5] = CStringGetTextDatum(reg.when_condition);
	else
		nulls[5] = 'n';
	values[6] = CStringGetDatum(who);

	anon_become_owner("protection", &save_userid, &save_sec);
	PG_TRY();
	{
		if (SPI_execute_with_args("INSERT INTO anonymize.protection AS p "
								  "(relid, rules, email_column, email_domains, tenant_column, when_condition, protected_by) "
								  "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, $6, $7) "
								  "ON CONFLICT (relid) DO UPDATE SET rules = excluded.rules",
								  7, types, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the protection");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
}

/*
 * Run a command built as text through ProcessUtility, as the caller, so
 * that Citus sends it to every node in the same distributed transaction.
 */
static void
protect_run_utility(const char *sql)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	RawStmt    *stmt = linitial_node(RawStmt, raw);
	PlannedStmt *pstmt = makeNode(PlannedStmt);

	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = stmt->stmt;
	pstmt->stmt_location = -1;
	pstmt->stmt_len = 0;
	ProcessUtility(pstmt, sql, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, NULL);
	CommandCounterIncrement();
}

/*
 * Install the trigger of a distributed table: as text that Citus sends to
 * the table on every node and to every shard (with unsafe triggers allowed
 * for this command only); the guard of each node makes its copies fire
 * ALWAYS when the transaction commits (see guard.c).  Its arguments
 * end with the signature by which every node registers the table (see
 * shards.c); a distributed table has no condition.
 */
static void
protect_install_citus_trigger(Relation rel, AnonProtection *reg, bool replace)
{
	char	  **args;
	int			nargs;
	StringInfoData sql;
	char	   *qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													  RelationGetRelationName(rel));
	int			nestlevel;

	args = anon_protection_args(reg, &nargs);
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE %sTRIGGER %s BEFORE INSERT OR UPDATE ON %s "
					 "FOR EACH ROW EXECUTE FUNCTION %s.protect_trigger(",
					 replace ? "OR REPLACE " : "", quote_identifier(ANON_TRIGGER_NAME),
					 qualname, quote_identifier(get_namespace_name(anon_schema_oid())));
	for (int i = 0; i < nargs; i++)
		appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "", quote_literal_cstr(args[i]));
	appendStringInfoChar(&sql, ')');

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("citus.enable_unsafe_triggers", "on", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	protect_run_utility(sql.data);
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Install (or, when the table was protected, replace) the trigger, enabled
 * ALWAYS, built as a node.  It is created as the caller, who owns the table
 * and was just granted EXECUTE on the trigger function: no code of the
 * caller's (a domain check in a literal of the condition, say) may ever run
 * with the extension owner's rights.  The condition is cooked and checked
 * before the trigger is made.
 */
static void
protect_install_trigger(Relation rel, AnonProtection *reg, bool replace)
{
	CreateTrigStmt *stmt;
	char	  **args;
	int			nargs;
	Oid			funcoid = anon_protect_function_oid();
	Node	   *qual = NULL;
	List	   *rtable = NIL;
	ObjectAddress address;

	if (!OidIsValid(funcoid))
		elog(ERROR, "function anonymize.protect_trigger() does not exist");
	if (anon_citus_method(RelationGetRelid(rel)) != '\0')
	{
		protect_install_citus_trigger(rel, reg, replace);
		return;
	}
	stmt = makeNode(CreateTrigStmt);
	args = anon_protection_args(reg, &nargs);
	if (reg->when_condition)
		qual = anon_condition_cook(rel, reg->when_condition, &rtable, true);

	stmt->replace = replace;
	stmt->isconstraint = false;
	stmt->trigname = ANON_TRIGGER_NAME;
	stmt->relation = makeRangeVar(get_namespace_name(RelationGetNamespace(rel)),
								  pstrdup(RelationGetRelationName(rel)), -1);
	stmt->funcname = list_make2(makeString(get_namespace_name(anon_schema_oid())),
								makeString("protect_trigger"));
	for (int i = 0; i < nargs; i++)
		stmt->args = lappend(stmt->args, makeString(args[i]));
	stmt->row = true;
	stmt->timing = TRIGGER_TYPE_BEFORE;
	stmt->events = TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE;
	stmt->whenClause = NULL;	/* given cooked, below */

	address = CreateTriggerFiringOn(stmt, reg->when_condition ? reg->when_condition : "",
									RelationGetRelid(rel), InvalidOid, InvalidOid,
									InvalidOid, funcoid, InvalidOid, qual,
									false, false, TRIGGER_FIRES_ALWAYS);
	/* a cooked condition comes without the dependencies on its columns */
	if (qual)
		recordDependencyOnExpr(&address, qual, rtable, DEPENDENCY_NORMAL);
	CommandCounterIncrement();
}

/* Whether a distributed table holds any row, on any node. */
static bool
protect_citus_has_rows(Relation rel)
{
	Oid			save_userid;
	int			save_sec;
	bool		found = false;
	char	   *sql = psprintf("SELECT EXISTS (SELECT 1 FROM %s)",
							   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														  RelationGetRelationName(rel)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* as the extension's owner: no row-level security hides a row */
	anon_become_owner("protection", &save_userid, &save_sec);
	PG_TRY();
	{
		bool		isnull;

		if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not count the rows of \"%s\"", RelationGetRelationName(rel));
		found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
	return found;
}

/*
 * What a distributed table's protection may not use in this version, each
 * refused (0A000): rules are applied on the shards, by every node alone
 * (pseudonyms come from the coordinator's map, see cluster.c), so no tenant
 * scope or condition (tenant policies and settings are per node); no rule
 * on the distribution column (the row would be on the wrong shard), no
 * backfill and no rows already there.
 */
static void
protect_check_citus(Relation rel, ProtectOptions *opt, bool backfill)
{
	const char *relname = RelationGetRelationName(rel);
	AttrNumber	distcol = anon_citus_distribution_column(RelationGetRelid(rel));

	/* a shard is <table>_<shard id>, up to 19 digits, or Citus shortens it */
	if (strlen(relname) > NAMEDATALEN - 1 - 1 - 19)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the name of distributed table \"%s\" is too long to protect", relname),
				 errdetail("Citus shortens the names of the shards of a table whose name has more than %d bytes, and each node finds the shards of a protected table by their names.",
						   NAMEDATALEN - 1 - 1 - 19),
				 errhint("Rename the table before protecting it.")));

	for (int i = 0; i < opt->nrules; i++)
	{
		if (distcol != 0 && get_attnum(RelationGetRelid(rel), opt->rules[i].column) == distcol)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("rule \"%s=%s\" cannot protect distributed table \"%s\"",
							opt->rules[i].column, opt->rules[i].action_text, relname),
					 errdetail("Column \"%s\" is the table's distribution column: a rule would store the row in the wrong shard.",
							   opt->rules[i].column)));
	}
	if (opt->tenant_column || opt->when_condition)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("distributed table \"%s\" cannot be protected with a %s",
						relname, opt->tenant_column ? "tenant column" : "condition"),
				 errdetail("Each node applies the rules alone, and tenant policies and conditions are not the same on every node.")));
	if (backfill || protect_citus_has_rows(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("distributed table \"%s\" can be protected only while it is empty", relname),
				 errdetail("Rows already in its shards would keep their identifiers, and backfill is not supported on distributed tables."),
				 errhint("Protect the table before loading it.")));
}

/*
 * Grant EXECUTE on the trigger function to a distributed table's owner on
 * every other node, as the extension's owner: Citus creates the trigger of
 * every shard as the owner.  Each node commits the grant on its own; a
 * grant left by a protect() that failed gives nothing (see registry.h).
 */
static void
protect_citus_grant_owner(Relation rel)
{
	Oid			save_userid;
	int			save_sec;
	char	   *grant = psprintf("GRANT EXECUTE ON FUNCTION %s.protect_trigger() TO %s",
								 quote_identifier(get_namespace_name(anon_schema_oid())),
								 quote_identifier(GetUserNameFromId(rel->rd_rel->relowner, false)));
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(grant)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anon_become_owner("protection", &save_userid, &save_sec);
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT nodename, nodeport, result "
								  "FROM pg_catalog.run_command_on_workers($1) WHERE NOT success",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not run a command on the Citus workers");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not grant EXECUTE on the trigger function on node %s:%s",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
					 errdetail("%s", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3))));
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
}

/*
 * Open the table to protect: the caller must own it (checked before the lock
 * is queued), and it must be a permanent table or partitioned table that is
 * not a partition and has no inheritance children.
 */
static Relation
protect_open(Oid relid)
{
	Relation	rel;
	const char *relname;
	char		method;

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	rel = table_open(relid, ShareRowExclusiveLock);
	relname = RelationGetRelationName(rel);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("Only tables and partitioned tables can be protected.")));
	method = anon_citus_method(relid);
	if (method != '\0' && method != 'h')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is a Citus reference or local table", relname),
				 errdetail("Only hash-distributed Citus tables can be protected."),
				 errhint("Protect a distributed table, or a table that Citus does not manage.")));
	if (method == 'h' && !anon_citus_coordinator())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("distributed table \"%s\" can be protected only on the Citus coordinator", relname)));
	if (rel->rd_rel->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partition", relname),
				 errhint("Protect its partitioned table, which covers every partition.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("temporary table \"%s\" cannot be protected", relname)));
	if (has_superclass(relid) || OidIsValid(rel->rd_rel->reloftype))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is an inheritance child or a typed table", relname),
				 errdetail("A change of its parent or of its type would reach its rows without the trigger.")));
	if (rel->rd_rel->relkind == RELKIND_RELATION &&
		find_inheritance_children(relid, NoLock) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" has inheritance children", relname),
				 errdetail("Rows of an inheritance child do not pass through the trigger of its parent.")));
	return rel;
}

/*
 * anon_protect(rel regclass, rules text[], email_column name,
 *				email_domains text[], tenant_column name, backfill boolean,
 *				when_condition text) RETURNS void
 *
 * Protect a table: install (or extend) its anonymizing trigger, backfill
 * existing rows if asked, and record it.
 */
Datum
anon_protect(PG_FUNCTION_ARGS)
{
	Relation	rel;
	ProtectOptions opt;
	bool		backfill = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	bool		existed;
	bool		citus;
	int			nold;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	rel = protect_open(PG_GETARG_OID(0));
	citus = anon_citus_method(RelationGetRelid(rel)) != '\0';
	protect_read_options(fcinfo, rel, &opt);
	existed = protect_merge_existing(rel, &opt, &nold);
	anon_protection_grant_owner(RelationGetRelid(rel));
	if (existed && nold == opt.nrules)
	{
		table_close(rel, NoLock);
		PG_RETURN_VOID();		/* nothing new */
	}
	if (citus)
	{
		protect_check_citus(rel, &opt, backfill);
		protect_citus_grant_owner(rel);
	}
	if (!backfill && protect_count_rows(RelationGetRelid(rel)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" already holds rows", RelationGetRelationName(rel)),
				 errdetail("Its existing rows would keep their identifiers."),
				 errhint("Pass backfill => true to anonymize them in this transaction.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	protect_register(RelationGetRelid(rel), &opt);
	CommandCounterIncrement();
	{
		AnonProtection reg;

		protect_registry_row(&opt, &reg);
		reg.relid = RelationGetRelid(rel);
		protect_install_trigger(rel, &reg, existed);
	}
	/* protect() is no DDL command: check what the guard would check */
	anon_guard_check_protected(RelationGetRelid(rel));
	if (backfill)
		protect_backfill(rel, &opt, nold);
	SPI_finish();
	table_close(rel, NoLock);	/* the lock is kept until commit */
	PG_RETURN_VOID();
}

/*
 * Put the trigger of a protected table back, as its registry row says, after
 * a command dropped it (see guard.c); as the caller, like protect().
 */
void
anon_protect_reinstall(Oid relid)
{
	Relation	rel = table_open(relid, ShareRowExclusiveLock);
	AnonProtection reg;

	if (!anon_protection_read(relid, &reg))
		elog(ERROR, "table %u is not protected", relid);
	anon_protection_grant_owner(relid);
	protect_install_trigger(rel, &reg, false);
	table_close(rel, NoLock);
}

PG_FUNCTION_INFO_V1(anon_canonical_condition);

/*
 * anon_canonical_condition(rel regclass) RETURNS text
 *
 * The canonical text of the condition of a table's protect trigger, as
 * protect() keeps it in the registry, or NULL when it has none or calls a
 * function that is not built in (so it is not to be trusted).  Used by the
 * update to 0.4.0 on the conditions earlier versions kept as written.
 */
Datum
anon_canonical_condition(PG_FUNCTION_ARGS)
{
	Relation	rel = table_open(PG_GETARG_OID(0), AccessShareLock);
	TriggerDesc *trigdesc = rel->trigdesc;
	char	   *text = NULL;

	for (int i = 0; trigdesc && i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];
		Node	   *qual;

		if (strcmp(t->tgname, ANON_TRIGGER_NAME) != 0 || t->tgqual == NULL)
			continue;
		qual = stringToNode(t->tgqual);
		if (!anon_condition_changeable(qual, false))
			text = anon_condition_deparse(RelationGetRelid(rel), qual);
	}
	table_close(rel, AccessShareLock);
	if (text == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(text));
}

/*
 * anon_normalize_domain(domain text) RETURNS text
 *
 * An e-mail domain as protect() and set_tenant_policy() store it (white
 * space trimmed, lower-cased), or an error if it is not well-formed.
 */
Datum
anon_normalize_domain(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(protect_domain_arg(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

PG_FUNCTION_INFO_V1(anon_tenant_default_all);

/*
 * anon_tenant_default_all() RETURNS boolean
 *
 * Whether anonymize.tenant_default is 'all'.  Calling it loads the library,
 * so a value a non-superuser set before that is not believed.
 */
Datum
anon_tenant_default_all(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(anon_tenant_default == ANON_TENANT_ALL);
}
