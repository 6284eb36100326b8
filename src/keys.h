/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  What every breakout form shares: the aggregate context, the settings of
 *	  a breakout, key types and their text form, and sets of subjects.
 *
 * Keys and subjects are compared with their type's default hash and
 * equality functions, so equal values meet whatever their text form; they
 * travel between parallel workers in text form, written and read under fixed
 * settings (see anon_portable_settings), except integers, text and uuid,
 * which travel as their bytes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_KEYS_H
#define ANONYMIZE_KEYS_H

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/nodes.h"

#include "grouping.h"

#define GROUPED_LABEL "Grouped for anonymity"

/* Values of anonymize.two_field_rule */
typedef enum AnonTwoFieldRule
{
	ANON_TWO_FIELD_PROTECTED,	/* cells safe against both one-field totals */
	ANON_TWO_FIELD_PER_SLICE	/* each slice on its own (leaks, see README) */
} AnonTwoFieldRule;

/* Settings of the breakouts, defined in guc.c */
extern int	anon_two_field_rule;
extern bool anon_show_grouped_members;

/*
 * How values are hashed and compared: through the type's functions, or, for
 * types whose equality is plain equality of their bytes, directly (a
 * breakout calls these once or twice per row).
 */
typedef enum AnonKeyFast
{
	ANON_KEY_FMGR,				/* the type's hash and equality functions */
	ANON_KEY_INTEGER,			/* int2, int4, int8, oid: equal datums */
	ANON_KEY_BYTES				/* text, varchar under a deterministic collation, uuid */
} AnonKeyFast;

/* How values of one type are hashed, compared, copied and printed. */
typedef struct AnonKeyType
{
	AnonKeyFast fast;
	Oid			type;
	Oid			collation;
	int16		typlen;
	bool		typbyval;
	FmgrInfo	hash_fn;
	FmgrInfo	eq_fn;
	bool		has_cmp;		/* a btree comparison exists */
	FmgrInfo	cmp_fn;
	FmgrInfo	out_fn;
	FmgrInfo	in_fn;
	Oid			ioparam;
} AnonKeyType;

/*
 * Fill kt for values of a type (error 42883 if the type has no default hash
 * operator class); what names the values in messages ("key", "subject",
 * "author").
 */
extern void anon_key_type_init(AnonKeyType *kt, Oid type, Oid collation,
							   MemoryContext mcxt, const char *what);

/* The bytes of a value compared by ANON_KEY_BYTES (detoasted if needed). */
static inline const char *
anon_key_bytes(AnonKeyType *kt, Datum value, int *len)
{
	if (kt->typlen == -1)
	{
		struct varlena *v = (struct varlena *) DatumGetPointer(value);

		/* pg_detoast_datum_packed, without a call for a value in line */
		if (unlikely(VARATT_IS_COMPRESSED(v) || VARATT_IS_EXTERNAL(v)))
			v = pg_detoast_datum_packed(v);

		*len = VARSIZE_ANY_EXHDR(v);
		return VARDATA_ANY(v);
	}
	*len = kt->typlen;
	return DatumGetPointer(value);
}

/* Hash of a non-NULL value, consistent with anon_key_equal. */
static inline uint32
anon_key_hash(AnonKeyType *kt, Datum value)
{
	switch (kt->fast)
	{
		case ANON_KEY_INTEGER:
			return (uint32) hash_bytes_uint32_extended((uint32) value,
													   (uint64) value >> 32);
		case ANON_KEY_BYTES:
			{
				int			len;
				const char *bytes = anon_key_bytes(kt, value, &len);

				return hash_bytes((const unsigned char *) bytes, len);
			}
		case ANON_KEY_FMGR:
			break;
	}
	return DatumGetUInt32(FunctionCall1Coll(&kt->hash_fn, kt->collation, value));
}

/* Whether two non-NULL values are equal by their type's equality. */
static inline bool
anon_key_equal(AnonKeyType *kt, Datum a, Datum b)
{
	switch (kt->fast)
	{
		case ANON_KEY_INTEGER:
			return a == b;
		case ANON_KEY_BYTES:
			{
				int			alen;
				int			blen;
				const char *ab = anon_key_bytes(kt, a, &alen);
				const char *bb = anon_key_bytes(kt, b, &blen);

				return alen == blen && memcmp(ab, bb, alen) == 0;
			}
		case ANON_KEY_FMGR:
			break;
	}
	return DatumGetBool(FunctionCall2Coll(&kt->eq_fn, kt->collation, a, b));
}

/* A copy of a value in mcxt, detoasted. */
extern Datum anon_key_copy(AnonKeyType *kt, MemoryContext mcxt, Datum value);

/* Order of two values: the type's btree order, else their labels' bytes. */
extern int	anon_key_cmp(AnonKeyType *kt, Datum a, const char *alabel,
						 Datum b, const char *blabel);

/* Write a value (see anon_key_send); read one back (in the current context). */
extern void anon_key_send(StringInfo buf, AnonKeyType *kt, Datum value);
extern Datum anon_key_recv(StringInfo buf, AnonKeyType *kt);

/*
 * A reader of bytes that come from outside the server (a breakout state
 * given as text or in binary form): every read is bounded by the end of the
 * bytes, and bytes that are not a valid state raise errcode (22P02 for text,
 * 22P03 for binary input) with the message "malformed breakout state".
 */
typedef struct AnonReader
{
	const char *cur;
	const char *end;
	int			errcode;
} AnonReader;

extern void anon_read_fail(AnonReader *r, const char *detail) pg_attribute_noreturn();
extern const char *anon_read_bytes(AnonReader *r, int64 len);
extern uint8 anon_read_byte(AnonReader *r);
extern int32 anon_read_int32(AnonReader *r);
extern int64 anon_read_int64(AnonReader *r);
extern float8 anon_read_float8(AnonReader *r);

/*
 * Types and collations in a portable state: by schema and name (a type or
 * collation missing here is error 42704); the default collation as none.
 */
extern void anon_write_type(StringInfo buf, Oid type);
extern Oid	anon_read_type(AnonReader *r);
extern void anon_write_collation(StringInfo buf, Oid collation);
extern Oid	anon_read_collation(AnonReader *r);

/*
 * Read a value written by anon_key_send, checking it: integers in their
 * type's range, text in the server encoding, uuid of 16 bytes, others read
 * by their type's input function (call under anon_portable_settings).
 */
extern Datum anon_key_read(AnonReader *r, AnonKeyType *kt);

/*
 * Fix the settings that change the text form of values, so that it reads
 * back to an equal value anywhere; returns the nest level for AtEOXact_GUC.
 */
extern int	anon_portable_settings(void);

/*
 * The same, and fixed settings for reading the literals of a query's text
 * (standard_conforming_strings, array_nulls...), so that a text written
 * under them means the same when read again under them.
 */
extern int	anon_literal_settings(void);

/*
 * What a transition call's arguments are (argno counts the state as 0): the
 * declared type, from the call's expression or, where the caller gives none
 * (Citus's worker_partial_agg), from the function's declaration; the
 * argument's expression in the aggregate's call (or in the record that
 * worker_partial_agg is given), or NULL; the type of a key or subject value
 * (a value that the declared type takes as it is, such as citext for text,
 * keeps its own type); and the collation of the key.
 */
extern Oid	anon_agg_declared_argtype(FunctionCallInfo fcinfo, int argno);
extern Node *anon_agg_arg_expr(FunctionCallInfo fcinfo, int argno);
extern Oid	anon_agg_value_type(FunctionCallInfo fcinfo, int argno);
extern Oid	anon_agg_collation(FunctionCallInfo fcinfo);

/* The aggregate's memory context; error 0A000 outside an aggregate. */
extern MemoryContext anon_agg_context(FunctionCallInfo fcinfo, const char *aggname);

/* The C form of a value of the enum anonymize.sensitivity. */
extern AnonSensitivity anon_sensitivity_from_oid(Oid enumval);

/*
 * A sensitivity argument given as text (the forms for clients that send
 * strings as text or varchar): the enum value of the first row's label, and
 * that label, so that each later row costs one comparison.
 */
typedef struct AnonSensitivityText
{
	char	   *label;			/* the first row's text; NULL before it */
	int			len;
	Oid			oid;			/* its value of the enum anonymize.sensitivity */
} AnonSensitivityText;

/*
 * The enum value named by a text sensitivity (error 22P02 if it names none);
 * remembered in cache, in mcxt, if it is the first.  fn_oid is a function of
 * the extension's schema, where the enum is looked up.
 */
extern Oid	anon_sensitivity_text_parse(AnonSensitivityText *cache, text *label,
										Oid fn_oid, MemoryContext mcxt);

/* The enum value of this row's text sensitivity (see AnonSensitivityText). */
static inline Oid
anon_sensitivity_text(AnonSensitivityText *cache, Datum arg,
					  FunctionCallInfo fcinfo, MemoryContext mcxt)
{
	text	   *label = DatumGetTextPP(arg);

	if (likely(cache->label != NULL &&
			   VARSIZE_ANY_EXHDR(label) == cache->len &&
			   memcmp(VARDATA_ANY(label), cache->label, cache->len) == 0))
		return cache->oid;
	return anon_sensitivity_text_parse(cache, label, fcinfo->flinfo->fn_oid,
									   mcxt);
}

/* Refuse a threshold given as double precision that is no integer (22023, 22003). */
extern void anon_threshold_not_integer(float8 threshold) pg_attribute_noreturn();

/*
 * A threshold given as double precision (the forms for thresholds of type
 * bigint, numeric or unknown, which cast to it implicitly): a whole number
 * in the range of integer.
 */
static inline int32
anon_threshold_from_float8(float8 threshold)
{
	if (likely(threshold >= (float8) PG_INT32_MIN &&
			   threshold < -((float8) PG_INT32_MIN) &&
			   threshold == (float8) (int32) threshold))
		return (int32) threshold;
	anon_threshold_not_integer(threshold);
}

/* Raise the error for rows of one breakout with different settings (22023). */
extern void anon_settings_differ(void) pg_attribute_noreturn();

/* Refuse a threshold below 1 or below anonymize.min_threshold (22023). */
extern void anon_check_threshold(int32 threshold);

/* The metric of a row, refused if NaN or infinite (22023), unless
 * anonymize.hide_bad_metrics (the group's sum then withholds it). */
extern float8 anon_metric(float8 metric);

/* Refuse a sum of metrics that overflowed (22003), unless
 * anonymize.hide_bad_metrics. */
extern void anon_check_sum(float8 sum);

/*
 * A sum of metrics with Neumaier's compensation: the rounding error of each
 * addition is kept apart in comp, so the total barely depends on the order
 * in which rows arrive (serial or parallel).  An addition that overflows is
 * refused (22003).
 */
typedef struct AnonSum
{
	float8		sum;
	float8		comp;
} AnonSum;

/* Add x to a sum. */
static inline void
anon_sum_add(AnonSum *s, float8 x)
{
	float8		t = s->sum + x;

	anon_check_sum(t);
	if (fabs(s->sum) >= fabs(x))
		s->comp += (s->sum - t) + x;
	else
		s->comp += (x - t) + s->sum;
	s->sum = t;
}

/* Add the sum src to dst. */
static inline void
anon_sum_merge(AnonSum *dst, AnonSum src)
{
	anon_sum_add(dst, src.sum);
	dst->comp += src.comp;
}

/* The value of a sum. */
static inline float8
anon_sum_value(AnonSum s)
{
	return s.sum + s.comp;
}

/* A text[] from C strings; NULL pointers become NULL elements. */
extern Datum anon_text_array(char **strs, int n);

/*
 * A set of distinct subjects (the people of a group), exact.  Each subject
 * remembers whether one of its rows had a metric, for the basic mode.
 */
typedef struct SubjectSet SubjectSet;

/*
 * Subjects added to sets but not yet stored in them (see
 * anon_subjects_add_later): the sets' slots are fetched into the cache while
 * the next rows are read, so that a row does not wait for memory.  Every
 * function below that reads a set (count, merge from it, send) first stores
 * what its batch holds, so a batch changes when subjects are stored, never
 * what a set answers.
 */
#define ANON_SUBJECTS_AHEAD 16

typedef struct SubjectPending
{
	SubjectSet *set;
	Datum		subject;		/* must stay valid until stored */
	uint32		hash;
	bool		with_metric;
} SubjectPending;

typedef struct SubjectBatch
{
	int			n;				/* items held */
	int			next;			/* the oldest, once all are held */
	SubjectPending items[ANON_SUBJECTS_AHEAD];
} SubjectBatch;

extern SubjectSet *anon_subjects_create(AnonKeyType *kt, MemoryContext mcxt);

/*
 * An empty set whose anon_subjects_add_later goes through batch (which must
 * live as long as the set, zeroed at first).
 */
extern SubjectSet *anon_subjects_create_batched(AnonKeyType *kt,
												MemoryContext mcxt,
												SubjectBatch *batch);
extern void anon_subjects_add(SubjectSet *set, Datum subject, bool with_metric);

/*
 * Add one row's subject, stored now or a few calls later (subjects passed
 * by value, in a set made by anon_subjects_create_batched).
 */
extern void anon_subjects_add_later(SubjectSet *set, Datum subject,
									bool with_metric);

/* Store every subject a batch holds. */
extern void anon_subjects_flush(SubjectBatch *batch);
extern void anon_subjects_merge(SubjectSet *dst, SubjectSet *src);
extern int64 anon_subjects_count(SubjectSet *set, bool basic);
extern void anon_subjects_send(StringInfo buf, SubjectSet *set);
extern void anon_subjects_recv(StringInfo buf, SubjectSet *set);
extern void anon_subjects_read(AnonReader *r, SubjectSet *set);

/*
 * Read the subjects written by anon_subjects_send and add them to a set
 * that may hold subjects already (merging while reading), through batch,
 * which the caller flushes before the values read (in the current context)
 * go; checked for length and form.  An empty set makes room at once for
 * nsets sets of as many subjects (those of the other sets to be merged into
 * it, if as many).  Returns the number read.
 */
extern int64 anon_subjects_read_merge(AnonReader *r, SubjectSet *set,
									  SubjectBatch *batch, int nsets);

/* Pass over the subjects written by anon_subjects_send, checked for length. */
extern void anon_subjects_skip(AnonReader *r, AnonKeyType *kt);

#endif							/* ANONYMIZE_KEYS_H */
