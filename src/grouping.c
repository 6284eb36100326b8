/*-------------------------------------------------------------------------
 *
 * grouping.c
 *	  The threshold rule on group counts (see grouping.h).
 *
 * very_sensitive groups below the threshold are merged into one bucket.
 * While the bucket has fewer than k rows, or holds a single original group,
 * the smallest remaining group joins it (ties broken by key order), so that
 * no small group can be recovered as "total minus everything shown".
 * somewhat_sensitive groups below the threshold are hidden under the same
 * logic: while the hidden groups have fewer than k rows together, or there
 * is a single one, the smallest shown group is hidden too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "grouping.h"

/* Index of the smallest group not yet grouped, or -1 if there is none. */
static int
smallest_ungrouped(int ngroups, const int64 *counts, const AnonStatus *status)
{
	int			best = -1;

	for (int i = 0; i < ngroups; i++)
	{
		if (status[i] == ANON_GROUPED)
			continue;
		if (best < 0 || counts[i] < counts[best])
			best = i;
	}
	return best;
}

/* Index of the smallest group still shown, or -1 if there is none. */
static int
smallest_shown(int ngroups, const int64 *counts, const AnonStatus *status)
{
	int			best = -1;

	for (int i = 0; i < ngroups; i++)
	{
		if (status[i] != ANON_SHOWN)
			continue;
		if (best < 0 || counts[i] < counts[best])
			best = i;
	}
	return best;
}

/*
 * Hide small groups, then more until the hidden ones together reach the
 * threshold and are at least two: "total minus shown" then covers k rows
 * of two groups or more, never one small group.
 */
static void
hide_small(int ngroups, const int64 *counts, int64 threshold,
		   AnonBucketCount bucket_count, void *arg, AnonStatus *status)
{
	int			hidden = 0;
	int64		size = 0;

	for (int i = 0; i < ngroups; i++)
	{
		status[i] = counts[i] < threshold ? ANON_HIDDEN : ANON_SHOWN;
		if (status[i] == ANON_HIDDEN)
		{
			hidden++;
			size += counts[i];
		}
	}
	if (hidden > 0 && bucket_count)
		size = bucket_count(arg, ngroups, status);
	while (hidden > 0 && (size < threshold || hidden == 1))
	{
		int			next = smallest_shown(ngroups, counts, status);

		if (next < 0)
			break;
		status[next] = ANON_HIDDEN;
		hidden++;
		size = bucket_count ? bucket_count(arg, ngroups, status)
			: size + counts[next];
	}
}

/* Merge small groups into one bucket that is safe to show. */
static void
group_small(int ngroups, const int64 *counts, int64 threshold,
			AnonBucketCount bucket_count, void *arg, AnonStatus *status)
{
	int			members = 0;
	int64		size = 0;

	for (int i = 0; i < ngroups; i++)
	{
		if (counts[i] < threshold)
		{
			status[i] = ANON_GROUPED;
			members++;
			size += counts[i];
		}
		else
			status[i] = ANON_SHOWN;
	}
	if (members == 0)
		return;
	if (bucket_count)
		size = bucket_count(arg, ngroups, status);

	while (size < threshold || members == 1)
	{
		int			next = smallest_ungrouped(ngroups, counts, status);

		if (next < 0)
			break;
		status[next] = ANON_GROUPED;
		members++;
		size = bucket_count ? bucket_count(arg, ngroups, status)
			: size + counts[next];
	}
}

/* Apply the threshold rule of one field; see grouping.h. */
bool
anon_apply_threshold(int ngroups, const int64 *counts, int64 total,
					 int64 threshold, AnonSensitivity sensitivity,
					 AnonBucketCount bucket_count, void *arg,
					 AnonStatus *status)
{
	if (total < threshold)
	{
		for (int i = 0; i < ngroups; i++)
			status[i] = ANON_HIDDEN;
		return false;
	}

	switch (sensitivity)
	{
		case ANON_NOT_SENSITIVE:
			for (int i = 0; i < ngroups; i++)
				status[i] = ANON_SHOWN;
			break;
		case ANON_SOMEWHAT_SENSITIVE:
			hide_small(ngroups, counts, threshold, bucket_count, arg, status);
			break;
		case ANON_VERY_SENSITIVE:
			group_small(ngroups, counts, threshold, bucket_count, arg, status);
			break;
	}
	return true;
}
