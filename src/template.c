/*-------------------------------------------------------------------------
 *
 * template.c
 *	  The Mustache template engine: parser and text renderer.
 *
 * Mustache core syntax: interpolation ({{x}}, {{{x}}}, {{&x}}), dotted
 * names, the implicit iterator {{.}}, sections, inverted sections, comments
 * and delimiter changes, with the spec's standalone-line whitespace rules.
 * Partials, parents and blocks are refused.  A template is parsed once into
 * a tree of TmplNode (kept in the backend's cache, see template_cache.c) and
 * rendered any number of times against variables read through TmplValueOps.
 *
 * Only palloc, StringInfo and ereport are used here, so this file also
 * builds outside the server for the fuzz target (test/fuzz/).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "template_engine.h"

/* Longest delimiter a {{=...=}} tag may set. */
#define TMPL_MAX_DELIMITER 16

/* An open section while parsing. */
typedef struct ParseFrame
{
	TmplNode   *section;		/* NULL for the top level */
	TmplNode  **tail;			/* where the next node goes */
	int			offset;			/* where the section's tag starts */
} ParseFrame;

typedef struct ParseState
{
	const char *src;
	int			len;
	const TmplPos *base;
	char		otag[TMPL_MAX_DELIMITER + 1];
	int			olen;
	char		ctag[TMPL_MAX_DELIMITER + 1];
	int			clen;
	ParseFrame *frames;
	int			nframes;
	int			maxframes;
	Tmpl	   *tmpl;
	int			maxvars;
} ParseState;

static const char *find_bytes(const char *hay, int haylen, const char *needle, int nlen);
static void parse_error(ParseState *ps, int offset, int sqlstate, const char *reason);
static void add_node(ParseState *ps, TmplNode *node);
static void add_text(ParseState *ps, int start, int end);
static void parse_name(ParseState *ps, int offset, const char *s, int len, TmplName *name);
static void note_variable(ParseState *ps, const char *name);
static void set_delimiters(ParseState *ps, int offset, const char *s, int len);
static void render_nodes(TmplRender *r, const TmplNode *node);
static void append_value_text(TmplRender *r, const TmplValue *v, bool raw);
static void push_context(TmplRender *r, const TmplValue *v);
static bool value_is_falsey(TmplRender *r, const TmplValue *v);

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * find_bytes
 *		First occurrence of needle in hay, or NULL.
 */
static const char *
find_bytes(const char *hay, int haylen, const char *needle, int nlen)
{
	const char *p = hay;
	const char *end = hay + haylen - nlen;

	while (p <= end)
	{
		p = memchr(p, needle[0], end - p + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p, needle, nlen) == 0)
			return p;
		p++;
	}
	return NULL;
}

/*
 * TmplPosition
 *		Line and column (both from 1, columns in characters) of a byte offset,
 *		counted from "base" when the text is part of a larger one.
 */
TmplPos
TmplPosition(const char *src, int offset, const TmplPos *base)
{
	TmplPos		pos = {1, 1};
	int			i;

	if (base)
		pos = *base;
	for (i = 0; i < offset; i++)
	{
		if (src[i] == '\n')
		{
			pos.line++;
			pos.column = 1;
		}
		else if ((src[i] & 0xC0) != 0x80)
			pos.column++;
	}
	return pos;
}

/*
 * parse_error
 *		Raise a template syntax error at a byte offset of the source.
 */
static void
parse_error(ParseState *ps, int offset, int sqlstate, const char *reason)
{
	TmplPos		pos = TmplPosition(ps->src, offset, ps->base);

	ereport(ERROR,
			errcode(sqlstate),
			errmsg("invalid template at line %d, column %d: %s",
				   pos.line, pos.column, reason));
}

/*
 * add_node
 *		Append a node to the innermost open section (or the top level).
 */
static void
add_node(ParseState *ps, TmplNode *node)
{
	ParseFrame *f = &ps->frames[ps->nframes - 1];

	*f->tail = node;
	f->tail = &node->next;
}

/*
 * add_text
 *		Append the literal text src[start, end), if any.
 */
static void
add_text(ParseState *ps, int start, int end)
{
	TmplNode   *node;

	if (end <= start)
		return;
	node = palloc0(sizeof(TmplNode));
	node->kind = TMPL_NODE_TEXT;
	node->text = ps->src + start;
	node->len = end - start;
	add_node(ps, node);
}

/*
 * parse_name
 *		Check a tag's name and split it into its dotted parts.
 */
static void
parse_name(ParseState *ps, int offset, const char *s, int len, TmplName *name)
{
	int			i;
	int			start;
	int			n;

	if (len == 0)
		parse_error(ps, offset, ERRCODE_INVALID_PARAMETER_VALUE, "empty tag name");
	for (i = 0; i < len; i++)
	{
		if (is_space(s[i]) || s[i] == '\0')
			parse_error(ps, offset, ERRCODE_INVALID_PARAMETER_VALUE,
						"a tag name cannot contain spaces or control characters");
	}
	name->name = pnstrdup(s, len);
	if (len == 1 && s[0] == '.')
	{
		name->nparts = 0;
		name->parts = NULL;
		name->partlens = NULL;
		return;
	}

	n = 1;
	for (i = 0; i < len; i++)
		if (s[i] == '.')
			n++;
	name->nparts = n;
	name->parts = palloc(n * sizeof(char *));
	name->partlens = palloc(n * sizeof(int));
	n = 0;
	start = 0;
	for (i = 0; i <= len; i++)
	{
		if (i == len || s[i] == '.')
		{
			if (i == start)
				parse_error(ps, offset, ERRCODE_INVALID_PARAMETER_VALUE,
							"a dotted tag name cannot have an empty part");
			name->parts[n] = s + start;
			name->partlens[n] = i - start;
			n++;
			start = i + 1;
		}
	}
}

/*
 * note_variable
 *		Add a name to the template's list of variables, unless already there.
 */
static void
note_variable(ParseState *ps, const char *name)
{
	Tmpl	   *t = ps->tmpl;
	int			i;

	if (strcmp(name, ".") == 0)
		return;
	for (i = 0; i < t->nvars; i++)
		if (strcmp(t->vars[i], name) == 0)
			return;
	if (t->nvars == ps->maxvars)
	{
		ps->maxvars = ps->maxvars ? ps->maxvars * 2 : 8;
		t->vars = t->vars ? repalloc(t->vars, ps->maxvars * sizeof(char *))
			: palloc(ps->maxvars * sizeof(char *));
	}
	t->vars[t->nvars++] = (char *) name;
}

/*
 * set_delimiters
 *		Apply a delimiter change, "s" being what stands between the "="s.
 */
static void
set_delimiters(ParseState *ps, int offset, const char *s, int len)
{
	int			i = 0;
	int			ostart,
				olen,
				cstart,
				clen;

	while (i < len && is_space(s[i]))
		i++;
	ostart = i;
	while (i < len && !is_space(s[i]))
		i++;
	olen = i - ostart;
	while (i < len && is_space(s[i]))
		i++;
	cstart = i;
	while (i < len && !is_space(s[i]))
		i++;
	clen = i - cstart;
	while (i < len && is_space(s[i]))
		i++;

	if (olen == 0 || clen == 0 || i != len)
		parse_error(ps, offset, ERRCODE_INVALID_PARAMETER_VALUE,
					"a delimiter change must give two delimiters separated by a space");
	if (olen > TMPL_MAX_DELIMITER || clen > TMPL_MAX_DELIMITER)
		parse_error(ps, offset, ERRCODE_INVALID_PARAMETER_VALUE,
					"a delimiter cannot be longer than 16 bytes");
	if (memchr(s + ostart, '=', olen) || memchr(s + cstart, '=', clen))
		parse_error(ps, offset, ERRCODE_INVALID_PARAMETER_VALUE,
					"a delimiter cannot contain \"=\"");
	memcpy(ps->otag, s + ostart, olen);
	ps->otag[olen] = '\0';
	ps->olen = olen;
	memcpy(ps->ctag, s + cstart, clen);
	ps->ctag[clen] = '\0';
	ps->clen = clen;
}

/*
 * TmplParse
 *		Parse a Mustache template.  The result points into "src", which must
 *		live as long as it.  Syntax errors are raised with their line and
 *		column, counted from "base" when given.
 */
Tmpl *
TmplParse(const char *src, int len, const TmplPos *base)
{
	ParseState	ps;
	int			pos = 0;		/* where scanning resumes */
	int			chunk = 0;		/* start of the pending literal text */

	memset(&ps, 0, sizeof(ps));
	ps.src = src;
	ps.len = len;
	ps.base = base;
	strcpy(ps.otag, "{{");
	ps.olen = 2;
	strcpy(ps.ctag, "}}");
	ps.clen = 2;
	ps.tmpl = palloc0(sizeof(Tmpl));
	ps.maxframes = 8;
	ps.frames = palloc(ps.maxframes * sizeof(ParseFrame));
	ps.frames[0].section = NULL;
	ps.frames[0].tail = &ps.tmpl->first;
	ps.frames[0].offset = 0;
	ps.nframes = 1;

	for (;;)
	{
		const char *open;
		int			tagstart,
					namestart,
					closeat,
					tagend,
					textend,
					next;
		char		type;
		char		closeseq[TMPL_MAX_DELIMITER + 2];
		int			closelen;
		const char *close;
		const char *name;
		int			namelen;

		open = find_bytes(src + pos, len - pos, ps.otag, ps.olen);
		if (open == NULL)
		{
			add_text(&ps, chunk, len);
			break;
		}
		tagstart = open - src;
		namestart = tagstart + ps.olen;
		type = namestart < len ? src[namestart] : '\0';

		/* the sequence that ends this tag */
		closelen = 0;
		if (type == '{' || type == '=')
			closeseq[closelen++] = (type == '{') ? '}' : '=';
		else if (strchr("&#^/!><$", type) == NULL || type == '\0')
			type = '\0';		/* a variable */
		memcpy(closeseq + closelen, ps.ctag, ps.clen);
		closelen += ps.clen;
		if (type != '\0')
			namestart++;

		close = find_bytes(src + namestart, len - namestart, closeseq, closelen);
		if (close == NULL)
			parse_error(&ps, tagstart, ERRCODE_INVALID_PARAMETER_VALUE,
						type == '!' ? "unclosed comment" : "unclosed tag");
		closeat = close - src;
		tagend = closeat + closelen;

		/* the name, without surrounding spaces */
		name = src + namestart;
		namelen = closeat - namestart;
		while (namelen > 0 && is_space(name[0]))
		{
			name++;
			namelen--;
		}
		while (namelen > 0 && is_space(name[namelen - 1]))
			namelen--;

		/*
		 * A tag other than an interpolation that stands alone on its line
		 * takes the line's indentation and line end with it.
		 */
		textend = tagstart;
		next = tagend;
		if (type != '\0' && type != '{' && type != '&')
		{
			int			ls = tagstart;
			bool		standalone;

			while (ls > chunk && is_blank(src[ls - 1]))
				ls--;
			standalone = (ls > chunk) ? (src[ls - 1] == '\n')
				: (ls == 0 || src[ls - 1] == '\n');
			if (standalone)
			{
				int			q = tagend;

				while (q < len && is_blank(src[q]))
					q++;
				if (q == len)
					next = q;
				else if (src[q] == '\n')
					next = q + 1;
				else if (src[q] == '\r' && q + 1 < len && src[q + 1] == '\n')
					next = q + 2;
				else
					standalone = false;
				if (standalone)
					textend = ls;
				else
					next = tagend;
			}
		}
		add_text(&ps, chunk, textend);

		switch (type)
		{
			case '!':
				break;
			case '=':
				set_delimiters(&ps, tagstart, src + namestart, closeat - namestart);
				break;
			case '>':
				parse_error(&ps, tagstart, ERRCODE_FEATURE_NOT_SUPPORTED,
							"partials are not supported");
				break;
			case '<':
			case '$':
				parse_error(&ps, tagstart, ERRCODE_FEATURE_NOT_SUPPORTED,
							"parents and blocks are not supported");
				break;
			case '#':
			case '^':
				{
					TmplNode   *node = palloc0(sizeof(TmplNode));
					ParseFrame *f;

					node->kind = (type == '#') ? TMPL_NODE_SECTION : TMPL_NODE_INVERTED;
					parse_name(&ps, tagstart, name, namelen, &node->name);
					node->tag = src + tagstart;
					node->taglen = tagend - tagstart;
					note_variable(&ps, node->name.name);
					add_node(&ps, node);
					if (ps.nframes == ps.maxframes)
					{
						ps.maxframes *= 2;
						ps.frames = repalloc(ps.frames, ps.maxframes * sizeof(ParseFrame));
					}
					f = &ps.frames[ps.nframes++];
					f->section = node;
					f->tail = &node->children;
					f->offset = tagstart;
					if (ps.nframes - 1 > ps.tmpl->maxdepth)
						ps.tmpl->maxdepth = ps.nframes - 1;
					break;
				}
			case '/':
				{
					TmplNode   *open_section;

					if (namelen == 0)
						parse_error(&ps, tagstart, ERRCODE_INVALID_PARAMETER_VALUE,
									"empty tag name");
					if (ps.nframes == 1)
						parse_error(&ps, tagstart, ERRCODE_INVALID_PARAMETER_VALUE,
									psprintf("closing tag \"%.*s\" has no open section",
											 namelen, name));
					open_section = ps.frames[ps.nframes - 1].section;
					if (strlen(open_section->name.name) != namelen ||
						memcmp(open_section->name.name, name, namelen) != 0)
						parse_error(&ps, tagstart, ERRCODE_INVALID_PARAMETER_VALUE,
									psprintf("closing tag \"%.*s\" does not match open section \"%s\"",
											 namelen, name, open_section->name.name));
					ps.nframes--;
					break;
				}
			default:
				{
					TmplNode   *node = palloc0(sizeof(TmplNode));

					node->kind = TMPL_NODE_VARIABLE;
					node->raw = (type == '{' || type == '&');
					parse_name(&ps, tagstart, name, namelen, &node->name);
					node->tag = src + tagstart;
					node->taglen = tagend - tagstart;
					note_variable(&ps, node->name.name);
					add_node(&ps, node);
					break;
				}
		}
		pos = chunk = next;
	}

	if (ps.nframes > 1)
	{
		ParseFrame *f = &ps.frames[ps.nframes - 1];

		parse_error(&ps, f->offset, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("section \"%s\" is not closed", f->section->name.name));
	}
	pfree(ps.frames);
	return ps.tmpl;
}

/*
 * TmplRenderInit
 *		Prepare a rendering into "out" with "root" as the outermost context.
 *		The caller sets escape, on_missing and the other options after.
 */
void
TmplRenderInit(TmplRender *r, const TmplValueOps *ops, const TmplValue *root,
			   StringInfo out)
{
	memset(r, 0, sizeof(TmplRender));
	r->ops = ops;
	r->out = out;
	r->start_len = out->len;
	r->maxdepth = 8;
	r->stack = palloc(r->maxdepth * sizeof(TmplValue));
	r->stack[0] = *root;
	r->depth = 1;
}

/*
 * push_context
 *		Push a value on the context stack.
 */
static void
push_context(TmplRender *r, const TmplValue *v)
{
	if (r->depth == r->maxdepth)
	{
		r->maxdepth *= 2;
		r->stack = repalloc(r->stack, r->maxdepth * sizeof(TmplValue));
	}
	r->stack[r->depth++] = *v;
}

/*
 * TmplLookup
 *		Resolve a name against the context stack, as Mustache does: the first
 *		part in the innermost context that has it, the others inside that
 *		value only.  False when the variable is missing.
 */
bool
TmplLookup(TmplRender *r, const TmplName *name, TmplValue *result)
{
	TmplValue	v;
	int			i;
	bool		found = false;

	if (name->nparts == 0)
	{
		*result = r->stack[r->depth - 1];
		return true;
	}
	for (i = r->depth - 1; i >= 0; i--)
	{
		if (r->stack[i].kind == TMPL_VALUE_OBJECT &&
			r->ops->get_field(&r->stack[i], name->parts[0], name->partlens[0], &v))
		{
			found = true;
			break;
		}
	}
	if (!found)
		return false;
	for (i = 1; i < name->nparts; i++)
	{
		TmplValue	inner;

		if (v.kind != TMPL_VALUE_OBJECT ||
			!r->ops->get_field(&v, name->parts[i], name->partlens[i], &inner))
			return false;
		v = inner;
	}
	*result = v;
	return true;
}

/*
 * TmplIsSecretName
 *		Whether a name is "secret.NAME".
 */
bool
TmplIsSecretName(const TmplName *name)
{
	return name->nparts == 2 && name->partlens[0] == 6 &&
		memcmp(name->parts[0], "secret", 6) == 0;
}

/*
 * TmplNoteMissing
 *		Remember a missing variable for the error that ends the rendering.
 */
void
TmplNoteMissing(TmplRender *r, const char *name)
{
	int			i;

	for (i = 0; i < r->nmissing; i++)
		if (strcmp(r->missing[i], name) == 0)
			return;
	if (r->nmissing % 8 == 0)
		r->missing = r->missing ? repalloc(r->missing, (r->nmissing + 8) * sizeof(char *))
			: palloc((r->nmissing + 8) * sizeof(char *));
	r->missing[r->nmissing++] = (char *) name;
}

/*
 * TmplAppendJsonString
 *		Append a string's JSON escape, without quotes.  Besides what JSON
 *		requires, U+2028 and U+2029 are escaped, so that the text is also safe
 *		inside JavaScript.
 */
void
TmplAppendJsonString(StringInfo out, const char *s, int len)
{
	int			i;
	int			run = 0;		/* start of the bytes not yet copied */

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		const char *esc = NULL;
		char		buf[8];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0xE2)
			continue;
		switch (c)
		{
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			case 0xE2:
				/* U+2028 is E2 80 A8, U+2029 is E2 80 A9 */
				if (i + 2 < len && (unsigned char) s[i + 1] == 0x80 &&
					((unsigned char) s[i + 2] == 0xA8 || (unsigned char) s[i + 2] == 0xA9))
				{
					appendBinaryStringInfo(out, s + run, i - run);
					appendStringInfoString(out, (unsigned char) s[i + 2] == 0xA8 ?
										   "\\u2028" : "\\u2029");
					i += 2;
					run = i + 1;
				}
				continue;
			default:
				snprintf(buf, sizeof(buf), "\\u%04x", c);
				esc = buf;
				break;
		}
		appendBinaryStringInfo(out, s + run, i - run);
		appendStringInfoString(out, esc);
		run = i + 1;
	}
	appendBinaryStringInfo(out, s + run, len - run);
}

/*
 * TmplAppendEscaped
 *		Append text escaped for where it lands.
 */
void
TmplAppendEscaped(StringInfo out, TmplEscape escape, const char *s, int len)
{
	static const char hex[] = "0123456789ABCDEF";
	int			i;
	int			run = 0;

	switch (escape)
	{
		case TMPL_ESCAPE_NONE:
			appendBinaryStringInfo(out, s, len);
			return;
		case TMPL_ESCAPE_JSON:
			TmplAppendJsonString(out, s, len);
			return;
		case TMPL_ESCAPE_HTML:
			for (i = 0; i < len; i++)
			{
				const char *esc;

				switch (s[i])
				{
					case '&':
						esc = "&amp;";
						break;
					case '"':
						esc = "&quot;";
						break;
					case '<':
						esc = "&lt;";
						break;
					case '>':
						esc = "&gt;";
						break;
					default:
						continue;
				}
				appendBinaryStringInfo(out, s + run, i - run);
				appendStringInfoString(out, esc);
				run = i + 1;
			}
			appendBinaryStringInfo(out, s + run, len - run);
			return;
		case TMPL_ESCAPE_URL:
			for (i = 0; i < len; i++)
			{
				unsigned char c = (unsigned char) s[i];

				if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
					(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
					appendStringInfoChar(out, c);
				else
				{
					appendStringInfoChar(out, '%');
					appendStringInfoChar(out, hex[c >> 4]);
					appendStringInfoChar(out, hex[c & 15]);
				}
			}
			return;
	}
}

/*
 * TmplAppendValueJson
 *		Append a value as JSON (a whole value of a JSON body).
 */
void
TmplAppendValueJson(TmplRender *r, StringInfo out, const TmplValue *v)
{
	switch (v->kind)
	{
		case TMPL_VALUE_NULL:
			appendStringInfoString(out, "null");
			break;
		case TMPL_VALUE_FALSE:
			appendStringInfoString(out, "false");
			break;
		case TMPL_VALUE_TRUE:
			appendStringInfoString(out, "true");
			break;
		case TMPL_VALUE_NUMBER:
			r->ops->append_number(out, v);
			break;
		case TMPL_VALUE_STRING:
			appendStringInfoChar(out, '"');
			TmplAppendJsonString(out, v->str, v->len);
			appendStringInfoChar(out, '"');
			break;
		case TMPL_VALUE_ARRAY:
		case TMPL_VALUE_OBJECT:
			r->ops->append_json(out, v);
			break;
	}
}

/*
 * append_value_text
 *		Append a value's text, escaped unless the tag is raw: strings as they
 *		are, numbers as stored, true/false, null as nothing, arrays and objects
 *		as JSON.
 */
static void
append_value_text(TmplRender *r, const TmplValue *v, bool raw)
{
	TmplEscape	escape = (raw && !r->escape_raw) ? TMPL_ESCAPE_NONE : r->escape;

	switch (v->kind)
	{
		case TMPL_VALUE_NULL:
			break;
		case TMPL_VALUE_FALSE:
			appendStringInfoString(r->out, "false");
			break;
		case TMPL_VALUE_TRUE:
			appendStringInfoString(r->out, "true");
			break;
		case TMPL_VALUE_NUMBER:
			/* digits, sign, point, NaN, Infinity: nothing to escape */
			r->ops->append_number(r->out, v);
			break;
		case TMPL_VALUE_STRING:
			TmplAppendEscaped(r->out, escape, v->str, v->len);
			break;
		case TMPL_VALUE_ARRAY:
		case TMPL_VALUE_OBJECT:
			if (escape == TMPL_ESCAPE_NONE)
				r->ops->append_json(r->out, v);
			else
			{
				StringInfoData json;

				initStringInfo(&json);
				r->ops->append_json(&json, v);
				TmplAppendEscaped(r->out, escape, json.data, json.len);
				pfree(json.data);
			}
			break;
	}
}

/*
 * value_is_falsey
 *		Mustache's falsey values: false, null, [] and "" (and missing).
 */
static bool
value_is_falsey(TmplRender *r, const TmplValue *v)
{
	switch (v->kind)
	{
		case TMPL_VALUE_NULL:
		case TMPL_VALUE_FALSE:
			return true;
		case TMPL_VALUE_STRING:
			return v->len == 0;
		case TMPL_VALUE_ARRAY:
			return r->ops->array_length(v) == 0;
		default:
			return false;
	}
}

/*
 * render_nodes
 *		Render a list of nodes into r->out.
 */
static void
render_nodes(TmplRender *r, const TmplNode *node)
{
	check_stack_depth();

	for (; node != NULL; node = node->next)
	{
		TmplValue	v;
		bool		found;

		/* sections over lists multiply: keep a long rendering cancellable */
		CHECK_FOR_INTERRUPTS();
		if (r->max_steps > 0 && ++r->steps > r->max_steps)
			ereport(ERROR,
					errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					errmsg("template rendering exceeds %ld steps", r->max_steps),
					errdetail("Sections nested over long lists render their contents once per combination of items."));
		if (r->max_output > 0 && r->out->len - r->start_len > r->max_output)
			ereport(ERROR,
					errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					errmsg("rendered template exceeds %d bytes", r->max_output));

		switch (node->kind)
		{
			case TMPL_NODE_TEXT:
				appendBinaryStringInfo(r->out, node->text, node->len);
				break;

			case TMPL_NODE_VARIABLE:
				if (r->keep_secrets && TmplIsSecretName(&node->name))
				{
					if (r->nsecret_at == r->secret_at_cap)
					{
						r->secret_at_cap = r->secret_at_cap > 0 ? r->secret_at_cap * 2 : 8;
						r->secret_at = r->secret_at == NULL ?
							palloc(r->secret_at_cap * sizeof(int)) :
							repalloc(r->secret_at, r->secret_at_cap * sizeof(int));
					}
					r->secret_at[r->nsecret_at++] = r->out->len;
					appendStringInfo(r->out, "{{%s}}", node->name.name);
					break;
				}
				if (TmplLookup(r, &node->name, &v))
				{
					int			before = r->out->len;

					append_value_text(r, &v, node->raw);
					if (r->keep_secrets &&
						find_bytes(r->out->data + before, r->out->len - before, "{{", 2))
						ereport(ERROR,
								errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("value of template variable \"%s\" cannot contain \"{{\"",
									   node->name.name),
								errdetail("Secrets are resolved when the header is sent, so a value holding a tag could reveal one."));
				}
				else if (r->on_missing == TMPL_MISSING_ERROR)
					TmplNoteMissing(r, node->name.name);
				else if (r->on_missing == TMPL_MISSING_KEEP)
					appendBinaryStringInfo(r->out, node->tag, node->taglen);
				break;

			case TMPL_NODE_SECTION:
				found = TmplLookup(r, &node->name, &v);
				if (!found || value_is_falsey(r, &v))
					break;
				if (v.kind == TMPL_VALUE_ARRAY)
				{
					int			n = r->ops->array_length(&v);
					int			i;

					for (i = 0; i < n; i++)
					{
						TmplValue	elem;

						r->ops->array_element(&v, i, &elem);
						push_context(r, &elem);
						render_nodes(r, node->children);
						r->depth--;
					}
				}
				else
				{
					push_context(r, &v);
					render_nodes(r, node->children);
					r->depth--;
				}
				break;

			case TMPL_NODE_INVERTED:
				found = TmplLookup(r, &node->name, &v);
				if (!found || value_is_falsey(r, &v))
					render_nodes(r, node->children);
				break;
		}
	}
}

/*
 * TmplRenderText
 *		Render a parsed template as text into r->out.  Missing variables are
 *		handled as r->on_missing says; with TMPL_MISSING_ERROR they are only
 *		collected in r->missing, for the caller to report.
 */
void
TmplRenderText(TmplRender *r, const Tmpl *tmpl)
{
	render_nodes(r, tmpl->first);
}
