/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Shared state of the delivery workers, and the wake-up at commit.
 *
 * A statement-level trigger on nextphone.outbox marks the transaction; a
 * transaction callback, registered once per backend, sets the latch of
 * every delivery worker of the same database when that transaction commits
 * (the workers of other databases have nothing new to do).  A rolled-back
 * transaction wakes nobody.  Without shared_preload_libraries there is no
 * shared state and no worker, and the trigger does nothing.
 *
 * The shared state holds one slot per delivery worker: nextphone.workers
 * for each database of nextphone.database_name, both fixed at server start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "wakeup.h"

PG_FUNCTION_INFO_V1(nextphone_outbox_wakeup);

static WorkerShared *worker_shared = NULL;
static int	worker_nslots = 0;
static bool wakeup_pending = false;
static bool xact_callback_registered = false;
static bool am_delivery_worker = false;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * wakeup_shmem_size
 *		Bytes of shared memory the worker slots take.
 */
static Size
wakeup_shmem_size(void)
{
	return add_size(offsetof(WorkerShared, slots),
					mul_size(worker_nslots, sizeof(WorkerSlot)));
}

#if PG_VERSION_NUM >= 150000
/*
 * wakeup_shmem_request
 *		Reserve the shared memory of the worker slots.
 */
static void
wakeup_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(wakeup_shmem_size()));
}
#endif

/*
 * wakeup_shmem_startup
 *		Create (or, after a crash, re-create) the worker slots.
 */
static void
wakeup_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shared = ShmemInitStruct("nextphone workers", wakeup_shmem_size(), &found);
	if (!found)
	{
		memset(worker_shared, 0, wakeup_shmem_size());
		worker_shared->nslots = worker_nslots;
		for (int i = 0; i < worker_nslots; i++)
			SpinLockInit(&worker_shared->slots[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * WakeupInit
 *		Ask for the shared memory of nslots worker slots (the library is
 *		being preloaded).
 */
void
WakeupInit(int nslots)
{
	Assert(process_shared_preload_libraries_in_progress);
	worker_nslots = nslots;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wakeup_shmem_request;
#else
	RequestAddinShmemSpace(MAXALIGN(wakeup_shmem_size()));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wakeup_shmem_startup;
}

/*
 * WorkerSharedState
 *		The worker slots, or NULL when the library was not preloaded.
 */
WorkerShared *
WorkerSharedState(void)
{
	return worker_shared;
}

/*
 * WakeupIgnoreOwnCommits
 *		Called by a delivery worker: its own updates of the queue must not
 *		wake it.
 */
void
WakeupIgnoreOwnCommits(void)
{
	am_delivery_worker = true;
}

/*
 * WakeupWorkers
 *		Set the latch of every running delivery worker of this database.
 */
void
WakeupWorkers(void)
{
	if (worker_shared == NULL)
		return;

	for (int i = 0; i < worker_shared->nslots; i++)
	{
		WorkerSlot *slot = &worker_shared->slots[i];
		Latch	   *latch = NULL;

		SpinLockAcquire(&slot->mutex);
		if (slot->database_id == MyDatabaseId)
			latch = slot->latch;
		SpinLockRelease(&slot->mutex);
		if (latch != NULL)
			SetLatch(latch);
	}
}

/*
 * wakeup_xact_callback
 *		At commit of a transaction that queued messages, wake the workers.
 */
static void
wakeup_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wakeup_pending)
			{
				wakeup_pending = false;
				WakeupWorkers();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wakeup_pending = false;
			break;
		default:
			break;
	}
}

/*
 * nextphone_outbox_wakeup
 *		Statement trigger on nextphone.outbox: wake the workers at commit.
 */
Datum
nextphone_outbox_wakeup(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"outbox_wakeup\" must be called as a trigger")));

	if (worker_shared != NULL && !am_delivery_worker)
	{
		if (!xact_callback_registered)
		{
			RegisterXactCallback(wakeup_xact_callback, NULL);
			xact_callback_registered = true;
		}
		wakeup_pending = true;
	}

	return PointerGetDatum(NULL);
}
