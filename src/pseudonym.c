/*-------------------------------------------------------------------------
 *
 * pseudonym.c
 *	  Keyed hashing, the pseudonym map and its backend-local cache.
 *
 * Using the map needs no privilege from the caller: the map is read with an
 * index scan and written directly, never through SQL.  Lookups use the
 * latest snapshot, so that an entry never enters the cache from a snapshot
 * older than an invalidation already processed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "anonymize.h"
#include "pseudonym.h"
#include "secret.h"

#define ANON_CACHE_MAX 100000	/* entries before the cache is emptied */
#define ANON_LOCK_FIELD4 0x414E /* advisory lock tags of the map ("AN") */

/*
 * A cached pseudonym.  The cache spares the HMAC and the index lookup for a
 * returning person: it is keyed by a 64-bit hash of "namespace\0identifier"
 * and keeps the full key to verify a hit, in the entry itself when it is
 * short (one memory access per lookup).  It lives in backend memory only.
 */
#define ANON_CACHE_INLINE 40

typedef struct CacheEntry
{
	uint64		fp;				/* hash_bytes_extended of the key */
	char		status;			/* used by simplehash */
	int			keylen;
	uint8		pseudonym[ANON_PSEUDONYM_LEN];
	char	   *longkey;		/* the key, if longer than ANON_CACHE_INLINE */
	char		shortkey[ANON_CACHE_INLINE];
} CacheEntry;

#define CACHE_KEY(e) ((e)->keylen <= ANON_CACHE_INLINE ? (e)->shortkey : (e)->longkey)

#define SH_PREFIX			pcache
#define SH_ELEMENT_TYPE		CacheEntry
#define SH_KEY_TYPE			uint64
#define SH_KEY				fp
#define SH_HASH_KEY(tb, k)	((uint32) (k))
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static const uint8 *anon_secret = NULL;	/* owned by secret.c */
static MemoryContext anon_cache_cxt = NULL;
static pcache_hash *anon_cache = NULL;
static Oid	anon_map_relid = InvalidOid;	/* as last looked up */

/* Forget every cached pseudonym. */
static void
anon_cache_reset(void)
{
	if (anon_cache_cxt)
		MemoryContextReset(anon_cache_cxt);
	anon_cache = NULL;
}

/* Relcache callback: the map may have changed. */
static void
anon_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == anon_map_relid)
		anon_cache_reset();
}

/* Transaction callback: entries added by an aborted transaction are void. */
static void
anon_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		anon_cache_reset();
}

/*
 * Subtransaction callback: so are entries added by an aborted savepoint or
 * exception block, whose map rows are gone.
 */
static void
anon_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		anon_cache_reset();
}

/* Register the invalidation callbacks. */
void
AnonPseudonymInit(void)
{
	CacheRegisterRelcacheCallback(anon_relcache_callback, (Datum) 0);
	RegisterXactCallback(anon_xact_callback, NULL);
	RegisterSubXactCallback(anon_subxact_callback, NULL);
}

/*
 * Bring the secret key up to date (secret.c re-validates it once per
 * transaction).  When the key has changed, cached pseudonyms are dropped,
 * for they were found under the old key.
 */
static void
anon_load_secret(void)
{
	bool		changed;

	anon_secret = anon_secret_get(&changed);
	if (changed)
		anon_cache_reset();
}

/* Normalize an identifier held in bytes; see pseudonym.h. */
const char *
anon_normalize_bytes(const char *value, int len, int *outlen)
{
	const char *start = value;
	const char *end = value + len;
	bool		email = false;
	bool		fold = false;

	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	if (start == end)
		return NULL;
	for (const char *p = start; p < end; p++)
	{
		if (*p == '@')
			email = true;
		else if (IS_HIGHBIT_SET(*p) || (*p >= 'A' && *p <= 'Z'))
			fold = true;
	}
	*outlen = end - start;
	/* lower-case ASCII letters and other bytes are never changed by it */
	if (email && fold)
	{
		char	   *lower = str_tolower(start, end - start, DEFAULT_COLLATION_OID);

		*outlen = strlen(lower);
		return lower;
	}
	return start;
}

/* Normalize an identifier into a new string; see pseudonym.h. */
char *
anon_normalize(const char *value)
{
	int			len;
	const char *norm = anon_normalize_bytes(value, strlen(value), &len);

	return norm ? pnstrdup(norm, len) : NULL;
}

/* Keyed hash of (purpose, namespace, value); see pseudonym.h. */
void
anon_keyed_hash(char purpose, const char *ns, const char *value, int len,
				uint8 *digest)
{
	pg_hmac_ctx *ctx;
	uint8		p = (uint8) purpose;

	anon_load_secret();
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, anon_secret, ANON_SECRET_LEN) < 0 ||
		pg_hmac_update(ctx, &p, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ns, strlen(ns) + 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) value, len) < 0 ||
		pg_hmac_final(ctx, digest, ANON_DIGEST_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA256: %s",
						ctx ? pg_hmac_error(ctx) : "out of memory")));
	pg_hmac_free(ctx);
}

/*
 * Scan the map's primary key for a digest; true and the pseudonym if a row
 * is visible to the snapshot.  (A dirty snapshot also notes in its xmin or
 * xmax another transaction that is inserting or deleting the row found.)
 */
static bool
anon_map_scan(Relation rel, Snapshot snapshot, const uint8 *digest,
			  uint8 *pseudonym)
{
	bytea	   *key = palloc(VARHDRSZ + ANON_DIGEST_LEN);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	SET_VARSIZE(key, VARHDRSZ + ANON_DIGEST_LEN);
	memcpy(VARDATA(key), digest, ANON_DIGEST_LEN);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_BYTEAEQ,
				PointerGetDatum(key));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  snapshot, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		memcpy(pseudonym, DatumGetUUIDP(d)->data, ANON_PSEUDONYM_LEN);
		found = true;
	}
	systable_endscan(scan);
	pfree(key);
	return found;
}

/* Store a new random pseudonym for a digest. */
static void
anon_map_store(Relation rel, const uint8 *digest, uint8 *pseudonym)
{
	bytea	   *key = palloc(VARHDRSZ + ANON_DIGEST_LEN);
	pg_uuid_t	uuid;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tup;

	if (!pg_strong_random(uuid.data, ANON_PSEUDONYM_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	uuid.data[6] = (uuid.data[6] & 0x0f) | 0x40;	/* version 4 */
	uuid.data[8] = (uuid.data[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	SET_VARSIZE(key, VARHDRSZ + ANON_DIGEST_LEN);
	memcpy(VARDATA(key), digest, ANON_DIGEST_LEN);
	values[0] = PointerGetDatum(key);
	values[1] = UUIDPGetDatum(&uuid);

	/* insert the row and its index entries, as is done for a catalog */
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsert(rel, tup);
	heap_freetuple(tup);
	pfree(key);
	memcpy(pseudonym, uuid.data, ANON_PSEUDONYM_LEN);
}

/*
 * Find the pseudonym of a lookup digest in the map, storing a new one if
 * there is none.
 *
 * The map is read with the latest snapshot.  A person not found is created
 * under a short lock on the digest, after a dirty-snapshot scan: a row that
 * another transaction is inserting or deleting is waited for, and the lookup
 * starts again.  So two sessions storing the same new person end with one
 * row and no error, at every isolation level, without subtransactions.  The
 * writer needs no privilege on the map: it is written directly.
 */
static void
anon_map_get(const uint8 *digest, uint8 *pseudonym)
{
	for (;;)
	{
		Relation	rel;
		Snapshot	snapshot;
		SnapshotData dirty;
		LOCKTAG		tag;
		uint32		key1;
		uint32		key2;
		TransactionId xwait;
		bool		found;

		anon_map_relid = anon_table_oid("pseudonyms");
		rel = table_open(anon_map_relid, RowExclusiveLock);
		snapshot = RegisterSnapshot(GetLatestSnapshot());
		found = anon_map_scan(rel, snapshot, digest, pseudonym);
		UnregisterSnapshot(snapshot);
		if (found)
		{
			table_close(rel, NoLock);
			return;
		}

		/* an advisory lock tag that SQL's advisory lock functions never use */
		memcpy(&key1, digest, sizeof(key1));
		memcpy(&key2, digest + sizeof(key1), sizeof(key2));
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, key1, key2, ANON_LOCK_FIELD4);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		InitDirtySnapshot(dirty);
		found = anon_map_scan(rel, &dirty, digest, pseudonym);
		xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
		if (!found)
			anon_map_store(rel, digest, pseudonym);
		LockRelease(&tag, ExclusiveLock, false);
		table_close(rel, NoLock);

		if (!found || !TransactionIdIsValid(xwait))
			return;
		/* another transaction is storing or forgetting this person */
		XactLockTableWait(xwait, NULL, NULL, XLTW_None);
	}
}

/* Remember a pseudonym in the backend cache. */
static void
anon_cache_store(uint64 fp, const char *key, int keylen, const uint8 *pseudonym)
{
	CacheEntry *entry;
	bool		found;

	if (anon_cache_cxt == NULL)
		anon_cache_cxt = AllocSetContextCreate(TopMemoryContext,
											   "anonymize pseudonym cache",
											   ALLOCSET_DEFAULT_SIZES);
	if (anon_cache != NULL && anon_cache->members >= ANON_CACHE_MAX)
		anon_cache_reset();
	if (anon_cache == NULL)
		anon_cache = pcache_create(anon_cache_cxt, 1024, NULL);
	entry = pcache_insert(anon_cache, fp, &found);
	if (found && entry->keylen > ANON_CACHE_INLINE)
		pfree(entry->longkey);	/* a colliding key: replace it */
	entry->keylen = keylen;
	if (keylen > ANON_CACHE_INLINE)
		entry->longkey = MemoryContextAlloc(anon_cache_cxt, keylen);
	memcpy(CACHE_KEY(entry), key, keylen);
	memcpy(entry->pseudonym, pseudonym, ANON_PSEUDONYM_LEN);
}

/* The pseudonym of a normalized identifier; see pseudonym.h. */
void
anon_pseudonym(const char *ns, const char *value, int len, uint8 *pseudonym)
{
	int			nslen = strlen(ns);
	int			keylen = nslen + 1 + len;
	char		buf[256];
	char	   *key = keylen <= sizeof(buf) ? buf : palloc(keylen);
	uint64		fp;
	uint8		digest[ANON_DIGEST_LEN];

	memcpy(key, ns, nslen + 1);
	memcpy(key + nslen + 1, value, len);
	fp = hash_bytes_extended((const unsigned char *) key, keylen, 0);

	anon_load_secret();			/* may empty the cache */

	if (anon_cache != NULL)
	{
		CacheEntry *entry = pcache_lookup(anon_cache, fp);

		if (entry && entry->keylen == keylen &&
			memcmp(CACHE_KEY(entry), key, keylen) == 0)
		{
			memcpy(pseudonym, entry->pseudonym, ANON_PSEUDONYM_LEN);
			return;
		}
	}

	anon_keyed_hash(ANON_PURPOSE_LOOKUP, ns, value, len, digest);
	anon_map_get(digest, pseudonym);

	anon_cache_store(fp, key, keylen, pseudonym);
}

PG_FUNCTION_INFO_V1(anon_forget);

/*
 * anon_forget(identifier text, namespace text) RETURNS boolean
 *
 * Delete the only link from an identifier to its pseudonym; true if there
 * was one.  Every backend's cache is emptied when the transaction commits.
 */
Datum
anon_forget(PG_FUNCTION_ARGS)
{
	char	   *value = anon_normalize(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	char	   *ns = text_to_cstring(PG_GETARG_TEXT_PP(1));
	uint8		digest[ANON_DIGEST_LEN];
	bytea	   *key;
	Datum		values[1];
	Oid			types[1] = {BYTEAOID};
	bool		deleted;

	if (value == NULL)
		PG_RETURN_BOOL(false);
	anon_keyed_hash(ANON_PURPOSE_LOOKUP, ns, value, strlen(value), digest);
	key = palloc(VARHDRSZ + ANON_DIGEST_LEN);
	SET_VARSIZE(key, VARHDRSZ + ANON_DIGEST_LEN);
	memcpy(VARDATA(key), digest, ANON_DIGEST_LEN);
	values[0] = PointerGetDatum(key);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("DELETE FROM anonymize.pseudonyms WHERE lookup = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from the pseudonym map");
	deleted = SPI_processed > 0;
	SPI_finish();

	/* every backend drops its cached pseudonyms when this commits */
	CacheInvalidateRelcacheByRelid(anon_table_oid("pseudonyms"));
	PG_RETURN_BOOL(deleted);
}
