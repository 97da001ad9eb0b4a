-- Signed deliveries (Standard Webhooks): secrets, signatures, verification
-- and rotation.  The specification's own test vector is checked against the
-- shared file by test/t/040_signing_vector.pl.

-- A secret is "whsec_" and the base64 of 32 random bytes; no two alike.
SELECT s ~ '^whsec_[A-Za-z0-9+/]{43}=$' AS well_formed,
       length(decode(substr(s, 7), 'base64')) AS key_bytes
  FROM nextphone.generate_secret() AS s;
SELECT count(DISTINCT nextphone.generate_secret()) AS distinct_secrets
  FROM generate_series(1, 100);

-- A fixed secret and message for the rest of this file.
\set secret '''whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'''
\set other '''whsec_9Jw6cW2FbUq0BDXwnIwGNwt4Fd4KUl2Y'''
\set payload '''{"first_name": "John", "budget": 5000}'''

-- The signature is "v1," and the base64 HMAC-SHA256 of "id.timestamp.body".
SELECT nextphone.sign_payload(:secret, 'msg_1', 1700000000, :payload);
-- Each of the three inputs is covered.
SELECT nextphone.sign_payload(:secret, 'msg_2', 1700000000, :payload) AS other_id,
       nextphone.sign_payload(:secret, 'msg_1', 1700000001, :payload) AS other_ts,
       nextphone.sign_payload(:secret, 'msg_1', 1700000000, :payload || ' ') AS other_body;

-- It is the HMAC-SHA256 of RFC 2104, as pgcrypto computes it, for every key
-- length a secret may have (24 to 64 bytes), with 21 secrets used three
-- times each, in turn and in a row.
CREATE EXTENSION pgcrypto;
SELECT pass, count(*) AS signatures,
       count(*) FILTER (WHERE sig = 'v1,' || encode(hmac(convert_to(msg, 'UTF8'), key, 'sha256'), 'base64')) AS matching
  FROM (SELECT pass, key, msg,
               nextphone.sign_payload('whsec_' || replace(encode(key, 'base64'), E'\n', ''),
                                      'msg_' || r, 1700000000 + r, :payload) AS sig
          FROM (SELECT pass, key, r, 'msg_' || r || '.' || (1700000000 + r) || '.' || :payload AS msg
                  FROM (SELECT n, substring(sha512(n::text::bytea) FROM 1 FOR n) AS key
                          FROM generate_series(24, 64, 2) n) k,
                       generate_series(1, 3) r,
                       (VALUES ('in turn'), ('in a row')) p(pass)
                 ORDER BY pass DESC, CASE WHEN pass = 'in turn' THEN r * 100 + n ELSE n * 100 + r END) ordered) s
 GROUP BY pass ORDER BY pass DESC;
DROP EXTENSION pgcrypto;

-- verify_signature() takes the headers as a receiver got them (a jsonb
-- object), signed now.
SELECT extract(epoch FROM now())::bigint AS now_ts \gset
CREATE TEMP TABLE delivery AS
SELECT jsonb_build_object(
         'webhook-id', 'msg_1',
         'webhook-timestamp', :now_ts::text,
         'webhook-signature', nextphone.sign_payload(:secret, 'msg_1', :now_ts, :payload)) AS headers,
       :payload::text AS body;

SELECT nextphone.verify_signature(:secret, headers, body) AS genuine FROM delivery;
-- Header names are matched without regard to case, as HTTP does.
SELECT nextphone.verify_signature(:secret,
         jsonb_build_object('Webhook-Id', headers->'webhook-id',
                            'WEBHOOK-TIMESTAMP', headers->'webhook-timestamp',
                            'Webhook-Signature', headers->'webhook-signature'), body) AS mixed_case
  FROM delivery;

-- A tampered body, a wrong secret, another message id: rejected.
SELECT nextphone.verify_signature(:secret, headers, replace(body, '5000', '50000')) AS tampered_body,
       nextphone.verify_signature(:other, headers, body) AS wrong_secret,
       nextphone.verify_signature(:secret, headers || '{"webhook-id": "msg_2"}', body) AS other_id
  FROM delivery;

-- A timestamp moved by the receiver: the signature no longer matches.
SELECT nextphone.verify_signature(:secret,
         headers || jsonb_build_object('webhook-timestamp', (:now_ts + 1)::text), body) AS moved_timestamp
  FROM delivery;

-- Timestamps older or newer than the tolerance are rejected even when
-- correctly signed (a replayed or pre-dated message).
SELECT offset_s,
       nextphone.verify_signature(:secret,
         jsonb_build_object('webhook-id', 'msg_1',
                            'webhook-timestamp', (:now_ts + offset_s)::text,
                            'webhook-signature',
                            nextphone.sign_payload(:secret, 'msg_1', :now_ts + offset_s, :payload)),
         :payload) AS default_5_minutes,
       nextphone.verify_signature(:secret,
         jsonb_build_object('webhook-id', 'msg_1',
                            'webhook-timestamp', (:now_ts + offset_s)::text,
                            'webhook-signature',
                            nextphone.sign_payload(:secret, 'msg_1', :now_ts + offset_s, :payload)),
         :payload, '1 hour') AS one_hour
  FROM unnest(ARRAY[-7200, -400, -240, 240, 400, 7200]) AS offset_s;

-- Several space-separated signatures (a rotation in progress): any one
-- genuine v1 signature is enough; other versions are ignored.
SELECT nextphone.verify_signature(:secret,
         headers || jsonb_build_object('webhook-signature',
           nextphone.sign_payload(:other, 'msg_1', :now_ts, :payload) || ' ' || (headers->>'webhook-signature')),
         body) AS second_of_two,
       nextphone.verify_signature(:other,
         headers || jsonb_build_object('webhook-signature',
           nextphone.sign_payload(:other, 'msg_1', :now_ts, :payload) || ' ' || (headers->>'webhook-signature')),
         body) AS first_of_two,
       nextphone.verify_signature(:secret,
         headers || jsonb_build_object('webhook-signature',
           replace(headers->>'webhook-signature', 'v1,', 'v2,')),
         body) AS only_v2
  FROM delivery;

-- Missing or malformed headers: false, never an error.
SELECT nextphone.verify_signature(:secret, headers - 'webhook-id', body) AS no_id,
       nextphone.verify_signature(:secret, headers - 'webhook-signature', body) AS no_signature,
       nextphone.verify_signature(:secret, headers || '{"webhook-timestamp": "soon"}', body) AS bad_timestamp,
       nextphone.verify_signature(:secret, headers || '{"webhook-timestamp": -1}', body) AS number_timestamp,
       nextphone.verify_signature(:secret, headers || '{"webhook-signature": "v1,"}', body) AS empty_signature,
       nextphone.verify_signature(:secret, '[]', body) AS not_an_object
  FROM delivery;

-- A malformed secret or tolerance is the caller's mistake: an error, which
-- never repeats the secret.
SELECT nextphone.sign_payload('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_1', 1, 'x');
SELECT nextphone.sign_payload('whsec_c2hvcnQ=', 'msg_1', 1, 'x');
SELECT nextphone.sign_payload('whsec_not base64!', 'msg_1', 1, 'x');
SELECT nextphone.sign_payload('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS', 'msg_1', 1, 'x');
SELECT nextphone.verify_signature(:secret, headers, body, '-1 minute') FROM delivery;
SELECT nextphone.verify_signature(:secret, headers, body, '1 month') FROM delivery;

-- Webhooks keep only well-formed secrets, refused without echoing them.
INSERT INTO nextphone.webhooks (tool_name, url, signing_secret)
VALUES ('signingTest', 'https://crm.example.com/hook', 'whsec_tooShort');
INSERT INTO nextphone.webhooks (tool_name, url, signing_secret)
VALUES ('signingTest', 'https://crm.example.com/hook', :secret);

-- Rotation: a new secret is returned and stored; the old one keeps signing
-- until the grace period ends.
SELECT nextphone.rotate_secret('signingTest') AS new_secret \gset
SELECT signing_secret = :'new_secret' AS stored,
       previous_secret = :secret AS previous_kept,
       previous_secret_until - now() BETWEEN '23:59' AND '24:00' AS grace_24_hours
  FROM nextphone.webhooks WHERE tool_name = 'signingTest';
SELECT nextphone.signing_secrets(w) = ARRAY[:'new_secret', :secret] AS signs_with_both
  FROM nextphone.webhooks w WHERE tool_name = 'signingTest';

-- A receiver that still has only the old secret accepts the doubly signed
-- delivery, and so does one that has the new secret.
SELECT nextphone.verify_signature(:secret, h, :payload) AS old_secret_accepts,
       nextphone.verify_signature(:'new_secret', h, :payload) AS new_secret_accepts
  FROM (SELECT jsonb_build_object('webhook-id', 'msg_9', 'webhook-timestamp', :now_ts::text,
                 'webhook-signature', string_agg(nextphone.sign_payload(s, 'msg_9', :now_ts, :payload), ' '))
          FROM nextphone.webhooks w, unnest(nextphone.signing_secrets(w)) AS s
         WHERE tool_name = 'signingTest') AS d(h);

-- Once the grace period is over, only the new secret signs, and
-- drop_expired_secrets() forgets the old one.
UPDATE nextphone.webhooks SET previous_secret_until = now() - interval '1 second'
 WHERE tool_name = 'signingTest';
SELECT nextphone.signing_secrets(w) = ARRAY[:'new_secret'] AS signs_with_new_only
  FROM nextphone.webhooks w WHERE tool_name = 'signingTest';
SELECT nextphone.drop_expired_secrets() AS dropped;
SELECT previous_secret IS NULL AND previous_secret_until IS NULL AS forgotten
  FROM nextphone.webhooks WHERE tool_name = 'signingTest';

-- No grace period: the old secret is dropped at once.
SELECT nextphone.rotate_secret('signingTest', '0') <> :'new_secret' AS rotated;
SELECT previous_secret IS NULL AS no_previous, cardinality(nextphone.signing_secrets(w)) AS secrets
  FROM nextphone.webhooks w WHERE tool_name = 'signingTest';

-- Errors: an unknown webhook, a negative grace period.
SELECT nextphone.rotate_secret('noSuchWebhook');
SELECT nextphone.rotate_secret('signingTest', '-1 hour');

DELETE FROM nextphone.webhooks WHERE tool_name = 'signingTest';
DROP TABLE delivery;
