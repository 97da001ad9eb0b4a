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
ALTER TABLE nextphone.outbox ADD COLUMN queued boolean
  GENERATED ALWAYS AS (status IN ('pending', 'sending')) STORED;
COMMENT ON COLUMN nextphone.outbox.queued IS
  'Whether the row is still in the queue (pending or sending); kept by the server from status, for the indexes';
CREATE INDEX outbox_due ON nextphone.outbox (next_attempt_at) WHERE queued;
CREATE INDEX outbox_webhook ON nextphone.outbox (webhook_id, queued, next_attempt_at);

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
