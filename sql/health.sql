-- Health at a glance: nextphone.webhook_health says in one row per webhook
-- whether it is healthy, degraded (its last attempts failed and it is being
-- retried), has its circuit open, or is disabled -- and why.  The worker
-- keeps the columns this reads; here they are set by hand to show each state.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';

INSERT INTO nextphone.businesses (receiving_number, owner_name)
VALUES ('+15559876543', 'Acme Contracting');
SELECT count(*) AS created FROM (VALUES ('crm'), ('dispatch'), ('ehr'), ('old')) AS t (name),
  LATERAL nextphone.create_webhook(json_build_object(
    'type', 'http', 'tool_name', name, 'http_method', 'POST',
    'url', 'https://' || name || '.example.com/hook',
    'body_template', json_build_object('phone', '{{caller_number}}')));

-- A webhook whose attempts fail: degraded, with how many, since when and the
-- last error (the worker records each attempt in the outbox row too).
UPDATE nextphone.webhooks
   SET consecutive_failures = 2, failing_since = '2026-11-26 10:00:00+00',
       last_failure_at = '2026-11-26 10:00:05+00'
 WHERE tool_name = 'dispatch';
INSERT INTO nextphone.outbox (webhook, vars) VALUES ('dispatch', '{"caller_number": "+15551234567"}');
UPDATE nextphone.outbox SET attempts = 2, last_status_code = 503, last_error = 'HTTP status 503'
 WHERE webhook = 'dispatch';

-- After nextphone.circuit_failures failures in a row the circuit opens:
-- queued messages wait for one probe per interval.
UPDATE nextphone.webhooks
   SET consecutive_failures = 5, failing_since = '2026-11-26 09:00:00+00',
       circuit_state = 'open', circuit_opened_at = '2026-11-26 09:05:00+00',
       next_probe_at = '2026-11-26 09:06:00+00'
 WHERE tool_name = 'ehr';

-- Disabled, by the worker (a 410, or only failures for nextphone.disable_after)
-- or by its owner.
SELECT nextphone.update_webhook('old', '{"enabled": false}');

SELECT tool_name, health, health_reason FROM nextphone.webhook_health ORDER BY webhook_id;

-- The webhooks that need a look, most urgent first.
SELECT tool_name, health, queued, dead
  FROM nextphone.webhook_health
 WHERE health <> 'healthy'
 ORDER BY array_position(ARRAY['disabled', 'circuit open', 'degraded'], health), tool_name;

-- The two columns explain themselves in \d+ nextphone.webhook_health.
SELECT a.attname, col_description(a.attrelid, a.attnum)
  FROM pg_attribute a
 WHERE a.attrelid = 'nextphone.webhook_health'::regclass AND a.attname IN ('health', 'health_reason')
 ORDER BY a.attnum;

-- Clean up.
DELETE FROM nextphone.outbox;
SELECT count(*) AS dropped FROM nextphone.webhooks, LATERAL nextphone.drop_webhook(tool_name);
DELETE FROM nextphone.businesses;
