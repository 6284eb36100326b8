/*-------------------------------------------------------------------------
 *
 * kanon.c
 *	  k_anonymity(rel, columns): the size of the smallest group of rows that
 *	  share the same values of the given columns.
 *
 * The query runs as the caller, so it needs SELECT on the table; the table
 * and column names are quoted, never spliced in as given.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(anon_k_anonymity);

/*
 * anon_k_anonymity(rel regclass, columns text[]) RETURNS bigint
 *
 * 0 for an empty table; error 42703 for a column the table does not have.
 */
Datum
anon_k_anonymity(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	char	   *relname;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	StringInfoData cols;
	StringInfoData sql;
	bool		isnull;
	int64		k;

	/* lock first, so that the names read below stay those of the relation */
	LockRelationOid(relid, AccessShareLock);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("columns must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at least one column is required")));

	initStringInfo(&cols);
	for (int i = 0; i < n; i++)
	{
		char	   *col;
		AttrNumber	attnum;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column names must not be null")));
		col = TextDatumGetCString(elems[i]);
		attnum = get_attnum(relid, col);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							col, relname)));
		if (attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot use system column \"%s\"", col)));
		appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "", quote_identifier(col));
	}

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.min(n) FROM (SELECT pg_catalog.count(*) AS n FROM %s GROUP BY %s) AS g",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												relname),
					 cols.data);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the groups of \"%s\"", relname);
	k = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(isnull ? 0 : k);
}
