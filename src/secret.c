/*-------------------------------------------------------------------------
 *
 * secret.c
 *	  The secret key: a file in the data directory, named by the key id
 *	  that anonymize.secret holds.
 *
 * No table or view holds the key, so neither a dump nor a role that reads
 * every table (pg_read_all_data) gets it.  The file is written once, crash
 * safely (temporary file, fsync, link, fsync of the directory), and never
 * replaced: its name is derived from its content.  Writing it happens
 * before the transaction that records its key id commits, so a rollback can
 * leave an unused file behind, but a committed key id always has its file.
 * A missing or damaged file is an error; a new key is made only by CREATE
 * EXTENSION or on a superuser's explicit request.
 *
 * anonymize.secret keeps a column "key" that is always NULL: a key inserted
 * there (a dump made by 0.2.0 or 0.3.0 does so) is moved into its file by
 * the replace_secret trigger before the row is stored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "anonymize.h"
#include "secret.h"

/* The key of this backend, and the key id and transaction it was checked in */
static uint8 anon_secret[ANON_SECRET_LEN];
static char anon_secret_id[ANON_KEY_ID_LEN + 1];
static bool anon_secret_loaded = false;
static bool anon_secret_valid = false;
static LocalTransactionId anon_secret_lxid = InvalidLocalTransactionId;
static Oid	anon_secret_relid = InvalidOid;
static bool anon_secret_callback_registered = false;

/*
 * The key random_secret() made for the extension script of this
 * transaction, while no keyed hash has been computed with it: such a key
 * may be discarded when it moves into a file (it went through the WAL).
 */
static uint8 anon_fresh_key[ANON_SECRET_LEN];
static LocalTransactionId anon_fresh_lxid = InvalidLocalTransactionId;

/* Relcache callback: anonymize.secret may have been dropped or recreated. */
static void
anon_secret_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == anon_secret_relid)
		anon_secret_valid = false;
}

/* Make the next anon_secret_get() read the key id again. */
static void
anon_secret_invalidate(void)
{
	anon_secret_valid = false;
}

/* Fill buf with pg_strong_random bytes. */
static void
anon_random_bytes(uint8 *buf, int len)
{
	if (!pg_strong_random(buf, len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
}

/* Refuse a caller that is not a superuser. */
static void
anon_require_superuser(const char *action)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to %s the secret key of anonymize",
						action)));
}

/* Check that a bytea holds a key of the right length. */
static const uint8 *
anon_key_bytes(bytea *key)
{
	if (VARSIZE_ANY_EXHDR(key) != ANON_SECRET_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a secret key of anonymize is %d bytes long",
						ANON_SECRET_LEN),
				 errdetail("The value given is %zu bytes long.",
						   VARSIZE_ANY_EXHDR(key))));
	return (const uint8 *) VARDATA_ANY(key);
}

/*
 * The key id of a key: the first 16 bytes of its HMAC-SHA256 of a fixed
 * text, in hex.  It names the key's file and verifies its content, and
 * reveals nothing of the key.
 */
static void
anon_key_id_of(const uint8 *key, char *id)
{
	static const char text[] = "anonymize key id";
	uint8		digest[32];
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, key, ANON_SECRET_LEN) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) text, strlen(text)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA256: %s",
						ctx ? pg_hmac_error(ctx) : "out of memory")));
	pg_hmac_free(ctx);
	hex_encode((const char *) digest, ANON_KEY_ID_LEN / 2, id);
	id[ANON_KEY_ID_LEN] = '\0';
}

/* The path of a key id's file, relative to the data directory. */
static void
anon_key_path(const char *id, char *path)
{
	bool		ok = strlen(id) == ANON_KEY_ID_LEN;

	for (int i = 0; ok && i < ANON_KEY_ID_LEN; i++)
		ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("anonymize.secret holds a malformed key id"),
				 errdetail("A key id is %d lower-case hex digits.", ANON_KEY_ID_LEN)));
	snprintf(path, MAXPGPATH, "%s/%s.key", ANON_KEY_DIR, id);
}

/*
 * Read a key file into key; false if it does not exist.  A file of another
 * length, or whose key has another id, is an error.
 */
static bool
anon_key_file_read(const char *id, uint8 *key)
{
	char		path[MAXPGPATH];
	char		actual[ANON_KEY_ID_LEN + 1];
	uint8		buf[ANON_SECRET_LEN + 1];
	int			fd;
	int			len;

	anon_key_path(id, path);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0 && errno == ENOENT)
		return false;
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	len = read(fd, buf, sizeof(buf));
	if (len < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	CloseTransientFile(fd);
	if (len == ANON_SECRET_LEN)
		anon_key_id_of(buf, actual);
	if (len != ANON_SECRET_LEN || strcmp(actual, id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the secret key file \"%s\" of anonymize is damaged", path),
				 len != ANON_SECRET_LEN ?
				 errdetail("It holds %d bytes instead of %d.", len, ANON_SECRET_LEN) :
				 errdetail("Its content does not have the key id it is named after."),
				 errhint("Copy the key file from a backup of the data directory.")));
	memcpy(key, buf, ANON_SECRET_LEN);
	explicit_bzero(buf, sizeof(buf));
	return true;
}

/* Create the key directory, readable by the server's user only. */
static void
anon_key_dir_create(void)
{
	if (mkdir(ANON_KEY_DIR, S_IRWXU) == 0)
		fsync_fname_ext(".", true, false, ERROR);
	else if (errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", ANON_KEY_DIR)));
}

/*
 * Write a key into its file, mode 0600, unless the file exists already.
 * The key is written and synced under a temporary name, then linked to its
 * final name (which never replaces a file), and the directory is synced.
 */
static void
anon_key_file_write(const uint8 *key)
{
	char		id[ANON_KEY_ID_LEN + 1];
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	uint8		existing[ANON_SECRET_LEN];
	int			fd;
	int			err;

	anon_key_id_of(key, id);
	if (anon_key_file_read(id, existing))
	{
		explicit_bzero(existing, sizeof(existing));
		return;					/* the same key: anon_key_file_read verified it */
	}
	anon_key_dir_create();
	anon_key_path(id, path);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, MyProcPid);
	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
							   S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
	errno = 0;
	if (write(fd, key, ANON_SECRET_LEN) != ANON_SECRET_LEN || pg_fsync(fd) != 0)
	{
		err = errno ? errno : ENOSPC;
		CloseTransientFile(fd);
		unlink(tmp);
		errno = err;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	CloseTransientFile(fd);
	err = link(tmp, path) == 0 ? 0 : errno;
	unlink(tmp);
	if (err == EEXIST)
		(void) anon_key_file_read(id, existing);	/* another session wrote it */
	else if (err != 0)
	{
		errno = err;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not link file \"%s\" to \"%s\": %m", tmp, path)));
	}
	explicit_bzero(existing, sizeof(existing));
	fsync_fname_ext(path, false, false, ERROR);
	fsync_fname_ext(ANON_KEY_DIR, true, false, ERROR);
}

/* Number of the live column of a name in a relation, or 0. */
static AttrNumber
anon_secret_attnum(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return 0;
}

/*
 * Read the row of anonymize.secret with a registered latest snapshot: its
 * key id, or, in a database still at 0.2.0 or 0.3.0 (no key_id column), the
 * key itself (*legacy is set).
 */
static void
anon_secret_read_row(char *id, uint8 *key, bool *legacy)
{
	Relation	rel;
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tup;
	AttrNumber	attnum;
	bool		isnull = true;
	Datum		d = (Datum) 0;

	anon_secret_relid = anon_table_oid("secret");
	rel = table_open(anon_secret_relid, AccessShareLock);
	attnum = anon_secret_attnum(rel, "key_id");
	*legacy = (attnum == 0);
	if (*legacy)
		attnum = anon_secret_attnum(rel, "key");
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup) && attnum != 0)
		d = heap_getattr(tup, attnum, RelationGetDescr(rel), &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the secret key of anonymize is missing"),
				 errdetail("anonymize.secret holds no key id."),
				 errhint("Restore anonymize.secret from a dump of this database.")));
	if (*legacy)
		memcpy(key, anon_key_bytes(DatumGetByteaPP(d)), ANON_SECRET_LEN);
	else
		text_to_cstring_buffer(DatumGetTextPP(d), id, ANON_KEY_ID_LEN + 1);
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

/* Report a key id whose file is not in the data directory. */
static void
anon_key_missing(const char *id)
{
	char		path[MAXPGPATH];

	anon_key_path(id, path);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the secret key of anonymize is missing"),
			 errdetail("The key file \"%s\" of this database is not in the data directory.",
					   path),
			 errhint("Copy the key file from a backup of the data directory, or call "
					 "anonymize.import_key() as a superuser with the exported key.")));
}

/*
 * The key of a row read by anon_secret_read_row: its file's content, or the
 * key itself at 0.2.0 or 0.3.0 (whose key id is then empty).
 */
static void
anon_secret_from_row(uint8 *key, char *id, bool legacy)
{
	if (legacy)
	{
		id[0] = '\0';
		/* a fresh key that has been used can no longer be discarded */
		if (anon_fresh_lxid == MyProc->lxid &&
			memcmp(key, anon_fresh_key, ANON_SECRET_LEN) == 0)
			anon_fresh_lxid = InvalidLocalTransactionId;
	}
	else if (!anon_key_file_read(id, key))
		anon_key_missing(id);
}

/* The current key and its key id, read without the backend's cache. */
static void
anon_secret_read(uint8 *key, char *id)
{
	bool		legacy;

	anon_secret_read_row(id, key, &legacy);
	anon_secret_from_row(key, id, legacy);
}

/* The key of this database; see secret.h. */
const uint8 *
anon_secret_get(bool *changed)
{
	uint8		key[ANON_SECRET_LEN];
	char		id[ANON_KEY_ID_LEN + 1];
	bool		legacy;

	*changed = false;
	if (anon_secret_valid && anon_secret_lxid == MyProc->lxid)
		return anon_secret;
	if (!anon_secret_callback_registered)
	{
		anon_register_relcache_callback(anon_secret_relcache_callback, (Datum) 0);
		anon_secret_callback_registered = true;
	}

	/* the same key id as before needs no file read */
	anon_secret_read_row(id, key, &legacy);
	if (!legacy && anon_secret_loaded && strcmp(id, anon_secret_id) == 0)
		memcpy(key, anon_secret, ANON_SECRET_LEN);
	else
		anon_secret_from_row(key, id, legacy);

	*changed = !anon_secret_loaded ||
		memcmp(key, anon_secret, ANON_SECRET_LEN) != 0;
	memcpy(anon_secret, key, ANON_SECRET_LEN);
	strlcpy(anon_secret_id, id, sizeof(anon_secret_id));
	explicit_bzero(key, sizeof(key));
	anon_secret_loaded = true;
	anon_secret_valid = true;
	anon_secret_lxid = MyProc->lxid;
	return anon_secret;
}

PG_FUNCTION_INFO_V1(anon_random_secret);

/*
 * anon_random_secret() RETURNS bytea
 *
 * A new secret key from pg_strong_random, for CREATE EXTENSION (the script
 * of 0.2.0 stores it in anonymize.secret; that of 0.4.0 moves it out).
 */
Datum
anon_random_secret(PG_FUNCTION_ARGS)
{
	bytea	   *key = palloc(VARHDRSZ + ANON_SECRET_LEN);

	SET_VARSIZE(key, VARHDRSZ + ANON_SECRET_LEN);
	anon_random_bytes((uint8 *) VARDATA(key), ANON_SECRET_LEN);
	if (creating_extension)
	{
		memcpy(anon_fresh_key, VARDATA(key), ANON_SECRET_LEN);
		anon_fresh_lxid = MyProc->lxid;
	}
	PG_RETURN_BYTEA_P(key);
}

/*
 * The key a row inserted into anonymize.secret brings, moved into its file;
 * the key id goes into the row instead.  A key that random_secret() made in
 * this very extension script, and that nothing has used, is replaced by a
 * new one that never leaves this backend's memory but for its file.
 */
static HeapTuple
anon_secret_move_key(Relation rel, HeapTuple tuple, AttrNumber key_att,
					 AttrNumber id_att)
{
	uint8		key[ANON_SECRET_LEN];
	char		id[ANON_KEY_ID_LEN + 1];
	bool		isnull;
	Datum		d = heap_getattr(tuple, key_att, RelationGetDescr(rel), &isnull);
	int			cols[2] = {key_att, id_att};
	Datum		values[2];
	bool		nulls[2] = {true, false};

	if (isnull)
		return tuple;
	memcpy(key, anon_key_bytes(DatumGetByteaPP(d)), ANON_SECRET_LEN);
	if (anon_fresh_lxid == MyProc->lxid &&
		memcmp(key, anon_fresh_key, ANON_SECRET_LEN) == 0)
		anon_random_bytes(key, ANON_SECRET_LEN);
	anon_fresh_lxid = InvalidLocalTransactionId;
	anon_key_file_write(key);
	anon_key_id_of(key, id);
	explicit_bzero(key, sizeof(key));
	values[0] = (Datum) 0;
	values[1] = CStringGetTextDatum(id);
	return heap_modify_tuple_by_cols(tuple, RelationGetDescr(rel), 2, cols,
									 values, nulls);
}

PG_FUNCTION_INFO_V1(anon_replace_secret);

/*
 * anon_replace_secret() RETURNS trigger
 *
 * BEFORE INSERT FOR EACH ROW on anonymize.secret: the inserted row replaces
 * the one there (restoring a dump inserts the dumped key id after CREATE
 * EXTENSION made a new key), and a key it carries moves into its file.
 */
Datum
anon_replace_secret(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	AttrNumber	key_att;
	AttrNumber	id_att;
	HeapTuple	tuple;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("replace_secret must be fired BEFORE INSERT FOR EACH ROW")));
	rel = trigdata->tg_relation;
	key_att = anon_secret_attnum(rel, "key");
	id_att = anon_secret_attnum(rel, "key_id");
	if (key_att == 0 || id_att == 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("replace_secret fires on anonymize.secret only")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("DELETE FROM anonymize.secret", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from anonymize.secret");
	SPI_finish();

	tuple = anon_secret_move_key(rel, trigdata->tg_trigtuple, key_att, id_att);
	anon_secret_invalidate();
	return PointerGetDatum(tuple);
}

/* Point anonymize.secret at another key id. */
static void
anon_secret_set_id(const char *id)
{
	Datum		values[1] = {CStringGetTextDatum(id)};
	Oid			types[1] = {TEXTOID};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("UPDATE anonymize.secret SET key_id = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not update anonymize.secret");
	SPI_finish();
	anon_secret_invalidate();
}

PG_FUNCTION_INFO_V1(anon_import_key);

/*
 * anon_import_key(key bytea, force boolean) RETURNS text
 *
 * Install a known key (superuser only), returning its key id.  The key of
 * this database's key id gets its file if that is missing (a restore into
 * another cluster); another key replaces the database's only with force,
 * for then every person gets a new pseudonym.
 */
Datum
anon_import_key(PG_FUNCTION_ARGS)
{
	bytea	   *arg = PG_GETARG_BYTEA_PP(0);
	bool		force = PG_GETARG_BOOL(1);
	const uint8 *key;
	char		id[ANON_KEY_ID_LEN + 1];
	char		current[ANON_KEY_ID_LEN + 1];
	uint8		table_key[ANON_SECRET_LEN];
	bool		legacy;

	anon_require_superuser("import");
	key = anon_key_bytes(arg);
	anon_key_id_of(key, id);
	anon_secret_read_row(current, table_key, &legacy);
	explicit_bzero(table_key, sizeof(table_key));
	if (legacy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the extension anonymize must be updated first"),
				 errhint("Run ALTER EXTENSION anonymize UPDATE.")));
	if (strcmp(id, current) != 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the key given is not the secret key of this database"),
				 errdetail("This database's key has key id %s; the key given has key id %s.",
						   current, id),
				 errhint("Pass force => true to replace the key: every person then gets "
						 "a new pseudonym, and hashes change.")));
	anon_key_file_write(key);
	if (strcmp(id, current) != 0)
		anon_secret_set_id(id);
	anon_secret_invalidate();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

PG_FUNCTION_INFO_V1(anon_export_key);

/*
 * anon_export_key() RETURNS bytea
 *
 * The key of this database (superuser only), to be kept with the backups.
 */
Datum
anon_export_key(PG_FUNCTION_ARGS)
{
	bytea	   *key = palloc(VARHDRSZ + ANON_SECRET_LEN);
	char		id[ANON_KEY_ID_LEN + 1];

	anon_require_superuser("export");
	SET_VARSIZE(key, VARHDRSZ + ANON_SECRET_LEN);
	anon_secret_read((uint8 *) VARDATA(key), id);
	PG_RETURN_BYTEA_P(key);
}

PG_FUNCTION_INFO_V1(anon_key_check);

/*
 * anon_key_check() RETURNS text
 *
 * The key id of this database's key, its file read and verified now (55000
 * if it is missing, XX001 if it is damaged): what anonymize.distribute()
 * compares between the nodes of a cluster.  Superuser only; the key id
 * reveals nothing of the key.
 */
Datum
anon_key_check(PG_FUNCTION_ARGS)
{
	uint8		key[ANON_SECRET_LEN];
	char		id[ANON_KEY_ID_LEN + 1];

	anon_require_superuser("check");
	anon_secret_read(key, id);
	explicit_bzero(key, sizeof(key));
	PG_RETURN_TEXT_P(cstring_to_text(id));
}
