/*-------------------------------------------------------------------------
 *
 * pseudonym.h
 *	  Keyed hashing, the pseudonym map and its backend-local cache.
 *
 * The secret key lives in a file of the data directory (see secret.h).
 * The map anonymize.pseudonyms holds, for each person, a keyed hash of the
 * normalized identifier and a random pseudonym: never the identifier, and
 * for each pseudonym a marker row, which tells a value that already is a
 * pseudonym of the namespace.  Forgetting deletes these rows; the cache of
 * every backend is invalidated when the forgetting transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_PSEUDONYM_H
#define ANONYMIZE_PSEUDONYM_H

#include "normalize.h"

#define ANON_DIGEST_LEN 32		/* HMAC-SHA256 */
#define ANON_PSEUDONYM_LEN 16	/* a version 4 UUID */

/* Purposes of a keyed hash, so that no two uses can yield the same bytes */
#define ANON_PURPOSE_LOOKUP 'p'
#define ANON_PURPOSE_HASH 'h'
#define ANON_PURPOSE_MARKER 'm'
#define ANON_PURPOSE_REMOTE 'r'	/* answers of a Citus coordinator */

#define ANON_NONCE_LEN 16		/* a worker's nonce for the coordinator */
#define ANON_REMOTE_MAC_LEN 16	/* the coordinator's keyed hash of an answer */

#define ANON_UUID_TEXT_LEN 36	/* a uuid as text, without the NUL */

/* HMAC-SHA256 of (purpose, namespace, value) under the secret key. */
extern void anon_keyed_hash(char purpose, const char *ns, const char *value,
							int len, uint8 *digest);

/*
 * The pseudonym of a normalized identifier in a namespace, created on first
 * use.  Stable until the identifier is forgotten.  A value that already is a
 * pseudonym of the namespace (in the form written to a bigint column if
 * int8col, else to a uuid or text column) is its own pseudonym.
 */
extern void anon_pseudonym(const char *ns, const char *value, int len,
						   bool int8col, uint8 *pseudonym);

/* A pseudonym as written to a bigint column. */
extern int64 anon_pseudonym_int8(const uint8 *pseudonym);

/* A pseudonym as the text of a uuid, into ANON_UUID_TEXT_LEN + 1 bytes. */
extern void anon_uuid_format(const uint8 *pseudonym, char *out);

/*
 * The keyed hash with which a Citus coordinator signs an answer to a
 * worker: of the worker's nonce, the keyed hash asked (or none), the
 * pseudonym given (or none) and the forget epoch.
 */
extern void anon_remote_mac(const uint8 *nonce, const uint8 *digest,
							const uint8 *pseudonym, int64 epoch, uint8 *mac);

extern void AnonPseudonymInit(void);

#endif							/* ANONYMIZE_PSEUDONYM_H */
