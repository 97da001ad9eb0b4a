/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The delivery worker's registration and main loop.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nextphone.h"

/*
 * WorkerInit
 *		Define the worker settings and register the delivery workers.
 */
void
WorkerInit(void)
{
}
