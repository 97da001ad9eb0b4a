-- Dead letters and replay: retry(id), retry_dead(tool_name, since) and
-- cancel(id), what each accepts and refuses, and who may call them.  (The
-- worker's side -- attempts, schedules, a replay delivered -- is in
-- test/t/015_dead_and_replay.pl and 016_cancel.pl; here the statuses are set
-- by hand.)
\set SHOW_CONTEXT never
\set VERBOSITY default

INSERT INTO nextphone.businesses (receiving_number, owner_name)
VALUES ('+15559876543', 'Acme Contracting');
SELECT nextphone.create_webhook('{
  "type": "http", "tool_name": "crm", "http_method": "POST",
  "url": "https://crm.example.com/leads",
  "body_template": {"name": "{{first_name}}", "phone": "{{caller_number}}"},
  "parameters": [{"name": "first_name", "type": "string", "required": true}],
  "events": ["lead.created"]
}') > 0 AS created;

-- (message ids from 1001 on, whatever ran before)
SELECT setval(pg_get_serial_sequence('nextphone.outbox', 'id'), 1000);

-- Four messages: delivered, dead after its attempts, dead because it could
-- not be rendered (a lead without the required first_name: the lead is
-- stored all the same), and pending.
SELECT nextphone.enqueue('crm', '{"first_name": "Ann", "caller_number": "+15550000001"}') AS delivered_id \gset
SELECT nextphone.enqueue('crm', '{"first_name": "Bob", "caller_number": "+15550000002"}') AS dead_id \gset
INSERT INTO nextphone.leads (business_id, phone)
SELECT id, '+15550000003' FROM nextphone.businesses;
SELECT id AS unrendered_id FROM nextphone.outbox WHERE status = 'dead' \gset
SELECT nextphone.enqueue('crm', '{"first_name": "Cy", "caller_number": "+15550000004"}') AS pending_id \gset
UPDATE nextphone.outbox SET status = 'delivered', attempts = 1, delivered_at = now()
 WHERE id = :delivered_id;
UPDATE nextphone.outbox SET status = 'dead', attempts = 8, last_status_code = 500,
       last_error = 'HTTP status 500'
 WHERE id = :dead_id;
SELECT id, status, attempts, url IS NOT NULL AS rendered, last_error
  FROM nextphone.outbox ORDER BY id;

-- retry(id): a dead (or pending, or cancelled) message gets a fresh round of
-- attempts, due now.
SELECT nextphone.retry(:dead_id);
SELECT status, attempts, next_attempt_at <= now() AS due FROM nextphone.outbox WHERE id = :dead_id;

-- ... but not a delivered one, not a missing one, and not one that was never
-- rendered: there is no request to send.
SELECT nextphone.retry(:delivered_id);
SELECT nextphone.retry(424242);
SELECT nextphone.retry(:unrendered_id);

-- retry_dead(tool_name): every dead message of a webhook that can be sent,
-- optionally only those created since a time; it says how many.
UPDATE nextphone.outbox SET status = 'dead' WHERE id = :dead_id;
SELECT nextphone.retry_dead('crm') AS requeued;
SELECT nextphone.retry_dead('crm', now() + interval '1 hour') AS requeued_since_later;
SELECT nextphone.retry_dead('nosuchhook');

-- cancel(id): a pending or dead message is never sent unless retried.
SELECT nextphone.cancel(:pending_id);
SELECT nextphone.cancel(:delivered_id);
SELECT nextphone.retry(:pending_id);
SELECT id, status FROM nextphone.outbox ORDER BY id;

-- An operator role needs EXECUTE only: the three run as the extension's
-- owner, so the operator reads no outbox row, no webhook and no secret.
CREATE ROLE regress_nextphone_operator NOLOGIN;
GRANT USAGE ON SCHEMA nextphone TO regress_nextphone_operator;
GRANT EXECUTE ON FUNCTION nextphone.retry(bigint), nextphone.retry_dead(text, timestamptz),
	nextphone.cancel(bigint) TO regress_nextphone_operator;
SET ROLE regress_nextphone_operator;
SELECT nextphone.cancel(:pending_id);
SELECT nextphone.retry(:pending_id);
SELECT nextphone.retry_dead('crm') AS requeued;
SELECT count(*) FROM nextphone.outbox;
SELECT signing_secret FROM nextphone.webhooks;
RESET ROLE;

-- Without the grant: nothing.
CREATE ROLE regress_nextphone_stranger NOLOGIN;
GRANT USAGE ON SCHEMA nextphone TO regress_nextphone_stranger;
SET ROLE regress_nextphone_stranger;
SELECT nextphone.retry(:pending_id);
RESET ROLE;

-- Clean up.
REVOKE ALL ON SCHEMA nextphone FROM regress_nextphone_stranger;
DROP ROLE regress_nextphone_stranger;
REVOKE ALL ON SCHEMA nextphone FROM regress_nextphone_operator;
REVOKE ALL ON FUNCTION nextphone.retry(bigint), nextphone.retry_dead(text, timestamptz),
	nextphone.cancel(bigint) FROM regress_nextphone_operator;
DROP ROLE regress_nextphone_operator;
DELETE FROM nextphone.outbox;
DELETE FROM nextphone.leads;
SELECT nextphone.drop_webhook('crm');
DELETE FROM nextphone.businesses;
