-- nextphone 0.2 -> 0.3
--
-- Every change made to sql/parts/ since 0.2 was released, in the same words
-- (test/t/050_upgrade.pl checks that an updated 0.2 and a fresh 0.3 are the
-- same).
\echo Use "ALTER EXTENSION nextphone UPDATE TO '0.3'" to load this file. \quit

-- The queue's indexes no longer name status, so that a claim is a HOT
-- update: outbox.queued (pending or sending) takes its place in them.
DROP INDEX nextphone.outbox_due;
DROP INDEX nextphone.outbox_leased;
DROP INDEX nextphone.outbox_webhook_status;
-- (the fillfactor first: adding the column rewrites the table with it)
ALTER TABLE nextphone.outbox SET (fillfactor = 50);
-- Autovacuum at 2% dead rows: VACUUM removes the entries that rows leaving
-- the queue leave in its indexes, where every claim starts reading
ALTER TABLE nextphone.outbox SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE nextphone.outbox ADD COLUMN queued boolean
  GENERATED ALWAYS AS (status IN ('pending', 'sending')) STORED;
COMMENT ON COLUMN nextphone.outbox.queued IS
  'Whether the row is still in the queue (pending or sending); kept by the server from status, for the indexes';
CREATE INDEX outbox_due ON nextphone.outbox (webhook_id, next_attempt_at) WHERE queued;
CREATE INDEX outbox_adhoc_due ON nextphone.outbox (next_attempt_at) WHERE queued AND webhook_id IS NULL;
CREATE INDEX outbox_webhook ON nextphone.outbox (webhook_id, queued, id, next_attempt_at);
-- No deduplication in the outbox's unique indexes: a delivery's last update
-- adds a version of each key, which bottom-up deletion removes more cheaply
-- (existing posting lists stay until the index is rebuilt)
ALTER INDEX nextphone.outbox_pkey SET (deduplicate_items = off);
ALTER INDEX nextphone.outbox_msg_id_key SET (deduplicate_items = off);

-- update_webhook: a rename that races another session to the same name gets
-- 42710 (duplicate_object), as a rename to a taken name does, not 23505
CREATE OR REPLACE FUNCTION nextphone.update_webhook(tool_name text, changes json)
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

-- The first entry of a retry schedule delays a message's first attempt, so
-- the enqueue path caches it: a change of retry_schedule must reach every
-- session's webhook cache.
DROP TRIGGER cache_invalidate_update ON nextphone.webhooks;
CREATE TRIGGER cache_invalidate_update
	AFTER UPDATE OF business_id, tool_name, http_method, url, headers, body_template,
		parameters, events, enabled, retry_schedule ON nextphone.webhooks
	FOR EACH STATEMENT EXECUTE FUNCTION nextphone.cache_invalidate();
ALTER TABLE nextphone.webhooks ENABLE ALWAYS TRIGGER cache_invalidate_update;

-- keep_msg_id is an AFTER trigger: a BEFORE row trigger on the outbox, even
-- one that does not fire, makes every update of a row lock and fetch it once
-- more, and the delivery worker updates each row twice.
CREATE OR REPLACE FUNCTION nextphone.keep_msg_id()
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
DROP TRIGGER keep_msg_id ON nextphone.outbox;
CREATE TRIGGER keep_msg_id AFTER UPDATE OF msg_id ON nextphone.outbox
	FOR EACH ROW EXECUTE FUNCTION nextphone.keep_msg_id();

-- outbox_wakeup() was created after the REVOKE from PUBLIC of every function,
-- and so was left executable by PUBLIC.
REVOKE ALL ON FUNCTION nextphone.outbox_wakeup() FROM PUBLIC;

-- nextphone: a comment on every column of its tables and views (\d+ shows
-- them), beside the group comments given with the tables.  Columns that have
-- a comment of their own where they are created are not repeated here.

COMMENT ON COLUMN nextphone.businesses.id IS 'The business''s id, referred to by calls, leads and webhooks';
COMMENT ON COLUMN nextphone.businesses.created_at IS 'When the row was inserted';

COMMENT ON COLUMN nextphone.calls.id IS 'The call''s id; template variable {{call_id}}';
COMMENT ON COLUMN nextphone.calls.business_id IS
  'The business answered, found by receiving_number when the call is recorded; template variable {{business_id}}';
COMMENT ON COLUMN nextphone.calls.caller_number IS 'Who called (E.164); template variable {{caller_number}}';
COMMENT ON COLUMN nextphone.calls.receiving_number IS 'The number dialled (E.164): the business''s receiving_number';
COMMENT ON COLUMN nextphone.calls.started_at IS 'When the call started; template variable {{started_at}}';
COMMENT ON COLUMN nextphone.calls.ended_at IS 'When the call ended (not before started_at); template variable {{ended_at}}';
COMMENT ON COLUMN nextphone.calls.summary IS 'The AI''s summary of the call; template variable {{summary}}';
COMMENT ON COLUMN nextphone.calls.transcript IS 'The call''s transcript; template variable {{transcript}}';
COMMENT ON COLUMN nextphone.calls.callback_requested IS
  'Whether the caller asked to be called back; template variable {{callback_requested}}';
COMMENT ON COLUMN nextphone.calls.created_at IS 'When the row was inserted';

COMMENT ON COLUMN nextphone.leads.id IS 'The lead''s id; template variable {{lead_id}}';
COMMENT ON COLUMN nextphone.leads.business_id IS 'The business the lead is for';
COMMENT ON COLUMN nextphone.leads.call_id IS 'The call the lead was taken from (NULL for a lead inserted directly)';
COMMENT ON COLUMN nextphone.leads.first_name IS
  'The lead as the AI collected it: first_name, last_name, phone, email, company, notes; template variables of the same names';
COMMENT ON COLUMN nextphone.leads.last_name IS 'Template variable {{last_name}}';
COMMENT ON COLUMN nextphone.leads.phone IS 'Template variable {{phone}}';
COMMENT ON COLUMN nextphone.leads.email IS 'Template variable {{email}}';
COMMENT ON COLUMN nextphone.leads.company IS 'Template variable {{company}}';
COMMENT ON COLUMN nextphone.leads.notes IS 'Template variable {{notes}}';
COMMENT ON COLUMN nextphone.leads.source IS 'Where the lead came from (default NextPhone AI); template variable {{source}}';
COMMENT ON COLUMN nextphone.leads.created_at IS 'When the row was inserted; template variable {{created_at}}';

COMMENT ON COLUMN nextphone.webhooks.id IS 'The webhook''s id, referred to by outbox.webhook_id';
COMMENT ON COLUMN nextphone.webhooks.business_id IS
  'Its business: it fires only for that business''s calls and leads, and renders its built-in variables (NULL: any business)';
COMMENT ON COLUMN nextphone.webhooks.tool_name IS 'The webhook''s unique name, used by enqueue() and the management functions';
COMMENT ON COLUMN nextphone.webhooks.description IS 'What the webhook is for (free text)';
COMMENT ON COLUMN nextphone.webhooks.http_method IS 'GET, POST, PUT, PATCH or DELETE';
COMMENT ON COLUMN nextphone.webhooks.url IS 'The URL template (http or https), rendered with URL escaping';
COMMENT ON COLUMN nextphone.webhooks.enabled IS
  'Whether its messages are sent; a disabled webhook''s messages wait (disabled_reason says why)';
COMMENT ON COLUMN nextphone.webhooks.previous_secret IS
  'The signing secret before the last rotate_secret(), also signed with until previous_secret_until';
COMMENT ON COLUMN nextphone.webhooks.previous_secret_until IS 'Until when previous_secret still signs';
COMMENT ON COLUMN nextphone.webhooks.timeout_ms IS
  'Time allowed for one attempt, in milliseconds (NULL: nextphone.default_timeout)';
COMMENT ON COLUMN nextphone.webhooks.max_attempts IS
  'Attempts before a message is dead (NULL: the length of the retry schedule)';
COMMENT ON COLUMN nextphone.webhooks.retry_schedule IS
  'Entry k is the wait before attempt k + 1, with 20% jitter (NULL: nextphone.retry_schedule)';
COMMENT ON COLUMN nextphone.webhooks.ordered IS
  'First in, first out: at most one message in flight, and a failing one holds back the rest';
COMMENT ON COLUMN nextphone.webhooks.rate_limit_per_second IS 'At most this many requests a second (NULL: no limit)';
COMMENT ON COLUMN nextphone.webhooks.consecutive_failures IS 'Failed attempts since the last success';
COMMENT ON COLUMN nextphone.webhooks.circuit_opened_at IS 'When the circuit opened (NULL while closed)';
COMMENT ON COLUMN nextphone.webhooks.next_probe_at IS 'When an open circuit lets its next probe request go';
COMMENT ON COLUMN nextphone.webhooks.failing_since IS
  'The first failure since the last success; failing for nextphone.disable_after disables the webhook';
COMMENT ON COLUMN nextphone.webhooks.last_success_at IS 'When an attempt last succeeded';
COMMENT ON COLUMN nextphone.webhooks.last_failure_at IS 'When an attempt last failed';
COMMENT ON COLUMN nextphone.webhooks.disabled_reason IS
  'Why the webhook was disabled (410 Gone, failing too long), NULL when its owner disabled it';
COMMENT ON COLUMN nextphone.webhooks.created_at IS 'When the webhook was created';
COMMENT ON COLUMN nextphone.webhooks.updated_at IS 'When its configuration or health last changed';

COMMENT ON COLUMN nextphone.outbox.id IS 'The message''s id, as cancel(), retry() and attempts.outbox_id know it';
COMMENT ON COLUMN nextphone.outbox.webhook_id IS
  'The webhook it was rendered from (NULL for an ad-hoc request, or once the webhook was dropped)';
COMMENT ON COLUMN nextphone.outbox.business_id IS 'The business whose built-in variables were rendered';
COMMENT ON COLUMN nextphone.outbox.event IS 'The event that queued it (lead.created, call.completed), NULL if queued explicitly';
COMMENT ON COLUMN nextphone.outbox.vars IS 'The variables it was rendered with';
COMMENT ON COLUMN nextphone.outbox.url IS 'The URL to send to (http or https)';
COMMENT ON COLUMN nextphone.outbox.headers IS 'The request headers, a JSON object; {{secret.NAME}} tags are resolved when sent';
COMMENT ON COLUMN nextphone.outbox.body IS 'The request body, as sent';
COMMENT ON COLUMN nextphone.outbox.attempts IS 'Attempts made so far (each has a row in attempts)';
COMMENT ON COLUMN nextphone.outbox.next_attempt_at IS 'When the next attempt is due (for a pending row)';
COMMENT ON COLUMN nextphone.outbox.lease_until IS
  'Until when the worker holding a sending row may record its outcome; an expired lease is taken back';
COMMENT ON COLUMN nextphone.outbox.last_status_code IS 'The HTTP status of the last attempt (NULL if none came)';
COMMENT ON COLUMN nextphone.outbox.last_error IS 'Why the last attempt failed (NULL if it succeeded)';
COMMENT ON COLUMN nextphone.outbox.last_response IS 'The start of the last response body (1,000 characters at most)';
COMMENT ON COLUMN nextphone.outbox.created_at IS 'When the message was queued';
COMMENT ON COLUMN nextphone.outbox.delivered_at IS
  'When it was delivered; nextphone.retention after this, the worker deletes it and its attempts';

COMMENT ON COLUMN nextphone.attempts.id IS 'The attempt''s id';
COMMENT ON COLUMN nextphone.attempts.outbox_id IS 'The message (outbox.id) the attempt sent';
COMMENT ON COLUMN nextphone.attempts.attempt IS 'Which attempt of the message it was, from 1';
COMMENT ON COLUMN nextphone.attempts.started_at IS 'When the request was started';
COMMENT ON COLUMN nextphone.attempts.duration_ms IS 'How long it took until the answer or the error, in milliseconds';
COMMENT ON COLUMN nextphone.attempts.status_code IS 'The HTTP status of the answer (NULL if none came)';
COMMENT ON COLUMN nextphone.attempts.error IS
  'Why the attempt failed: the status, a timeout, a refused connection, the SSRF guard (NULL if it succeeded)';
COMMENT ON COLUMN nextphone.attempts.response_headers IS 'The response''s headers, a JSON object';
COMMENT ON COLUMN nextphone.attempts.response_body IS
  'The response body, at most nextphone.max_response_size bytes of it';

COMMENT ON COLUMN nextphone.secrets.name IS 'The secret''s name, used in header templates as {{secret.NAME}}';
COMMENT ON COLUMN nextphone.secrets.value IS 'The secret itself; only the owner and the delivery worker read it';
COMMENT ON COLUMN nextphone.secrets.created_at IS 'When the secret was set first';
COMMENT ON COLUMN nextphone.secrets.updated_at IS 'When the secret was last set';

COMMENT ON COLUMN nextphone.message_status.id IS 'The message''s id (outbox.id)';
COMMENT ON COLUMN nextphone.message_status.msg_id IS 'The message id sent as webhook-id';
COMMENT ON COLUMN nextphone.message_status.webhook IS 'The webhook it came from (NULL for an ad-hoc request)';
COMMENT ON COLUMN nextphone.message_status.event IS 'The event that queued it, NULL if queued explicitly';
COMMENT ON COLUMN nextphone.message_status.method IS 'The HTTP method';
COMMENT ON COLUMN nextphone.message_status.status IS 'pending, sending, delivered, dead or cancelled';
COMMENT ON COLUMN nextphone.message_status.attempts IS 'Attempts made so far';
COMMENT ON COLUMN nextphone.message_status.next_attempt_at IS 'When the next attempt is due (for a pending message)';
COMMENT ON COLUMN nextphone.message_status.last_status_code IS 'The HTTP status of the last attempt';
COMMENT ON COLUMN nextphone.message_status.last_error IS 'Why the last attempt failed';
COMMENT ON COLUMN nextphone.message_status.created_at IS 'When the message was queued';
COMMENT ON COLUMN nextphone.message_status.delivered_at IS 'When it was delivered';

COMMENT ON COLUMN nextphone.webhook_health.webhook_id IS 'The webhook''s id';
COMMENT ON COLUMN nextphone.webhook_health.tool_name IS 'The webhook''s name';
COMMENT ON COLUMN nextphone.webhook_health.enabled IS 'Whether its messages are sent';
COMMENT ON COLUMN nextphone.webhook_health.disabled_reason IS 'Why it was disabled, if the worker disabled it';
COMMENT ON COLUMN nextphone.webhook_health.circuit_state IS 'closed, open (messages wait for a probe) or half_open';
COMMENT ON COLUMN nextphone.webhook_health.consecutive_failures IS 'Failed attempts since the last success';
COMMENT ON COLUMN nextphone.webhook_health.circuit_opened_at IS 'When the circuit opened';
COMMENT ON COLUMN nextphone.webhook_health.next_probe_at IS 'When an open circuit lets its next probe go';
COMMENT ON COLUMN nextphone.webhook_health.failing_since IS 'The first failure since the last success';
COMMENT ON COLUMN nextphone.webhook_health.last_success_at IS 'When an attempt last succeeded';
COMMENT ON COLUMN nextphone.webhook_health.last_failure_at IS 'When an attempt last failed';
COMMENT ON COLUMN nextphone.webhook_health.queued IS 'Its messages pending now';
COMMENT ON COLUMN nextphone.webhook_health.sending IS 'Its messages being sent now';
COMMENT ON COLUMN nextphone.webhook_health.delivered IS 'Its delivered messages not yet purged (nextphone.retention)';
COMMENT ON COLUMN nextphone.webhook_health.dead IS 'Its dead messages (retry_dead() sends them again)';
COMMENT ON COLUMN nextphone.webhook_health.attempts_24h IS 'Attempts started in the last 24 hours';
COMMENT ON COLUMN nextphone.webhook_health.success_rate_24h IS
  'The share of those attempts answered with a 2xx status, from 0 to 1';
COMMENT ON COLUMN nextphone.webhook_health.latency_p50_ms IS 'The median duration of those attempts, in milliseconds';
COMMENT ON COLUMN nextphone.webhook_health.latency_p95_ms IS
  'The 95th percentile of their duration, in milliseconds';
COMMENT ON COLUMN nextphone.webhook_health.last_error IS 'The last error recorded on one of its messages';

-- retry() refuses a message whose webhook was dropped: sent again without
-- it, it would go out unsigned, as an ad-hoc request.
CREATE OR REPLACE FUNCTION nextphone.retry(id bigint) RETURNS void
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

-- record_call() checks each value itself, so that an error names its key,
-- and keeps a collected value too long for its lead column in extra rather
-- than losing the call.
CREATE OR REPLACE FUNCTION nextphone.record_call(call jsonb)
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

-- The configuration checks: an integer field given another type says it
-- must be a number; a NUL character, a body template that is a number or a
-- boolean, and a rate limit too small for double precision get errors of
-- their own; the headers reserved are those of an ad-hoc request.
CREATE OR REPLACE FUNCTION nextphone.config_expect(config json, key text, expected text)
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

CREATE OR REPLACE FUNCTION nextphone.webhook_from_config(config json, business bigint)
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
