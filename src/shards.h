/*-------------------------------------------------------------------------
 *
 * shards.h
 *	  Protection of Citus distributed tables: the facts of Citus's catalogs
 *	  the trigger and the guard need, and the signed trigger arguments by
 *	  which every node learns that a distributed table is protected.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_SHARDS_H
#define ANONYMIZE_SHARDS_H

#include "access/attnum.h"
#include "nodes/pg_list.h"

#include "registry.h"

/* Name of the trigger argument that carries the signature. */
#define ANON_CLUSTER_ARG "cluster"

/* Whether Citus's catalogs exist in this database. */
extern bool anon_citus_installed(void);

/*
 * The partition method of a Citus table ('h' for a hash-distributed table,
 * 'n' for reference and Citus local tables...), or '\0' if relid is none.
 */
extern char anon_citus_method(Oid relid);

/* The distribution column of a distributed table, or 0. */
extern AttrNumber anon_citus_distribution_column(Oid relid);

/* Whether this node is the Citus coordinator (group 0), or no Citus node. */
extern bool anon_citus_coordinator(void);

/*
 * The distributed table a shard table belongs to, or InvalidOid: relid is
 * named <table>_<shardid>, in the schema of a table that Citus's
 * pg_dist_shard lists with that shard.  *shardid gets the shard's id.
 */
extern Oid	anon_shard_table(Oid relid, int64 *shardid);

/*
 * The shard tables of a distributed table that exist on this node (a List
 * of Oid), and their shard ids in *shardids (a List of int64 pointers).
 */
extern List *anon_shard_relations(Oid relid, List **shardids);

/* The name Citus gives the anonymize trigger on a shard. */
extern char *anon_shard_trigger_name(int64 shardid);

/*
 * The signature of a distributed table's trigger arguments: a keyed hash,
 * under the key every node shares, of the table's schema and name and of
 * args, as 32 hexadecimal digits.
 */
extern char *anon_cluster_signature(Oid relid, char **args, int nargs);

/*
 * Register a distributed table on this node from the trigger on its table
 * (as Citus propagated it), if it carries a valid signature: returns
 * whether the table is registered afterwards.  An invalid signature is an
 * error.
 */
extern bool anon_cluster_register(Oid relid);



/* A row of anonymize.protected_shards. */
typedef struct AnonShardEntry
{
	char	   *schema;
	char	   *name;
	char	   *trigname;
	char	   *table;			/* the distributed table, for messages */
	int			nargs;
	char	  **args;
} AnonShardEntry;

/* Record a shard and its trigger's arguments, if not yet recorded. */
extern void anon_shard_record(Oid shard, const char *trigname, Oid table,
							  char **args, int nargs);

/* Every recorded shard of this node (a List of AnonShardEntry *). */
extern List *anon_shard_records(void);

/* Whether a relation has a recorded shard's schema and name. */
extern bool anon_shard_recorded(Oid relid);
#endif							/* ANONYMIZE_SHARDS_H */
