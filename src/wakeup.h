/*-------------------------------------------------------------------------
 *
 * wakeup.h
 *	  Shared state of the delivery workers, and the wake-up at commit.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NEXTPHONE_WAKEUP_H
#define NEXTPHONE_WAKEUP_H

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/spin.h"

/* Upper bound of nextphone.workers (workers per listed database) */
#define NEXTPHONE_MAX_WORKERS 16

#define NEXTPHONE_LAST_ERROR_LEN 256

/*
 * One delivery worker's slot in shared memory: its database, its latch (set
 * at the commit of an enqueue in that database) and the live figures
 * worker_status() reports.  Written by the worker under the slot's spinlock,
 * read by anyone.  Slot k belongs to worker k % nextphone.workers of the
 * (k / nextphone.workers)-th database of nextphone.database_name.
 */
typedef struct WorkerSlot
{
	slock_t		mutex;
	pid_t		pid;			/* 0 when the worker is not running */
	Latch	   *latch;			/* the worker's MyLatch, or NULL */
	Oid			database_id;	/* once connected, else InvalidOid */
	char		database[NAMEDATALEN];	/* as listed */
	int			number;			/* within its database, from 0 */
	int			connect_failures;	/* in a row; kept across restarts */
	char		state[32];		/* "starting", "waiting for extension", ... */
	int			in_flight;
	int64		sent;			/* requests finished (any outcome) */
	int64		delivered;
	int64		failed;
	char		last_error[NEXTPHONE_LAST_ERROR_LEN];
	TimestampTz started_at;
	TimestampTz last_cycle_at;
	double		last_cycle_ms;
} WorkerSlot;

/* The slots of every delivery worker, as many as nextphone.database_name
 * lists databases times nextphone.workers */
typedef struct WorkerShared
{
	int			nslots;
	WorkerSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} WorkerShared;

/*
 * WakeupInit
 *		Ask for the shared memory of nslots worker slots.  Called from
 *		WorkerInit() when the library is preloaded.
 */
extern void WakeupInit(int nslots);

/*
 * WorkerSharedState
 *		The shared state, or NULL when the library was not preloaded.
 */
extern WorkerShared *WorkerSharedState(void);

/*
 * WakeupIgnoreOwnCommits
 *		Called by a delivery worker: its own updates of the queue must not
 *		wake it (or the others).
 */
extern void WakeupIgnoreOwnCommits(void);

/*
 * WakeupWorkers
 *		Set the latch of every running delivery worker of this database.
 */
extern void WakeupWorkers(void);

#endif							/* NEXTPHONE_WAKEUP_H */
