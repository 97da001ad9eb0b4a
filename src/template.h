/*-------------------------------------------------------------------------
 *
 * template.h
 *	  The C API of the template engine, for the rest of the extension.
 *
 * Templates are Mustache (core syntax, no partials); variables are a jsonb
 * object.  Every function takes the template as a NUL-terminated string,
 * finds it parsed in the backend's cache (or parses and caches it), and
 * returns palloc'd results in CurrentMemoryContext.  Errors are raised with
 * ereport: template syntax errors with SQLSTATE 22023 and the line and
 * column (0A000 for partials, parents and blocks; 22P02 for a JSON body
 * template that is not valid JSON), missing variables (on_missing "error")
 * with 22023 and a message naming every one.
 *
 * Implemented in template_api.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* What a tag naming a missing variable becomes (same values as TmplOnMissing). */
typedef enum TemplateOnMissing
{
	TEMPLATE_MISSING_ERROR,		/* error naming every missing variable */
	TEMPLATE_MISSING_EMPTY,		/* nothing; "" as a whole JSON value */
	TEMPLATE_MISSING_NULL,		/* nothing; null as a whole JSON value */
	TEMPLATE_MISSING_KEEP		/* the tag as written */
} TemplateOnMissing;

/* How a template is read: which syntax it must follow. */
typedef enum TemplateKind
{
	TEMPLATE_TEXT,				/* plain Mustache text (also headers) */
	TEMPLATE_JSON,				/* a JSON body */
	TEMPLATE_URL				/* an http(s) URL */
} TemplateKind;

/* How render() escapes values (same values as TmplEscape). */
typedef enum TemplateEscape
{
	TEMPLATE_ESCAPE_NONE,		/* as they are */
	TEMPLATE_ESCAPE_HTML,		/* Mustache's & " < > */
	TEMPLATE_ESCAPE_JSON,		/* JSON string contents, without quotes */
	TEMPLATE_ESCAPE_URL			/* percent-encoded, RFC 3986 unreserved kept */
} TemplateEscape;

/*
 * TemplateParseEscape
 *		"none", "html", "json" or "url" as a TemplateEscape; anything else is
 *		an error (22023) naming the argument "escape".
 */
extern TemplateEscape TemplateParseEscape(const char *value);

/*
 * TemplateParseOnMissing
 *		"error", "empty", "null" or "keep" as a TemplateOnMissing; anything
 *		else is an error (22023) naming the argument "on_missing".
 */
extern TemplateOnMissing TemplateParseOnMissing(const char *value);

/*
 * The most a rendering may do: sections nested over lists multiply, so a
 * small template and variables could otherwise run for hours and fill a
 * gigabyte before any size check.  Past either limit: error 54000.  (A
 * delivery body is held to nextphone.max_body_size after rendering.)
 */
#define TEMPLATE_MAX_STEPS		1000000
#define TEMPLATE_MAX_OUTPUT		(64 * 1024 * 1024)

/*
 * TemplateRenderInto
 *		The general form: render the template "src" (len bytes) of the given
 *		kind with "vars", appending the result to "out".  "escape" applies to
 *		TEMPLATE_TEXT only (a JSON body is always JSON-escaped, a URL always
 *		percent-encoded).  keep_secrets as for TemplateRenderHeader.
 */
extern void TemplateRenderInto(StringInfo out, const char *src, int len,
							   TemplateKind kind, Jsonb *vars,
							   TemplateEscape escape, TemplateOnMissing on_missing,
							   bool keep_secrets);

/*
 * TemplateRenderText
 *		Render a plain text template, values escaped as "escape" says.
 */
extern char *TemplateRenderText(const char *tmpl, Jsonb *vars, TemplateEscape escape,
								TemplateOnMissing on_missing);

/*
 * TemplateRenderJsonBody
 *		Render a JSON body template (valid JSON, tags in string values) with
 *		the variables "vars" (NULL: none).  A string that is exactly one tag
 *		takes the variable's own JSON value (a JSON null stays null); other
 *		strings get the rendered text, JSON-escaped (null renders as "").
 *		Returns the JSON text, NUL-terminated; *len_out (if not NULL) gets
 *		its length.
 */
extern char *TemplateRenderJsonBody(const char *tmpl, Jsonb *vars,
									TemplateOnMissing on_missing, int *len_out);

/*
 * TemplateRenderHeader
 *		Render a header value: raw text, no escaping.  A result holding CR,
 *		LF or NUL is an error (22023), never stripped.  With keep_secrets,
 *		every {{secret.NAME}} tag is left in the result as "{{secret.NAME}}"
 *		(default delimiters, whatever the template used), present in vars or
 *		not, while other missing names follow on_missing; rendering that
 *		result again with vars {"secret": {"NAME": "value"}} resolves them.
 *		So that a value cannot smuggle in a secret tag, with keep_secrets a
 *		value that holds "{{" is an error (22023).
 */
extern char *TemplateRenderHeader(const char *tmpl, Jsonb *vars,
								  TemplateOnMissing on_missing, bool keep_secrets);

/*
 * TemplateRenderUrl
 *		Render an http(s) URL template: scheme, host and port literal, values
 *		in the path and query percent-encoded (RFC 3986 unreserved kept).
 */
extern char *TemplateRenderUrl(const char *tmpl, Jsonb *vars,
							   TemplateOnMissing on_missing);

/*
 * TemplateVariables
 *		The distinct variable names a template uses ("secret.NAME" and section
 *		names included, "." not), in order of first use: an array of
 *		NUL-terminated strings, its length in *nvars.  The array belongs to the
 *		cache: copy what must outlive the next call of this API.
 */
extern const char *const *TemplateVariables(const char *tmpl, TemplateKind kind,
											int *nvars);

/*
 * TemplateCheck
 *		Parse a template as the given kind, raising its syntax error (with
 *		line and column) if it has one.  The parsed template is cached.
 */
extern void TemplateCheck(const char *tmpl, TemplateKind kind);

#endif							/* TEMPLATE_H */
