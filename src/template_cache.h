/*-------------------------------------------------------------------------
 *
 * template_cache.h
 *	  The backend's cache of parsed templates (template_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TEMPLATE_CACHE_H
#define TEMPLATE_CACHE_H

#include "template.h"

/*
 * The parsed form of a template of the given kind: a Tmpl for TEMPLATE_TEXT
 * and TEMPLATE_URL, a TmplJson for TEMPLATE_JSON.  Parsed on a miss; the
 * result stays valid until the next call.
 */
extern void *TemplateCacheGet(const char *src, int len, TemplateKind kind);

#endif							/* TEMPLATE_CACHE_H */
