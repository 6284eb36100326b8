/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every anonymize.* setting, defined in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "anonymize.h"
#include "keys.h"

int			anon_threshold = 5;
int			anon_min_threshold = 1;
int			anon_mode = ANON_MODE_ENHANCED;
int			anon_comment_threshold = 5;
int			anon_tenant_default = ANON_TENANT_POLICY;
int			anon_two_field_rule = ANON_TWO_FIELD_PROTECTED;
bool		anon_show_grouped_members = false;
bool		anon_hide_bad_metrics = false;

static const struct config_enum_entry anon_tenant_default_options[] = {
	{"policy", ANON_TENANT_POLICY, false},
	{"all", ANON_TENANT_ALL, false},
	{NULL, 0, false}
};

static const struct config_enum_entry anon_two_field_rule_options[] = {
	{"protected", ANON_TWO_FIELD_PROTECTED, false},
	{"per_slice", ANON_TWO_FIELD_PER_SLICE, false},
	{NULL, 0, false}
};

static const struct config_enum_entry anon_mode_options[] = {
	{"enhanced", ANON_MODE_ENHANCED, false},
	{"basic", ANON_MODE_BASIC, false},
	{NULL, 0, false}
};

/* Define the settings and reserve the anonymize.* prefix. */
void
AnonGucInit(void)
{
	DefineCustomIntVariable("anonymize.threshold",
							"Default anonymity threshold k of a breakout.",
							"Groups with fewer than this many respondents are never shown on their own.",
							&anon_threshold,
							5, 1, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("anonymize.min_threshold",
							"Lowest anonymity threshold anybody may ask for.",
							"A breakout whose threshold is below this value is refused.",
							&anon_min_threshold,
							1, 1, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("anonymize.comment_threshold",
							"Default threshold of anonymized_comments.",
							"A group's comments are shown only when it has at least this many.",
							&anon_comment_threshold,
							5, 1, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("anonymize.mode",
							 "How rows count towards the anonymity threshold.",
							 "enhanced counts every row; basic counts only rows with a metric "
							 "and shows the count of a small group but not its metric.",
							 &anon_mode,
							 ANON_MODE_ENHANCED, anon_mode_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("anonymize.tenant_default",
							 "Which tenants of protected tables are anonymized.",
							 "policy: each tenant's policy, and tenants without one; "
							 "all: every tenant, whatever its policy.",
							 &anon_tenant_default,
							 ANON_TENANT_POLICY, anon_tenant_default_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("anonymize.two_field_rule",
							 "How a breakout by two fields protects its cells against the one-field breakouts.",
							 "protected: the one-field totals of both fields are treated as public and "
							 "more cells are suppressed until no cell under the threshold can be derived from them; "
							 "per_slice: each slice on its own, which lets a one-field total minus the shown "
							 "cells reveal a small cell.",
							 &anon_two_field_rule,
							 ANON_TWO_FIELD_PROTECTED, anon_two_field_rule_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("anonymize.show_grouped_members",
							 "Whether a \"Grouped for anonymity\" bucket lists the groups it merged.",
							 "Listing them names small groups that exist; off shows the bucket without its members.",
							 &anon_show_grouped_members,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("anonymize.hide_bad_metrics",
							 "Whether a NaN, infinite or overflowing metric hides the mean and sum of its group instead of raising an error.",
							 "An error would tell that such a value is in the rows, even in a group too small to be shown; "
							 "anonymized queries always hide.",
							 &anon_hide_bad_metrics,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("anonymize");
}
