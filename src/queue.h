/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  The delivery queue's SQL, as the worker runs it: reclaim expired
 *	  leases, claim due rows, record outcomes in batches, purge.
 *
 * Every function runs its own short transaction, or joins the one begun by
 * QueueBeginStep(); none may be called with another transaction open.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NEXTPHONE_QUEUE_H
#define NEXTPHONE_QUEUE_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

/* One claimed row: a request to make (allocated in the caller's context) */
typedef struct QueueJob
{
	int64		id;
	int64		webhook_id;		/* 0 for an ad-hoc request */
	int			attempt;		/* this attempt's number, from 1 */
	char	   *msg_id;
	char	   *method;
	char	   *url;
	char	   *body;			/* NULL for none */
	List	   *headers;		/* "Name: value", secrets resolved */
	long		timeout_ms;		/* 0: the default */
	List	   *signing_secrets;	/* "whsec_..." strings to sign with */
	char	   *error;			/* set when the row cannot be sent */
	bool		now;			/* its webhook's policy (order, rate limit,
								 * probe) holds at claim time: send at once,
								 * ahead of rows claimed earlier */
	bool		probe;			/* the probe of an open circuit */
} QueueJob;

/* How one attempt ended, for QueueRecord */
typedef enum QueueOutcomeKind
{
	OUTCOME_DELIVERED,			/* 2xx */
	OUTCOME_GONE,				/* 410: dead, webhook disabled */
	OUTCOME_FATAL,				/* never to be retried: dead at once */
	OUTCOME_RETRY				/* retry per schedule, or dead when spent */
} QueueOutcomeKind;

typedef struct QueueOutcome
{
	int64		id;
	int64		webhook_id;		/* as claimed; 0 for an ad-hoc request */
	QueueOutcomeKind kind;
	int			status_code;	/* 0: none */
	const char *error;			/* NULL: none */
	double		retry_after;	/* seconds, < 0: none */
	TimestampTz started_at;
	double		duration_ms;
	const char *response_headers;	/* "name\0value\0" pairs, or NULL */
	int			response_headers_len;	/* their bytes */
	const char *response_body;	/* or NULL */
	bool		probe;			/* the outcome of a circuit's probe */
	bool		row_held;		/* left for later by QueueRecord because
								 * another transaction holds its outbox row
								 * (not its webhook's) */
} QueueOutcome;

/* The policy settings the queue SQL needs (the worker's GUCs) */
typedef struct QueuePolicy
{
	int			worker_number;	/* leased_by of this worker's rows */
	int			default_timeout_ms;
	const char *retry_schedule; /* an interval[] literal */
	int			circuit_failures;
	int			circuit_probe_ms;
	int			disable_after_s;
	int			retention_s;
} QueuePolicy;

/*
 * QueueBeginStep
 *		Begin one short transaction in which the following queue functions
 *		run (e.g. record outcomes, then claim), until QueueEndStep().
 */
extern void QueueBeginStep(const char *activity);

/*
 * QueueEndStep
 *		Commit the step's transaction.
 */
extern void QueueEndStep(void);

/*
 * QueueExtensionReady
 *		Whether the extension is installed in this database (and, when it
 *		is, remember its schema's tables for the other functions).
 */
extern bool QueueExtensionReady(void);

/*
 * QueueReclaim
 *		Put back to pending the rows whose lease expired, and (at start-up,
 *		when own_too) the rows this worker had leased before it restarted.
 *		Returns the number of rows put back.
 */
extern uint64 QueueReclaim(const QueuePolicy *policy, bool own_too);

/*
 * QueueClaim
 *		Claim at most limit due rows (status sending, under a lease) and
 *		return them as a List of QueueJob allocated in the caller's memory
 *		context.  Rows of ordered, rate-limited or circuit-probed webhooks
 *		are claimed only up to limit_now, the rows the caller sends at once:
 *		their policy holds at claim time (QueueJob.now is set for them).
 *		*waiting is set to the number of such webhooks with rows due that
 *		got none for want of limit_now, for the caller to keep slots free
 *		for them next time.  No rows of the busy webhooks (nbusy ids, in any
 *		order, repeated or not: those whose outcomes QueueRecord left for
 *		later) are claimed.
 */
extern List *QueueClaim(const QueuePolicy *policy, int limit_now, int limit,
						const int64 *busy, int nbusy, int *waiting);

/*
 * QueueRelease
 *		Put back to pending n rows this worker claimed and never sent.
 */
extern void QueueRelease(const QueuePolicy *policy, const int64 *ids, int n);

/*
 * QueueNextDue
 *		When the earliest row that is waiting may be claimed (a retry, a
 *		circuit probe, a rate-limited send), or 0 when nothing waits.
 */
extern TimestampTz QueueNextDue(const QueuePolicy *policy);

/*
 * QueueRecord
 *		Record n outcomes in one statement: attempts rows, outbox status and
 *		next attempt, webhook health (circuit, disabling).  *held gets the
 *		webhooks whose messages must wait from now on (their circuit opened,
 *		or they are being disabled), *nheld how many.  The outcomes of
 *		webhooks whose row another transaction holds are left for later:
 *		they are moved to the end of the array, and their number returned.
 */
extern int	QueueRecord(const QueuePolicy *policy, QueueOutcome *outcomes, int n,
						int64 **held, int *nheld);

/*
 * Longest wait for the row of a webhook whose outcomes are to be recorded
 * (ms); past it, the outcomes are left for later (QueueRecord)
 */
#define QUEUE_BUSY_WAIT_MS 50

/* Most rows one purge deletes; a purge that deletes this many is repeated soon */
#define QUEUE_PURGE_BATCH 10000

/*
 * QueuePurge
 *		Delete delivered rows (and their attempts) older than the retention,
 *		at most QUEUE_PURGE_BATCH.  Returns the number of rows deleted.
 */
extern uint64 QueuePurge(const QueuePolicy *policy);

#endif							/* NEXTPHONE_QUEUE_H */
