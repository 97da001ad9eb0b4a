-- nextphone: the data model.
--
-- This file is the first part of the current version's install script (the Makefile joins
-- sql/parts/*.sql in name order).  Every table is a regular, WAL-logged table:
-- nothing queued is ever lost to a crash.

\echo Use "CREATE EXTENSION nextphone" to load this file. \quit

-- Nothing the extension creates is readable by PUBLIC; the README shows the
-- GRANTs for an application role, a reporting role and the owner.
REVOKE ALL ON SCHEMA nextphone FROM PUBLIC;

COMMENT ON SCHEMA nextphone IS
  'nextphone: calls and leads of an AI phone receptionist, and their delivery to your own systems by webhooks';

-- E.164: a plus sign, a country code that does not start with 0, at most 15 digits.
CREATE DOMAIN nextphone.e164 AS text
  CHECK (VALUE ~ '^\+[1-9][0-9]{6,14}$');
COMMENT ON DOMAIN nextphone.e164 IS
  'A telephone number in E.164 form: "+", country code, subscriber number, 8 to 16 characters in all';

-- The outbox's methods and statuses are domains rather than table CHECKs:
-- a domain's check is prepared once per session, a table CHECK once per
-- statement, and the event path inserts one outbox row per statement.
CREATE DOMAIN nextphone.http_method AS text
  CHECK (VALUE IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE'));
COMMENT ON DOMAIN nextphone.http_method IS 'An HTTP method a delivery may use';
CREATE DOMAIN nextphone.delivery_status AS text
  CHECK (VALUE IN ('pending', 'sending', 'delivered', 'dead', 'cancelled'));
COMMENT ON DOMAIN nextphone.delivery_status IS
  'The status of an outbox row: pending, sending, delivered, dead or cancelled';

CREATE TABLE nextphone.businesses (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receiving_number nextphone.e164 NOT NULL UNIQUE,
    owner_name       text NOT NULL CHECK (length(owner_name) BETWEEN 1 AND 200),
    website          text CHECK (length(website) <= 2048),
    booking_url      text CHECK (length(booking_url) <= 2048),
    created_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nextphone.businesses IS
  'The businesses whose calls the receptionist answers; they supply the built-in template variables';
COMMENT ON COLUMN nextphone.businesses.receiving_number IS
  'The business number callers dial (E.164); template variable {{receiving_number}}';
COMMENT ON COLUMN nextphone.businesses.owner_name IS 'The business name; template variable {{owner_name}}';
COMMENT ON COLUMN nextphone.businesses.website IS 'Template variable {{website}}';
COMMENT ON COLUMN nextphone.businesses.booking_url IS 'Template variable {{booking_url}}';

CREATE TABLE nextphone.calls (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id        bigint REFERENCES nextphone.businesses (id),
    external_id        text UNIQUE CHECK (length(external_id) BETWEEN 1 AND 200),
    caller_number      nextphone.e164 NOT NULL,
    receiving_number   nextphone.e164 NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    ended_at           timestamptz CHECK (ended_at >= started_at),
    status             text NOT NULL DEFAULT 'completed'
                       CHECK (status IN ('in_progress', 'completed', 'missed', 'voicemail', 'failed')),
    summary            text,
    transcript         text,
    collected          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(collected) = 'object'),
    callback_requested boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_business_started ON nextphone.calls (business_id, started_at);
COMMENT ON TABLE nextphone.calls IS 'The call log: one row per call the receptionist answered';
COMMENT ON COLUMN nextphone.calls.external_id IS
  'The call''s id in the telephony system; recording a call with an id already stored does nothing';
COMMENT ON COLUMN nextphone.calls.status IS
  'in_progress, or a final status (completed, missed, voicemail, failed), which fires call.completed';
COMMENT ON COLUMN nextphone.calls.collected IS
  'The custom parameters the AI gathered during the call (a JSON object); template variables of their own names';

CREATE TABLE nextphone.leads (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id bigint REFERENCES nextphone.businesses (id),
    call_id     bigint REFERENCES nextphone.calls (id),
    first_name  text CHECK (length(first_name) <= 200),
    last_name   text CHECK (length(last_name) <= 200),
    phone       text CHECK (length(phone) <= 32),
    email       text CHECK (length(email) <= 320),
    company     text CHECK (length(company) <= 200),
    notes       text,
    source      text NOT NULL DEFAULT 'NextPhone AI',
    extra       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(extra) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_call ON nextphone.leads (call_id);
COMMENT ON TABLE nextphone.leads IS 'People to follow up, taken from calls or inserted directly; an insert fires lead.created';
COMMENT ON COLUMN nextphone.leads.extra IS 'Further fields of the lead (a JSON object); template variables of their own names';

CREATE TABLE nextphone.webhooks (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id           bigint REFERENCES nextphone.businesses (id),
    -- the guide's configuration
    type                  text NOT NULL DEFAULT 'http' CHECK (type = 'http'),
    tool_name             text NOT NULL UNIQUE CHECK (tool_name ~ '^[A-Za-z][A-Za-z0-9_.-]{0,99}$'),
    description           text,
    http_method           text NOT NULL DEFAULT 'POST'
                          CHECK (http_method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
    url                   text NOT NULL CHECK (length(url) <= 2048),
    headers               json NOT NULL DEFAULT '{}' CHECK (json_typeof(headers) = 'object'),
    body_template         text CHECK (length(body_template) <= 1048576),
    parameters            json NOT NULL DEFAULT '[]' CHECK (json_typeof(parameters) = 'array'),
    -- delivery policy
    events                text[] NOT NULL DEFAULT '{}'
                          CHECK (events <@ ARRAY['lead.created', 'call.completed']),
    enabled               boolean NOT NULL DEFAULT true,
    signing_secret        text CHECK (signing_secret ~ '^whsec_[A-Za-z0-9+/]{16,}={0,2}$'),
    previous_secret       text CHECK (previous_secret ~ '^whsec_[A-Za-z0-9+/]{16,}={0,2}$'),
    previous_secret_until timestamptz,
    timeout_ms            integer CHECK (timeout_ms BETWEEN 1 AND 600000),
    max_attempts          integer CHECK (max_attempts BETWEEN 1 AND 1000),
    retry_schedule        interval[],
    ordered               boolean NOT NULL DEFAULT false,
    rate_limit_per_second double precision CHECK (rate_limit_per_second > 0),
    -- health, kept by the delivery worker
    circuit_state         text NOT NULL DEFAULT 'closed' CHECK (circuit_state IN ('closed', 'open', 'half_open')),
    consecutive_failures  integer NOT NULL DEFAULT 0,
    circuit_opened_at     timestamptz,
    next_probe_at         timestamptz,
    failing_since         timestamptz,
    last_success_at       timestamptz,
    last_failure_at       timestamptz,
    disabled_reason       text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nextphone.webhooks IS
  'Webhook configurations, one row each, in the guide''s shape (create_webhook), with their delivery policy and health';
COMMENT ON COLUMN nextphone.webhooks.type IS
  'The guide''s configuration: type, tool_name, description, http_method, url, headers, body_template (the user''s exact text), parameters';
COMMENT ON COLUMN nextphone.webhooks.headers IS
  'Header templates as configured (json keeps the user''s order); {{secret.NAME}} tags are resolved by the worker at send time';
COMMENT ON COLUMN nextphone.webhooks.body_template IS
  'The JSON body template, the user''s exact text (key order and spacing included)';
COMMENT ON COLUMN nextphone.webhooks.parameters IS
  'The parameters the AI collects: [{"name", "type", "description", "required"}]; optional unless "required": true';
COMMENT ON COLUMN nextphone.webhooks.signing_secret IS
  'Standard Webhooks signing secret (whsec_ + base64), readable by the owner only; previous_secret stays valid until previous_secret_until';
COMMENT ON COLUMN nextphone.webhooks.events IS
  'Delivery policy: the events it fires on (lead.created, call.completed; none: only explicitly), enabled, signing secret, timeout, retries, ordering, rate limit';
COMMENT ON COLUMN nextphone.webhooks.circuit_state IS
  'Health, kept by the delivery worker: circuit state (closed, open, half_open), consecutive failures, last success and failure, why it was disabled';

CREATE FUNCTION nextphone.new_message_id()
RETURNS text
LANGUAGE c VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'new_message_id';
COMMENT ON FUNCTION nextphone.new_message_id() IS
  'A new message id: msg_, the time in milliseconds (12 hex digits), 80 random bits (20 hex digits)';

CREATE TABLE nextphone.outbox (
    id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    msg_id           text COLLATE "C" NOT NULL UNIQUE DEFAULT nextphone.new_message_id(),
    -- no foreign keys: a key check per queued row would cost more than the
    -- rendering (drop_webhook() clears webhook_id itself)
    webhook_id       bigint,
    webhook          text,
    business_id      bigint,
    event            text,
    vars             jsonb,
    -- the request, rendered when the row was inserted
    -- (outbox_prepare, the BEFORE INSERT trigger, checks them: headers is an
    -- object, a pending row has a method and a URL)
    method           nextphone.http_method,
    url              text,
    headers          jsonb,
    body             text,
    -- delivery state
    status           nextphone.delivery_status NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_status_code integer,
    last_error       text,
    last_response    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
-- (its indexes are made in the worker's part, with the column they use)
COMMENT ON TABLE nextphone.outbox IS
  'The delivery queue: one row per HTTP request to make, rendered when inserted, with its delivery status';
COMMENT ON COLUMN nextphone.outbox.msg_id IS
  'The message id (msg_...): sent as webhook-id on every attempt, the receiver''s idempotency key';
COMMENT ON COLUMN nextphone.outbox.webhook IS
  'Where it came from: the webhook (tool_name and id, or none for an ad-hoc request), business, event and variables';
COMMENT ON COLUMN nextphone.outbox.method IS
  'The request as rendered at insert: method, url, headers (secret.NAME tags left for the worker), body';
COMMENT ON COLUMN nextphone.outbox.status IS
  'pending (waiting for an attempt), sending (claimed by a worker until lease_until), delivered, dead (gave up; replayable), cancelled';

CREATE TABLE nextphone.attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id        bigint NOT NULL REFERENCES nextphone.outbox (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      double precision,
    status_code      integer,
    error            text,
    response_headers jsonb,
    response_body    text
);
CREATE INDEX attempts_outbox ON nextphone.attempts (outbox_id);
COMMENT ON TABLE nextphone.attempts IS
  'One row per HTTP attempt: when, how long, the status code or error, response headers and a capped response body';

CREATE TABLE nextphone.secrets (
    name       text PRIMARY KEY CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'),
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nextphone.secrets IS
  'Named secrets (API keys, bearer tokens), used in header templates as {{secret.NAME}} and resolved only by the worker at send time';

-- pg_dump keeps the user's own data.
SELECT pg_catalog.pg_extension_config_dump('nextphone.businesses', '');
SELECT pg_catalog.pg_extension_config_dump('nextphone.calls', '');
SELECT pg_catalog.pg_extension_config_dump('nextphone.leads', '');
SELECT pg_catalog.pg_extension_config_dump('nextphone.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('nextphone.secrets', '');
-- and the identity sequences of those tables, so that restored ids go on
SELECT pg_catalog.pg_extension_config_dump('nextphone.businesses_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('nextphone.calls_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('nextphone.leads_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('nextphone.webhooks_id_seq', '');
