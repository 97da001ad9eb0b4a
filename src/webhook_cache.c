/*-------------------------------------------------------------------------
 *
 * webhook_cache.c
 *	  Per-backend caches of webhook configurations and businesses.
 *
 * Every inserted lead, call or outbox row needs the webhooks subscribed to
 * it and the built-in variables of its business.  Reading them with SQL for
 * every row would cost more than the insert itself, so each backend keeps
 * them in memory:
 *
 * - all webhooks, read in one scan when first needed (the template engine
 *   keeps their templates parsed in its own cache);
 * - businesses, read one at a time through the primary key when first
 *   needed.
 *
 * A statement trigger on each table (nextphone.cache_invalidate) sends a
 * relcache invalidation for it; every backend receives it (its own at the
 * next command, others at their next transaction) and drops its cache.
 * Nothing is freed from the callback itself: the cache is rebuilt the next
 * time a lookup function runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "nextphone.h"
#include "webhook_cache.h"

PG_FUNCTION_INFO_V1(cache_invalidate);

/* the tables, looked up again after any invalidation of them */
static Oid	webhooks_relid = InvalidOid;
static Oid	businesses_relid = InvalidOid;

/* the webhook cache: every webhook, in cache_context */
static MemoryContext cache_context = NULL;
static bool webhooks_valid = false;
static WebhookEntry *entries = NULL;
static int	nentries = 0;
static HTAB *by_name = NULL;	/* tool name -> index in entries */

typedef struct NameSlot
{
	char		name[128];		/* tool names have at most 100 characters */
	int			index;
} NameSlot;

/* the business cache: id -> BusinessEntry, in business_context */
#define BUSINESS_CACHE_SIZE 10000	/* entries, found or not, before a reset */
static MemoryContext business_context = NULL;
static bool businesses_valid = false;
static HTAB *businesses = NULL;

static void load_webhooks_scan(void);

/*
 * invalidate_callback
 *		Drop a cache when its table changed (InvalidOid: everything did).
 */
static void
invalidate_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == webhooks_relid)
	{
		webhooks_valid = false;
		webhooks_relid = InvalidOid;
	}
	if (relid == InvalidOid || relid == businesses_relid)
	{
		businesses_valid = false;
		businesses_relid = InvalidOid;
	}
}

/*
 * WebhookCacheInit
 *		Register the invalidation callback (once per process).
 */
void
WebhookCacheInit(void)
{
	CacheRegisterRelcacheCallback(invalidate_callback, (Datum) 0);
}

/*
 * nextphone_relid
 *		The OID of a relation of schema nextphone.
 */
static Oid
nextphone_relid(const char *relname)
{
	Oid			nsp = get_namespace_oid("nextphone", true);
	Oid			relid = InvalidOid;

	if (OidIsValid(nsp))
		relid = get_relname_relid(relname, nsp);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"nextphone.%s\" does not exist", relname),
				 errhint("Run CREATE EXTENSION nextphone in this database.")));
	return relid;
}

/*
 * attnum_of
 *		The attribute number of a column, found by name.
 */
static AttrNumber
attnum_of(TupleDesc desc, const char *name)
{
	int			hint = 0;
	int			k = ColumnIndex(desc, name, &hint);

	if (k < 0)
		elog(ERROR, "column \"%s\" of a nextphone table is missing", name);
	return k + 1;
}

/*
 * text_or_null
 *		A text column as a C string in the current context, or NULL.
 */
static char *
text_or_null(Datum *values, bool *nulls, AttrNumber attnum)
{
	if (nulls[attnum - 1])
		return NULL;
	return TextDatumGetCString(values[attnum - 1]);
}

/*
 * parse_headers
 *		Fill an entry's headers from the configured JSON object.
 */
static void
parse_headers(WebhookEntry *entry, const char *json)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = JsonContainerSize(&jb->root);
	char	   *name = NULL;

	entry->headers = palloc0(sizeof(WebhookHeader) * Max(n, 1));
	entry->nheaders = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			name = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && v.type == jbvString && name != NULL)
		{
			WebhookHeader *h = &entry->headers[entry->nheaders++];

			h->name = name;
			h->value = pnstrdup(v.val.string.val, v.val.string.len);
			name = NULL;
		}
	}
}

/*
 * parse_params
 *		Fill an entry's declared parameters from the configured JSON array.
 */
static void
parse_params(WebhookEntry *entry, const char *json)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	int			n = JsonContainerSize(&jb->root);

	entry->params = palloc0(sizeof(WebhookParam) * Max(n, 1));
	entry->nparams = 0;
	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(&jb->root, i);
		JsonbValue *name;
		JsonbValue *type;
		JsonbValue *required;
		WebhookParam *p;

		if (elem == NULL || elem->type != jbvBinary)
			continue;
		name = getKeyJsonValueFromContainer(elem->val.binary.data, "name", 4, NULL);
		type = getKeyJsonValueFromContainer(elem->val.binary.data, "type", 4, NULL);
		required = getKeyJsonValueFromContainer(elem->val.binary.data, "required", 8, NULL);
		if (name == NULL || name->type != jbvString)
			continue;
		p = &entry->params[entry->nparams++];
		p->name = pnstrdup(name->val.string.val, name->val.string.len);
		p->type = (type != NULL && type->type == jbvString) ?
			pnstrdup(type->val.string.val, type->val.string.len) : pstrdup("string");
		p->required = (required != NULL && required->type == jbvBool &&
					   required->val.boolean);
	}
}

/*
 * load_webhooks
 *		Read every webhook into a fresh cache.
 *
 * An error on the way (a cancel, a statement timeout, out of memory) leaves
 * the cache empty and invalid, never part-read and taken for whole.
 */
static void
load_webhooks(void)
{
	MemoryContext callercxt = CurrentMemoryContext;

	PG_TRY();
	{
		load_webhooks_scan();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(callercxt);
		webhooks_valid = false;
		entries = NULL;
		nentries = 0;
		by_name = NULL;
		if (cache_context != NULL)
			MemoryContextReset(cache_context);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * load_webhooks_scan
 *		load_webhooks()'s work: reset the cache, then read the table.
 */
static void
load_webhooks_scan(void)
{
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tuple;
	MemoryContext oldcxt;
	HASHCTL		ctl;
	int			allocated = 16;
	AttrNumber	a_id,
				a_business,
				a_tool,
				a_enabled,
				a_events,
				a_method,
				a_url,
				a_headers,
				a_body,
				a_params,
				a_schedule;

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(CacheMemoryContext,
											  "nextphone webhook cache",
											  ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(cache_context);
	entries = NULL;
	nentries = 0;
	by_name = NULL;

	rel = table_open(nextphone_relid("webhooks"), AccessShareLock);

	/*
	 * From here, an invalidation (a change committed after the snapshot
	 * below) makes us read again; one that arrived while opening the table
	 * is already accounted for.
	 */
	webhooks_relid = RelationGetRelid(rel);
	webhooks_valid = true;

	desc = RelationGetDescr(rel);
	a_id = attnum_of(desc, "id");
	a_business = attnum_of(desc, "business_id");
	a_tool = attnum_of(desc, "tool_name");
	a_enabled = attnum_of(desc, "enabled");
	a_events = attnum_of(desc, "events");
	a_method = attnum_of(desc, "http_method");
	a_url = attnum_of(desc, "url");
	a_headers = attnum_of(desc, "headers");
	a_body = attnum_of(desc, "body_template");
	a_params = attnum_of(desc, "parameters");
	a_schedule = attnum_of(desc, "retry_schedule");

	oldcxt = MemoryContextSwitchTo(cache_context);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((NameSlot *) 0)->name);
	ctl.entrysize = sizeof(NameSlot);
	ctl.hcxt = cache_context;
	by_name = hash_create("nextphone webhooks by name", 64, &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	entries = palloc0(sizeof(WebhookEntry) * allocated);

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * desc->natts);
		WebhookEntry *e;
		NameSlot   *slot;
		char	   *json;

		heap_deform_tuple(tuple, desc, values, nulls);
		if (nentries == allocated)
		{
			allocated *= 2;
			entries = repalloc(entries, sizeof(WebhookEntry) * allocated);
		}
		e = &entries[nentries];
		memset(e, 0, sizeof(WebhookEntry));
		e->id = DatumGetInt64(values[a_id - 1]);
		e->business_id = nulls[a_business - 1] ? 0 : DatumGetInt64(values[a_business - 1]);
		e->tool_name = text_or_null(values, nulls, a_tool);
		e->enabled = DatumGetBool(values[a_enabled - 1]);
		e->method = text_or_null(values, nulls, a_method);
		e->url = text_or_null(values, nulls, a_url);
		e->body_template = text_or_null(values, nulls, a_body);

		if (!nulls[a_events - 1])
		{
			ArrayType  *arr = DatumGetArrayTypeP(values[a_events - 1]);
			Datum	   *elems;
			bool	   *elemnulls;
			int			nelems;

			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &elemnulls, &nelems);
			for (int i = 0; i < nelems; i++)
			{
				char	   *ev;

				if (elemnulls[i])
					continue;
				ev = TextDatumGetCString(elems[i]);
				if (strcmp(ev, "lead.created") == 0)
					e->events |= WEBHOOK_EVENT_LEAD_CREATED;
				else if (strcmp(ev, "call.completed") == 0)
					e->events |= WEBHOOK_EVENT_CALL_COMPLETED;
			}
		}

		/* the wait before the first attempt, when it has a schedule */
		e->first_wait_ms = -1;
		if (!nulls[a_schedule - 1])
		{
			ArrayType  *arr = DatumGetArrayTypeP(values[a_schedule - 1]);
			Datum	   *elems;
			bool	   *elemnulls;
			int			nelems;

			deconstruct_array(arr, INTERVALOID, sizeof(Interval), false, TYPALIGN_DOUBLE,
							  &elems, &elemnulls, &nelems);
			if (nelems > 0 && !elemnulls[0])
			{
				Interval   *iv = DatumGetIntervalP(elems[0]);

				e->first_wait_ms = Max(0, ((double) iv->time +
										   ((double) iv->month * DAYS_PER_MONTH + iv->day) * USECS_PER_DAY) / 1000.0);
			}
		}

		json = text_or_null(values, nulls, a_headers);
		parse_headers(e, json ? json : "{}");
		json = text_or_null(values, nulls, a_params);
		parse_params(e, json ? json : "[]");

		if (strlen(e->tool_name) < sizeof(slot->name))
		{
			slot = hash_search(by_name, e->tool_name, HASH_ENTER, NULL);
			slot->index = nentries;
		}
		nentries++;
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	MemoryContextSwitchTo(oldcxt);
	table_close(rel, AccessShareLock);
}

/*
 * ensure_webhooks
 *		Rebuild the webhook cache when it was invalidated.
 */
static void
ensure_webhooks(void)
{
	if (!webhooks_valid)
		load_webhooks();
}

/*
 * WebhookLookupById
 *		The webhook with this id, or NULL.
 */
WebhookEntry *
WebhookLookupById(int64 id)
{
	ensure_webhooks();
	for (int i = 0; i < nentries; i++)
	{
		if (entries[i].id == id)
			return &entries[i];
	}
	return NULL;
}

/*
 * WebhookLookupByName
 *		The webhook with this tool name, or NULL.
 */
WebhookEntry *
WebhookLookupByName(const char *tool_name)
{
	NameSlot   *slot;

	ensure_webhooks();
	if (strlen(tool_name) >= sizeof(slot->name))
		return NULL;
	slot = hash_search(by_name, tool_name, HASH_FIND, NULL);
	return slot ? &entries[slot->index] : NULL;
}

/*
 * WebhookSubscribers
 *		The ids of the enabled webhooks an event of a business fires.
 */
int
WebhookSubscribers(int event, int64 business_id, int64 **ids)
{
	int			n = 0;

	ensure_webhooks();
	*ids = NULL;
	for (int i = 0; i < nentries; i++)
	{
		WebhookEntry *e = &entries[i];

		if (!e->enabled || (e->events & event) == 0)
			continue;
		if (e->business_id != 0 && e->business_id != business_id)
			continue;
		if (*ids == NULL)
			*ids = palloc(sizeof(int64) * nentries);
		(*ids)[n++] = e->id;
	}
	return n;
}

/*
 * fetch_business
 *		Read one business through its primary key into a cache entry.
 */
static void
fetch_business(BusinessEntry *b)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	Snapshot	snapshot;
	HeapTuple	tuple;
	TupleDesc	desc;

	rel = table_open(nextphone_relid("businesses"), AccessShareLock);
	businesses_relid = RelationGetRelid(rel);
	desc = RelationGetDescr(rel);

	ScanKeyInit(&key, attnum_of(desc, "id"), BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(b->id));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  snapshot, 1, &key);
	tuple = systable_getnext(scan);
	b->found = HeapTupleIsValid(tuple);
	if (b->found)
	{
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * desc->natts);
		MemoryContext oldcxt;

		heap_deform_tuple(tuple, desc, values, nulls);
		oldcxt = MemoryContextSwitchTo(business_context);
		b->receiving_number = text_or_null(values, nulls, attnum_of(desc, "receiving_number"));
		b->owner_name = text_or_null(values, nulls, attnum_of(desc, "owner_name"));
		b->website = text_or_null(values, nulls, attnum_of(desc, "website"));
		b->booking_url = text_or_null(values, nulls, attnum_of(desc, "booking_url"));
		MemoryContextSwitchTo(oldcxt);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

/*
 * BusinessLookup
 *		The built-in variables of a business, read once and kept.
 */
BusinessEntry *
BusinessLookup(int64 business_id)
{
	BusinessEntry *b;
	bool		found;

	if (businesses_valid && businesses != NULL)
	{
		b = hash_search(businesses, &business_id, HASH_FIND, NULL);
		if (b != NULL)
			return b;
	}

	/*
	 * Start afresh when invalidated, and when full: the ids come from user
	 * tables too (webhook_trigger), so the cache must not grow without end.
	 * No caller keeps an entry across lookups.
	 */
	if (!businesses_valid || businesses == NULL ||
		hash_get_num_entries(businesses) >= BUSINESS_CACHE_SIZE)
	{
		HASHCTL		ctl;

		if (business_context == NULL)
			business_context = AllocSetContextCreate(CacheMemoryContext,
													 "nextphone business cache",
													 ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(business_context);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(BusinessEntry);
		ctl.hcxt = business_context;
		businesses = hash_create("nextphone businesses", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		businesses_valid = true;
	}
	b = hash_search(businesses, &business_id, HASH_ENTER, &found);
	if (!found)
	{
		b->found = false;
		b->receiving_number = b->owner_name = b->website = b->booking_url = NULL;
		PG_TRY();
		{
			fetch_business(b);
		}
		PG_CATCH();
		{
			/* do not keep a half-made entry */
			hash_search(businesses, &business_id, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return b;
}

/*
 * BusinessIdByNumber
 *		The id of the business with this receiving number, or 0.
 */
int64
BusinessIdByNumber(const char *receiving_number)
{
	Relation	rel;
	Oid			index;
	SysScanDesc scan;
	ScanKeyData key;
	Snapshot	snapshot;
	HeapTuple	tuple;
	int64		id = 0;

	rel = table_open(nextphone_relid("businesses"), AccessShareLock);
	index = nextphone_relid("businesses_receiving_number_key");
	ScanKeyInit(&key, attnum_of(RelationGetDescr(rel), "receiving_number"),
				BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(receiving_number));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, index, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, attnum_of(RelationGetDescr(rel), "id"),
									 RelationGetDescr(rel), &isnull);

		id = DatumGetInt64(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return id;
}

/*
 * cache_invalidate
 *		Statement trigger on webhooks and businesses: every backend drops
 *		its cache of the table.
 */
Datum
cache_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"cache_invalidate\" must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
