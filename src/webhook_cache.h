/*-------------------------------------------------------------------------
 *
 * webhook_cache.h
 *	  Per-backend caches of webhook configurations and businesses.
 *
 * The enqueue path looks webhooks and businesses up on every inserted call,
 * lead or outbox row; both are kept in backend memory and rebuilt only after
 * a change to their table (a statement trigger on each table sends a
 * relcache invalidation, which every backend receives).
 *
 * Pointers returned here stay valid until the next call of a function of
 * this file that may rebuild a cache (each says so).  Callers that run SQL
 * in between (which may process invalidations) copy what they need first.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_CACHE_H
#define WEBHOOK_CACHE_H

#include "utils/jsonb.h"

/* bits of WebhookEntry.events */
#define WEBHOOK_EVENT_LEAD_CREATED		0x01
#define WEBHOOK_EVENT_CALL_COMPLETED	0x02

/* one declared parameter */
typedef struct WebhookParam
{
	char	   *name;
	char	   *type;			/* string, number, integer, boolean, object,
								 * array */
	bool		required;
} WebhookParam;

/* one header: its name and its value template */
typedef struct WebhookHeader
{
	char	   *name;
	char	   *value;			/* template text */
} WebhookHeader;

/* one webhook configuration, as the enqueue path needs it */
typedef struct WebhookEntry
{
	int64		id;
	char	   *tool_name;
	int64		business_id;	/* 0: every business */
	bool		enabled;
	int			events;			/* WEBHOOK_EVENT_* bits */
	char	   *method;
	char	   *url;			/* template text */
	char	   *body_template;	/* template text, NULL for no body */
	int			nheaders;
	WebhookHeader *headers;
	int			nparams;
	WebhookParam *params;
	double		first_wait_ms;	/* retry_schedule's first entry, -1: none */
} WebhookEntry;

/* the built-in variables of one business */
typedef struct BusinessEntry
{
	int64		id;				/* hash key */
	bool		found;			/* false: no such business (cached too) */
	char	   *receiving_number;
	char	   *owner_name;
	char	   *website;		/* may be NULL */
	char	   *booking_url;	/* may be NULL */
} BusinessEntry;

/*
 * Register the invalidation callback; called once from EnqueueInit().
 */
extern void WebhookCacheInit(void);

/*
 * The webhook with this id or tool name, or NULL.  May rebuild the cache.
 */
extern WebhookEntry *WebhookLookupById(int64 id);
extern WebhookEntry *WebhookLookupByName(const char *tool_name);

/*
 * The ids of the enabled webhooks subscribed to an event (a WEBHOOK_EVENT_*
 * bit) for a business (0: a call or lead of no business, which fires only
 * the webhooks of every business).  Returns the count; *ids is palloc'd in
 * the current memory context.  May rebuild the cache.
 */
extern int	WebhookSubscribers(int event, int64 business_id, int64 **ids);

/*
 * The built-in variables of a business (found == false when there is none).
 * May rebuild the business cache.
 */
extern BusinessEntry *BusinessLookup(int64 business_id);

/*
 * The id of the business with this receiving number, or 0.
 */
extern int64 BusinessIdByNumber(const char *receiving_number);

#endif							/* WEBHOOK_CACHE_H */
