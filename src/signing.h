/*-------------------------------------------------------------------------
 *
 * signing.h
 *	  Webhook signatures per the Standard Webhooks specification.
 *
 * A signing secret is "whsec_" followed by the base64 encoding of 24 to 64
 * random bytes (the HMAC key).  A delivery carries three headers:
 *
 *	  webhook-id:		 the outbox message id (sent signed or not)
 *	  webhook-timestamp: unix seconds at send time
 *	  webhook-signature: "v1," + base64(HMAC-SHA256(key, id "." ts "." body))
 *
 * While a rotated-out secret is still inside its grace period
 * (webhooks.previous_secret_until > now()), the delivery is signed with both
 * secrets and the header holds both signatures, separated by a space.  The
 * SQL function nextphone.signing_secrets(w nextphone.webhooks) returns the
 * secrets to use now (text[], current first); the worker's claim query
 * writes the same expression out.
 *
 * Sign at send time, once per attempt: webhook-timestamp is the attempt's
 * own time, and the signature covers exactly the body bytes passed to
 * libcurl (CURLOPT_POSTFIELDS/POSTFIELDSIZE).
 *
 * Everything here works outside a transaction (as the delivery worker needs
 * after it has committed its claim) and never raises an error for a bad
 * secret: the functions return false/NULL instead.  They do palloc (in
 * CurrentMemoryContext), so out-of-memory is still an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NEXTPHONE_SIGNING_H
#define NEXTPHONE_SIGNING_H

/* "whsec_" prefix of every signing secret */
#define SIGNING_SECRET_PREFIX		"whsec_"
#define SIGNING_SECRET_PREFIX_LEN	6

/* Bounds on the decoded key, in bytes, and the size generate_secret() uses */
#define SIGNING_KEY_MIN_LEN			24
#define SIGNING_KEY_MAX_LEN			64
#define SIGNING_KEY_DEFAULT_LEN		32

/* HMAC-SHA256 output, and one "v1,<base64>" signature (without a NUL) */
#define SIGNING_MAC_LEN				32
#define SIGNING_SIGNATURE_LEN		(3 + 44)

/* Most secrets a delivery is signed with (current and previous) */
#define SIGNING_MAX_SECRETS			2

/*
 * SigningDecodeSecret
 *		Decode a "whsec_..." secret into its key bytes.
 *
 * key must have room for SIGNING_KEY_MAX_LEN bytes.  Returns the key length,
 * or -1 when the secret is malformed, in which case *problem (if not NULL)
 * is set to a sentence saying why (static text, never the secret itself).
 */
extern int	SigningDecodeSecret(const char *secret, uint8 *key,
								const char **problem);

/*
 * SigningSignature
 *		Compute one "v1,<base64>" signature of msg_id "." timestamp "." body.
 *
 * body is the exact byte string that is sent (body_len bytes, may hold NUL).
 * out must have room for SIGNING_SIGNATURE_LEN + 1 bytes.  Returns false
 * (and writes nothing) when the secret is malformed or HMAC fails.
 */
extern bool SigningSignature(const char *secret, const char *msg_id,
							 int64 timestamp, const char *body,
							 size_t body_len, char *out);

/*
 * SigningHeaderValue
 *		The value of the webhook-signature header for one delivery.
 *
 * secrets holds nsecrets "whsec_..." strings: the webhook's signing_secret,
 * then its previous_secret when previous_secret_until is still in the
 * future; NULL entries are skipped.  Returns a palloc'd string of the
 * signatures separated by single spaces, or NULL when no usable secret was
 * given (all NULL or malformed).  The keys of the last eight secrets used
 * stay prepared, in memory of the process, until it exits or they are
 * pushed out: meant for the delivery worker, which signs with the same
 * secrets again and again.
 */
extern char *SigningHeaderValue(const char *const *secrets, int nsecrets,
								const char *msg_id, int64 timestamp,
								const char *body, size_t body_len);

/*
 * SigningVerify
 *		Check a webhook-signature header value against a secret.
 *
 * True when any space-separated "v1,..." signature in header equals the one
 * computed with secret; the comparison takes the same time whatever bytes
 * differ.  Does not check the timestamp's age (verify_signature() does).
 */
extern bool SigningVerify(const char *secret, const char *msg_id,
						  int64 timestamp, const char *body, size_t body_len,
						  const char *header);

#endif							/* NEXTPHONE_SIGNING_H */
