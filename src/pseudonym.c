/*-------------------------------------------------------------------------
 *
 * pseudonym.c
 *	  Keyed hashing, the pseudonym map and its backend-local cache.
 *
 * Reading the map needs no privilege from the caller: the map is read with
 * an index scan, and written through SPI as the map's owner.  Lookups use
 * the latest snapshot, so that an entry never enters the cache from a
 * snapshot older than an invalidation already processed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
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

#define ANON_SECRET_LEN 32
#define ANON_CACHE_MAX 100000	/* entries before the cache is emptied */

/*
 * A cached pseudonym.  The cache spares the HMAC and the index lookup for a
 * returning person: it is keyed by a 64-bit hash of "namespace\0identifier"
 * and keeps the full key to verify a hit.  It lives in backend memory only.
 */
typedef struct CacheEntry
{
	uint64		fp;				/* hash_bytes_extended of the key */
	char		status;			/* used by simplehash */
	int			keylen;
	char	   *key;
	uint8		pseudonym[ANON_PSEUDONYM_LEN];
} CacheEntry;

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

static uint8 anon_secret[ANON_SECRET_LEN];
static bool anon_secret_valid = false;
static MemoryContext anon_cache_cxt = NULL;
static pcache_hash *anon_cache = NULL;
static SPIPlanPtr anon_insert_plan = NULL;
static SPIPlanPtr anon_insert_plain_plan = NULL;
static Oid	anon_map_relid = InvalidOid;	/* as last looked up */
static Oid	anon_secret_relid = InvalidOid;

/* Forget every cached pseudonym. */
static void
anon_cache_reset(void)
{
	if (anon_cache_cxt)
		MemoryContextReset(anon_cache_cxt);
	anon_cache = NULL;
}

/* Relcache callback: the map or the secret may have changed. */
static void
anon_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == anon_map_relid)
		anon_cache_reset();
	if (relid == InvalidOid || relid == anon_secret_relid)
		anon_secret_valid = false;
}

/* Transaction callback: entries added by an aborted transaction are void. */
static void
anon_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		anon_cache_reset();
}

/* Register the invalidation callbacks. */
void
AnonPseudonymInit(void)
{
	CacheRegisterRelcacheCallback(anon_relcache_callback, (Datum) 0);
	RegisterXactCallback(anon_xact_callback, NULL);
}

/* Load the secret key from anonymize.secret, once per backend. */
static void
anon_load_secret(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;
	bytea	   *key;

	if (anon_secret_valid)
		return;
	anon_secret_relid = anon_table_oid("secret");
	rel = table_open(anon_secret_relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false,
							  GetLatestSnapshot(), 0, NULL);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the secret key of anonymize is missing"),
				 errhint("Reinstall the extension anonymize.")));
	d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
	key = isnull ? NULL : DatumGetByteaPP(d);
	if (key == NULL || VARSIZE_ANY_EXHDR(key) != ANON_SECRET_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the secret key of anonymize is malformed")));
	memcpy(anon_secret, VARDATA_ANY(key), ANON_SECRET_LEN);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	anon_secret_valid = true;
}

/* Normalize an identifier; see pseudonym.h. */
char *
anon_normalize(const char *value)
{
	const char *start = value;
	const char *end = value + strlen(value);
	char	   *result;

	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	if (start == end)
		return NULL;
	result = pnstrdup(start, end - start);
	if (strchr(result, '@') != NULL)
		result = str_tolower(result, end - start, DEFAULT_COLLATION_OID);
	return result;
}

/* Keyed hash of (purpose, namespace, value); see pseudonym.h. */
void
anon_keyed_hash(char purpose, const char *ns, const char *value, uint8 *digest)
{
	pg_hmac_ctx *ctx;
	uint8		p = (uint8) purpose;

	anon_load_secret();
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, anon_secret, ANON_SECRET_LEN) < 0 ||
		pg_hmac_update(ctx, &p, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ns, strlen(ns) + 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) value, strlen(value)) < 0 ||
		pg_hmac_final(ctx, digest, ANON_DIGEST_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA256: %s",
						ctx ? pg_hmac_error(ctx) : "out of memory")));
	pg_hmac_free(ctx);
}

/* Look a lookup digest up in the map; true and the pseudonym if found. */
static bool
anon_map_lookup(const uint8 *digest, uint8 *pseudonym)
{
	Relation	rel;
	Oid			indexoid;
	bytea	   *key = palloc(VARHDRSZ + ANON_DIGEST_LEN);
	ScanKeyData skey;
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	anon_map_relid = anon_table_oid("pseudonyms");
	rel = table_open(anon_map_relid, AccessShareLock);
	indexoid = RelationGetPrimaryKeyIndex(rel);

	SET_VARSIZE(key, VARHDRSZ + ANON_DIGEST_LEN);
	memcpy(VARDATA(key), digest, ANON_DIGEST_LEN);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_BYTEAEQ,
				PointerGetDatum(key));

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, indexoid, true, snapshot, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		memcpy(pseudonym, DatumGetUUIDP(d)->data, ANON_PSEUDONYM_LEN);
		found = true;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	pfree(key);
	return found;
}

/* Prepare (once per backend) one of the two map inserts. */
static SPIPlanPtr
anon_insert_plan_get(SPIPlanPtr *cached, const char *sql)
{
	Oid			types[2] = {BYTEAOID, UUIDOID};

	if (*cached == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, 2, types);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the pseudonym insert: %s",
				 SPI_result_code_string(SPI_result));
		*cached = plan;
	}
	return *cached;
}

/* Run one map insert through SPI; true when it stored a row. */
static bool
anon_insert_run(SPIPlanPtr *cached, const char *sql, Datum *values)
{
	bool		inserted;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(anon_insert_plan_get(cached, sql), values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert a pseudonym");
	inserted = SPI_processed == 1;
	SPI_finish();
	return inserted;
}

/*
 * Insert a row under a transaction snapshot (REPEATABLE READ, SERIALIZABLE).
 *
 * ON CONFLICT DO NOTHING would raise a serialization failure when the row
 * it conflicts with was committed after the snapshot was taken, so a plain
 * INSERT runs in a subtransaction and a unique violation means another
 * session stored the person first.
 */
static bool
anon_insert_in_subxact(Datum *values)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		inserted = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		inserted = anon_insert_run(&anon_insert_plain_plan,
								   "INSERT INTO anonymize.pseudonyms (lookup, pseudonym) VALUES ($1, $2)",
								   values);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return inserted;
}

/*
 * Insert a new pseudonym for a digest, as the map's owner; if another
 * session inserted one first, return false (the caller then reads it).
 */
static bool
anon_map_insert(const uint8 *digest, uint8 *pseudonym)
{
	Oid			save_userid;
	int			save_sec;
	bytea	   *key = palloc(VARHDRSZ + ANON_DIGEST_LEN);
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));
	Datum		values[2];
	bool		inserted;

	SET_VARSIZE(key, VARHDRSZ + ANON_DIGEST_LEN);
	memcpy(VARDATA(key), digest, ANON_DIGEST_LEN);
	if (!pg_strong_random(uuid->data, ANON_PSEUDONYM_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	uuid->data[6] = (uuid->data[6] & 0x0f) | 0x40;	/* version 4 */
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	values[0] = PointerGetDatum(key);
	values[1] = UUIDPGetDatum(uuid);

	anon_become_owner("pseudonyms", &save_userid, &save_sec);
	PG_TRY();
	{
		if (IsolationUsesXactSnapshot())
			inserted = anon_insert_in_subxact(values);
		else
			inserted = anon_insert_run(&anon_insert_plan,
									   "INSERT INTO anonymize.pseudonyms (lookup, pseudonym) "
									   "VALUES ($1, $2) ON CONFLICT DO NOTHING",
									   values);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	if (inserted)
		memcpy(pseudonym, uuid->data, ANON_PSEUDONYM_LEN);
	return inserted;
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
	if (found)
		pfree(entry->key);		/* a colliding key: replace it */
	entry->key = MemoryContextAlloc(anon_cache_cxt, keylen);
	memcpy(entry->key, key, keylen);
	entry->keylen = keylen;
	memcpy(entry->pseudonym, pseudonym, ANON_PSEUDONYM_LEN);
}

/* The pseudonym of a normalized identifier; see pseudonym.h. */
void
anon_pseudonym(const char *ns, const char *value, uint8 *pseudonym)
{
	int			nslen = strlen(ns);
	int			vlen = strlen(value);
	int			keylen = nslen + 1 + vlen;
	char	   *key = palloc(keylen);
	uint64		fp;
	uint8		digest[ANON_DIGEST_LEN];

	memcpy(key, ns, nslen + 1);
	memcpy(key + nslen + 1, value, vlen);
	fp = hash_bytes_extended((const unsigned char *) key, keylen, 0);

	if (anon_cache != NULL)
	{
		CacheEntry *entry = pcache_lookup(anon_cache, fp);

		if (entry && entry->keylen == keylen &&
			memcmp(entry->key, key, keylen) == 0)
		{
			memcpy(pseudonym, entry->pseudonym, ANON_PSEUDONYM_LEN);
			pfree(key);
			return;
		}
	}

	anon_keyed_hash(ANON_PURPOSE_LOOKUP, ns, value, digest);
	if (!anon_map_lookup(digest, pseudonym) &&
		!anon_map_insert(digest, pseudonym) &&
		!anon_map_lookup(digest, pseudonym))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access to the pseudonym map"),
				 errdetail("Another transaction created or forgot the same person at the same time."),
				 errhint("Retry the transaction.")));

	anon_cache_store(fp, key, keylen, pseudonym);
	pfree(key);
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
	anon_keyed_hash(ANON_PURPOSE_LOOKUP, ns, value, digest);
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

PG_FUNCTION_INFO_V1(anon_random_secret);

/*
 * anon_random_secret() RETURNS bytea
 *
 * A new secret key from pg_strong_random, for CREATE EXTENSION.
 */
Datum
anon_random_secret(PG_FUNCTION_ARGS)
{
	bytea	   *key = palloc(VARHDRSZ + ANON_SECRET_LEN);

	SET_VARSIZE(key, VARHDRSZ + ANON_SECRET_LEN);
	if (!pg_strong_random(VARDATA(key), ANON_SECRET_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	PG_RETURN_BYTEA_P(key);
}
