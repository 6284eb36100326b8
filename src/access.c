/* placeholder, replaced below */
#include "postgres.h"
#include "fmgr.h"
PG_FUNCTION_INFO_V1(anon_anonymized_query);
Datum anon_anonymized_query(PG_FUNCTION_ARGS) { elog(ERROR, "not yet"); }
