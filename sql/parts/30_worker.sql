-- nextphone: the delivery worker's part.
--
-- The columns the worker keeps, the wake-up trigger, the replay and cancel
-- functions, worker_status() and the webhook health view.

-- Which worker holds a row's lease (its number, from 0): at start-up a
-- worker takes back what it had leased before a crash.
ALTER TABLE nextphone.outbox ADD COLUMN leased_by integer;
COMMENT ON COLUMN nextphone.outbox.leased_by IS
  'The delivery worker (number from 0) holding the lease of a row being sent';

-- Whether a row is still in the queue: pending or sending.  The indexes that
-- find due rows use this column, never status, so a claim (pending ->
-- sending, a lease) changes no indexed value and is a HOT update: the new row
-- version is written beside the old one, with no new index entries.  The
-- fillfactor leaves each page the room for that.  Only the row's last update
-- (delivered, dead, cancelled) and a retry's new due time touch the indexes.
ALTER TABLE nextphone.outbox ADD COLUMN queued boolean
  GENERATED ALWAYS AS (status IN ('pending', 'sending')) STORED;
COMMENT ON COLUMN nextphone.outbox.queued IS
  'Whether the row is still in the queue (pending or sending); kept by the server from status, for the indexes';
ALTER TABLE nextphone.outbox SET (fillfactor = 50);
-- A row that leaves the queue leaves its entry in the queue's indexes below
-- (the new row version has none), where every claim starts reading, until
-- VACUUM removes it.  Autovacuum's default waits for a fifth of the table to
-- be dead rows, and with the delivered messages of the retention kept, that
-- lets claims step over hundreds of thousands of such entries
-- (test/bench/dead_entries.sh).  At 2% (below that share of pages, VACUUM
-- skips the indexes anyway), VACUUM comes ten times as often.
ALTER TABLE nextphone.outbox SET (autovacuum_vacuum_scale_factor = 0.02);
-- The rows in the queue, each webhook's by due time.  The worker claims each
-- webhook's due rows from its own range of this index, the webhooks in turn,
-- never by walking past other webhooks' rows (the backlog of a disabled
-- webhook, or of one whose circuit is open), and finds the webhooks with
-- queued rows by skipping from one to the next.  It takes back expired
-- leases through it, and WHERE queued in a query of yours reads it.
CREATE INDEX outbox_due ON nextphone.outbox (webhook_id, next_attempt_at) WHERE queued;
-- The ad-hoc requests in the queue, by due time: claimed as one more group.
CREATE INDEX outbox_adhoc_due ON nextphone.outbox (next_attempt_at) WHERE queued AND webhook_id IS NULL;
-- A webhook's rows, queued or not, the queued ones in the order they were
-- queued (id): the head of an ordered webhook's queue in one descent however
-- long its backlog, its rate-limited and probed claims, its counts in
-- webhook_health; and the purge, which reads the index's last column.
CREATE INDEX outbox_webhook ON nextphone.outbox (webhook_id, queued, id, next_attempt_at);
-- A row's last update takes it out of the queue, so it is not HOT, and the
-- primary key and the msg_id index each take a second entry with the key of
-- the first.  Deduplication would merge such pairs into posting lists,
-- rewriting a full leaf page each time; bottom-up deletion, which removes
-- the entries of row versions no session can see, keeps those pages from
-- splitting without it.  Off, a delivery costs the worker 3 to 6% fewer
-- instructions (test/bench/instructions.sh: signed webhooks 3%, ad-hoc
-- requests 4.5%, and 6% beside 100,000 delivered rows).
ALTER INDEX nextphone.outbox_pkey SET (deduplicate_items = off);
ALTER INDEX nextphone.outbox_msg_id_key SET (deduplicate_items = off);

-- The rate limiter's clock (GCRA's theoretical arrival time).
ALTER TABLE nextphone.webhooks ADD COLUMN rate_limit_tat timestamptz;
COMMENT ON COLUMN nextphone.webhooks.rate_limit_tat IS
  'Rate limit bookkeeping of the delivery worker: sends before this time have used up the allowance';

-- The commit of an enqueue wakes the delivery workers.
CREATE FUNCTION nextphone.outbox_wakeup() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'nextphone_outbox_wakeup';
COMMENT ON FUNCTION nextphone.outbox_wakeup() IS
  'Trigger: sets the delivery workers'' latch when the inserting transaction commits';
CREATE TRIGGER outbox_wakeup AFTER INSERT OR UPDATE OF status, next_attempt_at ON nextphone.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION nextphone.outbox_wakeup();
REVOKE ALL ON FUNCTION nextphone.outbox_wakeup() FROM PUBLIC;

CREATE FUNCTION nextphone.worker_status(
    OUT worker integer, OUT pid integer, OUT state text, OUT in_flight integer,
    OUT sent bigint, OUT delivered bigint, OUT failed bigint, OUT last_error text,
    OUT started_at timestamptz, OUT last_cycle_at timestamptz, OUT last_cycle_ms double precision,
    OUT database text)
  RETURNS SETOF record
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'nextphone_worker_status';
COMMENT ON FUNCTION nextphone.worker_status() IS
  'One row per running delivery worker of the cluster (each database of nextphone.database_name has its own): its number in its database, pid, state, requests in flight, requests sent, delivered and failed since it started, its last error (for another database''s worker, only to pg_read_all_stats), its last loop, its database';
REVOKE ALL ON FUNCTION nextphone.worker_status() FROM PUBLIC;

CREATE FUNCTION nextphone.retry(id bigint) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text;
    rendered boolean;
    why text;
    dropped text;
BEGIN
    SELECT o.status, o.url IS NOT NULL AND o.method IS NOT NULL, o.last_error,
           CASE WHEN o.webhook_id IS NULL THEN o.webhook END
      INTO st, rendered, why, dropped
      FROM nextphone.outbox o WHERE o.id = retry.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist', id USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT rendered THEN
        RAISE EXCEPTION 'cannot retry message % because it was never rendered', id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('It was stored dead: ' || rtrim(why, '.') || '.', 'It has no method or URL.'),
                  HINT = 'Fix the webhook or the variables, then queue it again with nextphone.enqueue().';
    END IF;
    IF st IN ('delivered', 'sending') THEN
        RAISE EXCEPTION 'cannot retry message % because it is %', id, st
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE st WHEN 'sending' THEN 'The message is being sent now.'
                         ELSE 'A delivered message is not sent again.' END;
    END IF;
    -- sent again without its webhook, it would go out unsigned, as an
    -- ad-hoc request, with the dropped webhook's headers
    IF dropped IS NOT NULL THEN
        RAISE EXCEPTION 'cannot retry message % because its webhook "%" was dropped', id, dropped
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Create the webhook again and queue a new message with nextphone.enqueue().';
    END IF;
    UPDATE nextphone.outbox o
       SET status = 'pending', attempts = 0, next_attempt_at = now(),
           lease_until = NULL, leased_by = NULL
     WHERE o.id = retry.id;
END
$$;
COMMENT ON FUNCTION nextphone.retry(bigint) IS
  'Sends a pending, dead or cancelled message now, with a fresh round of attempts (earlier attempts stay in nextphone.attempts); runs as the owner, so EXECUTE is the only grant an operator needs';

CREATE FUNCTION nextphone.retry_dead(tool_name text, since timestamptz DEFAULT NULL) RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wid bigint;
    is_enabled boolean;
    n bigint;
BEGIN
    SELECT w.id, w.enabled INTO wid, is_enabled FROM nextphone.webhooks w WHERE w.tool_name = retry_dead.tool_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook "%" does not exist', tool_name USING ERRCODE = 'undefined_object';
    END IF;
    UPDATE nextphone.outbox o
       SET status = 'pending', attempts = 0, next_attempt_at = now(),
           lease_until = NULL, leased_by = NULL
     WHERE o.webhook_id = wid AND o.status = 'dead'
       AND o.method IS NOT NULL AND o.url IS NOT NULL
       AND (since IS NULL OR o.created_at >= since);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 AND NOT is_enabled THEN
        RAISE NOTICE 'webhook "%" is disabled: its messages wait until it is enabled again', tool_name;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION nextphone.retry_dead(text, timestamptz) IS
  'Replays the dead messages of a webhook (those created since a time, or all; never-rendered ones are left dead): returns how many were queued again; runs as the owner';

CREATE FUNCTION nextphone.cancel(id bigint) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text;
BEGIN
    SELECT o.status INTO st FROM nextphone.outbox o WHERE o.id = cancel.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist', id USING ERRCODE = 'undefined_object';
    END IF;
    IF st NOT IN ('pending', 'dead') THEN
        RAISE EXCEPTION 'cannot cancel message % because it is %', id, st
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE st WHEN 'sending' THEN 'The message is being sent now; cancel it if the attempt fails.'
                         ELSE 'Only a pending or dead message can be cancelled.' END;
    END IF;
    UPDATE nextphone.outbox o SET status = 'cancelled', lease_until = NULL WHERE o.id = cancel.id;
END
$$;
COMMENT ON FUNCTION nextphone.cancel(bigint) IS
  'Stops a pending (or dead) message: it is never sent again unless retried; runs as the owner';

REVOKE ALL ON FUNCTION nextphone.retry(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION nextphone.retry_dead(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION nextphone.cancel(bigint) FROM PUBLIC;

CREATE VIEW nextphone.webhook_health AS
SELECT w.id AS webhook_id, w.tool_name, w.enabled, w.disabled_reason,
       w.circuit_state, w.consecutive_failures, w.circuit_opened_at, w.next_probe_at,
       w.failing_since, w.last_success_at, w.last_failure_at,
       q.queued, q.sending, q.delivered, q.dead,
       a.attempts_24h, a.success_rate_24h, a.latency_p50_ms, a.latency_p95_ms,
       e.last_error,
       CASE
           WHEN NOT w.enabled THEN 'disabled'
           WHEN w.circuit_state <> 'closed' THEN 'circuit open'
           WHEN w.consecutive_failures > 0 THEN 'degraded'
           ELSE 'healthy'
       END AS health,
       CASE
           WHEN NOT w.enabled THEN coalesce(w.disabled_reason, 'disabled by its owner')
           WHEN w.circuit_state <> 'closed' THEN
               format('%s failed attempts in a row since %s; next probe at %s; last error: %s',
                      w.consecutive_failures, w.failing_since, w.next_probe_at,
                      coalesce(e.last_error, 'none recorded'))
           WHEN w.consecutive_failures > 0 THEN
               format('%s failed attempts in a row since %s; last error: %s',
                      w.consecutive_failures, w.failing_since,
                      coalesce(e.last_error, 'none recorded'))
       END AS health_reason
  FROM nextphone.webhooks w
  LEFT JOIN LATERAL (
       SELECT o.last_error FROM nextphone.outbox o
        WHERE o.webhook_id = w.id AND o.last_error IS NOT NULL
        ORDER BY o.id DESC LIMIT 1) e ON true
  LEFT JOIN LATERAL (
       SELECT count(*) FILTER (WHERE o.status = 'pending') AS queued,
              count(*) FILTER (WHERE o.status = 'sending') AS sending,
              count(*) FILTER (WHERE o.status = 'delivered') AS delivered,
              count(*) FILTER (WHERE o.status = 'dead') AS dead
         FROM nextphone.outbox o WHERE o.webhook_id = w.id) q ON true
  LEFT JOIN LATERAL (
       SELECT count(*) AS attempts_24h,
              avg(coalesce(t.status_code BETWEEN 200 AND 299, false)::int) AS success_rate_24h,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY t.duration_ms) AS latency_p50_ms,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY t.duration_ms) AS latency_p95_ms
         FROM nextphone.attempts t JOIN nextphone.outbox o ON o.id = t.outbox_id
        WHERE o.webhook_id = w.id AND t.started_at > now() - interval '24 hours') a ON true;
COMMENT ON VIEW nextphone.webhook_health IS
  'Per webhook: enabled or why not, circuit state, queued/sending/delivered/dead counts, success rate and latency percentiles of the last 24 hours, last error; health and health_reason say at a glance whether it is healthy, degraded (retrying), circuit open or disabled, and why';
COMMENT ON COLUMN nextphone.webhook_health.health IS
  'healthy; degraded (its last attempts failed, messages are being retried); circuit open (deliveries wait for a probe to succeed); or disabled';
COMMENT ON COLUMN nextphone.webhook_health.health_reason IS
  'Why the webhook is not healthy: the reason it was disabled, or how many attempts failed since when, and the last error';
