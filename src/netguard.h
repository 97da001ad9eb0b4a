/*-------------------------------------------------------------------------
 *
 * netguard.h
 *	  Where deliveries may go: the SSRF guard and the TLS settings.
 *
 * Two checks stand between a template and the network:
 *
 * 1. A URL check, at configuration and enqueue time (NetguardCheckUrl):
 *	  libcurl's URL parser, only http and https, no user:password, a
 *	  well-formed host, https when nextphone.require_https is on, and a host
 *	  written as an IP address (in any of the numeric forms libcurl
 *	  understands) must be an allowed address.
 *
 * 2. An address check at connect time (NetguardOpenSocket, installed by
 *	  NetguardSetupCurl as libcurl's CURLOPT_OPENSOCKETFUNCTION): every
 *	  address libcurl is about to connect to, after DNS, is classified, so a
 *	  name that resolves (or later re-resolves) to an internal address is
 *	  refused.  Loopback, unspecified, private (RFC 1918), link-local
 *	  (including cloud metadata at 169.254.169.254), CGNAT, IPv6 ULA,
 *	  multicast, broadcast, reserved and documentation ranges, and the
 *	  IPv4-mapped, IPv4-compatible and NAT64 IPv6 forms of them, are refused
 *	  unless they lie inside nextphone.allowed_networks.
 *
 * The address functions neither allocate nor raise errors, so they are safe
 * inside libcurl callbacks and outside transactions.
 *
 * In the worker, per request: NetguardUrlAcceptable() on the URL (refuse
 * without connecting if it fails), then NetguardResetState() and
 * NetguardSetupCurl() on the easy handle after any curl_easy_reset(); when
 * the transfer ends with CURLE_COULDNT_CONNECT and state.refused is set,
 * record state.error and do not retry.  Settings are read at each call, so
 * a configuration reload takes effect on the next request.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NEXTPHONE_NETGUARD_H
#define NEXTPHONE_NETGUARD_H

#include <sys/socket.h>
#include <curl/curl.h>

#include "access/htup.h"
#include "access/tupdesc.h"

/* Settings (GUCs), all superuser-only */
extern char *nextphone_allowed_networks;	/* nextphone.allowed_networks */
extern bool nextphone_require_https;	/* nextphone.require_https */
extern char *nextphone_ca_file; /* nextphone.ca_file */

/* Room for a refusal message written by NetguardOpenSocket */
#define NETGUARD_ERROR_LEN 256

/*
 * What NetguardOpenSocket reports back to the caller, one per easy handle
 * (pass it to NetguardSetupCurl).  Zero it before each transfer with
 * NetguardResetState.
 */
typedef struct NetguardState
{
	bool		refused;		/* some address was refused */
	char		error[NETGUARD_ERROR_LEN];	/* why, for attempts.error */
} NetguardState;

/*
 * NetguardAddressAllowed
 *		Classify a resolved socket address (AF_INET or AF_INET6).
 *
 * Returns true when a delivery may connect to it.  Otherwise returns false
 * and sets *reason (if not NULL) to a static description of the range, such
 * as "loopback address (127.0.0.0/8)".  Uses the current value of
 * nextphone.allowed_networks.  Other address families are refused.
 */
extern bool NetguardAddressAllowed(const struct sockaddr *addr,
								   const char **reason);

/*
 * NetguardFormatAddress
 *		Write the numeric form of addr ("127.0.0.1", "::1") into buf.
 */
extern void NetguardFormatAddress(const struct sockaddr *addr, char *buf,
								  size_t buflen);

/*
 * NetguardOpenSocket
 *		libcurl CURLOPT_OPENSOCKETFUNCTION: open the socket only for an
 *		allowed address.
 *
 * clientp is a NetguardState *.  A refused address gets CURL_SOCKET_BAD
 * (libcurl then tries the host's other addresses, if any, and otherwise
 * fails with CURLE_COULDNT_CONNECT), and the state records the refusal,
 * e.g. "refused to connect to 127.0.0.1: loopback address (127.0.0.0/8) is
 * not in nextphone.allowed_networks".
 *
 * A transfer that fails with CURLE_COULDNT_CONNECT while state->refused is
 * set is an SSRF refusal: record state->error as the attempt's error and do
 * not retry it.
 */
extern curl_socket_t NetguardOpenSocket(void *clientp, curlsocktype purpose,
										struct curl_sockaddr *address);

/*
 * NetguardCloseSocket
 *		libcurl CURLOPT_CLOSESOCKETFUNCTION, the pair of NetguardOpenSocket.
 */
extern int	NetguardCloseSocket(void *clientp, curl_socket_t fd);

/*
 * NetguardRecheckSockets
 *		Shut down the connections NetguardOpenSocket opened to an address
 *		that nextphone.allowed_networks no longer allows (after a reload).
 *
 * Cheap when the setting has not changed: call it before starting requests.
 */
extern void NetguardRecheckSockets(void);

/*
 * NetguardResetState
 *		Clear a NetguardState before a transfer.
 */
extern void NetguardResetState(NetguardState *state);

/*
 * NetguardSetupCurl
 *		Apply every network and TLS safety option to an easy handle.
 *
 * Sets: the address check above (with state as its data); protocols http
 * and https only (https only when nextphone.require_https is on), for
 * redirects too; redirects not followed; no proxy from the environment; no
 * .netrc; peer and host name verification; TLS 1.2 at least; and the CA
 * bundle from nextphone.ca_file when set; sockets are opened and closed by
 * NetguardOpenSocket and NetguardCloseSocket.  Call it again after a
 * configuration reload (SIGHUP) to pick up new settings.  Returns the first
 * libcurl error, or CURLE_OK.
 */
extern CURLcode NetguardSetupCurl(CURL *curl, NetguardState *state);

/*
 * NetguardUrlAcceptable
 *		The URL check without raising an error.
 *
 * Returns true when url passes every check NetguardCheckUrl makes (with the
 * current settings); otherwise returns false and writes a sentence saying
 * what is wrong into problem (problem_len bytes; NETGUARD_ERROR_LEN is
 * enough).  Meant for the worker at send time: nextphone.require_https or
 * nextphone.allowed_networks may have changed since the row was queued.
 * Does not allocate in PostgreSQL memory and never raises an error.
 */
extern bool NetguardUrlAcceptable(const char *url, char *problem,
								  size_t problem_len);

/*
 * NetguardCheckUrl
 *		The URL check at configuration and enqueue time.
 *
 * Raises an ERROR (SQLSTATE 22023, invalid_parameter_value) naming what is
 * wrong; field names the configuration field in the message (e.g. "url"),
 * or NULL.  Returns the URL as libcurl normalised it, palloc'd.
 */
extern char *NetguardCheckUrl(const char *url, const char *field);

/*
 * NetguardCheckRowUrl
 *		The URL check of a row with a "url" column (the url_check_trigger
 *		of webhooks and the outbox).
 *
 * Returns the row when its URL passes (or it has none, or it is an outbox
 * row already dead or cancelled).  An outbox row queued by an event comes
 * back as a copy stored as dead with the reason; anything else raises
 * SQLSTATE 22023.  relname names the table in errors.
 */
extern HeapTuple NetguardCheckRowUrl(TupleDesc desc, HeapTuple tuple,
									 const char *relname);

#endif							/* NEXTPHONE_NETGUARD_H */
