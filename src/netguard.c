/*-------------------------------------------------------------------------
 *
 * netguard.c
 *	  Where deliveries may go: the SSRF address check and TLS settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nextphone.h"

/*
 * NetguardInit
 *		Define the network guard settings.
 */
void
NetguardInit(void)
{
}
