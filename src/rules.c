/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  Anonymization rules: parsing, checking against a table, applying.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>

#include "access/htup_details.h"
#include "catalog/heap.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "pseudonym.h"
#include "rules.h"

/* Longest text any action may write, for varchar(n) columns */
#define ANON_MAX_OUTPUT 64

/* Raise the error for a malformed rule. */
static void
anon_rule_error(const char *column, const char *action, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid anonymization rule \"%s=%s\"", column, action),
			 errdetail("%s", detail)));
}

/* Parse a bit count of generalize_ip, between 0 and max. */
static int
anon_parse_bits(const char *column, const char *action, const char *s, int max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 || v > max)
		anon_rule_error(column, action,
						max == 32 ? "The IPv4 prefix length must be between 0 and 32."
						: "The IPv6 prefix length must be between 0 and 128.");
	return (int) v;
}

/* Parse an action; see rules.h. */
void
anon_rule_parse(const char *column, const char *action, AnonRule *rule)
{
	char	   *copy = pstrdup(action);
	char	   *name = copy;
	char	   *arg = strchr(copy, ':');

	if (arg)
		*arg++ = '\0';
	memset(rule, 0, sizeof(AnonRule));
	rule->column = pstrdup(column);
	rule->action_text = pstrdup(action);
	rule->ns = "default";
	rule->v4bits = 24;
	rule->v6bits = 48;

	if (*column == '\0')
		anon_rule_error(column, action, "The column name is empty.");

	if (strcmp(name, "strip") == 0 || strcmp(name, "email_domain") == 0)
	{
		if (arg)
			anon_rule_error(column, action, "This action takes no argument.");
		rule->action = name[0] == 's' ? ANON_STRIP : ANON_EMAIL_DOMAIN;
	}
	else if (strcmp(name, "pseudonym") == 0 || strcmp(name, "hash") == 0)
	{
		rule->action = name[0] == 'p' ? ANON_PSEUDONYM : ANON_HASH;
		if (arg)
		{
			if (*arg == '\0' || strchr(arg, ':') != NULL)
				anon_rule_error(column, action,
								"A namespace must be a non-empty name without \":\".");
			rule->ns = arg;
		}
	}
	else if (strcmp(name, "generalize_ip") == 0)
	{
		char	   *v6 = arg ? strchr(arg, ':') : NULL;

		rule->action = ANON_GENERALIZE_IP;
		if (v6)
			*v6++ = '\0';
		if (arg)
			rule->v4bits = anon_parse_bits(column, action, arg, 32);
		if (v6)
			rule->v6bits = anon_parse_bits(column, action, v6, 128);
	}
	else if (strcmp(name, "truncate") == 0)
	{
		static const char *const units[] = {"minute", "hour", "day", "week", "month", NULL};

		rule->action = ANON_TRUNCATE;
		for (int i = 0; arg && units[i]; i++)
			if (strcmp(arg, units[i]) == 0)
				rule->unit = arg;
		if (rule->unit == NULL)
			anon_rule_error(column, action,
							"truncate takes one of minute, hour, day, week or month, as in \"truncate:hour\".");
	}
	else
		anon_rule_error(column, action,
						"Known actions are strip, pseudonym, hash, generalize_ip, truncate and email_domain.");
}

/* Split "column=action" and parse it; see rules.h. */
void
anon_rule_parse_text(const char *text, AnonRule *rule)
{
	const char *eq = strrchr(text, '=');

	if (eq == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid anonymization rule \"%s\"", text),
				 errdetail("A rule has the form column=action, as in \"user_id=pseudonym\".")));
	anon_rule_parse(pnstrdup(text, eq - text), eq + 1, rule);
}

/* Whether a type is text-like, and long enough for any action's output. */
static bool
anon_text_fits(Oid typid, int32 typmod)
{
	if (typid == TEXTOID)
		return true;
	return typid == VARCHAROID &&
		(typmod < 0 || typmod - VARHDRSZ >= ANON_MAX_OUTPUT);
}

/* Whether an action can write a column of this type. */
static bool
anon_action_fits(AnonAction action, Oid typid, int32 typmod)
{
	switch (action)
	{
		case ANON_STRIP:
			return true;
		case ANON_PSEUDONYM:
			return anon_text_fits(typid, typmod) || typid == UUIDOID ||
				typid == INT8OID;
		case ANON_HASH:
			return anon_text_fits(typid, typmod) || typid == UUIDOID;
		case ANON_GENERALIZE_IP:
			return anon_text_fits(typid, typmod) || typid == INETOID ||
				typid == CIDROID;
		case ANON_TRUNCATE:
			return typid == TIMESTAMPOID || typid == TIMESTAMPTZOID;
		case ANON_EMAIL_DOMAIN:
			return typid == TEXTOID || typid == VARCHAROID;
	}
	return false;
}

/* Check a rule against a table's columns; see rules.h. */
void
anon_rule_bind(AnonRule *rule, TupleDesc tupdesc, const char *relname)
{
	Form_pg_attribute att = NULL;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(tupdesc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), rule->column) == 0)
		{
			att = a;
			break;
		}
	}
	if (att == NULL)
	{
		if (SystemAttributeByName(rule->column) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot anonymize system column \"%s\"", rule->column)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						rule->column, relname)));
	}
	if (att->attgenerated)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot anonymize generated column \"%s\"", rule->column)));
	if (rule->action == ANON_STRIP && att->attnotnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot strip column \"%s\" because it is NOT NULL",
						rule->column),
				 errhint("Drop the NOT NULL constraint, or choose another action.")));
	if (!anon_action_fits(rule->action, att->atttypid, att->atttypmod))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("action \"%s\" cannot be applied to column \"%s\" of type %s",
						rule->action_text, rule->column,
						format_type_with_typemod(att->atttypid, att->atttypmod)),
				 errhint("%s",
						 rule->action == ANON_PSEUDONYM ? "pseudonym fits text, varchar, uuid and bigint columns." :
						 rule->action == ANON_HASH ? "hash fits text, varchar and uuid columns." :
						 rule->action == ANON_GENERALIZE_IP ? "generalize_ip fits inet, cidr, text and varchar columns." :
						 rule->action == ANON_TRUNCATE ? "truncate fits timestamp and timestamptz columns." :
						 "email_domain fits text and varchar columns.")));
	rule->relname = pstrdup(relname);
	rule->attnum = att->attnum;
	rule->typid = att->atttypid;
	rule->typmod = att->atttypmod;
	rule->typlen = att->attlen;
	rule->typbyval = att->attbyval;
}

/*
 * A value of a text-like, uuid or bigint column as identifier bytes (not
 * NUL-terminated); *len is set.  A text value is not copied.
 */
static const char *
anon_value_bytes(Oid typid, Datum value, int *len)
{
	const char *s;

	if (typid == UUIDOID)
		s = DatumGetCString(DirectFunctionCall1(uuid_out, value));
	else if (typid == INT8OID)
		s = psprintf(INT64_FORMAT, DatumGetInt64(value));
	else
	{
		text	   *t = DatumGetTextPP(value);

		*len = VARSIZE_ANY_EXHDR(t);
		return VARDATA_ANY(t);
	}
	*len = strlen(s);
	return s;
}

/* A pseudonym as text, in the canonical form of a uuid. */
static Datum
anon_uuid_text(const uint8 *bytes)
{
	text	   *result = palloc(VARHDRSZ + ANON_UUID_TEXT_LEN + 1);

	anon_uuid_format(bytes, VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + ANON_UUID_TEXT_LEN);
	return PointerGetDatum(result);
}

/* A pseudonym or digest as a value of the column's type. */
static Datum
anon_bytes_datum(Oid typid, const uint8 *bytes, int len)
{
	if (typid == UUIDOID)
	{
		pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

		memcpy(uuid->data, bytes, UUID_LEN);
		return UUIDPGetDatum(uuid);
	}
	if (typid == INT8OID)
		return Int64GetDatum(anon_pseudonym_int8(bytes));
	if (len == ANON_PSEUDONYM_LEN)
		return anon_uuid_text(bytes);
	else
	{
		char	   *hex = palloc(len * 2 + 1);

		hex_encode((const char *) bytes, len, hex);
		hex[len * 2] = '\0';
		return CStringGetTextDatum(hex);
	}
}

/* Zero the host bits of an address, keeping v4bits or v6bits of it. */
static inet *
anon_network(const inet *addr, int v4bits, int v6bits)
{
	inet	   *result = palloc0(sizeof(inet));
	int			family = ip_family(addr);
	int			keep = family == PGSQL_AF_INET ? v4bits : v6bits;
	int			maxbytes = ip_addrsize(unconstify(inet *, addr));

	keep = Min(keep, ip_bits(addr));
	ip_family(result) = family;
	ip_bits(result) = keep;
	for (int i = 0; i < maxbytes; i++)
	{
		int			bits = Max(0, Min(8, keep - i * 8));

		ip_addr(result)[i] = ip_addr(addr)[i] & (bits ? (0xFF << (8 - bits)) & 0xFF : 0);
	}
	SET_INET_VARSIZE(result);
	return result;
}

/*
 * Parse an address as inet_in does, but without raising an error: the
 * error of inet_in would quote the value, and so put it in the server log.
 */
static bool
anon_parse_inet(const char *src, inet *dst)
{
	int			bits;

	ip_family(dst) = strchr(src, ':') ? PGSQL_AF_INET6 : PGSQL_AF_INET;
	bits = pg_inet_net_pton(ip_family(dst), src, ip_addr(dst), -1);
	if (bits < 0 || bits > ip_maxbits(dst))
		return false;
	ip_bits(dst) = bits;
	SET_INET_VARSIZE(dst);
	return true;
}

/* generalize_ip on an inet, cidr or text value. */
static Datum
anon_generalize_ip(AnonRule *rule, Datum value)
{
	inet	   *addr;
	inet	   *net;

	if (rule->typid == INETOID || rule->typid == CIDROID)
		addr = DatumGetInetPP(value);
	else
	{
		addr = palloc0(sizeof(inet));
		if (!anon_parse_inet(TextDatumGetCString(value), addr))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("column \"%s\" of relation \"%s\" does not hold an IP address",
							rule->column, rule->relname),
					 errdetail("The rule \"%s=%s\" needs an IPv4 or IPv6 address.",
							   rule->column, rule->action_text)));
	}
	net = anon_network(addr, rule->v4bits, rule->v6bits);
	if (rule->typid == INETOID || rule->typid == CIDROID)
		return InetPGetDatum(net);
	return DirectFunctionCall1(textin, DirectFunctionCall1(cidr_out, InetPGetDatum(net)));
}

/*
 * truncate: a timestamptz is truncated in UTC, so that what is stored does
 * not depend on the writer's TimeZone setting.
 */
static Datum
anon_truncate(AnonRule *rule, Datum value)
{
	if (rule->typid == TIMESTAMPOID)
		return DirectFunctionCall2(timestamp_trunc,
								   CStringGetTextDatum(rule->unit), value);
	return DirectFunctionCall3(timestamptz_trunc_zone,
							   CStringGetTextDatum(rule->unit), value,
							   CStringGetTextDatum("UTC"));
}

/* email_domain: the lower-cased part after the last '@', or NULL. */
static Datum
anon_email_domain(Datum value, bool *isnull)
{
	char	   *email = anon_normalize(TextDatumGetCString(value));
	char	   *at = email ? strrchr(email, '@') : NULL;

	if (at == NULL || at[1] == '\0')
	{
		*isnull = true;
		return (Datum) 0;
	}
	return CStringGetTextDatum(at + 1);
}

/* Apply a bound rule to a non-NULL value; see rules.h. */
Datum
anon_rule_apply(AnonRule *rule, Datum value, bool *isnull)
{
	*isnull = false;
	switch (rule->action)
	{
		case ANON_STRIP:
			*isnull = true;
			return (Datum) 0;
		case ANON_PSEUDONYM:
		case ANON_HASH:
			{
				int			rawlen;
				const char *raw = anon_value_bytes(rule->typid, value, &rawlen);
				int			len;
				const char *id = anon_normalize_bytes(raw, rawlen, &len);
				uint8		digest[ANON_DIGEST_LEN];

				if (id == NULL)
				{
					*isnull = true;
					return (Datum) 0;
				}
				if (rule->action == ANON_HASH)
				{
					anon_keyed_hash(ANON_PURPOSE_HASH, rule->ns, id, len, digest);
					return anon_bytes_datum(rule->typid, digest,
											rule->typid == UUIDOID ? UUID_LEN : ANON_DIGEST_LEN);
				}
				anon_pseudonym(rule->ns, id, len, rule->typid == INT8OID, digest);
				return anon_bytes_datum(rule->typid, digest, ANON_PSEUDONYM_LEN);
			}
		case ANON_GENERALIZE_IP:
			return anon_generalize_ip(rule, value);
		case ANON_TRUNCATE:
			return anon_truncate(rule, value);
		case ANON_EMAIL_DOMAIN:
			return anon_email_domain(value, isnull);
	}
	elog(ERROR, "unrecognized anonymization action %d", (int) rule->action);
	return (Datum) 0;
}
