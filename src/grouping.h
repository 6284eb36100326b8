/*-------------------------------------------------------------------------
 *
 * grouping.h
 *	  The threshold rule on group counts, shared by every breakout form.
 *
 * The rule is pure: it sees only the count of each group, in the key's own
 * sort order, and decides which groups are shown, hidden or grouped.  It
 * never allocates and never raises an error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_GROUPING_H
#define ANONYMIZE_GROUPING_H

/* How sensitive a field is; mirrors the SQL enum anonymize.sensitivity. */
typedef enum AnonSensitivity
{
	ANON_NOT_SENSITIVE,
	ANON_SOMEWHAT_SENSITIVE,
	ANON_VERY_SENSITIVE
} AnonSensitivity;

/* What happens to one group. */
typedef enum AnonStatus
{
	ANON_SHOWN,					/* shown on its own */
	ANON_HIDDEN,				/* label kept, count and metric withheld */
	ANON_GROUPED				/* merged into the "Grouped for anonymity" bucket */
} AnonStatus;

/*
 * Count of the bucket made of every group whose status is not ANON_SHOWN
 * (the grouped ones, or the hidden ones).  Used when counts do not add up
 * (distinct people in overlapping groups); NULL means the bucket's count is
 * the sum of its groups' counts.
 */
typedef int64 (*AnonBucketCount) (void *arg, int ngroups,
								  const AnonStatus *status);

/*
 * Decide the status of each of ngroups groups, given in the key's sort order
 * (the order breaks ties).  counts[i] is what group i contributes towards the
 * threshold and total the count of the whole breakout.  Returns false when
 * total < threshold: every group is then ANON_HIDDEN and nothing about any
 * group may be shown, not even its label.  Otherwise the groups that are not
 * shown (hidden or grouped) are none, or at least two that reach the
 * threshold together (unless there are not enough groups).
 */
extern bool anon_apply_threshold(int ngroups, const int64 *counts, int64 total,
								 int64 threshold, AnonSensitivity sensitivity,
								 AnonBucketCount bucket_count, void *arg,
								 AnonStatus *status);

#endif							/* ANONYMIZE_GROUPING_H */
