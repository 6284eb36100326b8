/*-------------------------------------------------------------------------
 *
 * anonymize.h
 *	  Declarations shared by the features of the anonymize extension.
 *
 * Each feature lives in its own file in src/ and exposes an Init function
 * that _PG_init calls.  Settings live in guc.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_H
#define ANONYMIZE_H

/* Counting modes of anonymize.mode */
typedef enum AnonMode
{
	ANON_MODE_ENHANCED,			/* every row counts towards the threshold */
	ANON_MODE_BASIC				/* only rows with a metric count */
} AnonMode;

/* Settings, defined in guc.c */
extern int	anon_threshold;
extern int	anon_min_threshold;
extern int	anon_mode;

extern void AnonGucInit(void);

#endif							/* ANONYMIZE_H */
