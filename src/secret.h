/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  The secret key of pseudonyms and hashes, kept outside the database.
 *
 * The key is a file in the data directory, anonymize/<key id>.key, readable
 * only by the server's operating system user.  The database holds only the
 * key id, in the one row of anonymize.secret, which dumps keep.  The key id
 * is derived from the key (a keyed hash of a fixed text), so it names and
 * verifies the key without revealing it.  Databases at 0.2.0 or 0.3.0 still
 * hold the key itself in anonymize.secret; it is read from there until
 * ALTER EXTENSION UPDATE moves it into a file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_SECRET_H
#define ANONYMIZE_SECRET_H

#define ANON_SECRET_LEN 32		/* bytes of the HMAC key */
#define ANON_KEY_ID_LEN 32		/* hex digits of a key id */
#define ANON_KEY_DIR "anonymize"	/* in the data directory */

/*
 * The current key of this database, loaded once and then re-validated once
 * per transaction (by its key id, without reading the file again).  Sets
 * *changed when it differs from the key returned before, so that the caller
 * can drop what it derived from the old key.  Fails closed: a missing or
 * damaged key file is an error, never a new key.
 */
extern const uint8 *anon_secret_get(bool *changed);

#endif							/* ANONYMIZE_SECRET_H */
