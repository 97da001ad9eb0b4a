/*-------------------------------------------------------------------------
 *
 * template_api.c
 *	  The C API of template.h: the engine bound to jsonb variables and the
 *	  backend's template cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "template.h"
#include "template_cache.h"
#include "template_engine.h"
#include "template_jsonb.h"

static void report_missing(TmplRender *r);

/*
 * TemplateParseEscape
 *		The escape mode named by a string.
 */
TemplateEscape
TemplateParseEscape(const char *value)
{
	if (strcmp(value, "none") == 0)
		return TEMPLATE_ESCAPE_NONE;
	if (strcmp(value, "html") == 0)
		return TEMPLATE_ESCAPE_HTML;
	if (strcmp(value, "json") == 0)
		return TEMPLATE_ESCAPE_JSON;
	if (strcmp(value, "url") == 0)
		return TEMPLATE_ESCAPE_URL;
	ereport(ERROR,
			errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("invalid value for \"escape\": \"%s\"", value),
			errhint("Valid values are \"none\", \"html\", \"json\" and \"url\"."));
	return TEMPLATE_ESCAPE_NONE;	/* keep compiler quiet */
}

/*
 * TemplateParseOnMissing
 *		The on_missing mode named by a string.
 */
TemplateOnMissing
TemplateParseOnMissing(const char *value)
{
	if (strcmp(value, "error") == 0)
		return TEMPLATE_MISSING_ERROR;
	if (strcmp(value, "empty") == 0)
		return TEMPLATE_MISSING_EMPTY;
	if (strcmp(value, "null") == 0)
		return TEMPLATE_MISSING_NULL;
	if (strcmp(value, "keep") == 0)
		return TEMPLATE_MISSING_KEEP;
	ereport(ERROR,
			errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("invalid value for \"on_missing\": \"%s\"", value),
			errhint("Valid values are \"error\", \"empty\", \"null\" and \"keep\"."));
	return TEMPLATE_MISSING_ERROR;	/* keep compiler quiet */
}

/*
 * report_missing
 *		Raise the error naming every missing variable of a rendering.
 */
static void
report_missing(TmplRender *r)
{
	StringInfoData names;
	int			i;

	initStringInfo(&names);
	for (i = 0; i < r->nmissing; i++)
		appendStringInfo(&names, "%s\"%s\"", i > 0 ? ", " : "", r->missing[i]);
	ereport(ERROR,
			errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			r->nmissing == 1 ?
			errmsg("missing template variable %s", names.data) :
			errmsg("missing template variables %s", names.data),
			errhint("Give each a value in the variables, or choose on_missing \"empty\", \"null\" or \"keep\"."));
}

/*
 * check_kept_secrets
 *		With keep_secrets, every "{{" in what was rendered from "start" on
 *		must be a secret tag the renderer kept.
 *
 * Each value is refused if it holds "{{" (render_nodes), but values next to
 * each other, or repeated by a section, can still join into a tag ("{" and
 * "{secret.KEY}}"); the worker would then fill in a secret the template
 * never named.
 */
static void
check_kept_secrets(TmplRender *r, int start)
{
	const char *s = r->out->data;
	int			next = 0;

	for (int i = start; i + 1 < r->out->len; i++)
	{
		if (s[i] != '{' || s[i + 1] != '{')
			continue;
		while (next < r->nsecret_at && r->secret_at[next] < i)
			next++;
		if (next < r->nsecret_at && r->secret_at[next] == i)
			continue;
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("rendered header value holds \"{{\" outside a secret tag"),
				errdetail("Values rendered next to each other joined into a tag. Secrets are resolved when the header is sent, so such a value could reveal one."),
				errhint("Keep braces out of the values of header variables, or separate the tags with literal text."));
	}
}

/*
 * TemplateRenderInto
 *		Render a template of any kind, appending to "out".
 */
void
TemplateRenderInto(StringInfo out, const char *src, int len, TemplateKind kind,
				   Jsonb *vars, TemplateEscape escape, TemplateOnMissing on_missing,
				   bool keep_secrets)
{
	void	   *parsed = TemplateCacheGet(src, len, kind);
	TmplValue	root;
	TmplRender	r;
	int			start = out->len;

	TmplJsonbRoot(vars, &root);
	TmplRenderInit(&r, &TmplJsonbOps, &root, out);
	/* a runaway template stops early (one within them is checked after) */
	r.max_steps = TEMPLATE_MAX_STEPS;
	r.max_output = TEMPLATE_MAX_OUTPUT;
	r.on_missing = (TmplOnMissing) on_missing;
	r.keep_secrets = keep_secrets;
	switch (kind)
	{
		case TEMPLATE_TEXT:
			r.escape = (TmplEscape) escape;
			TmplRenderText(&r, (Tmpl *) parsed);
			break;
		case TEMPLATE_JSON:
			r.escape = TMPL_ESCAPE_NONE;
			TmplJsonRender(&r, (TmplJson *) parsed);
			break;
		case TEMPLATE_URL:
			TmplUrlRender(&r, (Tmpl *) parsed);
			break;
	}
	if (out->len - start > TEMPLATE_MAX_OUTPUT)
		ereport(ERROR,
				errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				errmsg("rendered template exceeds %d bytes", TEMPLATE_MAX_OUTPUT));
	if (r.nmissing > 0)
		report_missing(&r);
	if (keep_secrets)
		check_kept_secrets(&r, start);
	if (r.secret_at != NULL)
		pfree(r.secret_at);
	pfree(r.stack);
	if (r.scratch_ready)
		pfree(r.scratch.data);
}

/*
 * render_string
 *		Render a NUL-terminated template into a new string.
 */
static char *
render_string(const char *tmpl, TemplateKind kind, Jsonb *vars,
			  TemplateEscape escape, TemplateOnMissing on_missing,
			  bool keep_secrets, int *len_out)
{
	StringInfoData out;

	initStringInfo(&out);
	TemplateRenderInto(&out, tmpl, strlen(tmpl), kind, vars, escape, on_missing,
					   keep_secrets);
	if (len_out)
		*len_out = out.len;
	return out.data;
}

/*
 * TemplateRenderText
 *		Render a plain text template.
 */
char *
TemplateRenderText(const char *tmpl, Jsonb *vars, TemplateEscape escape,
				   TemplateOnMissing on_missing)
{
	return render_string(tmpl, TEMPLATE_TEXT, vars, escape, on_missing, false, NULL);
}

/*
 * TemplateRenderJsonBody
 *		Render a JSON body template.
 */
char *
TemplateRenderJsonBody(const char *tmpl, Jsonb *vars, TemplateOnMissing on_missing,
					   int *len_out)
{
	return render_string(tmpl, TEMPLATE_JSON, vars, TEMPLATE_ESCAPE_NONE,
						 on_missing, false, len_out);
}

/*
 * TemplateRenderHeader
 *		Render a header value, refusing CR, LF and NUL in the result.
 */
char *
TemplateRenderHeader(const char *tmpl, Jsonb *vars, TemplateOnMissing on_missing,
					 bool keep_secrets)
{
	int			len;
	char	   *value = render_string(tmpl, TEMPLATE_TEXT, vars, TEMPLATE_ESCAPE_NONE,
									  on_missing, keep_secrets, &len);
	int			i;

	for (i = 0; i < len; i++)
	{
		if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("rendered header value contains a line break or NUL character"),
					errdetail("Header values cannot contain CR, LF or NUL; they are refused, not stripped."));
	}
	return value;
}

/*
 * TemplateRenderUrl
 *		Render an http(s) URL template.
 */
char *
TemplateRenderUrl(const char *tmpl, Jsonb *vars, TemplateOnMissing on_missing)
{
	return render_string(tmpl, TEMPLATE_URL, vars, TEMPLATE_ESCAPE_URL,
						 on_missing, false, NULL);
}

/*
 * TemplateVariables
 *		The variable names a template uses, in order of first use.
 */
const char *const *
TemplateVariables(const char *tmpl, TemplateKind kind, int *nvars)
{
	void	   *parsed = TemplateCacheGet(tmpl, strlen(tmpl), kind);

	if (kind == TEMPLATE_JSON)
	{
		*nvars = ((TmplJson *) parsed)->nvars;
		return (const char *const *) ((TmplJson *) parsed)->vars;
	}
	*nvars = ((Tmpl *) parsed)->nvars;
	return (const char *const *) ((Tmpl *) parsed)->vars;
}

/*
 * TemplateCheck
 *		Parse a template, raising its syntax error if it has one.
 */
void
TemplateCheck(const char *tmpl, TemplateKind kind)
{
	(void) TemplateCacheGet(tmpl, strlen(tmpl), kind);
}
