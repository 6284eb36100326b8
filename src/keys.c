/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  Key types, breakout settings and subject sets shared by every breakout
 *	  form (see keys.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "port/pg_bswap.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "anonymize.h"
#include "keys.h"

/* Fill kt for values of a type; see keys.h. */
void
anon_key_type_init(AnonKeyType *kt, Oid type, Oid collation,
				   MemoryContext mcxt, const char *what)
{
	TypeCacheEntry *tc;
	Oid			outfunc;
	Oid			infunc;
	bool		isvarlena;

	if (!OidIsValid(type))
	{
		if (strcmp(what, "subject") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the type of the breakout subject")));
		if (strcmp(what, "author") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the type of the comments' author")));
		ereport(ERROR,
				(errcode(ERRCODE_INDETERMINATE_DATATYPE),
				 errmsg("could not determine the type of the breakout key")));
	}
	tc = lookup_type_cache(type, TYPECACHE_HASH_PROC_FINFO |
						   TYPECACHE_EQ_OPR_FINFO | TYPECACHE_CMP_PROC_FINFO);
	if (!OidIsValid(tc->hash_proc) || !OidIsValid(tc->eq_opr_finfo.fn_oid))
	{
		if (strcmp(what, "subject") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("cannot break out by a subject of type %s",
							format_type_be(type)),
					 errdetail("Type %s has no default hash operator class, so equal subjects cannot be recognized.",
							   format_type_be(type)),
					 errhint("Cast the subject to a type that has one, such as text.")));
		if (strcmp(what, "author") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("cannot count authors of type %s",
							format_type_be(type)),
					 errdetail("Type %s has no default hash operator class, so equal authors cannot be recognized.",
							   format_type_be(type)),
					 errhint("Cast the author to a type that has one, such as text.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("cannot break out by a key of type %s",
						format_type_be(type)),
				 errdetail("Type %s has no default hash operator class, so equal keys cannot be recognized.",
						   format_type_be(type)),
				 errhint("Cast the key to a type that has one, such as text.")));
	}

	kt->type = type;
	/* arguments with conflicting collations leave none: use the default */
	if (!OidIsValid(collation) && type_is_collatable(type))
		collation = DEFAULT_COLLATION_OID;
	kt->collation = collation;
	kt->typlen = tc->typlen;
	kt->typbyval = tc->typbyval;
	fmgr_info_copy(&kt->hash_fn, &tc->hash_proc_finfo, mcxt);
	fmgr_info_copy(&kt->eq_fn, &tc->eq_opr_finfo, mcxt);
	kt->has_cmp = OidIsValid(tc->cmp_proc);
	if (kt->has_cmp)
		fmgr_info_copy(&kt->cmp_fn, &tc->cmp_proc_finfo, mcxt);
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
			/* int8 is passed by reference on some platforms */
			kt->fast = kt->typbyval ? ANON_KEY_INTEGER : ANON_KEY_FMGR;
			break;
		case TEXTOID:
		case VARCHAROID:
			kt->fast = get_collation_isdeterministic(collation) ?
				ANON_KEY_BYTES : ANON_KEY_FMGR;
			break;
		case UUIDOID:
			kt->fast = ANON_KEY_BYTES;
			break;
		default:
			kt->fast = ANON_KEY_FMGR;
	}
	getTypeOutputInfo(type, &outfunc, &isvarlena);
	fmgr_info_cxt(outfunc, &kt->out_fn, mcxt);
	getTypeInputInfo(type, &infunc, &kt->ioparam);
	fmgr_info_cxt(infunc, &kt->in_fn, mcxt);
}

/* A copy of a value in mcxt, detoasted; see keys.h. */
Datum
anon_key_copy(AnonKeyType *kt, MemoryContext mcxt, Datum value)
{
	MemoryContext old;
	Datum		copy;

	if (kt->typbyval)
		return value;
	old = MemoryContextSwitchTo(mcxt);
	if (kt->typlen == -1)
		value = PointerGetDatum(PG_DETOAST_DATUM_PACKED(value));
	copy = datumCopy(value, false, kt->typlen);
	MemoryContextSwitchTo(old);
	return copy;
}

/* Order of two values; see keys.h. */
int
anon_key_cmp(AnonKeyType *kt, Datum a, const char *alabel,
			 Datum b, const char *blabel)
{
	if (!kt->has_cmp)
		return strcmp(alabel, blabel);
	return DatumGetInt32(FunctionCall2Coll(&kt->cmp_fn, kt->collation, a, b));
}

/*
 * Write a value: integers, text and uuid as their bytes (the same on every
 * platform), anything else in text form; see keys.h.
 */
void
anon_key_send(StringInfo buf, AnonKeyType *kt, Datum value)
{
	char	   *str;
	int			len;

	switch (kt->fast)
	{
		case ANON_KEY_INTEGER:
			pq_sendint64(buf, (int64) value);
			return;
		case ANON_KEY_BYTES:
			{
				const char *bytes = anon_key_bytes(kt, value, &len);

				pq_sendint32(buf, len);
				pq_sendbytes(buf, bytes, len);
				return;
			}
		case ANON_KEY_FMGR:
			break;
	}
	str = OutputFunctionCall(&kt->out_fn, value);
	len = strlen(str);
	pq_sendint32(buf, len);
	pq_sendbytes(buf, str, len);
	pfree(str);
}

/* Read a value written by anon_key_send; see keys.h. */
Datum
anon_key_recv(StringInfo buf, AnonKeyType *kt)
{
	int			len;
	const char *bytes;
	char	   *str;
	Datum		value;

	if (kt->fast == ANON_KEY_INTEGER)
		return (Datum) pq_getmsgint64(buf);
	len = pq_getmsgint(buf, 4);
	bytes = pq_getmsgbytes(buf, len);
	if (kt->fast == ANON_KEY_BYTES)
	{
		char	   *copy;

		if (kt->typlen == -1)
			return PointerGetDatum(cstring_to_text_with_len(bytes, len));
		if (len != kt->typlen)
			elog(ERROR, "malformed breakout state");
		copy = palloc(len);
		memcpy(copy, bytes, len);
		return PointerGetDatum(copy);
	}
	str = pnstrdup(bytes, len);
	value = InputFunctionCall(&kt->in_fn, str, kt->ioparam, -1);
	pfree(str);
	return value;
}

/* Refuse the bytes being read as no valid breakout state; see keys.h. */
void
anon_read_fail(AnonReader *r, const char *detail)
{
	ereport(ERROR,
			(errcode(r->errcode),
			 errmsg("malformed breakout state"),
			 errdetail("%s", detail)));
}

/* The next len bytes; see keys.h. */
const char *
anon_read_bytes(AnonReader *r, int64 len)
{
	const char *p = r->cur;

	if (len < 0 || len > r->end - r->cur)
		anon_read_fail(r, "The state ends too early.");
	r->cur += len;
	return p;
}

/* The next byte. */
uint8
anon_read_byte(AnonReader *r)
{
	return (uint8) *anon_read_bytes(r, 1);
}

/* The next 4-byte integer, in network byte order. */
int32
anon_read_int32(AnonReader *r)
{
	uint32		v;

	memcpy(&v, anon_read_bytes(r, 4), 4);
	return (int32) pg_ntoh32(v);
}

/* The next 8-byte integer, in network byte order. */
int64
anon_read_int64(AnonReader *r)
{
	uint64		v;

	memcpy(&v, anon_read_bytes(r, 8), 8);
	return (int64) pg_ntoh64(v);
}

/* The next float8, as pq_sendfloat8 writes it. */
float8
anon_read_float8(AnonReader *r)
{
	union
	{
		float8		f;
		int64		i;
	}			u;

	u.i = anon_read_int64(r);
	return u.f;
}

/* Read a value written by anon_key_send, checked; see keys.h. */
Datum
anon_key_read(AnonReader *r, AnonKeyType *kt)
{
	int32		len;
	const char *bytes;
	char	   *str;
	Datum		value;

	if (kt->fast == ANON_KEY_INTEGER)
	{
		int64		v = anon_read_int64(r);

		if ((kt->type == INT2OID && (v < PG_INT16_MIN || v > PG_INT16_MAX)) ||
			(kt->type == INT4OID && (v < PG_INT32_MIN || v > PG_INT32_MAX)) ||
			(kt->type == OIDOID && (v < 0 || v > PG_UINT32_MAX)))
			anon_read_fail(r, "A key or subject is out of the range of its type.");
		return (Datum) v;
	}
	len = anon_read_int32(r);
	bytes = anon_read_bytes(r, len);
	if (kt->fast == ANON_KEY_BYTES && kt->typlen != -1)
	{
		char	   *copy;

		if (len != kt->typlen)
			anon_read_fail(r, "A key or subject has the wrong length for its type.");
		copy = palloc(len);
		memcpy(copy, bytes, len);
		return PointerGetDatum(copy);
	}
	if (!pg_verifymbstr(bytes, len, true))
		anon_read_fail(r, "A key or subject is not valid in the server encoding.");
	if (kt->fast == ANON_KEY_BYTES)
		return PointerGetDatum(cstring_to_text_with_len(bytes, len));
	str = pnstrdup(bytes, len);
	value = InputFunctionCall(&kt->in_fn, str, kt->ioparam, -1);
	pfree(str);
	return value;
}

/*
 * The type of argument argno of a transition call: from the call's
 * expression, or from the function's declaration where the caller gives no
 * expression (Citus's worker_partial_agg calls the transition function so).
 */
Oid
anon_agg_declared_argtype(FunctionCallInfo fcinfo, int argno)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	Oid			type = InvalidOid;

	if (fcinfo->flinfo->fn_expr != NULL)
		return get_fn_expr_argtype(fcinfo->flinfo, argno);
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (argno < proc->pronargs)
		type = proc->proargtypes.values[argno];
	ReleaseSysCache(tup);
	return type;
}

/*
 * The expression of the aggregate's argument argno - 1 (argno counts the
 * state), or NULL: in the aggregate's own call, or in the record that
 * Citus's worker_partial_agg(aggregate, ROW(arguments...)) is given.
 */
Node *
anon_agg_arg_expr(FunctionCallInfo fcinfo, int argno)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	List	   *args;

	if (aggref == NULL)
		return NULL;
	if (fcinfo->flinfo->fn_expr != NULL)
		args = aggref->args;
	else
	{
		TargetEntry *row;

		if (list_length(aggref->args) != 2)
			return NULL;
		row = lsecond_node(TargetEntry, aggref->args);
		if (!IsA(row->expr, RowExpr))
			return NULL;
		args = ((RowExpr *) row->expr)->args;
		if (argno - 1 < list_length(args))
			return (Node *) list_nth(args, argno - 1);
		return NULL;
	}
	if (argno - 1 < list_length(args))
		return (Node *) ((TargetEntry *) list_nth(args, argno - 1))->expr;
	return NULL;
}

/*
 * The type of a key or subject argument.  A value of a type that the
 * declared type takes as it is (citext, varchar, char(n) or a domain given
 * for text) keeps its own type, so that it groups by its own equality, as
 * in the polymorphic forms.
 */
Oid
anon_agg_value_type(FunctionCallInfo fcinfo, int argno)
{
	Oid			declared = anon_agg_declared_argtype(fcinfo, argno);
	Node	   *expr = anon_agg_arg_expr(fcinfo, argno);

	if (expr != NULL && IsA(expr, RelabelType) &&
		exprType(expr) == declared)
		return getBaseType(exprType((Node *) ((RelabelType *) expr)->arg));
	return declared;
}

/* The collation of the key argument of a transition call; see keys.h. */
Oid
anon_agg_collation(FunctionCallInfo fcinfo)
{
	Node	   *expr;

	if (fcinfo->flinfo->fn_expr != NULL)
		return PG_GET_COLLATION();
	expr = anon_agg_arg_expr(fcinfo, 1);
	return expr ? exprCollation(expr) : InvalidOid;
}

/* Write a type as its schema and name. */
void
anon_write_type(StringInfo buf, Oid type)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	Form_pg_type typ;
	const char *nsp;
	const char *name;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", type);
	typ = (Form_pg_type) GETSTRUCT(tup);
	nsp = get_namespace_name(typ->typnamespace);
	name = pstrdup(NameStr(typ->typname));
	ReleaseSysCache(tup);
	pq_sendint32(buf, strlen(nsp));
	pq_sendbytes(buf, nsp, strlen(nsp));
	pq_sendint32(buf, strlen(name));
	pq_sendbytes(buf, name, strlen(name));
}

/* Read a name written by anon_write_type (at most NAMEDATALEN - 1 bytes). */
static char *
anon_read_name(AnonReader *r)
{
	int32		len = anon_read_int32(r);
	const char *bytes;

	if (len < 0 || len >= NAMEDATALEN)
		anon_read_fail(r, "A type or collation name is too long.");
	bytes = anon_read_bytes(r, len);
	if (!pg_verifymbstr(bytes, len, true))
		anon_read_fail(r, "A type or collation name is not valid in the server encoding.");
	return pnstrdup(bytes, len);
}

/* Read a type written by anon_write_type; error 42704 if it is not here. */
Oid
anon_read_type(AnonReader *r)
{
	char	   *nsp = anon_read_name(r);
	char	   *name = anon_read_name(r);
	Oid			nspid = get_namespace_oid(nsp, true);
	Oid			type = InvalidOid;

	if (OidIsValid(nspid))
		type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							   CStringGetDatum(name), ObjectIdGetDatum(nspid));
	if (!OidIsValid(type))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("type \"%s.%s\" of a breakout state does not exist", nsp, name)));
	if (pg_namespace_aclcheck(nspid, GetUserId(), ACL_USAGE) != ACLCHECK_OK ||
		pg_type_aclcheck(type, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for type \"%s.%s\" of a breakout state", nsp, name)));

	/*
	 * Only base types that are no arrays: the types a breakout_state is made
	 * with.  Reading a key runs its type's input function; a domain's runs
	 * its CHECK expressions, and a composite's or an array's those of its
	 * parts, which may be anyone's code.
	 */
	if (get_typtype(type) != TYPTYPE_BASE || OidIsValid(get_element_type(type)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a breakout state cannot hold values of type \"%s.%s\"", nsp, name),
				 errdetail("Breakout states hold keys and subjects of base types only.")));
	return type;
}

/* Write a collation by schema and name, or none for the default; see keys.h. */
void
anon_write_collation(StringInfo buf, Oid collation)
{
	HeapTuple	tup;
	Form_pg_collation coll;
	const char *nsp;
	const char *name;

	if (collation == DEFAULT_COLLATION_OID || !OidIsValid(collation))
	{
		pq_sendbyte(buf, 0);
		return;
	}
	tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for collation %u", collation);
	coll = (Form_pg_collation) GETSTRUCT(tup);
	nsp = get_namespace_name(coll->collnamespace);
	name = pstrdup(NameStr(coll->collname));
	ReleaseSysCache(tup);
	pq_sendbyte(buf, 1);
	pq_sendint32(buf, strlen(nsp));
	pq_sendbytes(buf, nsp, strlen(nsp));
	pq_sendint32(buf, strlen(name));
	pq_sendbytes(buf, name, strlen(name));
}

/* Read a collation written by anon_write_collation (42704 if not here). */
Oid
anon_read_collation(AnonReader *r)
{
	char	   *nsp;
	char	   *name;

	switch (anon_read_byte(r))
	{
		case 0:
			return InvalidOid;
		case 1:
			nsp = anon_read_name(r);
			name = anon_read_name(r);
			return get_collation_oid(list_make2(makeString(nsp), makeString(name)),
									 false);
		default:
			anon_read_fail(r, "The state's collation flag is neither 0 nor 1.");
	}
	return InvalidOid;			/* keep compiler quiet */
}

/* Fix the settings that change the text form of values; see keys.h. */
int
anon_portable_settings(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("datestyle", "ISO, YMD", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/*
 * anon_portable_settings, and the settings that change how a query's
 * literals are read (strings, arrays, NULL comparisons, bytea, xml); see
 * keys.h.
 */
int
anon_literal_settings(void)
{
	static const char *const settings[][2] = {
		{"standard_conforming_strings", "on"},
		{"array_nulls", "on"},
		{"transform_null_equals", "off"},
		{"bytea_output", "hex"},
		{"xmloption", "content"},
		{"xmlbinary", "base64"},
	};
	int			nest = anon_portable_settings();

	for (int i = 0; i < lengthof(settings); i++)
		(void) set_config_option(settings[i][0], settings[i][1], PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* The aggregate's memory context; see keys.h. */
MemoryContext
anon_agg_context(FunctionCallInfo fcinfo, const char *aggname)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s support function called outside an aggregate", aggname)));
	return aggcxt;
}

/* The C form of a value of the enum anonymize.sensitivity; see keys.h. */
AnonSensitivity
anon_sensitivity_from_oid(Oid enumval)
{
	HeapTuple	tup;
	const char *label;
	AnonSensitivity result;

	tup = SearchSysCache1(ENUMOID, ObjectIdGetDatum(enumval));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for enum value %u", enumval);
	label = NameStr(((Form_pg_enum) GETSTRUCT(tup))->enumlabel);
	if (strcmp(label, "not_sensitive") == 0)
		result = ANON_NOT_SENSITIVE;
	else if (strcmp(label, "somewhat_sensitive") == 0)
		result = ANON_SOMEWHAT_SENSITIVE;
	else if (strcmp(label, "very_sensitive") == 0)
		result = ANON_VERY_SENSITIVE;
	else
		elog(ERROR, "unrecognized sensitivity \"%s\"", label);
	ReleaseSysCache(tup);
	return result;
}

/*
 * The enum value named by a text sensitivity; see keys.h.  The message does
 * not repeat the text, which may come from any column.
 */
Oid
anon_sensitivity_text_parse(AnonSensitivityText *cache, text *label,
							Oid fn_oid, MemoryContext mcxt)
{
	int			len = VARSIZE_ANY_EXHDR(label);
	char		name[NAMEDATALEN];
	Oid			typoid;
	Oid			oid = InvalidOid;

	typoid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							 CStringGetDatum("sensitivity"),
							 ObjectIdGetDatum(get_func_namespace(fn_oid)));
	if (!OidIsValid(typoid))
		elog(ERROR, "type anonymize.sensitivity not found");
	if (len < NAMEDATALEN)
	{
		memcpy(name, VARDATA_ANY(label), len);
		name[len] = '\0';
		oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
							  ObjectIdGetDatum(typoid), CStringGetDatum(name));
	}
	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid sensitivity"),
				 errhint("Available values: not_sensitive, somewhat_sensitive, very_sensitive.")));
	if (cache->label == NULL)
	{
		cache->label = MemoryContextAlloc(mcxt, Max(len, 1));
		memcpy(cache->label, VARDATA_ANY(label), len);
		cache->len = len;
		cache->oid = oid;
	}
	return oid;
}

/* Refuse a threshold given as double precision that is no integer; see keys.h. */
void
anon_threshold_not_integer(float8 threshold)
{
	if (isnan(threshold) || isinf(threshold))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be a finite number, not %s",
						isnan(threshold) ? "NaN" :
						threshold > 0 ? "Infinity" : "-Infinity")));
	if (threshold < (float8) PG_INT32_MIN ||
		threshold >= -((float8) PG_INT32_MIN))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("threshold is out of range for type integer")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("threshold must be an integer")));
}

/* Raise the error for rows of one breakout with different settings; see keys.h. */
void
anon_settings_differ(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("threshold and sensitivity must be the same for every row of a breakout")));
}

/* Refuse a threshold below 1 or below anonymize.min_threshold; see keys.h. */
void
anon_check_threshold(int32 threshold)
{
	if (threshold < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be at least 1, not %d", threshold)));
	if (threshold < anon_min_threshold)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold %d is below the minimum threshold %d",
						threshold, anon_min_threshold),
				 errdetail("anonymize.min_threshold is set to %d.",
						   anon_min_threshold)));
}

/* The metric of a row, refused if NaN or infinite; see keys.h. */
float8
anon_metric(float8 metric)
{
	if (unlikely(isnan(metric) || isinf(metric)) && !anon_hide_bad_metrics)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metric must be a finite number, not %s",
						isnan(metric) ? "NaN" :
						metric > 0 ? "Infinity" : "-Infinity")));
	return metric;
}

/* Refuse a sum of metrics that overflowed; see keys.h. */
void
anon_check_sum(float8 sum)
{
	if (unlikely(isinf(sum)) && !anon_hide_bad_metrics)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sum of the metric is out of range for type double precision")));
}

/* A text[] from C strings; see keys.h. */
Datum
anon_text_array(char **strs, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	for (int i = 0; i < n; i++)
	{
		nulls[i] = strs[i] == NULL;
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(strs[i]);
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  TEXTOID, -1, false,
											  TYPALIGN_INT));
}

/*
 * Subject sets.  A set of int2, int4 or oid subjects ("narrow" integers) is
 * an open-addressing table of 8-byte slots (linear probing), each slot the
 * value's 32 bits plus one, shifted left by one, with the metric flag in
 * bit 0; 0 is an empty slot.  Other subjects go into a simplehash table of
 * 16-byte entries that keep their hash.  Nearly every row of a breakout by
 * people reaches a slot that is not in the cache: the smaller the slots,
 * the fewer such misses.
 */

/*
 * How full tables may get: simplehash tables at most half full (most rows
 * add a subject, and moving entries on insertion then stays within a cache
 * line or two); narrow tables 70 % (8 slots to a cache line).
 */
#define SUBJECTS_FILLFACTOR 0.5
#define NARROW_FILLFACTOR 0.7

/* One subject of a set. */
typedef struct SubjectEntry
{
	Datum		subject;
	uint32		hash;
	char		status;			/* used by simplehash */
	bool		with_metric;	/* one of its rows had a metric */
} SubjectEntry;

#define SH_PREFIX			subjset
#define SH_ELEMENT_TYPE		SubjectEntry
#define SH_KEY_TYPE			Datum
#define SH_KEY				subject
#define SH_FILLFACTOR		SUBJECTS_FILLFACTOR
#define SH_HASH_KEY(tb, k)	anon_key_hash((AnonKeyType *) (tb)->private_data, k)
#define SH_EQUAL(tb, a, b)	anon_key_equal((AnonKeyType *) (tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)	((a)->hash)
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Fetch the memory at p into the cache, without waiting for it. */
#if defined(__GNUC__) || defined(__clang__)
#define subjects_prefetch(p)	__builtin_prefetch(p, 1)
#else
#define subjects_prefetch(p)	((void) (p))
#endif

struct SubjectSet
{
	AnonKeyType *kt;
	MemoryContext mcxt;
	bool		narrow;			/* int2, int4 or oid: 8-byte slots */
	subjset_hash *hash;			/* the table, unless narrow */
	uint64	   *slots;			/* the table, if narrow */
	uint64		members;		/* subjects in slots */
	uint64		grow_at;		/* members at which slots double */
	/* the first slot, the mask of the slot numbers, log2 of a slot's size */
	char	   *base;
	uint64		mask;
	int			shift;
	int64		with_metric;	/* subjects with a metric */
	SubjectBatch *batch;		/* of anon_subjects_add_later, or NULL */
};

/* The slot of a narrow subject. */
static inline uint64
subjects_slot(Datum subject)
{
	return ((uint64) (uint32) subject + 1) << 1;
}

/* The subject of a narrow slot, as the datum of its type. */
static inline Datum
subjects_slot_value(SubjectSet *set, uint64 slot)
{
	uint32		v = (uint32) ((slot >> 1) - 1);

	return set->kt->type == OIDOID ? ObjectIdGetDatum(v) :
		Int32GetDatum((int32) v);
}

/* The hash of a subject in a set. */
static inline uint32
subjects_hash(SubjectSet *set, Datum subject)
{
	if (set->narrow)
		return murmurhash32((uint32) subject);
	return anon_key_hash(set->kt, subject);
}

/* Note where a simplehash set's table now is, after it was made or has grown. */
static inline void
subjects_moved(SubjectSet *set)
{
	set->base = (char *) set->hash->data;
	set->mask = set->hash->sizemask;
	set->shift = 4;
}

/* Give a narrow set a table of size slots (a power of 2), moving its subjects. */
static void
subjects_narrow_resize(SubjectSet *set, uint64 size)
{
	uint64	   *old = set->slots;
	uint64		oldsize = set->slots ? set->mask + 1 : 0;
	uint64	   *slots;

	/* 2^32 values at most */
	if (size > ((uint64) 1 << 34))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many subjects in a breakout group")));
	slots = MemoryContextAllocExtended(set->mcxt, size * sizeof(uint64),
									   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint64 i = 0; i < oldsize; i++)
	{
		uint64		s = old[i];
		uint64		j;

		if (s == 0)
			continue;
		j = murmurhash32((uint32) ((s >> 1) - 1)) & (size - 1);
		while (slots[j] != 0)
			j = (j + 1) & (size - 1);
		slots[j] = s;
	}
	if (old)
		pfree(old);
	set->slots = slots;
	set->grow_at = (uint64) (size * NARROW_FILLFACTOR);
	set->base = (char *) slots;
	set->mask = size - 1;
	set->shift = 3;
}

/*
 * Add a narrow subject, or note that it has a metric; returns whether it was
 * there already.
 */
static inline bool
subjects_narrow_add(SubjectSet *set, Datum subject, uint32 hash,
					bool with_metric)
{
	uint64		want = subjects_slot(subject);
	uint64		i;

	if (unlikely(set->members >= set->grow_at))
		subjects_narrow_resize(set, (set->mask + 1) * 2);
	for (i = hash & set->mask;; i = (i + 1) & set->mask)
	{
		uint64		s = set->slots[i];

		if (s == 0)
		{
			set->slots[i] = want | with_metric;
			set->members++;
			set->with_metric += with_metric;
			return false;
		}
		if ((s & ~(uint64) 1) == want)
		{
			if (with_metric && !(s & 1))
			{
				set->slots[i] = s | 1;
				set->with_metric++;
			}
			return true;
		}
	}
}

/* An empty set of subjects of type kt, in mcxt. */
SubjectSet *
anon_subjects_create(AnonKeyType *kt, MemoryContext mcxt)
{
	return anon_subjects_create_batched(kt, mcxt, NULL);
}

/* An empty set whose later additions go through batch; see keys.h. */
SubjectSet *
anon_subjects_create_batched(AnonKeyType *kt, MemoryContext mcxt,
							 SubjectBatch *batch)
{
	SubjectSet *set = MemoryContextAllocZero(mcxt, sizeof(SubjectSet));

	set->kt = kt;
	set->mcxt = mcxt;
	set->narrow = kt->fast == ANON_KEY_INTEGER && kt->type != INT8OID;
	set->batch = batch;
	if (set->narrow)
		subjects_narrow_resize(set, 8);
	else
	{
		set->hash = subjset_create(mcxt, 8, kt);
		subjects_moved(set);
	}
	return set;
}

/* The number of subjects in a set. */
static inline uint64
subjects_members(SubjectSet *set)
{
	return set->narrow ? set->members : set->hash->members;
}

/* Add a subject, or note that it has a metric; returns whether it was there. */
static inline bool
anon_subjects_add_hashed(SubjectSet *set, Datum subject, uint32 hash,
						 bool with_metric)
{
	bool		found;
	SubjectEntry *e;

	if (set->narrow)
		return subjects_narrow_add(set, subject, hash, with_metric);
	e = subjset_insert_hash(set->hash, subject, hash, &found);
	if (!found)
	{
		e->subject = anon_key_copy(set->kt, set->mcxt, subject);
		e->with_metric = false;
		/* the table may have grown */
		subjects_moved(set);
	}
	if (with_metric && !e->with_metric)
	{
		e->with_metric = true;
		set->with_metric++;
	}
	return found;
}

/*
 * Hold a subject of a set in a batch, and fetch the slot where its search
 * begins; once the batch is full, store the one held longest, whose slot has
 * had the time to arrive.
 */
static inline void
subjects_defer(SubjectBatch *b, SubjectSet *set, Datum subject, uint32 hash,
			   bool with_metric)
{
	SubjectPending *p;

	subjects_prefetch(set->base + ((hash & set->mask) << set->shift));
	if (b->n < ANON_SUBJECTS_AHEAD)
		p = &b->items[b->n++];
	else
	{
		p = &b->items[b->next];
		b->next = (b->next + 1) % ANON_SUBJECTS_AHEAD;
		(void) anon_subjects_add_hashed(p->set, p->subject, p->hash,
										p->with_metric);
	}
	p->set = set;
	p->subject = subject;
	p->hash = hash;
	p->with_metric = with_metric;
}

/* Store every subject a batch holds; see keys.h. */
void
anon_subjects_flush(SubjectBatch *b)
{
	for (int i = 0; i < b->n; i++)
	{
		SubjectPending *p = &b->items[i];

		(void) anon_subjects_add_hashed(p->set, p->subject, p->hash,
										p->with_metric);
	}
	b->n = 0;
	b->next = 0;
}

/* Store what the batch of a set holds, before the set is read. */
static inline void
subjects_settle(SubjectSet *set)
{
	if (unlikely(set->batch != NULL && set->batch->n > 0))
		anon_subjects_flush(set->batch);
}

/*
 * Make room for n more subjects in a set at once, rather than doubling its
 * table as they come (each doubling moves every subject): for merges, which
 * know how many may come.  With subjects in common the table is larger than
 * needed, at most by the n given.
 */
static void
subjects_reserve(SubjectSet *set, uint64 n)
{
	uint64		want = subjects_members(set) + n;
	uint64		size;

	if (set->narrow)
	{
		if (want <= set->grow_at)
			return;
		size = pg_nextpower2_64((uint64) (want / NARROW_FILLFACTOR) + 1);
		subjects_narrow_resize(set, size);
		return;
	}
	if (want <= set->hash->grow_threshold)
		return;
	subjset_grow(set->hash, (uint64) (want / SUBJECTS_FILLFACTOR) + 1);
	subjects_moved(set);
}

/* Add one row's subject to a set. */
void
anon_subjects_add(SubjectSet *set, Datum subject, bool with_metric)
{
	(void) anon_subjects_add_hashed(set, subject, subjects_hash(set, subject),
									with_metric);
}

/* Add one row's subject to a set, now or a few calls later; see keys.h. */
void
anon_subjects_add_later(SubjectSet *set, Datum subject, bool with_metric)
{
	/* a value by reference would be gone with its row */
	if (set->batch == NULL || !set->kt->typbyval)
	{
		anon_subjects_add(set, subject, with_metric);
		return;
	}
	subjects_defer(set->batch, set, subject, subjects_hash(set, subject),
				   with_metric);
}

/* Add every subject of src to dst. */
void
anon_subjects_merge(SubjectSet *dst, SubjectSet *src)
{
	SubjectBatch batch;

	Assert(dst->narrow == src->narrow);
	subjects_settle(src);
	subjects_reserve(dst, subjects_members(src));
	batch.n = batch.next = 0;
	if (src->narrow)
	{
		for (uint64 i = 0; i <= src->mask; i++)
		{
			uint64		s = src->slots[i];
			Datum		v;

			if (s == 0)
				continue;
			v = subjects_slot_value(src, s);
			subjects_defer(&batch, dst, v, subjects_hash(dst, v), s & 1);
		}
	}
	else
	{
		subjset_iterator it;
		SubjectEntry *e;

		subjset_start_iterate(src->hash, &it);
		while ((e = subjset_iterate(src->hash, &it)) != NULL)
			subjects_defer(&batch, dst, e->subject, e->hash, e->with_metric);
	}
	anon_subjects_flush(&batch);
}

/* The number of subjects (with a metric, in the basic mode). */
int64
anon_subjects_count(SubjectSet *set, bool basic)
{
	subjects_settle(set);
	return basic ? set->with_metric : (int64) subjects_members(set);
}

/* Write a set in text form. */
void
anon_subjects_send(StringInfo buf, SubjectSet *set)
{
	subjects_settle(set);
	pq_sendint64(buf, subjects_members(set));
	if (set->narrow)
	{
		char	   *p;

		/*
		 * A flag and the 8 bytes anon_key_send writes for an integer each, in
		 * one go (beyond the 1 GB of a string, enlargeStringInfo refuses).
		 */
		enlargeStringInfo(buf, (int) Min(set->members * 9, (uint64) PG_INT32_MAX));
		p = buf->data + buf->len;
		for (uint64 i = 0; i <= set->mask; i++)
		{
			uint64		s = set->slots[i];
			uint64		v;

			if (s == 0)
				continue;
			v = pg_hton64((uint64) (int64) subjects_slot_value(set, s));
			*p = s & 1;
			memcpy(p + 1, &v, 8);
			p += 9;
		}
		buf->len = p - buf->data;
		buf->data[buf->len] = '\0';
	}
	else
	{
		subjset_iterator it;
		SubjectEntry *e;

		subjset_start_iterate(set->hash, &it);
		while ((e = subjset_iterate(set->hash, &it)) != NULL)
		{
			pq_sendbyte(buf, e->with_metric);
			anon_key_send(buf, set->kt, e->subject);
		}
	}
}

/* Read the subjects written by anon_subjects_send into a set. */
void
anon_subjects_recv(StringInfo buf, SubjectSet *set)
{
	int64		n = pq_getmsgint64(buf);

	for (int64 i = 0; i < n; i++)
	{
		bool		with_metric = pq_getmsgbyte(buf) != 0;

		anon_subjects_add(set, anon_key_recv(buf, set->kt), with_metric);
	}
}

/* The count of subjects that anon_subjects_send wrote before them, checked. */
static int64
subjects_read_count(AnonReader *r)
{
	int64		n = anon_read_int64(r);

	/* each subject takes at least 5 bytes */
	if (n < 0 || n > (r->end - r->cur) / 5)
		anon_read_fail(r, "A group's count of subjects does not match the state's length.");
	return n;
}

/* One subject's flag written by anon_subjects_send, checked. */
static inline bool
subjects_read_flag(AnonReader *r)
{
	uint8		with_metric = anon_read_byte(r);

	if (with_metric > 1)
		anon_read_fail(r, "A subject's flag is neither 0 nor 1.");
	return with_metric;
}

/* Read the subjects written by anon_subjects_send into a set, checked. */
void
anon_subjects_read(AnonReader *r, SubjectSet *set)
{
	int64		n = subjects_read_count(r);

	subjects_reserve(set, n);
	for (int64 i = 0; i < n; i++)
	{
		bool		with_metric = subjects_read_flag(r);
		Datum		subject = anon_key_read(r, set->kt);

		if (anon_subjects_add_hashed(set, subject, subjects_hash(set, subject),
									 with_metric))
			anon_read_fail(r, "A subject appears twice in a group.");
	}
}

/*
 * anon_subjects_read_merge for n integers: a flag and 8 bytes each, the
 * bounds checked once, each value checked as anon_key_read checks it.
 */
static void
subjects_read_merge_integers(AnonReader *r, SubjectSet *set,
							 SubjectBatch *batch, int64 n)
{
	const char *p = anon_read_bytes(r, n * 9);
	Oid			type = set->kt->type;
	int64		lo = type == INT2OID ? PG_INT16_MIN :
		type == INT4OID ? PG_INT32_MIN :
		type == OIDOID ? 0 : PG_INT64_MIN;
	int64		hi = type == INT2OID ? PG_INT16_MAX :
		type == INT4OID ? PG_INT32_MAX :
		type == OIDOID ? PG_UINT32_MAX : PG_INT64_MAX;

	for (int64 i = 0; i < n; i++, p += 9)
	{
		uint64		u;
		int64		v;

		memcpy(&u, p + 1, 8);
		v = (int64) pg_ntoh64(u);
		if (unlikely((uint8) p[0] > 1))
			anon_read_fail(r, "A subject's flag is neither 0 nor 1.");
		if (unlikely(v < lo || v > hi))
			anon_read_fail(r, "A key or subject is out of the range of its type.");
		subjects_defer(batch, set, (Datum) v, subjects_hash(set, (Datum) v),
					   p[0] != 0);
	}
}

/* Read subjects written by anon_subjects_send into a set, merging; see keys.h. */
int64
anon_subjects_read_merge(AnonReader *r, SubjectSet *set, SubjectBatch *batch,
						 int nsets)
{
	int64		n = subjects_read_count(r);

	/* as one set's table that doubles, a merged one would move every subject */
	subjects_reserve(set, subjects_members(set) == 0 ? n * Max(nsets, 1) : n);
	if (set->kt->fast == ANON_KEY_INTEGER)
	{
		subjects_read_merge_integers(r, set, batch, n);
		return n;
	}
	for (int64 i = 0; i < n; i++)
	{
		bool		with_metric = subjects_read_flag(r);
		Datum		subject = anon_key_read(r, set->kt);

		subjects_defer(batch, set, subject, subjects_hash(set, subject),
					   with_metric);
	}
	return n;
}

/* Pass over the subjects written by anon_subjects_send; see keys.h. */
void
anon_subjects_skip(AnonReader *r, AnonKeyType *kt)
{
	int64		n = subjects_read_count(r);

	if (kt->fast == ANON_KEY_INTEGER)
	{
		/* a flag and 8 bytes each */
		(void) anon_read_bytes(r, n * 9);
		return;
	}
	for (int64 i = 0; i < n; i++)
	{
		(void) anon_read_byte(r);
		(void) anon_read_bytes(r, anon_read_int32(r));
	}
}
