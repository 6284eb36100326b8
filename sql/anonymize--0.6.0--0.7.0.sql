-- anonymize 0.6.0 -> 0.7.0: pseudonyms on Citus distributed tables, from the
-- coordinator's map.

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.7.0'" to load this file. \quit

-- How many times forget() has committed: a Citus worker reads it once per
-- statement and empties its cache of the coordinator's pseudonyms when it
-- has changed.  One row; not dumped (a restored database starts again at 0,
-- and its backends start with empty caches).
CREATE TABLE @extschema@.forget_epoch (epoch bigint NOT NULL);
INSERT INTO @extschema@.forget_epoch VALUES (0);
REVOKE ALL ON @extschema@.forget_epoch FROM PUBLIC;
COMMENT ON TABLE @extschema@.forget_epoch IS
	'how many times forget() has committed (one row)';

-- What a shard's trigger on a Citus worker asks the coordinator, over a
-- connection of its own, for a person it has not cached: the keyed hash
-- (never the identifier) and, for a value that has the form of a
-- pseudonym, the keyed hash of its marker, with a random nonce.  The answer
-- is the pseudonym, stored in the coordinator's map and committed at once,
-- the forget epoch, and a keyed hash of the nonce and both under the key
-- every node shares: a worker accepts no answer that another server made.
-- It needs no privilege: without the key, nobody can compute the keyed hash
-- of an identifier.
CREATE FUNCTION @extschema@.remote_pseudonym(namespace text, digest bytea,
                                             marker bytea, marked bytea, nonce bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_remote_pseudonym'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.remote_pseudonym(text, bytea, bytea, bytea, bytea) IS
	'on a Citus coordinator: the pseudonym of a keyed hash, for a shard''s trigger on a worker';

CREATE FUNCTION @extschema@.remote_forget_epoch(nonce bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'anon_remote_forget_epoch'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.remote_forget_epoch(bytea) IS
	'on a Citus coordinator: how many times forget() has committed, with a keyed hash of it and the nonce';

-- Every shard of a protected distributed table that a node has checked,
-- with its trigger's name and arguments: the node's guard holds a table of
-- that name to them for as long as the row is there, whatever Citus's
-- metadata on the node says later (a table owner can change it there).
CREATE TABLE @extschema@.protected_shards (
	shard_schema name NOT NULL,
	shard_name name NOT NULL,
	trigger_name name NOT NULL,
	table_name text NOT NULL,
	trigger_args text[] NOT NULL,
	PRIMARY KEY (shard_schema, shard_name)
);
REVOKE ALL ON @extschema@.protected_shards FROM PUBLIC;
COMMENT ON TABLE @extschema@.protected_shards IS
	'the shards of protected distributed tables on this node, and their triggers';
