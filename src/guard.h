/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  Refusing to drop, disable or weaken the protection of a table.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_GUARD_H
#define ANONYMIZE_GUARD_H

/* Set by protect() alone, while it replaces a trigger to extend it */
extern bool anon_guard_allow_drop;

#endif							/* ANONYMIZE_GUARD_H */
