/*-------------------------------------------------------------------------
 *
 * signing.c
 *	  Webhook signatures per the Standard Webhooks specification, and the
 *	  SQL functions around them (generate_secret, sign_payload,
 *	  verify_signature, check_signing_secret).
 *
 * HMAC-SHA256 and base64 come from PostgreSQL's own common library, so
 * nothing here links a crypto library directly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "common/base64.h"
#include "common/cryptohash.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#if PG_VERSION_NUM >= 140000
#include "common/hmac.h"
#else
#include "common/sha2.h"
#endif

#include "signing.h"

PG_FUNCTION_INFO_V1(nextphone_generate_secret);
PG_FUNCTION_INFO_V1(nextphone_sign_payload);
PG_FUNCTION_INFO_V1(nextphone_verify_signature);
PG_FUNCTION_INFO_V1(nextphone_check_signing_secret);

/*
 * SigningDecodeSecret
 *		Decode a "whsec_..." secret into its key bytes.
 */
int
SigningDecodeSecret(const char *secret, uint8 *key, const char **problem)
{
	const char *b64;
	int			b64len;
	char		buf[SIGNING_KEY_MAX_LEN + 3];
	int			keylen;

	if (strncmp(secret, SIGNING_SECRET_PREFIX, SIGNING_SECRET_PREFIX_LEN) != 0)
	{
		if (problem)
			*problem = "A signing secret starts with \"whsec_\".";
		return -1;
	}
	b64 = secret + SIGNING_SECRET_PREFIX_LEN;
	b64len = strlen(b64);

	/* pg_b64_decode() skips white space: allow none */
	for (int i = 0; i < b64len; i++)
	{
		char		c = b64[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
		{
			if (problem)
				*problem = "After \"whsec_\", a signing secret holds only base64 characters.";
			return -1;
		}
	}

	if (b64len % 4 != 0 || pg_b64_dec_len(b64len) > (int) sizeof(buf))
		keylen = -1;
	else
		keylen = pg_b64_decode(b64, b64len, buf, sizeof(buf));

	if (keylen < 0)
	{
		if (problem)
			*problem = "After \"whsec_\", a signing secret is valid padded base64.";
		return -1;
	}
	if (keylen < SIGNING_KEY_MIN_LEN || keylen > SIGNING_KEY_MAX_LEN)
	{
		if (problem)
			*problem = "A signing secret encodes a key of 24 to 64 bytes.";
		return -1;
	}

	memcpy(key, buf, keylen);
	explicit_bzero(buf, sizeof(buf));
	return keylen;
}

#if PG_VERSION_NUM >= 140000

/*
 * hmac_sha256
 *		HMAC-SHA256 of the three parts "id" "." "ts" "." "body".
 *
 * PostgreSQL's HMAC registers itself with the current resource owner when
 * built with OpenSSL; the delivery worker calls this outside any
 * transaction, so lend it a short-lived resource owner then.
 */
static bool
hmac_sha256(const uint8 *key, int keylen, const char *msg_id,
			const char *ts, const char *body, size_t body_len,
			uint8 *mac)
{
	ResourceOwner saved = CurrentResourceOwner;
	ResourceOwner owner = NULL;
	pg_hmac_ctx *ctx;
	bool		ok;

	if (CurrentResourceOwner == NULL)
	{
		owner = ResourceOwnerCreate(NULL, "nextphone signing");
		CurrentResourceOwner = owner;
	}

	ctx = pg_hmac_create(PG_SHA256);
	ok = (ctx != NULL &&
		  pg_hmac_init(ctx, key, keylen) == 0 &&
		  pg_hmac_update(ctx, (const uint8 *) msg_id, strlen(msg_id)) == 0 &&
		  pg_hmac_update(ctx, (const uint8 *) ".", 1) == 0 &&
		  pg_hmac_update(ctx, (const uint8 *) ts, strlen(ts)) == 0 &&
		  pg_hmac_update(ctx, (const uint8 *) ".", 1) == 0 &&
		  pg_hmac_update(ctx, (const uint8 *) body, body_len) == 0 &&
		  pg_hmac_final(ctx, mac, SIGNING_MAC_LEN) == 0);
	if (ctx != NULL)
		pg_hmac_free(ctx);

	if (owner != NULL)
	{
		CurrentResourceOwner = saved;
		ResourceOwnerRelease(owner, RESOURCE_RELEASE_BEFORE_LOCKS, false, true);
		ResourceOwnerRelease(owner, RESOURCE_RELEASE_LOCKS, false, true);
		ResourceOwnerRelease(owner, RESOURCE_RELEASE_AFTER_LOCKS, false, true);
		ResourceOwnerDelete(owner);
	}
	return ok;
}

#else							/* PostgreSQL 13: no common/hmac.h */

/*
 * hmac_sha256
 *		HMAC-SHA256 (RFC 2104) over PostgreSQL 13's SHA-256.
 */
static bool
hmac_sha256(const uint8 *key, int keylen, const char *msg_id,
			const char *ts, const char *body, size_t body_len,
			uint8 *mac)
{
	uint8		pad[PG_SHA256_BLOCK_LENGTH];
	uint8		inner[PG_SHA256_DIGEST_LENGTH];
	pg_sha256_ctx ctx;

	/* keys are at most 64 bytes, the block size: never hashed first */
	memset(pad, 0x36, sizeof(pad));
	for (int i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	pg_sha256_init(&ctx);
	pg_sha256_update(&ctx, pad, sizeof(pad));
	pg_sha256_update(&ctx, (const uint8 *) msg_id, strlen(msg_id));
	pg_sha256_update(&ctx, (const uint8 *) ".", 1);
	pg_sha256_update(&ctx, (const uint8 *) ts, strlen(ts));
	pg_sha256_update(&ctx, (const uint8 *) ".", 1);
	pg_sha256_update(&ctx, (const uint8 *) body, body_len);
	pg_sha256_final(&ctx, inner);

	memset(pad, 0x5c, sizeof(pad));
	for (int i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	pg_sha256_init(&ctx);
	pg_sha256_update(&ctx, pad, sizeof(pad));
	pg_sha256_update(&ctx, inner, sizeof(inner));
	pg_sha256_final(&ctx, mac);

	explicit_bzero(pad, sizeof(pad));
	return true;
}

#endif

/*
 * SigningSignature
 *		Compute one "v1,<base64>" signature of msg_id "." timestamp "." body.
 */
bool
SigningSignature(const char *secret, const char *msg_id, int64 timestamp,
				 const char *body, size_t body_len, char *out)
{
	uint8		key[SIGNING_KEY_MAX_LEN];
	uint8		mac[SIGNING_MAC_LEN];
	char		ts[32];
	int			keylen;
	int			len;
	bool		ok;

	keylen = SigningDecodeSecret(secret, key, NULL);
	if (keylen < 0)
		return false;

	snprintf(ts, sizeof(ts), INT64_FORMAT, timestamp);
	ok = hmac_sha256(key, keylen, msg_id, ts, body, body_len, mac);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		return false;

	memcpy(out, "v1,", 3);
	len = pg_b64_encode((const char *) mac, SIGNING_MAC_LEN, out + 3,
						SIGNING_SIGNATURE_LEN - 3);
	if (len != SIGNING_SIGNATURE_LEN - 3)
		return false;
	out[SIGNING_SIGNATURE_LEN] = '\0';
	return true;
}

/*
 * SigningHeaderValue
 *		The value of the webhook-signature header for one delivery.
 */
char *
SigningHeaderValue(const char *const *secrets, int nsecrets,
				   const char *msg_id, int64 timestamp,
				   const char *body, size_t body_len)
{
	char	   *result = palloc(nsecrets * (SIGNING_SIGNATURE_LEN + 1) + 1);
	char	   *p = result;

	for (int i = 0; i < nsecrets; i++)
	{
		if (secrets[i] == NULL)
			continue;
		if (p != result)
			*p++ = ' ';
		if (!SigningSignature(secrets[i], msg_id, timestamp, body, body_len, p))
		{
			if (p != result)
				p--;
			continue;
		}
		p += SIGNING_SIGNATURE_LEN;
	}
	*p = '\0';

	if (p == result)
	{
		pfree(result);
		return NULL;
	}
	return result;
}

/*
 * SigningVerify
 *		Check a webhook-signature header value against a secret.
 */
bool
SigningVerify(const char *secret, const char *msg_id, int64 timestamp,
			  const char *body, size_t body_len, const char *header)
{
	char		expected[SIGNING_SIGNATURE_LEN + 1];
	const char *p = header;
	bool		match = false;

	if (!SigningSignature(secret, msg_id, timestamp, body, body_len, expected))
		return false;

	while (*p)
	{
		const char *end;
		size_t		len;

		while (*p == ' ')
			p++;
		end = p;
		while (*end && *end != ' ')
			end++;
		len = end - p;

		/*
		 * Only "v1," signatures of the right length are compared; every one
		 * of them is compared in full, so the time taken does not depend on
		 * where a difference lies nor on which signature matched.
		 */
		if (len == SIGNING_SIGNATURE_LEN && strncmp(p, "v1,", 3) == 0)
		{
			uint8		diff = 0;

			for (size_t i = 3; i < len; i++)
				diff |= (uint8) (p[i] ^ expected[i]);
			match |= (diff == 0);
		}
		p = end;
	}
	return match;
}

/*
 * check_secret
 *		Raise an error when a signing secret is malformed.
 *
 * The message never repeats the secret: it could otherwise reach the
 * server log.
 */
static void
check_secret(const char *secret)
{
	uint8		key[SIGNING_KEY_MAX_LEN];
	const char *problem = NULL;

	if (SigningDecodeSecret(secret, key, &problem) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid signing secret"),
				 errdetail("%s", problem),
				 errhint("Use nextphone.generate_secret() to make one.")));
	explicit_bzero(key, sizeof(key));
}

/*
 * nextphone_generate_secret
 *		SQL generate_secret(): a new "whsec_..." secret of 32 random bytes.
 */
Datum
nextphone_generate_secret(PG_FUNCTION_ARGS)
{
	uint8		key[SIGNING_KEY_DEFAULT_LEN];
	char		buf[SIGNING_SECRET_PREFIX_LEN + 64 + 1];
	int			len;

	if (!pg_strong_random(key, sizeof(key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));

	memcpy(buf, SIGNING_SECRET_PREFIX, SIGNING_SECRET_PREFIX_LEN);
	len = pg_b64_encode((const char *) key, sizeof(key),
						buf + SIGNING_SECRET_PREFIX_LEN,
						sizeof(buf) - SIGNING_SECRET_PREFIX_LEN - 1);
	explicit_bzero(key, sizeof(key));
	if (len < 0)
		elog(ERROR, "could not encode a signing secret");
	buf[SIGNING_SECRET_PREFIX_LEN + len] = '\0';

	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

/*
 * nextphone_sign_payload
 *		SQL sign_payload(secret, msg_id, ts, payload): the "v1,..." signature.
 */
Datum
nextphone_sign_payload(PG_FUNCTION_ARGS)
{
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *msg_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		ts = PG_GETARG_INT64(2);
	text	   *payload = PG_GETARG_TEXT_PP(3);
	char		sig[SIGNING_SIGNATURE_LEN + 1];

	check_secret(secret);
	if (!SigningSignature(secret, msg_id, ts, VARDATA_ANY(payload),
						  VARSIZE_ANY_EXHDR(payload), sig))
		elog(ERROR, "could not compute HMAC-SHA256");

	PG_RETURN_TEXT_P(cstring_to_text(sig));
}

/*
 * header_value
 *		The string value of a header in a jsonb object, matched without
 *		regard to case (HTTP header names are case-insensitive), or NULL.
 */
static char *
header_value(Jsonb *headers, const char *name)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *result = NULL;
	bool		want_value = false;
	int			level = 0;

	if (!JB_ROOT_IS_OBJECT(headers))
		return NULL;

	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			level++;
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			level--;
		else if (tok == WJB_KEY && level == 1)
			want_value = (v.val.string.len == strlen(name) &&
						  pg_strncasecmp(v.val.string.val, name,
										 v.val.string.len) == 0);
		else if (tok == WJB_VALUE && level == 1 && want_value)
		{
			if (v.type == jbvString && result == NULL)
				result = pnstrdup(v.val.string.val, v.val.string.len);
			want_value = false;
		}
	}
	return result;
}

/*
 * parse_timestamp
 *		Parse webhook-timestamp: unix seconds, digits only.
 */
static bool
parse_timestamp(const char *s, int64 *ts)
{
	int64		v = 0;

	if (*s == '\0' || strlen(s) > 15)
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	*ts = v;
	return true;
}

/*
 * nextphone_verify_signature
 *		SQL verify_signature(secret, headers, payload, tolerance).
 *
 * True when the headers carry a webhook-id, a webhook-timestamp no further
 * than tolerance from the current time (either way), and a webhook-signature
 * of which one "v1," entry matches.  Anything a sender got wrong yields
 * false; a malformed secret or a negative tolerance is an error.
 */
Datum
nextphone_verify_signature(PG_FUNCTION_ARGS)
{
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *headers = PG_GETARG_JSONB_P(1);
	text	   *payload = PG_GETARG_TEXT_PP(2);
	Interval   *tolerance = PG_GETARG_INTERVAL_P(3);
	char	   *msg_id;
	char	   *ts_text;
	char	   *sig;
	int64		ts;
	int64		now;
	int64		tol_secs;

	check_secret(secret);
	tol_secs = tolerance->time / USECS_PER_SEC +
		(int64) tolerance->day * SECS_PER_DAY;
	if (tolerance->month != 0 || tol_secs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tolerance"),
				 errdetail("The tolerance is a non-negative interval of days, hours, minutes and seconds.")));

	msg_id = header_value(headers, "webhook-id");
	ts_text = header_value(headers, "webhook-timestamp");
	sig = header_value(headers, "webhook-signature");
	if (msg_id == NULL || ts_text == NULL || sig == NULL)
		PG_RETURN_BOOL(false);
	if (!parse_timestamp(ts_text, &ts))
		PG_RETURN_BOOL(false);

	now = (int64) time(NULL);
	if (ts < now - tol_secs || ts > now + tol_secs)
		PG_RETURN_BOOL(false);

	PG_RETURN_BOOL(SigningVerify(secret, msg_id, ts, VARDATA_ANY(payload),
								 VARSIZE_ANY_EXHDR(payload), sig));
}

/*
 * nextphone_check_signing_secret
 *		SQL check_signing_secret(secret): error unless well-formed.
 */
Datum
nextphone_check_signing_secret(PG_FUNCTION_ARGS)
{
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));

	check_secret(secret);
	PG_RETURN_VOID();
}
