/*-------------------------------------------------------------------------
 *
 * access.c
 *	  Anonymized access: a grantee's plain GROUP BY queries on an anonymized
 *	  table get the threshold rules, and nothing else reaches its rows.
 *
 * A grantee (anonymize.grant_anonymized) holds no SELECT on the table, so
 * anything that is not turned into an anonymized query fails PostgreSQL's
 * own permission check: fail closed, also where this library is not loaded.
 *
 * The query hook (post_parse_analyze) looks at the queries of roles that
 * may be grantees.  A query level that reads an anonymized table must be a
 * "core": one table, GROUP BY of at most two columns or generalizations of
 * one, count/sum/avg, and a WHERE clause of comparisons of labelled columns
 * with constants.  Anything else reading the table is refused (42501).  A
 * core is replaced by a call of anonymize.anonymized_query(core text,
 * parameters...), a function in FROM whose columns are the core's keys and
 * aggregates; the rest of the query (target list, HAVING, ORDER BY, LIMIT,
 * wrappers of BI tools) stays and works on the function's rows.
 *
 * anonymized_query parses and checks the core again, as the current user,
 * with the table's labels as they are now: calling it directly gives nothing
 * more than the hook does.  It then runs anonymized_breakout over the rows
 * as the table's owner, one aggregate per distinct metric, with the table's
 * threshold and sensitivities, and turns the groups back into rows of the
 * core's types.  Hidden groups are not returned at all; a count, sum or
 * mean is withheld where the answer would tell that a few rows of a group
 * have no value.  Nothing of the owner's query reaches the caller but its
 * answer (no statistics, buffers, plans or messages).
 *
 * No error may depend on the data of a small group: errors of metrics (NaN,
 * infinite, overflowing) hide that group's metric instead
 * (anonymize.hide_bad_metrics); every generalization and pattern is first
 * evaluated on a sample value, so that an error in it is raised before any
 * row is read; arithmetic is bounded; and constants are of built-in types
 * (the owner reads them again: a type of the caller's would run its code).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/instrument.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "anonymize.h"
#include "keys.h"
#include "labels.h"

PG_FUNCTION_INFO_V1(anon_anonymized_query);

/* What an aggregate of a core is made of. */
typedef enum AccessAggKind
{
	ACCESS_ROWS,				/* count(*) */
	ACCESS_PEOPLE,				/* count(DISTINCT subject) */
	ACCESS_COUNT,				/* count(x) */
	ACCESS_SUM,					/* sum(x) */
	ACCESS_AVG,					/* avg(x) */
	ACCESS_BREAKOUT				/* this extension's anonymized_breakout */
} AccessAggKind;

typedef struct AccessAgg
{
	Aggref	   *ref;
	AccessAggKind kind;
	Node	   *arg;			/* x, or NULL */
	int			metric;			/* index of its metric, -1 for n */
	int			present;		/* of the metric counting rows with a value, or -1 */
	int			rows;			/* of the metric counting rows (people tables), or -1 */
	/* ACCESS_BREAKOUT: the call with the table's policy */
	int			nbkeys;
	Node	   *bkeys[2];
	AnonSensitivity bsens[2];
	Node	   *bmetric;		/* NULL: a NULL metric */
	Node	   *bsubject;		/* NULL: none, or the table's */
} AccessAgg;

/* A filter on a very_sensitive column: it matches only values of >= k. */
typedef struct AccessGuard
{
	Node	   *leaf;			/* the comparison */
	Node	   *column;			/* the column (or generalization) compared */
} AccessGuard;

/* A core, checked: what anonymized_query needs to answer it. */
typedef struct AccessCore
{
	Query	   *query;
	bool		sensitive_filter;	/* filters on a somewhat or very_sensitive column */
	Oid			relid;
	const char *relname;
	AnonPolicy *policy;
	int			nkeys;
	Node	   *keys[2];
	AnonSensitivity keysens[2];
	List	   *aggs;			/* AccessAgg */
	List	   *guards;			/* AccessGuard */
} AccessCore;

static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;

/* > 0 while anonymized_query parses or runs queries of its own */
static int	access_internal = 0;

/* anonymized queries of the statement being analyzed (at most one) */
static int	access_cores = 0;

static void access_post_parse_analyze(ParseState *pstate, Query *query,
									  JumbleState *jstate);
static void access_check_query(Query *q, const char *context);
static int	access_direct_calls(Node *node);
static void access_refuse_many(void) pg_attribute_noreturn();
struct AccessCore;
static bool access_reveals_present(struct AccessCore *core, Node *x);

/* Install the query hook; see _PG_init. */
void
AnonAccessInit(void)
{
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = access_post_parse_analyze;
}

/* Refuse something a grantee did with an anonymized table (42501). */
static void
access_refuse(Oid relid, const char *what, const char *hint)
	pg_attribute_noreturn();

static void
access_refuse(Oid relid, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("anonymized access to table \"%s\" does not allow %s",
					get_rel_name(relid), what),
			 errhint("%s", hint ? hint :
					 "Anonymized access allows SELECT ... GROUP BY of at most two labelled columns, "
					 "with count, sum and avg, filtered by comparisons of labelled columns with constants.")));
}

/*
 * The query hook: chain, then return at once unless the current user may be
 * a grantee of some table.
 */
static void
access_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
	if (access_internal > 0 || !IsTransactionState() ||
		!anon_user_may_be_grantee())
		return;
	access_cores = access_direct_calls((Node *) query);
	if (access_cores > 1)
		access_refuse_many();
	access_check_query(query, NULL);
}

/*
 * Refuse a statement with more than one anonymized query: two of them, in
 * one answer, would give their difference (the total next to the same with
 * one person filtered out).
 */
static void
access_refuse_many(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("anonymized access allows one anonymized query per statement"),
			 errhint("Run each anonymized query as a statement of its own.")));
}

/* Whether a function is anonymize.anonymized_query. */
static bool
access_is_query_function(Oid funcid)
{
	return get_func_namespace(funcid) == anon_schema_oid() &&
		strcmp(get_func_name(funcid), "anonymized_query") == 0;
}

/*
 * Walker of access_direct_calls: counts calls of anonymized_query, whose
 * arguments must be constants or parameters (not values of other rows, which
 * would run it once per row).
 */
static bool
access_direct_calls_walker(Node *node, int *count)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && access_is_query_function(((FuncExpr *) node)->funcid))
	{
		ListCell   *lc;

		(*count)++;
		foreach(lc, ((FuncExpr *) node)->args)
		{
			Node	   *arg = lfirst(lc);

			if (IsA(arg, RelabelType))
				arg = (Node *) ((RelabelType *) arg)->arg;
			if (!IsA(arg, Const) &&
				!(IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("the arguments of anonymized_query must be constants or parameters")));
		}
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, access_direct_calls_walker,
								 (void *) count, 0);
	return expression_tree_walker(node, access_direct_calls_walker, (void *) count);
}

/* The number of calls of anonymized_query a query makes itself. */
static int
access_direct_calls(Node *node)
{
	int			count = 0;

	(void) access_direct_calls_walker(node, &count);
	return count;
}

/* Walker of access_mentions: the first anonymized table of a query tree. */
static bool
access_mentions_walker(Node *node, Oid *relid)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && anon_user_is_grantee(rte->relid))
		{
			*relid = rte->relid;
			return true;
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, access_mentions_walker,
								 (void *) relid, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, access_mentions_walker, (void *) relid);
}

/*
 * The anonymized table (for the current user) that a query tree reads
 * anywhere, or InvalidOid.
 */
static Oid
access_mentions(Node *node)
{
	Oid			relid = InvalidOid;

	(void) access_mentions_walker(node, &relid);
	return relid;
}

/* Walker of access_check_sublinks: refuse a sublink over the table. */
static bool
access_sublink_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
	{
		Oid			relid = access_mentions(((SubLink *) node)->subselect);

		if (OidIsValid(relid))
			access_refuse(relid, "subqueries in expressions (IN, EXISTS, scalar subqueries)", NULL);
	}
	if (IsA(node, Query))
		return false;			/* a sublink's query: done above */
	return expression_tree_walker(node, access_sublink_walker, context);
}

static void access_rewrite_core(Query *q, Oid relid);

/*
 * Check one query level for the current user: a level reading an anonymized
 * table must be a core, where cores are allowed (context NULL); elsewhere
 * the table is refused, naming the context.
 */
static void
access_check_query(Query *q, const char *context)
{
	ListCell   *lc;

	if (q->commandType == CMD_UTILITY)
	{
		Node	   *stmt = q->utilityStmt;
		Node	   *inner = NULL;

		if (IsA(stmt, DeclareCursorStmt))
			inner = ((DeclareCursorStmt *) stmt)->query;
		else if (IsA(stmt, ExplainStmt))
			inner = ((ExplainStmt *) stmt)->query;
		else if (IsA(stmt, CreateTableAsStmt))
			inner = ((CreateTableAsStmt *) stmt)->query;
		if (inner && IsA(inner, Query))
			access_check_query((Query *) inner, context);
		return;
	}

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && anon_user_is_grantee(rte->relid))
		{
			if (q->commandType != CMD_SELECT)
				access_refuse(rte->relid, "writes or MERGE", NULL);
			if (context)
				access_refuse(rte->relid, context, NULL);
			access_rewrite_core(q, rte->relid);
			return;
		}
	}

	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);
		Oid			relid = access_mentions(cte->ctequery);

		if (OidIsValid(relid))
			access_refuse(relid, "WITH queries (common table expressions)", NULL);
	}
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind != RTE_SUBQUERY)
			continue;
		if (q->setOperations || rte->lateral)
		{
			Oid			relid = access_mentions((Node *) rte->subquery);

			if (OidIsValid(relid))
				access_refuse(relid, q->setOperations ?
							  "set operations (UNION, INTERSECT, EXCEPT)" :
							  "LATERAL subqueries", NULL);
		}
		access_check_query(rte->subquery, context);
	}
	if (q->hasSubLinks)
		(void) query_tree_walker(q, access_sublink_walker, NULL,
								 QTW_IGNORE_RC_SUBQUERIES);
}

/* Whether a function is built in and in pg_catalog. */
static bool
access_builtin_function(Oid funcid)
{
	return funcid < FirstNormalObjectId &&
		get_func_namespace(funcid) == PG_CATALOG_NAMESPACE;
}

/* Whether a type is one of the integer types. */
static bool
access_integer_type(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID;
}

/* Whether a type is a number a metric can be made of. */
static bool
access_number_type(Oid type)
{
	return access_integer_type(type) || type == FLOAT4OID ||
		type == FLOAT8OID || type == NUMERICOID;
}

/* Walker of access_const: only constants and built-in casts or functions. */
static bool
access_const_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && !access_builtin_function(((FuncExpr *) node)->funcid))
		return true;
	if (!IsA(node, Const) && !IsA(node, RelabelType) && !IsA(node, FuncExpr) &&
		!IsA(node, CoerceViaIO))
		return true;
	/* the table's owner reads the constant again: no type of anyone's */
	if (exprType(node) >= FirstNormalObjectId)
		return true;
	return expression_tree_walker(node, access_const_walker, context);
}

/*
 * Whether a node is a constant argument of a generalization: a constant, or
 * built-in casts and functions of constants (evaluated now, so that their
 * errors are raised whatever the data).
 */
static bool
access_const(Node *node)
{
	if (node == NULL || access_const_walker(node, NULL))
		return false;
	return IsA(eval_const_expressions(NULL, copyObject(node)), Const);
}

/*
 * Whether a cast of one type to another cannot fail, whatever the value:
 * widening of numbers, timestamps to dates, anything to text.
 */
static bool
access_safe_cast(Oid from, Oid to)
{
	if (to == TEXTOID || to == VARCHAROID)
		return true;
	if (access_integer_type(from))
		return (to == INT4OID && from != INT8OID) || to == INT8OID ||
			to == NUMERICOID || to == FLOAT4OID || to == FLOAT8OID;
	if (from == FLOAT4OID)
		return to == FLOAT8OID;
	if (from == TIMESTAMPOID || from == TIMESTAMPTZOID)
		return to == DATEOID;
	/* raises only for dates after 294276 AD */
	if (from == DATEOID)
		return to == TIMESTAMPOID || to == TIMESTAMPTZOID;
	return false;
}

static AttrNumber access_column_of(Node *node);

/* Walker of access_arithmetic_count. */
static bool
access_arithmetic_walker(Node *node, int *count)
{
	if (node == NULL)
		return false;
	if (IsA(node, OpExpr))
		(*count)++;
	return expression_tree_walker(node, access_arithmetic_walker, (void *) count);
}

/* The number of operators in an expression. */
static int
access_arithmetic_count(Node *node)
{
	int			count = 0;

	(void) access_arithmetic_walker(node, &count);
	return count;
}

/*
 * Whether a constant operand of arithmetic is between 1e-15 and 1e15 in
 * absolute value (or zero): with at most four operations, no value of a
 * column (up to 1e308) then overflows numeric, and no error depends on it.
 */
static bool
access_bounded(Node *node)
{
	Const	   *c = (Const *) eval_const_expressions(NULL, copyObject(node));
	Datum		x;
	Datum		lo;
	Datum		hi;

	if (!IsA(c, Const) || c->constisnull || c->consttype != NUMERICOID)
		return false;
	x = DirectFunctionCall1(numeric_abs, c->constvalue);
	lo = DirectFunctionCall3(numeric_in, CStringGetDatum("1e-15"),
							 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	hi = DirectFunctionCall3(numeric_in, CStringGetDatum("1e15"),
							 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	if (numeric_is_nan(DatumGetNumeric(x)) || numeric_is_inf(DatumGetNumeric(x)))
		return false;
	if (DatumGetBool(DirectFunctionCall2(numeric_eq, x,
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))))
		return true;
	return DatumGetBool(DirectFunctionCall2(numeric_ge, x, lo)) &&
		DatumGetBool(DirectFunctionCall2(numeric_le, x, hi));
}

/*
 * The column of numeric arithmetic with a constant (x / 300, x * 10.0 + 5,
 * as BI tools bin numbers and times), or 0.  Only numeric: it neither
 * overflows nor underflows, where integer and float arithmetic would raise
 * errors on some values.
 */
static AttrNumber
access_arithmetic_of(OpExpr *op)
{
	const char *fn;
	Node	   *l;
	Node	   *r;

	if (list_length(op->args) != 2 || op->opresulttype != NUMERICOID ||
		!access_builtin_function(op->opfuncid))
		return 0;
	fn = get_func_name(op->opfuncid);
	if (strcmp(fn, "numeric_add") != 0 && strcmp(fn, "numeric_sub") != 0 &&
		strcmp(fn, "numeric_mul") != 0 && strcmp(fn, "numeric_div") != 0)
		return 0;
	l = linitial(op->args);
	r = lsecond(op->args);
	if (access_arithmetic_count((Node *) op) > 4)
		return 0;
	if (access_const(r) && access_bounded(r))
		return access_column_of(l);
	if (access_const(l) && access_bounded(l) && strcmp(fn, "numeric_div") != 0)
		return access_column_of(r);
	return 0;
}

/*
 * The column a key, filter or metric expression is made of, or 0 if it is
 * not a plain column or an allowed generalization of one: date_trunc,
 * extract/date_part, width_bucket (of integers), floor/ceil/round/trunc,
 * substring/left, and casts that cannot fail.
 */
static AttrNumber
access_column_of(Node *node)
{
	if (node == NULL)
		return 0;
	switch (nodeTag(node))
	{
		case T_Var:
			{
				Var		   *var = (Var *) node;

				if (var->varno != 1 || var->varlevelsup != 0 || var->varattno <= 0)
					return 0;
				return var->varattno;
			}
		case T_RelabelType:
			return access_column_of((Node *) ((RelabelType *) node)->arg);
		case T_CoerceViaIO:
			{
				CoerceViaIO *c = (CoerceViaIO *) node;

				if (c->resulttype != TEXTOID && c->resulttype != VARCHAROID)
					return 0;
				return access_column_of((Node *) c->arg);
			}
		case T_OpExpr:
			return access_arithmetic_of((OpExpr *) node);
		case T_FuncExpr:
			break;
		default:
			return 0;
	}

	{
		FuncExpr   *f = (FuncExpr *) node;
		const char *name;
		int			nargs = list_length(f->args);
		int			col = 0;

		if (!access_builtin_function(f->funcid) || f->funcretset || f->funcvariadic)
			return 0;
		if (f->funcformat == COERCE_EXPLICIT_CAST || f->funcformat == COERCE_IMPLICIT_CAST)
		{
			if (nargs != 1 ||
				!access_safe_cast(exprType(linitial(f->args)), f->funcresulttype))
				return 0;
			return access_column_of(linitial(f->args));
		}
		name = get_func_name(f->funcid);
		if (strcmp(name, "date_trunc") == 0 || strcmp(name, "date_part") == 0 ||
			strcmp(name, "extract") == 0)
			col = 1;
		else if (strcmp(name, "width_bucket") == 0)
		{
			AttrNumber	attnum;
			List	   *vars;
			Node	   *count;

			/* only of integers: a NaN would raise an error */
			if (nargs != 4)
				return 0;
			attnum = access_column_of(linitial(f->args));
			if (attnum == 0)
				return 0;
			vars = pull_var_clause(linitial(f->args), 0);
			if (list_length(vars) != 1 ||
				!access_integer_type(((Var *) linitial(vars))->vartype))
				return 0;
			/* a value above the range gets count + 1, which must not overflow */
			if (!access_const(lfourth(f->args)))
				return 0;
			count = eval_const_expressions(NULL, copyObject(lfourth(f->args)));
			if (((Const *) count)->constisnull ||
				DatumGetInt32(((Const *) count)->constvalue) >= PG_INT32_MAX)
				return 0;
		}
		else if (strcmp(name, "floor") == 0 || strcmp(name, "ceil") == 0 ||
				 strcmp(name, "ceiling") == 0 || strcmp(name, "round") == 0 ||
				 strcmp(name, "trunc") == 0)
			col = 0;
		else if ((strcmp(name, "substring") == 0 || strcmp(name, "substr") == 0 ||
				  strcmp(name, "left") == 0) &&
				 exprType(linitial(f->args)) == TEXTOID)
		{
			/* by position only: the regular expression forms are filters */
			for (int i = 1; i < nargs; i++)
				if (!access_integer_type(exprType(list_nth(f->args, i))))
					return 0;
			col = 0;
		}
		else
			return 0;
		if (col >= nargs)
			return 0;
		for (int i = 0; i < nargs; i++)
			if (i != col && !access_const(list_nth(f->args, i)))
				return 0;
		return access_column_of(list_nth(f->args, col));
	}
}

/* A value of a type to try generalizations on, or NULL if none is known. */
static Const *
access_sample_value(Oid type)
{
	const char *text;
	char		category;
	bool		preferred;
	Oid			infunc;
	Oid			ioparam;

	get_type_category_preferred(getBaseType(type), &category, &preferred);
	switch (category)
	{
		case TYPCATEGORY_NUMERIC:
			text = "1";
			break;
		case TYPCATEGORY_STRING:
			text = "sample";
			break;
		case TYPCATEGORY_DATETIME:
			text = "2000-01-01";
			break;
		case TYPCATEGORY_TIMESPAN:
			text = "1 day";
			break;
		default:
			return NULL;
	}
	getTypeInputInfo(type, &infunc, &ioparam);
	return makeConst(type, -1, get_typcollation(type), get_typlen(type),
					 OidInputFunctionCall(infunc, (char *) text, ioparam, -1),
					 false, get_typbyval(type));
}

/* Mutator of access_try: the table's columns replaced by sample values. */
static Node *
access_try_mutator(Node *node, bool *ok)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Const	   *c = access_sample_value(((Var *) node)->vartype);

		if (c == NULL)
		{
			*ok = false;
			return node;
		}
		return (Node *) c;
	}
	return expression_tree_mutator(node, access_try_mutator, (void *) ok);
}

/*
 * Evaluate an expression of the table's columns on sample values, so that
 * an error of its constants (a unit date_trunc does not know, a pattern
 * that ends with an escape) is raised now, whatever the data.
 */
static void
access_try(Node *expr)
{
	bool		ok = true;
	Node	   *sample = access_try_mutator(copyObject(expr), &ok);

	if (ok)
		(void) evaluate_expr((Expr *) sample, exprType(expr), exprTypmod(expr),
							 exprCollation(expr));
}

/* The name of a column of the core's table. */
static const char *
access_column_name(AccessCore *core, AttrNumber attnum)
{
	return get_attname(core->relid, attnum, false);
}

/*
 * The column of a key, filter or metric expression, with its sensitivity;
 * refuses an expression that is not an allowed generalization of a column.
 */
static AttrNumber
access_expression(AccessCore *core, Node *expr, const char *role,
				  AnonSensitivity *sens, bool *labelled)
{
	AttrNumber	attnum = access_column_of(expr);
	AnonSensitivity s;
	bool		l;

	if (attnum == 0)
		access_refuse(core->relid,
					  psprintf("this %s expression", role),
					  "Keys, filters and metrics are columns, or date_trunc, extract, date_part, width_bucket, "
					  "floor, ceil, round, trunc, substring or left of a column with constant arguments, "
					  "numeric arithmetic with constants, or casts of them that cannot fail.");
	l = anon_policy_column(core->policy, access_column_name(core, attnum), &s);
	if (sens)
		*sens = s;
	if (labelled)
		*labelled = l;
	if (!IsA(expr, Var))
		access_try(expr);
	return attnum;
}

/*
 * The column of a metric of count, sum or avg: a column, or a cast of one
 * that cannot fail, and nothing else.  A generalization as a metric
 * (width_bucket, date_part, arithmetic) turns a sum into a count of the rows
 * in a range, or of those where it is NULL: a subset of any size.
 */
static AttrNumber
access_metric_column(AccessCore *core, Node *x)
{
	Node	   *node = x;

	for (;;)
	{
		if (IsA(node, RelabelType))
			node = (Node *) ((RelabelType *) node)->arg;
		else if (IsA(node, FuncExpr) &&
				 (((FuncExpr *) node)->funcformat == COERCE_EXPLICIT_CAST ||
				  ((FuncExpr *) node)->funcformat == COERCE_IMPLICIT_CAST) &&
				 list_length(((FuncExpr *) node)->args) == 1 &&
				 access_builtin_function(((FuncExpr *) node)->funcid) &&
				 access_safe_cast(exprType(linitial(((FuncExpr *) node)->args)),
								  ((FuncExpr *) node)->funcresulttype))
			node = linitial(((FuncExpr *) node)->args);
		else
			break;
	}
	if (!IsA(node, Var) || ((Var *) node)->varno != 1 ||
		((Var *) node)->varlevelsup != 0 || ((Var *) node)->varattno <= 0)
		access_refuse(core->relid, "this metric expression",
					  "The metric of count, sum and avg is a column, or a cast of one.");
	return ((Var *) node)->varattno;
}

/*
 * The column of a metric whose values are summed or averaged: not one the
 * labels call sensitive, nor the person column (a 0/1 column of a
 * sensitive trait summed is a count of the people who have it).
 */
static AttrNumber
access_value_column(AccessCore *core, Node *x)
{
	AttrNumber	attnum = access_metric_column(core, x);
	AnonSensitivity sens;
	bool		labelled = anon_policy_column(core->policy,
											  access_column_name(core, attnum), &sens);

	if (attnum == core->policy->subject_attnum ||
		(labelled && sens != ANON_NOT_SENSITIVE))
		access_refuse(core->relid,
					  psprintf("sums or means of column \"%s\", which is labelled sensitive",
							   access_column_name(core, attnum)),
					  "Sum and average columns that are not labelled, or labelled not_sensitive; "
					  "group or filter by sensitive ones.");
	return attnum;
}

/* Whether an aggregate is pg_catalog's function of that name. */
static bool
access_agg_is(Aggref *agg, const char *name)
{
	return access_builtin_function(agg->aggfnoid) &&
		strcmp(get_func_name(agg->aggfnoid), name) == 0;
}

/* Whether a type is one of this extension's (anonymize.sensitivity). */
static bool
access_extension_enum(Oid type)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	bool		ours;

	if (!HeapTupleIsValid(tup))
		return false;
	ours = ((Form_pg_type) GETSTRUCT(tup))->typnamespace == anon_schema_oid() &&
		((Form_pg_type) GETSTRUCT(tup))->typtype == TYPTYPE_ENUM;
	ReleaseSysCache(tup);
	return ours;
}

/* The value of a constant argument of a breakout; refuses anything else. */
static Const *
access_breakout_const(AccessCore *core, Node *arg, const char *what)
{
	if (arg && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	/* a sensitivity is a value of this extension's enum */
	if (arg && IsA(arg, Const) && access_extension_enum(((Const *) arg)->consttype))
		;
	else if (arg == NULL || !access_const(arg))
		access_refuse(core->relid,
					  psprintf("a breakout whose %s is not a constant", what),
					  "Give the threshold and sensitivity of anonymized_breakout as constants.");
	arg = eval_const_expressions(NULL, copyObject(arg));
	if (((Const *) arg)->constisnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return (Const *) arg;
}

/* The value of a constant threshold of any of the aggregate's forms. */
static float8
access_threshold_value(Const *k)
{
	switch (k->consttype)
	{
		case INT2OID:
			return DatumGetInt16(k->constvalue);
		case INT4OID:
			return DatumGetInt32(k->constvalue);
		case INT8OID:
			return (float8) DatumGetInt64(k->constvalue);
		case FLOAT8OID:
			return DatumGetFloat8(k->constvalue);
		case FLOAT4OID:
			return DatumGetFloat4(k->constvalue);
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, k->constvalue));
		default:
			break;
	}
	return -1;					/* refused as below the table's */
}

/* The value of a constant sensitivity, of the enum or as its label. */
static AnonSensitivity
access_sensitivity_value(Const *c)
{
	const char *label;

	if (access_extension_enum(c->consttype))
		return anon_sensitivity_from_oid(DatumGetObjectId(c->constvalue));
	if (c->consttype != TEXTOID && c->consttype != VARCHAROID)
		return ANON_NOT_SENSITIVE;	/* refused as below the label's */
	label = TextDatumGetCString(c->constvalue);
	if (strcmp(label, "very_sensitive") == 0)
		return ANON_VERY_SENSITIVE;
	if (strcmp(label, "somewhat_sensitive") == 0)
		return ANON_SOMEWHAT_SENSITIVE;
	if (strcmp(label, "not_sensitive") == 0)
		return ANON_NOT_SENSITIVE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid sensitivity"),
			 errhint("Available values: not_sensitive, somewhat_sensitive, very_sensitive.")));
	return ANON_VERY_SENSITIVE;	/* keep compiler quiet */
}

/*
 * Check a call of anonymized_breakout in a core: keys and metric are
 * columns (or generalizations), and neither its threshold nor its
 * sensitivities are below the table's.  It runs with the table's threshold
 * and person column, and sensitivities no lower than the labels'.
 */
static void
access_check_breakout(AccessCore *core, AccessAgg *a)
{
	List	   *args = NIL;
	ListCell   *lc;
	int			nargs;
	int			nkeys;

	foreach(lc, a->ref->args)
		args = lappend(args, ((TargetEntry *) lfirst(lc))->expr);
	nargs = list_length(args);
	nkeys = nargs == 6 ? 2 : 1;
	if (core->nkeys > 0)
		access_refuse(core->relid, "anonymized_breakout in a query with GROUP BY",
					  "Call it over the whole table, or use GROUP BY with count, sum and avg instead.");
	if (nkeys == 2 && core->policy->subject)
		access_refuse(core->relid, "a breakout by two fields on a table counted by people", NULL);
	a->kind = ACCESS_BREAKOUT;
	a->nbkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
	{
		a->bkeys[i] = list_nth(args, i);
		access_expression(core, a->bkeys[i], "key", &a->bsens[i], NULL);
	}
	a->bmetric = list_nth(args, nkeys);
	if (IsA(a->bmetric, Const) && ((Const *) a->bmetric)->constisnull)
		a->bmetric = NULL;
	else
		access_value_column(core, a->bmetric);

	if (nargs > nkeys + 1)
	{
		Const	   *k = access_breakout_const(core, list_nth(args, nkeys + 1), "threshold");

		if (access_threshold_value(k) < core->policy->threshold)
			access_refuse(core->relid,
						  psprintf("a breakout with a threshold below the table's (%d)",
								   core->policy->threshold),
						  NULL);
	}
	for (int i = 0; i < nkeys && nargs > nkeys + 2 + i; i++)
	{
		Const	   *sens = access_breakout_const(core, list_nth(args, nkeys + 2 + i), "sensitivity");
		AnonSensitivity given = access_sensitivity_value(sens);

		if (given < a->bsens[i])
			access_refuse(core->relid, "a breakout at a sensitivity below the label's", NULL);
		a->bsens[i] = given;
	}
	a->bsubject = NULL;
	if (nkeys == 1 && nargs == 5)
	{
		a->bsubject = list_nth(args, 4);
		if (core->policy->subject &&
			access_column_of(a->bsubject) != core->policy->subject_attnum)
			access_refuse(core->relid, "a breakout counting another column than the person column", NULL);
		access_expression(core, a->bsubject, "subject", NULL, NULL);
	}
}

/* Check one aggregate of a core and add it to the core's list. */
static void
access_add_aggregate(AccessCore *core, Aggref *agg)
{
	AccessAgg  *a;
	ListCell   *lc;
	Node	   *arg = NULL;

	foreach(lc, core->aggs)
		if (equal(((AccessAgg *) lfirst(lc))->ref, agg))
			return;

	if (agg->agglevelsup != 0 || agg->aggkind != AGGKIND_NORMAL ||
		agg->aggfilter != NULL || agg->aggorder != NIL ||
		agg->aggdirectargs != NIL || agg->aggvariadic)
		access_refuse(core->relid, "aggregates with FILTER, ORDER BY or WITHIN GROUP", NULL);
	if (list_length(agg->args) == 1)
		arg = (Node *) ((TargetEntry *) linitial(agg->args))->expr;

	a = palloc0(sizeof(AccessAgg));
	a->ref = agg;
	a->arg = arg;
	a->metric = -1;
	a->present = -1;
	a->rows = -1;
	if (access_agg_is(agg, "count") &&
		(agg->aggstar || (arg && IsA(arg, Const) && !((Const *) arg)->constisnull &&
						  agg->aggdistinct == NIL)))
		a->kind = ACCESS_ROWS;	/* count(*), count(1) */
	else if (access_agg_is(agg, "count") && arg && agg->aggdistinct != NIL)
	{
		AttrNumber	attnum = access_column_of(arg);

		if (core->policy->subject == NULL || attnum == 0 ||
			attnum != core->policy->subject_attnum || !IsA(strip_implicit_coercions(arg), Var))
			access_refuse(core->relid, "count(DISTINCT ...) other than of the person column",
						  "count(DISTINCT person) counts the people of a group, where the table has a person column (anonymize.label_subject).");
		a->kind = ACCESS_PEOPLE;
	}
	else if (agg->aggdistinct != NIL)
		access_refuse(core->relid, "DISTINCT in aggregates", NULL);
	else if (get_func_namespace(agg->aggfnoid) == anon_schema_oid() &&
			 strcmp(get_func_name(agg->aggfnoid), "anonymized_breakout") == 0)
		access_check_breakout(core, a);
	else if (access_agg_is(agg, "count") && arg)
	{
		access_metric_column(core, arg);
		a->kind = ACCESS_COUNT;
	}
	else if ((access_agg_is(agg, "sum") || access_agg_is(agg, "avg")) && arg &&
			 access_number_type(exprType(arg)))
	{
		access_value_column(core, arg);
		a->kind = access_agg_is(agg, "sum") ? ACCESS_SUM : ACCESS_AVG;
	}
	else
		access_refuse(core->relid,
					  psprintf("the aggregate %s", format_procedure(agg->aggfnoid)),
					  "count(*), count(column), count(DISTINCT person), and sum and avg of numbers are allowed; "
					  "min, max and the like show one person's value.");
	core->aggs = lappend(core->aggs, a);
}

/*
 * Walker over the target list and HAVING of a core: everything made of the
 * keys, allowed aggregates, constants and parameters; no other column.
 */
static bool
access_output_walker(Node *node, AccessCore *core)
{
	if (node == NULL)
		return false;
	for (int i = 0; i < core->nkeys; i++)
		if (equal(node, core->keys[i]))
			return false;
	if (IsA(node, Aggref))
	{
		access_add_aggregate(core, (Aggref *) node);
		return false;
	}
	if (IsA(node, Var))
		access_refuse(core->relid, "columns outside aggregates that are not grouped by", NULL);
	if (IsA(node, GroupingFunc))
		access_refuse(core->relid, "GROUPING()", NULL);
	if (IsA(node, SubLink) || IsA(node, WindowFunc))
		access_refuse(core->relid, "subqueries or window functions", NULL);
	return expression_tree_walker(node, access_output_walker, (void *) core);
}

/*
 * Whether a value of a type may be given in a filter: the type is built in,
 * or that of a column of the table (its owner's), or an array of either.
 * The table's owner reads the value again, and the input function or a
 * domain's check of a type of the caller's would run with its rights.
 */
static bool
access_value_type(AccessCore *core, Oid type)
{
	Oid			elem = get_element_type(type);
	Relation	rel;
	bool		found = false;

	if (type < FirstNormalObjectId)
		return true;
	if (OidIsValid(elem))
		return access_value_type(core, elem);
	rel = RelationIdGetRelation(core->relid);
	for (int i = 0; i < RelationGetDescr(rel)->natts && !found; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), i);

		found = !att->attisdropped && att->atttypid == type;
	}
	RelationClose(rel);
	return found;
}

/* Whether a node is a value given by the query: a constant or a parameter. */
static bool
access_value(AccessCore *core, Node *node)
{
	if (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node == NULL || !access_value_type(core, exprType(node)))
		return false;
	if (IsA(node, Const))
		return true;
	return IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN;
}

/* Whether an array of an IN list is made of values given by the query. */
static bool
access_values(AccessCore *core, Node *node)
{
	ListCell   *lc;

	if (access_value(core, node))
		return true;
	if (node == NULL || !IsA(node, ArrayExpr) ||
		!access_value_type(core, exprType(node)))
		return false;
	foreach(lc, ((ArrayExpr *) node)->elements)
		if (!access_value(core, lfirst(lc)))
			return false;
	return true;
}

/* Whether an operator is a built-in comparison; *eq says whether it is =. */
static bool
access_comparison(Oid opno, bool *eq, bool *like)
{
	const char *name;

	if (opno >= FirstNormalObjectId)
		return false;
	name = get_opname(opno);
	if (name == NULL || get_func_namespace(get_opcode(opno)) != PG_CATALOG_NAMESPACE)
		return false;
	*eq = strcmp(name, "=") == 0;
	*like = strcmp(name, "~~") == 0 || strcmp(name, "!~~") == 0 ||
		strcmp(name, "~~*") == 0 || strcmp(name, "!~~*") == 0;
	return *eq || *like || strcmp(name, "<>") == 0 || strcmp(name, "<") == 0 ||
		strcmp(name, ">") == 0 || strcmp(name, "<=") == 0 || strcmp(name, ">=") == 0;
}

/*
 * Check the column side of a filter: labelled; on a very_sensitive column
 * only equality (eq), and the filter is guarded.
 */
static void
access_filter_column(AccessCore *core, Node *leaf, Node *column, bool eq)
{
	AnonSensitivity sens;
	bool		labelled;
	AttrNumber	attnum = access_expression(core, column, "filter", &sens, &labelled);

	if (!labelled)
		access_refuse(core->relid,
					  psprintf("filters on column \"%s\", which is not labelled",
							   access_column_name(core, attnum)),
					  "Only labelled columns can be filtered on (anonymize.label).");
	if (sens != ANON_NOT_SENSITIVE)
		core->sensitive_filter = true;
	if (sens == ANON_VERY_SENSITIVE)
	{
		AccessGuard *g = palloc(sizeof(AccessGuard));

		if (!eq)
			access_refuse(core->relid,
						  psprintf("this filter on very_sensitive column \"%s\"",
								   access_column_name(core, attnum)),
						  "A very_sensitive column is filtered only by = or IN (...).");
		g->leaf = leaf;
		g->column = column;
		core->guards = lappend(core->guards, g);
	}
}

/*
 * Refuse a LIKE pattern that would raise an error only on some values (one
 * that ends with the escape character): the error would tell the data.
 */
static void
access_check_pattern(AccessCore *core, Const *pattern)
{
	const char *p;
	int			len;
	int			escapes = 0;

	if (pattern->constisnull)
		return;
	if (pattern->consttype != TEXTOID && pattern->consttype != VARCHAROID &&
		pattern->consttype != BPCHAROID && pattern->consttype != NAMEOID)
		access_refuse(core->relid, "LIKE of a pattern that is not text", NULL);
	p = pattern->consttype == NAMEOID ? NameStr(*DatumGetName(pattern->constvalue)) :
		TextDatumGetCString(pattern->constvalue);
	len = strlen(p);
	while (escapes < len && p[len - 1 - escapes] == '\\')
		escapes++;
	if (escapes % 2 == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_ESCAPE_SEQUENCE),
				 errmsg("LIKE pattern must not end with escape character")));
}

/* Check the WHERE clause of a core: see the comment at the top. */
static void
access_check_filter(AccessCore *core, Node *node)
{
	bool		eq;
	bool		like;

	switch (nodeTag(node))
	{
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) node;
				ListCell   *lc;

				if (b->boolop == NOT_EXPR)
					access_refuse(core->relid, "NOT in filters",
								  "Write the comparison the other way (<>, NOT IN, NOT LIKE).");
				foreach(lc, b->args)
					access_check_filter(core, lfirst(lc));
				return;
			}
		case T_OpExpr:
			{
				OpExpr	   *op = (OpExpr *) node;
				Node	   *l = list_length(op->args) == 2 ? linitial(op->args) : NULL;
				Node	   *r = list_length(op->args) == 2 ? lsecond(op->args) : NULL;

				if (l && r && access_comparison(op->opno, &eq, &like))
				{
					if (access_value(core, r) && !access_value(core, l) &&
						(!like || IsA(r, Const)))
					{
						access_filter_column(core, node, l, eq);
						if (like)
							access_check_pattern(core, (Const *) r);
						return;
					}
					if (!like && access_value(core, l) && !access_value(core, r))
					{
						access_filter_column(core, node, r, eq);
						return;
					}
				}
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *s = (ScalarArrayOpExpr *) node;

				if (access_comparison(s->opno, &eq, &like) && !like &&
					(eq ? s->useOr : !s->useOr) &&
					(eq || strcmp(get_opname(s->opno), "<>") == 0) &&
					access_values(core, lsecond(s->args)))
				{
					access_filter_column(core, node, linitial(s->args), eq);
					return;
				}
				break;
			}
		case T_NullTest:
			{
				NullTest   *n = (NullTest *) node;

				if (!n->argisrow)
				{
					access_filter_column(core, node, (Node *) n->arg, false);
					return;
				}
				break;
			}
		default:
			break;
	}
	access_refuse(core->relid, "this filter",
				  "Filters are comparisons (=, <>, <, >, <=, >=, IN, NOT IN, BETWEEN, IS NULL, LIKE with a constant pattern) "
				  "of a labelled column with constants or parameters, combined with AND and OR.");
}

/*
 * On a table of people, refuse an answer that shows both how many people
 * and how many rows a group has (count(DISTINCT person) next to count(*),
 * count(col), or sum and avg of one column): their difference is how many
 * more rows its people have, down to one person's.
 */
static void
access_check_people(AccessCore *core)
{
	ListCell   *lc;
	bool		people = false;
	bool		rows = false;

	if (core->policy->subject == NULL)
		return;
	foreach(lc, core->aggs)
	{
		AccessAgg  *a = lfirst(lc);

		people |= a->kind == ACCESS_PEOPLE;
		rows |= a->kind == ACCESS_ROWS || a->kind == ACCESS_COUNT ||
			((a->kind == ACCESS_SUM || a->kind == ACCESS_AVG) &&
			 access_reveals_present(core, a->arg));
	}
	if (people && rows)
		access_refuse(core->relid, "counts of people next to counts of rows",
					  "On a table of people, ask for count(DISTINCT person), or for counts of rows, in separate queries.");
}

/*
 * Check that a query level is a core over the anonymized table relid and
 * describe it.  direct: the query is anonymized_query's own (no ORDER BY,
 * HAVING or LIMIT may be left in it).
 */
static AccessCore *
access_check_core(Query *q, Oid relid, bool direct)
{
	AccessCore *core = palloc0(sizeof(AccessCore));
	RangeTblEntry *rte;
	ListCell   *lc;

	core->query = q;
	core->relid = relid;
	core->relname = get_rel_name(relid);
	core->policy = anon_policy_read(relid);
	if (core->policy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not anonymized", core->relname),
				 errhint("Label it first with anonymize.label().")));
	if (core->policy->subject && core->policy->subject_attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the person column \"%s\" of table \"%s\" does not exist",
						core->policy->subject, core->relname),
				 errhint("Name the person column again with anonymize.label_subject().")));
	if (get_rel_relkind(relid) != RELKIND_RELATION &&
		get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		access_refuse(relid, "reading it: it is not a table", NULL);

	if (list_length(q->rtable) != 1 || list_length(q->jointree->fromlist) != 1 ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef))
		access_refuse(relid, "joins or other tables in the same query", NULL);
	rte = linitial(q->rtable);
	if (rte->tablesample)
		access_refuse(relid, "TABLESAMPLE", NULL);
	if (q->hasWindowFuncs)
		access_refuse(relid, "window functions", NULL);
	if (q->hasSubLinks)
		access_refuse(relid, "subqueries in expressions (IN, EXISTS, scalar subqueries)", NULL);
	if (q->distinctClause != NIL)
		access_refuse(relid, "DISTINCT or DISTINCT ON", NULL);
	if (q->groupingSets != NIL || q->groupDistinct)
		access_refuse(relid, "GROUPING SETS, ROLLUP or CUBE", NULL);
	if (q->rowMarks != NIL || q->hasForUpdate)
		access_refuse(relid, "FOR UPDATE or FOR SHARE", NULL);
	if (q->cteList != NIL || q->setOperations)
		access_refuse(relid, "WITH queries or set operations", NULL);
	if (get_rel_relkind(relid) == RELKIND_RELATION || get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
	{
		Relation	r = RelationIdGetRelation(relid);
		bool		rls = r->rd_rel->relrowsecurity;

		RelationClose(r);
		if (rls)
			access_refuse(relid, "queries while row level security is enabled on it",
						  "Anonymized queries run as the table's owner; give the grantee a table of its own rows instead.");
	}
	if (!q->hasAggs && q->groupClause == NIL)
		access_refuse(relid, "reading its rows",
					  "Anonymized access allows SELECT ... GROUP BY of at most two labelled columns, "
					  "with count, sum and avg.");
	if (direct && (q->sortClause != NIL || q->havingQual || q->limitCount ||
				   q->limitOffset))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the query of anonymized_query cannot have ORDER BY, HAVING, LIMIT or OFFSET"),
				 errhint("Apply them to the result of anonymized_query.")));

	if (list_length(q->groupClause) > 2)
		access_refuse(relid, "GROUP BY of more than two columns", NULL);
	foreach(lc, q->groupClause)
	{
		SortGroupClause *sgc = lfirst(lc);
		TargetEntry *tle = get_sortgroupclause_tle(sgc, q->targetList);
		int			i = core->nkeys++;

		core->keys[i] = (Node *) tle->expr;
		access_expression(core, core->keys[i], "key", &core->keysens[i], NULL);
		if (i == 1 && equal(core->keys[0], core->keys[1]))
			access_refuse(relid, "GROUP BY of the same key twice", NULL);
	}
	if (core->nkeys == 2 && core->policy->subject)
		access_refuse(relid, "GROUP BY of two columns on a table counted by people",
					  "Group by one column: the two-column rule counts rows.");

	foreach(lc, q->targetList)
	{
		Node	   *expr = (Node *) ((TargetEntry *) lfirst(lc))->expr;

		/* anonymized_query answers keys and aggregates, not expressions of them */
		if (direct && !IsA(expr, Aggref) &&
			!equal(expr, core->keys[0]) && !(core->nkeys > 1 && equal(expr, core->keys[1])))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the query of anonymized_query selects only its keys and aggregates"),
					 errhint("Compute expressions of them over the result of anonymized_query.")));
		(void) access_output_walker(expr, core);
	}
	(void) access_output_walker(q->havingQual, core);
	access_check_people(core);
	if (q->jointree->quals)
		access_check_filter(core, q->jointree->quals);

	/*
	 * Under a filter on a sensitive column, the groups of a not_sensitive key
	 * are as small as the filter makes them: hide them under k.
	 */
	if (core->sensitive_filter)
	{
		for (int i = 0; i < core->nkeys; i++)
			core->keysens[i] = Max(core->keysens[i], ANON_SOMEWHAT_SENSITIVE);
		foreach(lc, core->aggs)
		{
			AccessAgg  *a = lfirst(lc);

			for (int i = 0; i < a->nbkeys; i++)
				a->bsens[i] = Max(a->bsens[i], ANON_SOMEWHAT_SENSITIVE);
		}
	}
	return core;
}

/*
 * Fix the settings that change how a query is written or read back (names
 * of objects, literals of dates, intervals and floats), so that a core read
 * again means what it meant; returns the nest level for AtEOXact_GUC.  The
 * time zone stays the session's: date_trunc of a timestamptz depends on it.
 */
static int
access_fixed_settings(void)
{
	int			nest = anon_literal_settings();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Mutator of access_renumber: parameters numbered in order of appearance. */
static Node *
access_renumber_mutator(Node *node, List **params)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
	{
		Param	   *p = (Param *) copyObject(node);
		ListCell   *lc;
		int			i = 0;

		foreach(lc, *params)
		{
			i++;
			if (((Param *) lfirst(lc))->paramid == p->paramid)
			{
				p->paramid = i;
				return (Node *) p;
			}
		}
		*params = lappend(*params, copyObject(node));
		p->paramid = list_length(*params);
		return (Node *) p;
	}
	return expression_tree_mutator(node, access_renumber_mutator, (void *) params);
}

/* Mutator of the rest of a rewritten query: keys and aggregates as columns. */
static Node *
access_output_mutator(Node *node, AccessCore *core)
{
	ListCell   *lc;
	int			j = 0;

	if (node == NULL)
		return NULL;
	for (int i = 0; i < core->nkeys; i++)
		if (equal(node, core->keys[i]))
			return (Node *) makeVar(1, i + 1, exprType(node), exprTypmod(node),
									exprCollation(node), 0);
	if (IsA(node, Aggref))
	{
		foreach(lc, core->aggs)
		{
			AccessAgg  *a = lfirst(lc);

			j++;
			if (equal(a->ref, node))
				return (Node *) makeVar(1, core->nkeys + j, a->ref->aggtype, -1,
										a->ref->aggcollid, 0);
		}
		elog(ERROR, "aggregate of an anonymized query not found");
	}
	if (IsA(node, Var))
		elog(ERROR, "column of an anonymized query outside its keys");
	return expression_tree_mutator(node, access_output_mutator, (void *) core);
}

/* OID of anonymize.anonymized_query(text[, VARIADIC "any"]). */
static Oid
access_query_function(bool with_params)
{
	Oid			argtypes[2] = {TEXTOID, ANYOID};
	Oid			fn;

	/* no USAGE on the schema is needed: the call is by OID */
	fn = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						 CStringGetDatum("anonymized_query"),
						 PointerGetDatum(buildoidvector(argtypes, with_params ? 2 : 1)),
						 ObjectIdGetDatum(anon_schema_oid()));
	if (!OidIsValid(fn))
		elog(ERROR, "function anonymize.anonymized_query does not exist");
	return fn;
}

/*
 * The text of a core: its keys and aggregates, table and filter, with the
 * parameters it uses numbered from $1 (their nodes returned in *params).
 */
static char *
access_core_text(AccessCore *core, List **params)
{
	Query	   *cq = copyObject(core->query);
	List	   *tl = NIL;
	ListCell   *lc;
	int			resno = 1;
	char	   *text;
	int			nest;

	foreach(lc, cq->groupClause)
	{
		SortGroupClause *sgc = lfirst(lc);
		TargetEntry *tle = get_sortgroupclause_tle(sgc, cq->targetList);
		TargetEntry *key = makeTargetEntry(tle->expr, resno,
										   psprintf("key%d", resno), false);

		key->ressortgroupref = tle->ressortgroupref;
		tl = lappend(tl, key);
		resno++;
	}
	foreach(lc, core->aggs)
	{
		tl = lappend(tl, makeTargetEntry((Expr *) copyObject(((AccessAgg *) lfirst(lc))->ref),
										 resno, psprintf("agg%d", resno - core->nkeys), false));
		resno++;
	}
	cq->targetList = tl;
	cq->sortClause = NIL;
	cq->havingQual = NULL;
	cq->limitCount = NULL;
	cq->limitOffset = NULL;
	cq->limitOption = LIMIT_OPTION_DEFAULT;
	cq->hasAggs = core->aggs != NIL;
	cq->targetList = (List *) access_renumber_mutator((Node *) cq->targetList, params);
	cq->jointree->quals = access_renumber_mutator(cq->jointree->quals, params);

	nest = access_fixed_settings();
	text = pg_get_querydef(cq, false);
	AtEOXact_GUC(true, nest);
	return text;
}

/*
 * Replace a core in place by a query on anonymized_query: the core's keys
 * and aggregates become the function's columns, HAVING becomes its WHERE,
 * and the target list, ORDER BY and LIMIT stay.
 */
static void
access_rewrite_core(Query *q, Oid relid)
{
	AccessCore *core;
	List	   *params = NIL;
	char	   *text;
	List	   *args;
	List	   *names = NIL;
	List	   *types = NIL;
	List	   *typmods = NIL;
	List	   *collations = NIL;
	ListCell   *lc;
	FuncExpr   *func;
	RangeTblFunction *rtf = makeNode(RangeTblFunction);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	RangeTblRef *rtr;

	if (++access_cores > 1)
		access_refuse_many();
	core = access_check_core(q, relid, false);
	text = access_core_text(core, &params);
	args = lcons(makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
						   CStringGetTextDatum(text), false, false), params);
	func = makeFuncExpr(access_query_function(params != NIL), RECORDOID, args,
						InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
	func->funcretset = true;

	for (int i = 0; i < core->nkeys; i++)
	{
		names = lappend(names, makeString(psprintf("key%d", i + 1)));
		types = lappend_oid(types, exprType(core->keys[i]));
		typmods = lappend_int(typmods, exprTypmod(core->keys[i]));
		collations = lappend_oid(collations, exprCollation(core->keys[i]));
	}
	foreach(lc, core->aggs)
	{
		AccessAgg  *a = lfirst(lc);

		names = lappend(names, makeString(psprintf("agg%d", list_length(names) - core->nkeys + 1)));
		types = lappend_oid(types, a->ref->aggtype);
		typmods = lappend_int(typmods, -1);
		collations = lappend_oid(collations, a->ref->aggcollid);
	}
	rtf->funcexpr = (Node *) func;
	rtf->funccolcount = list_length(names);
	rtf->funccolnames = names;
	rtf->funccoltypes = types;
	rtf->funccoltypmods = typmods;
	rtf->funccolcollations = collations;
	rte->rtekind = RTE_FUNCTION;
	rte->functions = list_make1(rtf);
	rte->eref = makeAlias("anonymized", names);
	rte->inFromCl = true;

	q->targetList = (List *) access_output_mutator((Node *) q->targetList, core);
	rtr = makeNode(RangeTblRef);
	rtr->rtindex = 1;
	q->jointree = makeFromExpr(list_make1(rtr),
							   access_output_mutator(q->havingQual, core));
	q->havingQual = NULL;
	q->groupClause = NIL;
	q->hasAggs = false;
	q->constraintDeps = NIL;
	q->rtable = list_make1(rte);
}

/* The SQL text of an expression of the core's table. */
static char *
access_deparse(AccessCore *core, Node *expr)
{
	return deparse_expression(expr, deparse_context_for(core->relname, core->relid),
							  false, true);
}

/* The table of a core as FROM names it. */
static char *
access_from(AccessCore *core)
{
	RangeTblEntry *rte = linitial(core->query->rtable);

	return psprintf("%s%s", rte->inh ? "" : "ONLY ",
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(core->relid)),
											   core->relname));
}

/*
 * Write the filter of a core, each filter on a very_sensitive column
 * guarded: it matches only values that hold at least k rows (people) of the
 * whole table.
 */
static void
access_write_filter(StringInfo buf, AccessCore *core, Node *node)
{
	ListCell   *lc;

	if (IsA(node, BoolExpr))
	{
		BoolExpr   *b = (BoolExpr *) node;
		bool		first = true;

		appendStringInfoChar(buf, '(');
		foreach(lc, b->args)
		{
			if (!first)
				appendStringInfoString(buf, b->boolop == AND_EXPR ? " AND " : " OR ");
			first = false;
			access_write_filter(buf, core, lfirst(lc));
		}
		appendStringInfoChar(buf, ')');
		return;
	}
	foreach(lc, core->guards)
	{
		AccessGuard *g = lfirst(lc);

		if (g->leaf == node)
		{
			char	   *leaf = access_deparse(core, node);
			char	   *col = access_deparse(core, g->column);

			appendStringInfo(buf, "(%s AND %s IN (SELECT %s FROM %s WHERE %s GROUP BY 1 HAVING %s >= %d))",
							 leaf, col, col, access_from(core), leaf,
							 core->policy->subject ?
							 psprintf("pg_catalog.count(DISTINCT %s)",
									  quote_identifier(core->policy->subject)) :
							 "pg_catalog.count(*)",
							 core->policy->threshold);
			return;
		}
	}
	appendStringInfoString(buf, access_deparse(core, node));
}

/* Name of a sensitivity as the enum spells it. */
static const char *
access_sensitivity_name(AnonSensitivity s)
{
	switch (s)
	{
		case ANON_NOT_SENSITIVE:
			return "not_sensitive";
		case ANON_SOMEWHAT_SENSITIVE:
			return "somewhat_sensitive";
		case ANON_VERY_SENSITIVE:
			break;
	}
	return "very_sensitive";
}

/* The text of a metric: x as double precision, NULL for no metric. */
static char *
access_metric_text(AccessCore *core, Node *x)
{
	char	   *text;

	if (x == NULL)
		return "NULL::pg_catalog.float8";
	text = access_deparse(core, x);
	/* a numeric out of double precision's range would raise: NaN hides it */
	if (exprType(x) == NUMERICOID)
		return psprintf("CASE WHEN (%s) IS NULL THEN NULL::pg_catalog.float8 "
						"WHEN (%s) = 0 THEN 0::pg_catalog.float8 "
						"WHEN pg_catalog.abs(%s) > 1e-300 AND pg_catalog.abs(%s) < 1e300 "
						"THEN (%s)::pg_catalog.float8 "
						"ELSE 'NaN'::pg_catalog.float8 END", text, text, text, text, text);
	return psprintf("(%s)::pg_catalog.float8", text);
}

/*
 * Write one call of anonymized_breakout: by nkeys keys (0: the total), with
 * the table's threshold and person column (subject: another column to count
 * by where the table has none, or NULL).
 */
static void
access_write_breakout(StringInfo buf, AccessCore *core, int nkeys, Node **keys,
					  AnonSensitivity *sens, const char *metric, Node *subject)
{
	const char *nsp = quote_identifier(get_namespace_name(anon_schema_oid()));
	const char *subj = core->policy->subject ? quote_identifier(core->policy->subject) :
		subject ? access_deparse(core, subject) : NULL;

	if (nkeys == 2)
		appendStringInfo(buf, "%s.anonymized_breakout(%s, %s, %s, %d, '%s'::%s.sensitivity, '%s'::%s.sensitivity)",
						 nsp, access_deparse(core, keys[0]), access_deparse(core, keys[1]),
						 metric, core->policy->threshold,
						 access_sensitivity_name(sens[0]), nsp,
						 access_sensitivity_name(sens[1]), nsp);
	else
		appendStringInfo(buf, "%s.anonymized_breakout(%s, %s, %d, '%s'::%s.sensitivity%s%s)",
						 nsp, nkeys == 1 ? access_deparse(core, keys[0]) : "true",
						 metric, core->policy->threshold,
						 nkeys == 1 ? access_sensitivity_name(sens[0]) : "not_sensitive",
						 nsp, subj ? ", " : "", subj ? subj : "");
}

/* The index of a metric in a list of distinct metrics, added if new. */
static int
access_metric_index(List **metrics, char *metric)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, *metrics)
	{
		if (strcmp(lfirst(lc), metric) == 0)
			return i;
		i++;
	}
	*metrics = lappend(*metrics, metric);
	return i;
}

/*
 * Whether an expression of the table's columns is never NULL: a NOT NULL
 * column, through casts, numeric arithmetic and floor/ceil/round/trunc.
 * (extract and date_part can be NULL for infinite values.)
 */
static bool
access_never_null(AccessCore *core, Node *node)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			{
				HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(core->relid),
												  Int16GetDatum(((Var *) node)->varattno));
				bool		notnull;

				if (!HeapTupleIsValid(tup))
					return false;
				notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
				ReleaseSysCache(tup);
				return notnull;
			}
		case T_RelabelType:
			return access_never_null(core, (Node *) ((RelabelType *) node)->arg);
		case T_CoerceViaIO:
			return access_never_null(core, (Node *) ((CoerceViaIO *) node)->arg);
		case T_OpExpr:
			{
				OpExpr	   *op = (OpExpr *) node;

				return list_length(op->args) == 2 &&
					(access_const(linitial(op->args)) ?
					 access_never_null(core, lsecond(op->args)) :
					 access_never_null(core, linitial(op->args)));
			}
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;
				const char *name = get_func_name(f->funcid);

				if (f->funcformat == COERCE_EXPLICIT_CAST || f->funcformat == COERCE_IMPLICIT_CAST ||
					strcmp(name, "floor") == 0 || strcmp(name, "ceil") == 0 ||
					strcmp(name, "ceiling") == 0 || strcmp(name, "round") == 0 ||
					strcmp(name, "trunc") == 0)
					return access_never_null(core, linitial(f->args));
				return false;
			}
		default:
			return false;
	}
}

/*
 * Whether a core's answer shows how many rows have a value of x: count(x),
 * or both sum(x) and avg(x).
 */
static bool
access_reveals_present(AccessCore *core, Node *x)
{
	bool		sum = false;
	bool		avg = false;
	ListCell   *lc;

	foreach(lc, core->aggs)
	{
		AccessAgg  *a = lfirst(lc);

		/* another cast of the same column has the same rows with a value */
		if (a->arg == NULL ||
			(a->kind != ACCESS_COUNT && a->kind != ACCESS_SUM && a->kind != ACCESS_AVG) ||
			access_metric_column(core, a->arg) != access_metric_column(core, x))
			continue;
		if (a->kind == ACCESS_COUNT)
			return true;
		sum |= a->kind == ACCESS_SUM;
		avg |= a->kind == ACCESS_AVG;
	}
	return sum && avg;
}

/* The metric counting the rows where x is not NULL. */
static char *
access_present_text(AccessCore *core, Node *x)
{
	return psprintf("CASE WHEN (%s) IS NULL THEN NULL ELSE 1::pg_catalog.float8 END",
					x ? access_deparse(core, x) : "NULL");
}

#define ACCESS_ONES "1::pg_catalog.float8"

/*
 * The query that answers a core: one anonymized_breakout by the core's keys
 * per distinct metric, then the core's own calls of anonymized_breakout
 * (each with the breakouts counting its rows with a value, and its rows on
 * a table of people), all with the table's threshold and the keys'
 * sensitivities, over the filtered rows.  Sets each aggregate's columns in
 * that query; returns the number of breakouts by the core's keys in
 * *nmetrics.
 */
static char *
access_breakout_sql(AccessCore *core, int *nmetrics)
{
	StringInfoData buf;
	List	   *metrics = NIL;
	ListCell   *lc;
	int			m = 0;
	bool		people = core->policy->subject != NULL;

	foreach(lc, core->aggs)
	{
		AccessAgg  *a = lfirst(lc);

		if (a->kind == ACCESS_ROWS && people)
			a->metric = access_metric_index(&metrics, ACCESS_ONES);
		else if (a->kind == ACCESS_COUNT || a->kind == ACCESS_SUM || a->kind == ACCESS_AVG)
		{
			/*
			 * The rows with a value of x are shown by count(x), and follow
			 * from sum(x) / avg(x): only then does the rule on rows without
			 * a value apply, and need them counted.  A metric that is never
			 * NULL has none.
			 */
			bool		rule = access_reveals_present(core, a->arg) &&
				!access_never_null(core, a->arg);

			if (a->kind == ACCESS_COUNT || rule)
				a->present = access_metric_index(&metrics, access_present_text(core, a->arg));
			a->metric = a->kind == ACCESS_COUNT ? a->present :
				access_metric_index(&metrics, access_metric_text(core, a->arg));
			if (!rule)
				a->present = -1;
			else if (people)
				a->rows = access_metric_index(&metrics, ACCESS_ONES);
		}
	}
	if (metrics == NIL)
		metrics = list_make1("NULL::pg_catalog.float8");
	*nmetrics = list_length(metrics);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	foreach(lc, metrics)
	{
		if (m++ > 0)
			appendStringInfoString(&buf, ", ");
		access_write_breakout(&buf, core, core->nkeys, core->keys, core->keysens,
							  lfirst(lc), NULL);
	}
	foreach(lc, core->aggs)
	{
		AccessAgg  *a = lfirst(lc);

		if (a->kind != ACCESS_BREAKOUT)
			continue;
		appendStringInfoString(&buf, ", ");
		access_write_breakout(&buf, core, a->nbkeys, a->bkeys, a->bsens,
							  access_metric_text(core, a->bmetric), a->bsubject);
		a->metric = m++;
		appendStringInfoString(&buf, ", ");
		access_write_breakout(&buf, core, a->nbkeys, a->bkeys, a->bsens,
							  access_present_text(core, a->bmetric), a->bsubject);
		a->present = m++;
		if (people || a->bsubject)
		{
			appendStringInfoString(&buf, ", ");
			access_write_breakout(&buf, core, a->nbkeys, a->bkeys, a->bsens,
								  ACCESS_ONES, a->bsubject);
			a->rows = m++;
		}
	}
	appendStringInfo(&buf, " FROM %s", access_from(core));
	if (core->query->jointree->quals)
	{
		appendStringInfoString(&buf, " WHERE ");
		access_write_filter(&buf, core, core->query->jointree->quals);
	}
	return buf.data;
}

/* One group (or cell) of a breakout's result, read from its composite. */
typedef struct AccessGroup
{
	bool		hidden;			/* status hidden: not returned at all */
	char	   *labels[2];		/* keys' text forms; NULL for a NULL key */
	bool		has_n;
	int64		n;
	bool		has_mean;
	float8		mean;
	bool		has_sum;
	float8		sum;
} AccessGroup;

/* A composite datum as a tuple to read with heap_getattr. */
static void
access_composite_tuple(Datum value, HeapTupleData *tup)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(value);

	tup->t_len = HeapTupleHeaderGetDatumLength(th);
	tup->t_data = th;
	ItemPointerSetInvalid(&tup->t_self);
	tup->t_tableOid = InvalidOid;
}

/* Read the groups of one breakout result array (of nkeys keys). */
static AccessGroup *
access_read_groups(Datum array, int nkeys, int *ngroups)
{
	ArrayType  *arr = DatumGetArrayTypeP(array);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(elemtype, -1);
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	AccessGroup *groups;
	/* columns of breakout_group and breakout_cell */
	int			labelcol[2] = {1, nkeys == 2 ? 3 : 1};
	int			ncol = nkeys == 2 ? 5 : 3;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &elems, &elemnulls, &n);
	groups = palloc0(sizeof(AccessGroup) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTupleData tup;
		bool		isnull;
		Datum		d;

		access_composite_tuple(elems[i], &tup);
		for (int k = 0; k < Max(nkeys, 1); k++)
		{
			d = heap_getattr(&tup, labelcol[k], desc, &isnull);
			groups[i].labels[k] = isnull ? NULL : TextDatumGetCString(d);
		}
		d = heap_getattr(&tup, ncol, desc, &isnull);
		groups[i].has_n = !isnull;
		groups[i].n = isnull ? 0 : DatumGetInt64(d);
		d = heap_getattr(&tup, ncol + 1, desc, &isnull);
		groups[i].has_mean = !isnull;
		groups[i].mean = isnull ? 0 : DatumGetFloat8(d);
		d = heap_getattr(&tup, ncol + 2, desc, &isnull);
		groups[i].has_sum = !isnull;
		groups[i].sum = isnull ? 0 : DatumGetFloat8(d);
		d = heap_getattr(&tup, ncol + 3, desc, &isnull);
		groups[i].hidden = isnull || strcmp(TextDatumGetCString(d), "hidden") == 0;
	}
	*ngroups = n;
	return groups;
}

/* A float8 of a breakout as a value of an aggregate's result type. */
static Datum
access_from_float8(float8 x, Oid type, bool *isnull)
{
	*isnull = false;
	switch (type)
	{
		case INT8OID:
			if (!isfinite(x) || fabs(x) >= 9.2e18)
				break;
			return Int64GetDatum((int64) rint(x));
		case NUMERICOID:
			/* the shortest decimal that reads back as x (extra_float_digits 3) */
			return DirectFunctionCall3(numeric_in, CStringGetDatum(float8out_internal(x)),
									   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		case FLOAT4OID:
			return Float4GetDatum((float4) x);
		case FLOAT8OID:
			return Float8GetDatum(x);
		default:
			break;
	}
	*isnull = true;
	return (Datum) 0;
}

/*
 * The value of a key from its label: NULL for a NULL key; the bucket's
 * label for a text key, NULL for a key of another type; else the label read
 * back (under the settings it was written with).
 */
static Datum
access_key_value(Oid type, const char *label, bool *isnull)
{
	Oid			infunc;
	Oid			ioparam;
	Oid			base = getBaseType(type);

	*isnull = label == NULL;
	if (label == NULL)
		return (Datum) 0;
	if (strcmp(label, GROUPED_LABEL) == 0 &&
		base != TEXTOID && base != VARCHAROID && base != BPCHAROID)
	{
		*isnull = true;
		return (Datum) 0;
	}
	/* a key of a domain was a valid value: no check runs again (as the caller) */
	getTypeInputInfo(base, &infunc, &ioparam);
	return OidInputFunctionCall(infunc, (char *) label, ioparam, -1);
}

/* Whether two groups have the same keys. */
static bool
access_same_keys(AccessGroup *a, AccessGroup *b, int nkeys)
{
	for (int k = 0; k < nkeys; k++)
		if ((a->labels[k] == NULL) != (b->labels[k] == NULL) ||
			(a->labels[k] && strcmp(a->labels[k], b->labels[k]) != 0))
			return false;
	return true;
}

/*
 * The group of another breakout of the core with the same keys as base, or
 * NULL: one-field breakouts of one core have the same groups in the same
 * order; two-field ones may suppress different cells for different metrics.
 */
static AccessGroup *
access_match(AccessGroup *groups, int ngroups, int i, AccessGroup *base, int nkeys)
{
	if (i < ngroups && access_same_keys(&groups[i], base, nkeys))
		return &groups[i];
	for (int j = 0; j < ngroups; j++)
		if (access_same_keys(&groups[j], base, nkeys))
			return &groups[j];
	return NULL;
}

static Datum access_clean_breakout(AccessCore *core, AccessAgg *a, Datum result,
								   Datum present, Datum rows);

/*
 * Whether a group's rows without a value of a metric are none or at least
 * k, so that its count, sum and mean of the metric may be shown: next to
 * count(*) (or n), they would give the number of rows of a small subset.
 * On a table of people, only none will do (k rows can be one person's).
 */
static bool
access_rows_missing_ok(AccessCore *core, bool has_rows, int64 rows,
					   bool has_present, float8 present)
{
	int64		missing;

	if (!has_rows || !has_present)
		return false;
	missing = rows - (int64) rint(present);
	if (core->policy->subject)
		return missing == 0;
	return missing == 0 || missing >= core->policy->threshold;
}

/* access_rows_missing_ok for an aggregate of a group of a core's answer. */
static bool
access_few_missing(AccessCore *core, AccessGroup *base, AccessGroup **match,
				   AccessAgg *a)
{
	AccessGroup *present = match[a->present];

	if (a->rows >= 0)
		return access_rows_missing_ok(core, match[a->rows]->has_sum,
									  (int64) rint(match[a->rows]->sum),
									  present->has_sum, present->sum);
	return access_rows_missing_ok(core, base->has_n, base->n,
								  present->has_sum, present->sum);
}

/*
 * Store the rows of a core's answer, given the groups of each breakout by
 * its keys, and the results of its own calls of anonymized_breakout.  A
 * hidden group is not returned at all: its key, next to a filter or a
 * second key, would tell that a group under the threshold exists.  A cell
 * is returned only where the breakouts of every metric show it.
 */
static void
access_store_rows(AccessCore *core, ReturnSetInfo *rsinfo, AccessGroup **groups,
				  int *ngroups, int nmetrics, Datum *extras)
{
	int			natts = core->nkeys + list_length(core->aggs);
	Datum	   *values = palloc(sizeof(Datum) * Max(natts, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(natts, 1));
	AccessGroup **match = palloc(sizeof(AccessGroup *) * nmetrics);
	int			nrows = core->nkeys == 0 ? 1 : ngroups[0];

	for (int i = 0; i < nrows; i++)
	{
		AccessGroup *base = i < ngroups[0] ? &groups[0][i] : NULL;
		ListCell   *lc;
		int			c = core->nkeys;
		bool		skip = base && base->hidden;

		for (int m = 0; m < nmetrics && base && !skip; m++)
		{
			match[m] = m == 0 ? base : access_match(groups[m], ngroups[m], i, base, core->nkeys);
			skip = match[m] == NULL || match[m]->hidden;
		}
		if (skip)
			continue;
		for (int k = 0; k < core->nkeys; k++)
			values[k] = access_key_value(exprType(core->keys[k]), base->labels[k], &nulls[k]);
		foreach(lc, core->aggs)
		{
			AccessAgg  *a = lfirst(lc);
			AccessGroup *g = base && a->metric >= 0 && a->kind != ACCESS_BREAKOUT ?
			match[a->metric] : base;
			Oid			type = a->ref->aggtype;

			nulls[c] = true;
			if (a->kind == ACCESS_BREAKOUT)
			{
				values[c] = access_clean_breakout(core, a, extras[a->metric - nmetrics],
												  extras[a->present - nmetrics],
												  a->rows >= 0 ? extras[a->rows - nmetrics] : (Datum) 0);
				nulls[c] = false;
			}
			else if (g == NULL)
				;
			else if (a->metric < 0)
			{
				nulls[c] = !g->has_n;
				values[c] = Int64GetDatum(g->n);
			}
			else if (a->present >= 0 && !access_few_missing(core, base, match, a))
				;
			else if (a->kind == ACCESS_AVG)
			{
				if (g->has_mean)
					values[c] = access_from_float8(g->mean, type, &nulls[c]);
			}
			else if (g->has_sum)
				values[c] = access_from_float8(g->sum, type, &nulls[c]);
			c++;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * A grantee's own call of anonymized_breakout, cleaned: without its hidden
 * groups or cells (see access_store_rows), and with the mean and sum
 * withheld where the rows without a value are too few (see
 * access_rows_missing_ok).  present and rows are the results of the same
 * call counting the rows with a value and the rows (rows is 0 but on a
 * table of people).
 */
static Datum
access_clean_breakout(AccessCore *core, AccessAgg *a, Datum result,
					  Datum present, Datum rows)
{
	ArrayType  *arr = DatumGetArrayTypeP(result);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(elemtype, -1);
	int			nkeys = a->nbkeys;
	int			n;
	int			np;
	int			nr = 0;
	AccessGroup *groups = access_read_groups(result, nkeys, &n);
	AccessGroup *pgroups = access_read_groups(present, nkeys, &np);
	AccessGroup *rgroups = rows ? access_read_groups(rows, nkeys, &nr) : NULL;
	Datum	   *elems;
	bool	   *elemnulls;
	int			kept = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &elems, &elemnulls, &n);
	for (int i = 0; i < n; i++)
	{
		AccessGroup *p = access_match(pgroups, np, i, &groups[i], nkeys);
		AccessGroup *r = rgroups ? access_match(rgroups, nr, i, &groups[i], nkeys) : NULL;
		HeapTupleData tup;
		bool		ok;

		if (groups[i].hidden)
			continue;
		if (rgroups)
			ok = p && r && access_rows_missing_ok(core, r->has_sum, (int64) rint(r->sum),
												  p->has_sum, p->sum);
		else
			ok = p && access_rows_missing_ok(core, groups[i].has_n, groups[i].n,
											 p->has_sum, p->sum);
		access_composite_tuple(elems[i], &tup);
		heap_deform_tuple(&tup, desc, values, nulls);
		if (!ok)
			nulls[desc->natts - 3] = nulls[desc->natts - 2] = true;		/* mean, sum */
		elems[kept++] = heap_copy_tuple_as_datum(heap_form_tuple(desc, values, nulls), desc);
	}
	return PointerGetDatum(construct_array(elems, kept, elemtype, typlen, typbyval, typalign));
}

/* Refuse a column definition list that does not match the core (42804). */
static void
access_check_result_type(AccessCore *core, TupleDesc desc)
{
	int			natts = core->nkeys + list_length(core->aggs);
	ListCell   *lc;
	int			c = core->nkeys;

	if (desc->natts != natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list of anonymized_query has %d columns, its query %d",
						desc->natts, natts),
				 errdetail("The columns are the keys of GROUP BY, then the aggregates, in order.")));
	for (int k = 0; k < core->nkeys; k++)
		if (TupleDescAttr(desc, k)->atttypid != exprType(core->keys[k]))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of anonymized_query is of type %s, not %s", k + 1,
							format_type_be(exprType(core->keys[k])),
							format_type_be(TupleDescAttr(desc, k)->atttypid))));
	foreach(lc, core->aggs)
	{
		Oid			type = ((AccessAgg *) lfirst(lc))->ref->aggtype;

		if (TupleDescAttr(desc, c)->atttypid != type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of anonymized_query is of type %s, not %s", c + 1,
							format_type_be(type),
							format_type_be(TupleDescAttr(desc, c)->atttypid))));
		c++;
	}
}

/*
 * Run the breakouts of a core as the table's owner, with the settings of
 * anonymized queries, and store the answer's rows.
 */
static void
access_run(AccessCore *core, ReturnSetInfo *rsinfo, int nparams, Oid *types,
		   Datum *values, char *nulls)
{
	int			nmetrics;
	char	   *sql;
	HeapTuple	tup;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	AccessGroup **groups;
	int		   *ngroups;
	Datum	   *extras;
	MemoryContext cxt = CurrentMemoryContext;

	/* everything outside pg_catalog named with its schema */
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	sql = access_breakout_sql(core, &nmetrics);
	groups = palloc(sizeof(AccessGroup *) * nmetrics);
	ngroups = palloc0(sizeof(int) * nmetrics);
	extras = palloc0(sizeof(Datum) * (3 * list_length(core->aggs) + 1));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(core->relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", core->relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	(void) set_config_option("anonymize.mode", "enhanced", PGC_SUSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("anonymize.two_field_rule", "protected", PGC_SUSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("anonymize.show_grouped_members", "off", PGC_SUSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("anonymize.hide_bad_metrics", "on", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/*
	 * Nothing of the owner's query may reach the caller but its answer: no
	 * plan printed, no statistics counted (and no buffers shown by EXPLAIN,
	 * see anon_anonymized_query).
	 */
	(void) set_config_option("track_counts", "off", PGC_SUSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("client_min_messages", "error", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("debug_print_parse", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("debug_print_rewritten", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("debug_print_plan", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("trace_sort", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		MemoryContext spicxt;

		/* no row limit: a limit would rule out parallel workers */
		if (SPI_execute_with_args(sql, nparams, types, values, nulls, true, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "an anonymized query returned no row");
		spicxt = MemoryContextSwitchTo(cxt);
		for (int m = 0; m < nmetrics; m++)
		{
			bool		isnull;
			Datum		arr = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											m + 1, &isnull);

			if (isnull)
				elog(ERROR, "an anonymized query returned NULL");
			groups[m] = access_read_groups(arr, core->nkeys, &ngroups[m]);
		}
		for (int c = nmetrics; c < SPI_tuptable->tupdesc->natts; c++)
		{
			bool		isnull;
			Datum		arr = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											c + 1, &isnull);

			if (isnull)
				elog(ERROR, "an anonymized query returned NULL");
			extras[c - nmetrics] = datumCopy(arr, false, -1);
		}
		MemoryContextSwitchTo(spicxt);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();

	access_store_rows(core, rsinfo, groups, ngroups, nmetrics, extras);
}

/*
 * Refuse a second, different anonymized query in the statement running now
 * (from the views or functions of the caller, which the hook does not see):
 * two answers in one would give their difference.  The same call again
 * (a rescan) is the same answer.
 */
static void
access_one_per_statement(const char *sql, int nparams, Oid *types, Datum *values,
						 char *nulls)
{
	static TimestampTz last_statement = 0;
	static char *last_call = NULL;
	TimestampTz now = GetCurrentStatementStartTimestamp();
	StringInfoData call;

	initStringInfo(&call);
	appendStringInfoString(&call, sql);
	for (int i = 0; i < nparams; i++)
	{
		Oid			out;
		bool		varlena;

		appendStringInfoChar(&call, '\0');
		if (nulls[i] == 'n')
			continue;
		getTypeOutputInfo(types[i], &out, &varlena);
		appendStringInfo(&call, "%u:%s", types[i], OidOutputFunctionCall(out, values[i]));
	}
	if (last_call && now == last_statement &&
		(strlen(last_call) != call.len || memcmp(last_call, call.data, call.len) != 0))
		access_refuse_many();
	if (last_call)
		pfree(last_call);
	last_call = MemoryContextAlloc(TopMemoryContext, call.len + 1);
	memcpy(last_call, call.data, call.len + 1);
	last_statement = now;
	pfree(call.data);
}

/*
 * anon_anonymized_query(query text [, VARIADIC params "any"]) RETURNS SETOF record
 *
 * The answer of a GROUP BY query on an anonymized table under the table's
 * threshold rules, for a grantee or a role that can read the table.  The
 * column definition list gives the keys' and aggregates' types in order.
 */
Datum
anon_anonymized_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nparams = PG_NARGS() - 1;
	Oid		   *types = palloc(sizeof(Oid) * Max(nparams, 1));
	Datum	   *values = palloc(sizeof(Datum) * Max(nparams, 1));
	char	   *nulls = palloc(sizeof(char) * Max(nparams, 1));
	char	   *sql;
	int			nest;
	BufferUsage saved_buffers;
	WalUsage	saved_wal;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (int i = 0; i < nparams; i++)
	{
		types[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 1);
		nulls[i] = PG_ARGISNULL(i + 1) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i + 1) ? (Datum) 0 : PG_GETARG_DATUM(i + 1);
		if (types[i] == UNKNOWNOID)
		{
			types[i] = TEXTOID;
			if (!PG_ARGISNULL(i + 1))
				values[i] = CStringGetTextDatum(DatumGetCString(values[i]));
		}
		if (!OidIsValid(types[i]))
			elog(ERROR, "could not determine the type of parameter $%d", i + 1);
	}
	access_one_per_statement(sql, nparams, types, values, nulls);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	/* EXPLAIN (BUFFERS) would count the pages the owner's query reads */
	saved_buffers = pgBufferUsage;
	saved_wal = pgWalUsage;

	/* read under the caller's search_path, literals under fixed settings */
	nest = anon_literal_settings();
	access_internal++;
	PG_TRY();
	{
		List	   *raw = pg_parse_query(sql);
		Query	   *q;
		RangeTblEntry *rte;
		AccessCore *core;

		if (list_length(raw) != 1 ||
			!IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("anonymized_query takes one SELECT statement")));
		q = parse_analyze_fixedparams(linitial(raw), sql, types, nparams, NULL);
		rte = q->rtable ? linitial(q->rtable) : NULL;
		if (rte == NULL || rte->rtekind != RTE_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("anonymized_query answers a query on one anonymized table")));
		if (pg_class_aclcheck(rte->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
			!anon_user_has_grant(rte->relid))
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(rte->relid));
		core = access_check_core(q, rte->relid, true);
		access_check_result_type(core, rsinfo->setDesc);
		access_run(core, rsinfo, nparams, types, values, nulls);
	}
	PG_FINALLY();
	{
		access_internal--;
		pgBufferUsage = saved_buffers;
		pgWalUsage = saved_wal;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	return (Datum) 0;
}
