/*-------------------------------------------------------------------------
 *
 * cluster.h
 *	  Pseudonyms on a Citus worker: asked of the coordinator, whose map is
 *	  the cluster's one map.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_CLUSTER_H
#define ANONYMIZE_CLUSTER_H

#include "pseudonym.h"

/* Whether this backend is on a Citus node other than the coordinator. */
extern bool anon_cluster_remote(void);

/*
 * Whether this statement's forget epoch is still to be checked; and mark it
 * checked, once the check has succeeded.
 */
extern bool anon_cluster_new_statement(void);
extern void anon_cluster_statement_checked(void);

/*
 * Ask the coordinator for the pseudonym of a keyed hash (digest), or of the
 * pseudonym whose marker is marker (if given, and if its pseudonym is marked,
 * when that is given); sets *epoch to the coordinator's forget epoch.
 */
extern void anon_cluster_pseudonym(const char *ns, const uint8 *digest,
								   const uint8 *marker, const uint8 *marked,
								   uint8 *pseudonym, int64 *epoch);

/* The coordinator's forget epoch. */
extern int64 anon_cluster_forget_epoch(void);

#endif							/* ANONYMIZE_CLUSTER_H */
