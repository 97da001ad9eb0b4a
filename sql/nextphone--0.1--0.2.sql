-- nextphone 0.1 -> 0.2
--
-- Every change made to sql/parts/ since 0.1 was released, in the same words
-- (test/t/050_upgrade.pl checks that an updated 0.1 and a fresh 0.2 are the
-- same).  Views gain columns only at their end, so CREATE OR REPLACE keeps
-- what depends on them and their grants.
\echo Use "ALTER EXTENSION nextphone UPDATE TO '0.2'" to load this file. \quit

-- webhook_health: health and health_reason, one word and a sentence per webhook
CREATE OR REPLACE VIEW nextphone.webhook_health AS
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
              avg((t.status_code BETWEEN 200 AND 299)::int) AS success_rate_24h,
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
