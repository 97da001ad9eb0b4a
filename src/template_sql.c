/*-------------------------------------------------------------------------
 *
 * template_sql.c
 *	  SQL-callable functions of the template engine: nextphone.render,
 *	  render_json, render_url, render_header and template_variables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "template.h"

PG_FUNCTION_INFO_V1(nextphone_render);
PG_FUNCTION_INFO_V1(nextphone_render_json);
PG_FUNCTION_INFO_V1(nextphone_render_url);
PG_FUNCTION_INFO_V1(nextphone_render_header);
PG_FUNCTION_INFO_V1(nextphone_template_variables);

/*
 * render_text_result
 *		Render a template argument into a new text datum.  The result is built
 *		in place, after room for the varlena header, so it is never copied.
 */
static text *
render_text_result(text *tmpl, TemplateKind kind, Jsonb *vars,
				   TemplateEscape escape, TemplateOnMissing on_missing)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoSpaces(&out, VARHDRSZ);
	TemplateRenderInto(&out, VARDATA_ANY(tmpl), VARSIZE_ANY_EXHDR(tmpl), kind,
					   vars, escape, on_missing, false);
	SET_VARSIZE(out.data, out.len);
	return (text *) out.data;
}

/*
 * nextphone_render
 *		render(template text, vars jsonb, escape text, on_missing text) -> text
 */
Datum
nextphone_render(PG_FUNCTION_ARGS)
{
	text	   *tmpl = PG_GETARG_TEXT_PP(0);
	Jsonb	   *vars = PG_GETARG_JSONB_P(1);
	TemplateEscape escape = TemplateParseEscape(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	TemplateOnMissing on_missing = TemplateParseOnMissing(text_to_cstring(PG_GETARG_TEXT_PP(3)));

	PG_RETURN_TEXT_P(render_text_result(tmpl, TEMPLATE_TEXT, vars, escape, on_missing));
}

/*
 * nextphone_render_json
 *		render_json(template text or json, vars jsonb, on_missing text) -> json
 */
Datum
nextphone_render_json(PG_FUNCTION_ARGS)
{
	text	   *tmpl = PG_GETARG_TEXT_PP(0);
	Jsonb	   *vars = PG_GETARG_JSONB_P(1);
	TemplateOnMissing on_missing = TemplateParseOnMissing(text_to_cstring(PG_GETARG_TEXT_PP(2)));

	PG_RETURN_TEXT_P(render_text_result(tmpl, TEMPLATE_JSON, vars,
										TEMPLATE_ESCAPE_NONE, on_missing));
}

/*
 * nextphone_render_url
 *		render_url(template text, vars jsonb, on_missing text) -> text
 */
Datum
nextphone_render_url(PG_FUNCTION_ARGS)
{
	text	   *tmpl = PG_GETARG_TEXT_PP(0);
	Jsonb	   *vars = PG_GETARG_JSONB_P(1);
	TemplateOnMissing on_missing = TemplateParseOnMissing(text_to_cstring(PG_GETARG_TEXT_PP(2)));

	PG_RETURN_TEXT_P(render_text_result(tmpl, TEMPLATE_URL, vars,
										TEMPLATE_ESCAPE_URL, on_missing));
}

/*
 * nextphone_render_header
 *		render_header(template text, vars jsonb, on_missing text,
 *					  keep_secrets boolean) -> text
 */
Datum
nextphone_render_header(PG_FUNCTION_ARGS)
{
	char	   *tmpl = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *vars = PG_GETARG_JSONB_P(1);
	TemplateOnMissing on_missing = TemplateParseOnMissing(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	bool		keep_secrets = PG_GETARG_BOOL(3);

	PG_RETURN_TEXT_P(cstring_to_text(TemplateRenderHeader(tmpl, vars, on_missing,
														  keep_secrets)));
}

/*
 * nextphone_template_variables
 *		template_variables(template text) -> text[]
 */
Datum
nextphone_template_variables(PG_FUNCTION_ARGS)
{
	char	   *tmpl = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *const *names;
	Datum	   *elems;
	int			n;
	int			i;

	names = TemplateVariables(tmpl, TEMPLATE_TEXT, &n);
	elems = palloc(Max(n, 1) * sizeof(Datum));
	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
