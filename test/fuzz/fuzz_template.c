/*-------------------------------------------------------------------------
 *
 * fuzz_template.c
 *	  libFuzzer target for the template engine: parser and renderers.
 *
 * The engine (src/template.c, template_json.c, template_url.c) is built
 * outside the server against shim/ (palloc, StringInfo, ereport).  The
 * first input byte picks what to do with the rest, the template: render it
 * as text (with each escape and on_missing mode), as a JSON body, as a URL
 * or as a header keeping secrets, against a fixed set of variables of every
 * JSON type.  Syntax errors are expected; crashes, leaks and memory errors
 * (ASan) are not, and neither is a JSON body rendering that is not valid JSON.
 *
 * Build and run: make fuzz, make fuzz-run FUZZ_SECONDS=60.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "template_engine.h"

/* A variable of the fixed set, as a small tree (malloc'd once). */
typedef struct FuzzValue
{
	TmplValueKind kind;
	const char *text;			/* string bytes, or number text */
	int			len;
	int			n;				/* array elements or object members */
	const char **keys;
	struct FuzzValue *items;
} FuzzValue;

static const char *fixture =
"{\"name\":\"Jo \\\"<&>\\\" \\\\ \\n\\u2028 {{x}}\",\"n\":5000.00,\"big\":123456789012345678901,"
"\"t\":true,\"f\":false,\"z\":null,\"e\":\"\",\"list\":[1,\"two\",{\"name\":\"in\"},[],null],"
"\"obj\":{\"a\":{\"b\":\"deep\"},\"list\":[]},\"empty\":[],\"secret\":{\"K\":\"v\"},"
"\"a\":{\"a\":{\"a\":[{\"a\":1},{\"b\":2}]}}}";

static FuzzValue root;

/*
 * build
 *		Build a FuzzValue from the (trusted, simple) fixture JSON.
 */
static const char *
build(const char *p, FuzzValue *v)
{
	while (*p == ' ')
		p++;
	memset(v, 0, sizeof(FuzzValue));
	if (*p == '{' || *p == '[')
	{
		bool		obj = (*p == '{');
		int			cap = 16;

		v->kind = obj ? TMPL_VALUE_OBJECT : TMPL_VALUE_ARRAY;
		v->items = calloc(cap, sizeof(FuzzValue));
		v->keys = calloc(cap, sizeof(char *));
		p++;
		while (*p != '}' && *p != ']')
		{
			if (obj)
			{
				FuzzValue	key;

				p = build(p, &key);
				v->keys[v->n] = key.text;
				p++;			/* : */
			}
			p = build(p, &v->items[v->n++]);
			if (*p == ',')
				p++;
		}
		return p + 1;
	}
	if (*p == '"')
	{
		char	   *s = malloc(strlen(p));
		int			n = 0;

		for (p++; *p != '"'; p++)
		{
			if (*p == '\\')
			{
				p++;
				if (*p == 'n')
					s[n++] = '\n';
				else if (*p == 'u')
				{
					/* only \u2028 is used */
					s[n++] = (char) 0xE2;
					s[n++] = (char) 0x80;
					s[n++] = (char) 0xA8;
					p += 4;
				}
				else
					s[n++] = *p;
			}
			else
				s[n++] = *p;
		}
		s[n] = '\0';
		v->kind = TMPL_VALUE_STRING;
		v->text = s;
		v->len = n;
		return p + 1;
	}
	if (strncmp(p, "true", 4) == 0)
	{
		v->kind = TMPL_VALUE_TRUE;
		return p + 4;
	}
	if (strncmp(p, "false", 5) == 0)
	{
		v->kind = TMPL_VALUE_FALSE;
		return p + 5;
	}
	if (strncmp(p, "null", 4) == 0)
	{
		v->kind = TMPL_VALUE_NULL;
		return p + 4;
	}
	v->kind = TMPL_VALUE_NUMBER;
	v->text = p;
	while (strchr("-+.eE0123456789", *p))
		p++;
	v->text = strndup(v->text, p - v->text);
	v->len = strlen(v->text);
	return p;
}

static void
set_result(TmplValue *result, const FuzzValue *v)
{
	result->kind = v->kind;
	result->str = v->text;
	result->len = v->len;
	result->ref = v;
}

static bool
fuzz_get_field(const TmplValue *object, const char *key, int keylen, TmplValue *result)
{
	const FuzzValue *v = object->ref;
	int			i;

	for (i = 0; i < v->n; i++)
		if ((int) strlen(v->keys[i]) == keylen && memcmp(v->keys[i], key, keylen) == 0)
		{
			set_result(result, &v->items[i]);
			return true;
		}
	return false;
}

static int
fuzz_array_length(const TmplValue *array)
{
	return ((const FuzzValue *) array->ref)->n;
}

static void
fuzz_array_element(const TmplValue *array, int index, TmplValue *result)
{
	set_result(result, &((const FuzzValue *) array->ref)->items[index]);
}

static void
fuzz_append_number(StringInfo out, const TmplValue *number)
{
	appendBinaryStringInfo(out, number->str, number->len);
}

static void
append_json(StringInfo out, const FuzzValue *v)
{
	int			i;

	switch (v->kind)
	{
		case TMPL_VALUE_NULL:
			appendStringInfoString(out, "null");
			break;
		case TMPL_VALUE_TRUE:
			appendStringInfoString(out, "true");
			break;
		case TMPL_VALUE_FALSE:
			appendStringInfoString(out, "false");
			break;
		case TMPL_VALUE_NUMBER:
			appendBinaryStringInfo(out, v->text, v->len);
			break;
		case TMPL_VALUE_STRING:
			appendStringInfoChar(out, '"');
			TmplAppendJsonString(out, v->text, v->len);
			appendStringInfoChar(out, '"');
			break;
		case TMPL_VALUE_ARRAY:
		case TMPL_VALUE_OBJECT:
			appendStringInfoChar(out, v->kind == TMPL_VALUE_ARRAY ? '[' : '{');
			for (i = 0; i < v->n; i++)
			{
				if (i > 0)
					appendStringInfoString(out, ", ");
				if (v->kind == TMPL_VALUE_OBJECT)
				{
					appendStringInfoChar(out, '"');
					TmplAppendJsonString(out, v->keys[i], strlen(v->keys[i]));
					appendStringInfoString(out, "\": ");
				}
				append_json(out, &v->items[i]);
			}
			appendStringInfoChar(out, v->kind == TMPL_VALUE_ARRAY ? ']' : '}');
			break;
	}
}

static void
fuzz_append_json(StringInfo out, const TmplValue *value)
{
	append_json(out, value->ref);
}

static const TmplValueOps fuzz_ops = {
	fuzz_get_field,
	fuzz_array_length,
	fuzz_array_element,
	fuzz_append_number,
	fuzz_append_json
};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * LLVMFuzzerTestOneInput
 *		Parse and render one template.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jmp_buf		jump;
	char	   *src;
	int			len;
	uint8_t		mode;
	StringInfoData out;
	TmplRender	r;
	TmplValue	rootv;
	volatile bool rendered_json = false;

	if (root.kind != TMPL_VALUE_OBJECT)
		build(fixture, &root);
	if (size < 1)
		return 0;
	mode = data[0];
	len = size - 1;
	src = palloc(len + 1);
	memcpy(src, data + 1, len);
	src[len] = '\0';

	ShimErrorJump = &jump;
	if (setjmp(jump) == 0)
	{
		set_result(&rootv, &root);
		initStringInfo(&out);
		TmplRenderInit(&r, &fuzz_ops, &rootv, &out);
		r.on_missing = (TmplOnMissing) ((mode >> 3) & 3);
		/* sections nested over lists grow exponentially: bound the work */
		r.max_steps = 20000;
		switch (mode & 7)
		{
			case 0:
			case 1:
				r.escape = (TmplEscape) ((mode >> 5) & 3);
				r.escape_raw = (mode & 1);
				TmplRenderText(&r, TmplParse(src, len, NULL));
				break;
			case 2:
			case 3:
				TmplJsonRender(&r, TmplJsonParse(src, len));
				rendered_json = true;
				break;
			case 4:
				TmplUrlRender(&r, TmplUrlParse(src, len));
				if (strncasecmp(out.data, "http", 4) != 0)
					abort();
				break;
			case 5:
				r.keep_secrets = true;
				TmplRenderText(&r, TmplParse(src, len, NULL));
				break;
			default:
				(void) TmplParse(src, len, NULL);
				break;
		}
	}
	else
		rendered_json = false;

	/* a JSON body always renders to valid JSON */
	if (rendered_json && r.nmissing == 0)
	{
		ShimErrorJump = &jump;
		if (setjmp(jump) == 0)
			(void) TmplJsonParse(out.data, out.len);
		else if (ShimLastSqlstate == ERRCODE_INVALID_TEXT_REPRESENTATION)
		{
			fprintf(stderr, "rendered JSON is invalid: %s\n", out.data);
			abort();
		}
	}

	ShimErrorJump = NULL;
	ShimResetMemory();
	return 0;
}
