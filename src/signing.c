/*-------------------------------------------------------------------------
 *
 * signing.c
 *	  Webhook signatures per the Standard Webhooks specification, and the
 *	  SQL functions around them (generate_secret, sign_payload,
 *	  verify_signature, check_signing_secret).
 *
 * HMAC-SHA256 is computed with OpenSSL's libcrypto (which libcurl loads
 * anyway), base64 with PostgreSQL's common library.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "common/base64.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include <openssl/evp.h>

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

/*
 * HMAC-SHA256 (RFC 2104) on OpenSSL's SHA-256.  A key's two padded blocks
 * are hashed once, into an HmacKey: the SHA-256 states after each of them.
 * Each message then copies those states instead of setting up an HMAC from
 * the key, which OpenSSL 3 does slowly (HMAC_Init_ex looks the digest up
 * anew each time): a delivery is signed in half the instructions
 * PostgreSQL's pg_hmac took, most of the rest being SHA-256 itself
 * (test/bench/instructions.sh).
 * Keys are at most 64 bytes, SHA-256's block size, so never hashed first.
 */
typedef struct HmacKey
{
	EVP_MD_CTX *inner;			/* after the key XOR ipad block */
	EVP_MD_CTX *outer;			/* after the key XOR opad block */
} HmacKey;

#define SHA256_BLOCK_LEN	64

static const EVP_MD *
sha256(void)
{
	static const EVP_MD *md = NULL;

	if (md == NULL)
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
		md = EVP_sha256();
#endif
	return md;
}

static void
hmac_key_free(HmacKey *k)
{
	EVP_MD_CTX_free(k->inner);
	EVP_MD_CTX_free(k->outer);
	k->inner = k->outer = NULL;
}

/* the state after one padded key block, or NULL */
static EVP_MD_CTX *
hmac_key_half(const uint8 *key, int keylen, uint8 padbyte)
{
	uint8		pad[SHA256_BLOCK_LEN];
	const EVP_MD *md = sha256();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool		ok;

	memset(pad, padbyte, sizeof(pad));
	for (int i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	ok = (ctx != NULL && md != NULL &&
		  EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		  EVP_DigestUpdate(ctx, pad, sizeof(pad)) == 1);
	explicit_bzero(pad, sizeof(pad));
	if (!ok)
	{
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static bool
hmac_key_init(HmacKey *k, const uint8 *key, int keylen)
{
	Assert(keylen <= SHA256_BLOCK_LEN);
	k->inner = hmac_key_half(key, keylen, 0x36);
	k->outer = hmac_key_half(key, keylen, 0x5c);
	if (k->inner == NULL || k->outer == NULL)
	{
		hmac_key_free(k);
		return false;
	}
	return true;
}

/*
 * hmac_sha256
 *		HMAC-SHA256 of the three parts "id" "." "ts" "." "body" with a
 *		prepared key.
 */
static bool
hmac_sha256(const HmacKey *k, const char *msg_id, const char *ts,
			const char *body, size_t body_len, uint8 *mac)
{
	static EVP_MD_CTX *work = NULL;
	uint8		inner[SIGNING_MAC_LEN];
	unsigned int len;
	bool		ok;

	if (work == NULL && (work = EVP_MD_CTX_new()) == NULL)
		return false;
	ok = (EVP_MD_CTX_copy_ex(work, k->inner) == 1 &&
		  EVP_DigestUpdate(work, msg_id, strlen(msg_id)) == 1 &&
		  EVP_DigestUpdate(work, ".", 1) == 1 &&
		  EVP_DigestUpdate(work, ts, strlen(ts)) == 1 &&
		  EVP_DigestUpdate(work, ".", 1) == 1 &&
		  EVP_DigestUpdate(work, body, body_len) == 1 &&
		  EVP_DigestFinal_ex(work, inner, &len) == 1 &&
		  EVP_MD_CTX_copy_ex(work, k->outer) == 1 &&
		  EVP_DigestUpdate(work, inner, sizeof(inner)) == 1 &&
		  EVP_DigestFinal_ex(work, mac, &len) == 1);
	explicit_bzero(inner, sizeof(inner));
	return ok;
}

/* "v1," and the base64 of mac, NUL-terminated, into out */
static bool
format_signature(const uint8 *mac, char *out)
{
	int			len;

	memcpy(out, "v1,", 3);
	len = pg_b64_encode((const char *) mac, SIGNING_MAC_LEN, out + 3,
						SIGNING_SIGNATURE_LEN - 3);
	if (len != SIGNING_SIGNATURE_LEN - 3)
		return false;
	out[SIGNING_SIGNATURE_LEN] = '\0';
	return true;
}

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
	HmacKey		k;
	int			keylen;
	bool		ok;

	keylen = SigningDecodeSecret(secret, key, NULL);
	if (keylen < 0)
		return false;
	ok = hmac_key_init(&k, key, keylen);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		return false;

	snprintf(ts, sizeof(ts), INT64_FORMAT, timestamp);
	ok = hmac_sha256(&k, msg_id, ts, body, body_len, mac);
	hmac_key_free(&k);
	return ok && format_signature(mac, out);
}

/*
 * The prepared keys of the last secrets SigningHeaderValue signed with,
 * for the life of the process (the delivery worker's): a webhook's secret
 * is decoded and its padded blocks hashed once, not for every delivery.
 * Keyed by the secret itself, so a rotated secret is a new entry; the
 * oldest entry makes room.
 */
#define KEY_CACHE_SIZE		8
#define SECRET_MAX_LEN		(SIGNING_SECRET_PREFIX_LEN + 4 * ((SIGNING_KEY_MAX_LEN + 2) / 3))

typedef struct CachedKey
{
	char		secret[SECRET_MAX_LEN + 1]; /* empty: unused */
	HmacKey		key;
} CachedKey;

static CachedKey key_cache[KEY_CACHE_SIZE];
static int	key_cache_next = 0;

static const HmacKey *
cached_key(const char *secret)
{
	uint8		key[SIGNING_KEY_MAX_LEN];
	CachedKey  *entry;
	int			keylen;
	bool		ok;

	for (int i = 0; i < KEY_CACHE_SIZE; i++)
	{
		if (key_cache[i].secret[0] != '\0' && strcmp(key_cache[i].secret, secret) == 0)
			return &key_cache[i].key;
	}
	if (strlen(secret) > SECRET_MAX_LEN)
		return NULL;			/* malformed: too long for any key */
	keylen = SigningDecodeSecret(secret, key, NULL);
	if (keylen < 0)
		return NULL;

	entry = &key_cache[key_cache_next];
	key_cache_next = (key_cache_next + 1) % KEY_CACHE_SIZE;
	if (entry->secret[0] != '\0')
	{
		hmac_key_free(&entry->key);
		explicit_bzero(entry->secret, sizeof(entry->secret));
	}
	ok = hmac_key_init(&entry->key, key, keylen);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		return NULL;
	strcpy(entry->secret, secret);
	return &entry->key;
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
	char		ts[32];

	snprintf(ts, sizeof(ts), INT64_FORMAT, timestamp);
	for (int i = 0; i < nsecrets; i++)
	{
		const HmacKey *k;
		uint8		mac[SIGNING_MAC_LEN];

		if (secrets[i] == NULL || (k = cached_key(secrets[i])) == NULL)
			continue;
		if (p != result)
			*p++ = ' ';
		if (!hmac_sha256(k, msg_id, ts, body, body_len, mac) ||
			!format_signature(mac, p))
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
