/*-------------------------------------------------------------------------
 *
 * template_jsonb.c
 *	  The template engine's variables, read from jsonb.
 *
 * Implements TmplValueOps over jsonb without converting anything up front:
 * object members are found by the jsonb binary search, strings point into
 * the jsonb datum, numbers print exactly as jsonb holds them (5000.00 stays
 * 5000.00, integers beyond 2^53 keep every digit).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "template_engine.h"
#include "template_jsonb.h"

static void set_value(TmplValue *result, const JsonbValue *jv);
static bool jb_get_field(const TmplValue *object, const char *key, int keylen,
							TmplValue *result);
static int	jb_array_length(const TmplValue *array);
static void jb_array_element(const TmplValue *array, int index, TmplValue *result);
static void jb_append_number(StringInfo out, const TmplValue *number);
static void jb_append_json(StringInfo out, const TmplValue *value);

const TmplValueOps TmplJsonbOps = {
	jb_get_field,
	jb_array_length,
	jb_array_element,
	jb_append_number,
	jb_append_json
};

/*
 * set_value
 *		A TmplValue for a JsonbValue (a scalar or a jbvBinary container).
 */
static void
set_value(TmplValue *result, const JsonbValue *jv)
{
	result->str = NULL;
	result->len = 0;
	result->ref = NULL;
	switch (jv->type)
	{
		case jbvNull:
			result->kind = TMPL_VALUE_NULL;
			break;
		case jbvBool:
			result->kind = jv->val.boolean ? TMPL_VALUE_TRUE : TMPL_VALUE_FALSE;
			break;
		case jbvNumeric:
			result->kind = TMPL_VALUE_NUMBER;
			result->ref = jv->val.numeric;
			break;
		case jbvString:
			result->kind = TMPL_VALUE_STRING;
			result->str = jv->val.string.val;
			result->len = jv->val.string.len;
			break;
		case jbvBinary:
			result->kind = JsonContainerIsArray(jv->val.binary.data) ?
				TMPL_VALUE_ARRAY : TMPL_VALUE_OBJECT;
			result->ref = jv->val.binary.data;
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) jv->type);
	}
}

/*
 * TmplJsonbRoot
 *		The value of a whole jsonb datum (NULL: an empty object).
 */
void
TmplJsonbRoot(Jsonb *jb, TmplValue *result)
{
	JsonbValue	jv;

	if (jb == NULL)
	{
		result->kind = TMPL_VALUE_NULL;
		result->str = NULL;
		result->len = 0;
		result->ref = NULL;
		return;
	}
	if (JB_ROOT_IS_SCALAR(jb))
	{
		JsonbExtractScalar(&jb->root, &jv);
		set_value(result, &jv);
		return;
	}
	result->kind = JB_ROOT_IS_ARRAY(jb) ? TMPL_VALUE_ARRAY : TMPL_VALUE_OBJECT;
	result->str = NULL;
	result->len = 0;
	result->ref = &jb->root;
}

/*
 * jb_get_field
 *		The member "key" of an object.
 */
static bool
jb_get_field(const TmplValue *object, const char *key, int keylen,
				TmplValue *result)
{
	JsonbValue	jv;

	if (getKeyJsonValueFromContainer((JsonbContainer *) object->ref,
									 key, keylen, &jv) == NULL)
		return false;
	set_value(result, &jv);
	return true;
}

/*
 * jb_array_length
 *		Number of elements of an array.
 */
static int
jb_array_length(const TmplValue *array)
{
	return JsonContainerSize((JsonbContainer *) array->ref);
}

/*
 * jb_array_element
 *		Element "index" of an array.
 */
static void
jb_array_element(const TmplValue *array, int index, TmplValue *result)
{
	JsonbValue *jv;

	jv = getIthJsonbValueFromContainer((JsonbContainer *) array->ref, index);
	if (jv == NULL)
		elog(ERROR, "jsonb array element %d not found", index);
	set_value(result, jv);
	pfree(jv);
}

/*
 * jb_append_number
 *		Append a number's text, as numeric_out prints it.
 */
static void
jb_append_number(StringInfo out, const TmplValue *number)
{
	char	   *s;

	s = DatumGetCString(DirectFunctionCall1(numeric_out,
											NumericGetDatum((Numeric) number->ref)));
	appendStringInfoString(out, s);
	pfree(s);
}

/*
 * jb_append_json
 *		Append an array or object as JSON text.
 */
static void
jb_append_json(StringInfo out, const TmplValue *value)
{
	JsonbContainer *c = (JsonbContainer *) value->ref;

	(void) JsonbToCString(out, c, 64);
}
