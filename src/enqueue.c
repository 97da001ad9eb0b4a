/*-------------------------------------------------------------------------
 *
 * enqueue.c
 *	  Rendering deliveries into the outbox in the inserting transaction.
 *
 * There are three ways into nextphone.outbox, and one place where a row is
 * rendered: prepare_row(), which the BEFORE INSERT trigger outbox_prepare()
 * calls.
 *
 * - An INSERT naming a webhook (webhook and vars, or enqueue()) is rendered
 *   from the webhook's templates; bad input raises an error and stores
 *   nothing.  An ad-hoc INSERT (method, url, headers, body) is checked.
 * - The built-in events (an inserted lead, a call reaching a final status)
 *   and webhook_trigger() on a user table build the variables here and
 *   insert one row per subscribed webhook, directly (see insert_direct) or
 *   through a saved plan, rendered by the same code as the trigger.  They
 *   are fail-safe, as the guide promises: a delivery that cannot be
 *   rendered is stored as "dead" with the reason in last_error, and the
 *   triggering insert goes on.
 *
 * Waking the delivery worker at commit is the worker's own trigger.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/pg_prng.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/elog.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "nextphone.h"
#include "netguard.h"
#include "webhook_cache.h"
#include "template.h"

PG_FUNCTION_INFO_V1(outbox_prepare);
PG_FUNCTION_INFO_V1(fire_lead_created);
PG_FUNCTION_INFO_V1(fire_call_completed);
PG_FUNCTION_INFO_V1(webhook_trigger);
PG_FUNCTION_INFO_V1(new_message_id);

/* The longest message id an inserter may give (the default is 36 bytes) */
#define OUTBOX_MSG_ID_MAX 255

/* nextphone.max_body_size: the largest rendered body, in bytes */
int			nextphone_max_body_size = 1024 * 1024;

/*
 * Set while the event path inserts its own row into the outbox: the row's
 * variables are complete, and a rendering failure stores a dead row rather
 * than raising an error.
 */
static bool internal_insert = false;

/*
 * EnqueueInternalInsert
 *		Whether the row being inserted into the outbox is an event's (the
 *		URL check stores it dead instead of refusing it).
 */
bool
EnqueueInternalInsert(void)
{
	return internal_insert;
}

/* INSERT INTO nextphone.outbox, prepared once per backend */
static SPIPlanPtr insert_plan = NULL;

#if PG_VERSION_NUM >= 140000
static void direct_invalidate(Datum arg, Oid relid);
#endif

/* the outbox columns outbox_prepare reads and sets */
typedef enum OutboxColumn
{
	OC_WEBHOOK_ID,
	OC_WEBHOOK,
	OC_BUSINESS_ID,
	OC_EVENT,
	OC_VARS,
	OC_METHOD,
	OC_URL,
	OC_HEADERS,
	OC_BODY,
	OC_STATUS,
	OC_LAST_ERROR,
	OC_NEXT_ATTEMPT_AT,
	OC_MSG_ID,
	OC_COUNT
} OutboxColumn;

static const char *const outbox_column_names[OC_COUNT] = {
	"webhook_id", "webhook", "business_id", "event", "vars", "method", "url",
	"headers", "body", "status", "last_error", "next_attempt_at", "msg_id"
};

/*
 * ColumnIndex
 *		The index (from 0) of the column of that name in a row, or -1.  The
 *		outbox triggers look their columns up once per row: the index found
 *		last time, kept in *hint (0: none; else index + 1), is checked first,
 *		so the search over every column runs only when the table changed.
 */
int
ColumnIndex(TupleDesc desc, const char *name, int *hint)
{
	int			k = *hint - 1;

	if (k >= 0 && k < desc->natts && !TupleDescAttr(desc, k)->attisdropped &&
		strcmp(NameStr(TupleDescAttr(desc, k)->attname), name) == 0)
		return k;
	for (k = 0; k < desc->natts; k++)
	{
		if (!TupleDescAttr(desc, k)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(desc, k)->attname), name) == 0)
		{
			*hint = k + 1;
			return k;
		}
	}
	return -1;
}

/*
 * outbox_columns
 *		The indexes of the columns outbox_prepare works on, in cols.
 */
static void
outbox_columns(TupleDesc desc, int *cols)
{
	static int	hints[OC_COUNT];

	for (int c = 0; c < OC_COUNT; c++)
	{
		cols[c] = ColumnIndex(desc, outbox_column_names[c], &hints[c]);
		if (cols[c] < 0)
			elog(ERROR, "column \"%s\" of nextphone.outbox is missing", outbox_column_names[c]);
	}
}

/*
 * EnqueueInit
 *		Define the enqueueing settings and register the cache callbacks.
 */
void
EnqueueInit(void)
{
#if PG_VERSION_NUM >= 140000
	CacheRegisterRelcacheCallback(direct_invalidate, (Datum) 0);
#endif
	DefineCustomIntVariable("nextphone.max_body_size",
							"Largest request body a delivery may have.",
							"A delivery whose rendered body is larger is refused, or stored as dead when an event queued it.",
							&nextphone_max_body_size,
							1024 * 1024,
							1024,
							64 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	WebhookCacheInit();
}

/*
 * new_message_id
 *		A new message id: "msg_", 12 hex digits of the time in milliseconds,
 *		20 hex digits of strong randomness.
 *
 * The time first keeps the unique index of outbox.msg_id growing at its
 * right edge (appending, not splitting pages all over); 80 random bits keep
 * ids unguessable and unique.
 */
Datum
new_message_id(PG_FUNCTION_ARGS)
{
	static const char hex[] = "0123456789abcdef";
	/* strong random bytes, drawn 1 kB at a time: a draw costs as much as an id */
	static uint8 pool[1000];
	static int	pool_used = sizeof(pool);
	uint8	   *random;
	uint64		ms;
	char		id[4 + 12 + 20 + 1];
	char	   *p = id;

	if (pool_used + 10 > (int) sizeof(pool))
	{
		if (!pg_strong_random(pool, sizeof(pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random message id")));
		pool_used = 0;
	}
	random = pool + pool_used;
	pool_used += 10;
	ms = (uint64) (GetCurrentTimestamp() / 1000) +
		(uint64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;

	memcpy(p, "msg_", 4);
	p += 4;
	for (int shift = 44; shift >= 0; shift -= 4)
		*p++ = hex[(ms >> shift) & 0xf];
	for (int i = 0; i < 10; i++)
	{
		*p++ = hex[random[i] >> 4];
		*p++ = hex[random[i] & 0xf];
	}
	memset(random, 0, 10);		/* used bytes are not kept */
	*p = '\0';
	PG_RETURN_TEXT_P(cstring_to_text_with_len(id, p - id));
}

/*
 * Building variables (jsonb objects)
 */

/*
 * push_key
 *		Start a "key": value pair in an object being built.
 */
static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

/*
 * push_text
 *		Add "key": "value" (a JSON string; null when value is NULL).
 */
static void
push_text(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	v;

	push_key(state, key);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * push_int8
 *		Add "key": number.
 */
static void
push_int8(JsonbParseState **state, const char *key, int64 value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(value)));
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * push_bool
 *		Add "key": true or false.
 */
static void
push_bool(JsonbParseState **state, const char *key, bool value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * push_timestamptz
 *		Add "key": "2025-01-02T03:04:05+00:00" (the form to_jsonb gives).
 */
static void
push_timestamptz(JsonbParseState **state, const char *key, Datum value)
{
	/* the string must live until the object is finished */
	char	   *buf = palloc(MAXDATELEN + 1);

	push_text(state, key, JsonEncodeDateTime(buf, value, TIMESTAMPTZOID, NULL));
}

/*
 * push_business
 *		Add the built-in variables of a business (none when it is not
 *		known): business_id, receiving_number, owner_name, website,
 *		booking_url.
 */
static void
push_business(JsonbParseState **state, BusinessEntry *business)
{
	if (business == NULL || !business->found)
		return;
	push_int8(state, "business_id", business->id);
	push_text(state, "receiving_number", business->receiving_number);
	push_text(state, "owner_name", business->owner_name);
	push_text(state, "website", business->website);
	push_text(state, "booking_url", business->booking_url);
}

/*
 * push_pairs
 *		Add every pair of a jsonb object; a later pair of the same key wins.
 */
static void
push_pairs(JsonbParseState **state, Jsonb *object)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;

	if (object == NULL || !JB_ROOT_IS_OBJECT(object))
		return;
	it = JsonbIteratorInit(&object->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(state, tok, &v);
	}
}

/*
 * Reading a tuple by column name
 */
typedef struct RowReader
{
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
} RowReader;

/*
 * row_read
 *		Deform a tuple for reading by column name.
 */
static void
row_read(RowReader *r, HeapTuple tuple, TupleDesc desc)
{
	r->desc = desc;
	r->values = palloc(sizeof(Datum) * desc->natts);
	r->nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, r->values, r->nulls);
}

/*
 * row_col
 *		The index of a column in a RowReader, or -1 when there is none.
 */
static int
row_col(RowReader *r, const char *name)
{
	for (int i = 0; i < r->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(r->desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	return -1;
}

/*
 * row_text
 *		A text column as a C string, or NULL.
 */
static char *
row_text(RowReader *r, const char *name)
{
	int			i = row_col(r, name);

	if (i < 0 || r->nulls[i])
		return NULL;
	return TextDatumGetCString(r->values[i]);
}

/*
 * row_int8
 *		A bigint column, or 0 when null.
 */
static int64
row_int8(RowReader *r, const char *name)
{
	int			i = row_col(r, name);

	if (i < 0 || r->nulls[i])
		return 0;
	return DatumGetInt64(r->values[i]);
}

/*
 * push_row_text
 *		Add a text column under a variable name, when it is not null.
 */
static void
push_row_text(JsonbParseState **state, RowReader *r, const char *column, const char *key)
{
	char	   *s = row_text(r, column);

	if (s != NULL)
		push_text(state, key, s);
}

/*
 * push_call_variables
 *		Add the variables of a call row: its fields, then its collected
 *		parameters (which take precedence, being what the caller said).
 */
static void
push_call_variables(JsonbParseState **state, RowReader *r)
{
	int			started = row_col(r, "started_at");
	int			ended = row_col(r, "ended_at");
	int			i;

	push_row_text(state, r, "caller_number", "caller_number");
	push_int8(state, "call_id", row_int8(r, "id"));
	push_row_text(state, r, "external_id", "external_id");
	push_row_text(state, r, "status", "call_status");
	if (started >= 0 && !r->nulls[started])
		push_timestamptz(state, "started_at", r->values[started]);
	if (ended >= 0 && !r->nulls[ended])
	{
		push_timestamptz(state, "ended_at", r->values[ended]);
		/* a duration only between two finite times (no overflow) */
		if (started >= 0 && !r->nulls[started] &&
			!TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(r->values[started])) &&
			!TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(r->values[ended])))
			push_int8(state, "duration_seconds",
					  (DatumGetTimestampTz(r->values[ended]) -
					   DatumGetTimestampTz(r->values[started])) / USECS_PER_SEC);
	}
	push_row_text(state, r, "summary", "summary");
	push_row_text(state, r, "transcript", "transcript");
	i = row_col(r, "callback_requested");
	if (i >= 0 && !r->nulls[i])
		push_bool(state, "callback_requested", DatumGetBool(r->values[i]));
	i = row_col(r, "collected");
	if (i >= 0 && !r->nulls[i])
		push_pairs(state, DatumGetJsonbP(r->values[i]));
}

/*
 * push_call_by_id
 *		Add the variables of the call with this id, read through its key.
 */
static void
push_call_by_id(JsonbParseState **state, int64 call_id)
{
	Oid			nsp = get_namespace_oid("nextphone", false);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	Snapshot	snapshot;
	HeapTuple	tuple;

	rel = table_open(get_relname_relid("calls", nsp), AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(call_id));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		RowReader	r;

		row_read(&r, tuple, RelationGetDescr(rel));
		push_call_variables(state, &r);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

/*
 * row_to_jsonb
 *		to_jsonb(row), exactly as SQL gives it.
 */
static Jsonb *
row_to_jsonb(HeapTuple tuple, TupleDesc desc)
{
	FmgrInfo	flinfo;
	FuncExpr   *expr;

	/* to_jsonb(anyelement) reads its argument's type from the call */
	fmgr_info(F_TO_JSONB, &flinfo);
	expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
						list_make1(makeNullConst(desc->tdtypeid, -1, InvalidOid)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	flinfo.fn_expr = (Node *) expr;
	return DatumGetJsonbP(FunctionCall1(&flinfo, heap_copy_tuple_as_datum(tuple, desc)));
}

/*
 * finish_object
 *		End an object being built and make it a Jsonb.
 */
static Jsonb *
finish_object(JsonbParseState **state)
{
	return JsonbValueToJsonb(pushJsonbValue(state, WJB_END_OBJECT, NULL));
}

/*
 * Inserting the event path's rows
 */

/*
 * outbox_owner
 *		The owner of nextphone.outbox.
 */
static Oid
outbox_owner(void)
{
	Oid			relid = get_relname_relid("outbox", get_namespace_oid("nextphone", false));
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * insert_as
 *		Run the saved INSERT once, as the given role, in fail-safe mode.
 */
static void
insert_as(Oid owner, Oid save_userid, int save_sec_context, Datum *values, char *nulls)
{
	volatile int rc = 0;

	internal_insert = true;
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		rc = SPI_execute_plan(insert_plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		internal_insert = false;
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

static HeapTuple prepare_row(TupleDesc desc, HeapTuple tuple);

#if PG_VERSION_NUM >= 140000

/*
 * Direct inserts
 *
 * Each event inserts one outbox row, in a statement of its own: through SPI
 * that is a plan-cache check, an executor start-up and shut-down and a BEFORE
 * trigger call per row, which cost more than the row itself.  As COPY FROM
 * does, the event path inserts its rows with the table AM and the index AM
 * directly, firing the outbox's statement and AFTER ROW triggers (the
 * worker's wake-up) as an INSERT would, and evaluating the column defaults
 * from expressions prepared once per session.  Its two BEFORE ROW triggers
 * are applied as the functions they call: outbox_prepare (prepare_row) and
 * outbox_url_check (NetguardCheckRowUrl), in that order, as they fire.  A
 * table this path does not know how to fill (another BEFORE ROW trigger,
 * CHECK constraints, generated columns, transition tables, partitions) is
 * filled through SPI instead.
 */
static Oid	direct_relid = InvalidOid;	/* the outbox the state below is for */
static bool direct_usable = false;
static MemoryContext direct_context = NULL;
static ExprState **direct_defaults = NULL;	/* per column; NULL: none */
static int	direct_cols[OC_COUNT];
static bool direct_url_check = false;	/* outbox_url_check is enabled */

/*
 * direct_invalidate
 *		Relcache callback: forget the prepared defaults when the outbox
 *		changed.
 */
static void
direct_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == direct_relid)
		direct_relid = InvalidOid;
}

/*
 * direct_prepare
 *		Decide whether rows may be inserted directly into this outbox, and
 *		prepare its column defaults if so.
 */
static bool
direct_prepare(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trigdesc = rel->trigdesc;
	MemoryContext oldcxt;

	if (direct_relid == RelationGetRelid(rel))
		return direct_usable;

	direct_usable = false;
	direct_url_check = false;
	if (direct_context == NULL)
		direct_context = AllocSetContextCreate(CacheMemoryContext,
											   "nextphone outbox defaults",
											   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(direct_context);
	direct_defaults = NULL;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		(desc->constr != NULL && desc->constr->num_check > 0) ||
		(trigdesc != NULL && (trigdesc->trig_insert_new_table || trigdesc->trig_insert_instead_row)))
	{
		direct_relid = RelationGetRelid(rel);
		return false;
	}
	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (!TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_BEFORE(t->tgtype) ||
			!TRIGGER_FOR_INSERT(t->tgtype))
			continue;
		/* the two known triggers as created, or the general path */
		if (strcmp(t->tgname, "outbox_url_check") == 0 &&
			t->tgenabled == TRIGGER_FIRES_ON_ORIGIN)
			direct_url_check = true;
		else if (strcmp(t->tgname, "outbox_prepare") != 0 ||
				 t->tgenabled != TRIGGER_FIRES_ON_ORIGIN)
		{
			direct_relid = RelationGetRelid(rel);
			return false;
		}
	}

	oldcxt = MemoryContextSwitchTo(direct_context);
	direct_defaults = palloc0(sizeof(ExprState *) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Node	   *expr;

		/* (a generated column's expression is computed after the triggers) */
		if (TupleDescAttr(desc, i)->attisdropped || TupleDescAttr(desc, i)->attgenerated)
			continue;
		expr = build_column_default(rel, i + 1);
		if (expr != NULL)
			direct_defaults[i] = ExecInitExpr(expression_planner((Expr *) expr), NULL);
	}
	outbox_columns(desc, direct_cols);
	MemoryContextSwitchTo(oldcxt);
	direct_relid = RelationGetRelid(rel);
	direct_usable = true;
	return true;
}

/*
 * insert_direct
 *		Insert one event row (the five values of the SPI plan's parameters)
 *		into the outbox directly: defaults, rendering, heap, indexes and
 *		triggers, as INSERT would.
 */
static void
insert_direct(Relation rel, Datum *given, char *givennulls)
{
	TupleDesc	desc = RelationGetDescr(rel);
	EState	   *estate = CreateExecutorState();
	ExprContext *econtext = GetPerTupleExprContext(estate);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	static const OutboxColumn given_cols[5] = {
		OC_WEBHOOK_ID, OC_WEBHOOK, OC_BUSINESS_ID, OC_EVENT, OC_VARS
	};
	HeapTuple	tuple;
	TupleTableSlot *slot;
	List	   *recheck;

	if (ActiveSnapshotSet())
		estate->es_snapshot = GetActiveSnapshot();

	for (int i = 0; i < desc->natts; i++)
	{
		nulls[i] = true;
		values[i] = (Datum) 0;
		if (direct_defaults[i] != NULL)
			values[i] = ExecEvalExprSwitchContext(direct_defaults[i], econtext, &nulls[i]);
	}
	for (int k = 0; k < 5; k++)
	{
		values[direct_cols[given_cols[k]]] = given[k];
		nulls[direct_cols[given_cols[k]]] = givennulls[k] == 'n';
	}
	tuple = prepare_row(desc, heap_form_tuple(desc, values, nulls));
	if (direct_url_check)
		tuple = NetguardCheckRowUrl(desc, tuple, RelationGetRelationName(rel));

	/* no range table: index 0, as for a relation opened outside a query */
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	ExecStoreHeapTuple(tuple, slot, false);
	if (desc->constr != NULL && desc->constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, estate, slot, CMD_INSERT);

	AfterTriggerBeginQuery();
	ExecBSInsertTriggers(estate, rri);
	if (desc->constr != NULL)
		ExecConstraints(rri, slot, estate);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	recheck = ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL
#if PG_VERSION_NUM >= 160000
									,false
#endif
		);
	ExecARInsertTriggers(estate, rri, slot, recheck, NULL);
	ExecASInsertTriggers(estate, rri, NULL);
	AfterTriggerEndQuery(estate);

	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	ExecCloseResultRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);	/* the triggers' slots */
	FreeExecutorState(estate);
	CommandCounterIncrement();
}

/*
 * insert_direct_as
 *		insert_direct() as the given role, in fail-safe mode.
 */
static void
insert_direct_as(Oid owner, Oid save_userid, int save_sec_context,
				 Relation rel, Datum *values, char *nulls)
{
	internal_insert = true;
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		insert_direct(rel, values, nulls);
	}
	PG_FINALLY();
	{
		internal_insert = false;
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}
#endif							/* PG_VERSION_NUM >= 140000 */

/*
 * enqueue_internal
 *		Insert one outbox row per webhook (by id, or by name when ids is
 *		NULL), each rendered by outbox_prepare in fail-safe mode.
 */
static void
enqueue_internal(int n, int64 *ids, const char *tool_name, int64 business_id,
				 const char *event, Jsonb *vars)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;

	values[1] = tool_name ? CStringGetTextDatum(tool_name) : (Datum) 0;
	nulls[1] = tool_name ? ' ' : 'n';
	values[2] = Int64GetDatum(business_id);
	nulls[2] = business_id != 0 ? ' ' : 'n';
	values[3] = CStringGetTextDatum(event);
	values[4] = JsonbPGetDatum(vars);

	/*
	 * The rows are inserted as the outbox's owner: whoever may insert a lead
	 * (or fire webhook_trigger) may queue its deliveries, without any
	 * privilege on the outbox.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	owner = outbox_owner();

#if PG_VERSION_NUM >= 140000
	{
		Relation	rel = table_open(get_relname_relid("outbox",
													   get_namespace_oid("nextphone", false)),
									 RowExclusiveLock);

		/* in replica mode the outbox's own triggers decide whether they fire */
		if (SessionReplicationRole == SESSION_REPLICATION_ROLE_ORIGIN &&
			direct_prepare(rel))
		{
			for (int i = 0; i < n; i++)
			{
				values[0] = ids ? Int64GetDatum(ids[i]) : (Datum) 0;
				nulls[0] = ids ? ' ' : 'n';
				insert_direct_as(owner, save_userid, save_sec_context, rel, values, nulls);
			}
			table_close(rel, NoLock);
			return;
		}
		table_close(rel, NoLock);
	}
#endif

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (insert_plan == NULL)
	{
		Oid			types[5] = {INT8OID, TEXTOID, INT8OID, TEXTOID, JSONBOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("INSERT INTO nextphone.outbox "
						   "(webhook_id, webhook, business_id, event, vars) "
						   "VALUES ($1, $2, $3, $4, $5)", 5, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		insert_plan = plan;
	}

	for (int i = 0; i < n; i++)
	{
		values[0] = ids ? Int64GetDatum(ids[i]) : (Datum) 0;
		nulls[0] = ids ? ' ' : 'n';
		insert_as(owner, save_userid, save_sec_context, values, nulls);
	}
	SPI_finish();
}

/*
 * check_trigger
 *		Raise an error unless called as a row trigger for the given events.
 */
static TriggerData *
check_trigger(FunctionCallInfo fcinfo, const char *name, bool after)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be called as a trigger", name)));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired FOR EACH ROW", name)));
	if (after && !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER", name)));
	return trigdata;
}

/*
 * fire_lead_created
 *		AFTER INSERT trigger on leads: queue "lead.created" for every
 *		subscribed webhook.
 *
 * Variables, later ones winning: the business built-ins, the call and its
 * collected parameters (when the lead has a call), the lead's extra fields,
 * the lead's own fields, and "event".
 */
Datum
fire_lead_created(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo, "fire_lead_created", true);
	RowReader	r;
	int64		business_id;
	int64		call_id;
	int64	   *ids;
	int			n;
	JsonbParseState *state = NULL;
	int			i;

	row_read(&r, trigdata->tg_trigtuple, RelationGetDescr(trigdata->tg_relation));
	business_id = row_int8(&r, "business_id");
	n = WebhookSubscribers(WEBHOOK_EVENT_LEAD_CREATED, business_id, &ids);
	if (n == 0)
		return PointerGetDatum(NULL);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (business_id != 0)
		push_business(&state, BusinessLookup(business_id));
	call_id = row_int8(&r, "call_id");
	if (call_id != 0)
		push_call_by_id(&state, call_id);
	else
		push_row_text(&state, &r, "phone", "caller_number");
	i = row_col(&r, "extra");
	if (i >= 0 && !r.nulls[i])
		push_pairs(&state, DatumGetJsonbP(r.values[i]));
	push_int8(&state, "lead_id", row_int8(&r, "id"));
	push_row_text(&state, &r, "first_name", "first_name");
	push_row_text(&state, &r, "last_name", "last_name");
	push_row_text(&state, &r, "phone", "phone");
	push_row_text(&state, &r, "email", "email");
	push_row_text(&state, &r, "company", "company");
	push_row_text(&state, &r, "notes", "notes");
	push_row_text(&state, &r, "source", "source");
	i = row_col(&r, "created_at");
	if (i >= 0 && !r.nulls[i])
		push_timestamptz(&state, "created_at", r.values[i]);
	push_text(&state, "event", "lead.created");

	enqueue_internal(n, ids, NULL, business_id, "lead.created", finish_object(&state));
	return PointerGetDatum(NULL);
}

/*
 * fire_call_completed
 *		AFTER INSERT or UPDATE trigger on calls (its WHEN clause says the
 *		call reached a final status): queue "call.completed" for every
 *		subscribed webhook.
 */
Datum
fire_call_completed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo, "fire_call_completed", true);
	HeapTuple	tuple;
	RowReader	r;
	int64		business_id;
	int64	   *ids;
	int			n;
	JsonbParseState *state = NULL;

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	row_read(&r, tuple, RelationGetDescr(trigdata->tg_relation));
	business_id = row_int8(&r, "business_id");
	n = WebhookSubscribers(WEBHOOK_EVENT_CALL_COMPLETED, business_id, &ids);
	if (n == 0)
		return PointerGetDatum(NULL);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (business_id != 0)
		push_business(&state, BusinessLookup(business_id));
	push_call_variables(&state, &r);
	push_text(&state, "event", "call.completed");

	enqueue_internal(n, ids, NULL, business_id, "call.completed", finish_object(&state));
	return PointerGetDatum(NULL);
}

/*
 * webhook_trigger
 *		Row trigger for any user table: queue the webhook named by the
 *		trigger's argument, with the row (NEW, or OLD on DELETE) and the
 *		built-ins of the business the row names (by a business_id or
 *		receiving_number column) or else of the webhook's own business.
 *
 * Fail-safe: a delivery that cannot be rendered, or a webhook that no longer
 * exists, gives a dead outbox row; a disabled webhook queues nothing.
 */
Datum
webhook_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo, "webhook_trigger", false);
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	HeapTuple	tuple;
	HeapTuple	result;
	RowReader	r;
	WebhookEntry *webhook;
	const char *tool_name;
	const char *op;
	int64		business_id = 0;
	int			i;
	JsonbParseState *state = NULL;
	char	   *event;

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" must name one webhook", trigger->tgname),
				 errhint("Use EXECUTE FUNCTION nextphone.webhook_trigger('tool_name').")));
	tool_name = trigger->tgargs[0];

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		tuple = trigdata->tg_trigtuple;
		result = tuple;
		op = "insert";
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		tuple = trigdata->tg_newtuple;
		result = tuple;
		op = "update";
	}
	else
	{
		tuple = trigdata->tg_trigtuple;
		result = tuple;
		op = "delete";
	}

	webhook = WebhookLookupByName(tool_name);
	if (webhook != NULL && !webhook->enabled)
		return PointerGetDatum(result);

	/* the business the row names, or the webhook's own */
	row_read(&r, tuple, RelationGetDescr(rel));
	i = row_col(&r, "business_id");
	if (i >= 0 && !r.nulls[i])
	{
		Oid			type = getBaseType(TupleDescAttr(r.desc, i)->atttypid);

		if (type == INT8OID)
			business_id = DatumGetInt64(r.values[i]);
		else if (type == INT4OID)
			business_id = DatumGetInt32(r.values[i]);
	}
	i = row_col(&r, "receiving_number");
	if (business_id == 0 && i >= 0 && !r.nulls[i])
	{
		Oid			type = getBaseType(TupleDescAttr(r.desc, i)->atttypid);

		if (type == TEXTOID || type == VARCHAROID)
			business_id = BusinessIdByNumber(TextDatumGetCString(r.values[i]));
	}
	if (business_id == 0 && webhook != NULL)
		business_id = webhook->business_id;

	event = psprintf("%s.%s.%s",
					 get_namespace_name(RelationGetNamespace(rel)),
					 RelationGetRelationName(rel), op);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (business_id != 0)
		push_business(&state, BusinessLookup(business_id));
	push_pairs(&state, row_to_jsonb(tuple, RelationGetDescr(rel)));
	push_text(&state, "event", event);

	/* by name: a webhook dropped since the trigger was made gives a dead row */
	enqueue_internal(1, NULL, tool_name, business_id, event, finish_object(&state));
	return PointerGetDatum(result);
}

/*
 * The outbox's BEFORE INSERT trigger
 */

/*
 * failsafe_error
 *		Report a problem of a delivery: an error for an explicit insert; for
 *		the event path, the message (to store in last_error of a dead row).
 */
static char *
failsafe_error(int sqlstate, const char *detail, const char *fmt,...)
	pg_attribute_printf(3, 4);

static char *
failsafe_error(int sqlstate, const char *detail, const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	if (!internal_insert)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg_internal("%s", buf.data),
				 detail ? errdetail_internal("%s", detail) : 0));
	return buf.data;
}

/*
 * count_secret_tags
 *		How many {{secret.NAME}} tags a header value holds.
 */
static int
count_secret_tags(const char *s, int len)
{
	int			n = 0;

	for (int i = 0; i + 1 < len; i++)
	{
		int			j;

		if (s[i] != '{' || s[i + 1] != '{')
			continue;
		j = i + 2;
		while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '{' || s[j] == '&'))
			j++;
		if (len - j >= 7 && strncmp(s + j, "secret.", 7) == 0)
			n++;
	}
	return n;
}

/* a webhook's request, rendered */
typedef struct WebhookRendered
{
	char	   *url;
	Jsonb	   *headers;
	char	   *body;			/* NULL: no body */
} WebhookRendered;

/*
 * render_request
 *		Render a webhook's URL, headers and body; errors are raised.
 *
 * A name the variables lack renders as null in a whole-value JSON position
 * and as nothing in text: declared optional parameters that were not
 * collected, and built-ins a row does not have (the configuration checks
 * allowed no other name).  {{secret.NAME}} tags stay in the headers for the
 * worker to resolve at send time.
 */
static void
render_request(WebhookEntry *webhook, Jsonb *vars, WebhookRendered *out)
{
	JsonbParseState *state = NULL;
	bool		content_type = false;

	out->url = TemplateRenderUrl(webhook->url, vars, TEMPLATE_MISSING_NULL);
	out->body = webhook->body_template == NULL ? NULL :
		TemplateRenderJsonBody(webhook->body_template, vars, TEMPLATE_MISSING_NULL, NULL);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < webhook->nheaders; i++)
	{
		WebhookHeader *h = &webhook->headers[i];

		push_text(&state, h->name,
				  TemplateRenderHeader(h->value, vars, TEMPLATE_MISSING_NULL, true));
		if (pg_strcasecmp(h->name, "Content-Type") == 0)
			content_type = true;
	}
	if (out->body != NULL && !content_type)
		push_text(&state, "Content-Type", "application/json");
	out->headers = finish_object(&state);
}

/*
 * render_webhook
 *		Render a webhook's request with these variables.  Returns NULL when
 *		it was rendered; otherwise, in the event path, the reason it could
 *		not be (an explicit insert gets the error itself).
 */
static char *
render_webhook(WebhookEntry *webhook, Jsonb *vars, WebhookRendered *out)
{
	StringInfoData missing;
	int			nmissing = 0;
	MemoryContext oldcxt = CurrentMemoryContext;
	char	   *volatile problem = NULL;

	/* every required parameter must have a value */
	initStringInfo(&missing);
	for (int i = 0; i < webhook->nparams; i++)
	{
		WebhookParam *p = &webhook->params[i];
		JsonbValue *v;

		if (!p->required)
			continue;
		v = getKeyJsonValueFromContainer(&vars->root, p->name, strlen(p->name), NULL);
		if (v == NULL || v->type == jbvNull)
			appendStringInfo(&missing, "%s\"%s\"", nmissing++ ? ", " : "", p->name);
	}
	if (nmissing > 0)
		return failsafe_error(ERRCODE_NULL_VALUE_NOT_ALLOWED,
							  "A required parameter must be given, and not as null.",
							  "webhook \"%s\" lacks required parameter%s %s",
							  webhook->tool_name, nmissing > 1 ? "s" : "", missing.data);

	if (!internal_insert)
	{
		render_request(webhook, vars, out);
		return NULL;
	}

	/*
	 * In the event path a rendering error becomes a dead row.  Rendering is
	 * computation on memory of this context (no locks, buffers or catalog
	 * access), so the error state can be flushed without a subtransaction;
	 * anything else (a cancel, running out of memory) is raised again.
	 */
	PG_TRY();
	{
		render_request(webhook, vars, out);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_INVALID_PARAMETER_VALUE &&
			edata->sqlerrcode != ERRCODE_INVALID_TEXT_REPRESENTATION &&
			edata->sqlerrcode != ERRCODE_PROGRAM_LIMIT_EXCEEDED &&
			edata->sqlerrcode != ERRCODE_NULL_VALUE_NOT_ALLOWED &&
			edata->sqlerrcode != ERRCODE_FEATURE_NOT_SUPPORTED)
			PG_RE_THROW();
		FlushErrorState();
		problem = edata->detail ?
			psprintf("%s: %s", edata->message, edata->detail) : pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return problem;
}

/*
 * check_url
 *		An ad-hoc URL must be http or https, without spaces or control
 *		characters.
 */
static void
check_url(const char *url)
{
	const char *p;

	if (pg_strncasecmp(url, "http://", 7) != 0 && pg_strncasecmp(url, "https://", 8) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL \"%s\" in outbox row", url),
				 errdetail("The URL must start with http:// or https://.")));
	for (p = url; *p; p++)
	{
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid URL in outbox row"),
					 errdetail("A URL holds no spaces or control characters.")));
	}
}

/*
 * header_is_reserved
 *		Whether a header name is one a request given whole may not set: the
 *		Standard Webhooks headers (webhook-id is the message's own) and those
 *		that frame the request or the connection.  (create_webhook refuses
 *		the same in a webhook's headers.)
 */
static bool
header_is_reserved(const char *name)
{
	static const char *const reserved[] = {
		"webhook-id", "webhook-timestamp", "webhook-signature",
		"host", "content-length", "transfer-encoding", "connection",
		"te", "trailer", "upgrade", "keep-alive", "expect"
	};

	for (int i = 0; i < lengthof(reserved); i++)
	{
		if (pg_strcasecmp(name, reserved[i]) == 0)
			return true;
	}
	return pg_strncasecmp(name, "proxy-", 6) == 0;
}

/*
 * check_adhoc_headers
 *		Headers given whole: a JSON object of token names and string values
 *		without CR, LF or NUL, and, unless allowed, no {{secret.NAME}} tag
 *		(secrets go only where the owner said).
 */
static void
check_adhoc_headers(Jsonb *headers, bool allow_secrets)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *name = NULL;

	if (!JB_ROOT_IS_OBJECT(headers) || JB_ROOT_IS_SCALAR(headers))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("outbox headers must be a JSON object"),
				 errhint("Give the headers as an object of names and string values, such as '{\"Content-Type\": \"application/json\"}'.")));
	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			name = pnstrdup(v.val.string.val, v.val.string.len);
			if (v.val.string.len == 0 ||
				strspn(name, "!#$%&'*+-.^_`|~0123456789"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != v.val.string.len)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid header name \"%s\" in outbox row", name),
						 errdetail("A header name is a non-empty HTTP token: letters, digits and !#$%%&'*+-.^_`|~.")));
			if (header_is_reserved(name))
				ereport(ERROR,
						(errcode(ERRCODE_RESERVED_NAME),
						 errmsg("header \"%s\" in outbox row is set by nextphone", name),
						 errdetail("The delivery worker sets the Standard Webhooks headers and the connection headers itself.")));
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of header \"%s\" in outbox row must be a JSON string", name),
						 errhint("Quote numbers and other values: \"%s\": \"42\".", name)));
			if (memchr(v.val.string.val, '\r', v.val.string.len) ||
				memchr(v.val.string.val, '\n', v.val.string.len) ||
				memchr(v.val.string.val, '\0', v.val.string.len))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of header \"%s\" in outbox row holds a line break", name),
						 errdetail("Header values cannot contain CR or LF; they are refused, not stripped.")));
			if (!allow_secrets && count_secret_tags(v.val.string.val, v.val.string.len) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("header \"%s\" of an ad-hoc outbox row names a secret", name),
						 errdetail("Secrets are sent only to the URL of a configured webhook."),
						 errhint("Create a webhook with nextphone.create_webhook() and insert its tool name.")));
		}
	}
}

/*
 * check_request
 *		Check a request given whole (ad-hoc, or the owner's for a webhook):
 *		a URL, headers as check_adhoc_headers() wants them (secret tags only
 *		when allowed), a body within nextphone.max_body_size.  Says whether
 *		the method and the headers are to be defaulted.
 */
static void
check_request(Datum *values, bool *nulls, bool allow_secrets,
			  bool *method_default, bool *headers_default)
{
	if (nulls[OC_URL])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("an outbox row needs a webhook or a URL"),
				 errhint("Insert (webhook, vars), or (method, url, headers, body) for an ad-hoc request.")));
	check_url(TextDatumGetCString(values[OC_URL]));
	*method_default = nulls[OC_METHOD];
	*headers_default = nulls[OC_HEADERS];
	if (!nulls[OC_HEADERS])
		check_adhoc_headers(DatumGetJsonbP(values[OC_HEADERS]), allow_secrets);
	if (!nulls[OC_BODY] &&
		VARSIZE_ANY_EXHDR(DatumGetPointer(values[OC_BODY])) > nextphone_max_body_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("body of outbox row is too large"),
				 errdetail("It has %zu bytes; nextphone.max_body_size is %d.",
						   VARSIZE_ANY_EXHDR(DatumGetPointer(values[OC_BODY])),
						   nextphone_max_body_size),
				 errhint("Send less, or raise nextphone.max_body_size.")));
}

/*
 * variables_for
 *		The variables an explicit insert renders with: the business
 *		built-ins, then the given variables, then "event".
 */
static Jsonb *
variables_for(int64 business_id, Jsonb *vars, const char *event)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (business_id != 0)
		push_business(&state, BusinessLookup(business_id));
	push_pairs(&state, vars);
	if (event != NULL)
		push_text(&state, "event", event);
	return finish_object(&state);
}

/*
 * first_attempt_at
 *		When a new row's first attempt is due: the first entry of its retry
 *		schedule after now, with the schedule's jitter (entry k is the wait
 *		before attempt k + 1).  False when that is now: a first entry of 0,
 *		a due time the inserter gave, or a row that is not pending.
 */
static bool
first_attempt_at(Datum *values, bool *nulls, double wait_ms, TimestampTz *at)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (wait_ms <= 0 || nulls[OC_NEXT_ATTEMPT_AT] ||
		DatumGetTimestampTz(values[OC_NEXT_ATTEMPT_AT]) != now)
		return false;
	if (!nulls[OC_STATUS] && strcmp(TextDatumGetCString(values[OC_STATUS]), "pending") != 0)
		return false;
	*at = now + (TimestampTz) (wait_ms * 1000.0 *
							   (0.8 + 0.4 * pg_prng_double(&pg_global_prng_state)));
	return true;
}

/*
 * prepare_row
 *		Render an outbox row that names a webhook, check an ad-hoc one; gives
 *		back the row to store.
 */
static HeapTuple
prepare_row(TupleDesc desc, HeapTuple tuple)
{
	int			cols[OC_COUNT];
	Datum		values[OC_COUNT];
	bool		nulls[OC_COUNT];
	Datum		newvalues[OC_COUNT];
	bool		newnulls[OC_COUNT];
	int			setcols[OC_COUNT];
	int			nset = 0;
	Datum	   *all;
	bool	   *allnulls;
	bool		prerendered = false;
	bool		method_default;
	bool		headers_default;
	TimestampTz first_at;

/* the wait before a webhook's first attempt: its schedule's, or the setting's */
#define WEBHOOK_FIRST_WAIT(w) \
	((w)->first_wait_ms >= 0 ? (w)->first_wait_ms : WorkerFirstWaitMs())
#define SET(col, value, isnull) \
	do { setcols[nset] = cols[col] + 1; newvalues[nset] = (value); \
		 newnulls[nset] = (isnull); nset++; } while (0)

	all = palloc(sizeof(Datum) * desc->natts);
	allnulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, all, allnulls);
	outbox_columns(desc, cols);
	for (int c = 0; c < OC_COUNT; c++)
	{
		values[c] = all[cols[c]];
		nulls[c] = allnulls[cols[c]];
	}

	/*
	 * A message id given by the inserter goes out as the webhook-id header
	 * and is signed: printable ASCII without spaces (which a receiver could
	 * trim from a header, and then the signature would not match), short
	 * enough for any receiver's header limits.
	 */
	if (!nulls[OC_MSG_ID])
	{
		text	   *msg_id = DatumGetTextPP(values[OC_MSG_ID]);
		const char *id = VARDATA_ANY(msg_id);
		int			len = VARSIZE_ANY_EXHDR(msg_id);
		bool		printable = true;

		for (int i = 0; i < len && printable; i++)
			printable = (id[i] > ' ' && id[i] < 0x7F);
		if (len == 0 || len > OUTBOX_MSG_ID_MAX || !printable)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid message id for an outbox row"),
					 errdetail("The message id is sent as the webhook-id header and signed: it must be 1 to %d characters of printable ASCII, without spaces.",
							   OUTBOX_MSG_ID_MAX)));
	}

	if (!nulls[OC_WEBHOOK_ID] || !nulls[OC_WEBHOOK])
	{
		WebhookEntry *webhook;
		char	   *name = nulls[OC_WEBHOOK] ? NULL : TextDatumGetCString(values[OC_WEBHOOK]);
		char	   *event = nulls[OC_EVENT] ? NULL : TextDatumGetCString(values[OC_EVENT]);
		Jsonb	   *vars = nulls[OC_VARS] ? NULL : DatumGetJsonbP(values[OC_VARS]);
		int64		business_id;
		char	   *problem = NULL;
		WebhookRendered out = {0};

		/*
		 * A webhook's request is rendered from its templates.  Only the
		 * outbox's owner may give it whole (a request signed with the
		 * webhook's secret and completed with its secrets must go where the
		 * owner said).
		 */
		prerendered = !nulls[OC_METHOD] || !nulls[OC_URL] || !nulls[OC_HEADERS] || !nulls[OC_BODY];
		if (prerendered &&
			(internal_insert || !has_privs_of_role(GetUserId(), outbox_owner())))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("an outbox row names either a webhook or a request, not both"),
					 errdetail("The request of a webhook is rendered from its templates; only the owner of the outbox may give it whole."),
					 errhint("Insert (webhook, vars), or (method, url, headers, body) for an ad-hoc request.")));
		if (vars != NULL && (!JB_ROOT_IS_OBJECT(vars) || JB_ROOT_IS_SCALAR(vars)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("outbox variables must be a JSON object")));

		webhook = !nulls[OC_WEBHOOK_ID] ?
			WebhookLookupById(DatumGetInt64(values[OC_WEBHOOK_ID])) :
			WebhookLookupByName(name);
		if (webhook == NULL)
		{
			problem = nulls[OC_WEBHOOK_ID] ?
				failsafe_error(ERRCODE_UNDEFINED_OBJECT, NULL,
							   "webhook \"%s\" does not exist", name) :
				failsafe_error(ERRCODE_UNDEFINED_OBJECT, NULL,
							   "webhook with id " INT64_FORMAT " does not exist",
							   DatumGetInt64(values[OC_WEBHOOK_ID]));
			SET(OC_STATUS, CStringGetTextDatum("dead"), false);
			SET(OC_LAST_ERROR, CStringGetTextDatum(problem), false);
			return heap_modify_tuple_by_cols(tuple, desc, nset, setcols, newvalues, newnulls);
		}
		if (name != NULL && strcmp(name, webhook->tool_name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("webhook id " INT64_FORMAT " is not webhook \"%s\"",
							webhook->id, name),
					 errhint("Give the webhook's tool name or its id; when both are given they must name the same webhook.")));
		if (!webhook->enabled && !internal_insert && !prerendered)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("webhook \"%s\" is disabled", webhook->tool_name),
					 errhint("Enable it with nextphone.update_webhook('%s', '{\"enabled\": true}').",
							 webhook->tool_name)));

		business_id = !nulls[OC_BUSINESS_ID] ? DatumGetInt64(values[OC_BUSINESS_ID]) :
			webhook->business_id;
		SET(OC_WEBHOOK_ID, Int64GetDatum(webhook->id), false);
		SET(OC_WEBHOOK, CStringGetTextDatum(webhook->tool_name), false);
		if (nulls[OC_BUSINESS_ID] && business_id != 0)
			SET(OC_BUSINESS_ID, Int64GetDatum(business_id), false);
		if (vars == NULL)
		{
			vars = variables_for(0, NULL, NULL);
			SET(OC_VARS, JsonbPGetDatum(vars), false);
		}
		if (prerendered)
		{
			/* the owner's own request: checked as an ad-hoc one, below */
			check_request(values, nulls, true, &method_default, &headers_default);
			if (method_default)
				SET(OC_METHOD, CStringGetTextDatum(webhook->method), false);
			if (headers_default)
				SET(OC_HEADERS, JsonbPGetDatum(variables_for(0, NULL, NULL)), false);
			if (first_attempt_at(values, nulls, WEBHOOK_FIRST_WAIT(webhook), &first_at))
				SET(OC_NEXT_ATTEMPT_AT, TimestampTzGetDatum(first_at), false);
			return heap_modify_tuple_by_cols(tuple, desc, nset, setcols, newvalues, newnulls);
		}

		/* the event path gives complete variables; an explicit insert gets the built-ins */
		problem = render_webhook(webhook,
								 internal_insert ? vars : variables_for(business_id, vars, event),
								 &out);
		if (problem == NULL && out.body != NULL && strlen(out.body) > nextphone_max_body_size)
			problem = failsafe_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
									 psprintf("It has %zu bytes; nextphone.max_body_size is %d.",
											  strlen(out.body), nextphone_max_body_size),
									 "body of webhook \"%s\" is too large", webhook->tool_name);
		if (problem != NULL)
		{
			SET(OC_STATUS, CStringGetTextDatum("dead"), false);
			SET(OC_LAST_ERROR, CStringGetTextDatum(problem), false);
		}
		else
		{
			SET(OC_METHOD, CStringGetTextDatum(webhook->method), false);
			SET(OC_URL, CStringGetTextDatum(out.url), false);
			SET(OC_HEADERS, JsonbPGetDatum(out.headers), false);
			SET(OC_BODY, out.body ? CStringGetTextDatum(out.body) : (Datum) 0, out.body == NULL);
			if (first_attempt_at(values, nulls, WEBHOOK_FIRST_WAIT(webhook), &first_at))
				SET(OC_NEXT_ATTEMPT_AT, TimestampTzGetDatum(first_at), false);
		}
	}
	else
	{
		/* an ad-hoc request */
		check_request(values, nulls, false, &method_default, &headers_default);
		if (method_default)
			SET(OC_METHOD, CStringGetTextDatum("POST"), false);
		if (headers_default)
			SET(OC_HEADERS, JsonbPGetDatum(variables_for(0, NULL, NULL)), false);
		if (first_attempt_at(values, nulls, WorkerFirstWaitMs(), &first_at))
			SET(OC_NEXT_ATTEMPT_AT, TimestampTzGetDatum(first_at), false);
	}

	if (nset == 0)
		return tuple;
	return heap_modify_tuple_by_cols(tuple, desc, nset, setcols, newvalues, newnulls);
#undef SET
#undef WEBHOOK_FIRST_WAIT
}

/*
 * outbox_prepare
 *		BEFORE INSERT trigger on outbox: render a row that names a webhook,
 *		check an ad-hoc one.
 */
Datum
outbox_prepare(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo, "outbox_prepare", false);

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"outbox_prepare\" must be fired BEFORE INSERT")));
	return PointerGetDatum(prepare_row(RelationGetDescr(trigdata->tg_relation),
									   trigdata->tg_trigtuple));
}
