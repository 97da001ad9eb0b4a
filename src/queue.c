/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The delivery queue's SQL, as the worker runs it: reclaim expired
 *	  leases, claim due rows, record outcomes in batches, purge.
 *
 * Each step is one short transaction, in the shape of worker_spi: the
 * worker never holds a transaction open while requests are in flight.  The
 * statements are prepared once per worker and work on many rows at a time:
 * a claim takes up to the free slots in one UPDATE ... FOR UPDATE SKIP
 * LOCKED, and the outcomes of every finished request are recorded by one
 * statement (attempts rows, outbox state, webhook health) fed by arrays.
 *
 * Webhooks with a policy of their own (ordered, rate-limited, or with an
 * open circuit) are claimed one webhook at a time, under a lock on the
 * webhook row, so several workers keep their rules.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/qunique.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "nextphone.h"
#include "queue.h"

/*
 * The columns every claim returns, in this order.  The last is
 * nextphone.signing_secrets(w) written out: a call of that function (a SQL
 * function with a SET clause, so never inlined) for every row took 4% of
 * the worker's time in a profile of signed deliveries.
 */
#define CLAIM_RETURNING \
	" RETURNING o.id, coalesce(o.webhook_id, 0), o.attempts + 1, o.msg_id," \
	"  o.method, o.url, o.body, o.headers," \
	"  coalesce(w.timeout_ms, 0)," \
	"  CASE WHEN w.id IS NOT NULL THEN" \
	"    array_remove(ARRAY[w.signing_secret," \
	"                       CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END]," \
	"                 NULL) END"

/* The lease: the request's timeout and a minute to record its outcome */
#define CLAIM_SET \
	" SET status = 'sending', leased_by = $2," \
	"     lease_until = now() + make_interval(secs => coalesce(w.timeout_ms, $3) / 1000.0 + 60)"

/* Webhooks the plain claim serves: no policy of their own */
#define PLAIN_WEBHOOK(w) \
	"(" w ".enabled AND " w ".circuit_state = 'closed' AND NOT " w ".ordered" \
	" AND " w ".rate_limit_per_second IS NULL)"

/* Webhooks with a policy of their own: claimed one by one (QueueClaim) */
#define SPECIAL_WEBHOOK(w) \
	"(" w ".enabled AND (" w ".ordered OR " w ".rate_limit_per_second IS NOT NULL" \
	" OR " w ".circuit_state <> 'closed'))"

/*
 * The head of ordered webhook w's queue, its oldest queued row, as expr of
 * it (h): one descent of outbox_webhook, whose queued rows are in id order,
 * however long the backlog behind it.
 */
#define ORDERED_HEAD(expr) \
	"(SELECT " expr " FROM nextphone.outbox h" \
	"  WHERE h.webhook_id = w.id AND h.queued ORDER BY h.id LIMIT 1)"

/*
 * The webhooks with rows in the queue (pending or sending), found by
 * skipping through outbox_due from one webhook to the next: one index
 * descent each, whatever their backlog, and none for a webhook with nothing
 * queued.  (The statements join them to their webhooks row by row, LATERAL:
 * the planner cannot tell how few they are, and would otherwise read every
 * webhook.)
 */
#define ACTIVE_WEBHOOKS \
	"active(id) AS (" \
	"  (SELECT o.webhook_id FROM nextphone.outbox o" \
	"    WHERE o.queued AND o.webhook_id IS NOT NULL ORDER BY o.webhook_id LIMIT 1)" \
	"  UNION ALL" \
	"  SELECT (SELECT o.webhook_id FROM nextphone.outbox o" \
	"           WHERE o.queued AND o.webhook_id > a.id ORDER BY o.webhook_id LIMIT 1)" \
	"    FROM active a WHERE a.id IS NOT NULL)"

/*
 * The plain claim: the due rows of each webhook without a policy of its own
 * and of ad-hoc requests (a group of their own, numbered 0), each group's
 * oldest first, the groups in turn from the one after $5 (the group the
 * previous claim ended with), so that the backlog of one does not hold back
 * the others.  Each group's rows are read from its own range of an index
 * (outbox_adhoc_due for ad-hoc requests, outbox_due for a webhook's), never
 * by walking past other webhooks' rows: the backlog of a disabled webhook,
 * or of one whose circuit is open, would otherwise be read again by every
 * claim.  Only the webhooks with queued rows are looked at (see
 * ACTIVE_WEBHOOKS).  Rows are locked as they are taken, up to $1 in all.
 * $4 lists the webhooks whose outcomes wait because another transaction
 * holds their row (see QueueRecord): their rows wait too.
 */
static const char *claim_sql =
"WITH RECURSIVE " ACTIVE_WEBHOOKS ","
" due AS ("
"  SELECT d.tid, d.webhook_id"
"    FROM (SELECT g.id FROM (SELECT NULL::bigint AS id"
"                            UNION ALL"
"                            SELECT w.id FROM active a CROSS JOIN LATERAL"
"                                   (SELECT w.id FROM nextphone.webhooks w"
"                                     WHERE w.id = a.id AND " PLAIN_WEBHOOK("w")
"                                       AND w.id <> ALL ($4)) w) g"
"           ORDER BY coalesce(g.id, 0) <= $5, coalesce(g.id, 0)) g"
"         CROSS JOIN LATERAL ("
"           SELECT * FROM (SELECT o.ctid AS tid, o.webhook_id FROM nextphone.outbox o"
"                           WHERE g.id IS NULL AND o.webhook_id IS NULL AND o.queued"
"                             AND o.next_attempt_at <= now() AND o.status = 'pending'"
"                           ORDER BY o.next_attempt_at LIMIT $1"
"                             FOR UPDATE OF o SKIP LOCKED) a"
"           UNION ALL"
"           SELECT * FROM (SELECT o.ctid AS tid, o.webhook_id FROM nextphone.outbox o"
"                           WHERE o.webhook_id = g.id AND o.queued"
"                             AND o.next_attempt_at <= now() AND o.status = 'pending'"
"                           ORDER BY o.webhook_id, o.next_attempt_at LIMIT $1"
"                             FOR UPDATE OF o SKIP LOCKED) b) d"
"   LIMIT $1)"
" UPDATE nextphone.outbox o" CLAIM_SET
"  FROM due LEFT JOIN nextphone.webhooks w ON w.id = due.webhook_id"
" WHERE o.ctid = due.tid" CLAIM_RETURNING;

/*
 * The webhooks with a policy of their own and due rows, locked; with how
 * many rows their rate limit allows now, whether a circuit probe is due, and
 * (ordered) the head of their queue when it is due and nothing is in flight.
 *
 * The due-row test is a subquery with LIMIT, which the planner keeps as a
 * per-webhook probe: as an EXISTS it may become a semi-join that reads every
 * due row of the queue, and the plan is kept for the life of the worker,
 * made when the queue was perhaps empty.  This statement runs before every
 * claim, usually with no such webhook at all.
 */
static const char *special_sql =
"SELECT w.id,"
"       CASE WHEN w.rate_limit_per_second IS NULL THEN -1"
"            ELSE floor(extract(epoch FROM now() - greatest(coalesce(w.rate_limit_tat, '-infinity'),"
"                   now() - make_interval(secs => greatest(1.0 / w.rate_limit_per_second, 0.05))))"
"                 * w.rate_limit_per_second)::int END,"
"       w.circuit_state <> 'closed',"
"       coalesce(w.next_probe_at <= now(), true),"
"       w.ordered,"
"       CASE WHEN w.ordered THEN"
"         " ORDERED_HEAD("CASE WHEN h.status = 'pending' AND h.next_attempt_at <= now() THEN h.id END") " END"
"  FROM nextphone.webhooks w"
" WHERE " SPECIAL_WEBHOOK("w")
"   AND (SELECT true FROM nextphone.outbox p"
"         WHERE p.webhook_id = w.id AND p.queued AND p.next_attempt_at <= now()"
"           AND p.status = 'pending'"
"         LIMIT 1)"
" ORDER BY w.id"
"   FOR NO KEY UPDATE OF w SKIP LOCKED";

static const char *claim_webhook_sql =
"WITH due AS ("
"  SELECT o.ctid AS tid, o.webhook_id FROM nextphone.outbox o"
"   WHERE o.webhook_id = $4 AND o.queued AND o.next_attempt_at <= now() AND o.status = 'pending'"
"     AND ($5::bigint IS NULL OR o.id = $5)"
"   ORDER BY o.id"
"   LIMIT $1"
"     FOR UPDATE OF o SKIP LOCKED)"
" UPDATE nextphone.outbox o" CLAIM_SET
"  FROM due JOIN nextphone.webhooks w ON w.id = due.webhook_id"
" WHERE o.ctid = due.tid" CLAIM_RETURNING;

/*
 * After a special claim of $2 rows: spend the rate allowance, note a probe.
 * No second probe while one is in flight: the next is due when the probe's
 * lease ends (its outcome sets the time of the next one, or closes the
 * circuit, well before).  $3 is nextphone.default_timeout.
 */
static const char *claimed_webhook_sql =
"UPDATE nextphone.webhooks w"
"   SET rate_limit_tat = CASE WHEN w.rate_limit_per_second IS NULL THEN NULL"
"         ELSE greatest(coalesce(w.rate_limit_tat, '-infinity'),"
"                       now() - make_interval(secs => greatest(1.0 / w.rate_limit_per_second, 0.05)))"
"              + make_interval(secs => $2 / w.rate_limit_per_second) END,"
"       circuit_state = CASE WHEN w.circuit_state = 'closed' THEN 'closed' ELSE 'half_open' END,"
"       next_probe_at = CASE WHEN w.circuit_state = 'closed' THEN w.next_probe_at"
"                            ELSE now() + make_interval(secs => coalesce(w.timeout_ms, $3) / 1000.0 + 60) END"
" WHERE w.id = $1";

/*
 * When the next row is due: that of a webhook with a policy of its own
 * (ordered: its head; rate-limited: not before the allowance; probed: not
 * before the probe) ...
 */
#define NEXT_DUE_SPECIAL \
"  (SELECT min(CASE WHEN q.head IS NOT NULL THEN greatest(q.head, q.probe, q.tat) END)" \
"     FROM nextphone.webhooks w," \
"     LATERAL (SELECT CASE WHEN w.ordered THEN" \
"                       " ORDERED_HEAD("CASE WHEN h.status = 'pending' THEN h.next_attempt_at END") \
"                     ELSE (SELECT p.next_attempt_at FROM nextphone.outbox p" \
"                            WHERE p.webhook_id = w.id AND p.queued AND p.status = 'pending'" \
"                            ORDER BY p.webhook_id, p.next_attempt_at LIMIT 1) END AS head," \
"                     CASE WHEN w.circuit_state <> 'closed' THEN w.next_probe_at END AS probe," \
"                     CASE WHEN w.rate_limit_per_second IS NOT NULL THEN w.rate_limit_tat" \
"                          + make_interval(secs => 1.0 / w.rate_limit_per_second) END AS tat) q" \
"    WHERE " SPECIAL_WEBHOOK("w") ")"

/* ... and of the groups the plain claim serves, each from its own index range */
static const char *next_due_sql =
"WITH RECURSIVE " ACTIVE_WEBHOOKS
"SELECT least("
"  (SELECT o.next_attempt_at FROM nextphone.outbox o"
"    WHERE o.webhook_id IS NULL AND o.queued AND o.status = 'pending'"
"    ORDER BY o.next_attempt_at LIMIT 1),"
"  (SELECT min((SELECT o.next_attempt_at FROM nextphone.outbox o"
"                WHERE o.webhook_id = w.id AND o.queued AND o.status = 'pending'"
"                ORDER BY o.webhook_id, o.next_attempt_at LIMIT 1))"
"     FROM active a CROSS JOIN LATERAL"
"          (SELECT w.id FROM nextphone.webhooks w WHERE w.id = a.id AND " PLAIN_WEBHOOK("w") ") w),"
NEXT_DUE_SPECIAL ")";

/*
 * The plain claim and the next due time for an older version's outbox,
 * until ALTER EXTENSION UPDATE: its indexes have no range per webhook of the
 * queued rows (outbox_due is on next_attempt_at WHERE status = 'pending'),
 * so these walk the queue in due order, as 0.2 did.
 */
static const char *claim_legacy_sql =
"WITH due AS ("
"  SELECT o.ctid AS tid, o.webhook_id FROM nextphone.outbox o"
"   WHERE o.queued AND o.next_attempt_at <= now() AND o.status = 'pending'"
"     AND (o.webhook_id IS NULL OR EXISTS ("
"          SELECT 1 FROM nextphone.webhooks w WHERE w.id = o.webhook_id AND " PLAIN_WEBHOOK("w")
"            AND w.id <> ALL ($4)))"
"   ORDER BY o.next_attempt_at"
"   LIMIT $1"
"     FOR UPDATE OF o SKIP LOCKED)"
" UPDATE nextphone.outbox o" CLAIM_SET
"  FROM due LEFT JOIN nextphone.webhooks w ON w.id = due.webhook_id"
" WHERE o.ctid = due.tid" CLAIM_RETURNING;

static const char *next_due_legacy_sql =
"SELECT least("
"  (SELECT min(o.next_attempt_at) FROM nextphone.outbox o"
"    WHERE o.queued AND o.status = 'pending'"
"      AND (o.webhook_id IS NULL OR EXISTS ("
"           SELECT 1 FROM nextphone.webhooks w WHERE w.id = o.webhook_id AND " PLAIN_WEBHOOK("w") "))),"
NEXT_DUE_SPECIAL ")";

/*
 * Give back leased rows that were never sent, and take back rows whose lease
 * expired.  Neither waits for a row another transaction holds (a session
 * that locked it): the worker must not stall, and the row's lease is taken
 * back, or runs out, later.  A row whose webhook was dropped meanwhile is
 * cancelled, as drop_webhook() cancels the pending ones: sent again, it
 * would go out as an ad-hoc request, unsigned.
 */
#define RELEASE_SET \
	" SET status = CASE WHEN webhook_id IS NULL AND webhook IS NOT NULL" \
	"                   THEN 'cancelled' ELSE 'pending' END," \
	"     last_error = CASE WHEN webhook_id IS NULL AND webhook IS NOT NULL" \
	"                       THEN 'webhook dropped' ELSE last_error END," \
	"     lease_until = NULL, leased_by = NULL"

static const char *release_sql =
"UPDATE nextphone.outbox" RELEASE_SET
" WHERE id IN (SELECT id FROM nextphone.outbox"
"               WHERE id = ANY ($1) AND status = 'sending' AND leased_by = $2"
"                 FOR NO KEY UPDATE SKIP LOCKED)";

static const char *reclaim_sql =
"UPDATE nextphone.outbox" RELEASE_SET
" WHERE id IN (SELECT id FROM nextphone.outbox"
"               WHERE queued AND status = 'sending'"
"                 AND (lease_until < now() OR ($1 AND leased_by = $2))"
"                 FOR NO KEY UPDATE SKIP LOCKED)";

/*
 * Record outcomes.  Rows still leased by this worker only: a row whose lease
 * expired and was taken back keeps its new state (and, if that happened
 * while this statement ran, its attempt is still recorded: it was made).
 * The update tests the lease again because a change made while this
 * statement runs is seen only by the update's recheck of the row's newest
 * version.  Entry k of the schedule (from 0) is the wait before attempt
 * k + 1.  A failed attempt of a message whose webhook was dropped while it
 * was in flight (drop_webhook() cancels the pending ones and clears
 * webhook_id of all) cancels it: tried again, it would go out as an ad-hoc
 * request, unsigned.
 */
/*
 * Whether a webhook's outcomes (re)open its circuit and set the time of the
 * next probe: enough failures in a row, but while a probe is in flight
 * (half_open) only the probe's own failure: one of a request sent before
 * the circuit opened would otherwise let a second probe go while the first
 * is still in flight.
 */
#define OPENS "(h.failures >= $11 AND (h.circuit_state <> 'half_open' OR h.had_probe))"

static const char *record_sql =
"WITH r AS ("
"  SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::float8[],"
"                       $6::timestamptz[], $7::float8[], $8::jsonb[], $9::text[])"
"         WITH ORDINALITY AS r(id, kind, code, error, retry_after, started_at, duration_ms,"
"                              resp_headers, resp_body, seq)),"
" x AS ("
"  SELECT r.*, o.ctid AS tid, o.attempts + 1 AS attempt, o.webhook_id, s.sched,"
"         o.webhook_id IS NULL AND o.webhook IS NOT NULL AS dropped,"
"         r.id = ANY ($15) AS probe,"
"         coalesce(w.max_attempts, cardinality(s.sched)) AS max_attempts,"
"         s.sched[least(o.attempts + 2, cardinality(s.sched))] AS step"
"    FROM r JOIN nextphone.outbox o ON o.id = r.id"
"         LEFT JOIN nextphone.webhooks w ON w.id = o.webhook_id,"
"         LATERAL (SELECT coalesce(w.retry_schedule, $10) AS sched) s"
"   WHERE o.status = 'sending' AND o.leased_by = $14),"
" upd AS ("
"  UPDATE nextphone.outbox o"
"     SET attempts = x.attempt,"
"         status = CASE WHEN x.kind = 'delivered' THEN 'delivered'"
"                       WHEN x.kind <> 'retry' OR x.attempt >= x.max_attempts THEN 'dead'"
"                       WHEN x.dropped THEN 'cancelled'"
"                       ELSE 'pending' END,"
"         next_attempt_at = CASE WHEN x.kind = 'retry' AND x.attempt < x.max_attempts AND NOT x.dropped THEN"
"             now() + CASE WHEN x.retry_after IS NOT NULL"
"                          THEN least(greatest(make_interval(secs => x.retry_after), x.step), 2 * x.step)"
"                          ELSE x.step * (0.8 + 0.4 * random()) END"
"           ELSE o.next_attempt_at END,"
"         lease_until = NULL, leased_by = NULL,"
"         last_status_code = x.code,"
"         last_error = CASE WHEN x.dropped AND x.kind = 'retry' AND x.attempt < x.max_attempts"
"                           THEN 'webhook dropped; the last attempt failed: ' || x.error ELSE x.error END,"
"         last_response = left(x.resp_body, 1000),"
"         delivered_at = CASE WHEN x.kind = 'delivered' THEN now() END"
"    FROM x WHERE o.ctid = x.tid AND o.status = 'sending' AND o.leased_by = $14),"
" att AS ("
"  INSERT INTO nextphone.attempts (outbox_id, attempt, started_at, duration_ms, status_code,"
"                                  error, response_headers, response_body)"
"  SELECT id, attempt, started_at, duration_ms, code, error, resp_headers, resp_body FROM x),"
" agg AS ("
"  SELECT webhook_id,"
"         bool_or(kind = 'delivered') AS had_success,"
"         bool_or(kind = 'gone') AS gone,"
"         count(*) FILTER (WHERE kind <> 'delivered') AS n_fail,"
"         count(*) FILTER (WHERE kind <> 'delivered' AND seq > coalesce(last_ok, 0)) AS n_fail_after,"
"         min(started_at) FILTER (WHERE kind <> 'delivered') AS first_fail_at,"
"         bool_or(probe) AS had_probe"
"    FROM (SELECT x.*, max(seq) FILTER (WHERE kind = 'delivered') OVER (PARTITION BY webhook_id) AS last_ok"
"            FROM x WHERE webhook_id IS NOT NULL) y"
"   GROUP BY webhook_id),"
" h AS ("
"  SELECT w.id,"
"         CASE WHEN a.had_success THEN a.n_fail_after ELSE w.consecutive_failures + a.n_fail END AS failures,"
"         CASE WHEN a.had_success AND a.n_fail_after = 0 THEN NULL"
"              WHEN a.had_success THEN now()"
"              ELSE coalesce(w.failing_since, a.first_fail_at) END AS failing_since,"
"         a.had_success, a.gone, a.n_fail, a.had_probe, w.circuit_state, w.enabled"
"    FROM agg a JOIN nextphone.webhooks w ON w.id = a.webhook_id)"
" UPDATE nextphone.webhooks w"
"    SET consecutive_failures = h.failures,"
"        failing_since = h.failing_since,"
"        last_success_at = CASE WHEN h.had_success THEN now() ELSE w.last_success_at END,"
"        last_failure_at = CASE WHEN h.n_fail > 0 THEN now() ELSE w.last_failure_at END,"
"        circuit_state = CASE WHEN " OPENS " THEN 'open'"
"                             WHEN h.had_success THEN 'closed' ELSE w.circuit_state END,"
"        circuit_opened_at = CASE WHEN h.failures >= $11 THEN coalesce(w.circuit_opened_at, now())"
"                                 WHEN h.had_success THEN NULL ELSE w.circuit_opened_at END,"
"        next_probe_at = CASE WHEN " OPENS " THEN now() + least(interval '1 hour',"
"                               greatest(make_interval(secs => $12 / 1000.0),"
"                                        now() - coalesce(w.circuit_opened_at, now())))"
"                             WHEN h.had_success THEN NULL ELSE w.next_probe_at END,"
"        updated_at = now()"
"   FROM h WHERE w.id = h.id"
" RETURNING w.id,"
"        h.gone OR (NOT h.had_success AND h.failing_since < now() - make_interval(secs => $13)),"
"        CASE WHEN h.gone AND h.enabled THEN 'the endpoint answered 410 Gone'"
"             WHEN h.enabled AND NOT h.had_success"
"                  AND h.failing_since < now() - make_interval(secs => $13)"
"             THEN 'every attempt failed since ' || h.failing_since END,"
"        h.failures >= $11 OR h.gone";

/*
 * Disable a webhook (410 Gone, or failing for too long); $2 NULL keeps the
 * reason it has.  A statement of its own, run only when a webhook is to be
 * disabled: "enabled" is a column whose update fires cache_invalidate_update
 * (ENABLE ALWAYS, once per statement, even for no row), and the relcache
 * invalidation it sends would make every backend drop its webhook cache, and
 * the worker re-plan all its statements, after every batch of outcomes.
 */
static const char *disable_webhook_sql =
"UPDATE nextphone.webhooks"
"   SET enabled = false, disabled_reason = coalesce($2, disabled_reason), updated_at = now()"
" WHERE id = $1";

/*
 * Lock the webhooks of a batch, those no other transaction holds.  The ids
 * are those the rows had when claimed: a row's webhook_id can only have been
 * cleared since (drop_webhook), which makes the set larger, not smaller.
 */
static const char *lock_webhooks_sql =
"SELECT w.id FROM nextphone.webhooks w"
" WHERE w.id = ANY ($1)"
" ORDER BY w.id FOR NO KEY UPDATE OF w SKIP LOCKED";

/* The same, waiting (for at most QUEUE_BUSY_WAIT_MS: see queue_lock_waiting) */
static const char *lock_webhooks_wait_sql =
"SELECT w.id FROM nextphone.webhooks w"
" WHERE w.id = ANY ($1)"
" ORDER BY w.id FOR NO KEY UPDATE OF w";

/*
 * Renew the lease of rows whose outcome waits to be recorded (QueueRecord:
 * each try, at least once a second), so that no worker takes them back and
 * sends them again meanwhile.
 */
static const char *extend_leases_sql =
"UPDATE nextphone.outbox"
"   SET lease_until = now() + make_interval(secs => 60)"
" WHERE id IN (SELECT id FROM nextphone.outbox"
"               WHERE id = ANY ($1) AND status = 'sending' AND leased_by = $2"
"                 FOR NO KEY UPDATE SKIP LOCKED)";

/*
 * Lock the outbox rows of a batch of outcomes, those no other transaction
 * holds (a session that locked or updated a row being sent: see
 * QueueRecord).
 */
static const char *lock_rows_sql =
"SELECT o.id FROM nextphone.outbox o"
" WHERE o.id = ANY ($1)"
" ORDER BY o.id FOR NO KEY UPDATE OF o SKIP LOCKED";

/*
 * Delete delivered rows older than the retention, and their attempts (first:
 * the worker runs without foreign key triggers).  This runs every minute,
 * usually with nothing or little to delete, so it should not read the whole
 * table: the test of next_attempt_at, which a delivered row's delivered_at
 * implies (a row is claimed only once it is due), lets it read the
 * outbox_webhook index instead, and the table only for the rows out of the
 * queue and last due before the retention: the ones to delete, and dead or
 * cancelled ones that are kept.  QueuePurge() rules out a sequential scan,
 * which a LIMIT and the estimate of a generic plan would otherwise choose
 * (the worker never uses bitmap scans).  A partial index on delivered_at
 * would read only the rows to delete, but costs every delivery another
 * index entry: 6.6% more instructions (test/bench/instructions.sh).
 */
static const char *purge_sql =
"WITH old AS ("
"  SELECT id FROM nextphone.outbox"
"   WHERE NOT queued AND next_attempt_at < now() - make_interval(secs => $1)"
"     AND status = 'delivered' AND delivered_at < now() - make_interval(secs => $1)"
"   LIMIT " CppAsString2(QUEUE_PURGE_BATCH)
"     FOR UPDATE SKIP LOCKED),"
" a AS (DELETE FROM nextphone.attempts WHERE outbox_id IN (SELECT id FROM old))"
"DELETE FROM nextphone.outbox WHERE id IN (SELECT id FROM old)";

/*
 * End a message whose outcome could not be recorded at all (see
 * QueueRecord): delivered if it was, dead otherwise, the error saying why.
 */
static const char *last_resort_sql =
"UPDATE nextphone.outbox"
"   SET status = CASE WHEN $2 THEN 'delivered' ELSE 'dead' END,"
"       delivered_at = CASE WHEN $2 THEN now() END,"
"       attempts = attempts + 1, last_error = $3, lease_until = NULL, leased_by = NULL"
" WHERE id = $1 AND status = 'sending' AND leased_by = $4";

static const char *secrets_sql =
"SELECT name, value FROM nextphone.secrets";

static Datum queue_array(Datum *values, bool *nulls, int n, Oid type);
static int	queue_int64_cmp(const void *a, const void *b);
static ErrorData *queue_try_bounded(void (*fn) (void *arg), void *arg, MemoryContext work);
static bool queue_lock_error(int sqlerrcode);

/* Prepared plans, kept for the life of the worker */
static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr special_plan = NULL;
static SPIPlanPtr claim_webhook_plan = NULL;
static SPIPlanPtr claimed_webhook_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;
static SPIPlanPtr reclaim_plan = NULL;
static SPIPlanPtr release_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr disable_webhook_plan = NULL;
static SPIPlanPtr lock_webhooks_plan = NULL;
static SPIPlanPtr lock_webhooks_wait_plan = NULL;
static SPIPlanPtr extend_leases_plan = NULL;
static SPIPlanPtr lock_rows_plan = NULL;
static SPIPlanPtr purge_plan = NULL;
static SPIPlanPtr last_resort_plan = NULL;

/*
 * The group (webhook id, 0 for ad-hoc requests) the last plain claim ended
 * with: the next one starts with the group after it.
 */
static int64 claim_last_group = -1;

static SPIPlanPtr *const all_plans[] = {
	&claim_plan, &special_plan, &claim_webhook_plan, &claimed_webhook_plan,
	&next_due_plan, &reclaim_plan, &release_plan, &record_plan,
	&disable_webhook_plan, &lock_webhooks_plan, &lock_webhooks_wait_plan, &extend_leases_plan, &lock_rows_plan,
	&purge_plan, &last_resort_plan
};

/*
 * Which outbox the statements were prepared for: 1 with the "queued" column
 * (0.3 on), -1 without (the library runs against an older version's SQL
 * until ALTER EXTENSION UPDATE), 0 not known yet.
 */
static int	outbox_form = 0;
static Oid	outbox_relid = InvalidOid;
static bool outbox_changed = true;	/* outbox_form is to be checked again */

/* The caller's memory context, restored at the end of each step */
static MemoryContext queue_caller_cxt = NULL;

/* Nesting of steps: only the outermost starts and commits a transaction */
static int	queue_depth = 0;

/*
 * queue_check_version
 *		Warn when the library is newer (or older) than the extension's SQL
 *		objects in this database: until ALTER EXTENSION ... UPDATE, the new
 *		code runs against the old version's objects.
 */
static void
queue_check_version(void)
{
	char	   *version = NULL;

	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'nextphone'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the version of extension \"nextphone\"");
	if (SPI_processed == 1)
		version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (version != NULL && strcmp(version, NEXTPHONE_VERSION) != 0)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nextphone library version %s runs against extension version %s in database \"%s\"",
						NEXTPHONE_VERSION, version, get_database_name(MyDatabaseId)),
				 errhint("Run ALTER EXTENSION nextphone UPDATE in that database.")));
}

/*
 * queue_outbox_changed
 *		Relcache callback: the outbox (or every relation) was invalidated.
 */
static void
queue_outbox_changed(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == outbox_relid)
		outbox_changed = true;
}

/*
 * queue_check_form
 *		Which outbox the statements are for, looked up again after the
 *		outbox was invalidated: when it is another table (the extension was
 *		created again) or gained the "queued" column (ALTER EXTENSION UPDATE
 *		while the worker runs), forget the prepared statements, to be
 *		prepared again for this outbox, and check the extension's version
 *		again.
 */
static void
queue_check_form(void)
{
	static bool registered = false;
	Oid			nsp;
	Oid			rel;
	int			form;

	/* looked up again only after an invalidation of the outbox (or all) */
	if (!registered)
	{
		CacheRegisterRelcacheCallback(queue_outbox_changed, (Datum) 0);
		registered = true;
	}
	if (!outbox_changed)
		return;

	nsp = get_namespace_oid("nextphone", true);
	rel = OidIsValid(nsp) ? get_relname_relid("outbox", nsp) : InvalidOid;
	/* (no outbox yet: no invalidation will say when there is one) */
	outbox_changed = !OidIsValid(rel);
	form = OidIsValid(rel) && get_attnum(rel, "queued") != InvalidAttrNumber ? 1 : -1;
	if (form == outbox_form && rel == outbox_relid)
		return;
	for (int i = 0; i < lengthof(all_plans); i++)
	{
		if (*all_plans[i] != NULL)
			SPI_freeplan(*all_plans[i]);
		*all_plans[i] = NULL;
	}
	outbox_form = form;
	outbox_relid = rel;
	if (OidIsValid(rel))
		queue_check_version();
}

/*
 * queue_legacy_sql
 *		A statement for an outbox without the "queued" column: each
 *		"queued" (or "x.queued") becomes the test of status it stands for.
 */
static char *
queue_legacy_sql(const char *sql)
{
	StringInfoData buf;
	const char *p = sql;
	const char *q;

	initStringInfo(&buf);
	while ((q = strstr(p, "queued")) != NULL)
	{
		bool		word = (q == sql || !(isalnum((unsigned char) q[-1]) || q[-1] == '_')) &&
			!(isalnum((unsigned char) q[6]) || q[6] == '_');

		appendBinaryStringInfo(&buf, p, q - p);
		appendStringInfoString(&buf, word ? "status IN ('pending', 'sending')" : "queued");
		p = q + 6;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * queue_begin
 *		Start a step's transaction, as worker_spi does; inside a step begun
 *		by QueueBeginStep(), only note the activity.
 */
static void
queue_begin(const char *activity)
{
	if (queue_depth++ > 0)
	{
		pgstat_report_activity(STATE_RUNNING, activity);
		return;
	}
	queue_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "could not connect to the SPI manager");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
	queue_check_form();
}

/*
 * queue_end
 *		Commit a step's transaction (unless inside a larger step).
 */
static void
queue_end(void)
{
	if (--queue_depth > 0)
		return;
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(queue_caller_cxt);
}

/*
 * QueueBeginStep
 *		Begin one transaction for several queue functions.
 */
void
QueueBeginStep(const char *activity)
{
	queue_begin(activity);
}

/*
 * QueueEndStep
 *		Commit the transaction QueueBeginStep() began.
 */
void
QueueEndStep(void)
{
	queue_end();
}

/*
 * queue_prepare
 *		Prepare a statement once, and keep its plan.
 */
static SPIPlanPtr
queue_prepare(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p;

		if (outbox_form < 0)
			sql = queue_legacy_sql(sql);
		p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "could not prepare a statement of the delivery worker: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/*
 * queue_execute_indexed
 *		SPI_execute_plan() for the statements that must find their rows
 *		through indexes, whatever the estimates.
 *
 * Planned for the outbox's size and statistics of the moment, such a
 * statement may read the whole outbox instead, on every run: the first
 * custom plans of the outcome statement did with 5,000 rows queued (8 ms a
 * batch), and a generic plan made while the queue was small would go on
 * doing so until the next ANALYZE.  So their plans, whenever they are made,
 * are made without sequential scans, hash or merge joins: index lookups;
 * and without memoize caches, of no use when every key is looked up once.
 * The settings are undone after the statement (and by the abort of the
 * (sub)transaction if it fails), so that no other statement is planned with
 * them.
 */
static int
queue_execute_indexed(SPIPlanPtr plan, Datum *values, long count)
{
	static const char *const gucs[] = {
		"enable_seqscan", "enable_hashjoin", "enable_mergejoin", "enable_memoize"
	};
	int			nestlevel = NewGUCNestLevel();
	int			ret;

	for (int i = 0; i < lengthof(gucs); i++)
		(void) set_config_option(gucs[i], "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	ret = SPI_execute_plan(plan, values, NULL, false, count);
	AtEOXact_GUC(true, nestlevel);
	return ret;
}

/*
 * QueueExtensionReady
 *		Whether the extension is installed in this database.
 */
bool
QueueExtensionReady(void)
{
	bool		ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ready = OidIsValid(get_extension_oid("nextphone", true));
	CommitTransactionCommand();
	return ready;
}

/*
 * QueueReclaim
 *		Put back to pending the rows whose lease expired (and this worker's
 *		own, at start-up).
 */
uint64
QueueReclaim(const QueuePolicy *policy, bool own_too)
{
	Oid			types[2] = {BOOLOID, INT4OID};
	Datum		values[2];
	uint64		n;
	int			ret;

	queue_begin("nextphone: reclaim expired leases");
	values[0] = BoolGetDatum(own_too);
	values[1] = Int32GetDatum(policy->worker_number);
	ret = queue_execute_indexed(queue_prepare(&reclaim_plan, reclaim_sql, 2, types),
								values, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not reclaim expired leases: %s", SPI_result_code_string(ret));
	n = SPI_processed;
	queue_end();
	return n;
}

/*
 * QueueRelease
 *		Put back to pending n rows this worker claimed and did not send.
 */
void
QueueRelease(const QueuePolicy *policy, const int64 *ids, int n)
{
	Oid			types[2] = {INT8ARRAYOID, INT4OID};
	Datum		values[2];
	Datum	   *elems;
	int			ret;

	if (n == 0)
		return;
	queue_begin("nextphone: release unsent claims");
	elems = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	values[0] = PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = Int32GetDatum(policy->worker_number);
	ret = SPI_execute_plan(queue_prepare(&release_plan, release_sql, 2, types),
						   values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not release unsent claims: %s", SPI_result_code_string(ret));
	queue_end();
}

/*
 * queue_load_secrets
 *		The secrets, as a List of name/value pairs (name, value, name, ...).
 */
static List *
queue_load_secrets(void)
{
	List	   *secrets = NIL;

	int			ret = SPI_execute(secrets_sql, true, 0);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read secrets: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *value = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		secrets = lappend(secrets, name);
		secrets = lappend(secrets, value);
	}
	return secrets;
}

/*
 * queue_resolve_secrets
 *		Replace each {{secret.NAME}} tag of a header line by the secret's
 *		value; a missing secret sets *error.  Returns the line (in the current
 *		memory context).
 */
static char *
queue_resolve_secrets(const char *line, List *secrets, char **error)
{
	StringInfoData buf;
	const char *p = line;

	initStringInfo(&buf);
	while (*p)
	{
		const char *open = strstr(p, "{{");
		const char *q;
		const char *name;
		const char *close;
		int			namelen;
		bool		found = false;

		if (open == NULL)
			break;
		q = open + 2;
		while (*q == ' ')
			q++;
		if (strncmp(q, "secret.", 7) != 0)
		{
			appendBinaryStringInfo(&buf, p, open + 2 - p);
			p = open + 2;
			continue;
		}
		name = q + 7;
		close = strstr(name, "}}");
		if (close == NULL)
			break;
		namelen = close - name;
		while (namelen > 0 && name[namelen - 1] == ' ')
			namelen--;

		appendBinaryStringInfo(&buf, p, open - p);
		for (int i = 0; i + 1 < list_length(secrets); i += 2)
		{
			const char *sname = list_nth(secrets, i);

			if (strlen(sname) == namelen && strncmp(sname, name, namelen) == 0)
			{
				appendStringInfoString(&buf, list_nth(secrets, i + 1));
				found = true;
				break;
			}
		}
		if (!found && *error == NULL)
			*error = psprintf("secret \"%.*s\" does not exist", namelen, name);
		p = close + 2;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * queue_header_lines
 *		Append a job's header lines ("Name: value") from the outbox row's
 *		headers object, as json_each_text() would give them: a string value
 *		unquoted, null as nothing, anything else as its JSON text.  (Done here
 *		rather than in the claim: a set-returning function per claimed row
 *		was a tenth of the claim's cost.)
 */
static void
queue_header_lines(QueueJob *job, Jsonb *jb, bool *any_tags)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	StringInfoData line;

	if (!JB_ROOT_IS_OBJECT(jb))
		return;
	initStringInfo(&line);
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			resetStringInfo(&line);
			appendBinaryStringInfo(&line, v.val.string.val, v.val.string.len);
			appendStringInfoString(&line, ": ");
		}
		else if (tok == WJB_VALUE)
		{
			switch (v.type)
			{
				case jbvNull:
					break;
				case jbvString:
					appendBinaryStringInfo(&line, v.val.string.val, v.val.string.len);
					break;
				case jbvBool:
					appendStringInfoString(&line, v.val.boolean ? "true" : "false");
					break;
				case jbvNumeric:
					appendStringInfoString(&line,
										   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v.val.numeric))));
					break;
				case jbvBinary:
					(void) JsonbToCString(&line, v.val.binary.data, v.val.binary.len);
					break;
				default:
					elog(ERROR, "unexpected jsonb value type %d in the headers of message " INT64_FORMAT,
						 (int) v.type, job->id);
			}
			if (strstr(line.data, "{{") != NULL)
				*any_tags = true;
			job->headers = lappend(job->headers, pstrdup(line.data));
		}
	}
	pfree(line.data);
}

/*
 * queue_take_jobs
 *		Append the rows a claim returned to *jobs, copied into the caller's
 *		memory context.
 */
static void
queue_take_jobs(List **jobs, bool *any_tags)
{
	SPITupleTable *tt = SPI_tuptable;
	uint64		n = SPI_processed;

	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	desc = tt->tupdesc;
		bool		isnull;
		Datum		d;
		QueueJob   *job;
		MemoryContext old;
		ArrayType  *arr;
		Datum	   *elems;
		int			nelems;

		old = MemoryContextSwitchTo(queue_caller_cxt);
		job = palloc0(sizeof(QueueJob));
		job->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		job->webhook_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		job->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		job->msg_id = SPI_getvalue(tup, desc, 4);
		job->method = SPI_getvalue(tup, desc, 5);
		job->url = SPI_getvalue(tup, desc, 6);
		job->body = SPI_getvalue(tup, desc, 7);
		job->timeout_ms = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
		d = SPI_getbinval(tup, desc, 10, &isnull);
		if (!isnull)
		{
			arr = DatumGetArrayTypeP(d);
			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
			for (int k = 0; k < nelems; k++)
				job->signing_secrets = lappend(job->signing_secrets,
											   TextDatumGetCString(elems[k]));
		}

		d = SPI_getbinval(tup, desc, 8, &isnull);
		if (!isnull)
			queue_header_lines(job, DatumGetJsonbP(d), any_tags);
		*jobs = lappend(*jobs, job);
		MemoryContextSwitchTo(old);
	}
}

/*
 * QueueClaim
 *		Claim up to limit due rows, and return them as QueueJobs; rows of
 *		webhooks with a policy of their own (ordered, rate-limited, circuit
 *		probe) only up to limit_now, the rows that will be sent at once.
 */
List *
QueueClaim(const QueuePolicy *policy, int limit_now, int limit,
		   const int64 *busy, int nbusy, int *waiting)
{
	Oid			types[5] = {INT4OID, INT4OID, INT4OID, INT8OID, INT8OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	List	   *jobs = NIL;
	bool		any_tags = false;
	int			nspecial;
	int64	   *special_ids;
	int		   *special_allow;
	int64	   *special_head;
	bool	   *special_probe;
	int			ret;

	queue_begin("nextphone: claim due messages");

	/* webhooks with a policy of their own, one at a time */
	ret = SPI_execute_plan(queue_prepare(&special_plan, special_sql, 0, NULL),
						   NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not list webhooks to claim for: %s", SPI_result_code_string(ret));
	nspecial = (int) SPI_processed;
	special_ids = palloc(sizeof(int64) * (nspecial + 1));
	special_allow = palloc(sizeof(int) * (nspecial + 1));
	special_head = palloc(sizeof(int64) * (nspecial + 1));
	special_probe = palloc(sizeof(bool) * (nspecial + 1));
	for (int i = 0; i < nspecial; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			allow = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		bool		circuit_open = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		bool		probe_due = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		bool		ordered = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		bool		no_head;
		Datum		head = SPI_getbinval(tup, desc, 6, &no_head);

		special_ids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		special_head[i] = 0;
		if (allow < 0)
			allow = INT_MAX;
		if (circuit_open)
			allow = probe_due ? Min(allow, 1) : 0;
		special_probe[i] = circuit_open;
		if (ordered)
		{
			if (no_head)
				allow = 0;		/* the head is in flight or waiting */
			else
			{
				special_head[i] = DatumGetInt64(head);
				allow = Min(allow, 1);
			}
		}
		special_allow[i] = allow;
	}

	*waiting = 0;
	for (int i = 0; i < nspecial; i++)
	{
		int			before = list_length(jobs);
		int			claimed;

		if (special_allow[i] <= 0)
			continue;
		if (before >= Min(limit_now, limit))
		{
			(*waiting)++;
			continue;
		}
		values[0] = Int32GetDatum(Min(special_allow[i], Min(limit_now, limit) - before));
		values[1] = Int32GetDatum(policy->worker_number);
		values[2] = Int32GetDatum(policy->default_timeout_ms);
		values[3] = Int64GetDatum(special_ids[i]);
		values[4] = Int64GetDatum(special_head[i]);
		nulls[4] = special_head[i] ? ' ' : 'n';
		ret = SPI_execute_plan(queue_prepare(&claim_webhook_plan, claim_webhook_sql, 5, types),
							   values, nulls, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not claim due messages: %s", SPI_result_code_string(ret));
		queue_take_jobs(&jobs, &any_tags);
		claimed = list_length(jobs) - before;
		for (int j = before; j < list_length(jobs); j++)
		{
			((QueueJob *) list_nth(jobs, j))->now = true;
			((QueueJob *) list_nth(jobs, j))->probe = special_probe[i];
		}
		if (claimed > 0)
		{
			Oid			t2[3] = {INT8OID, INT4OID, INT4OID};
			Datum		v2[3];

			v2[0] = Int64GetDatum(special_ids[i]);
			v2[1] = Int32GetDatum(claimed);
			v2[2] = Int32GetDatum(policy->default_timeout_ms);
			ret = SPI_execute_plan(queue_prepare(&claimed_webhook_plan, claimed_webhook_sql, 3, t2),
								   v2, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "could not update the rate allowance of a webhook: %s",
					 SPI_result_code_string(ret));
		}
	}

	/* everything else */
	if (list_length(jobs) < limit)
	{
		Oid			plain_types[5] = {INT4OID, INT4OID, INT4OID, INT8ARRAYOID, INT8OID};
		int64	   *unique = palloc(sizeof(int64) * (nbusy + 1));
		Datum	   *ids = palloc(sizeof(Datum) * (nbusy + 1));
		int			before = list_length(jobs);
		ListCell   *lc;
		int64		last = 0;
		bool		last_wrapped = false;
		bool		found = false;

		if (nbusy > 0)
		{
			memcpy(unique, busy, sizeof(int64) * nbusy);
			qsort(unique, nbusy, sizeof(int64), queue_int64_cmp);
			nbusy = qunique(unique, nbusy, sizeof(int64), queue_int64_cmp);
		}
		for (int i = 0; i < nbusy; i++)
			ids[i] = Int64GetDatum(unique[i]);
		values[0] = Int32GetDatum(limit - list_length(jobs));
		values[1] = Int32GetDatum(policy->worker_number);
		values[2] = Int32GetDatum(policy->default_timeout_ms);
		values[3] = queue_array(ids, NULL, nbusy, INT8OID);
		values[4] = Int64GetDatum(claim_last_group);
		ret = queue_execute_indexed(queue_prepare(&claim_plan,
												  outbox_form < 0 ? claim_legacy_sql : claim_sql,
												  5, plain_types),
									values, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not claim due messages: %s", SPI_result_code_string(ret));
		queue_take_jobs(&jobs, &any_tags);

		/*
		 * The group the claim ended with (the groups were taken in the order
		 * of their ids, from the one after claim_last_group): the next claim
		 * starts after it.
		 */
		for_each_from(lc, jobs, before)
		{
			int64		group = ((QueueJob *) lfirst(lc))->webhook_id;
			bool		wrapped = group <= claim_last_group;

			if (!found || (wrapped != last_wrapped ? wrapped : group > last))
			{
				last = group;
				last_wrapped = wrapped;
				found = true;
			}
		}
		if (found)
			claim_last_group = last;
	}

	/* resolve {{secret.NAME}} tags in header values */
	if (any_tags)
	{
		List	   *secrets = queue_load_secrets();
		ListCell   *lc;

		foreach(lc, jobs)
		{
			QueueJob   *job = (QueueJob *) lfirst(lc);
			ListCell   *hc;

			foreach(hc, job->headers)
			{
				char	   *line = (char *) lfirst(hc);

				if (strstr(line, "{{") != NULL)
				{
					MemoryContext old = MemoryContextSwitchTo(queue_caller_cxt);

					lfirst(hc) = queue_resolve_secrets(line, secrets, &job->error);
					MemoryContextSwitchTo(old);
				}
			}
		}
	}

	queue_end();
	return jobs;
}

/*
 * QueueNextDue
 *		When the earliest waiting row may be claimed, or 0 when none waits.
 */
TimestampTz
QueueNextDue(const QueuePolicy *policy)
{
	TimestampTz result = 0;
	bool		isnull;
	Datum		d;
	int			ret;

	queue_begin("nextphone: find the next due message");
	/* not read-only: it must see the outcomes recorded in this step */
	ret = queue_execute_indexed(queue_prepare(&next_due_plan,
											  outbox_form < 0 ? next_due_legacy_sql : next_due_sql,
											  0, NULL),
								NULL, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not find the next due message: %s", SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		result = DatumGetTimestampTz(d);
	queue_end();
	return result;
}

/*
 * queue_valid_text
 *		A text datum from a string that may hold anything a server sent:
 *		cut at the first byte that is not valid in the database encoding.
 */
static Datum
queue_valid_text(const char *s)
{
	int			len = strlen(s);
	int			valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), s, len);

	return PointerGetDatum(cstring_to_text_with_len(s, valid));
}

/*
 * queue_headers_jsonb
 *		A response's headers ("name\0value\0" pairs) as a jsonb object, each
 *		name and value cut like queue_valid_text(); of a name given twice the
 *		last value is kept, as jsonb_in() would.  Built directly: parsing
 *		them as JSON text cost more than the rest of the attempts row.
 */
static Datum
queue_headers_jsonb(const char *pairs, int len)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	const char *p = pairs;
	const char *end = pairs + len;
	int			encoding = GetDatabaseEncoding();

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	while (p < end)
	{
		JsonbValue	name;
		JsonbValue	value;
		int			nlen = strnlen(p, end - p);
		const char *v = p + nlen + 1;
		int			vlen = v < end ? strnlen(v, end - v) : 0;

		Assert(v + vlen < end);
		name.type = jbvString;
		name.val.string.val = (char *) p;
		name.val.string.len = pg_encoding_verifymbstr(encoding, p, nlen);
		value.type = jbvString;
		value.val.string.val = (char *) v;
		value.val.string.len = pg_encoding_verifymbstr(encoding, v, vlen);
		pushJsonbValue(&state, WJB_KEY, &name);
		pushJsonbValue(&state, WJB_VALUE, &value);
		p = v + vlen + 1;
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}

/* qsort() order of int64 */
static int
queue_int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * queue_array
 *		A one-dimensional array of n datums of a type, with nulls.
 */
static Datum
queue_array(Datum *values, bool *nulls, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1];
	int			lbs[1];

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	dims[0] = n;
	lbs[0] = 1;
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  type, typlen, typbyval, typalign));
}

/*
 * queue_result_int64
 *		The first column, a non-null bigint, of a row of the last SPI result.
 */
static int64
queue_result_int64(int row)
{
	bool		isnull;

	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
									   1, &isnull));
}

/*
 * queue_try
 *		Run fn(arg) in a subtransaction, in memory context "work"; NULL when
 *		it succeeded, else its error, caught in the caller's memory context
 *		(the subtransaction rolled back).
 */
static ErrorData *
queue_try(void (*fn) (void *arg), void *arg, MemoryContext work)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(work);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

/*
 * queue_lock_ids
 *		Run one of the statements that lock the webhooks, or the outbox rows,
 *		of an int8[].
 */
static void
queue_lock_ids(SPIPlanPtr *plan, const char *sql, Datum ids)
{
	Oid			types[1] = {INT8ARRAYOID};
	int			ret;

	ret = SPI_execute_plan(queue_prepare(plan, sql, 1, types), &ids, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock the rows of finished messages: %s",
			 SPI_result_code_string(ret));
}

/* queue_lock_waiting's statement, for queue_try */
static void
queue_lock_wait_statement(void *arg)
{
	queue_lock_ids(&lock_webhooks_wait_plan, lock_webhooks_wait_sql, *(Datum *) arg);
}

/*
 * queue_lock_waiting
 *		Lock the webhooks of an int8[], waiting at most QUEUE_BUSY_WAIT_MS for
 *		each; whether it could.  Another worker's step holds a webhook for a
 *		few milliseconds, and is waited for; a longer hold is a session's.
 */
static bool
queue_lock_waiting(Datum ids)
{
	ErrorData  *edata;

	edata = queue_try_bounded(queue_lock_wait_statement, &ids, CurrentMemoryContext);
	if (edata != NULL && !queue_lock_error(edata->sqlerrcode))
		ReThrowError(edata);
	return edata == NULL;
}

/*
 * queue_try_bounded
 *		queue_try(), waiting at most QUEUE_BUSY_WAIT_MS for each lock.
 */
static ErrorData *
queue_try_bounded(void (*fn) (void *arg), void *arg, MemoryContext work)
{
	ErrorData  *edata;

	/* (the worker's lock_timeout is an override: see NextphoneWorkerMain) */
	SetConfigOption("lock_timeout", CppAsString2(QUEUE_BUSY_WAIT_MS), PGC_SUSET, PGC_S_OVERRIDE);
	edata = queue_try(fn, arg, work);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	return edata;
}

/*
 * queue_lock_error
 *		Whether an error of queue_try_bounded() is a lock it did not get.
 *		(Two workers waiting for each other: a deadlock_timeout below ours.)
 */
static bool
queue_lock_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED;
}

/*
 * queue_lock_skipping
 *		Run one of the statements that lock rows of an int8[] with SKIP
 *		LOCKED, for ids[n] (sorted and made unique here).  Returns how many
 *		were not locked (held elsewhere, or deleted), their ids in *missing,
 *		in id order.
 */
static int
queue_lock_skipping(SPIPlanPtr *plan, const char *sql, int64 *ids, int n, int64 **missing)
{
	Datum	   *values = palloc(sizeof(Datum) * n);
	int			nmissing = 0;

	qsort(ids, n, sizeof(int64), queue_int64_cmp);
	n = qunique(ids, n, sizeof(int64), queue_int64_cmp);
	for (int i = 0; i < n; i++)
		values[i] = Int64GetDatum(ids[i]);
	queue_lock_ids(plan, sql, queue_array(values, NULL, n, INT8OID));

	/* both lists in id order */
	*missing = palloc(sizeof(int64) * n);
	for (int i = 0, j = 0; i < n; i++)
	{
		while (j < (int) SPI_processed && queue_result_int64(j) < ids[i])
			j++;
		if (j < (int) SPI_processed && queue_result_int64(j) == ids[i])
			continue;
		(*missing)[nmissing++] = ids[i];
	}
	return nmissing;
}

/*
 * queue_lock_rows
 *		Lock the outbox rows of n outcomes.  Returns how many of them
 *		another transaction holds, their ids in *busy, in id order (with
 *		those deleted meanwhile, if any: their outcomes wait along, and are
 *		dropped when tried again).
 */
static int
queue_lock_rows(QueueOutcome *outcomes, int n, int64 **busy)
{
	int64	   *row_ids = palloc(sizeof(int64) * n);

	for (int i = 0; i < n; i++)
		row_ids[i] = outcomes[i].id;
	return queue_lock_skipping(&lock_rows_plan, lock_rows_sql, row_ids, n, busy);
}

/*
 * queue_lock_webhooks
 *		Lock the webhooks of n outcomes, if they have any.  Returns how many
 *		of them another transaction holds, their ids in *busy, in id order
 *		(with those deleted meanwhile, if any: their outcomes wait along).
 */
static int
queue_lock_webhooks(QueueOutcome *outcomes, int n, int64 **busy)
{
	int64	   *webhook_ids = palloc(sizeof(int64) * n);
	int			nwebhooks = 0;
	int			nmissing;
	Datum	   *ids;

	for (int i = 0; i < n; i++)
		if (outcomes[i].webhook_id != 0)
			webhook_ids[nwebhooks++] = outcomes[i].webhook_id;
	if (nwebhooks == 0)
		return 0;
	nmissing = queue_lock_skipping(&lock_webhooks_plan, lock_webhooks_sql,
								   webhook_ids, nwebhooks, busy);
	if (nmissing == 0)
		return 0;

	/* held for a moment (by another worker), or by a session */
	ids = palloc(sizeof(Datum) * nmissing);
	for (int i = 0; i < nmissing; i++)
		ids[i] = Int64GetDatum((*busy)[i]);
	if (queue_lock_waiting(queue_array(ids, NULL, nmissing, INT8OID)))
		return 0;
	return nmissing;
}

/*
 * queue_record_batch
 *		Record n outcomes in one statement, and disable the webhooks that
 *		must be; append to held[] the webhooks whose messages must wait.
 *		Their webhooks are locked already.
 */
static void
queue_record_batch(const QueuePolicy *policy, QueueOutcome *outcomes, int n,
				   int64 *held, int *nheld)
{
	static const char *kinds[] = {"delivered", "gone", "fatal", "retry"};
	Oid			types[15] = {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		FLOAT8ARRAYOID, TIMESTAMPTZARRAYOID, FLOAT8ARRAYOID, JSONBARRAYOID, TEXTARRAYOID,
	INTERVALARRAYOID, INT4OID, INT4OID, INT4OID, INT4OID, INT8ARRAYOID};
	Datum		values[15];
	Datum	   *probes = palloc(sizeof(Datum) * n);
	int			nprobes = 0;
	Datum	   *cols[9];
	bool	   *nulls[9];
	Oid			coltypes[9] = {INT8OID, TEXTOID, INT4OID, TEXTOID, FLOAT8OID,
	TIMESTAMPTZOID, FLOAT8OID, JSONBOID, TEXTOID};
	int			ret;
	int			ndisable;
	int64	   *disable_ids;
	char	  **disable_reasons;

	for (int c = 0; c < 9; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		nulls[c] = palloc0(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		QueueOutcome *o = &outcomes[i];

		cols[0][i] = Int64GetDatum(o->id);
		if (o->probe)
			probes[nprobes++] = Int64GetDatum(o->id);
		cols[1][i] = CStringGetTextDatum(kinds[o->kind]);
		cols[2][i] = Int32GetDatum(o->status_code);
		nulls[2][i] = (o->status_code == 0);
		nulls[3][i] = (o->error == NULL);
		if (o->error)
			cols[3][i] = queue_valid_text(o->error);
		cols[4][i] = Float8GetDatum(o->retry_after);
		nulls[4][i] = (o->retry_after < 0 ||
					   (o->status_code != 429 && o->status_code != 503));
		cols[5][i] = TimestampTzGetDatum(o->started_at);
		cols[6][i] = Float8GetDatum(o->duration_ms);
		nulls[7][i] = (o->response_headers == NULL);
		if (o->response_headers)
			cols[7][i] = queue_headers_jsonb(o->response_headers,
											 o->response_headers_len);
		nulls[8][i] = (o->response_body == NULL);
		if (o->response_body)
			cols[8][i] = queue_valid_text(o->response_body);
	}
	for (int c = 0; c < 9; c++)
		values[c] = queue_array(cols[c], nulls[c], n, coltypes[c]);
	values[9] = OidInputFunctionCall(F_ARRAY_IN, (char *) policy->retry_schedule,
									 INTERVALOID, -1);
	values[10] = Int32GetDatum(policy->circuit_failures);
	values[11] = Int32GetDatum(policy->circuit_probe_ms);
	values[12] = Int32GetDatum(policy->disable_after_s);
	values[13] = Int32GetDatum(policy->worker_number);
	values[14] = queue_array(probes, NULL, nprobes, INT8OID);

	ret = queue_execute_indexed(queue_prepare(&record_plan, record_sql, 15, types),
								values, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not record delivery outcomes: %s", SPI_result_code_string(ret));

	/*
	 * The webhooks to disable, if any: copied, the next statement frees
	 * them; and those whose messages must wait now (circuit open, or
	 * disabled), for the caller.
	 */
	ndisable = 0;
	disable_ids = palloc(sizeof(int64) * (SPI_processed + 1));
	disable_reasons = palloc(sizeof(char *) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		disable = SPI_getbinval(tup, desc, 2, &isnull);
		bool		disabling = !isnull && DatumGetBool(disable);
		Datum		wait = SPI_getbinval(tup, desc, 4, &isnull);

		if (disabling || (!isnull && DatumGetBool(wait)))
			held[(*nheld)++] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		if (!disabling)
			continue;
		disable_ids[ndisable] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		disable_reasons[ndisable] = SPI_getvalue(tup, desc, 3);
		ndisable++;
	}
	for (int i = 0; i < ndisable; i++)
	{
		Oid			dtypes[2] = {INT8OID, TEXTOID};
		Datum		dvalues[2];
		char		dnulls[2] = {' ', ' '};

		dvalues[0] = Int64GetDatum(disable_ids[i]);
		if (disable_reasons[i] != NULL)
			dvalues[1] = CStringGetTextDatum(disable_reasons[i]);
		else
			dnulls[1] = 'n';
		ret = SPI_execute_plan(queue_prepare(&disable_webhook_plan, disable_webhook_sql, 2, dtypes),
							   dvalues, dnulls, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not disable a webhook: %s", SPI_result_code_string(ret));
	}
}

/*
 * queue_data_error
 *		Whether an error says something about the data a statement was given
 *		(which recording it in parts, or without the response, may get
 *		past), rather than about the server or the session.
 */
static bool
queue_data_error(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_DATA_EXCEPTION ||
		class == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		class == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/* queue_record_batch's arguments, for queue_try */
typedef struct RecordArgs
{
	const QueuePolicy *policy;
	QueueOutcome *outcomes;
	int			n;
	int64	   *held;
	int		   *nheld;
} RecordArgs;

static void
queue_record_statement(void *arg)
{
	RecordArgs *a = (RecordArgs *) arg;

	queue_record_batch(a->policy, a->outcomes, a->n, a->held, a->nheld);
}

/*
 * queue_record_guarded
 *		queue_record_batch() in a subtransaction: false, and *message set,
 *		if it failed for the data it was given (then nothing of it is kept).
 *		With locked given, each lock is waited for QUEUE_BUSY_WAIT_MS at
 *		most, and one not had then makes it false with *locked set; without,
 *		locks are waited for (the rows and webhooks are locked already, and
 *		what is left is a table lock: an ALTER TABLE, a CREATE INDEX).  Any
 *		other error is raised again.
 */
static bool
queue_record_guarded(const QueuePolicy *policy, QueueOutcome *outcomes, int n,
					 int64 *held, int *nheld, char **message, bool *locked)
{
	MemoryContext work = AllocSetContextCreate(CurrentMemoryContext, "nextphone record",
											   ALLOCSET_DEFAULT_SIZES);
	RecordArgs	args = {policy, outcomes, n, held, nheld};
	int			nheld_before = *nheld;
	ErrorData  *edata;

	if (locked != NULL)
		edata = queue_try_bounded(queue_record_statement, &args, work);
	else
		edata = queue_try(queue_record_statement, &args, work);
	MemoryContextDelete(work);
	if (edata == NULL)
		return true;
	*nheld = nheld_before;
	if (locked != NULL && queue_lock_error(edata->sqlerrcode))
	{
		*locked = true;
		return false;
	}
	if (!queue_data_error(edata->sqlerrcode))
		ReThrowError(edata);
	*message = edata->message;
	return false;
}

/*
 * queue_record_last_resort
 *		End a message whose outcome could not be recorded even without its
 *		response, touching nothing but its outbox row (last_resort_sql).
 *		Otherwise it would stay in sending, and be sent again after every
 *		lease, for ever.
 */
static void
queue_record_last_resort(const QueuePolicy *policy, const QueueOutcome *o,
						 const char *message)
{
	Oid			types[4] = {INT8OID, BOOLOID, TEXTOID, INT4OID};
	Datum		values[4];
	int			ret;

	values[0] = Int64GetDatum(o->id);
	values[1] = BoolGetDatum(o->kind == OUTCOME_DELIVERED);
	values[2] = CStringGetTextDatum(psprintf("the outcome could not be recorded: %s", message));
	values[3] = Int32GetDatum(policy->worker_number);

	/* no subtransaction: if even this fails, the worker restarts */
	ret = SPI_execute_plan(queue_prepare(&last_resort_plan, last_resort_sql, 4, types),
						   values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not end message " INT64_FORMAT ": %s",
			 o->id, SPI_result_code_string(ret));
	ereport(WARNING,
			(errmsg("could not record the outcome of message %lld even without its response: %s",
					(long long) o->id, message),
			 errdetail("The message is now %s, with no attempts row for this attempt.",
					   o->kind == OUTCOME_DELIVERED ? "delivered" : "dead")));
}

/*
 * queue_record_parts
 *		Record n outcomes that could not be recorded together: each half
 *		together if it can be, and so on down to one outcome, which is then
 *		recorded without its response (status code, headers, body, the
 *		error saying why) or, failing that, ended by
 *		queue_record_last_resort().  Halving keeps the subtransactions few
 *		when a large batch holds one bad outcome.
 */
static void
queue_record_parts(const QueuePolicy *policy, QueueOutcome *outcomes, int n,
				   int64 *held, int *nheld, const char *message)
{
	QueueOutcome bare;
	char	   *why;

	if (n > 1)
	{
		int			half = n / 2;

		if (!queue_record_guarded(policy, outcomes, half, held, nheld, &why, NULL))
			queue_record_parts(policy, outcomes, half, held, nheld, why);
		if (!queue_record_guarded(policy, outcomes + half, n - half, held, nheld, &why, NULL))
			queue_record_parts(policy, outcomes + half, n - half, held, nheld, why);
		return;
	}

	bare = outcomes[0];
	bare.status_code = 0;
	bare.retry_after = -1;
	bare.response_headers = NULL;
	bare.response_headers_len = 0;
	bare.response_body = NULL;
	bare.error = outcomes[0].error != NULL ?
		psprintf("the outcome could not be recorded: %s; %s", message, outcomes[0].error) :
		psprintf("the outcome could not be recorded: %s", message);
	ereport(WARNING,
			(errmsg("could not record the outcome of message %lld: %s",
					(long long) outcomes[0].id, message),
			 errdetail("It is recorded without the response.")));
	if (!queue_record_guarded(policy, &bare, 1, held, nheld, &why, NULL))
		queue_record_last_resort(policy, &outcomes[0], why);
}

/*
 * queue_defer_busy
 *		Move the outcomes of the busy webhooks, or of the busy rows (sorted
 *		ids, either list may be empty), to the end of the array, keeping the
 *		order on both sides, and extend the leases of their rows (those
 *		not held elsewhere).  Returns how many were moved.
 */
static int
queue_defer_busy(const QueuePolicy *policy, QueueOutcome *outcomes, int n,
				 const int64 *busy, int nbusy, const int64 *busy_rows, int nbusy_rows)
{
	QueueOutcome *kept = palloc(sizeof(QueueOutcome) * n);
	QueueOutcome *deferred = palloc(sizeof(QueueOutcome) * n);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	int			nkept = 0;
	int			ndeferred = 0;
	Oid			types[2] = {INT8ARRAYOID, INT4OID};
	Datum		values[2];
	int			ret;

	for (int i = 0; i < n; i++)
	{
		bool		webhook_held = outcomes[i].webhook_id != 0 && nbusy > 0 &&
			bsearch(&outcomes[i].webhook_id, busy, nbusy, sizeof(int64), queue_int64_cmp) != NULL;

		outcomes[i].row_held = !webhook_held && nbusy_rows > 0 &&
			bsearch(&outcomes[i].id, busy_rows, nbusy_rows, sizeof(int64), queue_int64_cmp) != NULL;
		if (webhook_held || outcomes[i].row_held)
		{
			ids[ndeferred] = Int64GetDatum(outcomes[i].id);
			deferred[ndeferred++] = outcomes[i];
		}
		else
			kept[nkept++] = outcomes[i];
	}
	memcpy(outcomes, kept, sizeof(QueueOutcome) * nkept);
	memcpy(outcomes + nkept, deferred, sizeof(QueueOutcome) * ndeferred);

	values[0] = queue_array(ids, NULL, ndeferred, INT8OID);
	values[1] = Int32GetDatum(policy->worker_number);
	ret = SPI_execute_plan(queue_prepare(&extend_leases_plan, extend_leases_sql, 2, types),
						   values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not extend the leases of messages: %s", SPI_result_code_string(ret));
	return ndeferred;
}

/*
 * QueueRecord
 *		Record n outcomes, in one statement if it can be done.
 *
 * The statement updates the health of the outcomes' webhooks, so it locks
 * their rows first.  A row that another transaction holds (a session
 * editing the webhook) is not waited for: that would stall every request in
 * flight, whose responses would then be taken for timeouts.  The outcomes
 * of such webhooks are not recorded now: they are moved to the end of the
 * array, their rows keep their lease, and their number is returned, for the
 * caller to record them later.  The same goes for outbox rows that another
 * transaction holds (a session that locked or updated a message being
 * sent): the statement waits QUEUE_BUSY_WAIT_MS at most for a row, and if
 * one is held longer, the rows are locked first and the held ones' outcomes
 * left for later too.
 *
 * A response is whatever a receiver sent, and one outcome that the
 * statement cannot take (an error about the data: a bad value, a constraint
 * an operator added) must not stop the others, or the worker: then the
 * batch is recorded in parts (queue_record_parts).  Any other error
 * (cancel, serialization failure, out of memory) is raised as before: the
 * worker restarts and puts its leased rows back.
 */
int
QueueRecord(const QueuePolicy *policy, QueueOutcome *outcomes, int n,
			int64 **held, int *nheld)
{
	char	   *message;
	int64	   *busy;
	int			nbusy;
	int			ndeferred = 0;

	*held = NULL;
	*nheld = 0;
	if (n == 0)
		return 0;

	queue_begin("nextphone: record outcomes");
	*held = MemoryContextAlloc(queue_caller_cxt, sizeof(int64) * n);
	nbusy = queue_lock_webhooks(outcomes, n, &busy);
	if (nbusy > 0)
	{
		ndeferred = queue_defer_busy(policy, outcomes, n, busy, nbusy, NULL, 0);
		n -= ndeferred;
	}
	if (n > 0)
	{
		bool		locked = false;
		bool		recorded;

		recorded = queue_record_guarded(policy, outcomes, n, *held, nheld, &message, &locked);
		if (!recorded && locked)
		{
			/* some rows are held elsewhere: leave theirs for later */
			int64	   *busy_rows;
			int			nbusy_rows = queue_lock_rows(outcomes, n, &busy_rows);
			int			moved = 0;

			if (nbusy_rows > 0)
				moved = queue_defer_busy(policy, outcomes, n, NULL, 0, busy_rows, nbusy_rows);
			ndeferred += moved;
			n -= moved;
			/* the rest are locked now: nothing to wait for */
			recorded = n == 0 ||
				queue_record_guarded(policy, outcomes, n, *held, nheld, &message, NULL);
		}
		if (!recorded)
		{
			if (n > 1)
				ereport(WARNING,
						(errmsg("could not record the outcomes of %d requests in one statement: %s",
								n, message),
						 errdetail("The outcomes will be recorded in parts.")));
			queue_record_parts(policy, outcomes, n, *held, nheld, message);
		}
	}
	queue_end();
	return ndeferred;
}

/*
 * QueuePurge
 *		Delete delivered rows older than the retention.
 */
uint64
QueuePurge(const QueuePolicy *policy)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	uint64		n;
	int			ret;

	queue_begin("nextphone: purge delivered messages");

	/*
	 * For this transaction only, in which the plan is made too (see
	 * purge_sql); not for an older version's outbox, which has no
	 * outbox_webhook index.
	 */
	Assert(queue_depth == 1);
	if (outbox_form > 0)
		(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	values[0] = Int32GetDatum(policy->retention_s);
	ret = SPI_execute_plan(queue_prepare(&purge_plan, purge_sql, 1, types),
						   values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not purge delivered messages: %s", SPI_result_code_string(ret));
	n = SPI_processed;
	queue_end();
	return n;
}
