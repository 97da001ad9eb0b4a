/*-------------------------------------------------------------------------
 *
 * webhook_config.c
 *	  The template part of the webhook configuration checks.
 *
 * create_webhook() and update_webhook() (PL/pgSQL, sql/parts/20_model.sql)
 * check a configuration whole; for its templates they call
 * webhook_template_names(), which parses one template as the kind of text it
 * renders (a URL, a header value, a JSON body) and lists the variables it
 * uses.  A syntax error is raised with its position, and its message names
 * the configuration field it is in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "template.h"

PG_FUNCTION_INFO_V1(webhook_template_names);

/*
 * webhook_template_names
 *		webhook_template_names(template text, kind text, field text)
 *		RETURNS text[]: the variables a template uses, in order of first use,
 *		its syntax checked as kind ("url", "header" or "json").
 */
Datum
webhook_template_names(PG_FUNCTION_ARGS)
{
	char	   *template = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *field = text_to_cstring(PG_GETARG_TEXT_PP(2));
	TemplateKind k;
	MemoryContext oldcxt = CurrentMemoryContext;
	const char *const *volatile names = NULL;
	int			nnames = 0;
	Datum	   *elems;

	if (strcmp(kind, "url") == 0)
		k = TEMPLATE_URL;
	else if (strcmp(kind, "header") == 0)
		k = TEMPLATE_TEXT;
	else if (strcmp(kind, "json") == 0)
		k = TEMPLATE_JSON;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid template kind \"%s\"", kind),
				 errhint("The kinds are \"url\", \"header\" and \"json\".")));

	/* a syntax error names the configuration field it is in */
	PG_TRY();
	{
		TemplateCheck(template, k);
		names = TemplateVariables(template, k, &nnames);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (strncmp(edata->message, "invalid template", 16) == 0)
			edata->message = psprintf("invalid template in \"%s\"%s", field,
									  edata->message + 16);
		else
			edata->message = psprintf("%s (in \"%s\")", edata->message, field);
		ReThrowError(edata);
	}
	PG_END_TRY();

	elems = palloc(sizeof(Datum) * Max(nnames, 1));
	for (int i = 0; i < nnames; i++)
		elems[i] = CStringGetTextDatum(names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, nnames, TEXTOID, -1, false, TYPALIGN_INT));
}
