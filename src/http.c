/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The delivery worker's HTTP client: many requests in flight on one
 *	  libcurl multi handle, waited on together with the process latch.
 *
 * libcurl tells us, through the multi socket API, which sockets to watch;
 * we keep them in an epoll set of our own, and that epoll descriptor sits in
 * a WaitEventSet next to the latch, so one wait covers both.  Connections
 * stay in the multi handle's cache and are reused (keep-alive).  Each slot
 * keeps its easy handle and its own memory context, reset when reused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "http.h"
#include "netguard.h"
#include "nextphone.h"
#include "signing.h"

/* Response headers kept per attempt, in bytes of names and values */
#define HTTP_MAX_RESPONSE_HEADERS 8192

/* The longest Retry-After taken, in seconds (the schedule bounds it anyway) */
#define HTTP_MAX_RETRY_AFTER (365.0 * 24 * 3600)

/*
 * Bytes of a response body read and dropped past nextphone.max_response_size,
 * so that the connection can serve the next request; past them the transfer
 * ends there and the connection is closed.  The status decides the outcome
 * either way: an endless body after a 200 is a delivery, not a timeout (when
 * that megabyte comes within the timeout).
 */
#define HTTP_MAX_DISCARD (1024 * 1024)

typedef enum SlotState
{
	SLOT_FREE,
	SLOT_FILLING,				/* acquired, not started */
	SLOT_RUNNING,
	SLOT_FINISHED,				/* waiting for HttpNextFinished() */
	SLOT_HANDED_OUT				/* waiting for HttpRelease() */
} SlotState;

typedef struct HttpSlot
{
	HttpRequest req;			/* first: a request is its slot */
	SlotState	state;
	CURL	   *easy;
	struct curl_slist *header_list;
	char		errbuf[CURL_ERROR_SIZE];
	bool		headers_truncated;
	int			max_response;	/* bytes of body kept */
	size_t		body_bytes;		/* bytes of body received */
	bool		body_cut;		/* the body ended early: HTTP_MAX_DISCARD */
	NetguardState guard;		/* what the SSRF guard refused */
} HttpSlot;

struct HttpClient
{
	CURLM	   *multi;
	int			epoll_fd;
	WaitEventSet *wait_set;
	int			nslots;
	HttpSlot   *slots;
	int			in_flight;
	int			busy;
	int			max_response;
	TimestampTz timer_deadline; /* 0 when libcurl wants no timer */
	bool		timer_set;
};

static bool curl_initialized = false;

/*
 * http_socket_cb
 *		libcurl says which events to watch on a socket: keep epoll in step.
 */
static int
http_socket_cb(CURL *easy, curl_socket_t sock, int what, void *userp, void *socketp)
{
	HttpClient *client = (HttpClient *) userp;
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.fd = sock;

	if (what == CURL_POLL_REMOVE)
	{
		/* the socket may already be closed, which removed it from epoll */
		(void) epoll_ctl(client->epoll_fd, EPOLL_CTL_DEL, sock, &ev);
		curl_multi_assign(client->multi, sock, NULL);
		return 0;
	}

	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev.events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev.events |= EPOLLOUT;

	if (socketp == NULL)
	{
		if (epoll_ctl(client->epoll_fd, EPOLL_CTL_ADD, sock, &ev) != 0)
		{
			if (errno != EEXIST ||
				epoll_ctl(client->epoll_fd, EPOLL_CTL_MOD, sock, &ev) != 0)
				ereport(WARNING,
						(errcode_for_socket_access(),
						 errmsg("could not add a socket to the delivery worker's epoll set: %m")));
		}
		/* any non-NULL marker: the socket is in the epoll set */
		curl_multi_assign(client->multi, sock, client);
	}
	else if (epoll_ctl(client->epoll_fd, EPOLL_CTL_MOD, sock, &ev) != 0)
	{
		if (errno != ENOENT ||
			epoll_ctl(client->epoll_fd, EPOLL_CTL_ADD, sock, &ev) != 0)
			ereport(WARNING,
					(errcode_for_socket_access(),
					 errmsg("could not change a socket in the delivery worker's epoll set: %m")));
	}
	return 0;
}

/*
 * http_timer_cb
 *		libcurl asks to be called back after timeout_ms (-1: never).
 */
static int
http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	HttpClient *client = (HttpClient *) userp;

	if (timeout_ms < 0)
		client->timer_set = false;
	else
	{
		client->timer_set = true;
		client->timer_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															 timeout_ms);
	}
	return 0;
}

/*
 * http_write_cb
 *		Keep the response body, up to the client's limit, and end the
 *		transfer once HTTP_MAX_DISCARD more bytes have been dropped.
 */
static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	HttpSlot   *slot = (HttpSlot *) userp;
	size_t		len = size * nmemb;
	StringInfo	buf = &slot->req.response_body;

	if (buf->len < slot->max_response)
	{
		size_t		keep = Min(len, (size_t) (slot->max_response - buf->len));

		appendBinaryStringInfo(buf, data, (int) keep);
	}
	slot->body_bytes += len;
	if (slot->body_bytes > (size_t) slot->max_response + HTTP_MAX_DISCARD)
	{
		/* libcurl ends the transfer (CURLE_WRITE_ERROR), closing the connection */
		slot->body_cut = true;
		return 0;
	}
	return len;
}

/*
 * http_header_cb
 *		Keep the final response's headers, as "name\0value\0" pairs with the
 *		name in lower case, and Retry-After.
 */
static size_t
http_header_cb(char *data, size_t size, size_t nitems, void *userp)
{
	HttpSlot   *slot = (HttpSlot *) userp;
	size_t		len = size * nitems;
	StringInfo	buf = &slot->req.response_headers;
	char	   *colon;
	char	   *name;
	char	   *value;
	size_t		vlen;
	MemoryContext oldcxt;

	/* a status line starts a new response (after 1xx): forget the last */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
	{
		resetStringInfo(buf);
		slot->headers_truncated = false;
		slot->req.retry_after = -1;
		return len;
	}

	colon = memchr(data, ':', len);
	if (colon == NULL || colon == data)
		return len;				/* the blank line, or junk */

	oldcxt = MemoryContextSwitchTo(slot->req.cxt);
	name = pnstrdup(data, colon - data);
	for (char *p = name; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	value = colon + 1;
	vlen = len - (value - data);
	while (vlen > 0 && (*value == ' ' || *value == '\t'))
		value++, vlen--;
	while (vlen > 0 && (value[vlen - 1] == '\r' || value[vlen - 1] == '\n' ||
						value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	value = pnstrdup(value, vlen);

	/*
	 * Retry-After: delay-seconds (digits only: strtod() would also take
	 * "inf" or "1e400") or an HTTP date; anything else is ignored.  The
	 * outcome statement bounds the wait by the schedule, but it must get a
	 * finite number: held to HTTP_MAX_RETRY_AFTER.
	 */
	if (strcmp(name, "retry-after") == 0)
	{
		if (vlen > 0 && strspn(value, "0123456789") == vlen)
			slot->req.retry_after = Min(strtod(value, NULL), HTTP_MAX_RETRY_AFTER);
		else
		{
			time_t		when = curl_getdate(value, NULL);

			if (when != -1)
			{
				double		delta = (double) when - (double) time(NULL);

				slot->req.retry_after = Min(Max(delta, 0), HTTP_MAX_RETRY_AFTER);
			}
		}
	}

	if (!slot->headers_truncated &&
		buf->len + strlen(name) + strlen(value) + 2 <= HTTP_MAX_RESPONSE_HEADERS)
	{
		appendBinaryStringInfo(buf, name, strlen(name) + 1);
		appendBinaryStringInfo(buf, value, strlen(value) + 1);
	}
	else
		slot->headers_truncated = true;

	pfree(name);
	pfree(value);
	MemoryContextSwitchTo(oldcxt);
	return len;
}

/*
 * HttpClientCreate
 *		A client for up to max_concurrency requests in flight.
 */
HttpClient *
HttpClientCreate(int max_concurrency, int max_response)
{
	HttpClient *client;

	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not initialize libcurl")));
		curl_initialized = true;
	}

	client = MemoryContextAllocZero(TopMemoryContext, sizeof(HttpClient));
	client->nslots = max_concurrency;
	client->max_response = max_response;
	client->slots = MemoryContextAllocZero(TopMemoryContext,
										   sizeof(HttpSlot) * max_concurrency);

	client->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (client->epoll_fd < 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create an epoll set for the delivery worker: %m")));

	client->multi = curl_multi_init();
	if (client->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
	curl_multi_setopt(client->multi, CURLMOPT_MAXCONNECTS, (long) max_concurrency);

	for (int i = 0; i < max_concurrency; i++)
	{
		HttpSlot   *slot = &client->slots[i];

		slot->state = SLOT_FREE;
		slot->max_response = max_response;
		slot->req.cxt = AllocSetContextCreate(TopMemoryContext,
											  "nextphone request",
											  ALLOCSET_SMALL_SIZES);
		slot->easy = curl_easy_init();
		if (slot->easy == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl handle")));
	}

#if PG_VERSION_NUM >= 170000
	client->wait_set = CreateWaitEventSet(NULL, 3);
#else
	client->wait_set = CreateWaitEventSet(TopMemoryContext, 3);
#endif
	AddWaitEventToSet(client->wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(client->wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(client->wait_set, WL_SOCKET_READABLE, client->epoll_fd, NULL, NULL);

	return client;
}

/*
 * HttpClientDestroy
 *		Abort what is in flight and free everything libcurl allocated.
 */
void
HttpClientDestroy(HttpClient *client)
{
	for (int i = 0; i < client->nslots; i++)
	{
		HttpSlot   *slot = &client->slots[i];

		if (slot->state == SLOT_RUNNING)
			curl_multi_remove_handle(client->multi, slot->easy);
		curl_easy_cleanup(slot->easy);
		if (slot->header_list)
			curl_slist_free_all(slot->header_list);
		MemoryContextDelete(slot->req.cxt);
	}
	curl_multi_cleanup(client->multi);
	FreeWaitEventSet(client->wait_set);
	close(client->epoll_fd);
	pfree(client->slots);
	pfree(client);
}

/*
 * HttpAcquire
 *		A free slot with its memory reset, or NULL when all are busy.
 */
HttpRequest *
HttpAcquire(HttpClient *client)
{
	for (int i = 0; i < client->nslots; i++)
	{
		HttpSlot   *slot = &client->slots[i];
		MemoryContext cxt;

		if (slot->state != SLOT_FREE)
			continue;

		cxt = slot->req.cxt;
		MemoryContextReset(cxt);
		memset(&slot->req, 0, sizeof(HttpRequest));
		slot->req.cxt = cxt;
		slot->req.retry_after = -1;
		slot->state = SLOT_FILLING;
		client->busy++;
		return &slot->req;
	}
	return NULL;
}

/*
 * http_finish
 *		Mark a slot finished with the given outcome.
 */
static void
http_finish(HttpClient *client, HttpSlot *slot, HttpOutcome outcome, const char *error)
{
	slot->req.outcome = outcome;
	if (error)
		slot->req.error = MemoryContextStrdup(slot->req.cxt, error);
	slot->req.duration_ms =
		(double) (GetCurrentTimestamp() - slot->req.started_at) / 1000.0;
	slot->state = SLOT_FINISHED;
}

/*
 * HttpStart
 *		Set up the slot's easy handle from the request and add it to the multi
 *		handle.
 */
void
HttpStart(HttpClient *client, HttpRequest *req)
{
	HttpSlot   *slot = (HttpSlot *) req;
	CURL	   *easy = slot->easy;
	MemoryContext oldcxt;
	ListCell   *lc;
	bool		has_content_type = false;
	CURLMcode	mrc;
	char		problem[NETGUARD_ERROR_LEN];

	Assert(slot->state == SLOT_FILLING);

	/* no reuse of a kept connection that nextphone.allowed_networks now refuses */
	NetguardRecheckSockets();

	oldcxt = MemoryContextSwitchTo(req->cxt);
	initStringInfo(&req->response_headers);
	initStringInfo(&req->response_body);
	MemoryContextSwitchTo(oldcxt);
	req->started_at = GetCurrentTimestamp();
	slot->errbuf[0] = '\0';
	slot->headers_truncated = false;
	slot->body_bytes = 0;
	slot->body_cut = false;

	if (slot->header_list)
	{
		curl_slist_free_all(slot->header_list);
		slot->header_list = NULL;
	}

	curl_easy_reset(easy);

	foreach(lc, req->headers)
	{
		const char *h = (const char *) lfirst(lc);
		struct curl_slist *l;

		if (pg_strncasecmp(h, "content-type:", 13) == 0)
			has_content_type = true;
		l = curl_slist_append(slot->header_list, h);
		if (l == NULL)
			goto oom;
		slot->header_list = l;
	}
	{
		/* whole, as signed (a row of an older version may have a long id) */
		char	   *idheader = psprintf("webhook-id: %s", req->msg_id);
		struct curl_slist *l;

		l = curl_slist_append(slot->header_list, idheader);
		pfree(idheader);
		if (l == NULL)
			goto oom;
		slot->header_list = l;
		if (req->body != NULL && !has_content_type)
		{
			l = curl_slist_append(slot->header_list, "Content-Type: application/json");
			if (l == NULL)
				goto oom;
			slot->header_list = l;
		}
		if (req->signing_secrets != NIL)
		{
			const char *secrets[SIGNING_MAX_SECRETS];
			int			nsecrets = 0;
			int64		ts = (int64) time(NULL);
			const char *body = req->body ? req->body : "";
			char	   *sig;
			char		line[64 + SIGNING_MAX_SECRETS * (SIGNING_SIGNATURE_LEN + 1)];

			foreach(lc, req->signing_secrets)
			{
				if (nsecrets < SIGNING_MAX_SECRETS)
					secrets[nsecrets++] = (const char *) lfirst(lc);
			}
			sig = SigningHeaderValue(secrets, nsecrets, req->msg_id, ts, body, strlen(body));
			if (sig == NULL)
			{
				http_finish(client, slot, HTTP_REFUSED, "the webhook's signing secret is malformed");
				return;
			}
			snprintf(line, sizeof(line), "webhook-timestamp: " INT64_FORMAT, ts);
			l = curl_slist_append(slot->header_list, line);
			if (l == NULL)
				goto oom;
			slot->header_list = l;
			snprintf(line, sizeof(line), "webhook-signature: %s", sig);
			pfree(sig);
			l = curl_slist_append(slot->header_list, line);
			if (l == NULL)
				goto oom;
			slot->header_list = l;
		}
		/* never wait for a 100 Continue */
		l = curl_slist_append(slot->header_list, "Expect:");
		if (l == NULL)
			goto oom;
		slot->header_list = l;
	}

	/* the settings may have changed since the row was queued */
	if (!NetguardUrlAcceptable(req->url, problem, sizeof(problem)))
	{
		http_finish(client, slot, HTTP_REFUSED, problem);
		return;
	}
	if (curl_easy_setopt(easy, CURLOPT_URL, req->url) != CURLE_OK)
	{
		http_finish(client, slot, HTTP_REFUSED, "malformed URL");
		return;
	}
	/* http(s) only, no redirects, TLS verified, the SSRF check at connect */
	NetguardResetState(&slot->guard);
	if (NetguardSetupCurl(easy, &slot->guard) != CURLE_OK)
	{
		http_finish(client, slot, HTTP_REFUSED, "could not apply the network settings");
		return;
	}
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);

	/*
	 * A name lookup that times out (a resolver that does not answer) must
	 * not block the worker: without this, libcurl waits for its resolver
	 * thread to finish, in curl_multi_socket_action(), for as long as the
	 * system's resolver settings make it try (10 s in a test with a
	 * resolver that never answered, during which no other request was
	 * served).  The price is the abandoned thread's few bytes, once per
	 * lookup that timed out.
	 */
	curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, NEXTPHONE_USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, slot->header_list);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, slot->errbuf);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, slot);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, slot);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, slot);

	if (req->body != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(req->body));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
		if (strcmp(req->method, "POST") != 0)
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
	}
	else if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	else
	{
		if (strcmp(req->method, "POST") == 0)
		{
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
			curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
		}
		else
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
	}

	mrc = curl_multi_add_handle(client->multi, easy);
	if (mrc != CURLM_OK)
	{
		http_finish(client, slot, HTTP_TRANSPORT_ERROR, curl_multi_strerror(mrc));
		return;
	}
	slot->state = SLOT_RUNNING;
	client->in_flight++;
	return;

oom:
	http_finish(client, slot, HTTP_TRANSPORT_ERROR, "out of memory");
}

/*
 * http_collect
 *		Move the transfers libcurl has completed to the finished state.
 */
static void
http_collect(HttpClient *client)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL)
	{
		HttpSlot   *slot;
		CURLcode	rc = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &slot);
		curl_multi_remove_handle(client->multi, slot->easy);
		client->in_flight--;

		/* a body too long to read to its end: the status stands */
		if (rc == CURLE_WRITE_ERROR && slot->body_cut)
			rc = CURLE_OK;

		if (rc == CURLE_OK)
		{
			long		code = 0;

			curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &code);
			slot->req.status_code = (int) code;
			http_finish(client, slot, HTTP_RESPONSE, NULL);
		}
		else
		{
			const char *err = slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(rc);
			HttpOutcome outcome = HTTP_TRANSPORT_ERROR;

			if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
				outcome = HTTP_REFUSED;
			if (rc == CURLE_COULDNT_CONNECT && slot->guard.refused)
			{
				/* the SSRF guard refused every address: not retried */
				outcome = HTTP_REFUSED;
				err = slot->guard.error;
			}
			http_finish(client, slot, outcome, err);
		}
	}
}

/*
 * HttpWait
 *		Wait for the latch, socket activity or libcurl's timer, then let
 *		libcurl act on what happened.  Returns whether the latch was set.
 */
bool
HttpWait(HttpClient *client, long timeout_ms)
{
	WaitEvent	event;
	long		wait_ms = timeout_ms;
	int			n;
	int			running;

	if (client->timer_set)
	{
		long		secs;
		int			usecs;
		long		curl_ms;

		TimestampDifference(GetCurrentTimestamp(), client->timer_deadline, &secs, &usecs);
		curl_ms = secs * 1000 + (usecs + 999) / 1000;
		if (wait_ms < 0 || curl_ms < wait_ms)
			wait_ms = curl_ms;
	}

	n = WaitEventSetWait(client->wait_set, wait_ms, &event, 1, PG_WAIT_EXTENSION);

	/*
	 * Read libcurl's sockets whatever woke us: a latch that is already set
	 * is returned without the sockets being polled at all, and enqueue
	 * commits may set it faster than the loop goes round.
	 */
	{
		struct epoll_event events[64];
		int			nev;

		nev = epoll_wait(client->epoll_fd, events, lengthof(events), 0);
		for (int i = 0; i < nev; i++)
		{
			int			mask = 0;

			if (events[i].events & EPOLLIN)
				mask |= CURL_CSELECT_IN;
			if (events[i].events & EPOLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (events[i].events & (EPOLLERR | EPOLLHUP))
				mask |= CURL_CSELECT_ERR;
			curl_multi_socket_action(client->multi, events[i].data.fd, mask, &running);
		}
	}

	if (client->timer_set && GetCurrentTimestamp() >= client->timer_deadline)
	{
		client->timer_set = false;
		curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}

	http_collect(client);
	return n > 0 && (event.events & WL_LATCH_SET) != 0;
}

/*
 * HttpNextFinished
 *		A finished request not yet handed out, or NULL.
 */
HttpRequest *
HttpNextFinished(HttpClient *client)
{
	for (int i = 0; i < client->nslots; i++)
	{
		HttpSlot   *slot = &client->slots[i];

		if (slot->state == SLOT_FINISHED)
		{
			slot->state = SLOT_HANDED_OUT;
			return &slot->req;
		}
	}
	return NULL;
}

/*
 * HttpRelease
 *		Give a finished request's slot back.
 */
void
HttpRelease(HttpClient *client, HttpRequest *req)
{
	HttpSlot   *slot = (HttpSlot *) req;

	Assert(slot->state == SLOT_HANDED_OUT || slot->state == SLOT_FILLING);
	slot->state = SLOT_FREE;
	client->busy--;
}

/*
 * HttpInFlight
 *		The number of requests started and not yet finished.
 */
int
HttpInFlight(HttpClient *client)
{
	return client->in_flight;
}

/*
 * HttpBusy
 *		The number of slots in use.
 */
int
HttpBusy(HttpClient *client)
{
	return client->busy;
}
