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
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#ifdef USE_OPENSSL
#include <openssl/sha.h>
#endif

#include "anonymize.h"
#include "cluster.h"
#include "normalize.h"
#include "pseudonym.h"
#include "secret.h"
#include "shards.h"

#define ANON_CACHE_MAX 100000	/* entries before the cache is emptied */
#define ANON_LOCK_FIELD4 0x414E /* advisory lock tags of the map ("AN") */

/*
 * A cached pseudonym.  The cache spares the HMAC and the index lookup for a
 * returning person.  It is keyed by a 64-bit hash of "namespace\0identifier"
 * and verifies a hit with a second, independent 64-bit hash: it never holds
 * the identifier itself, so a core dump of the backend shows no identifier.
 *
 * An entry whose map row the current transaction wrote (or found written by
 * it) is pending: it carries the subtransaction that wrote it, and goes away
 * with it if that subtransaction, or the transaction, aborts or is prepared
 * (a prepared transaction may yet be rolled back).  Committing makes pending
 * entries plain.  Other entries are only dropped when the map is changed by
 * forget() or the cache is full.
 */
typedef struct CacheEntry
{
	uint64		fp;				/* hash_bytes_extended of the key, seed 0 */
	uint64		check;			/* the same with another seed */
	char		status;			/* used by simplehash */
	SubTransactionId subid;		/* pending since then; 0 if committed */
	uint8		pseudonym[ANON_PSEUDONYM_LEN];
} CacheEntry;

#define ANON_CHECK_SEED UINT64CONST(0x9E3779B97F4A7C15)

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

/*
 * The map loaded whole, for a backend that meets many people it has not
 * cached (a new connection of a busy application): a miss then costs a keyed
 * hash and a probe instead of an index scan.  It is loaded once the backend
 * has looked up ANON_LOAD_AFTER digests (at least four per block of the map)
 * since the caches were last emptied, if the map has at most ANON_LOAD_MAX
 * rows, and holds only rows that committed transactions of other sessions
 * wrote and no transaction is deleting: as if each had been looked up at
 * that moment.  It is emptied with the cache (forget(), a new key, a new
 * relfilenode).  A digest it lacks had no such row when it was loaded: a new
 * person is then stored at once under the lock on the digest (which scans the
 * map again), and a lookup without create scans the map as before.
 */
#define ANON_LOAD_AFTER 1000
#define ANON_LOAD_MAX 100000	/* rows: people and their markers */

typedef struct MapEntry
{
	uint64		key;			/* the digest's first eight bytes */
	char		status;			/* used by simplehash */
	bool		ambiguous;		/* two digests share the key: not used */
	uint8		digest[ANON_DIGEST_LEN];
	uint8		pseudonym[ANON_PSEUDONYM_LEN];
} MapEntry;

#define SH_PREFIX			mcache
#define SH_ELEMENT_TYPE		MapEntry
#define SH_KEY_TYPE			uint64
#define SH_KEY				key
#define SH_HASH_KEY(tb, k)	((uint32) (k))	/* digest bytes are uniform */
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static const uint8 *anon_secret = NULL;	/* owned by secret.c */
static MemoryContext anon_cache_cxt = NULL;
static pcache_hash *anon_cache = NULL;
static uint64 *anon_pending = NULL; /* fingerprints of pending entries */
static int	anon_npending = 0;
static int	anon_maxpending = 0;
static Oid	anon_map_relid = InvalidOid;	/* as last looked up */
static Oid	anon_map_nsp = InvalidOid;	/* its schema */
static Oid	anon_signal_nsp = InvalidOid;	/* schema anon_signal_relid is of */
static Oid	anon_map_node = InvalidOid; /* the map's relfilenode, as cached */
static Oid	anon_signal_relid = InvalidOid; /* anonymize.forget_signal */
static bool anon_map_check = false; /* the map had an invalidation */
static MemoryContext anon_loaded_cxt = NULL;	/* the loaded map's */
static mcache_hash *anon_loaded = NULL; /* the map loaded whole, or NULL */
static bool anon_load_refused = false;	/* the map was too large to load */
static int	anon_lookups = 0;	/* digests looked up since the last reset */
static int	anon_load_at = 0;	/* lookups after which to load, if larger */
static uint64 anon_resets = 0;	/* times the caches were emptied */
static int64 anon_remote_epoch = -1;	/* coordinator's forget epoch of the cache */

/* Forget every cached pseudonym. */
static void
anon_cache_reset(void)
{
	if (anon_cache_cxt)
		MemoryContextReset(anon_cache_cxt);
	anon_cache = NULL;
	anon_pending = NULL;
	anon_npending = 0;
	anon_maxpending = 0;
	if (anon_loaded_cxt)
		MemoryContextDelete(anon_loaded_cxt);
	anon_loaded_cxt = NULL;
	anon_loaded = NULL;
	anon_load_refused = false;
	anon_lookups = 0;
	anon_load_at = 0;
	anon_resets++;
}

/*
 * Drop the pending entries written since subtransaction subid (all of them
 * for InvalidSubTransactionId), or, if commit, make them all plain.
 */
static void
anon_pending_end(SubTransactionId subid, bool commit)
{
	int			kept = 0;

	for (int i = 0; i < anon_npending; i++)
	{
		CacheEntry *entry = anon_cache ? pcache_lookup(anon_cache, anon_pending[i]) : NULL;

		if (entry == NULL || entry->subid == 0)
			continue;
		if (commit)
			entry->subid = 0;
		else if (entry->subid >= subid)
			pcache_delete_item(anon_cache, entry);
		else
			anon_pending[kept++] = anon_pending[i];
	}
	anon_npending = kept;
}

/*
 * Relcache callback: the map may have changed.  forget()
 * signals through the relation anonymize.forget_signal, which nothing else
 * invalidates, and the cache is emptied.  Invalidations of the map itself
 * come mostly from ANALYZE and autovacuum: the map is then only checked at
 * next use for a new relfilenode (TRUNCATE).  Without forget_signal (an
 * extension not yet upgraded to 0.4.0), they empty the cache.
 */
static void
anon_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid ||
		(OidIsValid(anon_signal_relid) && relid == anon_signal_relid) ||
		(!OidIsValid(anon_signal_relid) && relid == anon_map_relid))
		anon_cache_reset();
	else if (relid == anon_map_relid)
		anon_map_check = true;
}

/* Transaction callback: pending entries become plain, or void. */
static void
anon_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			anon_pending_end(InvalidSubTransactionId, true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			anon_pending_end(InvalidSubTransactionId, false);
			break;
		default:
			break;
	}
}

/*
 * Subtransaction callback: the entries written by an aborted savepoint or
 * exception block (or its children), whose map rows are gone, are void.
 */
static void
anon_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		anon_pending_end(mySubid, false);
}

/* Register the invalidation callbacks. */
void
AnonPseudonymInit(void)
{
	anon_register_relcache_callback(anon_relcache_callback, (Datum) 0);
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

#ifdef USE_OPENSSL

/*
 * HMAC-SHA256 with the key's inner and outer SHA-256 states computed once per
 * key: a keyed hash then costs two SHA-256 blocks and no allocation, where
 * pg_hmac would set the key up (and fetch the digest from OpenSSL) each time.
 */
static SHA256_CTX anon_hmac_inner;
static SHA256_CTX anon_hmac_outer;
static uint8 anon_hmac_key[ANON_SECRET_LEN];	/* the key of these states */
static bool anon_hmac_ready = false;

/* Compute the inner and outer states of the current key. */
static void
anon_hmac_setup(void)
{
	uint8		pad[SHA256_CBLOCK];

	memset(pad, 0x36, sizeof(pad));
	for (int i = 0; i < ANON_SECRET_LEN; i++)
		pad[i] ^= anon_secret[i];
	SHA256_Init(&anon_hmac_inner);
	SHA256_Update(&anon_hmac_inner, pad, sizeof(pad));
	memset(pad, 0x5c, sizeof(pad));
	for (int i = 0; i < ANON_SECRET_LEN; i++)
		pad[i] ^= anon_secret[i];
	SHA256_Init(&anon_hmac_outer);
	SHA256_Update(&anon_hmac_outer, pad, sizeof(pad));
	explicit_bzero(pad, sizeof(pad));
	memcpy(anon_hmac_key, anon_secret, ANON_SECRET_LEN);
	anon_hmac_ready = true;
}

/* Keyed hash of (purpose, namespace, value); see pseudonym.h. */
void
anon_keyed_hash(char purpose, const char *ns, const char *value, int len,
				uint8 *digest)
{
	SHA256_CTX	ctx;
	uint8		p = (uint8) purpose;
	uint8		inner[SHA256_DIGEST_LENGTH];

	StaticAssertStmt(ANON_DIGEST_LEN == SHA256_DIGEST_LENGTH,
					 "a digest is one SHA-256");
	anon_load_secret();
	if (!anon_hmac_ready ||
		memcmp(anon_hmac_key, anon_secret, ANON_SECRET_LEN) != 0)
		anon_hmac_setup();
	ctx = anon_hmac_inner;
	SHA256_Update(&ctx, &p, 1);
	SHA256_Update(&ctx, ns, strlen(ns) + 1);
	SHA256_Update(&ctx, value, len);
	SHA256_Final(inner, &ctx);
	ctx = anon_hmac_outer;
	SHA256_Update(&ctx, inner, sizeof(inner));
	SHA256_Final(digest, &ctx);
	explicit_bzero(&ctx, sizeof(ctx));
}

#else							/* !USE_OPENSSL */

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

#endif							/* USE_OPENSSL */

/*
 * What a scan of the map's primary key found.  A dirty snapshot also shows
 * rows that other transactions are inserting or deleting: xwait is then the
 * transaction to wait for.  mine tells a row this transaction inserted.
 */
typedef struct MapRow
{
	bool		found;
	bool		mine;
	TransactionId xwait;
	ItemPointerData tid;
	uint8		pseudonym[ANON_PSEUDONYM_LEN];
} MapRow;

/*
 * Scan the map's primary key for a digest with a dirty snapshot.  Being no
 * MVCC snapshot, it takes no SSI predicate lock: the lock on the digest and
 * the wait for in-progress writers are the concurrency control of the map,
 * at every isolation level.
 */
static void
anon_map_scan(Relation rel, const uint8 *digest, MapRow *row)
{
	bytea	   *key = palloc(VARHDRSZ + ANON_DIGEST_LEN);
	ScanKeyData skey;
	SnapshotData dirty;
	SysScanDesc scan;
	HeapTuple	tup;

	SET_VARSIZE(key, VARHDRSZ + ANON_DIGEST_LEN);
	memcpy(VARDATA(key), digest, ANON_DIGEST_LEN);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_BYTEAEQ,
				PointerGetDatum(key));
	InitDirtySnapshot(dirty);
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  &dirty, 1, &skey);
	tup = systable_getnext(scan);
	row->found = HeapTupleIsValid(tup);
	row->mine = false;
	row->xwait = InvalidTransactionId;
	if (row->found)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		memcpy(row->pseudonym, DatumGetUUIDP(d)->data, ANON_PSEUDONYM_LEN);
		row->tid = tup->t_self;
		row->xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
		row->mine = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(tup->t_data));
	}
	systable_endscan(scan);
	pfree(key);
}

/*
 * Refuse to write the map unless it is as the extension made it: a plain
 * table with its primary key as its only index, and no trigger or rule.
 * Rows are written as for a catalog (heap and index directly), which would
 * skip a trigger or rule a superuser added and cannot maintain an index
 * with expressions or a predicate.
 */
static void
anon_map_check_shape(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		rel->rd_rules != NULL || list_length(indexes) != 1 ||
		linitial_oid(indexes) != RelationGetPrimaryKeyIndex(rel))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table anonymize.pseudonyms is not as the extension made it"),
				 errdetail("The map must be a plain table with its primary key as its only index, and no trigger or rule."),
				 errhint("Remove what was added to it.")));
	list_free(indexes);
}

/* Insert a map row, with the map's indexes as opened by CatalogOpenIndexes. */
static void
anon_map_insert(Relation rel, CatalogIndexState indstate, const uint8 *digest,
				const uint8 *pseudonym)
{
	bytea	   *key = palloc(VARHDRSZ + ANON_DIGEST_LEN);
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tup;

	anon_map_check_shape(rel);

	SET_VARSIZE(key, VARHDRSZ + ANON_DIGEST_LEN);
	memcpy(VARDATA(key), digest, ANON_DIGEST_LEN);
	values[0] = PointerGetDatum(key);
	values[1] = UUIDPGetDatum((pg_uuid_t *) pseudonym);

	/* insert the row and its index entries, as is done for a catalog */
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsertWithInfo(rel, tup, indstate);
	heap_freetuple(tup);
	pfree(key);
}

/* Write a pseudonym as the text of a uuid (lower case, with NUL). */
void
anon_uuid_format(const uint8 *pseudonym, char *out)
{
	static const char hex[] = "0123456789abcdef";

	/* where each byte's two digits go among the 36 characters */
	static const uint8 at[ANON_PSEUDONYM_LEN] = {
		0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34
	};

	for (int i = 0; i < ANON_PSEUDONYM_LEN; i++)
	{
		out[at[i]] = hex[pseudonym[i] >> 4];
		out[at[i] + 1] = hex[pseudonym[i] & 0x0F];
	}
	out[8] = out[13] = out[18] = out[23] = '-';
	out[ANON_UUID_TEXT_LEN] = '\0';
}

/*
 * The bigint form of a pseudonym, as the trigger stores it: the first eight
 * bytes, sign bit cleared, 0 made 1.  (They include the uuid's version
 * nibble, so 59 bits vary; kept, for a change would change every stored
 * bigint pseudonym.)
 */
int64
anon_pseudonym_int8(const uint8 *pseudonym)
{
	uint64		v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | pseudonym[i];
	v &= PG_INT64_MAX;
	return v == 0 ? 1 : (int64) v;
}

/*
 * The digest of the marker of a pseudonym in a namespace: the map row that
 * tells a value already is a pseudonym there.  It is keyed by the bigint
 * form, so that one row serves uuid, text and bigint columns.
 */
static void
anon_marker_digest(const char *ns, int64 form, uint8 *digest)
{
	char		buf[MAXINT8LEN + 1];
	int			len = pg_lltoa(form, buf);

	anon_keyed_hash(ANON_PURPOSE_MARKER, ns, buf, len, digest);
}

/*
 * Random bytes for new pseudonyms, drawn from pg_strong_random for 64 of
 * them at a time (one call costs as much as its setup); each is wiped from
 * the pool when it is taken.
 */
#define ANON_RANDOM_POOL 64
static uint8 anon_random_pool[ANON_RANDOM_POOL * ANON_PSEUDONYM_LEN];
static int	anon_random_left = 0;

/* Fill a pseudonym with strong random bytes. */
static void
anon_random_pseudonym(uint8 *pseudonym)
{
	uint8	   *take;

	if (anon_random_left == 0)
	{
		if (!pg_strong_random(anon_random_pool, sizeof(anon_random_pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values")));
		anon_random_left = ANON_RANDOM_POOL;
	}
	take = anon_random_pool + --anon_random_left * ANON_PSEUDONYM_LEN;
	memcpy(pseudonym, take, ANON_PSEUDONYM_LEN);
	explicit_bzero(take, ANON_PSEUDONYM_LEN);
}

/* Store a new random pseudonym for a digest, and its marker. */
static void
anon_map_store(Relation rel, const char *ns, const uint8 *digest,
			   uint8 *pseudonym)
{
	uint8		marker[ANON_DIGEST_LEN];
	CatalogIndexState indstate;

	anon_random_pseudonym(pseudonym);
	pseudonym[6] = (pseudonym[6] & 0x0f) | 0x40;	/* version 4 */
	pseudonym[8] = (pseudonym[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	anon_marker_digest(ns, anon_pseudonym_int8(pseudonym), marker);
	indstate = CatalogOpenIndexes(rel);
	anon_map_insert(rel, indstate, digest, pseudonym);
	anon_map_insert(rel, indstate, marker, pseudonym);
	CatalogCloseIndexes(indstate);
}

/* Take or release the short lock on a digest. */
static void
anon_digest_lock(const uint8 *digest, bool acquire)
{
	LOCKTAG		tag;
	uint32		key1;
	uint32		key2;

	/* an advisory lock tag that SQL's advisory lock functions never use */
	memcpy(&key1, digest, sizeof(key1));
	memcpy(&key2, digest + sizeof(key1), sizeof(key2));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, key1, key2, ANON_LOCK_FIELD4);
	if (acquire)
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	else
		LockRelease(&tag, ExclusiveLock, false);
}

/*
 * Open the map.  A map with another relfilenode than the cached pseudonyms
 * were found in (truncated, or made anew) empties the cache.  The map is
 * looked up in the catalogs only the first time, or when it is gone (the
 * extension was dropped): a new person looks it up twice.
 */
static Relation
anon_map_open(void)
{
	Relation	rel = NULL;

	/* the map as last looked up, if it is still there (no catalog scan) */
	if (OidIsValid(anon_map_relid))
	{
		rel = try_table_open(anon_map_relid, RowExclusiveLock);
		if (rel && (strcmp(RelationGetRelationName(rel), "pseudonyms") != 0 ||
					RelationGetNamespace(rel) != anon_map_nsp))
		{
			table_close(rel, RowExclusiveLock);
			rel = NULL;
		}
	}
	if (rel == NULL)
	{
		anon_map_relid = anon_table_oid("pseudonyms");
		anon_map_nsp = get_rel_namespace(anon_map_relid);
		rel = table_open(anon_map_relid, RowExclusiveLock);
	}
	/* forget_signal came with 0.4.0: an update may have made it since */
	if (!OidIsValid(anon_signal_relid) || anon_signal_nsp != anon_map_nsp)
	{
		anon_signal_relid = get_relname_relid("forget_signal", anon_map_nsp);
		anon_signal_nsp = anon_map_nsp;
	}
	if (rel->rd_node.relNode != anon_map_node)
	{
		anon_cache_reset();
		anon_map_node = rel->rd_node.relNode;
	}
	anon_map_check = false;
	return rel;
}

/*
 * Load the map whole (see MapEntry) if it is time to and it is small enough.
 * It is built in a context of the current transaction and kept only if it
 * is complete and the caches were not emptied meanwhile.
 */
static void
anon_map_load(Relation rel)
{
	BlockNumber nblocks;
	MemoryContext cxt;
	mcache_hash *loaded;
	SnapshotData dirty;
	TableScanDesc scan;
	HeapTuple	tup;
	uint64		resets = anon_resets;
	int			rows = 0;

	if (anon_loaded != NULL || anon_load_refused ||
		++anon_lookups < Max(ANON_LOAD_AFTER, anon_load_at))
		return;
	nblocks = RelationGetNumberOfBlocks(rel);
	if (rel->rd_tableam != GetHeapamTableAmRoutine() ||
		nblocks > ANON_LOAD_MAX / 32)
	{
		anon_load_refused = true;
		return;
	}
	if (anon_lookups < (int) nblocks * 4)
	{
		anon_load_at = (int) nblocks * 4;	/* the size is read again then */
		return;
	}

	cxt = AllocSetContextCreate(CurrentMemoryContext, "anonymize loaded map",
								ALLOCSET_DEFAULT_SIZES);
	loaded = mcache_create(cxt, Min(Max(1024, nblocks * 64), ANON_LOAD_MAX), NULL);
	InitDirtySnapshot(dirty);
	scan = table_beginscan(rel, &dirty, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull1;
		bool		isnull2;
		Datum		lookup = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull1);
		Datum		pseudonym = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull2);
		bytea	   *digest;
		uint64		key;
		MapEntry   *entry;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		/* rows being written or deleted, or of this transaction, are not */
		if (TransactionIdIsValid(dirty.xmin) || TransactionIdIsValid(dirty.xmax) ||
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(tup->t_data)) ||
			isnull1 || isnull2)
			continue;
		digest = DatumGetByteaPP(lookup);
		if (VARSIZE_ANY_EXHDR(digest) != ANON_DIGEST_LEN)
			continue;
		if (++rows > ANON_LOAD_MAX)
			break;
		memcpy(&key, VARDATA_ANY(digest), sizeof(key));
		entry = mcache_insert(loaded, key, &found);
		if (found)
			entry->ambiguous = true;
		else
		{
			entry->ambiguous = false;
			memcpy(entry->digest, VARDATA_ANY(digest), ANON_DIGEST_LEN);
			memcpy(entry->pseudonym, DatumGetUUIDP(pseudonym)->data,
				   ANON_PSEUDONYM_LEN);
		}
	}
	table_endscan(scan);

	if (rows > ANON_LOAD_MAX || resets != anon_resets)
	{
		MemoryContextDelete(cxt);
		anon_load_refused = rows > ANON_LOAD_MAX;
		return;
	}
	MemoryContextSetParent(cxt, TopMemoryContext);
	anon_loaded_cxt = cxt;
	anon_loaded = loaded;
}

/*
 * What the loaded map says of a digest: 1 (and its pseudonym) if it holds
 * it, 0 if the digest had no row when the map was loaded, -1 if the map is
 * not loaded or the digest's key is ambiguous.
 */
static int
anon_map_loaded_find(const uint8 *digest, uint8 *pseudonym)
{
	uint64		key;
	MapEntry   *entry;

	if (anon_loaded == NULL)
		return -1;
	memcpy(&key, digest, sizeof(key));
	entry = mcache_lookup(anon_loaded, key);
	if (entry == NULL)
		return 0;
	if (entry->ambiguous || memcmp(entry->digest, digest, ANON_DIGEST_LEN) != 0)
		return -1;
	memcpy(pseudonym, entry->pseudonym, ANON_PSEUDONYM_LEN);
	return 1;
}

/*
 * Find the row of a digest, waiting for any transaction that is inserting
 * or deleting it; with create, store a new pseudonym (and its marker, in
 * namespace ns) if there is none.  Sets *mine if the row found or made was
 * written by this transaction.  False if there is no row.
 *
 * A person not found is created under a short lock on the digest, after a
 * second scan: a row that another transaction is inserting or deleting is
 * waited for, and the lookup starts again.  So two sessions storing the same
 * new person end with one row and no error, at every isolation level,
 * without subtransactions.  The writer needs no privilege on the map.
 */
static bool
anon_map_get(const char *ns, const uint8 *digest, bool create,
			 uint8 *pseudonym, bool *mine)
{
	bool		first = true;

	for (;;)
	{
		Relation	rel = anon_map_open();
		MapRow		row;
		int			known = -1;

		if (first)
		{
			anon_map_load(rel);
			known = anon_map_loaded_find(digest, pseudonym);
			first = false;
		}
		if (known > 0)
		{
			table_close(rel, NoLock);
			*mine = false;
			return true;
		}
		if (known == 0 && create)
		{
			/* no row when the map was loaded: look under the lock only */
			row.found = false;
			row.mine = false;
			row.xwait = InvalidTransactionId;
		}
		else
			anon_map_scan(rel, digest, &row);
		if (!row.found && create)
		{
			anon_digest_lock(digest, true);
			anon_map_scan(rel, digest, &row);
			if (!row.found)
			{
				anon_map_store(rel, ns, digest, row.pseudonym);
				row.mine = true;
			}
			anon_digest_lock(digest, false);
			if (!row.found)
				row.found = true;
		}
		table_close(rel, NoLock);

		if (TransactionIdIsValid(row.xwait))
		{
			/* another transaction is storing or forgetting this person */
			XactLockTableWait(row.xwait, NULL, NULL, XLTW_None);
			continue;
		}
		if (row.found)
			memcpy(pseudonym, row.pseudonym, ANON_PSEUDONYM_LEN);
		*mine = row.mine;
		return row.found;
	}
}

/* Remember a pseudonym in the backend cache, as pending if mine. */
static void
anon_cache_store(uint64 fp, uint64 check, const uint8 *pseudonym, bool mine)
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
	if (mine && anon_npending == anon_maxpending)
	{
		anon_maxpending = Max(64, anon_maxpending * 2);
		anon_pending = anon_pending == NULL ?
			MemoryContextAlloc(anon_cache_cxt, anon_maxpending * sizeof(uint64)) :
			repalloc(anon_pending, anon_maxpending * sizeof(uint64));
	}
	entry = pcache_insert(anon_cache, fp, &found);
	entry->check = check;
	entry->subid = mine ? GetCurrentSubTransactionId() : 0;
	memcpy(entry->pseudonym, pseudonym, ANON_PSEUDONYM_LEN);
	if (mine)
		anon_pending[anon_npending++] = fp;
}

/*
 * If an identifier has the form of a pseudonym (the text of a version 4
 * uuid, in either case, or for a bigint column a positive number), set
 * *form to its bigint form and, for a uuid, bytes to the uuid; true if so.
 */
static bool
anon_pseudonym_form(const char *value, int len, bool int8col, int64 *form,
					uint8 *bytes, bool *isuuid)
{
	if (int8col)
	{
		uint64		v = 0;

		if (len < 1 || len > 19 || value[0] == '0')
			return false;
		for (int i = 0; i < len; i++)
		{
			if (value[i] < '0' || value[i] > '9')
				return false;
			v = v * 10 + (value[i] - '0');
		}
		if (v > PG_INT64_MAX)
			return false;
		*form = (int64) v;
		*isuuid = false;
		return true;
	}
	if (len != 36)
		return false;
	for (int i = 0, j = 0, hi = -1; i < 36; i++)
	{
		char		c = value[i];
		int			d;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
			continue;
		}
		d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return false;
		if (hi < 0)
			hi = d;
		else
		{
			bytes[j++] = (uint8) ((hi << 4) | d);
			hi = -1;
		}
	}
	if ((bytes[6] >> 4) != 4 || (bytes[8] & 0xC0) != 0x80)
		return false;
	*form = anon_pseudonym_int8(bytes);
	*isuuid = true;
	return true;
}

/*
 * Whether a value already is a pseudonym of the namespace (its marker is in
 * the map): then *pseudonym is that pseudonym, and the value is stored as it
 * is.  Without this, an upsert that writes EXCLUDED back (EXCLUDED went
 * through the insert trigger), or a pseudonym copied from another table,
 * would be pseudonymized again.
 */
static bool
anon_marker_get(const char *ns, const char *value, int len, bool int8col,
				uint8 *pseudonym, bool *mine)
{
	int64		form;
	uint8		bytes[ANON_PSEUDONYM_LEN];
	bool		isuuid;
	uint8		digest[ANON_DIGEST_LEN];

	if (!anon_pseudonym_form(value, len, int8col, &form, bytes, &isuuid))
		return false;
	anon_marker_digest(ns, form, digest);
	if (!anon_map_get(ns, digest, false, pseudonym, mine))
		return false;
	return !isuuid || memcmp(bytes, pseudonym, ANON_PSEUDONYM_LEN) == 0;
}

/* The pseudonym of a normalized identifier; see pseudonym.h. */
void
anon_pseudonym(const char *ns, const char *value, int len, bool int8col,
			   uint8 *pseudonym)
{
	int			nslen = strlen(ns);
	int			keylen = 1 + nslen + 1 + len;
	char		buf[256];
	char	   *key = keylen <= sizeof(buf) ? buf : palloc(keylen);
	uint64		fp;
	uint64		check;
	bool		mine;
	uint8		digest[ANON_DIGEST_LEN];

	/* the kind of column is part of the key: "12" can be a bigint pseudonym */
	key[0] = int8col ? 'b' : 't';
	memcpy(key + 1, ns, nslen + 1);
	memcpy(key + 1 + nslen + 1, value, len);
	fp = hash_bytes_extended((const unsigned char *) key, keylen, 0);
	check = hash_bytes_extended((const unsigned char *) key, keylen,
								ANON_CHECK_SEED);
	if (key != buf)
		pfree(key);

	/* a forget() committed meanwhile empties the cache, even mid-transaction */
	AcceptInvalidationMessages();
	if (anon_cluster_remote())
	{
		/* on a Citus worker: the coordinator's forgets, once per statement */
		if (anon_cluster_new_statement())
		{
			int64		epoch = anon_cluster_forget_epoch();

			if (epoch != anon_remote_epoch)
				anon_cache_reset();
			anon_remote_epoch = epoch;
			anon_cluster_statement_checked();
		}
	}
	else if (anon_map_check)
		table_close(anon_map_open(), NoLock);
	anon_load_secret();			/* may empty the cache */

	if (anon_cache != NULL)
	{
		CacheEntry *entry = pcache_lookup(anon_cache, fp);

		if (entry && entry->check == check)
		{
			memcpy(pseudonym, entry->pseudonym, ANON_PSEUDONYM_LEN);
			return;
		}
	}

	if (anon_cluster_remote())
	{
		int64		form;
		uint8		bytes[ANON_PSEUDONYM_LEN];
		bool		isuuid;
		bool		marked;
		uint8		marker[ANON_DIGEST_LEN];
		int64		epoch;

		/* the coordinator's map, asked with keyed hashes only */
		marked = anon_pseudonym_form(value, len, int8col, &form, bytes, &isuuid);
		if (marked)
			anon_marker_digest(ns, form, marker);
		anon_keyed_hash(ANON_PURPOSE_LOOKUP, ns, value, len, digest);
		anon_cluster_pseudonym(ns, digest, marked ? marker : NULL,
							   marked && isuuid ? bytes : NULL, pseudonym, &epoch);
		if (epoch != anon_remote_epoch)
			anon_cache_reset();
		anon_remote_epoch = epoch;
		anon_cache_store(fp, check, pseudonym, false);	/* committed there */
		return;
	}
	if (!anon_marker_get(ns, value, len, int8col, pseudonym, &mine))
	{
		anon_keyed_hash(ANON_PURPOSE_LOOKUP, ns, value, len, digest);
		(void) anon_map_get(ns, digest, true, pseudonym, &mine);
	}
	anon_cache_store(fp, check, pseudonym, mine);
}

/* The keyed hash of a coordinator's answer; see pseudonym.h. */
void
anon_remote_mac(const uint8 *nonce, const uint8 *digest, const uint8 *pseudonym,
				int64 epoch, uint8 *mac)
{
	char		msg[ANON_NONCE_LEN + ANON_DIGEST_LEN + ANON_PSEUDONYM_LEN + 8];
	uint8		full[ANON_DIGEST_LEN];
	char	   *p = msg;

	memcpy(p, nonce, ANON_NONCE_LEN);
	p += ANON_NONCE_LEN;
	if (digest)
		memcpy(p, digest, ANON_DIGEST_LEN);
	else
		memset(p, 0, ANON_DIGEST_LEN);
	p += ANON_DIGEST_LEN;
	if (pseudonym)
		memcpy(p, pseudonym, ANON_PSEUDONYM_LEN);
	else
		memset(p, 0, ANON_PSEUDONYM_LEN);
	p += ANON_PSEUDONYM_LEN;
	for (int i = 0; i < 8; i++)
		*p++ = (char) (((uint64) epoch) >> (56 - 8 * i));
	anon_keyed_hash(ANON_PURPOSE_REMOTE, "anonymize.remote", msg, sizeof(msg), full);
	memcpy(mac, full, ANON_REMOTE_MAC_LEN);
}

/* The forget epoch of this database: 0 before 0.7.0. */
static int64
anon_forget_epoch_read(void)
{
	Oid			relid = get_relname_relid("forget_epoch", anon_schema_oid());
	Oid			save_userid;
	int			save_sec;
	int64		epoch = 0;

	if (!OidIsValid(relid))
		return 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anon_become_owner("pseudonyms", &save_userid, &save_sec);
	PG_TRY();
	{
		bool		isnull;

		if (SPI_execute("SELECT pg_catalog.max(epoch) FROM anonymize.forget_epoch", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the forget epoch");
		epoch = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			epoch = 0;
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
	return epoch;
}

/* Refuse a remote function called other than on a Citus coordinator. */
static void
anon_remote_check(const char *name)
{
	if (!anon_citus_installed() || !anon_citus_coordinator())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("anonymize.%s() runs only on a Citus coordinator", name)));
	if (RecoveryInProgress() || XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot store a pseudonym in a read-only transaction")));
}

PG_FUNCTION_INFO_V1(anon_remote_pseudonym);

/*
 * anon_remote_pseudonym(namespace text, digest bytea, marker bytea,
 *						 marked bytea, nonce bytea) RETURNS bytea
 *
 * On a Citus coordinator, for a shard's trigger on a worker (see cluster.c):
 * the pseudonym whose marker is marker, if there is one (and it is marked,
 * when given); else the pseudonym of the keyed hash digest, stored if new.
 * Returns the pseudonym's 16 bytes, the forget epoch's 8 (big-endian), and
 * the keyed hash of the worker's nonce, the digest and both (anon_remote_mac).
 */
Datum
anon_remote_pseudonym(PG_FUNCTION_ARGS)
{
	char	   *ns;
	bytea	   *digest;
	bytea	   *marker = PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2);
	bytea	   *marked = PG_ARGISNULL(3) ? NULL : PG_GETARG_BYTEA_PP(3);
	bytea	   *nonce = PG_ARGISNULL(4) ? NULL : PG_GETARG_BYTEA_PP(4);
	uint8		pseudonym[ANON_PSEUDONYM_LEN];
	bool		mine;
	bool		found = false;
	int64		epoch;
	bytea	   *result;

	anon_remote_check("remote_pseudonym");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("namespace and digest must not be null")));
	ns = text_to_cstring(PG_GETARG_TEXT_PP(0));
	digest = PG_GETARG_BYTEA_PP(1);
	if (strlen(ns) > 255 || VARSIZE_ANY_EXHDR(digest) != ANON_DIGEST_LEN ||
		(marker && VARSIZE_ANY_EXHDR(marker) != ANON_DIGEST_LEN) ||
		(marked && VARSIZE_ANY_EXHDR(marked) != ANON_PSEUDONYM_LEN) ||
		(marked && !marker) ||
		nonce == NULL || VARSIZE_ANY_EXHDR(nonce) != ANON_NONCE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed keyed hash")));
	anon_load_secret();
	/*
	 * The epoch first: a forget committing after it makes the worker empty
	 * its cache at its next statement, whatever the lookup then finds.
	 */
	epoch = anon_forget_epoch_read();
	if (marker)
		found = anon_map_get(ns, (uint8 *) VARDATA_ANY(marker), false, pseudonym, &mine) &&
			(!marked || memcmp(VARDATA_ANY(marked), pseudonym, ANON_PSEUDONYM_LEN) == 0);
	if (!found)
		(void) anon_map_get(ns, (uint8 *) VARDATA_ANY(digest), true, pseudonym, &mine);

	result = palloc(VARHDRSZ + ANON_PSEUDONYM_LEN + 8 + ANON_REMOTE_MAC_LEN);
	SET_VARSIZE(result, VARHDRSZ + ANON_PSEUDONYM_LEN + 8 + ANON_REMOTE_MAC_LEN);
	memcpy(VARDATA(result), pseudonym, ANON_PSEUDONYM_LEN);
	for (int i = 0; i < 8; i++)
		((uint8 *) VARDATA(result))[ANON_PSEUDONYM_LEN + i] = (uint8) (((uint64) epoch) >> (56 - 8 * i));
	anon_remote_mac((uint8 *) VARDATA_ANY(nonce), (uint8 *) VARDATA_ANY(digest), pseudonym,
					epoch, (uint8 *) VARDATA(result) + ANON_PSEUDONYM_LEN + 8);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(anon_remote_forget_epoch);

/*
 * anon_remote_forget_epoch(nonce bytea) RETURNS bytea
 *
 * On a Citus coordinator: how many times forget() has committed (8 bytes,
 * big-endian), and the keyed hash of the nonce and the epoch.
 */
Datum
anon_remote_forget_epoch(PG_FUNCTION_ARGS)
{
	bytea	   *nonce = PG_GETARG_BYTEA_PP(0);
	int64		epoch;
	bytea	   *result;

	anon_remote_check("remote_forget_epoch");
	if (VARSIZE_ANY_EXHDR(nonce) != ANON_NONCE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed nonce")));
	anon_load_secret();
	epoch = anon_forget_epoch_read();
	result = palloc(VARHDRSZ + 8 + ANON_REMOTE_MAC_LEN);
	SET_VARSIZE(result, VARHDRSZ + 8 + ANON_REMOTE_MAC_LEN);
	for (int i = 0; i < 8; i++)
		((uint8 *) VARDATA(result))[i] = (uint8) (((uint64) epoch) >> (56 - 8 * i));
	anon_remote_mac((uint8 *) VARDATA_ANY(nonce), NULL, NULL, epoch,
					(uint8 *) VARDATA(result) + 8);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(anon_forget);

/*
 * Delete the row of a digest, under the lock that inserters take and after
 * waiting for any transaction that is inserting or deleting it; true and
 * its pseudonym if there was one.  So a forget racing the first insert of
 * the same person waits for it, and forgets it.
 */
static bool
anon_map_delete(Relation rel, const uint8 *digest, uint8 *pseudonym)
{
	for (;;)
	{
		MapRow		row;

		anon_digest_lock(digest, true);
		anon_map_scan(rel, digest, &row);
		if (row.found && !TransactionIdIsValid(row.xwait))
		{
			CatalogTupleDelete(rel, &row.tid);
			memcpy(pseudonym, row.pseudonym, ANON_PSEUDONYM_LEN);
		}
		anon_digest_lock(digest, false);
		if (!TransactionIdIsValid(row.xwait))
			return row.found;
		XactLockTableWait(row.xwait, NULL, NULL, XLTW_None);
	}
}

/*
 * The namespaces whose map rows may link a pseudonym: that of the forget,
 * "default", and those of the pseudonym rules of the protected tables.
 */
static List *
anon_forget_namespaces(const char *ns)
{
	List	   *result = list_make1(pstrdup(ns));
	MemoryContext cxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT 'default' UNION "
					"SELECT pg_catalog.substring(r, '=pseudonym:([^=]*)$') "
					"FROM anonymize.protection p, pg_catalog.unnest(p.rules) r",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the protected tables");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 1);

		bool		known = false;
		ListCell   *lc;

		foreach(lc, result)
			known = known || name == NULL || strcmp(lfirst(lc), name) == 0;
		if (!known)
			result = lappend(result, MemoryContextStrdup(cxt, name));
	}
	SPI_finish();
	return result;
}

/* A palloc'd copy of a pseudonym. */
static uint8 *
anon_copy_pseudonym(const uint8 *pseudonym)
{
	uint8	   *copy = palloc(ANON_PSEUDONYM_LEN);

	memcpy(copy, pseudonym, ANON_PSEUDONYM_LEN);
	return copy;
}

/* Delete the link of one identifier; true and its pseudonym if there was one. */
static bool
anon_forget_link(Relation rel, const char *ns, const char *value, uint8 *pseudonym)
{
	uint8		digest[ANON_DIGEST_LEN];

	anon_keyed_hash(ANON_PURPOSE_LOOKUP, ns, value, strlen(value), digest);
	return anon_map_delete(rel, digest, pseudonym);
}

/*
 * Delete whatever links the pseudonyms in todo (a list of 16-byte arrays,
 * which grows) to other pseudonyms: their markers, and the rows that earlier
 * versions made when a pseudonym was written back into a protected column
 * (a pseudonym of the pseudonym's text, in either case, or bigint form), in
 * any namespace.
 */
static void
anon_forget_chain(Relation rel, List *namespaces, List *todo)
{
	for (int i = 0; i < list_length(todo); i++)
	{
		uint8	   *p = list_nth(todo, i);
		char		text[ANON_UUID_TEXT_LEN + 1];
		char		upper[ANON_UUID_TEXT_LEN + 1];
		char		number[MAXINT8LEN + 1];
		int64		form = anon_pseudonym_int8(p);
		ListCell   *lc;

		anon_uuid_format(p, text);
		for (int j = 0; j < ANON_UUID_TEXT_LEN; j++)
			upper[j] = pg_ascii_toupper((unsigned char) text[j]);
		upper[ANON_UUID_TEXT_LEN] = '\0';
		pg_lltoa(form, number);
		foreach(lc, namespaces)
		{
			const char *ns = lfirst(lc);
			uint8		digest[ANON_DIGEST_LEN];
			uint8		next[ANON_PSEUDONYM_LEN];

			anon_marker_digest(ns, form, digest);
			(void) anon_map_delete(rel, digest, next);
			if (anon_forget_link(rel, ns, text, next))
				todo = lappend(todo, anon_copy_pseudonym(next));
			if (anon_forget_link(rel, ns, number, next))
				todo = lappend(todo, anon_copy_pseudonym(next));
			if (anon_forget_link(rel, ns, upper, next))
				todo = lappend(todo, anon_copy_pseudonym(next));
		}
	}
}

/*
 * The forms an identifier given to forget() may have been hashed in: as
 * normalized; as versions before 0.4.0 normalized it in a database whose
 * LC_CTYPE was C (only ASCII letters folded); and, if it is a uuid or an
 * integer, as the trigger writes a uuid or bigint column's value (lower-case
 * uuid, plain decimal).
 */
static List *
anon_forget_forms(const char *raw, const char *value)
{
	List	   *forms = list_make1(pstrdup(value));
	int			len = strlen(value);
	char	   *end;
	long long	v;
	char	   *ascii = anon_normalize_ascii(raw);

	/* as earlier versions folded it in a database of LC_CTYPE C */
	if (ascii != NULL && strcmp(ascii, value) != 0)
		forms = lappend(forms, ascii);

	if (len == 36 && value[8] == '-' && value[13] == '-' &&
		value[18] == '-' && value[23] == '-' &&
		strspn(value, "0123456789abcdefABCDEF-") == 36)
	{
		char	   *lower = pstrdup(value);

		for (char *c = lower; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
		if (strcmp(lower, value) != 0)
			forms = lappend(forms, lower);
	}
	errno = 0;
	v = strtoll(value, &end, 10);
	if (*end == '\0' && errno == 0 && end != value && isdigit((unsigned char) end[-1]))
	{
		char	   *number = psprintf(INT64_FORMAT, (int64) v);

		if (strcmp(number, value) != 0)
			forms = lappend(forms, number);
	}
	return forms;
}

/* Count a forget() in anonymize.forget_epoch, when it commits. */
static void
anon_forget_epoch_bump(void)
{
	Oid			save_userid;
	int			save_sec;

	if (!OidIsValid(get_relname_relid("forget_epoch", anon_schema_oid())))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anon_become_owner("pseudonyms", &save_userid, &save_sec);
	PG_TRY();
	{
		if (SPI_execute("UPDATE anonymize.forget_epoch SET epoch = epoch OPERATOR(pg_catalog.+) 1",
						false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not count the forget");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
}

/*
 * anon_forget(identifier text, namespace text) RETURNS boolean
 *
 * Delete the link from an identifier to its pseudonym, and every map row
 * that links that pseudonym to another; true if there was a link.  Every
 * backend's cache is emptied when the transaction commits.
 */
Datum
anon_forget(PG_FUNCTION_ARGS)
{
	char	   *raw = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *value = anon_normalize(raw);
	char	   *ns = text_to_cstring(PG_GETARG_TEXT_PP(1));
	List	   *namespaces;
	List	   *todo = NIL;
	Relation	rel;
	ListCell   *lc;

	if (value == NULL)
		PG_RETURN_BOOL(false);
	namespaces = anon_forget_namespaces(ns);
	rel = anon_map_open();
	foreach(lc, anon_forget_forms(raw, value))
	{
		uint8		pseudonym[ANON_PSEUDONYM_LEN];

		if (anon_forget_link(rel, ns, lfirst(lc), pseudonym))
			todo = lappend(todo, anon_copy_pseudonym(pseudonym));
	}
	anon_forget_chain(rel, namespaces, list_copy(todo));
	table_close(rel, NoLock);

	/*
	 * This backend at once, every backend when this commits (through the map
	 * too, for backends that run an earlier version of the library).
	 */
	anon_cache_reset();
	if (OidIsValid(anon_signal_relid))
		CacheInvalidateRelcacheByRelid(anon_signal_relid);
	CacheInvalidateRelcacheByRelid(anon_map_relid);
	/* and Citus workers from their next statement on (see cluster.c) */
	if (anon_citus_installed())
		anon_forget_epoch_bump();
	PG_RETURN_BOOL(todo != NIL);
}

PG_FUNCTION_INFO_V1(anon_mark_pseudonym);

/*
 * anon_mark_pseudonym(pseudonym uuid, namespace text) RETURNS void
 *
 * Store the marker of a pseudonym that an earlier version made, which has
 * none, unless it is there: for the upgrade script.
 */
Datum
anon_mark_pseudonym(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *pseudonym = PG_GETARG_UUID_P(0);
	char	   *ns = text_to_cstring(PG_GETARG_TEXT_PP(1));
	uint8		digest[ANON_DIGEST_LEN];
	uint8		found[ANON_PSEUDONYM_LEN];
	bool		mine;
	Relation	rel;
	CatalogIndexState indstate;

	anon_marker_digest(ns, anon_pseudonym_int8(pseudonym->data), digest);
	if (anon_map_get(ns, digest, false, found, &mine))
		PG_RETURN_VOID();
	rel = anon_map_open();
	anon_digest_lock(digest, true);
	indstate = CatalogOpenIndexes(rel);
	anon_map_insert(rel, indstate, digest, pseudonym->data);
	CatalogCloseIndexes(indstate);
	anon_digest_lock(digest, false);
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}
