/*-------------------------------------------------------------------------
 *
 * pseudonym.h
 *	  Keyed hashing, the pseudonym map and its backend-local cache.
 *
 * The secret key lives in a file of the data directory (see secret.h).
 * The map anonymize.pseudonyms holds, for each person, a keyed hash of the
 * normalized identifier and a random pseudonym: never the identifier.
 * Forgetting deletes the map row; the cache of every backend is invalidated
 * when the forgetting transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_PSEUDONYM_H
#define ANONYMIZE_PSEUDONYM_H

#define ANON_DIGEST_LEN 32		/* HMAC-SHA256 */
#define ANON_PSEUDONYM_LEN 16	/* a version 4 UUID */

/* Purposes of a keyed hash, so that no two uses can yield the same bytes */
#define ANON_PURPOSE_LOOKUP 'p'
#define ANON_PURPOSE_HASH 'h'

/*
 * Normalize an identifier: trim white space and lower-case it when it looks
 * like an e-mail address.  Returns NULL for an empty result.
 */
extern char *anon_normalize(const char *value);

/*
 * The same for len bytes (not NUL-terminated): returns a pointer into value,
 * or a new string if lower-casing changed it, and sets *outlen; NULL for an
 * empty result.
 */
extern const char *anon_normalize_bytes(const char *value, int len, int *outlen);

/* HMAC-SHA256 of (purpose, namespace, value) under the secret key. */
extern void anon_keyed_hash(char purpose, const char *ns, const char *value,
							int len, uint8 *digest);

/*
 * The pseudonym of a normalized identifier in a namespace, created on first
 * use.  Stable until the identifier is forgotten.
 */
extern void anon_pseudonym(const char *ns, const char *value, int len,
						   uint8 *pseudonym);

extern void AnonPseudonymInit(void);

#endif							/* ANONYMIZE_PSEUDONYM_H */
