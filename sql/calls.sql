-- Recording calls and leads: record_call() stores a finished call and its
-- lead in one transaction, idempotently; plain INSERTs work as well.  Both
-- fire the built-in events lead.created and call.completed.
\set SHOW_CONTEXT never

INSERT INTO nextphone.businesses (receiving_number, owner_name, website, booking_url)
VALUES ('+15559876543', 'Acme Contracting', 'https://acmecontracting.com',
		'https://acmecontracting.com/schedule');

-- A webhook subscribed to both events shows what fires.
SELECT nextphone.create_webhook('{
  "type": "http", "tool_name": "callLog", "http_method": "POST",
  "url": "https://crm.example.com/hooks/{{event}}",
  "body_template": {"event": "{{event}}", "caller": "{{caller_number}}", "name": "{{first_name}}", "business": "{{owner_name}}", "budget": "{{budget}}"},
  "parameters": [{"name": "budget", "type": "number"}],
  "events": ["lead.created", "call.completed"]
}') > 0 AS created;

-- A finished call whose collected parameters name someone to follow up.
SELECT nextphone.record_call('{
  "external_id": "CA-1001",
  "caller_number": "+15551234567",
  "receiving_number": "+15559876543",
  "started_at": "2025-03-04T15:00:00Z",
  "ended_at": "2025-03-04T15:03:30Z",
  "summary": "Roof leak, wants an inspection",
  "collected": {"first_name": "John", "email": "john@example.com",
				"message": "Needs roof inspection, mentioned leak in northwest corner",
				"budget": 5000}
}') AS call_id \gset

SELECT c.external_id, c.caller_number, c.status, c.ended_at - c.started_at AS duration,
	   b.owner_name AS business, c.collected
  FROM nextphone.calls c JOIN nextphone.businesses b ON b.id = c.business_id;
SELECT call_id = :call_id AS from_call, first_name, last_name, phone, email, company,
	   notes, source, extra
  FROM nextphone.leads;
-- the call fired call.completed, its lead lead.created, each rendered at once
SELECT event, status, url, body FROM nextphone.outbox ORDER BY id;

-- The same external id again stores nothing and fires nothing.
SELECT nextphone.record_call('{
  "external_id": "CA-1001",
  "caller_number": "+15551234567",
  "receiving_number": "+15559876543",
  "collected": {"first_name": "John"}
}') = :call_id AS same_call;
SELECT (SELECT count(*) FROM nextphone.calls) AS calls,
	   (SELECT count(*) FROM nextphone.leads) AS leads,
	   (SELECT count(*) FROM nextphone.outbox) AS deliveries;

-- A full name is split; a callback request alone makes a lead with the
-- caller's number; a call with no one to follow up makes no lead.
SELECT nextphone.record_call('{"external_id": "CA-1002", "caller_number": "+15550000002",
  "receiving_number": "+15559876543", "collected": {"name": "Mary Ann Smith", "company_name": "Smith & Co"}}') > 0;
SELECT nextphone.record_call('{"external_id": "CA-1003", "caller_number": "+15550000003",
  "receiving_number": "+15559876543", "callback_requested": true}') > 0;
SELECT nextphone.record_call('{"external_id": "CA-1004", "caller_number": "+15550000004",
  "receiving_number": "+15559876543", "status": "missed"}') > 0;
SELECT c.external_id, c.status, l.first_name, l.last_name, l.phone, l.company
  FROM nextphone.calls c LEFT JOIN nextphone.leads l ON l.call_id = c.id
 WHERE c.external_id > 'CA-1001' ORDER BY c.external_id;
SELECT event, body FROM nextphone.outbox WHERE vars ->> 'external_id' > 'CA-1001' ORDER BY id;

-- Bad calls are refused, and nothing is stored.
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15550009999"}');
SELECT nextphone.record_call('{"caller_number": "555-1234", "receiving_number": "+15559876543"}');
SELECT nextphone.record_call('{"caller_number": "+15551234567"}');
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543", "duration": 30}');
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543", "status": "ringing"}');
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543", "collected": ["John"]}');
-- each error names the key at fault
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "15559876543"}');
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543", "started_at": "yesterday noonish"}');
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543", "started_at": "2025-03-04T15:00:00Z", "ended_at": "2025-03-04T14:00:00Z"}');
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543", "callback_requested": "yes"}');
SELECT nextphone.record_call('{"caller_number": "+15551234567", "receiving_number": "+15559876543", "external_id": ""}');
SELECT count(*) AS calls FROM nextphone.calls;

-- A collected value too long for its lead column (the email as the AI heard
-- it, say) does not lose the call: it is kept in the lead's extra instead.
SELECT nextphone.record_call(jsonb_build_object('external_id', 'CA-LONG', 'caller_number', '+15550000009',
  'receiving_number', '+15559876543',
  'collected', jsonb_build_object('first_name', 'Ann', 'email', repeat('a', 400) || '@example.com'))) > 0 AS recorded;
SELECT l.first_name, l.email, length(l.extra ->> 'email') AS email_in_extra
  FROM nextphone.leads l JOIN nextphone.calls c ON c.id = l.call_id WHERE c.external_id = 'CA-LONG';
DELETE FROM nextphone.outbox WHERE vars ->> 'external_id' = 'CA-LONG';
DELETE FROM nextphone.leads WHERE call_id = (SELECT id FROM nextphone.calls WHERE external_id = 'CA-LONG');
DELETE FROM nextphone.calls WHERE external_id = 'CA-LONG';

-- Plain INSERTs: the business is found by the receiving number; a call in
-- progress fires nothing until it reaches a final status.
INSERT INTO nextphone.calls (caller_number, receiving_number, status, external_id)
VALUES ('+15550000005', '+15559876543', 'in_progress', 'CA-1005');
SELECT count(*) AS deliveries FROM nextphone.outbox WHERE body::jsonb ->> 'caller' = '+15550000005';
UPDATE nextphone.calls SET status = 'completed', ended_at = started_at + interval '1 minute'
 WHERE external_id = 'CA-1005';
UPDATE nextphone.calls SET summary = 'called back' WHERE external_id = 'CA-1005';
SELECT event, body FROM nextphone.outbox WHERE body::jsonb ->> 'caller' = '+15550000005';

-- A lead inserted directly fires lead.created; with a call, it takes the
-- call's business and variables.
INSERT INTO nextphone.leads (call_id, first_name, email)
SELECT id, 'Pat', 'pat@example.com' FROM nextphone.calls WHERE external_id = 'CA-1005';
SELECT l.business_id IS NOT NULL AS has_business, o.event, o.body
  FROM nextphone.leads l JOIN nextphone.outbox o ON (o.vars ->> 'lead_id')::bigint = l.id
 WHERE l.first_name = 'Pat';
-- a lead of no business fires only the webhooks of every business (this one)
INSERT INTO nextphone.leads (first_name, phone) VALUES ('Lee', '+15550000006');
SELECT event, body FROM nextphone.outbox WHERE vars ->> 'first_name' = 'Lee';

-- The call's duration is among the variables when both ends are finite times.
SELECT nextphone.record_call('{"external_id": "CA-dur-1", "caller_number": "+15550000011",
  "receiving_number": "+15559876543", "started_at": "2025-01-01T10:00:00Z", "ended_at": "2025-01-01T10:02:05Z"}') > 0 AS recorded;
SELECT nextphone.record_call('{"external_id": "CA-dur-2", "caller_number": "+15550000012",
  "receiving_number": "+15559876543", "started_at": "-infinity", "ended_at": "infinity"}') > 0 AS recorded;
SELECT vars ->> 'external_id' AS call, vars ->> 'duration_seconds' AS duration_seconds
  FROM nextphone.outbox WHERE vars ->> 'external_id' LIKE 'CA-dur-%' ORDER BY 1;

-- A webhook of another business does not fire for this one.
INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('+15557770000', 'Other Co');
SELECT nextphone.update_webhook('callLog', '{"enabled": false}');
SELECT nextphone.create_webhook('{"type": "http", "tool_name": "otherLog", "http_method": "POST",
  "url": "https://other.example.com/hook", "body_template": {"name": "{{first_name}}"},
  "events": ["lead.created"]}',
  (SELECT id FROM nextphone.businesses WHERE owner_name = 'Other Co')) > 0 AS created;
SELECT nextphone.record_call('{"external_id": "CA-1007", "caller_number": "+15550000007",
  "receiving_number": "+15559876543", "collected": {"first_name": "Acme caller"}}') > 0;
SELECT nextphone.record_call('{"external_id": "CA-1008", "caller_number": "+15550000008",
  "receiving_number": "+15557770000", "collected": {"first_name": "Other caller"}}') > 0;
SELECT webhook, event, body FROM nextphone.outbox WHERE vars ->> 'external_id' IN ('CA-1007', 'CA-1008');

-- Clean up.
DELETE FROM nextphone.outbox;
DELETE FROM nextphone.leads;
DELETE FROM nextphone.calls;
SELECT nextphone.drop_webhook('callLog');
SELECT nextphone.drop_webhook('otherLog');
DELETE FROM nextphone.businesses;
