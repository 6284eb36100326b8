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
extern int	anon_comment_threshold;
extern bool anon_hide_bad_metrics;

extern void AnonGucInit(void);
extern void AnonProtectInit(void);
extern void AnonAccessInit(void);


/* tenant_default values */
typedef enum AnonTenantDefault
{
	ANON_TENANT_POLICY,			/* each tenant's policy; none means anonymized */
	ANON_TENANT_ALL				/* every tenant is anonymized */
} AnonTenantDefault;

extern int	anon_tenant_default;

/* Name of the trigger protect() installs */
#define ANON_TRIGGER_NAME "zzz_anonymize_protect"

/*
 * Register a relcache invalidation callback.  PostgreSQL has room for ten
 * in a backend, shared with every other library (Citus takes several), so
 * the extension registers one that calls each of its own.
 */
extern void anon_register_relcache_callback(void (*func) (Datum arg, Oid relid), Datum arg);

/* Catalog helpers, defined in anonymize.c */
extern Oid	anon_schema_oid(void);
extern Oid	anon_table_oid(const char *name);
extern Oid	anon_protect_function_oid(void);
extern void anon_become_owner(const char *table, Oid *save_userid, int *save_sec);

#endif							/* ANONYMIZE_H */
