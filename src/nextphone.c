/*-------------------------------------------------------------------------
 *
 * nextphone.c
 *	  Module entry point: loads every subsystem's settings and hooks.
 *
 * The SQL functions work in any backend; the delivery worker is registered
 * only when the library is in shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "nextphone.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init
 *		Define settings and install hooks of every subsystem.
 */
void
_PG_init(void)
{
	EnqueueInit();
	NetguardInit();
	WorkerInit();

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("nextphone");
#else
	EmitWarningsOnPlaceholders("nextphone");
#endif
}
