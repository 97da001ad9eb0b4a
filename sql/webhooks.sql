-- Webhook configuration: create_webhook() takes the guide's configuration
-- JSON exactly as the guide prints it, checks it whole, and stores nothing
-- when anything is wrong.

\set SHOW_CONTEXT never

-- The configuration, read from the guide itself ("NextPhone Webhook
-- Configuration" section).
\set guide_config `awk '/^### NextPhone Webhook Configuration/{f=1} f&&/^\140\140\140json/{g=1;next} g&&/^\140\140\140/{exit} g' "$NEXTPHONE_SHARED"/seed/000_369c8c97d32014d2.txt`
SELECT :'guide_config'::json ->> 'tool_name' AS tool_name;

SELECT nextphone.create_webhook(:'guide_config') > 0 AS created;

-- webhook_config() gives back what was configured, in the guide's order;
-- the body template is the user's exact text.
SELECT nextphone.webhook_config('submitLeadToCRM');
SELECT nextphone.webhook_config('submitLeadToCRM')::jsonb = :'guide_config'::jsonb AS same_config,
       body_template = (:'guide_config'::json -> 'body_template')::text AS same_body_text
  FROM nextphone.webhooks WHERE tool_name = 'submitLeadToCRM';

-- The same tool name twice is refused.
SELECT nextphone.create_webhook(:'guide_config');

-- The extension's own keys: events, enabled, signing_secret (masked when
-- read back), timeout_ms, max_attempts, retry_schedule, ordered,
-- rate_limit_per_second.  body_template may also be a string of JSON.
SELECT nextphone.create_webhook('{
  "type": "http",
  "tool_name": "notifyDispatch",
  "http_method": "PUT",
  "url": "https://dispatch.example.com/jobs/{{call_id}}?source=nextphone",
  "headers": {"X-Business": "{{owner_name}}"},
  "body_template": "{\"caller\": \"{{caller_number}}\", \"budget\": \"{{budget}}\"}",
  "parameters": [{"name": "budget", "type": "number", "description": "Budget in USD", "required": true}],
  "events": ["call.completed"],
  "enabled": false,
  "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  "timeout_ms": 5000,
  "max_attempts": 3,
  "retry_schedule": ["0s", "30s", "10min"],
  "ordered": true,
  "rate_limit_per_second": 2.5
}') > 0 AS created;
-- (a body template given as a string of JSON comes back as that JSON)
SELECT nextphone.webhook_config('notifyDispatch');
SELECT events, enabled, timeout_ms, max_attempts, retry_schedule, ordered, rate_limit_per_second
  FROM nextphone.webhooks WHERE tool_name = 'notifyDispatch';

-- Every rejected configuration, with its SQLSTATE.  Each case changes one
-- thing in the guide's configuration.
CREATE FUNCTION rejection(config json, OUT state text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM nextphone.create_webhook(config);
	state := 'accepted';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$$;

SELECT c.name AS "case", r.state AS sqlstate, r.message
  FROM (VALUES
	('not an object', '[1, 2]'::jsonb, NULL::text[]),
	('unknown keys', '{"tool_name": "t1", "retries": 3, "secret": "x"}', NULL),
	('missing key', '{}', '{url}'),
	('type', '{"tool_name": "t2", "type": "grpc"}', NULL),
	('tool_name', '{"tool_name": "9 lives"}', NULL),
	('tool_name type', '{"tool_name": 42}', NULL),
	('method', '{"tool_name": "t3", "http_method": "FETCH"}', NULL),
	('method case', '{"tool_name": "t3", "http_method": "post"}', NULL),
	('url scheme', '{"tool_name": "t4", "url": "ftp://example.com/x"}', NULL),
	('url tag in host', '{"tool_name": "t4", "url": "https://{{website}}/api"}', NULL),
	('url tag in port', '{"tool_name": "t4", "url": "https://example.com:{{port}}/api"}', NULL),
	('url no host', '{"tool_name": "t4", "url": "https:///api"}', NULL),
	('url spaces', '{"tool_name": "t4", "url": "https://example.com/a b"}', NULL),
	('unknown variable', '{"tool_name": "t5", "body_template": {"a": "{{budget}}"}}', NULL),
	('unknown variables', '{"tool_name": "t5", "body_template": {"a": "{{budget}} {{timeline}}", "b": "{{first_name}}"}}', NULL),
	('unknown in url', '{"tool_name": "t5", "url": "https://example.com/{{nope}}"}', NULL),
	('unknown in header', '{"tool_name": "t5", "headers": {"X-A": "{{nope}}"}}', NULL),
	('template syntax', '{"tool_name": "t6", "body_template": {"a": "{{#first_name}}x"}}', NULL),
	('body not json', '{"tool_name": "t6", "body_template": "{\"a\": "}', NULL),
	('body a number', '{"tool_name": "t6", "body_template": 5}', NULL),
	('partial', '{"tool_name": "t6", "body_template": {"a": "{{> footer}}"}}', NULL),
	('secret missing', '{"tool_name": "t7", "headers": {"Authorization": "Bearer {{secret.nope}}"}}', NULL),
	('secret in body', '{"tool_name": "t7", "body_template": {"key": "{{secret.nope}}"}}', NULL),
	('header name', '{"tool_name": "t8", "headers": {"Bad Header": "x"}}', NULL),
	('header value CR/LF', '{"tool_name": "t8", "headers": {"X-A": "a\r\nX-Injected: 1"}}', NULL),
	('header value type', '{"tool_name": "t8", "headers": {"X-A": 1}}', NULL),
	('header reserved', '{"tool_name": "t8", "headers": {"webhook-signature": "v1,x"}}', NULL),
	('header reserved proxy', '{"tool_name": "t8", "headers": {"Proxy-Authorization": "Basic x"}}', NULL),
	('header reserved expect', '{"tool_name": "t8", "headers": {"Expect": "100-continue"}}', NULL),
	('header twice', '{"tool_name": "t8", "headers": {"X-A": "1", "x-a": "2"}}', NULL),
	('headers type', '{"tool_name": "t8", "headers": ["X-A: 1"]}', NULL),
	('parameter twice', '{"tool_name": "t9", "parameters": [{"name": "email", "type": "string"}, {"name": "email", "type": "string"}]}', NULL),
	('parameter type', '{"tool_name": "t9", "parameters": [{"name": "budget", "type": "money"}]}', NULL),
	('parameter name', '{"tool_name": "t9", "parameters": [{"name": "first name", "type": "string"}]}', NULL),
	('parameter key', '{"tool_name": "t9", "parameters": [{"name": "x", "type": "string", "default": 1}]}', NULL),
	('parameter reserved', '{"tool_name": "t9", "parameters": [{"name": "secret", "type": "object"}]}', NULL),
	('parameter required', '{"tool_name": "t9", "parameters": [{"name": "x", "type": "string", "required": "yes"}]}', NULL),
	('event', '{"tool_name": "t10", "events": ["lead.updated"]}', NULL),
	('enabled', '{"tool_name": "t10", "enabled": "yes"}', NULL),
	('signing secret', '{"tool_name": "t10", "signing_secret": "my-secret"}', NULL),
	('signing secret short', '{"tool_name": "t10", "signing_secret": "whsec_c2hvcnQ="}', NULL),
	('timeout_ms', '{"tool_name": "t10", "timeout_ms": 0}', NULL),
	('timeout_ms fraction', '{"tool_name": "t10", "timeout_ms": 1.5}', NULL),
	('timeout_ms type', '{"tool_name": "t10", "timeout_ms": "5000"}', NULL),
	('max_attempts', '{"tool_name": "t10", "max_attempts": 5000}', NULL),
	('retry_schedule', '{"tool_name": "t10", "retry_schedule": ["5s", "soon"]}', NULL),
	('retry_schedule negative', '{"tool_name": "t10", "retry_schedule": ["-5s"]}', NULL),
	('rate limit', '{"tool_name": "t10", "rate_limit_per_second": -1}', NULL),
	('rate limit tiny', '{"tool_name": "t10", "rate_limit_per_second": 1e-400}', NULL),
	('description', '{"tool_name": "t10", "description": ["a"]}', NULL)
  ) AS c(name, change, remove),
  LATERAL rejection(
	CASE WHEN jsonb_typeof(c.change) = 'object'
		 THEN ((:'guide_config'::jsonb - coalesce(c.remove, '{}')) || c.change)::json
		 ELSE c.change::json END) r;

-- (a NUL character cannot pass through jsonb, as the cases above do)
SELECT * FROM rejection('{"type": "http", "tool_name": "t11", "http_method": "POST",
  "url": "https://example.com/", "headers": {"X-A": "a\u0000b"}}');
DROP FUNCTION rejection(json);

-- The errors say why, and how to fix it.
SELECT nextphone.create_webhook((:'guide_config'::jsonb || '{"tool_name": "t11", "body_template": {"a": "{{budget}}"}}')::json);
SELECT nextphone.create_webhook((:'guide_config'::jsonb || '{"tool_name": "t11", "url": "https://{{website}}/x"}')::json);
SELECT nextphone.create_webhook((:'guide_config'::jsonb || '{"tool_name": "t11", "body_template": {"a": "{{#first_name}}x"}}')::json);

-- Nothing was stored by any rejected configuration.
SELECT tool_name FROM nextphone.webhooks ORDER BY id;

-- update_webhook() changes some keys; the result is checked whole.
SELECT nextphone.update_webhook('submitLeadToCRM', '{"url": "https://crm.example.com/v2/leads", "events": ["lead.created"]}');
SELECT url, events, body_template = (:'guide_config'::json -> 'body_template')::text AS body_kept
  FROM nextphone.webhooks WHERE tool_name = 'submitLeadToCRM';
-- a change that makes the configuration invalid changes nothing
SELECT nextphone.update_webhook('submitLeadToCRM', '{"body_template": {"x": "{{budget}}"}}');
SELECT nextphone.update_webhook('submitLeadToCRM', '{"colour": "blue"}');
SELECT nextphone.update_webhook('noSuchTool', '{"enabled": false}');
-- a JSON null removes an optional key
SELECT nextphone.update_webhook('notifyDispatch', '{"retry_schedule": null, "enabled": true}');
SELECT enabled, retry_schedule FROM nextphone.webhooks WHERE tool_name = 'notifyDispatch';
SELECT url FROM nextphone.webhooks WHERE tool_name = 'submitLeadToCRM';

-- drop_webhook() removes a webhook.
SELECT nextphone.drop_webhook('notifyDispatch');
SELECT nextphone.drop_webhook('notifyDispatch');
SELECT nextphone.drop_webhook('submitLeadToCRM');
SELECT count(*) AS webhooks_left FROM nextphone.webhooks;
