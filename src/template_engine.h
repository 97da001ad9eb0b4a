/*-------------------------------------------------------------------------
 *
 * template_engine.h
 *	  Internals of the Mustache template engine: parsed templates, the
 *	  value interface the renderer reads variables through, and the
 *	  renderers for plain text, JSON bodies and URLs.
 *
 * The engine proper (template.c, template_json.c, template_url.c) uses only
 * palloc, StringInfo and ereport, and reads variables through TmplValueOps,
 * so it also compiles outside the server against the small shim under
 * test/fuzz/shim/ (that is how the fuzz target is built).  The server binds
 * it to jsonb in template_jsonb.c.  Other parts of the extension use the API
 * of template.h, not this file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TEMPLATE_ENGINE_H
#define TEMPLATE_ENGINE_H

#include "lib/stringinfo.h"

/* How values are escaped where a tag is replaced. */
typedef enum TmplEscape
{
	TMPL_ESCAPE_NONE,			/* as they are */
	TMPL_ESCAPE_HTML,			/* Mustache's & " < > */
	TMPL_ESCAPE_JSON,			/* JSON string contents, without quotes */
	TMPL_ESCAPE_URL				/* percent-encoded, RFC 3986 unreserved kept */
} TmplEscape;

/* What a tag naming a missing variable becomes. */
typedef enum TmplOnMissing
{
	TMPL_MISSING_ERROR,			/* an error naming every missing variable */
	TMPL_MISSING_EMPTY,			/* nothing ("" as a whole JSON value) */
	TMPL_MISSING_NULL,			/* nothing in text, null as a whole JSON value */
	TMPL_MISSING_KEEP			/* the tag as written */
} TmplOnMissing;

/* A variable name: "." or dotted parts ("contact.name"). */
typedef struct TmplName
{
	const char *name;			/* as written, NUL-terminated */
	int			nparts;			/* 0 for "." */
	const char **parts;			/* the parts, not NUL-terminated */
	int		   *partlens;
} TmplName;

typedef enum TmplNodeKind
{
	TMPL_NODE_TEXT,				/* literal text */
	TMPL_NODE_VARIABLE,			/* {{x}}, {{{x}}}, {{&x}} */
	TMPL_NODE_SECTION,			/* {{#x}}...{{/x}} */
	TMPL_NODE_INVERTED			/* {{^x}}...{{/x}} */
} TmplNodeKind;

/* One node of a parsed template: a list of these, nested for sections. */
typedef struct TmplNode
{
	TmplNodeKind kind;
	bool		raw;			/* {{{x}}} or {{&x}}: no escaping */
	const char *text;			/* TEXT: the literal text */
	int			len;
	TmplName	name;			/* VARIABLE, SECTION, INVERTED */
	const char *tag;			/* the tag as written, for "keep" */
	int			taglen;
	struct TmplNode *children;	/* SECTION, INVERTED: the body */
	struct TmplNode *next;
} TmplNode;

/* A parsed template.  Its nodes point into the source text it was parsed from. */
typedef struct Tmpl
{
	TmplNode   *first;
	int			nvars;			/* distinct names, in order of first use */
	char	  **vars;
	int			maxdepth;		/* deepest nesting of sections */
} Tmpl;

/* A line and column (both from 1) that positions in a template count from. */
typedef struct TmplPos
{
	int			line;
	int			column;
} TmplPos;

/* A template for a JSON body: the JSON text with its strings that hold tags. */
typedef struct TmplJsonHole
{
	int			start;			/* the string token, quotes included */
	int			end;
	bool		whole;			/* the string is exactly one tag */
	Tmpl	   *tmpl;			/* the string's decoded text, parsed */
} TmplJsonHole;

typedef struct TmplJson
{
	const char *src;
	int			len;
	int			nholes;
	TmplJsonHole *holes;
	int			nvars;
	char	  **vars;
} TmplJson;

/*
 * Values, as the renderer sees them.  "str"/"len" hold a string's bytes;
 * "ref" is the implementation's own handle of a number, array or object.
 */
typedef enum TmplValueKind
{
	TMPL_VALUE_NULL,
	TMPL_VALUE_FALSE,
	TMPL_VALUE_TRUE,
	TMPL_VALUE_NUMBER,
	TMPL_VALUE_STRING,
	TMPL_VALUE_ARRAY,
	TMPL_VALUE_OBJECT
} TmplValueKind;

typedef struct TmplValue
{
	TmplValueKind kind;
	const char *str;
	int			len;
	const void *ref;
} TmplValue;

/* How the renderer reads values; template_jsonb.c implements it over jsonb. */
typedef struct TmplValueOps
{
	/* the member "key" of an object, false if it has none */
	bool		(*get_field) (const TmplValue *object, const char *key, int keylen,
							  TmplValue *result);
	/* number of elements of an array */
	int			(*array_length) (const TmplValue *array);
	/* element "index" (from 0) of an array */
	void		(*array_element) (const TmplValue *array, int index, TmplValue *result);
	/* append a number's text, exactly as stored */
	void		(*append_number) (StringInfo out, const TmplValue *number);
	/* append an array or object as JSON text */
	void		(*append_json) (StringInfo out, const TmplValue *value);
} TmplValueOps;

/* The state of one rendering. */
typedef struct TmplRender
{
	const TmplValueOps *ops;
	TmplEscape	escape;
	bool		escape_raw;		/* escape {{{x}}} and {{&x}} too */
	TmplOnMissing on_missing;
	bool		keep_secrets;	/* leave {{secret.NAME}} tags for later */
	int		   *secret_at;		/* where in out each kept tag starts */
	int			nsecret_at;
	int			secret_at_cap;
	StringInfo	out;
	TmplValue  *stack;			/* the context stack, root first */
	int			depth;
	int			maxdepth;
	long		max_steps;		/* nodes it may render, 0 for no limit */
	long		steps;
	int			max_output;		/* bytes it may add to out, 0 for no limit */
	int			start_len;		/* out->len when it started */
	int			nmissing;		/* missing variables seen */
	char	  **missing;
	StringInfoData scratch;		/* work space of the JSON renderer */
	bool		scratch_ready;
} TmplRender;

/* template.c: parsing and rendering Mustache text */
extern Tmpl *TmplParse(const char *src, int len, const TmplPos *base);
extern void TmplRenderInit(TmplRender *r, const TmplValueOps *ops,
						   const TmplValue *root, StringInfo out);
extern void TmplRenderText(TmplRender *r, const Tmpl *tmpl);
extern bool TmplLookup(TmplRender *r, const TmplName *name, TmplValue *result);
extern void TmplAppendValueJson(TmplRender *r, StringInfo out, const TmplValue *v);
extern void TmplAppendJsonString(StringInfo out, const char *s, int len);
extern void TmplAppendEscaped(StringInfo out, TmplEscape escape, const char *s, int len);
extern void TmplNoteMissing(TmplRender *r, const char *name);
extern bool TmplIsSecretName(const TmplName *name);
extern TmplPos TmplPosition(const char *src, int offset, const TmplPos *base);

/* template_json.c: JSON body templates */
extern TmplJson *TmplJsonParse(const char *src, int len);
extern void TmplJsonRender(TmplRender *r, const TmplJson *tj);

/* template_url.c: URL templates */
extern Tmpl *TmplUrlParse(const char *src, int len);
extern void TmplUrlRender(TmplRender *r, const Tmpl *tmpl);

#endif							/* TEMPLATE_ENGINE_H */
