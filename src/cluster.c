/*-------------------------------------------------------------------------
 *
 * cluster.c
 *	  Pseudonyms on a Citus worker, from the coordinator's map.
 *
 * A person must have one pseudonym on every node, and forget() on the
 * coordinator must reach every node: so a Citus cluster has one map, the
 * coordinator's.  A shard's trigger on a worker computes the keyed hash
 * itself (every node has the key, see distribute()) and, for a person its
 * backend has not cached, asks the coordinator over a connection of its
 * own: anonymize.remote_pseudonym() looks the hash up there or stores a new
 * pseudonym, and that is committed at once.  The identifier never leaves
 * the worker.  Every answer carries a keyed hash, under the key every node
 * shares, of a nonce the worker chose and of the answer: a server that is
 * not the cluster's (a coordinator row changed on the worker) can neither
 * give pseudonyms nor replay an old answer (a forget epoch from before a
 * forget).  Rows of one INSERT ... SELECT or COPY reach a worker over
 * several connections of one distributed transaction: with the map rows
 * committed at once, two of them storing the same new person never wait on
 * each other's uncommitted row.
 *
 * The backend's cache is checked once per statement against the
 * coordinator's forget epoch (anonymize.forget_epoch, which forget()
 * increments): a forget() committed on the coordinator holds on every node
 * from the next statement on.
 *
 * One connection per backend that needs it, opened at first need and kept
 * until the backend exits (Citus's own connections to a worker come and
 * go with its pool); the coordinator's lock_timeout is 10 seconds, so a
 * wait there that the worker's transaction would never see the end of (the
 * coordinator's session storing the same new person in the same
 * distributed transaction) fails instead of hanging.  Every failure is an
 * error: no row is ever stored without its pseudonym.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "access/xact.h"

#include "anonymize.h"
#include "cluster.h"
#include "shards.h"

static PGconn *cluster_conn = NULL;
static bool cluster_exit_registered = false;

/* Whether this backend is on a Citus worker; see cluster.h. */
bool
anon_cluster_remote(void)
{
	static int	remote = -1;

	if (remote < 0)
		remote = anon_citus_installed() && !anon_citus_coordinator();
	return remote == 1;
}

static LocalTransactionId cluster_checked_lxid = InvalidLocalTransactionId;
static TimestampTz cluster_checked_start = 0;

/* Whether this statement's forget epoch is still to be checked; see cluster.h. */
bool
anon_cluster_new_statement(void)
{
	return MyProc->lxid != cluster_checked_lxid ||
		GetCurrentStatementStartTimestamp() != cluster_checked_start;
}

/* This statement's forget epoch has been checked; see cluster.h. */
void
anon_cluster_statement_checked(void)
{
	cluster_checked_lxid = MyProc->lxid;
	cluster_checked_start = GetCurrentStatementStartTimestamp();
}

/* Close the connection to the coordinator (at backend exit). */
static void
cluster_disconnect(int code, Datum arg)
{
	if (cluster_conn)
		PQfinish(cluster_conn);
	cluster_conn = NULL;
}

/* The coordinator's host and port, from Citus's pg_dist_node. */
static void
cluster_coordinator(char **host, char **port)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT nodename, nodeport::pg_catalog.text FROM pg_catalog.pg_dist_node "
					"WHERE groupid OPERATOR(pg_catalog.=) 0 AND isactive "
					"AND noderole OPERATOR(pg_catalog.=) 'primary' LIMIT 1",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_node");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this Citus node does not know its coordinator"),
				 errdetail("Pseudonyms of distributed tables come from the coordinator's map."),
				 errhint("Set the coordinator with citus_set_coordinator_host() on the coordinator.")));
	*host = MemoryContextStrdup(TopMemoryContext,
								SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	*port = MemoryContextStrdup(TopMemoryContext,
								SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	SPI_finish();
}

/* The connection to the coordinator, opened if need be. */
static PGconn *
cluster_connect(void)
{
	const char *keywords[8];
	const char *values[8];
	char	   *host;
	char	   *port;

	if (cluster_conn && PQstatus(cluster_conn) == CONNECTION_OK &&
		PQtransactionStatus(cluster_conn) == PQTRANS_IDLE)
		return cluster_conn;
	/* broken, or left in the middle of a query by an error or a cancel */
	if (cluster_conn)
		PQfinish(cluster_conn);
	cluster_conn = NULL;

	cluster_coordinator(&host, &port);
	keywords[0] = "host";
	values[0] = host;
	keywords[1] = "port";
	values[1] = port;
	keywords[2] = "dbname";
	values[2] = get_database_name(MyDatabaseId);
	keywords[3] = "user";
	values[3] = GetUserNameFromId(GetUserId(), false);
	keywords[4] = "application_name";
	values[4] = "anonymize";
	keywords[5] = "connect_timeout";
	values[5] = "10";
	keywords[6] = "options";
	values[6] = "-c lock_timeout=10s -c statement_timeout=60s";
	keywords[7] = NULL;
	values[7] = NULL;
	if (!cluster_exit_registered)
	{
		on_proc_exit(cluster_disconnect, (Datum) 0);
		cluster_exit_registered = true;
	}
	cluster_conn = PQconnectdbParams(keywords, values, false);
	pfree(host);
	pfree(port);
	if (cluster_conn == NULL || PQstatus(cluster_conn) != CONNECTION_OK)
	{
		char	   *msg = pstrdup(cluster_conn ? PQerrorMessage(cluster_conn) : "out of memory");

		if (cluster_conn)
			PQfinish(cluster_conn);
		cluster_conn = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not reach the Citus coordinator for a pseudonym"),
				 errdetail_internal("%s", msg),
				 errhint("Pseudonyms of distributed tables come from the coordinator's map: this node must be able to connect to it as the role that writes.")));
	}
	return cluster_conn;
}

/*
 * Run a query with parameters on the coordinator, waiting interruptibly;
 * returns its one row's first value (binary), or raises its error.
 */
static PGresult *
cluster_query(const char *sql, int nparams, const char *const *values,
			  const int *lengths, const int *formats)
{
	PGconn	   *conn = cluster_connect();
	PGresult   *res;
	PGresult   *last = NULL;

	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, lengths, formats, 1))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not ask the Citus coordinator for a pseudonym"),
				 errdetail_internal("%s", PQerrorMessage(conn))));
	for (;;)
	{
		while (PQisBusy(conn))
		{
			int			rc = WaitLatchOrSocket(MyLatch,
											   WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH,
											   PQsocket(conn), -1L, PG_WAIT_EXTENSION);

			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("lost the connection to the Citus coordinator"),
						 errdetail_internal("%s", PQerrorMessage(conn))));
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		if (last)
			PQclear(last);
		last = res;
	}
	if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK ||
		PQntuples(last) != 1 || PQnfields(last) != 1 || PQgetisnull(last, 0, 0))
	{
		char	   *msg = pstrdup(last ? PQresultErrorMessage(last) : PQerrorMessage(conn));

		if (last)
			PQclear(last);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the Citus coordinator gave no pseudonym"),
				 errdetail_internal("%s", msg)));
	}
	return last;
}

/* Refuse an answer that is not signed with this node's key. */
static void
cluster_verify(PGresult *res, const uint8 *mac, const uint8 *expected)
{
	int			diff = 0;

	for (int i = 0; i < ANON_REMOTE_MAC_LEN; i++)
		diff |= mac[i] ^ expected[i];
	if (diff != 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the Citus coordinator's answer is not signed with this node's key"),
				 errdetail("A server that does not hold the key every node shares answered, or the coordinator's key has changed."),
				 errhint("Call anonymize.distribute() on the coordinator: it checks every node's key.")));
	}
}

/* A random nonce for one question to the coordinator. */
static void
cluster_nonce(uint8 *nonce)
{
	if (!pg_strong_random(nonce, ANON_NONCE_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random nonce")));
}

/* The pseudonym of a keyed hash, from the coordinator; see cluster.h. */
void
anon_cluster_pseudonym(const char *ns, const uint8 *digest, const uint8 *marker,
					   const uint8 *marked, uint8 *pseudonym, int64 *epoch)
{
	char	   *sql = psprintf("SELECT %s.remote_pseudonym($1, $2, $3, $4, $5)",
							   quote_identifier(get_namespace_name(anon_schema_oid())));
	uint8		nonce[ANON_NONCE_LEN];
	const char *values[5];
	int			lengths[5] = {0, ANON_DIGEST_LEN, ANON_DIGEST_LEN, ANON_PSEUDONYM_LEN, ANON_NONCE_LEN};
	int			formats[5] = {0, 1, 1, 1, 1};
	PGresult   *res;
	const uint8 *answer;
	uint8		expected[ANON_REMOTE_MAC_LEN];
	uint64		e = 0;

	cluster_nonce(nonce);
	values[0] = ns;
	values[1] = (const char *) digest;
	values[2] = (const char *) marker;
	values[3] = (const char *) marked;
	values[4] = (const char *) nonce;
	res = cluster_query(sql, 5, values, lengths, formats);
	if (PQgetlength(res, 0, 0) != ANON_PSEUDONYM_LEN + 8 + ANON_REMOTE_MAC_LEN)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the Citus coordinator gave a malformed pseudonym"),
				 errhint("Every node must run the same version of anonymize: anonymize.distribute() checks it.")));
	}
	answer = (const uint8 *) PQgetvalue(res, 0, 0);
	for (int i = 0; i < 8; i++)
		e = (e << 8) | answer[ANON_PSEUDONYM_LEN + i];
	anon_remote_mac(nonce, digest, answer, (int64) e, expected);
	cluster_verify(res, answer + ANON_PSEUDONYM_LEN + 8, expected);
	memcpy(pseudonym, answer, ANON_PSEUDONYM_LEN);
	*epoch = (int64) e;
	PQclear(res);
}

/* The coordinator's forget epoch; see cluster.h. */
int64
anon_cluster_forget_epoch(void)
{
	char	   *sql = psprintf("SELECT %s.remote_forget_epoch($1)",
							   quote_identifier(get_namespace_name(anon_schema_oid())));
	uint8		nonce[ANON_NONCE_LEN];
	const char *values[1];
	int			lengths[1] = {ANON_NONCE_LEN};
	int			formats[1] = {1};
	PGresult   *res;
	const uint8 *answer;
	uint8		expected[ANON_REMOTE_MAC_LEN];
	uint64		e = 0;

	cluster_nonce(nonce);
	values[0] = (const char *) nonce;
	res = cluster_query(sql, 1, values, lengths, formats);
	if (PQgetlength(res, 0, 0) != 8 + ANON_REMOTE_MAC_LEN)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the Citus coordinator gave a malformed forget epoch"),
				 errhint("Every node must run the same version of anonymize: anonymize.distribute() checks it.")));
	}
	answer = (const uint8 *) PQgetvalue(res, 0, 0);
	for (int i = 0; i < 8; i++)
		e = (e << 8) | answer[i];
	anon_remote_mac(nonce, NULL, NULL, (int64) e, expected);
	cluster_verify(res, answer + 8, expected);
	PQclear(res);
	return (int64) e;
}
