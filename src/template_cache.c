/*-------------------------------------------------------------------------
 *
 * template_cache.c
 *	  The backend's cache of parsed templates.
 *
 * A bounded, set-associative cache keyed by the template's kind and text:
 * TEMPLATE_CACHE_SETS sets of TEMPLATE_CACHE_WAYS entries, the least
 * recently used entry of a set giving way to a new template.  Each entry
 * lives in its own memory context (under CacheMemoryContext), holding a copy
 * of the text and its parsed form, so an eviction frees everything at once.
 * A hit costs one hash of the text and one comparison: no parsing, no
 * catalog look-up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "template_cache.h"
#include "template_engine.h"

#define TEMPLATE_CACHE_SETS 64
#define TEMPLATE_CACHE_WAYS 4

typedef struct TemplateCacheEntry
{
	MemoryContext cxt;			/* NULL: the entry is free */
	uint32		hash;
	TemplateKind kind;
	int			len;
	char	   *src;			/* the template text, NUL-terminated */
	void	   *parsed;
	uint64		last_used;
} TemplateCacheEntry;

static TemplateCacheEntry cache[TEMPLATE_CACHE_SETS][TEMPLATE_CACHE_WAYS];
static uint64 cache_clock = 0;
static MemoryContext TemplateCacheContext = NULL;

/*
 * TemplateCacheGet
 *		The parsed form of a template, from the cache or parsed now.
 */
void *
TemplateCacheGet(const char *src, int len, TemplateKind kind)
{
	uint32		hash = hash_bytes((const unsigned char *) src, len) ^ (uint32) kind;
	TemplateCacheEntry *set = cache[hash % TEMPLATE_CACHE_SETS];
	TemplateCacheEntry *victim = &set[0];
	MemoryContext cxt;
	MemoryContext oldcxt;
	char	   *copy;
	void	   *parsed;
	int			i;

	for (i = 0; i < TEMPLATE_CACHE_WAYS; i++)
	{
		TemplateCacheEntry *e = &set[i];

		if (e->cxt != NULL && e->hash == hash && e->kind == kind &&
			e->len == len && memcmp(e->src, src, len) == 0)
		{
			e->last_used = ++cache_clock;
			return e->parsed;
		}
		if (e->cxt == NULL ||
			(victim->cxt != NULL && e->last_used < victim->last_used))
			victim = e;
	}

	if (TemplateCacheContext == NULL)
		TemplateCacheContext = AllocSetContextCreate(CacheMemoryContext,
													 "nextphone template cache",
													 ALLOCSET_SMALL_SIZES);

	/*
	 * Parse in a context of the caller's until it succeeds, so that a syntax
	 * error leaves nothing behind in the cache.
	 */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "nextphone template",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	copy = palloc(len + 1);
	memcpy(copy, src, len);
	copy[len] = '\0';
	switch (kind)
	{
		case TEMPLATE_TEXT:
			parsed = TmplParse(copy, len, NULL);
			break;
		case TEMPLATE_JSON:
			parsed = TmplJsonParse(copy, len);
			break;
		case TEMPLATE_URL:
			parsed = TmplUrlParse(copy, len);
			break;
		default:
			elog(ERROR, "unknown template kind %d", (int) kind);
			parsed = NULL;		/* keep compiler quiet */
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextSetParent(cxt, TemplateCacheContext);

	if (victim->cxt != NULL)
		MemoryContextDelete(victim->cxt);
	victim->cxt = cxt;
	victim->hash = hash;
	victim->kind = kind;
	victim->len = len;
	victim->src = copy;
	victim->parsed = parsed;
	victim->last_used = ++cache_clock;
	return parsed;
}
