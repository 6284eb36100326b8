/*-------------------------------------------------------------------------
 *
 * protect.h
 *	  protect(): installing the anonymizing trigger, and the trigger itself.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANONYMIZE_PROTECT_H
#define ANONYMIZE_PROTECT_H

/*
 * Put the trigger of a protected table back, as its registry row says,
 * after a command dropped it.
 */
extern void anon_protect_reinstall(Oid relid);

#endif							/* ANONYMIZE_PROTECT_H */
