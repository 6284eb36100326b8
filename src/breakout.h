/*-------------------------------------------------------------------------
 *
 * breakout.h
 *	  The states of the one-field and two-field breakouts as the type
 *	  anonymize.breakout_state sees them (see breakout_state.c): made,
 *	  advanced, merged, written, read and decided in breakout.c and
 *	  breakout_two.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_BREAKOUT_H
#define ANONYMIZE_BREAKOUT_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#include "keys.h"

typedef struct BreakoutState BreakoutState;

/*
 * An empty state for a call of a transition function of the type's
 * aggregates: (state, key, metric [, threshold [, sensitivity [, subject]]]).
 * Types come from the call, or, where the caller gives no expression (Citus
 * on a worker), from the function's declaration.
 */
extern BreakoutState *anon_breakout_begin(FunctionCallInfo fcinfo,
										  MemoryContext mcxt);

/*
 * Refuse (42804) a state that a transition call did not make itself (an
 * aggregate's initial value) if it is not of the call's types and form.
 */
extern void anon_breakout_check_call(BreakoutState *state, FunctionCallInfo fcinfo);

/* Count the row of a transition call in the state. */
extern void anon_breakout_advance(BreakoutState *state, FunctionCallInfo fcinfo);

/* An empty state of the same form and settings as src, in mcxt. */
extern BreakoutState *anon_breakout_like(BreakoutState *src, MemoryContext mcxt);

/* Merge src into dst; error 22023 if they are not of one form and settings. */
extern void anon_breakout_merge_state(BreakoutState *dst, BreakoutState *src);

/* Write a state in its portable form; read one back, checked, into mcxt. */
extern void anon_breakout_write(StringInfo buf, BreakoutState *state);
extern BreakoutState *anon_breakout_read(AnonReader *r, MemoryContext mcxt);

/*
 * Read a state written by anon_breakout_write and merge it into dst as it
 * is read, each subject hashed once (22023 if it is of another form or
 * settings); with dst NULL, into a new state in mcxt.  A group's new set of
 * people makes room for nstates states' people (see
 * anon_subjects_read_merge).  Returns dst.  The bounds, form and counts of what is read are checked as in
 * anon_breakout_read, but not that its keys and subjects are distinct (a
 * state of the type was checked so when it was made or read as input: here
 * a subject written twice would merge as once).  Values read are allocated
 * in the current memory context.
 */
extern BreakoutState *anon_breakout_read_merge(AnonReader *r,
											   BreakoutState *dst,
											   MemoryContext mcxt,
											   int nstates);

/* Apply the threshold rule: the anonymize.breakout_group[] of a state. */
extern ArrayType *anon_breakout_groups(BreakoutState *state, Oid rowtype);

/* The same for the two-field breakout (breakout_two.c). */
typedef struct TwoState TwoState;

extern TwoState *anon_two_begin(FunctionCallInfo fcinfo, MemoryContext mcxt);
extern void anon_two_check_call(TwoState *state, FunctionCallInfo fcinfo);
extern void anon_two_advance(TwoState *state, FunctionCallInfo fcinfo);
extern void anon_two_merge_state(TwoState *dst, TwoState *src);
extern void anon_two_write(StringInfo buf, TwoState *state);
extern TwoState *anon_two_read(AnonReader *r, MemoryContext mcxt);
extern ArrayType *anon_two_result(TwoState *state, Oid rowtype);

#endif							/* ANONYMIZE_BREAKOUT_H */
