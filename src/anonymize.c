/*-------------------------------------------------------------------------
 *
 * anonymize.c
 *	  Module entry point of the anonymize extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "anonymize.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Load-time set-up: one call per feature that needs it. */
void
_PG_init(void)
{
	AnonGucInit();
}
