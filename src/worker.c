/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The delivery worker: its settings, registration and main loop, and
 *	  worker_status().
 *
 * nextphone.database_name lists the databases that use the extension; each
 * gets nextphone.workers delivery workers, registered at server start.  A
 * worker connects to its database and, once the extension is installed
 * there, runs a loop of named steps:
 *
 *	take finished outcomes (freeing their slots) -> start claimed rows
 *	waiting for a slot -> record outcomes, reclaim expired leases, claim due
 *	rows (these three in one short transaction) -> start the claimed
 *	requests -> purge by retention -> wait (latch and sockets together)
 *
 * A claim is committed before any request is sent, and no transaction is
 * open while requests are in flight.  Requests are started as slots free
 * up, so one slow endpoint never holds back the others.  A claim takes a
 * backlog of rows ahead of the free slots and outcomes are recorded in
 * batches, so that one transaction serves many requests.
 *
 * The worker's session skips foreign key checks and triggers on the queue
 * tables (session_replication_role = replica: its statements keep the
 * references by construction) and commits asynchronously (a lost claim or
 * outcome only means a message is sent again, with the same webhook-id).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "http.h"
#include "nextphone.h"
#include "queue.h"
#include "wakeup.h"

PGDLLEXPORT void NextphoneWorkerMain(Datum main_arg);

PG_FUNCTION_INFO_V1(nextphone_worker_status);

/* Settings */
static char *nextphone_database_name = NULL;
static int	nextphone_workers = 1;
static int	nextphone_max_concurrency = 64;
static int	nextphone_default_timeout = 15000;
static int	nextphone_max_response_size = 16384;
static char *nextphone_retry_schedule = NULL;
static int	nextphone_poll_interval = 5000;
static int	nextphone_retention = 7 * 24 * 3600;
static int	nextphone_circuit_failures = 5;
static int	nextphone_circuit_probe_interval = 30000;
static int	nextphone_disable_after = 5 * 24 * 3600;
static int	nextphone_shutdown_grace = 1000;

/* The retry schedule as an interval[] literal, made by the check hook */
static char *retry_schedule_literal = NULL;
/* its first entry, the wait before a message's first attempt, in ms */
static double retry_schedule_first_ms = 0;

/* nextphone.retry_schedule as its check hook parsed it (the GUC's extra) */
typedef struct RetrySchedule
{
	double		first_ms;
	char		literal[FLEXIBLE_ARRAY_MEMBER];	/* an interval[] literal */
} RetrySchedule;

/*
 * Why the check hook refused nextphone.database_name while the library was
 * being preloaded (the GUC machinery only warns then and keeps the default)
 */
static bool database_list_rejected = false;
static char database_list_problem[256];

/* Longest wait before a worker tries again to connect to its database */
#define MAX_CONNECT_RETRY_S 60

/* How often to look for expired leases */
#define RECLAIM_INTERVAL_MS 10000
/* a stopping worker still there this long after its grace stops at once */
#define STOP_OVERDUE_MS 1000

/* Wait before the next purge after one that deleted a full batch */
#define PURGE_AGAIN_MS 1000

/*
 * While the database is read-only: how often to look again, and after how
 * long to start a new session (a setting made by ALTER DATABASE or ALTER
 * ROLE reaches only new sessions)
 */
#define READ_ONLY_POLL_MS 1000
#define READ_ONLY_RECONNECT_S 60

/* Shortest wait when due rows could not be claimed (locked elsewhere) */
#define MIN_IDLE_WAIT_MS 10

/* This worker's slot in shared memory, its database and number there */
static WorkerSlot *my_slot = NULL;
static char my_database[NAMEDATALEN];
static int	my_number = 0;

/* The HTTP client, freed at exit */
static HttpClient *worker_client = NULL;

/* Memory of one loop iteration (the step's SPI memory ends at its commit) */
static MemoryContext loop_cxt = NULL;

/*
 * The worker claims ahead of its free slots, so that one short transaction
 * serves many requests even at a low max_concurrency: claimed rows wait in
 * the backlog for a slot.  Finished requests give their slot back at once;
 * their outcomes wait in "pending" to be recorded in a batch, at the next
 * claim or within RECORD_DELAY_MS.  (Both live in memory only: a crash
 * loses nothing, the rows are still leased, and are sent again once the
 * lease is reclaimed, with the same webhook-id.)
 */
typedef struct BacklogJob
{
	QueueJob   *job;
	TimestampTz claimed_at;
} BacklogJob;

static MemoryContext backlog_cxt = NULL;
static List *backlog = NIL;
static MemoryContext outcome_cxt = NULL;	/* reset at each record */
static QueueOutcome *pending = NULL;
static int	npending = 0;
static int	pending_cap = 0;
static TimestampTz pending_since = 0;

/*
 * Outcomes that QueueRecord left for later, because another transaction
 * holds their webhook's row (a session editing it): tried again after a
 * wait that doubles, up to a second, in memory like "pending".  Their
 * webhooks get no new claims meanwhile.
 */
static MemoryContext deferred_cxt = NULL;
static QueueOutcome *deferred = NULL;
static int	ndeferred = 0;
static int64 *busy_webhooks = NULL; /* theirs, one per outcome */
static int	nbusy_webhooks = 0;
static TimestampTz deferred_retry_at = 0;
static int	deferred_wait_ms = 0;

/*
 * Webhooks with a policy of their own (ordered, rate-limited, probed) whose
 * due rows the last claim could not take, for want of a free slot: the
 * backlog leaves as many slots free (a quarter of them at most), or under
 * a steady load it would take every slot that frees up, and those rows
 * would wait until the whole queue before them is sent.
 */
static int	special_waiting = 0;

#define DEFERRED_MIN_WAIT_MS 100
#define DEFERRED_MAX_WAIT_MS 1000

/* Rows claimed ahead of the free slots: max_concurrency, at least this */
#define CLAIM_AHEAD_MIN 32

/* Longest wait of an outcome before it is recorded */
#define RECORD_DELAY_MS 5

/*
 * Longest wait of a claimed row for a slot before it is given back; far
 * within its lease (its timeout and a minute), so that it is sent within
 * the lease.
 */
#define BACKLOG_MAX_WAIT_MS 20000

/*
 * parse_retry_schedule
 *		Parse "0s,5s,5min,30min,2h" (units ms, s, min, h, d) into an
 *		interval[] literal; false on a malformed entry.
 */
static bool
parse_retry_schedule(const char *value, StringInfo out, double *first_ms)
{
	const char *p = value;
	int			n = 0;

	appendStringInfoChar(out, '{');
	for (;;)
	{
		char	   *end;
		double		num;
		double		ms;
		const char *unit;
		int			unitlen;

		while (*p == ' ')
			p++;
		num = strtod(p, &end);
		if (end == p || !(num >= 0))	/* NaN too */
			return false;
		p = end;
		while (*p == ' ')
			p++;
		unit = p;
		while (*p >= 'a' && *p <= 'z')
			p++;
		unitlen = p - unit;
		if (unitlen == 2 && strncmp(unit, "ms", 2) == 0)
			ms = num;
		else if ((unitlen == 1 && unit[0] == 's') ||
				 (unitlen == 3 && strncmp(unit, "sec", 3) == 0))
			ms = num * 1000;
		else if (unitlen == 3 && strncmp(unit, "min", 3) == 0)
			ms = num * 60000;
		else if (unitlen == 1 && unit[0] == 'h')
			ms = num * 3600000;
		else if (unitlen == 1 && unit[0] == 'd')
			ms = num * 86400000;
		else
			return false;
		if (ms > 365.0 * 86400000)
			return false;
		appendStringInfo(out, "%s\"%.0f milliseconds\"", n > 0 ? "," : "", ms);
		if (n == 0)
			*first_ms = ms;
		n++;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p != ',')
			return false;
		p++;
	}
	appendStringInfoChar(out, '}');
	return n > 0;
}

/*
 * check_retry_schedule
 *		GUC check hook of nextphone.retry_schedule.
 */
static bool
check_retry_schedule(char **newval, void **extra, GucSource source)
{
	StringInfoData buf;
	RetrySchedule *copy;
	double		first_ms = 0;

	initStringInfo(&buf);
	if (*newval == NULL || !parse_retry_schedule(*newval, &buf, &first_ms))
	{
		GUC_check_errdetail("The retry schedule is a comma-separated list of waits such as \"0s,5s,5min,30min,2h\" (units ms, s, min, h, d), each at most 365 days.");
		pfree(buf.data);
		return false;
	}
	/* GUC extra data must be malloc'd: the GUC machinery free()s it */
	copy = malloc(offsetof(RetrySchedule, literal) + buf.len + 1);
	if (copy == NULL)
	{
		pfree(buf.data);
		return false;
	}
	copy->first_ms = first_ms;
	memcpy(copy->literal, buf.data, buf.len + 1);
	pfree(buf.data);
	*extra = copy;
	return true;
}

/*
 * assign_retry_schedule
 *		GUC assign hook of nextphone.retry_schedule.
 */
static void
assign_retry_schedule(const char *newval, void *extra)
{
	RetrySchedule *schedule = (RetrySchedule *) extra;

	retry_schedule_literal = schedule->literal;
	retry_schedule_first_ms = schedule->first_ms;
}

/*
 * WorkerFirstWaitMs
 *		The first entry of nextphone.retry_schedule: the wait before the
 *		first attempt of a message whose webhook has no schedule of its own.
 */
double
WorkerFirstWaitMs(void)
{
	return retry_schedule_first_ms;
}

/*
 * parse_database_list
 *		Split nextphone.database_name (raw, a copy it overwrites) into a List
 *		of names pointing into raw; false, with the reason in "problem", when
 *		the list is malformed, empty, names a database twice or a name too
 *		long to exist.
 */
static bool
parse_database_list(char *raw, List **names, char *problem, size_t problem_size)
{
	List	   *list;
	ListCell   *lc;

	*names = NIL;
	if (!SplitGUCList(raw, ',', &list))
	{
		list_free(list);
		snprintf(problem, problem_size,
				 "The value must be a comma-separated list of database names such as \"crm, clinic\", with no empty entry; a name holding a comma or a space is written in double quotes.");
		return false;
	}
	if (list == NIL)
	{
		snprintf(problem, problem_size, "The list names no database.");
		return false;
	}
	foreach(lc, list)
	{
		char	   *name = (char *) lfirst(lc);

		if (name[0] == '\0')
		{
			snprintf(problem, problem_size, "The list has an empty entry.");
			list_free(list);
			return false;
		}
		if (strlen(name) >= NAMEDATALEN)
		{
			snprintf(problem, problem_size,
					 "Database name \"%s\" is longer than %d bytes.", name, NAMEDATALEN - 1);
			list_free(list);
			return false;
		}
		for (ListCell *prev = list_head(list); prev != lc; prev = lnext(list, prev))
		{
			if (strcmp((char *) lfirst(prev), name) == 0)
			{
				snprintf(problem, problem_size, "Database \"%s\" is listed twice.", name);
				list_free(list);
				return false;
			}
		}
	}
	*names = list;
	return true;
}

/*
 * check_database_name
 *		GUC check hook of nextphone.database_name.
 */
static bool
check_database_name(char **newval, void **extra, GucSource source)
{
	List	   *names;
	char	   *raw;
	bool		ok;
	char		problem[sizeof(database_list_problem)];

	raw = pstrdup(*newval ? *newval : "");
	ok = parse_database_list(raw, &names, problem, sizeof(problem));
	list_free(names);
	pfree(raw);
	if (ok)
		return true;
	GUC_check_errdetail("%s", problem);
	if (process_shared_preload_libraries_in_progress)
	{
		database_list_rejected = true;
		strlcpy(database_list_problem, problem, sizeof(database_list_problem));
	}
	return false;
}

/*
 * WorkerInit
 *		Define the worker settings and, when preloaded, register the delivery
 *		workers: nextphone.workers for each database of
 *		nextphone.database_name.
 */
void
WorkerInit(void)
{
	BackgroundWorker worker;
	List	   *databases;
	int			ndatabases;
	int			nslots;

	DefineCustomIntVariable("nextphone.max_concurrency",
							"Most requests each delivery worker keeps in flight.",
							NULL,
							&nextphone_max_concurrency,
							64, 1, 4096,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("nextphone.default_timeout",
							"Timeout of a delivery whose webhook sets none.",
							NULL,
							&nextphone_default_timeout,
							15000, 1, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("nextphone.max_response_size",
							"Most bytes of a response body kept in nextphone.attempts.",
							NULL,
							&nextphone_max_response_size,
							16384, 0, 1048576,
							PGC_SIGHUP,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomStringVariable("nextphone.retry_schedule",
							   "Waits before each attempt of a webhook that sets no schedule of its own.",
							   "Entry k is the wait before attempt k + 1; each wait varies by 20% either way.",
							   &nextphone_retry_schedule,
							   "0s,5s,5min,30min,2h,5h,10h,10h",
							   PGC_SIGHUP,
							   0,
							   check_retry_schedule, assign_retry_schedule, NULL);
	DefineCustomIntVariable("nextphone.poll_interval",
							"Longest sleep of an idle delivery worker.",
							"An enqueue wakes the worker at commit; this is a fallback.",
							&nextphone_poll_interval,
							5000, 10, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("nextphone.shutdown_grace",
							"How long a stopping delivery worker waits for its requests in flight.",
							"On SIGTERM (a fast shutdown, pg_terminate_backend) the worker claims nothing more and records the outcomes of the requests that finish within this time; the others are sent again after the restart. 0 stops it at once.",
							&nextphone_shutdown_grace,
							1000, 0, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("nextphone.retention",
							"How long delivered messages and their attempts are kept.",
							NULL,
							&nextphone_retention,
							7 * 24 * 3600, 1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("nextphone.circuit_failures",
							"Consecutive failed attempts that open a webhook's circuit.",
							NULL,
							&nextphone_circuit_failures,
							5, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("nextphone.circuit_probe_interval",
							"Wait before the first probe of an open circuit; it doubles after each failed probe, up to an hour.",
							NULL,
							&nextphone_circuit_probe_interval,
							30000, 1, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("nextphone.disable_after",
							"How long a webhook may fail every attempt before it is disabled.",
							NULL,
							&nextphone_disable_after,
							5 * 24 * 3600, 1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/* the rest exists only in a server that preloads the library */
	if (!process_shared_preload_libraries_in_progress)
		return;

	database_list_rejected = false;
	DefineCustomStringVariable("nextphone.database_name",
							   "Databases the delivery workers connect to, as a comma-separated list.",
							   "Each listed database gets nextphone.workers delivery workers.",
							   &nextphone_database_name,
							   "postgres",
							   PGC_POSTMASTER,
							   GUC_LIST_INPUT,
							   check_database_name, NULL, NULL);
	DefineCustomIntVariable("nextphone.workers",
							"Number of delivery workers of each listed database, sharing its queue.",
							NULL,
							&nextphone_workers,
							1, 1, NEXTPHONE_MAX_WORKERS,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	/*
	 * A malformed list in postgresql.conf would only draw a warning and leave
	 * the workers on the default database: refuse to start instead, as the
	 * server does for its own settings.
	 */
	if (database_list_rejected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for parameter \"%s\"", "nextphone.database_name"),
				 errdetail("%s", database_list_problem),
				 errhint("List each database that uses nextphone once, separated by commas, such as 'crm, clinic'.")));
	if (!parse_database_list(pstrdup(nextphone_database_name), &databases,
							 database_list_problem, sizeof(database_list_problem)))
		elog(ERROR, "nextphone.database_name passed its check but does not parse");
	ndatabases = list_length(databases);
	nslots = ndatabases * nextphone_workers;

	WakeupInit(nslots);

	if (IsBinaryUpgrade)
		return;

	/*
	 * Every registered worker takes one of max_worker_processes for good,
	 * and parallel query, logical replication and other extensions draw on
	 * the same pool.  The postmaster skips the registrations past the limit
	 * (with a "too many background workers" message), so register round by
	 * round, one worker of each database per round: a database gets its
	 * second worker only once every database has its first.
	 */
	if (nslots > max_worker_processes)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("nextphone needs %d background workers but max_worker_processes is %d",
						nslots, max_worker_processes),
				 errdetail("nextphone.database_name lists %d databases and nextphone.workers is %d; the workers past the limit are not started.",
						   ndatabases, nextphone_workers),
				 errhint("Raise max_worker_processes to at least %d plus the background workers parallel query, logical replication and other extensions use.",
						 nslots)));

	for (int i = 0; i < nextphone_workers; i++)
	{
		int			d = 0;
		ListCell   *lc;

		foreach(lc, databases)
		{
			const char *dbname = (const char *) lfirst(lc);
			int			slot = d * nextphone_workers + i;

			memset(&worker, 0, sizeof(worker));
			worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
			worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
			/*
			 * One second, so a terminated or failed worker is soon back; a
			 * worker whose database is missing waits longer and longer
			 * before each new connection attempt (worker_connect).
			 */
			worker.bgw_restart_time = 1;
			snprintf(worker.bgw_library_name, BGW_MAXLEN, "nextphone");
			snprintf(worker.bgw_function_name, BGW_MAXLEN, "NextphoneWorkerMain");
			snprintf(worker.bgw_name, BGW_MAXLEN, "nextphone delivery worker %d for database %s",
					 i + 1, dbname);
			snprintf(worker.bgw_type, BGW_MAXLEN, "nextphone delivery worker");
			worker.bgw_main_arg = Int32GetDatum(slot);
			StaticAssertStmt(NAMEDATALEN <= BGW_EXTRALEN, "a database name must fit in bgw_extra");
			strlcpy(worker.bgw_extra, dbname, NAMEDATALEN);
			RegisterBackgroundWorker(&worker);
			d++;
		}
	}
	list_free(databases);
}

/*
 * worker_set_state
 *		Publish the worker's state for worker_status().
 */
static void
worker_set_state(const char *state)
{
	SpinLockAcquire(&my_slot->mutex);
	strlcpy(my_slot->state, state, sizeof(my_slot->state));
	SpinLockRelease(&my_slot->mutex);
}

/*
 * worker_detach
 *		On exit, free the worker's slot in shared memory.
 */
static void
worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = 0;
	my_slot->latch = NULL;
	my_slot->database_id = InvalidOid;
	my_slot->in_flight = 0;
	strlcpy(my_slot->state, "stopped", sizeof(my_slot->state));
	SpinLockRelease(&my_slot->mutex);
}

/*
 * worker_free_client
 *		On exit, free everything libcurl allocated.
 */
static void
worker_free_client(int code, Datum arg)
{
	if (worker_client != NULL)
	{
		HttpClientDestroy(worker_client);
		worker_client = NULL;
	}
}

/*
 * worker_policy
 *		The settings the queue statements use, as they stand now.
 */
static void
worker_policy(QueuePolicy *policy, int number)
{
	policy->worker_number = number;
	policy->default_timeout_ms = nextphone_default_timeout;
	policy->retry_schedule = retry_schedule_literal;
	policy->circuit_failures = nextphone_circuit_failures;
	policy->circuit_probe_ms = nextphone_circuit_probe_interval;
	policy->disable_after_s = nextphone_disable_after;
	policy->retention_s = nextphone_retention;
}

/*
 * worker_wait_for_extension
 *		Wait calmly until the extension is installed in the database.
 */
static void
worker_wait_for_extension(void)
{
	bool		logged = false;

	while (!QueueExtensionReady())
	{
		if (!logged)
		{
			ereport(LOG,
					(errmsg("nextphone delivery worker waiting for the extension in database \"%s\"",
							my_database),
					 errhint("Run CREATE EXTENSION nextphone in that database.")));
			logged = true;
		}
		worker_set_state("waiting for extension");
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(nextphone_poll_interval, 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

/*
 * worker_wait_writable
 *		At start, wait while the database is read-only for the worker's
 *		session (default_transaction_read_only, for maintenance, say): the
 *		worker could neither put back its rows nor claim.  A change in
 *		postgresql.conf comes by SIGHUP; one made by ALTER DATABASE or ALTER
 *		ROLE only reaches a new session, so after READ_ONLY_RECONNECT_S the
 *		worker exits, to be started again by the server.
 */
static void
worker_wait_writable(void)
{
	TimestampTz since = GetCurrentTimestamp();

	if (!DefaultXactReadOnly)
		return;
	ereport(LOG,
			(errmsg("nextphone delivery worker waiting: database \"%s\" is read-only", my_database),
			 errdetail("default_transaction_read_only is on in the worker's session.")));
	worker_set_state("waiting: read-only");
	while (DefaultXactReadOnly)
	{
		if (TimestampDifferenceExceeds(since, GetCurrentTimestamp(), READ_ONLY_RECONNECT_S * 1000))
			proc_exit(1);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 READ_ONLY_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

/*
 * outcome_of
 *		Classify a finished request.
 */
static QueueOutcomeKind
outcome_of(HttpRequest *req)
{
	switch (req->outcome)
	{
		case HTTP_RESPONSE:
			if (req->status_code >= 200 && req->status_code < 300)
				return OUTCOME_DELIVERED;
			if (req->status_code == 410)
				return OUTCOME_GONE;
			return OUTCOME_RETRY;
		case HTTP_REFUSED:
			return OUTCOME_FATAL;
		case HTTP_TRANSPORT_ERROR:
			break;
	}
	return OUTCOME_RETRY;
}

/*
 * pending_add
 *		A new entry at the end of the outcomes waiting to be recorded.
 */
static QueueOutcome *
pending_add(void)
{
	if (npending == pending_cap)
	{
		pending_cap = Max(64, pending_cap * 2);
		pending = pending == NULL ?
			MemoryContextAlloc(outcome_cxt, sizeof(QueueOutcome) * pending_cap) :
			repalloc(pending, sizeof(QueueOutcome) * pending_cap);
	}
	if (npending == 0)
		pending_since = GetCurrentTimestamp();
	memset(&pending[npending], 0, sizeof(QueueOutcome));
	return &pending[npending++];
}

/*
 * worker_count
 *		Add to the counters worker_status() shows.
 */
static void
worker_count(int64 sent, int64 delivered, int64 failed, const char *last_error)
{
	SpinLockAcquire(&my_slot->mutex);
	my_slot->sent += sent;
	my_slot->delivered += delivered;
	my_slot->failed += failed;
	if (last_error)
		strlcpy(my_slot->last_error, last_error, sizeof(my_slot->last_error));
	SpinLockRelease(&my_slot->mutex);
}

/*
 * collect_finished
 *		Keep the outcome of every finished request for the next record, and
 *		give its slot back at once: a slot is never held by a finished
 *		request waiting for a transaction.
 */
static void
collect_finished(HttpClient *client)
{
	HttpRequest *req;
	int64		sent = 0;
	int64		delivered = 0;
	int64		failed = 0;
	const char *last_error = NULL;
	MemoryContext old = MemoryContextSwitchTo(outcome_cxt);

	while ((req = HttpNextFinished(client)) != NULL)
	{
		QueueOutcome *o = pending_add();

		o->id = req->outbox_id;
		o->webhook_id = req->webhook_id;
		o->probe = req->probe;
		o->kind = outcome_of(req);
		o->status_code = req->status_code;
		o->error = req->error ? pstrdup(req->error) : NULL;
		if (o->error == NULL && o->kind != OUTCOME_DELIVERED)
			o->error = psprintf("HTTP status %d", req->status_code);
		o->retry_after = req->retry_after;
		o->started_at = req->started_at;
		o->duration_ms = req->duration_ms;
		o->response_headers = NULL;
		o->response_headers_len = req->response_headers.len;
		if (req->response_headers.len > 0)
		{
			o->response_headers = palloc(req->response_headers.len);
			memcpy((char *) o->response_headers, req->response_headers.data,
				   req->response_headers.len);
		}
		o->response_body = req->response_body.len > 0 ?
			pstrdup(req->response_body.data) : NULL;
		sent++;
		if (o->kind == OUTCOME_DELIVERED)
			delivered++;
		else
		{
			failed++;
			last_error = o->error;
		}
		HttpRelease(client, req);
	}
	MemoryContextSwitchTo(old);
	if (sent > 0)
		worker_count(sent, delivered, failed, last_error);
}

static int	release_held_backlog(const QueuePolicy *policy, const int64 *held, int nheld);

/*
 * outcome_copy
 *		Copy an outcome, its strings included, into the current memory
 *		context.
 */
static void
outcome_copy(QueueOutcome *dst, const QueueOutcome *src)
{
	*dst = *src;
	if (src->error)
		dst->error = pstrdup(src->error);
	if (src->response_headers)
	{
		char	   *h = palloc(src->response_headers_len);

		memcpy(h, src->response_headers, src->response_headers_len);
		dst->response_headers = h;
	}
	if (src->response_body)
		dst->response_body = pstrdup(src->response_body);
}

/*
 * keep_deferred
 *		The outcomes left for later: the "nold" first of the current ones
 *		(those not tried this time) and the "nnew" given.
 */
static void
keep_deferred(int nold, const QueueOutcome *new, int nnew)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "nextphone deferred outcomes",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	QueueOutcome *kept = palloc(sizeof(QueueOutcome) * (nold + nnew));
	int64	   *ids = palloc(sizeof(int64) * (nold + nnew));
	int			n = 0;

	for (int i = 0; i < nold; i++)
		outcome_copy(&kept[n++], &deferred[i]);
	for (int i = 0; i < nnew; i++)
		outcome_copy(&kept[n++], &new[i]);
	/* (a message held alone holds back no other message of its webhook) */
	for (int i = 0; i < n; i++)
		ids[i] = kept[i].row_held ? 0 : kept[i].webhook_id;
	MemoryContextSwitchTo(old);

	if (deferred_cxt != NULL)
		MemoryContextDelete(deferred_cxt);
	deferred_cxt = n > 0 ? cxt : NULL;
	deferred = n > 0 ? kept : NULL;
	ndeferred = n;
	busy_webhooks = n > 0 ? ids : NULL;
	nbusy_webhooks = n;
	if (n == 0)
		MemoryContextDelete(cxt);
}

/*
 * record_pending
 *		Record the outcomes kept so far, and those left for later once their
 *		wait is over, in the current step.  Returns the number recorded.
 */
static int
record_pending(const QueuePolicy *policy, TimestampTz now)
{
	bool		retry = ndeferred > 0 && now >= deferred_retry_at;
	QueueOutcome *batch = pending;
	int			n = npending;
	int64	   *held;
	int			nheld;
	int			left;

	if (n == 0 && !retry)
		return 0;
	if (retry)
	{
		/* the older ones first: a webhook's outcomes are recorded in order */
		batch = MemoryContextAlloc(outcome_cxt, sizeof(QueueOutcome) * (ndeferred + n));
		memcpy(batch, deferred, sizeof(QueueOutcome) * ndeferred);
		if (n > 0)
			memcpy(batch + ndeferred, pending, sizeof(QueueOutcome) * n);
		n += ndeferred;
	}
	left = QueueRecord(policy, batch, n, &held, &nheld);
	if (left > 0 && ndeferred == 0)
		ereport(LOG,
				(errmsg("outcomes of %d requests wait to be recorded: another transaction holds their webhook or their message",
						left),
				 errdetail("A transaction that updates a webhook, or locks a message being sent, holds back the recording of their outcomes until it ends.")));
	if (left > 0 || retry)
	{
		keep_deferred(retry ? 0 : ndeferred, batch + n - left, left);
		if (left > 0 && (retry || deferred_wait_ms == 0))
		{
			deferred_wait_ms = deferred_wait_ms == 0 ? DEFERRED_MIN_WAIT_MS :
				Min(deferred_wait_ms * 2, DEFERRED_MAX_WAIT_MS);
			deferred_retry_at = TimestampTzPlusMilliseconds(now, deferred_wait_ms);
		}
		else if (left == 0 && ndeferred == 0)
			deferred_wait_ms = 0;
	}
	MemoryContextReset(outcome_cxt);
	pending = NULL;
	npending = pending_cap = 0;
	pending_since = 0;
	if (nheld > 0)
		release_held_backlog(policy, held, nheld);
	return n - left;
}

/*
 * string_list_copy
 *		A copy of a list of strings, strings included, in the current memory
 *		context.
 */
static List *
string_list_copy(const List *strings)
{
	List	   *copy = NIL;
	ListCell   *lc;

	foreach(lc, strings)
		copy = lappend(copy, pstrdup((char *) lfirst(lc)));
	return copy;
}

/*
 * job_copy
 *		A copy of a claimed row in the backlog's memory, freed by job_free.
 */
static QueueJob *
job_copy(const QueueJob *job)
{
	MemoryContext old = MemoryContextSwitchTo(backlog_cxt);
	QueueJob   *copy = palloc0(sizeof(QueueJob));

	copy->id = job->id;
	copy->webhook_id = job->webhook_id;
	copy->attempt = job->attempt;
	copy->msg_id = pstrdup(job->msg_id);
	copy->method = pstrdup(job->method);
	copy->url = pstrdup(job->url);
	copy->body = job->body ? pstrdup(job->body) : NULL;
	copy->headers = string_list_copy(job->headers);
	copy->timeout_ms = job->timeout_ms;
	copy->now = job->now;
	copy->probe = job->probe;
	copy->signing_secrets = string_list_copy(job->signing_secrets);
	MemoryContextSwitchTo(old);
	return copy;
}

/*
 * job_free
 *		Free a backlog copy made by job_copy.
 */
static void
job_free(QueueJob *job)
{
	pfree(job->msg_id);
	pfree(job->method);
	pfree(job->url);
	if (job->body)
		pfree(job->body);
	list_free_deep(job->headers);
	list_free_deep(job->signing_secrets);
	pfree(job);
}

/*
 * job_refusal
 *		Why a claimed row must never be sent, or NULL: it has no request at
 *		all (a dead row that was never rendered, set pending by hand), or a
 *		header line, or the message id (sent as webhook-id), holds a line
 *		break.  Header values are checked for those when a row is queued,
 *		but an UPDATE of the outbox, a secret written into nextphone.secrets
 *		directly, or a message id given by the inserter can still bring one,
 *		and sent as it is it would add headers of its own to the request.
 */
static const char *
job_refusal(const QueueJob *job)
{
	ListCell   *lc;

	if (job->method == NULL || job->url == NULL)
		return "the message has no method or URL: it was never rendered";
	if (strpbrk(job->msg_id, "\r\n") != NULL)
		return "the message id holds a line break: it is never sent";
	foreach(lc, job->headers)
	{
		const char *line = (const char *) lfirst(lc);

		if (strpbrk(line, "\r\n") != NULL)
			return psprintf("header \"%.*s\" holds a line break (changed since it was queued, or a secret it names holds one): it is never sent",
							(int) strcspn(line, ":"), line);
	}
	return NULL;
}

/*
 * claim_jobs
 *		Claim up to "limit" due rows, "now" of them to send at once; rows
 *		that cannot be sent now (a missing secret) become failed attempts
 *		among the outcomes to record, and rows that must never be sent
 *		(job_refusal) dead ones.
 */
static List *
claim_jobs(const QueuePolicy *policy, int now, int limit, int *nclaimed)
{
	List	   *jobs = QueueClaim(policy, now, limit, busy_webhooks, nbusy_webhooks,
								  &special_waiting);
	List	   *sendable = NIL;
	ListCell   *lc;
	int64		failed = 0;
	const char *last_error = NULL;
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);

	*nclaimed = list_length(jobs);
	foreach(lc, jobs)
	{
		QueueJob   *job = (QueueJob *) lfirst(lc);
		const char *refusal = NULL;

		/* the timeout its lease was given, whatever a reload sets meanwhile */
		if (job->timeout_ms <= 0)
			job->timeout_ms = policy->default_timeout_ms;
		if (job->error != NULL || (refusal = job_refusal(job)) != NULL)
		{
			QueueOutcome *o = pending_add();

			o->id = job->id;
			o->webhook_id = job->webhook_id;
			o->kind = job->error != NULL ? OUTCOME_RETRY : OUTCOME_FATAL;
			o->error = MemoryContextStrdup(outcome_cxt, job->error != NULL ? job->error : refusal);
			o->retry_after = -1;
			o->started_at = GetCurrentTimestamp();
			failed++;
			last_error = o->error;
		}
		else
			sendable = lappend(sendable, job);
	}
	MemoryContextSwitchTo(old);
	if (failed > 0)
		worker_count(0, 0, failed, last_error);
	return sendable;
}

/*
 * start_request
 *		Start the request of a claimed (and committed) row in a free slot.
 */
static void
start_request(HttpClient *client, QueueJob *job)
{
	HttpRequest *req;
	MemoryContext old;

	req = HttpAcquire(client);
	Assert(req != NULL);
	old = MemoryContextSwitchTo(req->cxt);
	req->outbox_id = job->id;
	req->webhook_id = job->webhook_id;
	req->attempt = job->attempt;
	req->msg_id = pstrdup(job->msg_id);
	req->method = pstrdup(job->method);
	req->url = pstrdup(job->url);
	req->body = job->body ? pstrdup(job->body) : NULL;
	req->headers = string_list_copy(job->headers);
	req->timeout_ms = job->timeout_ms > 0 ? job->timeout_ms : nextphone_default_timeout;
	req->signing_secrets = string_list_copy(job->signing_secrets);
	req->probe = job->probe;
	MemoryContextSwitchTo(old);
	HttpStart(client, req);
}

/*
 * start_requests
 *		Start the claimed rows in the free slots: those to be sent at once
 *		(QueueJob.now) first, then the backlog, then the others; keep the
 *		rest in the backlog (claimed at claimed_at).
 */
static void
start_requests(HttpClient *client, int client_size, List *jobs, TimestampTz claimed_at)
{
	ListCell   *lc;

	/* rows claimed for free slots, under their webhook's policy: at once */
	foreach(lc, jobs)
	{
		QueueJob   *job = (QueueJob *) lfirst(lc);

		if (job->now && HttpBusy(client) < client_size)
		{
			start_request(client, job);
			jobs = foreach_delete_current(jobs, lc);
		}
	}
	while (backlog != NIL && HttpBusy(client) < client_size)
	{
		BacklogJob *b = (BacklogJob *) linitial(backlog);

		backlog = list_delete_first(backlog);
		start_request(client, b->job);
		job_free(b->job);
		pfree(b);
	}
	foreach(lc, jobs)
	{
		QueueJob   *job = (QueueJob *) lfirst(lc);

		if (backlog == NIL && HttpBusy(client) < client_size)
			start_request(client, job);
		else
		{
			MemoryContext old = MemoryContextSwitchTo(backlog_cxt);
			BacklogJob *b = palloc(sizeof(BacklogJob));

			b->job = job_copy(job);
			b->claimed_at = claimed_at;
			backlog = lappend(backlog, b);
			MemoryContextSwitchTo(old);
		}
	}
}

/*
 * release_held_backlog
 *		Give back the backlog's rows of webhooks whose messages must wait
 *		now (their circuit opened, or they are being disabled): unsent, they
 *		spend no attempt.  Returns the number given back.
 */
static int
release_held_backlog(const QueuePolicy *policy, const int64 *held, int nheld)
{
	int64	   *ids = palloc(sizeof(int64) * (list_length(backlog) + 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, backlog)
	{
		BacklogJob *b = (BacklogJob *) lfirst(lc);

		for (int i = 0; i < nheld; i++)
		{
			if (b->job->webhook_id == held[i])
			{
				ids[n++] = b->job->id;
				backlog = foreach_delete_current(backlog, lc);
				job_free(b->job);
				pfree(b);
				break;
			}
		}
	}
	QueueRelease(policy, ids, n);
	pfree(ids);
	return n;
}

/*
 * release_stale_backlog
 *		Give back the rows that waited in the backlog longer than
 *		BACKLOG_MAX_WAIT_MS (slow requests hold the slots), well before
 *		their lease ends, or all of them (a stopping worker).  Returns the
 *		number given back.
 */
static int
release_stale_backlog(const QueuePolicy *policy, TimestampTz now, bool all)
{
	int64	   *ids = palloc(sizeof(int64) * (list_length(backlog) + 1));
	int			n = 0;

	while (backlog != NIL)
	{
		BacklogJob *b = (BacklogJob *) linitial(backlog);

		if (!all && !TimestampDifferenceExceeds(b->claimed_at, now, BACKLOG_MAX_WAIT_MS))
			break;
		ids[n++] = b->job->id;
		backlog = list_delete_first(backlog);
		job_free(b->job);
		pfree(b);
	}
	QueueRelease(policy, ids, n);
	pfree(ids);
	return n;
}

/*
 * ms_until
 *		Milliseconds from now until t (0 if past).
 */
static long
ms_until(TimestampTz t)
{
	TimestampTz now = GetCurrentTimestamp();

	if (t <= now)
		return 0;
	return (long) ((t - now + 999) / 1000);
}

/*
 * worker_connect_context
 *		Error context of a connection attempt: which worker, which database.
 */
static void
worker_connect_context(void *arg)
{
	errcontext("nextphone delivery worker %d connecting to database \"%s\" of nextphone.database_name",
			   my_number + 1, my_database);
}

/*
 * worker_connect
 *		Connect to the worker's database.
 *
 * When the database does not exist (or refuses connections) the attempt
 * fails with FATAL and the worker exits; the postmaster starts it again
 * after bgw_restart_time.  The slot counts the failures in a row, and the
 * next attempt waits 1, 2, 4 ... up to MAX_CONNECT_RETRY_S seconds first:
 * a database listed but missing costs a log line a minute, not a crash
 * loop, and is served once it is created.
 */
static void
worker_connect(void)
{
	int			failures;
	ErrorContextCallback errcallback;

	SpinLockAcquire(&my_slot->mutex);
	failures = my_slot->connect_failures;
	SpinLockRelease(&my_slot->mutex);

	if (failures > 0)
	{
		int			wait_s = failures > 6 ? MAX_CONNECT_RETRY_S :
			Min(MAX_CONNECT_RETRY_S, 1 << (failures - 1));
		TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														wait_s * 1000);
		long		remaining;

		if (failures == 1)
			ereport(LOG,
					(errmsg("nextphone delivery worker %d could not connect to database \"%s\"",
							my_number + 1, my_database),
					 errdetail("It tries again in %d s, then less and less often, up to once a minute.",
							   wait_s),
					 errhint("Create the database, or remove it from nextphone.database_name and restart the server.")));
		worker_set_state("waiting for database");
		while ((remaining = ms_until(until)) > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 remaining, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}

	SpinLockAcquire(&my_slot->mutex);
	my_slot->connect_failures++;
	strlcpy(my_slot->state, "connecting", sizeof(my_slot->state));
	SpinLockRelease(&my_slot->mutex);

	errcallback.callback = worker_connect_context;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	BackgroundWorkerInitializeConnection(my_database, NULL, 0);
	error_context_stack = errcallback.previous;

	/* from now on, a commit in this database wakes the worker */
	SpinLockAcquire(&my_slot->mutex);
	my_slot->connect_failures = 0;
	my_slot->database_id = MyDatabaseId;
	SpinLockRelease(&my_slot->mutex);
}

/*
 * worker_sigint
 *		SIGINT: the worker's own lock_timeout cancels its statement (the
 *		timeout sends SIGINT); a query cancel from outside (pg_cancel_backend)
 *		is ignored.  An error in the middle of a step would end the worker,
 *		and the requests in flight would be sent again by the next one; its
 *		statements are short, and SIGTERM stops it.
 */
static void
worker_sigint(SIGNAL_ARGS)
{
	if (get_timeout_indicator(LOCK_TIMEOUT, false))
		StatementCancelHandler(postgres_signal_arg);
}

/*
 * Set by SIGTERM once the loop runs: the worker is stopping (see
 * worker_sigterm).
 */
static volatile sig_atomic_t stop_requested = false;
static volatile sig_atomic_t stop_gracefully = false;

/*
 * worker_sigterm
 *		SIGTERM (a fast shutdown, pg_terminate_backend): once the loop runs,
 *		the worker claims nothing more and gives its requests in flight
 *		nextphone.shutdown_grace to finish, so that their outcomes are
 *		recorded and their receivers do not get them again after the restart.
 *		It stops at once, as die() makes any backend do, before the loop, with
 *		no grace, on a second SIGTERM from another process than the
 *		postmaster (which sends each one twice: to the worker and to its
 *		process group), and in a lock wait without a time limit, whose holder
 *		may outlive the worker.  A lock wait that starts later, or any other
 *		step that outlasts the grace, ends with worker_stop_overdue.
 */
static void
worker_sigterm(int signo, siginfo_t *info, void *context)
{
	int			save_errno = errno;
	bool		from_postmaster = info != NULL && info->si_pid == PostmasterPid;

	if (!stop_gracefully || nextphone_shutdown_grace <= 0 ||
		(stop_requested && !from_postmaster) ||
		(MyProc != NULL && MyProc->waitLock != NULL && LockTimeout == 0))
		die(signo);
	else
	{
		stop_requested = true;
		SetLatch(MyLatch);
	}
	errno = save_errno;
}

/*
 * worker_stop_overdue
 *		Timeout handler: a stopping worker is still there STOP_OVERDUE_MS
 *		after its grace (a step waits for a lock): it stops as die() makes it.
 */
static void
worker_stop_overdue(void)
{
	die(SIGTERM);
}

/*
 * NextphoneWorkerMain
 *		Entry point of a delivery worker; main_arg is its slot.
 */
void
NextphoneWorkerMain(Datum main_arg)
{
	int			slot_number = DatumGetInt32(main_arg);
	int			number;
	WorkerShared *shared = WorkerSharedState();
	QueuePolicy policy;
	HttpClient *client;
	int			client_size;
	int			client_response_size;
	bool		work_maybe = true;
	bool		read_only = false;
	TimestampTz next_due = 0;
	TimestampTz next_reclaim;
	TimestampTz stats_flush_at = 0;	/* table statistics to force out then */
	TimestampTz next_purge;
	TimestampTz next_poll = 0;	/* claim then even without a wake-up */
	TimestampTz stop_at = 0;	/* stopping: the end of the grace */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	{
		struct sigaction act;

		/* (not pqsignal: the handler needs the sender's pid) */
		memset(&act, 0, sizeof(act));
		act.sa_sigaction = worker_sigterm;
		act.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&act.sa_mask);
		sigaction(SIGTERM, &act, NULL);
	}
	pqsignal(SIGINT, worker_sigint);
	BackgroundWorkerUnblockSignals();

	if (shared == NULL || slot_number < 0 || slot_number >= shared->nslots)
		elog(ERROR, "nextphone shared memory has no slot %d", slot_number);
	my_slot = &shared->slots[slot_number];
	/* the slots of a database are next to each other (see wakeup.h) */
	number = my_number = slot_number % nextphone_workers;
	strlcpy(my_database, MyBgworkerEntry->bgw_extra, sizeof(my_database));
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = MyProcPid;
	my_slot->latch = MyLatch;
	my_slot->database_id = InvalidOid;
	strlcpy(my_slot->database, my_database, sizeof(my_slot->database));
	my_slot->number = my_number;
	my_slot->in_flight = 0;
	my_slot->sent = my_slot->delivered = my_slot->failed = 0;
	my_slot->last_error[0] = '\0';
	my_slot->started_at = GetCurrentTimestamp();
	my_slot->last_cycle_at = 0;
	my_slot->last_cycle_ms = 0;
	strlcpy(my_slot->state, "starting", sizeof(my_slot->state));
	SpinLockRelease(&my_slot->mutex);
	before_shmem_exit(worker_detach, (Datum) 0);
	WakeupIgnoreOwnCommits();

	worker_connect();

	/*
	 * A claim or an outcome lost to a crash only means the message is sent
	 * again, with the same webhook-id: no need to wait for WAL flushes.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The worker's statements keep the references between outbox and
	 * attempts by construction (an attempt is recorded for a row the same
	 * statement updates; a purge deletes attempts first), so the per-row
	 * foreign key checks, a quarter of the cost of a delivery, are skipped,
	 * as logical replication does.  Triggers on the queue tables do not fire
	 * for the worker's own updates.
	 */
	SetConfigOption("session_replication_role", "replica", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * A queue's statistics are always stale (thousands of rows come and go
	 * between two ANALYZEs), and a bitmap scan would read every due row to
	 * claim a few: walk the indexes in order and stop at the limit.
	 */
	SetConfigOption("enable_bitmapscan", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The worker's statements are short and run thousands of times a
	 * minute: JIT compiling them, which the estimates of their generic
	 * plans can call for, costs far more than it saves (10% of the worker's
	 * time went to LLVM with a webhook's rows before this).  The statements
	 * planned without sequential scans (queue_execute_indexed) need it
	 * most: a plan that must still read a small table in full carries the
	 * planner's penalty cost, far above any JIT threshold.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The worker's statements name nextphone's objects in full; everything
	 * else they call must be the built-in one, never a function of the same
	 * name that a user put in a schema on the default search_path (the
	 * claim hands signing secrets to array_remove()).
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The queue's statements are written for read committed (a claim skips
	 * what others locked, an update rechecks a row's newest version),
	 * whatever default_transaction_isolation the database has.
	 */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * A lock_timeout set for the database or the role (a common guard for
	 * migrations) must not reach the worker: an error in the step that
	 * records outcomes would restart the worker, which would send the batch
	 * again.  The worker never waits long for a webhook's row (see
	 * QueueRecord), but it waits for a LOCK TABLE or an ALTER TABLE of the
	 * queue's tables, as pg_stat_activity shows.  (statement_timeout is
	 * armed only for a client's statements.)
	 */
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Nor these: exit_on_error would make the error the outcome statement
	 * recovers from (see QueueRecord) end the worker, and temp_file_limit
	 * would fail that statement when a batch of response bodies spills to
	 * disk under a small work_mem.  Either way the batch would be sent
	 * again by the restarted worker.
	 */
	SetConfigOption("exit_on_error", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("temp_file_limit", "-1", PGC_SUSET, PGC_S_OVERRIDE);

	worker_wait_for_extension();
	worker_wait_writable();

	worker_policy(&policy, number);
	worker_set_state("reclaiming");
	{
		uint64		n = QueueReclaim(&policy, true);

		if (n > 0)
			ereport(LOG,
					(errmsg_plural("nextphone delivery worker %d of database \"%s\" put back %llu interrupted delivery",
								   "nextphone delivery worker %d of database \"%s\" put back %llu interrupted deliveries",
								   n, number + 1, my_database, (unsigned long long) n)));
	}
	next_reclaim = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RECLAIM_INTERVAL_MS);
	next_purge = GetCurrentTimestamp();

	client_size = nextphone_max_concurrency;
	client_response_size = nextphone_max_response_size;
	client = HttpClientCreate(client_size, client_response_size);
	worker_client = client;
	before_shmem_exit(worker_free_client, (Datum) 0);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "nextphone worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	backlog_cxt = AllocSetContextCreate(TopMemoryContext, "nextphone claimed rows",
										ALLOCSET_DEFAULT_SIZES);
	outcome_cxt = AllocSetContextCreate(TopMemoryContext, "nextphone outcomes",
										ALLOCSET_DEFAULT_SIZES);

	stop_gracefully = true;
	for (;;)
	{
		TimestampTz cycle_start = GetCurrentTimestamp();
		long		timeout;
		int			free;
		int			ahead;
		int			room;
		int			threshold;
		bool		rebuild;
		bool		claim;
		bool		record;
		bool		reclaim;
		bool		stale;
		bool		stopping;
		List	   *claimed = NIL;

		MemoryContextSwitchTo(loop_cxt);

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			worker_policy(&policy, number);
			work_maybe = true;
		}
		rebuild = (client_size != nextphone_max_concurrency ||
				   client_response_size != nextphone_max_response_size);

		/*
		 * 0. stopping (SIGTERM): claim and start nothing more, give back the
		 * claimed rows not started, record the outcomes of the requests in
		 * flight as they finish, until none is left or the grace is over
		 */
		if (stop_requested && stop_at == 0)
		{
			stop_at = TimestampTzPlusMilliseconds(cycle_start, nextphone_shutdown_grace);
			enable_timeout_at(RegisterTimeout(USER_TIMEOUT, worker_stop_overdue),
							  TimestampTzPlusMilliseconds(stop_at, STOP_OVERDUE_MS));
			ereport(LOG,
					(errmsg("nextphone delivery worker %d of database \"%s\" stopping",
							number + 1, my_database),
					 read_only ? 0 :
					 errdetail_plural("It waits up to %d ms for its %d request in flight.",
									  "It waits up to %d ms for its %d requests in flight.",
									  HttpInFlight(client),
									  nextphone_shutdown_grace, HttpInFlight(client))));
		}
		stopping = stop_at != 0;

		/*
		 * A read-only database (default_transaction_read_only turned on in
		 * postgresql.conf, for maintenance, say): the requests in flight and
		 * the claimed rows go on, their outcomes wait in memory; nothing is
		 * recorded, claimed or purged until it is writable again.
		 */
		if (DefaultXactReadOnly != read_only)
		{
			read_only = DefaultXactReadOnly;
			ereport(LOG,
					(read_only ?
					 errmsg("nextphone delivery worker waiting: database \"%s\" is read-only", my_database) :
					 errmsg("nextphone delivery worker resuming: database \"%s\" is writable", my_database)));
		}

		/* 1. take the finished requests' outcomes and free their slots */
		collect_finished(client);

		/*
		 * 2. send claimed rows waiting for a slot, leaving some free for
		 * webhooks with a policy of their own that are waiting (a new
		 * max_concurrency takes effect once the slots are drained)
		 */
		if (!rebuild && !stopping)
			start_requests(client,
						   client_size - Min(special_waiting, Max(1, client_size / 4)),
						   NIL, 0);

		/*
		 * 3. in one short transaction, committed before any request of the
		 * claimed rows is started: record outcomes, reclaim expired leases,
		 * give back rows that waited too long, claim due rows (up to the
		 * free slots and a backlog ahead of them).
		 */
		free = rebuild ? 0 : client_size - HttpBusy(client);
		ahead = rebuild ? 0 : Max(client_size, CLAIM_AHEAD_MIN);
		room = free + ahead - list_length(backlog);
		threshold = (HttpInFlight(client) == 0 && backlog == NIL) ? 1 :
			Max(1, (client_size + ahead) / 4);
		claim = !stopping && room >= threshold &&
			(work_maybe || cycle_start >= next_poll ||
			 (next_due != 0 && cycle_start >= next_due));
		record = (npending > 0 &&
				  (claim || stopping || npending >= threshold || HttpInFlight(client) == 0 ||
				   TimestampDifferenceExceeds(pending_since, cycle_start, RECORD_DELAY_MS))) ||
			(ndeferred > 0 && cycle_start >= deferred_retry_at);
		reclaim = cycle_start >= next_reclaim;
		stale = backlog != NIL && (stopping ||
			TimestampDifferenceExceeds(((BacklogJob *) linitial(backlog))->claimed_at,
									   cycle_start, BACKLOG_MAX_WAIT_MS));

		if (!read_only && (record || claim || reclaim || stale))
		{
			QueueBeginStep("nextphone: record outcomes and claim");

			if (record_pending(&policy, cycle_start) > 0)
				work_maybe = true;

			if (reclaim)
			{
				if (QueueReclaim(&policy, false) > 0)
					work_maybe = true;
				next_reclaim = TimestampTzPlusMilliseconds(cycle_start, RECLAIM_INTERVAL_MS);
			}

			if (stale && release_stale_backlog(&policy, cycle_start, stopping) > 0)
			{
				work_maybe = true;
				room = free + ahead - list_length(backlog);
			}

			if (claim)
			{
				int			nclaimed;

				next_poll = TimestampTzPlusMilliseconds(cycle_start, nextphone_poll_interval);

				claimed = claim_jobs(&policy, free, room, &nclaimed);
				/* rows that cannot be sent: a failed attempt, at once */
				record_pending(&policy, cycle_start);
				if (nclaimed == room)
					work_maybe = true;	/* there may be more */
				else
				{
					work_maybe = false;
					next_due = QueueNextDue(&policy);
				}
			}

			QueueEndStep();
		}

		if (rebuild && HttpBusy(client) == 0)
		{
			worker_client = NULL;
			HttpClientDestroy(client);
			client_size = nextphone_max_concurrency;
			client_response_size = nextphone_max_response_size;
			client = HttpClientCreate(client_size, client_response_size);
			worker_client = client;
		}

		/*
		 * Stopped: nothing is left in flight, or the grace is over (the
		 * requests still in flight are sent again after the restart), or
		 * nothing can be recorded.  Exit code 1: the server starts the worker
		 * again, unless it is shutting down.
		 */
		if (stopping)
		{
			int			unrecorded = HttpInFlight(client) + npending + ndeferred;

			if (unrecorded == 0 || cycle_start >= stop_at || read_only)
			{
				ereport(LOG,
						(errmsg("nextphone delivery worker %d of database \"%s\" stopped",
								number + 1, my_database),
						 unrecorded > 0 ?
						 errdetail_plural("%d request sent or in flight will be sent again after the restart.",
										  "%d requests sent or in flight will be sent again after the restart.",
										  unrecorded, unrecorded) : 0));
				proc_exit(1);
			}
		}

		/*
		 * 4. start the requests of the committed claim; the rest wait (a
		 * stopping worker claimed nothing and gave its backlog back)
		 */
		start_requests(client, (rebuild || stopping) ? 0 : client_size, claimed, cycle_start);

		/*
		 * 5. purge by retention: every minute (or retention), and again
		 * after a second while each purge finds a full batch, so that it
		 * keeps up with any delivery rate
		 */
		if (!read_only && !stopping && cycle_start >= next_purge)
		{
			uint64		purged;

			worker_set_state("purging");
			purged = QueuePurge(&policy);
			next_purge = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 purged >= QUEUE_PURGE_BATCH ? PURGE_AGAIN_MS :
													 Min(60000, (int64) nextphone_retention * 1000));
		}

		/* 6. wait for the latch, the sockets or the next due time */
		free = rebuild ? 0 : client_size - HttpBusy(client);
		room = free + ahead - list_length(backlog);
		if (stopping)
		{
			timeout = ms_until(stop_at);
			if (ndeferred > 0)
				timeout = Min(timeout, ms_until(deferred_retry_at));
		}
		else if (backlog != NIL && free > 0)
			timeout = 0;
		else if (read_only)
			timeout = READ_ONLY_POLL_MS;
		else if (work_maybe && room >= threshold)
			timeout = 0;
		else
		{
			timeout = Max(ms_until(next_poll), MIN_IDLE_WAIT_MS);
			if (next_due != 0)
				timeout = Min(timeout, Max(ms_until(next_due), MIN_IDLE_WAIT_MS));
			timeout = Min(timeout, ms_until(next_reclaim));
			timeout = Min(timeout, ms_until(next_purge) + 1);
			if (npending > 0)
				timeout = Min(timeout, ms_until(TimestampTzPlusMilliseconds(pending_since,
																			RECORD_DELAY_MS)));
			if (ndeferred > 0)
				timeout = Min(timeout, ms_until(deferred_retry_at));
			if (backlog != NIL)
				timeout = Min(timeout,
							  ms_until(TimestampTzPlusMilliseconds(((BacklogJob *) linitial(backlog))->claimed_at,
																   BACKLOG_MAX_WAIT_MS)) + 1);
			/*
			 * Table statistics not sent yet (at most once a second, and,
			 * with no transaction to date it, not at all while idle): forced
			 * out a second later, as an idle backend does.
			 */
			if (stats_flush_at != 0 && GetCurrentTimestamp() >= stats_flush_at)
			{
				pgstat_report_stat(true);
				stats_flush_at = 0;
			}
			else if (pgstat_report_stat(false) > 0)
			{
				if (stats_flush_at == 0)
					stats_flush_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
				timeout = Min(timeout, ms_until(stats_flush_at) + 1);
			}
			else
				stats_flush_at = 0;
		}

		SpinLockAcquire(&my_slot->mutex);
		strlcpy(my_slot->state, stopping ? "stopping" :
				read_only ? "waiting: read-only" :
				HttpInFlight(client) > 0 ? "sending" : "idle",
				sizeof(my_slot->state));
		my_slot->in_flight = HttpInFlight(client);
		my_slot->last_cycle_at = cycle_start;
		my_slot->last_cycle_ms = (double) (GetCurrentTimestamp() - cycle_start) / 1000.0;
		SpinLockRelease(&my_slot->mutex);

		if (HttpWait(client, timeout))
			work_maybe = true;
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		MemoryContextReset(loop_cxt);
	}
}

/*
 * nextphone_worker_status
 *		One row per running delivery worker of the cluster: its number in its
 *		database, pid, state, requests in flight, sent, delivered and failed
 *		since start, last error, last cycle, and its database.  The last
 *		error of a worker of another database (it may name that database's
 *		endpoints) is shown only to roles with pg_read_all_stats.
 */
Datum
nextphone_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WorkerShared *shared = WorkerSharedState();
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	MemoryContext oldcxt;
	bool		see_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	tupstore = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcxt);

	for (int i = 0; shared != NULL && i < shared->nslots; i++)
	{
		WorkerSlot	copy;
		Datum		values[12];
		bool		nulls[12] = {0};

		SpinLockAcquire(&shared->slots[i].mutex);
		memcpy(&copy, &shared->slots[i], sizeof(WorkerSlot));
		SpinLockRelease(&shared->slots[i].mutex);
		if (copy.pid == 0)
			continue;

		values[0] = Int32GetDatum(copy.number + 1);
		values[1] = Int32GetDatum(copy.pid);
		values[2] = CStringGetTextDatum(copy.state);
		values[3] = Int32GetDatum(copy.in_flight);
		values[4] = Int64GetDatum(copy.sent);
		values[5] = Int64GetDatum(copy.delivered);
		values[6] = Int64GetDatum(copy.failed);
		values[7] = CStringGetTextDatum(copy.last_error);
		nulls[7] = (copy.last_error[0] == '\0' ||
					(!see_all && copy.database_id != MyDatabaseId));
		values[8] = TimestampTzGetDatum(copy.started_at);
		values[9] = TimestampTzGetDatum(copy.last_cycle_at);
		nulls[9] = (copy.last_cycle_at == 0);
		values[10] = Float8GetDatum(copy.last_cycle_ms);
		values[11] = CStringGetTextDatum(copy.database);
		tuplestore_putvalues(tupstore, tupdesc, values, nulls);
	}

	return (Datum) 0;
}
