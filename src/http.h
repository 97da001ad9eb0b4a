/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The delivery worker's HTTP client: many requests in flight on one
 *	  libcurl multi handle, waited on together with the process latch.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NEXTPHONE_HTTP_H
#define NEXTPHONE_HTTP_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* How an attempt ended, as far as the transport can tell */
typedef enum HttpOutcome
{
	HTTP_RESPONSE,				/* a response arrived: see status_code */
	HTTP_TRANSPORT_ERROR,		/* timeout, refused, reset, DNS failure... */
	HTTP_REFUSED				/* never sent: refused address or bad request;
								 * not worth a retry */
} HttpOutcome;

/*
 * One request and, once finished, its result.  The request fields are set
 * by the caller between HttpAcquire() and HttpStart(), allocated in the
 * request's own memory context "cxt", which lives until HttpRelease().
 */
typedef struct HttpRequest
{
	MemoryContext cxt;			/* reset at each HttpAcquire() */

	/* set by the caller */
	int64		outbox_id;
	int64		webhook_id;		/* 0 for an ad-hoc request */
	int			attempt;		/* the number of this attempt, from 1 */
	const char *msg_id;
	const char *method;
	const char *url;
	const char *body;			/* NULL for none */
	List	   *headers;		/* "Name: value" strings */
	long		timeout_ms;
	List	   *signing_secrets;	/* "whsec_..." strings; NIL: unsigned */
	bool		probe;			/* a circuit's probe (passed through) */

	/* set when finished */
	HttpOutcome outcome;
	int			status_code;	/* 0 without a response */
	char	   *error;			/* NULL on a response */
	double		retry_after;	/* seconds; < 0 when not given */
	TimestampTz started_at;
	double		duration_ms;
	StringInfoData response_headers;	/* "name\0value\0" pairs */
	StringInfoData response_body;	/* capped at the client's limit */
} HttpRequest;

typedef struct HttpClient HttpClient;

/*
 * HttpClientCreate
 *		A client for up to max_concurrency requests in flight, keeping at
 *		most max_response bytes of each response body.
 */
extern HttpClient *HttpClientCreate(int max_concurrency, int max_response);

/*
 * HttpClientDestroy
 *		Abort what is in flight and free everything libcurl allocated.
 */
extern void HttpClientDestroy(HttpClient *client);

/*
 * HttpAcquire
 *		A free request slot, or NULL when max_concurrency are busy (in flight
 *		or finished and not yet released).
 */
extern HttpRequest *HttpAcquire(HttpClient *client);

/*
 * HttpStart
 *		Start the request filled in by the caller.  A request that cannot be
 *		started is finished at once with outcome HTTP_REFUSED.
 */
extern void HttpStart(HttpClient *client, HttpRequest *req);

/*
 * HttpWait
 *		Wait at most timeout_ms (-1: no limit but libcurl's timers) for the
 *		process latch or socket activity, and let libcurl do its work.
 *		Returns whether the latch was set (the caller resets it).
 */
extern bool HttpWait(HttpClient *client, long timeout_ms);

/*
 * HttpNextFinished
 *		A finished request not yet handed out, or NULL.
 */
extern HttpRequest *HttpNextFinished(HttpClient *client);

/*
 * HttpRelease
 *		Give a finished request's slot back.
 */
extern void HttpRelease(HttpClient *client, HttpRequest *req);

/*
 * HttpInFlight
 *		The number of requests started and not yet finished.
 */
extern int	HttpInFlight(HttpClient *client);

/*
 * HttpBusy
 *		The number of slots in use (in flight, or finished and not released).
 */
extern int	HttpBusy(HttpClient *client);

#endif							/* NEXTPHONE_HTTP_H */
