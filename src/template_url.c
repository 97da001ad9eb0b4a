/*-------------------------------------------------------------------------
 *
 * template_url.c
 *	  URL templates: the scheme, host and port are literal, values land only
 *	  in the path and the query, percent-encoded (RFC 3986).
 *
 * The check is made on the parsed template: the literal text before the
 * first tag must hold the whole "http://host:port" part, up to the "/", "?"
 * or "#" that ends it.  Only http and https are accepted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "template_engine.h"

static void url_error(const char *src, int offset, const char *reason);

/*
 * url_error
 *		Raise an error for a URL template.
 */
static void
url_error(const char *src, int offset, const char *reason)
{
	TmplPos		pos = TmplPosition(src, offset, NULL);

	ereport(ERROR,
			errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("invalid URL template at line %d, column %d: %s",
				   pos.line, pos.column, reason),
			errhint("A URL template starts with \"http://\" or \"https://\" and a literal host; tags may stand only in the path and the query."));
}

/*
 * TmplUrlParse
 *		Parse a URL template and check that its scheme, host and port are
 *		literal.  The result points into "src".
 */
Tmpl *
TmplUrlParse(const char *src, int len)
{
	Tmpl	   *t = TmplParse(src, len, NULL);
	StringInfoData prefix;
	const TmplNode *node;
	int			schemelen;
	int			i;
	bool		tags_follow;

	/* the literal text before the first tag */
	initStringInfo(&prefix);
	for (node = t->first; node != NULL && node->kind == TMPL_NODE_TEXT; node = node->next)
		appendBinaryStringInfo(&prefix, node->text, node->len);
	tags_follow = (node != NULL);

	if (prefix.len >= 7 && pg_strncasecmp(prefix.data, "http://", 7) == 0)
		schemelen = 7;
	else if (prefix.len >= 8 && pg_strncasecmp(prefix.data, "https://", 8) == 0)
		schemelen = 8;
	else if (tags_follow && prefix.len < 8 &&
			 (pg_strncasecmp(prefix.data, "https://", prefix.len) == 0 ||
			  pg_strncasecmp(prefix.data, "http://", prefix.len) == 0))
	{
		url_error(src, prefix.len, "a template tag cannot stand in the scheme");
		schemelen = 0;			/* keep compiler quiet */
	}
	else
	{
		url_error(src, 0, "only http and https URLs are allowed");
		schemelen = 0;			/* keep compiler quiet */
	}

	for (i = schemelen; i < prefix.len; i++)
		if (prefix.data[i] == '/' || prefix.data[i] == '?' || prefix.data[i] == '#')
			break;
	if (i == schemelen && (i < prefix.len || !tags_follow))
		url_error(src, schemelen, "the URL has no host");
	if (i == prefix.len && tags_follow)
		url_error(src, prefix.len, "a template tag cannot stand in the host or the port");
	for (; schemelen < i; schemelen++)
	{
		unsigned char c = prefix.data[schemelen];

		if (c <= ' ' || c == 0x7F)
			url_error(src, schemelen, "the host cannot contain spaces or control characters");
	}
	pfree(prefix.data);
	return t;
}

/*
 * TmplUrlRender
 *		Render a URL template into r->out, percent-encoding every value.
 *
 * Percent-encoding keeps a value inside its path segment, except for the
 * values "." and "..", which are made of unreserved characters only: as a
 * whole segment they are dot-segments, which libcurl and the receiver
 * resolve (RFC 3986, 5.2.4), so "/leads/{{id}}/notes" with the id ".." would
 * reach "/notes".  Encoding them ("%2E%2E") would not do: receivers that
 * decode before they resolve are common.  So a rendered path with a
 * dot-segment is refused.
 */
void
TmplUrlRender(TmplRender *r, const Tmpl *tmpl)
{
	const char *url;
	const char *p;

	r->escape = TMPL_ESCAPE_URL;
	r->escape_raw = true;
	TmplRenderText(r, tmpl);

	/* the path: after "scheme://authority", up to the query or fragment */
	url = r->out->data + r->start_len;
	p = strstr(url, "://");
	if (p == NULL)
		return;
	p += 3;
	p += strcspn(p, "/?#");
	while (*p == '/')
	{
		size_t		seglen;

		p++;
		seglen = strcspn(p, "/?#");
		if ((seglen == 1 && p[0] == '.') || (seglen == 2 && p[0] == '.' && p[1] == '.'))
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("the rendered URL has a \"%.*s\" path segment", (int) seglen, p),
					errdetail("A \".\" or \"..\" segment would send the request to another path."),
					errhint("A value that stands alone in a path segment cannot be \".\" or \"..\"."));
		p += seglen;
	}
}
