/*
 * lib/stringinfo.h (fuzz shim): the StringInfo functions the template engine
 * uses, with the server's semantics (data always NUL-terminated).
 */
#ifndef SHIM_STRINGINFO_H
#define SHIM_STRINGINFO_H

typedef struct StringInfoData
{
	char	   *data;
	int			len;
	int			maxlen;
	int			cursor;
} StringInfoData;

typedef StringInfoData *StringInfo;

extern void initStringInfo(StringInfo str);
extern void resetStringInfo(StringInfo str);
extern void enlargeStringInfo(StringInfo str, int needed);
extern void appendStringInfoChar(StringInfo str, char ch);
extern void appendBinaryStringInfo(StringInfo str, const void *data, int datalen);
extern void appendStringInfoString(StringInfo str, const char *s);
extern void appendStringInfo(StringInfo str, const char *fmt,...) __attribute__((format(printf, 2, 3)));

#endif
