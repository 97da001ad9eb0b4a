
-- nextphone: signatures (Standard Webhooks) and the network guard.

-- Signatures ---------------------------------------------------------------

CREATE FUNCTION nextphone.generate_secret() RETURNS text
  AS 'MODULE_PATHNAME', 'nextphone_generate_secret'
  LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.generate_secret() IS
  'A new signing secret: "whsec_" and the base64 of 32 random bytes from the operating system';

CREATE FUNCTION nextphone.sign_payload(secret text, msg_id text, ts bigint, payload text) RETURNS text
  AS 'MODULE_PATHNAME', 'nextphone_sign_payload'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.sign_payload(text, text, bigint, text) IS
  'The Standard Webhooks signature "v1,<base64>" of msg_id.ts.payload with a whsec_ secret, as sent in webhook-signature';

CREATE FUNCTION nextphone.verify_signature(secret text, headers jsonb, payload text,
                                           tolerance interval DEFAULT '5 minutes') RETURNS boolean
  AS 'MODULE_PATHNAME', 'nextphone_verify_signature'
  LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.verify_signature(text, jsonb, text, interval) IS
  'For receivers: true when headers (webhook-id, webhook-timestamp within tolerance of now either way, webhook-signature) sign payload with secret';

CREATE FUNCTION nextphone.check_signing_secret(secret text) RETURNS void
  AS 'MODULE_PATHNAME', 'nextphone_check_signing_secret'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.check_signing_secret(text) IS
  'Raises an error (without repeating the secret) unless secret is "whsec_" and the base64 of 24 to 64 bytes';

-- A malformed secret is refused with an error that does not repeat it, so
-- it cannot reach the server log through a constraint violation message.
CREATE FUNCTION nextphone.webhooks_check_secrets() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NEW.signing_secret IS NOT NULL THEN
    PERFORM nextphone.check_signing_secret(NEW.signing_secret);
  END IF;
  IF NEW.previous_secret IS NOT NULL THEN
    PERFORM nextphone.check_signing_secret(NEW.previous_secret);
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION nextphone.webhooks_check_secrets() IS
  'Trigger on webhooks: signing_secret and previous_secret must be well-formed whsec_ secrets';

CREATE TRIGGER webhooks_check_secrets
  BEFORE INSERT OR UPDATE OF signing_secret, previous_secret ON nextphone.webhooks
  FOR EACH ROW EXECUTE FUNCTION nextphone.webhooks_check_secrets();

CREATE FUNCTION nextphone.rotate_secret(tool_name text, grace interval DEFAULT '24 hours')
  RETURNS text
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  new_secret text := nextphone.generate_secret();
  found_id bigint;
BEGIN
  IF grace < interval '0' THEN
    RAISE EXCEPTION 'grace period must not be negative'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE nextphone.webhooks w
     SET previous_secret = CASE WHEN grace > interval '0' THEN w.signing_secret END,
         previous_secret_until = CASE WHEN grace > interval '0' AND w.signing_secret IS NOT NULL
                                      THEN now() + grace END,
         signing_secret = new_secret,
         updated_at = now()
   WHERE w.tool_name = rotate_secret.tool_name
  RETURNING w.id INTO found_id;
  IF found_id IS NULL THEN
    RAISE EXCEPTION 'webhook "%" does not exist', rotate_secret.tool_name
      USING ERRCODE = 'undefined_object';
  END IF;
  RETURN new_secret;
END
$$;
COMMENT ON FUNCTION nextphone.rotate_secret(text, interval) IS
  'Gives the webhook a new signing secret and returns it; the old one keeps signing too (two signatures) for the grace period';

-- (the worker's claim, in src/queue.c, writes this expression out)
CREATE FUNCTION nextphone.signing_secrets(w nextphone.webhooks) RETURNS text[]
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT array_remove(ARRAY[w.signing_secret,
                            CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END],
                      NULL)
$$;
COMMENT ON FUNCTION nextphone.signing_secrets(nextphone.webhooks) IS
  'The secrets a delivery of this webhook is signed with now: the current one, and the previous one during its grace period';

CREATE FUNCTION nextphone.drop_expired_secrets() RETURNS integer
  LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH dropped AS (
    UPDATE nextphone.webhooks
       SET previous_secret = NULL, previous_secret_until = NULL
     WHERE previous_secret IS NOT NULL
       AND (previous_secret_until IS NULL OR previous_secret_until <= now())
    RETURNING 1)
  SELECT count(*)::integer FROM dropped
$$;
COMMENT ON FUNCTION nextphone.drop_expired_secrets() IS
  'Forgets rotated-out secrets whose grace period is over; returns how many';

-- The network guard -------------------------------------------------------

CREATE FUNCTION nextphone.address_allowed(addr inet) RETURNS boolean
  AS 'MODULE_PATHNAME', 'nextphone_address_allowed'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.address_allowed(inet) IS
  'Whether a delivery may connect to this address (its netmask is ignored), under the current nextphone.allowed_networks';

CREATE FUNCTION nextphone.address_refusal(addr inet) RETURNS text
  AS 'MODULE_PATHNAME', 'nextphone_address_refusal'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.address_refusal(inet) IS
  'Why a delivery may not connect to this address (e.g. "loopback address (127.0.0.0/8)"), or NULL when it may';

CREATE FUNCTION nextphone.check_url(url text) RETURNS text
  AS 'MODULE_PATHNAME', 'nextphone_check_url'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.check_url(text) IS
  'The URL as deliveries will use it (normalised by libcurl), or an error: only http(s), no credentials, a valid host, an allowed address, https if required';

CREATE FUNCTION nextphone.url_host_addresses(url text) RETURNS inet[]
  AS 'MODULE_PATHNAME', 'nextphone_url_host_addresses'
  LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.url_host_addresses(text) IS
  'The addresses the host of an http(s) URL resolves to (numeric forms included), in resolver order';

CREATE FUNCTION nextphone.url_addresses(url text,
                                        OUT address inet, OUT allowed boolean, OUT refusal text)
  RETURNS SETOF record
  LANGUAGE sql VOLATILE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT DISTINCT a, nextphone.address_allowed(a), nextphone.address_refusal(a)
    FROM unnest(nextphone.url_host_addresses(url)) AS a
   ORDER BY 1
$$;
COMMENT ON FUNCTION nextphone.url_addresses(text) IS
  'Where a URL leads: each address its host resolves to, and whether the delivery worker would connect to it';

-- URLs are checked with libcurl's parser when a webhook is configured and
-- when a delivery is queued (after outbox_prepare has rendered it: BEFORE
-- triggers fire in name order).
CREATE FUNCTION nextphone.url_check_trigger() RETURNS trigger
  AS 'MODULE_PATHNAME', 'nextphone_url_check_trigger'
  LANGUAGE C;
COMMENT ON FUNCTION nextphone.url_check_trigger() IS
  'Trigger on webhooks and outbox: the url must pass check_url(); an outbox row queued by an event is stored as dead instead of failing';

CREATE TRIGGER webhooks_url_check
  BEFORE INSERT OR UPDATE OF url ON nextphone.webhooks
  FOR EACH ROW EXECUTE FUNCTION nextphone.url_check_trigger();
CREATE TRIGGER outbox_url_check
  BEFORE INSERT ON nextphone.outbox
  FOR EACH ROW EXECUTE FUNCTION nextphone.url_check_trigger();

-- As for the rest of the extension, only the roles the owner grants may
-- call these functions (resolving names with url_addresses() included).
REVOKE ALL ON FUNCTION
  nextphone.generate_secret(), nextphone.sign_payload(text, text, bigint, text),
  nextphone.verify_signature(text, jsonb, text, interval), nextphone.check_signing_secret(text),
  nextphone.webhooks_check_secrets(), nextphone.rotate_secret(text, interval),
  nextphone.signing_secrets(nextphone.webhooks), nextphone.drop_expired_secrets(),
  nextphone.address_allowed(inet), nextphone.address_refusal(inet), nextphone.check_url(text),
  nextphone.url_host_addresses(text), nextphone.url_addresses(text),
  nextphone.url_check_trigger()
FROM PUBLIC;
