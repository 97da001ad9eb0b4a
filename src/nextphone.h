/*-------------------------------------------------------------------------
 *
 * nextphone.h
 *	  Declarations shared by the parts of the nextphone extension.
 *
 * Each subsystem has an ...Init() function, called once from _PG_init(),
 * that defines its settings and hooks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NEXTPHONE_H
#define NEXTPHONE_H

/* the extension's version, default_version in nextphone.control (see Makefile) */
#ifndef NEXTPHONE_VERSION
#error "NEXTPHONE_VERSION is defined by the Makefile"
#endif
#include "access/tupdesc.h"

#define NEXTPHONE_USER_AGENT "nextphone/" NEXTPHONE_VERSION

/* enqueue.c: rendering on insert, commit wake-up */
extern void EnqueueInit(void);

/* enqueue.c: whether the event path is inserting its own outbox row now */
extern bool EnqueueInternalInsert(void);

/* enqueue.c: a column's index in a row (from 0), or -1; *hint remembers it */
extern int	ColumnIndex(TupleDesc desc, const char *name, int *hint);

/* netguard.c: where deliveries may go (SSRF guard, TLS settings) */
extern void NetguardInit(void);

/* worker.c: the delivery worker */
extern void WorkerInit(void);
extern double WorkerFirstWaitMs(void);

#endif							/* NEXTPHONE_H */
