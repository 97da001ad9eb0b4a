/*-------------------------------------------------------------------------
 *
 * netguard.c
 *	  Where deliveries may go: the SSRF address check, the URL check and
 *	  the TLS settings, with the SQL functions that expose them
 *	  (address_allowed, address_refusal, check_url, url_host_addresses)
 *	  and the trigger that checks the URLs of webhooks and outbox rows.
 *
 * See netguard.h for the two checks and when each runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/memutils.h"

#include "nextphone.h"
#include "netguard.h"

PG_FUNCTION_INFO_V1(nextphone_address_allowed);
PG_FUNCTION_INFO_V1(nextphone_address_refusal);
PG_FUNCTION_INFO_V1(nextphone_check_url);
PG_FUNCTION_INFO_V1(nextphone_url_host_addresses);
PG_FUNCTION_INFO_V1(nextphone_url_check_trigger);

/* Settings */
char	   *nextphone_allowed_networks = NULL;
bool		nextphone_require_https = false;
char	   *nextphone_ca_file = NULL;

/* A network: address family, address bytes (network order), prefix length */
typedef struct NetguardNet
{
	int			family;			/* AF_INET or AF_INET6 */
	uint8		addr[16];		/* 4 or 16 bytes used */
	int			bits;
} NetguardNet;

/* nextphone.allowed_networks, parsed by its check hook (the GUC "extra") */
typedef struct NetguardAllowed
{
	int			count;
	NetguardNet nets[FLEXIBLE_ARRAY_MEMBER];
} NetguardAllowed;

static NetguardAllowed *allowed_networks = NULL;
/* counts the changes of allowed_networks (what was checked under it is stale) */
static uint64 allowed_networks_generation = 0;

/*
 * A refused range.  The reasons of IPv4 ranges also come in the forms an
 * IPv6 address embedding them gets (mapped, compatible, NAT64), built once
 * at load time so the check itself never allocates.
 */
typedef struct NetguardRange
{
	const char *cidr;
	const char *reason;
	NetguardNet net;
	const char *reason_mapped;
	const char *reason_compat;
	const char *reason_nat64;
} NetguardRange;

/* Refused IPv4 ranges; the first match gives the reason */
static NetguardRange v4_ranges[] = {
	{"0.0.0.0/32", "unspecified address (0.0.0.0)"},
	{"0.0.0.0/8", "\"this network\" address (0.0.0.0/8)"},
	{"10.0.0.0/8", "private address (10.0.0.0/8, RFC 1918)"},
	{"100.64.0.0/10", "carrier-grade NAT address (100.64.0.0/10)"},
	{"127.0.0.0/8", "loopback address (127.0.0.0/8)"},
	{"169.254.169.254/32", "cloud metadata address (169.254.169.254, link-local)"},
	{"169.254.0.0/16", "link-local address (169.254.0.0/16)"},
	{"172.16.0.0/12", "private address (172.16.0.0/12, RFC 1918)"},
	{"192.0.0.0/24", "IETF protocol assignment address (192.0.0.0/24)"},
	{"192.0.2.0/24", "documentation address (192.0.2.0/24)"},
	{"192.88.99.0/24", "6to4 relay anycast address (192.88.99.0/24)"},
	{"192.168.0.0/16", "private address (192.168.0.0/16, RFC 1918)"},
	{"198.18.0.0/15", "benchmarking address (198.18.0.0/15)"},
	{"198.51.100.0/24", "documentation address (198.51.100.0/24)"},
	{"203.0.113.0/24", "documentation address (203.0.113.0/24)"},
	{"224.0.0.0/4", "multicast address (224.0.0.0/4)"},
	{"255.255.255.255/32", "broadcast address (255.255.255.255)"},
	{"240.0.0.0/4", "reserved address (240.0.0.0/4)"},
};

/* Refused IPv6 ranges, after the forms embedding an IPv4 address */
static NetguardRange v6_ranges[] = {
	{"::/128", "unspecified address (::)"},
	{"::1/128", "loopback address (::1)"},
	{"64:ff9b:1::/48", "local-use NAT64 address (64:ff9b:1::/48)"},
	{"100::/64", "discard-only address (100::/64)"},
	{"2001:db8::/32", "documentation address (2001:db8::/32)"},
	{"2001::/23", "IETF protocol assignment address (2001::/23)"},
	{"2002::/16", "6to4 address (2002::/16)"},
	{"3fff::/20", "documentation address (3fff::/20)"},
	{"fc00::/7", "unique local address (fc00::/7)"},
	{"fe80::/10", "link-local address (fe80::/10)"},
	{"fec0::/10", "site-local address (fec0::/10)"},
	{"ff00::/8", "multicast address (ff00::/8)"},
};

/* Global unicast (2000::/3): every other IPv6 address is reserved */
static NetguardNet v6_global;
static const char *v6_reserved = "reserved address (outside 2000::/3)";
static const char *v6_compat_public = "IPv4-compatible address (::/96, deprecated)";
static const char *unknown_family = "address of an unknown family";

static bool allowed_networks_check(char **newval, void **extra,
								   GucSource source);
static void allowed_networks_assign(const char *newval, void *extra);

/*
 * parse_net
 *		Parse "address" or "address/bits" into a NetguardNet.
 *
 * Returns NULL on success, or a sentence saying what is wrong.  With
 * strict, bits set to the right of the mask are an error (as for cidr).
 */
static const char *
parse_net(const char *text, NetguardNet *net, bool strict)
{
	char		buf[INET6_ADDRSTRLEN + 8];
	char	   *slash;
	int			maxbits;

	if (strlen(text) >= sizeof(buf))
		return "It is too long to be an address.";
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';

	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, buf, net->addr) == 1)
	{
		net->family = AF_INET;
		maxbits = 32;
	}
	else if (inet_pton(AF_INET6, buf, net->addr) == 1)
	{
		net->family = AF_INET6;
		maxbits = 128;
	}
	else
		return "It is not an IPv4 or IPv6 address.";

	net->bits = maxbits;
	if (slash)
	{
		char	   *end;
		long		bits;

		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 ||
			bits < 0 || bits > maxbits)
			return "Its prefix length is not a number between 0 and the address size.";
		net->bits = (int) bits;
	}

	if (strict)
	{
		for (int i = 0; i < maxbits; i++)
		{
			if (i >= net->bits &&
				(net->addr[i / 8] & (0x80 >> (i % 8))) != 0)
				return "It has bits set to the right of its mask.";
		}
	}
	return NULL;
}

/*
 * net_contains
 *		Whether net holds the address (family, addr).
 */
static bool
net_contains(const NetguardNet *net, int family, const uint8 *addr)
{
	int			bytes = net->bits / 8;
	int			rest = net->bits % 8;

	if (net->family != family)
		return false;
	if (memcmp(net->addr, addr, bytes) != 0)
		return false;
	if (rest != 0)
	{
		uint8		mask = (uint8) (0xFF << (8 - rest));

		if ((net->addr[bytes] & mask) != (addr[bytes] & mask))
			return false;
	}
	return true;
}

/*
 * in_allowed_networks
 *		Whether nextphone.allowed_networks holds the address.
 */
static bool
in_allowed_networks(int family, const uint8 *addr)
{
	if (allowed_networks == NULL)
		return false;
	for (int i = 0; i < allowed_networks->count; i++)
	{
		if (net_contains(&allowed_networks->nets[i], family, addr))
			return true;
	}
	return false;
}

/*
 * classify_v4
 *		The refused range holding an IPv4 address, or NULL.
 */
static NetguardRange *
classify_v4(const uint8 *addr)
{
	for (int i = 0; i < lengthof(v4_ranges); i++)
	{
		if (net_contains(&v4_ranges[i].net, AF_INET, addr))
			return &v4_ranges[i];
	}
	return NULL;
}

/*
 * classify
 *		Decide on an address given as family and bytes.
 *
 * Returns true when allowed; otherwise sets *reason.  An IPv6 address that
 * embeds an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
 * ::a.b.c.d, NAT64 64:ff9b::a.b.c.d) is judged by the IPv4 address, and is
 * allowed when either form is in nextphone.allowed_networks.
 */
static bool
classify(int family, const uint8 *addr, const char **reason)
{
	static const uint8 mapped_prefix[12] =
	{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8 zero_prefix[12] = {0};
	static const uint8 nat64_prefix[12] =
	{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	const char *why = NULL;

	if (family == AF_INET)
	{
		NetguardRange *range;

		if (in_allowed_networks(AF_INET, addr))
			return true;
		range = classify_v4(addr);
		if (range == NULL)
			return true;
		why = range->reason;
	}
	else if (family == AF_INET6)
	{
		const uint8 *v4 = addr + 12;
		bool		mapped = memcmp(addr, mapped_prefix, 12) == 0;
		bool		nat64 = memcmp(addr, nat64_prefix, 12) == 0;

		/* ::/96 minus :: and ::1, which have reasons of their own */
		bool		compat = memcmp(addr, zero_prefix, 12) == 0 &&
			!(v4[0] == 0 && v4[1] == 0 && v4[2] == 0 && v4[3] <= 1);

		if (in_allowed_networks(AF_INET6, addr))
			return true;

		if (mapped || compat || nat64)
		{
			NetguardRange *range;

			if (in_allowed_networks(AF_INET, v4))
				return true;
			range = classify_v4(v4);
			if (range != NULL)
				why = mapped ? range->reason_mapped :
					compat ? range->reason_compat : range->reason_nat64;
			else if (compat)
				why = v6_compat_public;
			else
				return true;
		}
		else
		{
			for (int i = 0; i < lengthof(v6_ranges); i++)
			{
				if (net_contains(&v6_ranges[i].net, AF_INET6, addr))
				{
					why = v6_ranges[i].reason;
					break;
				}
			}
			if (why == NULL && !net_contains(&v6_global, AF_INET6, addr))
				why = v6_reserved;
			if (why == NULL)
				return true;
		}
	}
	else
		why = unknown_family;

	if (reason)
		*reason = why;
	return false;
}

/*
 * NetguardAddressAllowed
 *		Classify a resolved socket address (AF_INET or AF_INET6).
 */
bool
NetguardAddressAllowed(const struct sockaddr *addr, const char **reason)
{
	if (addr->sa_family == AF_INET)
		return classify(AF_INET,
						(const uint8 *) &((const struct sockaddr_in *) addr)->sin_addr,
						reason);
	if (addr->sa_family == AF_INET6)
		return classify(AF_INET6,
						(const uint8 *) &((const struct sockaddr_in6 *) addr)->sin6_addr,
						reason);
	return classify(addr->sa_family, NULL, reason);
}

/*
 * NetguardFormatAddress
 *		Write the numeric form of addr into buf.
 */
void
NetguardFormatAddress(const struct sockaddr *addr, char *buf, size_t buflen)
{
	const void *src = NULL;

	if (addr->sa_family == AF_INET)
		src = &((const struct sockaddr_in *) addr)->sin_addr;
	else if (addr->sa_family == AF_INET6)
		src = &((const struct sockaddr_in6 *) addr)->sin6_addr;

	if (src == NULL || inet_ntop(addr->sa_family, src, buf, buflen) == NULL)
		strlcpy(buf, "(unknown address)", buflen);
}

/*
 * NetguardResetState
 *		Clear a NetguardState before a transfer.
 */
void
NetguardResetState(NetguardState *state)
{
	state->refused = false;
	state->error[0] = '\0';
}

/*
 * The connections this process opened and libcurl has not closed yet, with
 * the address each was allowed to: libcurl keeps connections open for
 * reuse, and a reused connection opens no socket, so when
 * nextphone.allowed_networks narrows, NetguardRecheckSockets() shuts down the
 * ones to an address no longer allowed.  malloc'd: they are kept from
 * libcurl's callbacks, which must not raise an error.
 */
typedef struct NetguardSocket
{
	curl_socket_t fd;
	struct sockaddr_storage addr;
} NetguardSocket;

static NetguardSocket *open_sockets = NULL;
static int	n_open_sockets = 0;
static int	max_open_sockets = 0;
static uint64 sockets_checked_generation = 0;

/*
 * NetguardOpenSocket
 *		libcurl CURLOPT_OPENSOCKETFUNCTION: open the socket only for an
 *		allowed address.
 */
curl_socket_t
NetguardOpenSocket(void *clientp, curlsocktype purpose,
				   struct curl_sockaddr *address)
{
	NetguardState *state = (NetguardState *) clientp;
	const char *reason = NULL;
	curl_socket_t fd;

	if (purpose != CURLSOCKTYPE_IPCXN)
	{
		if (state != NULL)
		{
			state->refused = true;
			strlcpy(state->error, "refused to open a socket that is not an outgoing connection",
					sizeof(state->error));
		}
		return CURL_SOCKET_BAD;
	}

	if (!NetguardAddressAllowed(&address->addr, &reason))
	{
		char		text[INET6_ADDRSTRLEN];

		NetguardFormatAddress(&address->addr, text, sizeof(text));
		if (state != NULL)
		{
			state->refused = true;
			snprintf(state->error, sizeof(state->error),
					 "refused to connect to %s: %s is not in nextphone.allowed_networks",
					 text, reason);
		}
		return CURL_SOCKET_BAD;
	}

	if (n_open_sockets == max_open_sockets)
	{
		int			newmax = Max(16, max_open_sockets * 2);
		NetguardSocket *grown = realloc(open_sockets, newmax * sizeof(NetguardSocket));

		if (grown == NULL)
		{
			if (state != NULL)
			{
				state->refused = true;
				strlcpy(state->error, "out of memory", sizeof(state->error));
			}
			return CURL_SOCKET_BAD;
		}
		open_sockets = grown;
		max_open_sockets = newmax;
	}
	fd = socket(address->family, address->socktype, address->protocol);
	if (fd != CURL_SOCKET_BAD)
	{
		open_sockets[n_open_sockets].fd = fd;
		memset(&open_sockets[n_open_sockets].addr, 0, sizeof(struct sockaddr_storage));
		memcpy(&open_sockets[n_open_sockets].addr, &address->addr,
			   Min(address->addrlen, sizeof(struct sockaddr_storage)));
		n_open_sockets++;
	}
	return fd;
}

/*
 * NetguardCloseSocket
 *		libcurl CURLOPT_CLOSESOCKETFUNCTION: close a socket
 *		NetguardOpenSocket opened, and forget it.
 */
int
NetguardCloseSocket(void *clientp, curl_socket_t fd)
{
	for (int i = 0; i < n_open_sockets; i++)
	{
		if (open_sockets[i].fd == fd)
		{
			open_sockets[i] = open_sockets[--n_open_sockets];
			break;
		}
	}
	return close(fd);
}

/*
 * NetguardRecheckSockets
 *		After nextphone.allowed_networks changed: shut down the open
 *		connections to an address it no longer allows.
 */
void
NetguardRecheckSockets(void)
{
	int			closed = 0;

	if (sockets_checked_generation == allowed_networks_generation)
		return;
	sockets_checked_generation = allowed_networks_generation;

	for (int i = 0; i < n_open_sockets; i++)
	{
		const char *reason;

		/*
		 * Shut down, not closed: the descriptor stays libcurl's.  A request
		 * in flight on it fails (and its retry is refused); an idle
		 * connection is found dead when libcurl would reuse it, and the new
		 * one it opens instead is checked.
		 */
		if (!NetguardAddressAllowed((struct sockaddr *) &open_sockets[i].addr, &reason) &&
			shutdown(open_sockets[i].fd, SHUT_RDWR) == 0)
			closed++;
	}
	if (closed > 0)
		ereport(LOG,
				(errmsg_plural("shut down %d kept connection to an address no longer in nextphone.allowed_networks",
							   "shut down %d kept connections to addresses no longer in nextphone.allowed_networks",
							   closed, closed)));
}

/*
 * NetguardSetupCurl
 *		Apply every network and TLS safety option to an easy handle.
 */
CURLcode
NetguardSetupCurl(CURL *curl, NetguardState *state)
{
	const char *protocols = nextphone_require_https ? "https" : "http,https";
	CURLcode	rc;

#define SETOPT(opt, val) \
	do { \
		if ((rc = curl_easy_setopt(curl, opt, val)) != CURLE_OK) \
			return rc; \
	} while (0)

	SETOPT(CURLOPT_OPENSOCKETFUNCTION, NetguardOpenSocket);
	SETOPT(CURLOPT_OPENSOCKETDATA, state);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, NetguardCloseSocket);
	SETOPT(CURLOPT_PROTOCOLS_STR, protocols);
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_NOPROXY, "*");
	SETOPT(CURLOPT_NETRC, (long) CURL_NETRC_IGNORED);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
	if (nextphone_ca_file != NULL && nextphone_ca_file[0] != '\0')
		SETOPT(CURLOPT_CAINFO, nextphone_ca_file);

#undef SETOPT
	return CURLE_OK;
}

/*
 * host_acceptable
 *		Check the host part of a URL (as libcurl's URL API returns it).
 *
 * An IP address must be an allowed one; a name must be made of labels of
 * letters, digits, hyphens and underscores.  Returns false and writes a
 * sentence into problem when the host is not acceptable.
 */
static bool
host_acceptable(const char *host, char *problem, size_t problem_len,
				bool *refused_address)
{
	uint8		addr[16];
	const char *reason;
	size_t		len = strlen(host);
	const char *label;
	bool		numeric_label = false;

	if (len > 2 && host[0] == '[' && host[len - 1] == ']')
	{
		char		buf[INET6_ADDRSTRLEN + 1];

		if (len - 2 >= sizeof(buf))
		{
			snprintf(problem, problem_len, "The host is not a valid IPv6 address.");
			return false;
		}
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, addr) != 1)
		{
			snprintf(problem, problem_len, "The host is not a valid IPv6 address.");
			return false;
		}
		if (!classify(AF_INET6, addr, &reason))
		{
			snprintf(problem, problem_len, "The host %s is refused: %s.", host, reason);
			if (refused_address)
				*refused_address = true;
			return false;
		}
		return true;
	}

	/* libcurl has already turned every numeric IPv4 form into dotted quad */
	if (inet_pton(AF_INET, host, addr) == 1)
	{
		if (!classify(AF_INET, addr, &reason))
		{
			snprintf(problem, problem_len, "The host %s is refused: %s.", host, reason);
			if (refused_address)
				*refused_address = true;
			return false;
		}
		return true;
	}

	if (len > 253)
	{
		snprintf(problem, problem_len, "The host name is longer than 253 characters.");
		return false;
	}
	label = host;
	for (const char *p = host;; p++)
	{
		if (*p == '.' || *p == '\0')
		{
			size_t		llen = p - label;

			/* one trailing dot (a fully qualified name) is fine */
			if (llen == 0 && !(*p == '\0' && p != host && p[-1] == '.' &&
							   p - 1 != host))
			{
				snprintf(problem, problem_len, "The host name has an empty label.");
				return false;
			}
			if (llen > 63)
			{
				snprintf(problem, problem_len, "The host name has a label longer than 63 characters.");
				return false;
			}
			if (llen > 0 && (label[0] == '-' || p[-1] == '-'))
			{
				snprintf(problem, problem_len, "A label of the host name starts or ends with a hyphen.");
				return false;
			}
			if (llen > 0)
			{
				numeric_label = true;
				for (const char *q = label; q < p; q++)
					if (*q < '0' || *q > '9')
						numeric_label = false;
			}
			if (*p == '\0')
				break;
			label = p + 1;
		}
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
		{
			snprintf(problem, problem_len,
					 "The host name holds a character other than letters, digits, hyphens, underscores and dots.");
			return false;
		}
	}

	/* no top-level domain is all digits: this was meant as an address */
	if (numeric_label)
	{
		snprintf(problem, problem_len, "The host is numeric but not a valid IPv4 address.");
		return false;
	}
	return true;
}

/*
 * url_check
 *		The URL check: returns true when acceptable, and then, if normalised
 *		is not NULL, the URL as libcurl normalised it (free with curl_free).
 */
static bool
url_check(const char *url, char *problem, size_t problem_len,
		  char **normalised, bool *refused_address)
{
	CURLU	   *u;
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *part = NULL;
	bool		ok = false;
	const char *sep;

	if (normalised)
		*normalised = NULL;
	if (refused_address)
		*refused_address = false;

	u = curl_url();
	if (u == NULL)
	{
		snprintf(problem, problem_len, "Out of memory while parsing the URL.");
		return false;
	}

	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK)
	{
		snprintf(problem, problem_len, "It is not a valid URL: %s.",
				 curl_url_strerror(rc));
		goto done;
	}

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		(strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
	{
		snprintf(problem, problem_len, "Only http and https URLs are allowed.");
		goto done;
	}
	if (nextphone_require_https && strcmp(scheme, "https") != 0)
	{
		snprintf(problem, problem_len,
				 "Only https URLs are allowed while nextphone.require_https is on.");
		goto done;
	}

	/* "http:///host" and "http:/host" are accepted by libcurl: not here */
	sep = strstr(url, "://");
	if (sep == NULL || sep[3] == '/' || sep[3] == '\\')
	{
		snprintf(problem, problem_len, "The scheme must be followed by \"://\" and the host.");
		goto done;
	}

	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
		curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK ||
		curl_url_get(u, CURLUPART_OPTIONS, &part, 0) == CURLUE_OK ||
		memchr(sep + 3, '@', strcspn(sep + 3, "/?#")) != NULL)
	{
		snprintf(problem, problem_len,
				 "A URL may not hold a user name or password; send credentials in a header.");
		goto done;
	}

	if (curl_url_get(u, CURLUPART_ZONEID, &part, 0) == CURLUE_OK)
	{
		snprintf(problem, problem_len, "A URL may not hold an IPv6 zone identifier.");
		goto done;
	}
	curl_free(part);
	part = NULL;

	if (curl_url_get(u, CURLUPART_PORT, &part, 0) == CURLUE_OK &&
		strcmp(part, "0") == 0)
	{
		snprintf(problem, problem_len, "Port 0 is not a valid port.");
		goto done;
	}
	curl_free(part);
	part = NULL;

	if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK)
	{
		snprintf(problem, problem_len, "The URL has no host.");
		goto done;
	}
	if (!host_acceptable(part, problem, problem_len, refused_address))
		goto done;

	if (normalised &&
		curl_url_get(u, CURLUPART_URL, normalised, 0) != CURLUE_OK)
	{
		snprintf(problem, problem_len, "Out of memory while parsing the URL.");
		goto done;
	}
	ok = true;

done:
	curl_free(part);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

/*
 * url_check_cached
 *		url_check() for outbox rows as they are inserted and as they are
 *		sent, which mostly go to the same few URLs: the last URL found
 *		acceptable, under the settings it was checked with, is accepted
 *		again without being parsed.
 */
static bool
url_check_cached(const char *url, char *problem, size_t problem_len,
				 bool *refused_address)
{
	static char *last_url = NULL;
	static uint64 last_generation = 0;
	static bool last_require_https = false;

	if (last_url != NULL && strcmp(url, last_url) == 0 &&
		last_generation == allowed_networks_generation &&
		last_require_https == nextphone_require_https)
	{
		*refused_address = false;
		return true;
	}
	if (!url_check(url, problem, problem_len, NULL, refused_address))
		return false;
	if (last_url != NULL)
		pfree(last_url);
	last_url = MemoryContextStrdup(TopMemoryContext, url);
	last_generation = allowed_networks_generation;
	last_require_https = nextphone_require_https;
	return true;
}

/*
 * NetguardUrlAcceptable
 *		The URL check without raising an error.
 */
bool
NetguardUrlAcceptable(const char *url, char *problem, size_t problem_len)
{
	bool		refused_address;

	return url_check_cached(url, problem, problem_len, &refused_address);
}

/*
 * NetguardCheckUrl
 *		The URL check at configuration and enqueue time.
 */
char *
NetguardCheckUrl(const char *url, const char *field)
{
	char		problem[NETGUARD_ERROR_LEN];
	char	   *normalised;
	char	   *result;
	bool		refused_address;

	if (!url_check(url, problem, sizeof(problem), &normalised,
				   &refused_address))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 field ? errmsg("invalid URL in \"%s\"", field) :
				 errmsg("invalid URL"),
				 errdetail("%s", problem),
				 refused_address ?
				 errhint("A superuser can allow an internal address by adding its network to \"nextphone.allowed_networks\".") : 0));

	result = pstrdup(normalised);
	curl_free(normalised);
	return result;
}

/*
 * allowed_networks_check
 *		GUC check hook: parse the list of networks (commas or spaces between
 *		them) into a NetguardAllowed kept as the setting's extra data.
 */
static bool
allowed_networks_check(char **newval, void **extra, GucSource source)
{
	const char *p = *newval ? *newval : "";
	NetguardAllowed *result;
	int			max = 1;

	for (const char *q = p; *q; q++)
		if (strchr(", \t\n", *q) != NULL)
			max++;

	result = malloc(offsetof(NetguardAllowed, nets) + max * sizeof(NetguardNet));
	if (result == NULL)
		return false;
	result->count = 0;

	while (*p)
	{
		char		item[INET6_ADDRSTRLEN + 8];
		size_t		len;
		const char *problem;

		p += strspn(p, ", \t\n");
		len = strcspn(p, ", \t\n");
		if (len == 0)
			break;
		if (len >= sizeof(item))
		{
			GUC_check_errdetail("Entry \"%.*s...\" is too long to be a network.",
								(int) 20, p);
			free(result);
			return false;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		problem = parse_net(item, &result->nets[result->count], true);
		if (problem)
		{
			GUC_check_errdetail("Entry \"%s\" is not a network in CIDR form. %s",
								item, problem);
			GUC_check_errhint("List networks such as 10.1.2.0/24 or fd00::/8, separated by commas.");
			free(result);
			return false;
		}
		result->count++;
		p += len;
	}

	*extra = result;
	return true;
}

/*
 * allowed_networks_assign
 *		GUC assign hook: make the parsed list the one in force.
 */
static void
allowed_networks_assign(const char *newval, void *extra)
{
	allowed_networks = (NetguardAllowed *) extra;
	allowed_networks_generation++;
}

/*
 * NetguardInit
 *		Define the network guard settings and prepare the range tables.
 */
void
NetguardInit(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	for (int i = 0; i < lengthof(v4_ranges); i++)
	{
		NetguardRange *r = &v4_ranges[i];

		if (parse_net(r->cidr, &r->net, true) != NULL)
			elog(ERROR, "invalid built-in network \"%s\"", r->cidr);
		r->reason_mapped = psprintf("%s in IPv4-mapped form", r->reason);
		r->reason_compat = psprintf("%s in IPv4-compatible form", r->reason);
		r->reason_nat64 = psprintf("%s in NAT64 form", r->reason);
	}
	for (int i = 0; i < lengthof(v6_ranges); i++)
	{
		if (parse_net(v6_ranges[i].cidr, &v6_ranges[i].net, true) != NULL)
			elog(ERROR, "invalid built-in network \"%s\"", v6_ranges[i].cidr);
	}
	if (parse_net("2000::/3", &v6_global, true) != NULL)
		elog(ERROR, "invalid built-in network \"2000::/3\"");
	MemoryContextSwitchTo(old);

	DefineCustomStringVariable("nextphone.allowed_networks",
							   "Internal networks deliveries may connect to.",
							   "A list of networks in CIDR form, separated by commas. "
							   "Loopback, private, link-local, shared, multicast, reserved "
							   "and documentation addresses are refused unless listed here.",
							   &nextphone_allowed_networks,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   allowed_networks_check,
							   allowed_networks_assign,
							   NULL);

	DefineCustomBoolVariable("nextphone.require_https",
							 "Refuses plain http URLs at configuration, enqueue and send.",
							 NULL,
							 &nextphone_require_https,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("nextphone.ca_file",
							   "File of CA certificates that verify https endpoints.",
							   "Empty: the system's CA bundle.",
							   &nextphone_ca_file,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
}

/*
 * inet_to_bytes
 *		The family and address bytes of an inet value (netmask ignored).
 */
static int
inet_to_bytes(inet *value, uint8 *addr)
{
	if (ip_family(value) == PGSQL_AF_INET)
	{
		memcpy(addr, ip_addr(value), 4);
		return AF_INET;
	}
	memcpy(addr, ip_addr(value), 16);
	return AF_INET6;
}

/*
 * nextphone_address_allowed
 *		SQL address_allowed(inet): may a delivery connect to this address?
 */
Datum
nextphone_address_allowed(PG_FUNCTION_ARGS)
{
	uint8		addr[16];
	int			family = inet_to_bytes(PG_GETARG_INET_PP(0), addr);

	PG_RETURN_BOOL(classify(family, addr, NULL));
}

/*
 * nextphone_address_refusal
 *		SQL address_refusal(inet): why a delivery may not connect to this
 *		address, or NULL when it may.
 */
Datum
nextphone_address_refusal(PG_FUNCTION_ARGS)
{
	uint8		addr[16];
	int			family = inet_to_bytes(PG_GETARG_INET_PP(0), addr);
	const char *reason;

	if (classify(family, addr, &reason))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}

/*
 * nextphone_check_url
 *		SQL check_url(text): the URL as it will be used, or an error.
 */
Datum
nextphone_check_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(NetguardCheckUrl(url, NULL)));
}

/*
 * nextphone_url_host_addresses
 *		SQL url_host_addresses(text): the addresses the URL's host resolves
 *		to, as a connection would find them.
 *
 * The URL must be well-formed (http or https, no credentials) but its host
 * is not checked against the refused ranges: this is for seeing where a URL
 * would lead, and the SQL wrapper url_addresses() classifies each address.
 */
Datum
nextphone_url_host_addresses(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CURLU	   *u;
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *name;
	size_t		len;
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	int			gai;
	Datum	   *elems;
	int			n = 0;
	int			max = 0;

	u = curl_url();
	if (u == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_cleanup(u);
	if (rc != CURLUE_OK || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
	{
		curl_free(scheme);
		curl_free(host);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL"),
				 errdetail("It is not an http or https URL with a host.")));
	}
	curl_free(scheme);

	/* getaddrinfo() wants an IPv6 address without its brackets */
	len = strlen(host);
	if (len > 2 && host[0] == '[' && host[len - 1] == ']')
		name = pnstrdup(host + 1, len - 2);
	else
		name = pstrdup(host);
	curl_free(host);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(name, NULL, &hints, &res);
	if (gai != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not resolve host \"%s\": %s", name,
						gai_strerror(gai))));

	for (ai = res; ai != NULL; ai = ai->ai_next)
		max++;
	elems = palloc(sizeof(Datum) * Max(max, 1));
	for (ai = res; ai != NULL; ai = ai->ai_next)
	{
		inet	   *value = (inet *) palloc0(sizeof(inet));

		if (ai->ai_family == AF_INET)
		{
			ip_family(value) = PGSQL_AF_INET;
			ip_bits(value) = 32;
			memcpy(ip_addr(value),
				   &((struct sockaddr_in *) ai->ai_addr)->sin_addr, 4);
		}
		else if (ai->ai_family == AF_INET6)
		{
			ip_family(value) = PGSQL_AF_INET6;
			ip_bits(value) = 128;
			memcpy(ip_addr(value),
				   &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr, 16);
		}
		else
			continue;
		SET_INET_VARSIZE(value);
		elems[n++] = InetPGetDatum(value);
	}
	freeaddrinfo(res);

	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, INETOID, -1, false,
										  TYPALIGN_INT));
}

/*
 * NetguardCheckRowUrl
 *		The row's "url" must pass the URL check; returns the row, or a copy
 *		of it stored as dead with the reason.
 *
 * On webhooks it checks the URL template when a webhook is configured; on
 * the outbox it checks the URL a delivery will use.  An outbox row queued by
 * an event (EnqueueInternalInsert) is never refused, so recording a call or a lead
 * cannot fail on it: the row is stored as dead with the reason instead.
 * Rows without a URL, and outbox rows already dead or cancelled, are left
 * alone.
 */
HeapTuple
NetguardCheckRowUrl(TupleDesc desc, HeapTuple tuple, const char *relname)
{
	int			url_col;
	int			status_col;
	int			error_col;
	char	   *url;
	char	   *status;
	char		problem[NETGUARD_ERROR_LEN];
	bool		refused_address;
	static int	url_hint,
				status_hint,
				error_hint;

	url_col = ColumnIndex(desc, "url", &url_hint) + 1;
	if (url_col <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("table \"%s\" has no column \"url\"", relname)));
	url = SPI_getvalue(tuple, desc, url_col);
	if (url == NULL)
		return tuple;

	status_col = ColumnIndex(desc, "status", &status_hint) + 1;
	if (status_col > 0)
	{
		status = SPI_getvalue(tuple, desc, status_col);
		if (status != NULL &&
			(strcmp(status, "dead") == 0 || strcmp(status, "cancelled") == 0))
			return tuple;
	}

	if (url_check_cached(url, problem, sizeof(problem), &refused_address))
		return tuple;

	/* an event's delivery: stored as dead, never an error */
	error_col = ColumnIndex(desc, "last_error", &error_hint) + 1;
	if (EnqueueInternalInsert() && status_col > 0 && error_col > 0)
	{
		int			cols[2] = {status_col, error_col};
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum("dead");
		values[1] = CStringGetTextDatum(psprintf("invalid URL: %s", problem));
		return heap_modify_tuple_by_cols(tuple, desc, 2, cols, values, nulls);
	}

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid URL in \"url\""),
			 errdetail("%s", problem),
			 refused_address ?
			 errhint("A superuser can allow an internal address by adding its network to \"nextphone.allowed_networks\".") : 0));
	return NULL;				/* not reached */
}

/*
 * nextphone_url_check_trigger
 *		BEFORE INSERT OR UPDATE row trigger: NetguardCheckRowUrl().
 *
 * On the outbox it is named to fire after outbox_prepare, which renders the
 * URL.  (Rows the built-in events insert directly get the same check from
 * enqueue.c without the trigger machinery.)
 */
Datum
nextphone_url_check_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"url_check_trigger\" must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));

	return PointerGetDatum(NetguardCheckRowUrl(RelationGetDescr(trigdata->tg_relation),
											   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
											   trigdata->tg_newtuple : trigdata->tg_trigtuple,
											   RelationGetRelationName(trigdata->tg_relation)));
}
