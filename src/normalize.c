/*-------------------------------------------------------------------------
 *
 * normalize.c
 *	  Normalization of identifiers before they are hashed.
 *
 * An identifier is trimmed of white space, and lower-cased when it looks
 * like an e-mail address.  Lower-casing uses a fixed table, generated from
 * Unicode's simple lower-case mapping (lower_table.h, made by
 * gen_lower_table.py), and never the database's locale: so a pseudonym does
 * not change when a dump is restored into a database of another locale.  In
 * a database whose encoding is not UTF-8, only ASCII letters are folded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "lower_table.h"
#include "normalize.h"

/* The lower-case form of a code point. */
static pg_wchar
anon_lower_char(pg_wchar c)
{
	int			lo = 0;
	int			hi = lengthof(anon_lower_table) - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (anon_lower_table[mid][0] == c)
			return anon_lower_table[mid][1];
		if (anon_lower_table[mid][0] < c)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return c;
}

/*
 * Lower-case len bytes of text of the database encoding into a new string
 * (only ASCII letters if ascii_only); sets *outlen.
 */
static char *
anon_lower(const char *s, int len, bool ascii_only, int *outlen)
{
	/* a code point's lower case takes at most half as many bytes again */
	unsigned char *out = palloc(len * 2 + 1);
	unsigned char *o = out;
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8 && !ascii_only;

	while (p < end)
	{
		int			n;

		if (!IS_HIGHBIT_SET(*p) || !utf8)
		{
			*o++ = pg_ascii_tolower(*p++);
			continue;
		}
		n = pg_utf_mblen(p);
		if (n > end - p || !pg_utf8_islegal(p, n))
		{
			/* not reached for valid text; keep the bytes */
			*o++ = *p++;
			continue;
		}
		o = unicode_to_utf8(anon_lower_char(utf8_to_unicode(p)), o);
		o += pg_utf_mblen(o);
		p += n;
	}
	*o = '\0';
	*outlen = o - out;
	return (char *) out;
}

/* White space, as in the C locale whatever the database's locale. */
static inline bool
anon_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Normalize len bytes; with ascii_only, fold ASCII letters only.
 */
static const char *
anon_normalize_common(const char *value, int len, bool ascii_only, int *outlen)
{
	const char *start = value;
	const char *end = value + len;
	bool		email = false;
	bool		fold = false;

	while (start < end && anon_isspace(*start))
		start++;
	while (end > start && anon_isspace(end[-1]))
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
		return anon_lower(start, end - start, ascii_only, outlen);
	return start;
}

/* Normalize an identifier held in bytes; see normalize.h. */
const char *
anon_normalize_bytes(const char *value, int len, int *outlen)
{
	return anon_normalize_common(value, len, false, outlen);
}

/* Normalize as earlier versions did under LC_CTYPE C; see normalize.h. */
char *
anon_normalize_ascii(const char *value)
{
	int			len;
	const char *norm = anon_normalize_common(value, strlen(value), true, &len);

	return norm ? pnstrdup(norm, len) : NULL;
}

/* Normalize an identifier into a new string; see normalize.h. */
char *
anon_normalize(const char *value)
{
	int			len;
	const char *norm = anon_normalize_bytes(value, strlen(value), &len);

	return norm ? pnstrdup(norm, len) : NULL;
}
