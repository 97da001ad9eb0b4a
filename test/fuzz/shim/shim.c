/*-------------------------------------------------------------------------
 *
 * shim.c
 *	  palloc, StringInfo and ereport for the template engine outside the
 *	  server (see shim/postgres.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

/* Every palloc'd chunk is on this list until pfree'd or reset. */
typedef struct ShimChunk
{
	struct ShimChunk *prev;
	struct ShimChunk *next;
	Size		size;
	Size		pad;			/* keep the payload 16-byte aligned */
} ShimChunk;

static ShimChunk chunks = {&chunks, &chunks, 0, 0};

jmp_buf    *ShimErrorJump = NULL;
int			ShimLastSqlstate = 0;
static char shim_message[256];

/*
 * palloc
 *		malloc, remembered for ShimResetMemory.
 */
void *
palloc(Size size)
{
	ShimChunk  *c = malloc(sizeof(ShimChunk) + size);

	if (c == NULL)
		abort();
	c->size = size;
	c->next = chunks.next;
	c->prev = &chunks;
	chunks.next->prev = c;
	chunks.next = c;
	return c + 1;
}

/*
 * palloc0
 *		palloc, zeroed.
 */
void *
palloc0(Size size)
{
	void	   *p = palloc(size);

	memset(p, 0, size);
	return p;
}

/*
 * pfree
 *		Free a palloc'd chunk.
 */
void
pfree(void *p)
{
	ShimChunk  *c = (ShimChunk *) p - 1;

	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

/*
 * repalloc
 *		Resize a palloc'd chunk.
 */
void *
repalloc(void *p, Size size)
{
	void	   *n = palloc(size);
	ShimChunk  *c = (ShimChunk *) p - 1;

	memcpy(n, p, c->size < size ? c->size : size);
	pfree(p);
	return n;
}

/*
 * pnstrdup
 *		Copy at most len bytes of a string, NUL-terminated.
 */
char *
pnstrdup(const char *s, Size len)
{
	Size		n = strnlen(s, len);
	char	   *p = palloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * psprintf
 *		sprintf into palloc'd memory.
 */
char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p = palloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(p, n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/*
 * ShimResetMemory
 *		Free every palloc'd chunk, as a memory context reset would.
 */
void
ShimResetMemory(void)
{
	while (chunks.next != &chunks)
		pfree(chunks.next + 1);
}

/*
 * errcode, errmsg, errdetail, errhint
 *		Remember what an error says (its message is formatted, so that
 *		format arguments are exercised too).
 */
int
errcode(int sqlstate)
{
	ShimLastSqlstate = sqlstate;
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(shim_message, sizeof(shim_message), fmt, ap);
	va_end(ap);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

/*
 * ShimThrow
 *		ereport(ERROR): jump back to the caller's ShimErrorJump.
 */
void
ShimThrow(void)
{
	if (ShimErrorJump == NULL)
	{
		fprintf(stderr, "uncaught error: %s\n", shim_message);
		abort();
	}
	longjmp(*ShimErrorJump, 1);
}

/*
 * The StringInfo functions, as the server has them.
 */
void
initStringInfo(StringInfo str)
{
	str->maxlen = 64;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0 || needed > 0x3fffffff - str->len)
		abort();
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const void *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	appendBinaryStringInfo(str, &ch, 1);
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	enlargeStringInfo(str, n);
	va_start(ap, fmt);
	vsnprintf(str->data + str->len, n + 1, fmt, ap);
	va_end(ap);
	str->len += n;
}
