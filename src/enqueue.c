/*-------------------------------------------------------------------------
 *
 * enqueue.c
 *	  Rendering deliveries into the outbox in the inserting transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nextphone.h"

/*
 * EnqueueInit
 *		Define the enqueueing settings.
 */
void
EnqueueInit(void)
{
}
