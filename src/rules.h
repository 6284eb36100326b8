/*-------------------------------------------------------------------------
 *
 * rules.h
 *	  Anonymization rules ("column=action"): parsing, checking against a
 *	  table, and applying to a value.
 *
 * protect() and the trigger share these functions, so a rule the trigger
 * accepts is exactly a rule protect() accepted.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_RULES_H
#define ANONYMIZE_RULES_H

#include "access/tupdesc.h"

typedef enum AnonAction
{
	ANON_STRIP,
	ANON_PSEUDONYM,
	ANON_HASH,
	ANON_GENERALIZE_IP,
	ANON_TRUNCATE,
	ANON_EMAIL_DOMAIN
} AnonAction;

/* One parsed rule; column data is filled in by anon_rule_bind. */
typedef struct AnonRule
{
	char	   *column;
	char	   *action_text;	/* the action as written, e.g. "pseudonym:crm" */
	AnonAction	action;
	char	   *ns;				/* namespace of pseudonym and hash */
	int			v4bits;			/* generalize_ip */
	int			v6bits;
	char	   *unit;			/* truncate */

	char	   *relname;		/* set by anon_rule_bind, for messages */
	AttrNumber	attnum;
	Oid			typid;
	int32		typmod;
	int16		typlen;
	bool		typbyval;
} AnonRule;

/* Split "column=action" at its last '=' and parse it (error 22023 if bad). */
extern void anon_rule_parse_text(const char *text, AnonRule *rule);

/* Parse an action for a column (error 22023 if malformed or unknown). */
extern void anon_rule_parse(const char *column, const char *action,
							AnonRule *rule);

/*
 * Find the rule's column in a tuple descriptor and check that the action fits
 * its type; relname is for messages.
 */
extern void anon_rule_bind(AnonRule *rule, TupleDesc tupdesc,
						   const char *relname);

/* Apply a bound rule to a non-NULL value; sets *isnull for a NULL result. */
extern Datum anon_rule_apply(AnonRule *rule, Datum value, bool *isnull);

#endif							/* ANONYMIZE_RULES_H */
