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
ALTER TABLE nextphone.outbox ADD COLUMN queued boolean
  GENERATED ALWAYS AS (status IN ('pending', 'sending')) STORED;
COMMENT ON COLUMN nextphone.outbox.queued IS
  'Whether the row is still in the queue (pending or sending); kept by the server from status, for the indexes';
ALTER TABLE nextphone.outbox SET (fillfactor = 50);
CREATE INDEX outbox_due ON nextphone.outbox (next_attempt_at) WHERE queued;
CREATE INDEX outbox_webhook ON nextphone.outbox (webhook_id, queued, next_attempt_at);
