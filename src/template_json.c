/*-------------------------------------------------------------------------
 *
 * template_json.c
 *	  JSON body templates: rendered by walking the JSON, never by pasting
 *	  text into it.
 *
 * The template must be valid JSON.  It is scanned once: every string value
 * that holds a tag becomes a "hole"; everything else (punctuation, spacing,
 * keys, numbers, strings without tags) is copied verbatim when rendering, so
 * key order, duplicate keys and spacing are kept.  A string that is exactly
 * one tag ("{{budget}}") takes the variable's own JSON value; any other
 * string takes its rendered text, JSON-escaped.  Keys are literal: a tag in a
 * key is an error.  Whatever the variables hold, the output is valid JSON.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "template_engine.h"

typedef struct JsonScan
{
	const char *src;
	int			len;
	int			pos;
	TmplJson   *tj;
	int			maxholes;
	int			maxvars;
	StringInfoData buf;			/* a decoded string */
} JsonScan;

static void json_error(JsonScan *js, int offset, const char *reason);
static void skip_space(JsonScan *js);
static void scan_value(JsonScan *js);
static void scan_string(JsonScan *js, bool is_key);
static void scan_literal(JsonScan *js, const char *word);
static void scan_number(JsonScan *js);
static int	hex_value(char c);
static void add_hole(JsonScan *js, int start, int end);

/*
 * json_error
 *		Raise an error for a template that is not valid JSON.
 */
static void
json_error(JsonScan *js, int offset, const char *reason)
{
	TmplPos		pos = TmplPosition(js->src, offset, NULL);

	ereport(ERROR,
			errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			errmsg("invalid JSON template at line %d, column %d: %s",
				   pos.line, pos.column, reason));
}

/*
 * skip_space
 *		Skip JSON whitespace.
 */
static void
skip_space(JsonScan *js)
{
	while (js->pos < js->len)
	{
		char		c = js->src[js->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		js->pos++;
	}
}

/*
 * hex_value
 *		The value of a hex digit, or -1.
 */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * add_hole
 *		Record the string token src[start, end) holding tags; its decoded
 *		text is in js->buf.
 */
static void
add_hole(JsonScan *js, int start, int end)
{
	TmplJson   *tj = js->tj;
	TmplJsonHole *h;
	char	   *text;
	TmplPos		base;
	Tmpl	   *t;
	int			i,
				j;

	if (tj->nholes == js->maxholes)
	{
		js->maxholes = js->maxholes ? js->maxholes * 2 : 8;
		tj->holes = tj->holes ? repalloc(tj->holes, js->maxholes * sizeof(TmplJsonHole))
			: palloc(js->maxholes * sizeof(TmplJsonHole));
	}
	h = &tj->holes[tj->nholes++];
	h->start = start;
	h->end = end;

	/* positions inside the string count from just after its quote */
	base = TmplPosition(js->src, start + 1, NULL);
	text = pnstrdup(js->buf.data, js->buf.len);
	t = TmplParse(text, js->buf.len, &base);
	h->tmpl = t;
	h->whole = (t->first != NULL && t->first->next == NULL &&
				t->first->kind == TMPL_NODE_VARIABLE);

	for (i = 0; i < t->nvars; i++)
	{
		for (j = 0; j < tj->nvars; j++)
			if (strcmp(tj->vars[j], t->vars[i]) == 0)
				break;
		if (j < tj->nvars)
			continue;
		if (tj->nvars == js->maxvars)
		{
			js->maxvars = js->maxvars ? js->maxvars * 2 : 8;
			tj->vars = tj->vars ? repalloc(tj->vars, js->maxvars * sizeof(char *))
				: palloc(js->maxvars * sizeof(char *));
		}
		tj->vars[tj->nvars++] = t->vars[i];
	}
}

/*
 * scan_string
 *		Scan a string token, decoding it into js->buf.  A value holding a tag
 *		becomes a hole; a key holding one is an error.
 */
static void
scan_string(JsonScan *js, bool is_key)
{
	int			start = js->pos;

	resetStringInfo(&js->buf);
	js->pos++;					/* the opening quote */
	for (;;)
	{
		unsigned char c;

		if (js->pos >= js->len)
			json_error(js, start, "unterminated string");
		c = (unsigned char) js->src[js->pos];
		if (c == '"')
			break;
		if (c < 0x20)
			json_error(js, js->pos, "control characters must be escaped in a string");
		if (c != '\\')
		{
			appendStringInfoChar(&js->buf, c);
			js->pos++;
			continue;
		}
		if (js->pos + 1 >= js->len)
			json_error(js, start, "unterminated string");
		c = js->src[js->pos + 1];
		js->pos += 2;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				appendStringInfoChar(&js->buf, c);
				break;
			case 'b':
				appendStringInfoChar(&js->buf, '\b');
				break;
			case 'f':
				appendStringInfoChar(&js->buf, '\f');
				break;
			case 'n':
				appendStringInfoChar(&js->buf, '\n');
				break;
			case 'r':
				appendStringInfoChar(&js->buf, '\r');
				break;
			case 't':
				appendStringInfoChar(&js->buf, '\t');
				break;
			case 'u':
				{
					unsigned int cp = 0;
					int			k;

					for (k = 0; k < 4; k++)
					{
						int			h = js->pos + k < js->len ? hex_value(js->src[js->pos + k]) : -1;

						if (h < 0)
							json_error(js, js->pos - 2, "\"\\u\" must be followed by four hex digits");
						cp = cp * 16 + h;
					}
					js->pos += 4;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						unsigned int lo = 0;

						if (js->pos + 6 > js->len || js->src[js->pos] != '\\' ||
							js->src[js->pos + 1] != 'u')
							json_error(js, js->pos - 6, "a high surrogate must be followed by a low surrogate");
						for (k = 0; k < 4; k++)
						{
							int			h = hex_value(js->src[js->pos + 2 + k]);

							if (h < 0)
								json_error(js, js->pos, "\"\\u\" must be followed by four hex digits");
							lo = lo * 16 + h;
						}
						if (lo < 0xDC00 || lo > 0xDFFF)
							json_error(js, js->pos, "a high surrogate must be followed by a low surrogate");
						js->pos += 6;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						json_error(js, js->pos - 6, "a low surrogate must follow a high surrogate");
					else if (cp == 0)
						json_error(js, js->pos - 6, "\\u0000 cannot be converted to text");

					/* as UTF-8 */
					if (cp < 0x80)
						appendStringInfoChar(&js->buf, cp);
					else if (cp < 0x800)
					{
						appendStringInfoChar(&js->buf, 0xC0 | (cp >> 6));
						appendStringInfoChar(&js->buf, 0x80 | (cp & 0x3F));
					}
					else if (cp < 0x10000)
					{
						appendStringInfoChar(&js->buf, 0xE0 | (cp >> 12));
						appendStringInfoChar(&js->buf, 0x80 | ((cp >> 6) & 0x3F));
						appendStringInfoChar(&js->buf, 0x80 | (cp & 0x3F));
					}
					else
					{
						appendStringInfoChar(&js->buf, 0xF0 | (cp >> 18));
						appendStringInfoChar(&js->buf, 0x80 | ((cp >> 12) & 0x3F));
						appendStringInfoChar(&js->buf, 0x80 | ((cp >> 6) & 0x3F));
						appendStringInfoChar(&js->buf, 0x80 | (cp & 0x3F));
					}
					break;
				}
			default:
				json_error(js, js->pos - 2, "invalid escape in a string");
		}
	}
	js->pos++;					/* the closing quote */

	if (memchr(js->buf.data, '{', js->buf.len) == NULL ||
		strstr(js->buf.data, "{{") == NULL)
		return;
	if (is_key)
	{
		TmplPos		pos = TmplPosition(js->src, start, NULL);

		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("invalid JSON template at line %d, column %d: a key cannot hold a template tag",
					   pos.line, pos.column),
				errdetail("Keys of a JSON template are literal; only values are rendered."));
	}
	add_hole(js, start, js->pos);
}

/*
 * scan_literal
 *		Scan true, false or null.
 */
static void
scan_literal(JsonScan *js, const char *word)
{
	int			n = strlen(word);

	if (js->len - js->pos < n || memcmp(js->src + js->pos, word, n) != 0)
		json_error(js, js->pos, "unexpected token");
	js->pos += n;
}

/*
 * scan_number
 *		Scan a number, which is copied as written.
 */
static void
scan_number(JsonScan *js)
{
	const char *s = js->src;
	int			p = js->pos;
	int			start = p;

	if (p < js->len && s[p] == '-')
		p++;
	if (p < js->len && s[p] == '0')
		p++;
	else if (p < js->len && s[p] >= '1' && s[p] <= '9')
		while (p < js->len && s[p] >= '0' && s[p] <= '9')
			p++;
	else
		json_error(js, start, "invalid number");
	if (p < js->len && s[p] == '.')
	{
		p++;
		if (p >= js->len || s[p] < '0' || s[p] > '9')
			json_error(js, start, "invalid number");
		while (p < js->len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	if (p < js->len && (s[p] == 'e' || s[p] == 'E'))
	{
		p++;
		if (p < js->len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= js->len || s[p] < '0' || s[p] > '9')
			json_error(js, start, "invalid number");
		while (p < js->len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	js->pos = p;
}

/*
 * scan_value
 *		Scan one JSON value and what it contains.
 */
static void
scan_value(JsonScan *js)
{
	char		c;

	check_stack_depth();
	skip_space(js);
	if (js->pos >= js->len)
		json_error(js, js->pos, "unexpected end of template");
	c = js->src[js->pos];
	switch (c)
	{
		case '{':
			js->pos++;
			skip_space(js);
			if (js->pos < js->len && js->src[js->pos] == '}')
			{
				js->pos++;
				return;
			}
			for (;;)
			{
				skip_space(js);
				if (js->pos >= js->len || js->src[js->pos] != '"')
					json_error(js, js->pos, "expected a string key");
				scan_string(js, true);
				skip_space(js);
				if (js->pos >= js->len || js->src[js->pos] != ':')
					json_error(js, js->pos, "expected \":\"");
				js->pos++;
				scan_value(js);
				skip_space(js);
				if (js->pos < js->len && js->src[js->pos] == ',')
				{
					js->pos++;
					continue;
				}
				if (js->pos < js->len && js->src[js->pos] == '}')
				{
					js->pos++;
					return;
				}
				json_error(js, js->pos, "expected \",\" or \"}\"");
			}
			break;
		case '[':
			js->pos++;
			skip_space(js);
			if (js->pos < js->len && js->src[js->pos] == ']')
			{
				js->pos++;
				return;
			}
			for (;;)
			{
				scan_value(js);
				skip_space(js);
				if (js->pos < js->len && js->src[js->pos] == ',')
				{
					js->pos++;
					continue;
				}
				if (js->pos < js->len && js->src[js->pos] == ']')
				{
					js->pos++;
					return;
				}
				json_error(js, js->pos, "expected \",\" or \"]\"");
			}
			break;
		case '"':
			scan_string(js, false);
			break;
		case 't':
			scan_literal(js, "true");
			break;
		case 'f':
			scan_literal(js, "false");
			break;
		case 'n':
			scan_literal(js, "null");
			break;
		default:
			scan_number(js);
			break;
	}
}

/*
 * TmplJsonParse
 *		Check a JSON body template and find its strings that hold tags.  The
 *		result points into "src", which must live as long as it.
 */
TmplJson *
TmplJsonParse(const char *src, int len)
{
	JsonScan	js;

	memset(&js, 0, sizeof(js));
	js.src = src;
	js.len = len;
	js.tj = palloc0(sizeof(TmplJson));
	js.tj->src = src;
	js.tj->len = len;
	initStringInfo(&js.buf);

	scan_value(&js);
	skip_space(&js);
	if (js.pos < len)
		json_error(&js, js.pos, "unexpected text after the JSON value");
	pfree(js.buf.data);
	return js.tj;
}

/*
 * TmplJsonRender
 *		Render a JSON body template into r->out.
 */
void
TmplJsonRender(TmplRender *r, const TmplJson *tj)
{
	StringInfo	out = r->out;
	int			pos = 0;
	int			i;

	if (!r->scratch_ready)
	{
		initStringInfo(&r->scratch);
		r->scratch_ready = true;
	}

	for (i = 0; i < tj->nholes; i++)
	{
		const TmplJsonHole *h = &tj->holes[i];

		appendBinaryStringInfo(out, tj->src + pos, h->start - pos);
		pos = h->end;

		if (h->whole)
		{
			const TmplNode *node = h->tmpl->first;
			TmplValue	v;

			if (TmplLookup(r, &node->name, &v))
				TmplAppendValueJson(r, out, &v);
			else
			{
				switch (r->on_missing)
				{
					case TMPL_MISSING_ERROR:
						TmplNoteMissing(r, node->name.name);
						break;
					case TMPL_MISSING_EMPTY:
						appendStringInfoString(out, "\"\"");
						break;
					case TMPL_MISSING_NULL:
						appendStringInfoString(out, "null");
						break;
					case TMPL_MISSING_KEEP:
						appendBinaryStringInfo(out, tj->src + h->start, h->end - h->start);
						break;
				}
			}
		}
		else
		{
			/* the string's text, rendered raw, then JSON-escaped whole */
			resetStringInfo(&r->scratch);
			r->out = &r->scratch;
			TmplRenderText(r, h->tmpl);
			r->out = out;
			appendStringInfoChar(out, '"');
			TmplAppendJsonString(out, r->scratch.data, r->scratch.len);
			appendStringInfoChar(out, '"');
		}
	}
	appendBinaryStringInfo(out, tj->src + pos, tj->len - pos);
}
