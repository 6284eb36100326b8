/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  Refusing every command that would drop, disable or weaken the
 *	  protection of a table.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_GUARD_H
#define ANONYMIZE_GUARD_H

/*
 * Check a table protect() has just protected as the guard checks tables
 * after a command; error if its state could let an identifier be stored.
 */
extern void anon_guard_check_protected(Oid relid);

#endif							/* ANONYMIZE_GUARD_H */
