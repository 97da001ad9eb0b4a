/*-------------------------------------------------------------------------
 *
 * postgres.h (fuzz shim)
 *	  The little of the server's environment the template engine uses,
 *	  for building it outside the server (test/fuzz/fuzz_template.c).
 *
 * palloc'd memory is tracked so that ShimResetMemory() frees everything, as
 * resetting a memory context would; ereport(ERROR) jumps to the point set
 * by the caller with ShimCatch(), as the server's error handling would.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SHIM_POSTGRES_H
#define SHIM_POSTGRES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef size_t Size;
typedef int32_t int32;
typedef uint32_t uint32;
typedef uint64_t uint64;

#define ERROR 21

#define ERRCODE_INVALID_PARAMETER_VALUE 1
#define ERRCODE_FEATURE_NOT_SUPPORTED 2
#define ERRCODE_INVALID_TEXT_REPRESENTATION 3
#define ERRCODE_PROGRAM_LIMIT_EXCEEDED 4

extern void *palloc(Size size);
extern void *palloc0(Size size);
extern void *repalloc(void *p, Size size);
extern void pfree(void *p);
extern char *pnstrdup(const char *s, Size len);
extern char *psprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

extern int	errcode(int sqlstate);
extern int	errmsg(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern int	errdetail(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern int	errhint(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void ShimThrow(void) __attribute__((noreturn));

#define ereport(elevel, ...) \
	do { \
		(void) (__VA_ARGS__); \
		if ((elevel) >= ERROR) \
			ShimThrow(); \
	} while (0)
#define elog(elevel, ...) \
	do { \
		(void) errmsg(__VA_ARGS__); \
		if ((elevel) >= ERROR) \
			ShimThrow(); \
	} while (0)

#define pg_strncasecmp(a, b, n) strncasecmp((a), (b), (n))
#define Assert(x) ((void) 0)

/* the fuzz target's hooks */
extern jmp_buf *ShimErrorJump;
extern int	ShimLastSqlstate;
extern void ShimResetMemory(void);

#endif							/* SHIM_POSTGRES_H */
