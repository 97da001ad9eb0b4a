/*-------------------------------------------------------------------------
 *
 * template_jsonb.h
 *	  The template engine's variables, read from jsonb (template_jsonb.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TEMPLATE_JSONB_H
#define TEMPLATE_JSONB_H

#include "utils/jsonb.h"

#include "template_engine.h"

/* TmplValueOps over jsonb */
extern const TmplValueOps TmplJsonbOps;

/* the value of a whole jsonb datum, NULL giving null */
extern void TmplJsonbRoot(Jsonb *jb, TmplValue *result);

#endif							/* TEMPLATE_JSONB_H */
