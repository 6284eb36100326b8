/*-------------------------------------------------------------------------
 *
 * protect.c
 *	  protect(): installing the anonymizing trigger, and the trigger itself.
 *
 * The trigger takes everything it needs from its own arguments, in triples:
 *	  ("rule", column, action)		an anonymization rule
 *	  ("email", column, "a.com,b.org")	only rows of these e-mail domains
 *	  ("tenant", column, "")			only rows whose tenant is anonymized
 * so a partition's (or a shard's) copy of the trigger works alone.  Its row
 * condition is the trigger's own WHEN clause.  Parsed arguments are cached
 * per trigger OID for the life of the backend, and dropped when the table's
 * relcache entry is invalidated.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
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

#include "anonymize.h"
#include "guard.h"
#include "rules.h"

#define BACKFILL_NOTICE_EVERY 10000

/* The parsed arguments of one protect trigger. */
typedef struct ProtectConfig
{
	Oid			tgoid;			/* hash key */
	Oid			relid;
	MemoryContext cxt;
	int			nrules;
	AnonRule   *rules;
	AttrNumber	email_attnum;	/* 0: no e-mail scope */
	int			ndomains;
	char	  **domains;		/* lower-cased */
	AttrNumber	tenant_attnum;	/* 0: no tenant scope */
	FmgrInfo	tenant_out;
} ProtectConfig;

static HTAB *protect_configs = NULL;

/* Backfill in progress: rules on these columns apply even if unchanged. */
static Oid	backfill_relid = InvalidOid;
static List *backfill_columns = NIL;
static int64 backfill_rows = 0;

PG_FUNCTION_INFO_V1(anon_protect_trigger);
PG_FUNCTION_INFO_V1(anon_protect);

/* Relcache callback: a table changed, its triggers' columns may have too. */
static void
protect_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	ProtectConfig *cfg;

	if (protect_configs == NULL)
		return;
	hash_seq_init(&seq, protect_configs);
	while ((cfg = hash_seq_search(&seq)) != NULL)
	{
		if (relid != InvalidOid && cfg->relid != relid)
			continue;
		if (cfg->cxt)
			MemoryContextDelete(cfg->cxt);
		hash_search(protect_configs, &cfg->tgoid, HASH_REMOVE, NULL);
	}
}

/* Register the cache's invalidation callback. */
void
AnonProtectInit(void)
{
	CacheRegisterRelcacheCallback(protect_relcache_callback, (Datum) 0);
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

/* The parsed configuration of a firing trigger, from the cache if possible. */
static ProtectConfig *
protect_config(Trigger *trigger, Relation rel)
{
	ProtectConfig *cfg;
	bool		found;

	if (protect_configs == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ProtectConfig);
		protect_configs = hash_create("anonymize protect triggers", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS);
	}
	cfg = hash_search(protect_configs, &trigger->tgoid, HASH_ENTER, &found);
	if (found && cfg->cxt != NULL)
		return cfg;

	cfg->relid = RelationGetRelid(rel);
	cfg->nrules = 0;
	cfg->email_attnum = 0;
	cfg->tenant_attnum = 0;
	cfg->cxt = AllocSetContextCreate(CacheMemoryContext,
									 "anonymize protect trigger",
									 ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		MemoryContext old = MemoryContextSwitchTo(cfg->cxt);

		protect_parse_args(cfg, trigger, rel);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cfg->cxt);
		hash_search(protect_configs, &trigger->tgoid, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
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

/* The lower-cased domain of an e-mail address, or NULL if it has none. */
static char *
protect_email_domain(const char *email)
{
	const char *at = strrchr(email, '@');
	char	   *domain;
	int			len;

	if (at == NULL)
		return NULL;
	domain = pstrdup(at + 1);
	len = strlen(domain);
	while (len > 0 && isspace((unsigned char) domain[len - 1]))
		domain[--len] = '\0';
	if (len == 0)
		return NULL;
	for (char *p = domain; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	return domain;
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
	int		   *cols;
	Datum	   *values;
	bool	   *nulls;
	int			n = 0;

	if (!protect_in_scope(cfg, newtuple, tupdesc))
		return PointerGetDatum(newtuple);
	/* a row entering the scope (tenant, e-mail) is anonymized whole */
	all_columns = !is_update ||
		((cfg->tenant_attnum || cfg->email_attnum) &&
		 !protect_in_scope(cfg, oldtuple, tupdesc));

	cols = palloc(sizeof(int) * cfg->nrules);
	values = palloc(sizeof(Datum) * cfg->nrules);
	nulls = palloc(sizeof(bool) * cfg->nrules);
	for (int i = 0; i < cfg->nrules; i++)
	{
		AnonRule   *rule = &cfg->rules[i];
		bool		isnull;
		Datum		value = heap_getattr(newtuple, rule->attnum, tupdesc, &isnull);

		if (isnull)
			continue;
		if (!all_columns &&
			!(backfilling && list_member(backfill_columns, makeString(rule->column))))
		{
			bool		oldnull;
			Datum		old = heap_getattr(oldtuple, rule->attnum, tupdesc, &oldnull);

			if (!oldnull && datumIsEqual(value, old, rule->typbyval, rule->typlen))
				continue;
		}
		cols[n] = rule->attnum;
		values[n] = anon_rule_apply(rule, value, &nulls[n]);
		n++;
	}

	if (backfilling && ++backfill_rows % BACKFILL_NOTICE_EVERY == 0)
		ereport(NOTICE,
				(errmsg("backfill of \"%s\": " INT64_FORMAT " rows anonymized",
						RelationGetRelationName(rel), backfill_rows)));
	if (n > 0)
		newtuple = heap_modify_tuple_by_cols(newtuple, tupdesc, n, cols,
											 values, nulls);
	return PointerGetDatum(newtuple);
}

/* Options of one protect() call, validated. */
typedef struct ProtectOptions
{
	int			nrules;
	AnonRule   *rules;
	char	   *email_column;
	int			ndomains;
	char	  **domains;		/* trimmed, lower-cased */
	char	   *tenant_column;
	char	   *when_condition;
} ProtectOptions;

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
		char	   *d;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("e-mail domains must not be null")));
		d = protect_email_domain(psprintf("@%s", TextDatumGetCString(elems[i])));
		while (d && isspace((unsigned char) *d))
			d++;
		if (d == NULL || *d == '\0' || strpbrk(d, ", \t\n\r\f\v") ||
			strchr(TextDatumGetCString(elems[i]), '@'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid e-mail domain \"%s\"", TextDatumGetCString(elems[i])),
					 errdetail("A domain is written without \"@\", \",\" or spaces, as in \"acme.com\".")));
		domains[i] = d;
	}
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the list of e-mail domains is empty")));
	return domains;
}

/* Check that a WHEN condition is one expression, so it can be embedded. */
static void
protect_check_condition(const char *cond)
{
	List	   *parsed = raw_parser(cond, RAW_PARSE_PLPGSQL_EXPR);

	if (list_length(parsed) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("when_condition must be a single boolean expression")));
}

/* Read protect()'s arguments and check them against the table. */
static void
protect_read_options(FunctionCallInfo fcinfo, Relation rel, ProtectOptions *opt)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *relname = RelationGetRelationName(rel);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	memset(opt, 0, sizeof(ProtectOptions));
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
		anon_rule_parse_text(TextDatumGetCString(elems[i]), rule);
		anon_rule_bind(rule, tupdesc, relname);
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

	if (!PG_ARGISNULL(2))
	{
		Oid			typid;

		opt->email_column = NameStr(*PG_GETARG_NAME(2));
		typid = TupleDescAttr(tupdesc,
							  protect_column(tupdesc, opt->email_column, relname) - 1)->atttypid;
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
		opt->tenant_column = NameStr(*PG_GETARG_NAME(4));
		(void) protect_column(tupdesc, opt->tenant_column, relname);
	}
	if ((opt->domains != NULL) != (opt->email_column != NULL) &&
		!(opt->email_column != NULL && opt->tenant_column != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("email_column and email_domains must be given together"),
				 errdetail("Without email_domains, an e-mail column is used only with the domains of tenant policies, which needs tenant_column.")));
	if (!PG_ARGISNULL(6))
	{
		opt->when_condition = text_to_cstring(PG_GETARG_TEXT_PP(6));
		protect_check_condition(opt->when_condition);
	}
}

/* Run a statement through SPI, erroring out unless it returns expected. */
static void
protect_spi(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute failed for \"%s\": %s", sql,
			 SPI_result_code_string(rc));
}

/* Build the trigger's argument list (quoted literals) from options. */
static char *
protect_trigger_args(ProtectOptions *opt)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < opt->nrules; i++)
		appendStringInfo(&buf, "%s'rule', %s, %s", i > 0 ? ", " : "",
						 quote_literal_cstr(opt->rules[i].column),
						 quote_literal_cstr(opt->rules[i].action_text));
	if (opt->email_column)
	{
		StringInfoData list;

		initStringInfo(&list);
		for (int i = 0; i < opt->ndomains; i++)
			appendStringInfo(&list, "%s%s", i > 0 ? "," : "", opt->domains[i]);
		appendStringInfo(&buf, ", 'email', %s, %s",
						 quote_literal_cstr(opt->email_column),
						 quote_literal_cstr(list.data));
	}
	if (opt->tenant_column)
		appendStringInfo(&buf, ", 'tenant', %s, ''",
						 quote_literal_cstr(opt->tenant_column));
	return buf.data;
}

/* The rules of opt as "column=action" texts, for the registry. */
static Datum
protect_rules_array(ProtectOptions *opt)
{
	Datum	   *elems = palloc(sizeof(Datum) * opt->nrules);

	for (int i = 0; i < opt->nrules; i++)
		elems[i] = CStringGetTextDatum(psprintf("%s=%s", opt->rules[i].column,
												opt->rules[i].action_text));
	return PointerGetDatum(construct_array(elems, opt->nrules, TEXTOID, -1,
										   false, TYPALIGN_INT));
}

/* Text of a column of an SPI result row, or NULL. */
static char *
protect_spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *value = SPI_getvalue(tup, desc, col);

	return value ? pstrdup(value) : NULL;
}

/* Whether two optional strings differ. */
static bool
protect_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Comma-joined domains of opt, or NULL. */
static char *
protect_domain_list(char **domains, int n)
{
	StringInfoData buf;

	if (domains == NULL)
		return NULL;
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? "," : "", domains[i]);
	return buf.data;
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
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(RelationGetRelid(rel))};
	const char *relname = RelationGetRelationName(rel);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum	   *elems;
	int			n;
	AnonRule   *merged;
	int			nmerged = 0;
	char	   *old_email,
			   *old_domains,
			   *old_tenant,
			   *old_when;

	*nold = 0;
	if (SPI_execute_with_args("SELECT rules, email_column, email_domains, tenant_column, when_condition "
							  "FROM anonymize.protection WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read anonymize.protection");
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 1, &isnull)),
					  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
	merged = palloc0(sizeof(AnonRule) * (n + opt->nrules));
	for (int i = 0; i < n; i++)
	{
		anon_rule_parse_text(TextDatumGetCString(elems[i]), &merged[nmerged]);
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

	old_email = protect_spi_text(tup, desc, 2);
	{
		Datum		d = SPI_getbinval(tup, desc, 3, &isnull);
		int			nd = 0;
		char	  **dl = NULL;

		if (!isnull)
		{
			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, NULL, &nd);
			dl = palloc(sizeof(char *) * Max(nd, 1));
			for (int i = 0; i < nd; i++)
				dl[i] = TextDatumGetCString(elems[i]);
		}
		old_domains = protect_domain_list(dl, nd);
		if (opt->domains == NULL && dl != NULL)
		{
			opt->domains = dl;
			opt->ndomains = nd;
		}
	}
	old_tenant = protect_spi_text(tup, desc, 4);
	old_when = protect_spi_text(tup, desc, 5);

	if ((opt->email_column && protect_differs(opt->email_column, old_email)) ||
		protect_differs(protect_domain_list(opt->domains, opt->ndomains), old_domains) ||
		(opt->tenant_column && protect_differs(opt->tenant_column, old_tenant)) ||
		(opt->when_condition && protect_differs(opt->when_condition, old_when)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the scope of the protection of table \"%s\" cannot be changed", relname),
				 errdetail("email_column, email_domains, tenant_column and when_condition are chosen when a table is first protected.")));
	opt->email_column = old_email;
	opt->tenant_column = old_tenant;
	opt->when_condition = old_when;
	opt->rules = merged;
	opt->nrules = nmerged;
	return true;
}

/* Whether a table holds any row (read as the caller). */
static bool
protect_has_rows(const char *qualname)
{
	protect_spi(psprintf("SELECT 1 FROM %s LIMIT 1", qualname), SPI_OK_SELECT);
	return SPI_processed > 0;
}

/* Rewrite every row by the rules on the given columns (a backfill). */
static void
protect_backfill(Oid relid, const char *relname, const char *qualname,
				 ProtectOptions *opt, int first_new)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", qualname);
	backfill_columns = NIL;
	for (int i = first_new; i < opt->nrules; i++)
	{
		const char *col = quote_identifier(opt->rules[i].column);

		appendStringInfo(&sql, "%s%s = %s", i > first_new ? ", " : "", col, col);
		backfill_columns = lappend(backfill_columns, makeString(opt->rules[i].column));
	}

	backfill_relid = relid;
	backfill_rows = 0;
	PG_TRY();
	{
		protect_spi(sql.data, SPI_OK_UPDATE);
	}
	PG_FINALLY();
	{
		backfill_relid = InvalidOid;
		backfill_columns = NIL;
	}
	PG_END_TRY();

	ereport(NOTICE,
			(errmsg("backfill of \"%s\" done: " UINT64_FORMAT " rows rewritten",
					relname, SPI_processed),
			 errdetail("The old versions of these rows, with the original values, stay in the table's files until it is rewritten."),
			 errhint("Run VACUUM FULL %s after this transaction commits.", qualname)));
}

/* Record the protection of a table in anonymize.protection (as its owner). */
static void
protect_register(Oid relid, ProtectOptions *opt)
{
	Oid			types[7] = {OIDOID, TEXTARRAYOID, NAMEOID, TEXTARRAYOID, NAMEOID,
	TEXTOID, NAMEOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			save_userid;
	int			save_sec;
	const char *who = GetUserNameFromId(GetUserId(), false);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = protect_rules_array(opt);
	if (opt->email_column)
		values[2] = CStringGetDatum(opt->email_column);
	else
		nulls[2] = 'n';
	if (opt->domains)
	{
		Datum	   *d = palloc(sizeof(Datum) * opt->ndomains);

		for (int i = 0; i < opt->ndomains; i++)
			d[i] = CStringGetTextDatum(opt->domains[i]);
		values[3] = PointerGetDatum(construct_array(d, opt->ndomains, TEXTOID,
													-1, false, TYPALIGN_INT));
	}
	else
		nulls[3] = 'n';
	if (opt->tenant_column)
		values[4] = CStringGetDatum(opt->tenant_column);
	else
		nulls[4] = 'n';
	if (opt->when_condition)
		values[5] = CStringGetTextDatum(opt->when_condition);
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
	Oid			relid;
	Relation	rel;
	ProtectOptions opt;
	char	   *relname;
	char	   *qualname;
	bool		backfill = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	bool		existed;
	int			nold;
	Oid			save_userid;
	int			save_sec;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	rel = table_open(relid, ShareRowExclusiveLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Only tables and partitioned tables can be protected.")));
	if (rel->rd_rel->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partition", RelationGetRelationName(rel)),
				 errhint("Protect its partitioned table, which covers every partition.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										  RelationGetRelationName(rel));

	protect_read_options(fcinfo, rel, &opt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anon_become_owner("protection", &save_userid, &save_sec);
	PG_TRY();
	{
		existed = protect_merge_existing(rel, &opt, &nold);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	/* keep the lock, but let the DDL below use the table */
	relname = pstrdup(RelationGetRelationName(rel));
	table_close(rel, NoLock);

	if (existed && nold == opt.nrules)
	{
		SPI_finish();
		PG_RETURN_VOID();		/* nothing new */
	}
	if (!backfill && protect_has_rows(qualname))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" already holds rows", relname),
				 errdetail("Its existing rows would keep their identifiers."),
				 errhint("Pass backfill => true to anonymize them in this transaction.")));

	if (existed)
	{
		anon_guard_allow_drop = true;
		PG_TRY();
		{
			protect_spi(psprintf("DROP TRIGGER %s ON %s",
								 quote_identifier(ANON_TRIGGER_NAME), qualname),
						SPI_OK_UTILITY);
		}
		PG_FINALLY();
		{
			anon_guard_allow_drop = false;
		}
		PG_END_TRY();
	}
	protect_spi(psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW %s%s%s "
						 "EXECUTE FUNCTION anonymize.protect_trigger(%s)",
						 quote_identifier(ANON_TRIGGER_NAME), qualname,
						 opt.when_condition ? "WHEN (" : "",
						 opt.when_condition ? opt.when_condition : "",
						 opt.when_condition ? ")" : "",
						 protect_trigger_args(&opt)),
				SPI_OK_UTILITY);
	protect_spi(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s", qualname,
						 quote_identifier(ANON_TRIGGER_NAME)),
				SPI_OK_UTILITY);

	if (backfill)
		protect_backfill(relid, relname, qualname, &opt, nold);
	protect_register(relid, &opt);

	SPI_finish();
	PG_RETURN_VOID();
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
