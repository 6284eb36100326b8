/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  The registry of protected tables (anonymize.protection), and the
 *	  trigger arguments it implies.
 *
 * protect() writes the registry and installs the trigger with the arguments
 * built here; the trigger refuses to run, and the guard refuses any command
 * that leaves a protected table, unless the trigger's arguments are exactly
 * those of its table's registry row.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_REGISTRY_H
#define ANONYMIZE_REGISTRY_H

#include "nodes/pg_list.h"

/* One row of anonymize.protection */
typedef struct AnonProtection
{
	Oid			relid;
	int			nrules;
	char	  **rules;			/* "column=action" */
	char	   *email_column;	/* NULL: no e-mail scope */
	int			ndomains;
	char	  **domains;		/* NULL: no list of the table's own */
	char	   *tenant_column;	/* NULL: no tenant scope */
	char	   *when_condition; /* NULL: every row */
} AnonProtection;

/* Read the registry row of a table; false if it is not protected. */
extern bool anon_protection_read(Oid relid, AnonProtection *p);

/* OIDs of every protected table (a List of Oid). */
extern List *anon_protection_all(void);

/* The trigger arguments a registry row implies. */
extern char **anon_protection_args(const AnonProtection *p, int *nargs);

/* Whether a trigger's arguments are exactly those. */
extern bool anon_protection_args_match(const AnonProtection *p, int tgnargs,
									   char **tgargs);

/* The table whose registry row covers a relation: its partition root. */
extern Oid	anon_protection_root(Oid relid);

#endif							/* ANONYMIZE_REGISTRY_H */
