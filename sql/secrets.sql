-- Secrets: named values (API keys, bearer tokens) that header templates use
-- as {{secret.NAME}}.  They are resolved by the delivery worker at send
-- time: the outbox keeps the tag, never the value.
\set SHOW_CONTEXT never

SELECT nextphone.set_secret('crm_key', 'sk_live_first');
-- setting it again replaces the value
SELECT nextphone.set_secret('crm_key', 'sk_live_51Hx9RotatedValue');
SELECT name, value = 'sk_live_51Hx9RotatedValue' AS replaced FROM nextphone.secrets;

-- Bad names and values are refused; the error never shows the value.
SELECT nextphone.set_secret('crm key', 'x');
SELECT nextphone.set_secret('crm_key2', E'sk_live\r\nX-Injected: 1');
SELECT nextphone.set_secret('crm_key2', '');

-- A webhook uses it in a header (only there: see the webhooks test).
SELECT nextphone.create_webhook('{
  "type": "http", "tool_name": "secretCRM", "http_method": "POST",
  "url": "https://crm.example.com/api/leads",
  "headers": {"Authorization": "Bearer {{secret.crm_key}}", "Content-Type": "application/json"},
  "body_template": {"name": "{{first_name}}"}
}') > 0 AS created;
SELECT nextphone.enqueue('secretCRM', '{"first_name": "John"}') > 0 AS queued;

-- The outbox row keeps the tag; the value is nowhere in the outbox.
SELECT headers, body FROM nextphone.outbox;
SELECT count(*) AS rows_with_value FROM nextphone.outbox o WHERE o::text LIKE '%sk_live%';

-- Values a caller gave cannot join into a tag that names another secret: an
-- event's delivery is stored dead with the reason (the lead is kept), an
-- explicit enqueue is an error.
SELECT nextphone.set_secret('other_key', 'sk_live_other');
INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('+15559876543', 'Acme');
SELECT nextphone.create_webhook('{
  "type": "http", "tool_name": "contactCRM", "http_method": "POST",
  "url": "https://crm.example.com/api/contacts",
  "headers": {"Authorization": "Bearer {{secret.crm_key}}", "X-Contact": "{{first_name}}{{last_name}}"},
  "body_template": {"name": "{{first_name}}"},
  "parameters": [{"name": "first_name", "type": "string"}, {"name": "last_name", "type": "string"}],
  "events": ["lead.created"]
}') > 0 AS created;
INSERT INTO nextphone.leads (business_id, first_name, last_name)
SELECT id, '{', '{secret.other_key}}' FROM nextphone.businesses;
SELECT status, headers, last_error FROM nextphone.outbox WHERE webhook = 'contactCRM';
SELECT count(*) AS leads FROM nextphone.leads;
SELECT nextphone.enqueue('contactCRM', '{"first_name": "{", "last_name": "{secret.other_key}}"}');
SELECT nextphone.drop_webhook('contactCRM');
SELECT nextphone.drop_secret('other_key');
DELETE FROM nextphone.outbox WHERE webhook = 'contactCRM';
DELETE FROM nextphone.leads;
DELETE FROM nextphone.businesses;

-- A secret is in use however its tag is written; a name is a name, not a
-- pattern.
SELECT nextphone.set_secret('amp_key', 'sk_live_amp');
SELECT nextphone.create_webhook('{
  "type": "http", "tool_name": "ampCRM", "http_method": "POST",
  "url": "https://crm.example.com/api/amp",
  "headers": {"Authorization": "Bearer {{& secret.amp_key}}", "X-Other": "{{=<% %>=}}<% secret.amp_key %>"},
  "body_template": {"ok": true}
}') > 0 AS created;
SELECT nextphone.drop_secret('amp_key');
SELECT nextphone.drop_secret('.*');
SELECT nextphone.drop_webhook('ampCRM');
SELECT nextphone.drop_secret('amp_key');

-- A secret in use cannot be dropped; a secret that is not there neither.
SELECT nextphone.drop_secret('crm_key');
SELECT nextphone.drop_webhook('secretCRM');
SELECT nextphone.drop_secret('crm_key');
SELECT nextphone.drop_secret('crm_key');
SELECT count(*) AS secrets FROM nextphone.secrets;

DELETE FROM nextphone.outbox;
