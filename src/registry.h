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
#include "utils/relcache.h"

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

/*
 * Grant the owner of a protected table EXECUTE on the trigger function, as
 * the extension's owner, if it lacks it: creating or attaching a partition
 * copies the trigger as the owner.  It gives nothing else: the trigger
 * refuses to run on a table that is not registered with its rules.
 */
extern void anon_protection_grant_owner(Oid relid);

/* Parse a WHEN condition as one raw expression (error 22023 otherwise). */
extern Node *anon_condition_parse(const char *cond);

/*
 * Cook a WHEN condition against a table; *rtable gets OLD and NEW.  With
 * canonical, cond is a canonical text, read under the fixed settings it was
 * written under.
 */
extern Node *anon_condition_cook(Relation rel, const char *cond, List **rtable,
								 bool canonical);

/*
 * Refuse (0A000) a cooked condition that could change meaning later: one
 * that is not immutable, or calls a function that is not built in.
 */
extern void anon_condition_check(Node *qual);

/*
 * Whether a cooked condition calls a function that is not built in (or, if
 * immutable, one that is not immutable), reads a domain or a subquery, or
 * holds a literal of a type that is not built in.  Conditions of tables
 * protected before 0.4.0 are held to the first part only.
 */
extern bool anon_condition_changeable(Node *qual, bool immutable);

/*
 * The canonical text of a cooked (and checked) condition of a table: what
 * the registry keeps and the guard compares.
 */
extern char *anon_condition_deparse(Oid relid, Node *qual);

#endif							/* ANONYMIZE_REGISTRY_H */
