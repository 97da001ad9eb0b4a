-- Enqueueing: every way into the outbox.  A row naming a webhook is
-- rendered in the inserting transaction; an ad-hoc row is checked; the
-- built-in events and webhook_trigger() are fail-safe.
\set SHOW_CONTEXT never

INSERT INTO nextphone.businesses (receiving_number, owner_name, website, booking_url)
VALUES ('+15559876543', 'Acme Contracting', 'https://acmecontracting.com',
		'https://acmecontracting.com/schedule');

-- The guide's webhook (its body template and parameters), fired only
-- explicitly (no "events"), for Acme.
SELECT nextphone.create_webhook('{
  "type": "http",
  "tool_name": "submitLeadToCRM",
  "http_method": "POST",
  "url": "https://crm.example.com/api/leads?business={{owner_name}}",
  "headers": {"Authorization": "Bearer YOUR_API_KEY", "X-Caller": "{{caller_number}}"},
  "body_template": {
    "first_name": "{{first_name}}",
    "phone": "{{caller_number}}",
    "email": "{{email}}",
    "company": "{{company_name}}",
    "notes": "{{message}}",
    "source": "NextPhone AI"
  },
  "parameters": [
    {"name": "first_name", "type": "string", "description": "Caller''s first name"},
    {"name": "email", "type": "string", "description": "Caller''s email address"},
    {"name": "company_name", "type": "string", "description": "Company name"},
    {"name": "message", "type": "string", "description": "Inquiry details"}
  ]
}', (SELECT id FROM nextphone.businesses WHERE owner_name = 'Acme Contracting')) > 0 AS created;

-- 1. INSERT INTO outbox (webhook, vars) renders at once: values are
-- escaped for where they land (percent-encoded in the URL, JSON-escaped in
-- the body); the business built-ins come from the webhook's business; a
-- declared parameter not collected (company_name) is null.
INSERT INTO nextphone.outbox (webhook, vars)
VALUES ('submitLeadToCRM', '{"first_name": "John \"Johnny\"", "caller_number": "+15551234567",
		"email": "john@example.com", "message": "Needs roof inspection"}')
RETURNING webhook, status, method, url, headers, body;

-- Each row has a message id that is its idempotency key, sent as webhook-id
-- on every attempt: msg_, the time in milliseconds (12 hex digits) so ids
-- sort by creation, and 80 random bits (20 hex digits).
SELECT msg_id ~ '^msg_[0-9a-f]{32}$' AS msg_id_form, count(*) OVER () AS n
  FROM nextphone.outbox;

-- 2. enqueue() does the same as a function and returns the row's id.
SELECT nextphone.enqueue('submitLeadToCRM', '{"first_name": "Ann", "caller_number": "+15550000001"}') AS id \gset
SELECT webhook, status, body FROM nextphone.outbox WHERE id = :id;

-- 3. An ad-hoc request: method (POST by default), url, headers, body.
INSERT INTO nextphone.outbox (url, headers, body)
VALUES ('https://hooks.example.com/ping', '{"X-Token": "abc"}', '{"ping": true}')
RETURNING webhook, status, method, url, headers, body;

-- The owner of the outbox (only) may also give a webhook's request whole:
-- it is checked as an ad-hoc one, and sent with the webhook's policy.
INSERT INTO nextphone.outbox (webhook, url, headers, body)
VALUES ('submitLeadToCRM', 'https://crm.example.com/api/replay', '{"Authorization": "Bearer {{secret.crm_key}}"}', '{}')
RETURNING webhook, status, method, url, headers, body;

-- Bad input raises a clear error and stores nothing.
CREATE FUNCTION rejection(statement text, OUT state text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	state := 'accepted';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$$;
SELECT nextphone.create_webhook('{"type": "http", "tool_name": "needsEmail", "http_method": "POST",
  "url": "https://crm.example.com/x", "headers": {"X-Name": "{{first_name}}"},
  "body_template": {"email": "{{email}}", "name": "{{first_name}}"},
  "parameters": [{"name": "email", "type": "string", "required": true},
                 {"name": "first_name", "type": "string"}]}') > 0 AS created;
SELECT nextphone.create_webhook('{"type": "http", "tool_name": "switchedOff", "http_method": "POST",
  "url": "https://crm.example.com/off", "enabled": false}') > 0 AS created;
SET nextphone.max_body_size = 1024;
SELECT c.name AS "case", r.state AS sqlstate, r.message
  FROM (VALUES
	('unknown webhook', $$INSERT INTO nextphone.outbox (webhook, vars) VALUES ('noSuchTool', '{}')$$),
	('unknown webhook id', $$INSERT INTO nextphone.outbox (webhook_id, vars) VALUES (-1, '{}')$$),
	('vars not an object', $$SELECT nextphone.enqueue('needsEmail', '["a@example.com"]')$$),
	('required missing', $$SELECT nextphone.enqueue('needsEmail', '{"first_name": "Jo"}')$$),
	('required null', $$SELECT nextphone.enqueue('needsEmail', '{"email": null}')$$),
	('tag smuggled into header', $$SELECT nextphone.enqueue('needsEmail', '{"email": "a@example.com", "first_name": "{{secret.key}}"}')$$),
	('line break into header', $$SELECT nextphone.enqueue('needsEmail', '{"email": "a@example.com", "first_name": "Jo\r\nX-Evil: 1"}')$$),
	('body too large', $$SELECT nextphone.enqueue('needsEmail', jsonb_build_object('email', repeat('x', 2000)))$$),
	('disabled webhook', $$SELECT nextphone.enqueue('switchedOff')$$),
	('ad-hoc without url', $$INSERT INTO nextphone.outbox (method, body) VALUES ('POST', '{}')$$),
	('ad-hoc scheme', $$INSERT INTO nextphone.outbox (url) VALUES ('file:///etc/passwd')$$),
	('ad-hoc method', $$INSERT INTO nextphone.outbox (method, url) VALUES ('TRACE', 'https://x.example.com/')$$),
	('ad-hoc header name', $$INSERT INTO nextphone.outbox (url, headers) VALUES ('https://x.example.com/', '{"A B": "1"}')$$),
	('ad-hoc Host header', $$INSERT INTO nextphone.outbox (url, headers) VALUES ('https://x.example.com/', '{"Host": "metadata.internal"}')$$),
	('ad-hoc webhook-id', $$INSERT INTO nextphone.outbox (url, headers) VALUES ('https://x.example.com/', '{"webhook-id": "msg_forged"}')$$),
	('ad-hoc Transfer-Encoding', $$INSERT INTO nextphone.outbox (url, headers) VALUES ('https://x.example.com/', '{"transfer-encoding": "chunked"}')$$),
	('ad-hoc header value', $$INSERT INTO nextphone.outbox (url, headers) VALUES ('https://x.example.com/', '{"A": "1\r\nB: 2"}')$$),
	('ad-hoc secret', $$INSERT INTO nextphone.outbox (url, headers) VALUES ('https://evil.example.com/', '{"Authorization": "Bearer {{secret.crm_key}}"}')$$),
	('ad-hoc body too large', $$INSERT INTO nextphone.outbox (url, body) VALUES ('https://x.example.com/', repeat('x', 2000))$$)
  ) AS c(name, statement),
  LATERAL rejection(c.statement) r;
DROP FUNCTION rejection(text);
SELECT count(*) AS rows_stored FROM nextphone.outbox;

-- The errors say which webhook and which parameter.
SELECT nextphone.enqueue('needsEmail', '{"first_name": "Jo"}');
SELECT nextphone.enqueue('needsEmail', jsonb_build_object('email', repeat('x', 2000)));
RESET nextphone.max_body_size;

-- 4. Fail-safe: a built-in event never fails the insert of a lead.  A
-- delivery that cannot be rendered is stored as dead, with the reason.
SELECT nextphone.update_webhook('needsEmail', '{"events": ["lead.created"]}');
INSERT INTO nextphone.leads (first_name, phone) VALUES ('Jo', '+15550000002');
SELECT l.first_name, o.webhook, o.status, o.queued, o.body, o.last_error
  FROM nextphone.leads l JOIN nextphone.outbox o ON (o.vars ->> 'lead_id')::bigint = l.id;
INSERT INTO nextphone.leads (first_name, email) VALUES ('Jo', 'jo@example.com');
SELECT o.status, o.queued, o.headers, o.body
  FROM nextphone.leads l JOIN nextphone.outbox o ON (o.vars ->> 'lead_id')::bigint = l.id
 WHERE l.email = 'jo@example.com';
-- a body over nextphone.max_body_size: the same
SET nextphone.max_body_size = 1024;
INSERT INTO nextphone.leads (first_name, extra) VALUES
	('Long', jsonb_build_object('email', repeat('x', 300) || '@example.com')),
	('Long', jsonb_build_object('email', repeat('y', 1100) || '@example.com'));
RESET nextphone.max_body_size;
SELECT l.first_name, length(l.extra ->> 'email') AS email_length, o.status, o.last_error
  FROM nextphone.leads l JOIN nextphone.outbox o ON (o.vars ->> 'lead_id')::bigint = l.id
 WHERE l.first_name = 'Long' ORDER BY l.id;
SELECT nextphone.update_webhook('needsEmail', '{"events": []}');

-- A message id never changes.
UPDATE nextphone.outbox SET msg_id = 'msg_mine' WHERE id = :id;
-- One given by the inserter is sent as webhook-id and signed: 1 to 255
-- characters of printable ASCII, without spaces (no line break, nothing a
-- receiver would trim or cut).
INSERT INTO nextphone.outbox (msg_id, method, url, body)
VALUES (E'msg_1\r\nX-Injected: yes', 'POST', 'https://example.com/x', '{}');
INSERT INTO nextphone.outbox (msg_id, method, url, body)
VALUES ('', 'POST', 'https://example.com/x', '{}');
INSERT INTO nextphone.outbox (msg_id, method, url, body)
VALUES ('order 17 ', 'POST', 'https://example.com/x', '{}');
INSERT INTO nextphone.outbox (msg_id, method, url, body)
VALUES ('msg_' || repeat('x', 252), 'POST', 'https://example.com/x', '{}');
INSERT INTO nextphone.outbox (msg_id, method, url, body)
VALUES ('order-17_retry.2', 'POST', 'https://example.com/x', '{}')
RETURNING msg_id;
DELETE FROM nextphone.outbox WHERE msg_id = 'order-17_retry.2';

-- 5. webhook_trigger() on a table of your own: the row (NEW, or OLD on
-- DELETE) is the variables, with the built-ins of the business the row
-- names by receiving_number (or business_id).
CREATE SCHEMA crm;
CREATE TABLE crm.contacts (
	id serial PRIMARY KEY,
	receiving_number text,
	first_name text,
	email text,
	company_name text
);
CREATE TRIGGER crm_push AFTER INSERT OR DELETE ON crm.contacts
	FOR EACH ROW EXECUTE FUNCTION nextphone.webhook_trigger('submitLeadToCRM');
INSERT INTO crm.contacts (receiving_number, first_name, email, company_name)
VALUES ('+15559876543', 'Maria', 'maria@example.com', 'Garcia Roofing');
DELETE FROM crm.contacts WHERE first_name = 'Maria';
SELECT event, status, url, body FROM nextphone.outbox WHERE event LIKE 'crm.%' ORDER BY id;

-- Fail-safe here too: a row whose delivery cannot be rendered is stored,
-- and so is a dead outbox row saying why.
CREATE TRIGGER crm_push_email AFTER INSERT ON crm.contacts
	FOR EACH ROW EXECUTE FUNCTION nextphone.webhook_trigger('needsEmail');
CREATE TRIGGER crm_push_gone AFTER INSERT ON crm.contacts
	FOR EACH ROW EXECUTE FUNCTION nextphone.webhook_trigger('droppedSinceThen');
INSERT INTO crm.contacts (first_name) VALUES ('Sam');
SELECT first_name FROM crm.contacts;
SELECT webhook, status, last_error FROM nextphone.outbox
 WHERE vars ->> 'first_name' = 'Sam' ORDER BY webhook;
-- a disabled webhook queues nothing
CREATE TRIGGER crm_push_off AFTER INSERT ON crm.contacts
	FOR EACH ROW EXECUTE FUNCTION nextphone.webhook_trigger('switchedOff');
INSERT INTO crm.contacts (first_name, email) VALUES ('Kim', 'kim@example.com');
SELECT webhook, status FROM nextphone.outbox WHERE vars ->> 'first_name' = 'Kim' ORDER BY webhook;
-- webhook_trigger needs one argument, and a row trigger
CREATE TRIGGER crm_bad AFTER INSERT ON crm.contacts
	FOR EACH ROW EXECUTE FUNCTION nextphone.webhook_trigger();
INSERT INTO crm.contacts (first_name) VALUES ('Bad');
DROP TRIGGER crm_bad ON crm.contacts;
CREATE TRIGGER crm_bad AFTER INSERT ON crm.contacts
	FOR EACH STATEMENT EXECUTE FUNCTION nextphone.webhook_trigger('submitLeadToCRM');
INSERT INTO crm.contacts (first_name) VALUES ('Bad');
DROP TABLE crm.contacts;
DROP SCHEMA crm;

-- 6. Rolling back queues nothing.
SELECT count(*) AS before FROM nextphone.outbox \gset
BEGIN;
SELECT nextphone.enqueue('submitLeadToCRM', '{"first_name": "Ghost"}') > 0 AS queued;
INSERT INTO nextphone.outbox (url) VALUES ('https://x.example.com/');
ROLLBACK;
SELECT count(*) - :before AS queued_after_rollback FROM nextphone.outbox;

-- 7. A changed webhook renders its new templates at once, in this session
-- and transaction; undone, the old ones come back.
BEGIN;
SELECT nextphone.update_webhook('submitLeadToCRM', '{"url": "https://crm.example.com/v2/leads"}');
SELECT nextphone.enqueue('submitLeadToCRM', '{}') AS id \gset
SELECT url FROM nextphone.outbox WHERE id = :id;
ROLLBACK;
SELECT nextphone.enqueue('submitLeadToCRM', '{}') AS id \gset
SELECT url FROM nextphone.outbox WHERE id = :id;

-- 8. Rows queued by events fire the outbox's own triggers, as an INSERT
-- would (the delivery worker's wake-up at commit is one).
CREATE TABLE outbox_seen (level text);
CREATE FUNCTION outbox_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO outbox_seen VALUES (TG_LEVEL);
	RETURN NULL;
END
$$;
CREATE TRIGGER seen_statement AFTER INSERT ON nextphone.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION outbox_seen();
CREATE TRIGGER seen_row AFTER INSERT ON nextphone.outbox
	FOR EACH ROW EXECUTE FUNCTION outbox_seen();
SELECT nextphone.update_webhook('needsEmail', '{"events": ["lead.created"]}');
SELECT nextphone.update_webhook('submitLeadToCRM', '{"events": ["lead.created"]}');
INSERT INTO nextphone.leads (first_name, email, business_id)
SELECT 'Trig', 'trig@example.com', id FROM nextphone.businesses;
SELECT level, count(*) AS fired FROM outbox_seen GROUP BY level ORDER BY level;
DROP TRIGGER seen_statement ON nextphone.outbox;
DROP TRIGGER seen_row ON nextphone.outbox;
DROP FUNCTION outbox_seen() CASCADE;
DROP TABLE outbox_seen;
SELECT webhook, status FROM nextphone.outbox WHERE vars ->> 'first_name' = 'Trig' ORDER BY webhook;

-- ... and its constraints: a NOT NULL column added to the outbox is checked
-- for rows queued by events too (here a lead of no business).
BEGIN;
DELETE FROM nextphone.outbox;
ALTER TABLE nextphone.outbox ALTER COLUMN business_id SET NOT NULL;
\set VERBOSITY terse
INSERT INTO nextphone.leads (first_name, email) VALUES ('Nobiz', 'nobiz@example.com');
\set VERBOSITY default
ROLLBACK;

-- A webhook row the cache cannot read (written by hand, bypassing
-- create_webhook's checks) fails every event the same way: the cache is never
-- left part-read, silently missing the webhooks after the broken one.
BEGIN;
UPDATE nextphone.webhooks SET headers = '{"X-A": "\u0000"}' WHERE tool_name = 'needsEmail';
SAVEPOINT first;
INSERT INTO nextphone.leads (first_name, email) VALUES ('Broken', 'b1@example.com');
ROLLBACK TO first;
INSERT INTO nextphone.leads (first_name, email) VALUES ('Broken', 'b2@example.com');
ROLLBACK;

-- The first entry of a webhook's retry schedule is the wait before its first
-- attempt (with the schedule's 20% jitter); a due time given by the inserter
-- stays as given.  A change of the schedule reaches the cache at once.
SELECT nextphone.create_webhook('{"type": "http", "tool_name": "later", "http_method": "POST",
  "url": "https://crm.example.com/later", "body_template": {"a": 1},
  "retry_schedule": ["2s", "5s"]}') > 0 AS created;
SELECT nextphone.enqueue('later') > 0 AS queued;
SELECT status, next_attempt_at - created_at BETWEEN interval '1.6s' AND interval '2.4s' AS in_2s
  FROM nextphone.outbox WHERE webhook = 'later';
INSERT INTO nextphone.outbox (webhook, vars, next_attempt_at)
VALUES ('later', '{}', now() + interval '1 hour');
SELECT next_attempt_at - created_at AS given FROM nextphone.outbox
 WHERE webhook = 'later' ORDER BY id DESC LIMIT 1;
SELECT nextphone.update_webhook('later', '{"retry_schedule": ["0s", "5s"]}');
SELECT nextphone.enqueue('later') > 0 AS queued;
SELECT next_attempt_at = created_at AS at_once FROM nextphone.outbox
 WHERE webhook = 'later' ORDER BY id DESC LIMIT 1;
UPDATE nextphone.webhooks SET retry_schedule = '{3s}' WHERE tool_name = 'later';
SELECT nextphone.enqueue('later') > 0 AS queued;
SELECT next_attempt_at - created_at BETWEEN interval '2.4s' AND interval '3.6s' AS in_3s
  FROM nextphone.outbox WHERE webhook = 'later' ORDER BY id DESC LIMIT 1;

-- Clean up.
DELETE FROM nextphone.outbox;
DELETE FROM nextphone.leads;
SELECT nextphone.drop_webhook(tool_name) FROM nextphone.webhooks;
DELETE FROM nextphone.businesses;
