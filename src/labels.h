/*-------------------------------------------------------------------------
 *
 * labels.h
 *	  Labels of anonymized tables (sensitivity of columns, the person column,
 *	  the threshold) and the roles with anonymized access to them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_LABELS_H
#define ANONYMIZE_LABELS_H

#include "grouping.h"

/* The policy of one anonymized table, as its labels say. */
typedef struct AnonPolicy
{
	Oid			relid;
	int32		threshold;		/* never below anonymize.min_threshold */
	char	   *subject;		/* the person column, or NULL */
	AttrNumber	subject_attnum; /* its number, 0 if it no longer exists */
	int			ncols;			/* labelled columns */
	char	  **colnames;
	AnonSensitivity *sens;
} AnonPolicy;

/*
 * The policy of a table, or NULL if it is not anonymized (or the extension
 * is not installed).  Read from the label tables with no privilege check.
 */
extern AnonPolicy *anon_policy_read(Oid relid);

/*
 * Whether a column counts as labelled, and its sensitivity: a person column
 * is very_sensitive, whatever its label; a column with no label is
 * very_sensitive and not labelled.
 */
extern bool anon_policy_column(AnonPolicy *policy, const char *colname,
							   AnonSensitivity *sens);

/*
 * Whether the current user gets anonymized access to a table: some role it
 * has the privileges of was granted it, and it has no SELECT on the table.
 */
extern bool anon_user_is_grantee(Oid relid);

/*
 * Whether some role the current user has the privileges of was granted
 * anonymized access to a table, read from the catalog now.
 */
extern bool anon_user_has_grant(Oid relid);

/*
 * Cheap test, for the query hook: false when the current user cannot be a
 * grantee of any table of this database (no role it has the privileges of
 * was granted anonymized access).  Cached until the grants change.
 */
extern bool anon_user_may_be_grantee(void);

#endif							/* ANONYMIZE_LABELS_H */
