-- nextphone: webhook configuration, recording calls and leads, and every
-- way into the outbox (built-in events, webhook_trigger, INSERT, enqueue).
--
-- Rendering happens in C (src/enqueue.c) in the inserting transaction; this
-- file holds the configuration checks, which run once per change and read
-- best as PL/pgSQL, and the glue.

--
-- Views: status at a glance, without secrets or bodies
--

CREATE VIEW nextphone.message_status AS
SELECT o.id, o.msg_id, o.webhook, o.event, o.method, o.status, o.attempts,
       o.next_attempt_at, o.last_status_code, o.last_error,
       o.created_at, o.delivered_at
  FROM nextphone.outbox o;
COMMENT ON VIEW nextphone.message_status IS
  'Per-message delivery status: the outbox without variables, URL, headers, bodies or responses';

-- The per-webhook health view (webhook_health) is the delivery worker's.

--
-- Secrets
--

CREATE FUNCTION nextphone.set_secret(name text, value text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid secret name "%"', name
			USING ERRCODE = 'invalid_name',
				  HINT = 'A secret name is a letter or underscore followed by up to 62 letters, digits or underscores.';
	END IF;
	IF value IS NULL OR value = '' OR value ~ '[\r\n\x01-\x08\x0b\x0c\x0e-\x1f]' THEN
		RAISE EXCEPTION 'invalid value for secret "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A secret is sent in a header: it must be non-empty and hold no control characters.';
	END IF;
	INSERT INTO nextphone.secrets AS s (name, value) VALUES (set_secret.name, set_secret.value)
	ON CONFLICT ON CONSTRAINT secrets_pkey
	DO UPDATE SET value = excluded.value, updated_at = now();
END
$$;
COMMENT ON FUNCTION nextphone.set_secret(text, text) IS
  'Creates or replaces the named secret, used in header templates as {{secret.NAME}} (owner only)';

CREATE FUNCTION nextphone.drop_secret(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	users text;
BEGIN
	SELECT string_agg(format('"%s"', w.tool_name), ', ' ORDER BY w.tool_name) INTO users
	  FROM nextphone.webhooks w
	 WHERE EXISTS (SELECT FROM json_each_text(w.headers) AS h (header, template)
				    WHERE 'secret.' || drop_secret.name = ANY (nextphone.template_variables(h.template)));
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop secret "%" because webhooks use it', name
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = format('Webhooks %s use it in their headers.', users),
				  HINT = 'Change those webhooks first.';
	END IF;
	DELETE FROM nextphone.secrets s WHERE s.name = drop_secret.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'secret "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
COMMENT ON FUNCTION nextphone.drop_secret(text) IS
  'Removes the named secret; refused while a webhook''s headers use it (owner only)';

--
-- Webhook configuration
--

CREATE FUNCTION nextphone.builtin_variables()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT ARRAY[
	-- the business
	'receiving_number', 'owner_name', 'website', 'booking_url', 'business_id',
	-- the call
	'caller_number', 'call_id', 'external_id', 'call_status', 'started_at', 'ended_at',
	'duration_seconds', 'summary', 'transcript', 'callback_requested',
	-- the lead
	'lead_id', 'first_name', 'last_name', 'phone', 'email', 'company', 'notes',
	'source', 'created_at',
	-- the delivery
	'event']::text[]
$$;
COMMENT ON FUNCTION nextphone.builtin_variables() IS
  'The template variables every webhook may use without declaring them: the business, the call, the lead and the event';

-- Raises the error for a configuration field that has the wrong JSON type.
CREATE FUNCTION nextphone.config_expect(config json, key text, expected text)
RETURNS json
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v json := config -> key;
	t text := json_typeof(v);
BEGIN
	IF v IS NULL OR t = 'null' THEN
		RETURN NULL;
	END IF;
	IF t <> expected AND NOT (expected = 'integer' AND t = 'number') THEN
		RAISE EXCEPTION 'webhook configuration field "%" must be a JSON %', key,
			CASE expected WHEN 'integer' THEN 'number' ELSE expected END
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('It is a JSON %s.', t);
	END IF;
	IF expected = 'integer' AND v::text !~ '^-?[0-9]+$' THEN
		RAISE EXCEPTION 'webhook configuration field "%" must be an integer', key
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN v;
END
$$;
COMMENT ON FUNCTION nextphone.config_expect(json, text, text) IS
  'Internal: the value of a configuration field, checked to be of the given JSON type (string, number, integer, boolean, object, array)';

CREATE FUNCTION nextphone.webhook_template_names(template text, kind text, field text)
RETURNS text[]
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'webhook_template_names';
COMMENT ON FUNCTION nextphone.webhook_template_names(text, text, text) IS
  'Internal: the variables a template uses, its syntax checked as a URL, a header value or a JSON body (kind url, header or json); errors name the configuration field';

-- Every variable of one template must be known; secrets only in headers.
CREATE FUNCTION nextphone.check_template_names(names text[], field text, allowed text[], in_header boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	bad text;
	n integer;
BEGIN
	SELECT string_agg(format('"%s"', name), ', ' ORDER BY ord), count(*) INTO bad, n
	  FROM unnest(names) WITH ORDINALITY AS u(name, ord)
	 WHERE split_part(name, '.', 1) <> ALL (allowed) AND name NOT LIKE 'secret._%';
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown template variable% % in "%"', CASE WHEN n > 1 THEN 's' ELSE '' END, bad, field
			USING ERRCODE = 'undefined_object',
				  HINT = 'Declare it in "parameters", or use a built-in variable: '
						 || array_to_string(nextphone.builtin_variables(), ', ') || '.';
	END IF;
	SELECT string_agg(format('"%s"', substr(name, 8)), ', ' ORDER BY ord) INTO bad
	  FROM unnest(names) WITH ORDINALITY AS u(name, ord)
	 WHERE name LIKE 'secret._%';
	IF bad IS NOT NULL AND NOT in_header THEN
		RAISE EXCEPTION 'secret % cannot be used in "%"', bad, field
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Secrets may be used only in header values, which the worker completes at send time, so that they are never stored in the outbox.';
	END IF;
	SELECT string_agg(format('"%s"', substr(name, 8)), ', ' ORDER BY ord), count(*) INTO bad, n
	  FROM unnest(names) WITH ORDINALITY AS u(name, ord)
	 WHERE name LIKE 'secret._%'
	   AND NOT EXISTS (SELECT FROM nextphone.secrets s WHERE s.name = substr(u.name, 8));
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'secret% % in "%" do% not exist', CASE WHEN n > 1 THEN 's' ELSE '' END,
			bad, field, CASE WHEN n > 1 THEN '' ELSE 'es' END
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it first with nextphone.set_secret(name, value).';
	END IF;
END
$$;
COMMENT ON FUNCTION nextphone.check_template_names(text[], text, text[], boolean) IS
  'Internal: raises an error naming every unknown variable of a template, and every secret used outside headers or not defined';

CREATE FUNCTION nextphone.check_webhook_templates(url text, headers json, body text, allowed text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	v text;
BEGIN
	PERFORM nextphone.check_template_names(
		nextphone.webhook_template_names(url, 'url', 'url'), 'url', allowed, false);
	FOR k, v IN SELECT * FROM json_each_text(headers) LOOP
		PERFORM nextphone.check_template_names(
			nextphone.webhook_template_names(v, 'header', 'headers.' || k),
			'headers.' || k, allowed, true);
	END LOOP;
	IF body IS NOT NULL THEN
		PERFORM nextphone.check_template_names(
			nextphone.webhook_template_names(body, 'json', 'body_template'),
			'body_template', allowed, false);
	END IF;
END
$$;
COMMENT ON FUNCTION nextphone.check_webhook_templates(text, json, text, text[]) IS
  'Internal: checks the syntax and the variables of a webhook''s URL, header and body templates';

-- Checks a whole configuration and gives back the webhooks row it describes.
-- Nothing is stored here; the callers store the row in one statement.
CREATE FUNCTION nextphone.webhook_from_config(config json, business bigint)
RETURNS nextphone.webhooks
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w nextphone.webhooks;
	known constant text[] := ARRAY[
		'type', 'tool_name', 'description', 'http_method', 'url', 'headers',
		'body_template', 'parameters',
		'events', 'enabled', 'signing_secret', 'timeout_ms', 'max_attempts',
		'retry_schedule', 'ordered', 'rate_limit_per_second'];
	bad text;
	k text;
	v json;
	p json;
	names text[] := '{}';
	allowed text[];
	n integer;
	authority text;
	body json;
BEGIN
	IF config IS NULL OR json_typeof(config) <> 'object' THEN
		RAISE EXCEPTION 'webhook configuration must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- (every JSON function would fail on it, naming no field)
	IF config::text ~ '(^|[^\\])(\\\\)*\\u0000' THEN
		RAISE EXCEPTION 'webhook configuration holds a NUL character (\u0000)'
			USING ERRCODE = 'untranslatable_character',
				  DETAIL = 'PostgreSQL text cannot hold it, in a header value or anywhere else.';
	END IF;

	SELECT string_agg(format('"%s"', key), ', ' ORDER BY ord), count(*) INTO bad, n
	  FROM json_object_keys(config) WITH ORDINALITY AS k(key, ord)
	 WHERE key <> ALL (known);
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown key% % in webhook configuration', CASE WHEN n > 1 THEN 's' ELSE '' END, bad
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Known keys are ' || array_to_string(known, ', ') || '.';
	END IF;

	SELECT string_agg(format('"%s"', key), ', '), count(*) INTO bad, n
	  FROM unnest(ARRAY['type', 'tool_name', 'http_method', 'url']) AS key
	 WHERE json_typeof(config -> key) IS NULL OR json_typeof(config -> key) = 'null';
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'webhook configuration lacks required key% %', CASE WHEN n > 1 THEN 's' ELSE '' END, bad
			USING ERRCODE = 'null_value_not_allowed';
	END IF;

	-- type, tool_name, description
	w.type := nextphone.config_expect(config, 'type', 'string') #>> '{}';
	IF w.type <> 'http' THEN
		RAISE EXCEPTION 'webhook type "%" is not supported', w.type
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'The only type is "http".';
	END IF;
	w.tool_name := nextphone.config_expect(config, 'tool_name', 'string') #>> '{}';
	IF w.tool_name !~ '^[A-Za-z][A-Za-z0-9_.-]{0,99}$' THEN
		RAISE EXCEPTION 'invalid tool name "%" in "tool_name"', w.tool_name
			USING ERRCODE = 'invalid_name',
				  HINT = 'A tool name starts with a letter and has up to 100 letters, digits, "_", "." or "-".';
	END IF;
	w.description := nextphone.config_expect(config, 'description', 'string') #>> '{}';
	IF length(w.description) > 2000 THEN
		RAISE EXCEPTION 'webhook configuration field "description" is too long'
			USING ERRCODE = 'string_data_right_truncation',
				  DETAIL = 'It may hold at most 2000 characters.';
	END IF;

	-- http_method
	w.http_method := nextphone.config_expect(config, 'http_method', 'string') #>> '{}';
	IF w.http_method NOT IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE') THEN
		RAISE EXCEPTION 'invalid HTTP method "%" in "http_method"', w.http_method
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use GET, POST, PUT, PATCH or DELETE (in capitals).';
	END IF;

	-- url: http(s), with scheme, host and port literal
	w.url := nextphone.config_expect(config, 'url', 'string') #>> '{}';
	IF w.url !~* '^https?://' THEN
		RAISE EXCEPTION 'invalid URL "%" in "url"', w.url
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The URL must start with http:// or https://.';
	END IF;
	authority := substring(w.url FROM '^[A-Za-z]+://([^/?#]*)');
	IF authority LIKE '%{{%' OR authority LIKE '%}}%' THEN
		RAISE EXCEPTION 'invalid URL "%" in "url"', w.url
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Template tags may appear only in the path and query: the scheme, host and port are literal.';
	END IF;
	IF authority !~ '^([^@/]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$' THEN
		RAISE EXCEPTION 'invalid URL "%" in "url"', w.url
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The host is missing or holds characters a host name cannot have.';
	END IF;
	IF w.url ~ '[\s\x01-\x1f]' OR length(w.url) > 2048 THEN
		RAISE EXCEPTION 'invalid URL in "url"'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A URL holds no spaces or control characters and has at most 2048 characters.';
	END IF;

	-- headers: token names, string values without CR, LF or NUL
	w.headers := coalesce(nextphone.config_expect(config, 'headers', 'object'), '{}');
	FOR k, v IN SELECT * FROM json_each(w.headers) LOOP
		IF k !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]+$' THEN
			RAISE EXCEPTION 'invalid header name "%" in "headers"', k
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A header name is a token: letters, digits and !#$%&''*+-.^_`|~, no spaces or colons.';
		END IF;
		-- (the same names as an ad-hoc request's, header_is_reserved in enqueue.c)
		IF lower(k) IN ('webhook-id', 'webhook-timestamp', 'webhook-signature',
						'host', 'content-length', 'transfer-encoding', 'connection',
						'te', 'trailer', 'upgrade', 'keep-alive', 'expect')
		   OR lower(k) LIKE 'proxy-%' THEN
			RAISE EXCEPTION 'header "%" in "headers" is set by nextphone', k
				USING ERRCODE = 'reserved_name',
					  DETAIL = 'The delivery worker sets the Standard Webhooks headers and the connection headers itself.';
		END IF;
		IF json_typeof(v) <> 'string' THEN
			RAISE EXCEPTION 'value of header "%" in "headers" must be a JSON string', k
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF (v #>> '{}') ~ '[\r\n]' THEN
			RAISE EXCEPTION 'value of header "%" in "headers" holds a line break', k
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Header values may not hold CR or LF characters.';
		END IF;
	END LOOP;
	SELECT string_agg(format('"%s"', key), ', ') INTO bad
	  FROM (SELECT lower(key) AS key FROM json_object_keys(w.headers) AS key
			 GROUP BY 1 HAVING count(*) > 1) d;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'header % given twice in "headers"', bad
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'Header names are case-insensitive.';
	END IF;

	-- body_template: a JSON object or array, or a string of JSON; its exact text is kept
	v := config -> 'body_template';
	IF json_typeof(v) IN ('number', 'boolean') THEN
		RAISE EXCEPTION 'webhook configuration field "body_template" must be a JSON object or array, or a string holding JSON'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('It is a JSON %s.', json_typeof(v));
	END IF;
	IF v IS NOT NULL AND json_typeof(v) <> 'null' THEN
		IF json_typeof(v) = 'string' THEN
			BEGIN
				body := (v #>> '{}')::json;
			EXCEPTION WHEN invalid_text_representation THEN
				RAISE EXCEPTION 'webhook configuration field "body_template" is not valid JSON'
					USING ERRCODE = 'invalid_parameter_value',
						  DETAIL = format('The JSON parser reports: %s.', SQLERRM),
						  HINT = 'Give the body template as a JSON object, or as a string holding JSON.';
			END;
			w.body_template := v #>> '{}';
		ELSE
			w.body_template := v::text;
		END IF;
		IF length(w.body_template) > 1048576 THEN
			RAISE EXCEPTION 'webhook configuration field "body_template" is too long'
				USING ERRCODE = 'program_limit_exceeded',
					  DETAIL = 'It may hold at most 1 MB.';
		END IF;
	END IF;

	-- parameters: [{"name", "type", "description", "required"}], names unique
	w.parameters := coalesce(nextphone.config_expect(config, 'parameters', 'array'), '[]');
	FOR p IN SELECT * FROM json_array_elements(w.parameters) LOOP
		IF json_typeof(p) <> 'object' THEN
			RAISE EXCEPTION 'each entry of "parameters" must be a JSON object'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		SELECT string_agg(format('"%s"', key), ', ') INTO bad
		  FROM json_object_keys(p) AS key
		 WHERE key NOT IN ('name', 'type', 'description', 'required');
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'unknown key % in a parameter', bad
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'A parameter has "name", "type", "description" and "required".';
		END IF;
		k := p ->> 'name';
		IF json_typeof(p -> 'name') IS DISTINCT FROM 'string' OR k !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
			RAISE EXCEPTION 'invalid parameter name %', coalesce((p -> 'name')::text, 'null')
				USING ERRCODE = 'invalid_name',
					  HINT = 'A parameter name is a letter or underscore followed by letters, digits or underscores.';
		END IF;
		IF k IN ('secret', 'event') THEN
			RAISE EXCEPTION 'parameter name "%" is reserved', k
				USING ERRCODE = 'reserved_name';
		END IF;
		IF k = ANY (names) THEN
			RAISE EXCEPTION 'parameter "%" is declared twice', k
				USING ERRCODE = 'duplicate_object';
		END IF;
		names := names || k;
		IF json_typeof(p -> 'type') IS DISTINCT FROM 'string'
		   OR (p ->> 'type') NOT IN ('string', 'number', 'integer', 'boolean', 'object', 'array') THEN
			RAISE EXCEPTION 'invalid type % for parameter "%"', coalesce((p -> 'type')::text, 'null'), k
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'The types are string, number, integer, boolean, object and array.';
		END IF;
		IF json_typeof(p -> 'description') NOT IN ('string', 'null') THEN
			RAISE EXCEPTION 'description of parameter "%" must be a JSON string', k
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF json_typeof(p -> 'required') NOT IN ('boolean', 'null') THEN
			RAISE EXCEPTION '"required" of parameter "%" must be true or false', k
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;

	-- the templates: syntax and variables
	allowed := nextphone.builtin_variables() || names;
	PERFORM nextphone.check_webhook_templates(w.url, w.headers, w.body_template, allowed);

	-- the extension's own keys
	v := nextphone.config_expect(config, 'events', 'array');
	w.events := '{}';
	IF v IS NOT NULL THEN
		FOR p IN SELECT * FROM json_array_elements(v) LOOP
			IF json_typeof(p) <> 'string' OR (p #>> '{}') NOT IN ('lead.created', 'call.completed') THEN
				RAISE EXCEPTION 'unknown event % in "events"', p::text
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'The events are "lead.created" and "call.completed".';
			END IF;
			IF NOT (p #>> '{}') = ANY (w.events) THEN
				w.events := w.events || (p #>> '{}');
			END IF;
		END LOOP;
	END IF;
	w.enabled := coalesce((nextphone.config_expect(config, 'enabled', 'boolean') #>> '{}')::boolean, true);
	w.ordered := coalesce((nextphone.config_expect(config, 'ordered', 'boolean') #>> '{}')::boolean, false);
	w.signing_secret := nextphone.config_expect(config, 'signing_secret', 'string') #>> '{}';
	IF w.signing_secret IS NOT NULL THEN
		IF w.signing_secret !~ '^whsec_[A-Za-z0-9+/]+={0,2}$'
		   OR length(w.signing_secret) % 4 <> 2 -- "whsec_" + base64 in groups of 4
		   OR octet_length(decode(substr(w.signing_secret, 7), 'base64')) NOT BETWEEN 24 AND 64 THEN
			RAISE EXCEPTION 'invalid signing secret in "signing_secret"'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A signing secret is "whsec_" followed by 24 to 64 bytes in base64.';
		END IF;
	END IF;
	v := nextphone.config_expect(config, 'timeout_ms', 'integer');
	IF v IS NOT NULL THEN
		IF v::text::numeric NOT BETWEEN 1 AND 600000 THEN
			RAISE EXCEPTION '"timeout_ms" must be between 1 and 600000'
				USING ERRCODE = 'numeric_value_out_of_range';
		END IF;
		w.timeout_ms := v::text::integer;
	END IF;
	v := nextphone.config_expect(config, 'max_attempts', 'integer');
	IF v IS NOT NULL THEN
		IF v::text::numeric NOT BETWEEN 1 AND 1000 THEN
			RAISE EXCEPTION '"max_attempts" must be between 1 and 1000'
				USING ERRCODE = 'numeric_value_out_of_range';
		END IF;
		w.max_attempts := v::text::integer;
	END IF;
	v := nextphone.config_expect(config, 'rate_limit_per_second', 'number');
	IF v IS NOT NULL THEN
		IF v::text::numeric NOT BETWEEN 0.000001 AND 1000000 THEN
			RAISE EXCEPTION '"rate_limit_per_second" must be between 0.000001 and 1000000'
				USING ERRCODE = 'numeric_value_out_of_range';
		END IF;
		w.rate_limit_per_second := v::text::double precision;
	END IF;
	v := nextphone.config_expect(config, 'retry_schedule', 'array');
	IF v IS NOT NULL THEN
		w.retry_schedule := '{}';
		FOR p IN SELECT * FROM json_array_elements(v) LOOP
			BEGIN
				IF json_typeof(p) <> 'string' THEN
					RAISE invalid_datetime_format;
				END IF;
				w.retry_schedule := w.retry_schedule || (p #>> '{}')::interval;
			EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
				RAISE EXCEPTION 'invalid interval % in "retry_schedule"', p::text
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Give the waits as interval strings, such as ["0s", "5s", "5min", "2h"].';
			END;
		END LOOP;
		IF cardinality(w.retry_schedule) NOT BETWEEN 1 AND 100
		   OR EXISTS (SELECT FROM unnest(w.retry_schedule) i WHERE i < '0' OR i > '7 days') THEN
			RAISE EXCEPTION '"retry_schedule" must hold 1 to 100 waits, each between 0 and 7 days'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END IF;

	IF business IS NOT NULL AND NOT EXISTS (SELECT FROM nextphone.businesses b WHERE b.id = business) THEN
		RAISE EXCEPTION 'business % does not exist', business
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	w.business_id := business;
	w.circuit_state := 'closed';
	w.consecutive_failures := 0;
	w.created_at := now();
	w.updated_at := now();
	RETURN w;
END
$$;
COMMENT ON FUNCTION nextphone.webhook_from_config(json, bigint) IS
  'Internal: checks a whole webhook configuration and gives back the row it describes, storing nothing';

CREATE FUNCTION nextphone.create_webhook(config json, business_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w nextphone.webhooks := nextphone.webhook_from_config(config, business_id);
	id bigint;
BEGIN
	-- ON CONFLICT: a webhook of the same name created at the same time by
	-- another session gets the same error as one created before
	INSERT INTO nextphone.webhooks
		(business_id, type, tool_name, description, http_method, url, headers,
		 body_template, parameters, events, enabled, signing_secret, timeout_ms,
		 max_attempts, retry_schedule, ordered, rate_limit_per_second)
	VALUES
		(w.business_id, w.type, w.tool_name, w.description, w.http_method, w.url, w.headers,
		 w.body_template, w.parameters, w.events, w.enabled, w.signing_secret, w.timeout_ms,
		 w.max_attempts, w.retry_schedule, w.ordered, w.rate_limit_per_second)
	ON CONFLICT (tool_name) DO NOTHING
	RETURNING webhooks.id INTO id;
	IF id IS NULL THEN
		RAISE EXCEPTION 'webhook "%" already exists', w.tool_name
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Use nextphone.update_webhook() to change it.';
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION nextphone.create_webhook(json, bigint) IS
  'Creates a webhook from the guide''s configuration JSON (plus events, enabled, signing_secret, timeout_ms, max_attempts, retry_schedule, ordered, rate_limit_per_second), checked whole before anything is stored; business_id limits its events to one business';

-- The configuration of a webhook as JSON, in the guide's key order; extras
-- appear when they differ from their defaults.
CREATE FUNCTION nextphone.config_of(w nextphone.webhooks, mask boolean)
RETURNS json
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT ('{' || string_agg(to_json(key)::text || ': ' || value::text, ', ' ORDER BY ord) || '}')::json
  FROM (VALUES
	(1, 'type', to_json(w.type)),
	(2, 'tool_name', to_json(w.tool_name)),
	(3, 'description', to_json(w.description)),
	(4, 'http_method', to_json(w.http_method)),
	(5, 'url', to_json(w.url)),
	(6, 'headers', w.headers),
	(7, 'body_template', w.body_template::json),
	(8, 'parameters', w.parameters),
	(9, 'events', CASE WHEN cardinality(w.events) > 0 THEN to_json(w.events) END),
	(10, 'enabled', CASE WHEN NOT w.enabled THEN to_json(w.enabled) END),
	(11, 'signing_secret', CASE WHEN mask THEN to_json(left(w.signing_secret, 6) || '********')
							   ELSE to_json(w.signing_secret) END),
	(12, 'timeout_ms', to_json(w.timeout_ms)),
	(13, 'max_attempts', to_json(w.max_attempts)),
	(14, 'retry_schedule', (SELECT json_agg(i::text) FROM unnest(w.retry_schedule) i)),
	(15, 'ordered', CASE WHEN w.ordered THEN to_json(w.ordered) END),
	(16, 'rate_limit_per_second', to_json(w.rate_limit_per_second))
  ) AS c(ord, key, value)
 WHERE value IS NOT NULL
$$;
COMMENT ON FUNCTION nextphone.config_of(nextphone.webhooks, boolean) IS
  'Internal: a webhook row as configuration JSON in the guide''s key order, its signing secret masked or not';

CREATE FUNCTION nextphone.webhook_config(tool_name text)
RETURNS json
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w nextphone.webhooks;
BEGIN
	SELECT * INTO w FROM nextphone.webhooks x WHERE x.tool_name = webhook_config.tool_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'webhook "%" does not exist', tool_name USING ERRCODE = 'undefined_object';
	END IF;
	RETURN nextphone.config_of(w, true);
END
$$;
COMMENT ON FUNCTION nextphone.webhook_config(text) IS
  'The configuration of a webhook as it was given (guide''s key order, exact body template text), its signing secret masked';

CREATE FUNCTION nextphone.update_webhook(tool_name text, changes json)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	old nextphone.webhooks;
	w nextphone.webhooks;
	merged json;
BEGIN
	SELECT * INTO old FROM nextphone.webhooks x WHERE x.tool_name = update_webhook.tool_name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'webhook "%" does not exist', tool_name USING ERRCODE = 'undefined_object';
	END IF;
	IF changes IS NULL OR json_typeof(changes) <> 'object' THEN
		RAISE EXCEPTION 'webhook changes must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- the old configuration with the changed keys replaced (a null removes an optional key)
	SELECT json_object_agg(key, value ORDER BY ord) INTO merged
	  FROM (SELECT o.key, coalesce(c.value, o.value) AS value, o.ord
			  FROM json_each(nextphone.config_of(old, false)) WITH ORDINALITY o(key, value, ord)
			  LEFT JOIN json_each(changes) c ON c.key = o.key
			UNION ALL
			SELECT c.key, c.value, 100 + c.ord
			  FROM json_each(changes) WITH ORDINALITY c(key, value, ord)
			 WHERE NOT EXISTS (SELECT FROM json_each(nextphone.config_of(old, false)) o WHERE o.key = c.key)) m;
	w := nextphone.webhook_from_config(merged, old.business_id);
	IF w.tool_name <> old.tool_name
	   AND EXISTS (SELECT FROM nextphone.webhooks x WHERE x.tool_name = w.tool_name) THEN
		RAISE EXCEPTION 'webhook "%" already exists', w.tool_name USING ERRCODE = 'duplicate_object';
	END IF;
	BEGIN
		UPDATE nextphone.webhooks x SET
			tool_name = w.tool_name, description = w.description, http_method = w.http_method,
			url = w.url, headers = w.headers, body_template = w.body_template,
			parameters = w.parameters, events = w.events, enabled = w.enabled,
			disabled_reason = CASE WHEN w.enabled THEN NULL ELSE x.disabled_reason END,
			signing_secret = w.signing_secret, timeout_ms = w.timeout_ms,
			max_attempts = w.max_attempts, retry_schedule = w.retry_schedule,
			ordered = w.ordered, rate_limit_per_second = w.rate_limit_per_second,
			updated_at = now()
		 WHERE x.id = old.id;
	EXCEPTION WHEN unique_violation THEN
		-- renamed at the same time as another session took the name
		RAISE EXCEPTION 'webhook "%" already exists', w.tool_name USING ERRCODE = 'duplicate_object';
	END;
END
$$;
COMMENT ON FUNCTION nextphone.update_webhook(text, json) IS
  'Changes some keys of a webhook''s configuration (a JSON null removes an optional key); the result is checked whole, as by create_webhook';

CREATE FUNCTION nextphone.drop_webhook(tool_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	wid bigint;
BEGIN
	DELETE FROM nextphone.webhooks x WHERE x.tool_name = drop_webhook.tool_name RETURNING x.id INTO wid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'webhook "%" does not exist', tool_name USING ERRCODE = 'undefined_object';
	END IF;
	UPDATE nextphone.outbox o
	   SET webhook_id = NULL,
		   status = CASE WHEN o.status = 'pending' THEN 'cancelled' ELSE o.status END,
		   last_error = CASE WHEN o.status = 'pending' THEN 'webhook dropped' ELSE o.last_error END
	 WHERE o.webhook_id = wid;
END
$$;
COMMENT ON FUNCTION nextphone.drop_webhook(text) IS
  'Removes a webhook; its messages still waiting are cancelled, delivered and dead ones stay for the record';

--
-- Recording calls and leads
--

CREATE FUNCTION nextphone.record_call(call jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	known constant text[] := ARRAY[
		'external_id', 'caller_number', 'receiving_number', 'started_at', 'ended_at',
		'status', 'summary', 'transcript', 'collected', 'callback_requested'];
	bad text;
	c jsonb;
	biz bigint;
	call_id bigint;
	lead_keys constant text[] := ARRAY[
		'first_name', 'last_name', 'name', 'email', 'phone', 'company', 'company_name',
		'message', 'notes'];
	first text;
	last text;
	started timestamptz;
	ended timestamptz;
	callback boolean;
	lead jsonb;
	moved jsonb;
	field text;
BEGIN
	IF call IS NULL OR jsonb_typeof(call) <> 'object' THEN
		RAISE EXCEPTION 'a call must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT string_agg(format('"%s"', key), ', ') INTO bad
	  FROM jsonb_object_keys(call) AS key WHERE key <> ALL (known);
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown key % in call', bad
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Known keys are ' || array_to_string(known, ', ') || '.';
	END IF;
	IF call ->> 'caller_number' IS NULL OR call ->> 'receiving_number' IS NULL THEN
		RAISE EXCEPTION 'a call needs "caller_number" and "receiving_number"'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- each value checked here, so that an error names its key (the table's
	-- constraints would not) and shows no caller data in the server log
	FOREACH field IN ARRAY ARRAY['caller_number', 'receiving_number'] LOOP
		IF jsonb_typeof(call -> field) <> 'string' OR (call ->> field) !~ '^\+[1-9][0-9]{6,14}$' THEN
			RAISE EXCEPTION 'invalid "%" in call', field
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A phone number is in E.164 form: "+", the country code and the number, 8 to 16 characters in all, such as "+15551234567".';
		END IF;
	END LOOP;
	IF call ? 'external_id' AND (jsonb_typeof(call -> 'external_id') <> 'string'
	                             OR length(call ->> 'external_id') NOT BETWEEN 1 AND 200) THEN
		RAISE EXCEPTION 'invalid "external_id" in call'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The call''s id in the telephony system is a string of 1 to 200 characters.';
	END IF;
	FOREACH field IN ARRAY ARRAY['started_at', 'ended_at'] LOOP
		IF jsonb_typeof(call -> field) NOT IN ('string', 'null') THEN
			RAISE EXCEPTION 'invalid "%" in call', field
				USING ERRCODE = 'invalid_datetime_format',
					  DETAIL = 'A time is an ISO 8601 string, such as "2025-03-04T15:00:00Z".';
		END IF;
		BEGIN
			IF field = 'started_at' THEN
				started := (call ->> field)::timestamptz;
			ELSE
				ended := (call ->> field)::timestamptz;
			END IF;
		EXCEPTION WHEN data_exception THEN
			RAISE EXCEPTION 'invalid "%" in call', field
				USING ERRCODE = 'invalid_datetime_format',
					  DETAIL = 'A time is an ISO 8601 string, such as "2025-03-04T15:00:00Z".';
		END;
	END LOOP;
	started := coalesce(started, now());
	IF ended < started THEN
		RAISE EXCEPTION '"ended_at" is before "started_at" in call'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF call ? 'callback_requested' AND jsonb_typeof(call -> 'callback_requested') NOT IN ('boolean', 'null') THEN
		RAISE EXCEPTION 'invalid "callback_requested" in call'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'It is true or false.';
	END IF;
	callback := coalesce((call ->> 'callback_requested')::boolean, false);
	IF coalesce(call ->> 'status', 'completed') NOT IN ('in_progress', 'completed', 'missed', 'voicemail', 'failed') THEN
		RAISE EXCEPTION 'invalid call status "%"', call ->> 'status'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A call is in_progress, completed, missed, voicemail or failed.';
	END IF;
	c := coalesce(call -> 'collected', '{}');
	IF jsonb_typeof(c) <> 'object' THEN
		RAISE EXCEPTION '"collected" must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT b.id INTO biz FROM nextphone.businesses b WHERE b.receiving_number = call ->> 'receiving_number';
	IF biz IS NULL THEN
		RAISE EXCEPTION 'no business has the receiving number "%"', call ->> 'receiving_number'
			USING ERRCODE = 'foreign_key_violation',
				  HINT = 'Add the business to nextphone.businesses first.';
	END IF;

	INSERT INTO nextphone.calls AS k
		(business_id, external_id, caller_number, receiving_number, started_at, ended_at,
		 status, summary, transcript, collected, callback_requested)
	VALUES
		(biz, call ->> 'external_id', call ->> 'caller_number', call ->> 'receiving_number',
		 started, ended,
		 coalesce(call ->> 'status', 'completed'), call ->> 'summary', call ->> 'transcript', c,
		 callback)
	ON CONFLICT (external_id) DO NOTHING
	RETURNING k.id INTO call_id;
	IF call_id IS NULL THEN
		-- recorded before: nothing more to do, nothing fires again
		SELECT k.id INTO call_id FROM nextphone.calls k WHERE k.external_id = call ->> 'external_id';
		RETURN call_id;
	END IF;

	-- a lead when there is someone to follow up
	IF c ?| ARRAY['first_name', 'last_name', 'name', 'email', 'phone'] OR callback THEN
		first := c ->> 'first_name';
		last := c ->> 'last_name';
		IF first IS NULL AND last IS NULL AND c ? 'name' THEN
			first := split_part(c ->> 'name', ' ', 1);
			last := nullif(substr(c ->> 'name', length(first) + 2), '');
		END IF;
		lead := jsonb_build_object('first_name', first, 'last_name', last,
			'phone', coalesce(c ->> 'phone', call ->> 'caller_number'), 'email', c ->> 'email',
			'company', coalesce(c ->> 'company', c ->> 'company_name'));
		-- a value too long for its column (what a caller said, as the AI
		-- heard it) must not lose the call: it is kept in extra instead
		SELECT coalesce(jsonb_object_agg(key, value), '{}') INTO moved
		  FROM jsonb_each_text(lead)
		 WHERE length(value) > CASE key WHEN 'phone' THEN 32 WHEN 'email' THEN 320 ELSE 200 END;
		lead := lead - ARRAY(SELECT jsonb_object_keys(moved));
		INSERT INTO nextphone.leads
			(business_id, call_id, first_name, last_name, phone, email, company, notes, extra)
		VALUES
			(biz, call_id, lead ->> 'first_name', lead ->> 'last_name', lead ->> 'phone',
			 lead ->> 'email', lead ->> 'company', coalesce(c ->> 'notes', c ->> 'message'),
			 (c - lead_keys) || moved);
	END IF;
	RETURN call_id;
END
$$;
COMMENT ON FUNCTION nextphone.record_call(jsonb) IS
  'Stores a finished call (caller_number, receiving_number, started_at, ended_at, status, summary, transcript, collected, callback_requested, external_id) and, when the collected parameters name someone to follow up, its lead; the same external_id twice stores one call';

-- A call or lead inserted directly names its business by receiving number or by call.
CREATE FUNCTION nextphone.fill_business()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME = 'calls' THEN
		SELECT b.id INTO NEW.business_id
		  FROM nextphone.businesses b WHERE b.receiving_number = NEW.receiving_number;
	ELSE
		SELECT k.business_id INTO NEW.business_id
		  FROM nextphone.calls k WHERE k.id = NEW.call_id;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION nextphone.fill_business() IS
  'Internal trigger: sets the business of a call from its receiving number, of a lead from its call';

CREATE TRIGGER fill_business BEFORE INSERT ON nextphone.calls
	FOR EACH ROW WHEN (NEW.business_id IS NULL)
	EXECUTE FUNCTION nextphone.fill_business();
CREATE TRIGGER fill_business BEFORE INSERT ON nextphone.leads
	FOR EACH ROW WHEN (NEW.business_id IS NULL AND NEW.call_id IS NOT NULL)
	EXECUTE FUNCTION nextphone.fill_business();

--
-- Enqueueing (src/enqueue.c, src/webhook_cache.c)
--

CREATE FUNCTION nextphone.cache_invalidate()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'cache_invalidate';
COMMENT ON FUNCTION nextphone.cache_invalidate() IS
  'Internal statement trigger: a change to webhooks or businesses makes every backend read them again';

CREATE TRIGGER cache_invalidate
	AFTER INSERT OR DELETE OR TRUNCATE ON nextphone.webhooks
	FOR EACH STATEMENT EXECUTE FUNCTION nextphone.cache_invalidate();
-- the worker's updates of the health columns leave the cache alone
-- (retry_schedule: its first entry delays a message's first attempt)
CREATE TRIGGER cache_invalidate_update
	AFTER UPDATE OF business_id, tool_name, http_method, url, headers, body_template,
		parameters, events, enabled, retry_schedule ON nextphone.webhooks
	FOR EACH STATEMENT EXECUTE FUNCTION nextphone.cache_invalidate();
CREATE TRIGGER cache_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nextphone.businesses
	FOR EACH STATEMENT EXECUTE FUNCTION nextphone.cache_invalidate();
-- Every session must hear of every change, also of one made in replica mode:
-- the delivery worker's (it disables webhooks) and logical replication's.
ALTER TABLE nextphone.webhooks ENABLE ALWAYS TRIGGER cache_invalidate;
ALTER TABLE nextphone.webhooks ENABLE ALWAYS TRIGGER cache_invalidate_update;
ALTER TABLE nextphone.businesses ENABLE ALWAYS TRIGGER cache_invalidate;

-- The trigger functions read webhooks and businesses directly (no SQL, no
-- privilege needed) and insert their outbox rows as the outbox's owner, so
-- an application role fires webhooks it may not read.  Everything else they
-- do (to_jsonb of a user's row, for one) runs as the user who fired them.
CREATE FUNCTION nextphone.outbox_prepare()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'outbox_prepare';
COMMENT ON FUNCTION nextphone.outbox_prepare() IS
  'Internal trigger: renders an outbox row that names a webhook, checks an ad-hoc one';

CREATE TRIGGER outbox_prepare BEFORE INSERT ON nextphone.outbox
	FOR EACH ROW EXECUTE FUNCTION nextphone.outbox_prepare();

CREATE FUNCTION nextphone.fire_lead_created()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'fire_lead_created';
COMMENT ON FUNCTION nextphone.fire_lead_created() IS
  'Internal trigger: an inserted lead queues every enabled webhook subscribed to lead.created';

CREATE TRIGGER lead_created AFTER INSERT ON nextphone.leads
	FOR EACH ROW EXECUTE FUNCTION nextphone.fire_lead_created();

CREATE FUNCTION nextphone.fire_call_completed()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'fire_call_completed';
COMMENT ON FUNCTION nextphone.fire_call_completed() IS
  'Internal trigger: a call reaching a final status queues every enabled webhook subscribed to call.completed';

CREATE TRIGGER call_completed AFTER INSERT ON nextphone.calls
	FOR EACH ROW WHEN (NEW.status <> 'in_progress')
	EXECUTE FUNCTION nextphone.fire_call_completed();
CREATE TRIGGER call_completed_update AFTER UPDATE OF status ON nextphone.calls
	FOR EACH ROW WHEN (OLD.status = 'in_progress' AND NEW.status <> 'in_progress')
	EXECUTE FUNCTION nextphone.fire_call_completed();

CREATE FUNCTION nextphone.webhook_trigger()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'webhook_trigger';
COMMENT ON FUNCTION nextphone.webhook_trigger() IS
  'Row trigger for your own tables: EXECUTE FUNCTION nextphone.webhook_trigger(''tool_name'') queues that webhook with the row (NEW, or OLD on DELETE) and the built-ins of the business it names (business_id or receiving_number column) as variables; fail-safe';

-- A message id is the receiver's idempotency key: it never changes.
CREATE FUNCTION nextphone.keep_msg_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.msg_id IS DISTINCT FROM OLD.msg_id THEN
		RAISE EXCEPTION 'cannot change the message id of an outbox row'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'The message id is sent as webhook-id on every attempt: receivers use it to drop duplicates.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION nextphone.keep_msg_id() IS
  'Internal trigger: refuses a change of an outbox row''s message id';

-- An AFTER trigger: a BEFORE row trigger on the outbox, even one that does
-- not fire, makes every update of a row lock and fetch it once more, and the
-- delivery worker updates each row twice (claim and outcome).
CREATE TRIGGER keep_msg_id AFTER UPDATE OF msg_id ON nextphone.outbox
	FOR EACH ROW EXECUTE FUNCTION nextphone.keep_msg_id();

CREATE FUNCTION nextphone.enqueue(tool_name text, vars jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
INSERT INTO nextphone.outbox (webhook, vars) VALUES (tool_name, vars) RETURNING id
$$;
COMMENT ON FUNCTION nextphone.enqueue(text, jsonb) IS
  'Queues one delivery of a webhook, rendered now with these variables (and its business''s built-ins); bad input raises an error and stores nothing';

-- Only the roles the owner grants may call the functions (see README).
-- record_call() and enqueue() run as the owner (SECURITY DEFINER), and the
-- event triggers queue as the owner: granting EXECUTE on record_call or
-- enqueue, or INSERT on calls, leads or outbox, lets a role queue
-- deliveries without reading webhooks or secrets.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA nextphone FROM PUBLIC;
-- the default of outbox.msg_id runs as whoever inserts
GRANT EXECUTE ON FUNCTION nextphone.new_message_id() TO PUBLIC;
