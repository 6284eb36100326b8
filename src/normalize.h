/*-------------------------------------------------------------------------
 *
 * normalize.h
 *	  Normalization of identifiers before they are hashed.
 *
 * It depends on no locale or setting of the database (only on its encoding:
 * non-ASCII letters are folded in UTF-8 databases), so that an identifier
 * has the same pseudonym in every database that has the same key.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_NORMALIZE_H
#define ANONYMIZE_NORMALIZE_H

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

/*
 * Normalize as versions before 0.4.0 did in a database whose LC_CTYPE was C:
 * only ASCII letters are lower-cased.  For forget().
 */
extern char *anon_normalize_ascii(const char *value);

#endif							/* ANONYMIZE_NORMALIZE_H */
