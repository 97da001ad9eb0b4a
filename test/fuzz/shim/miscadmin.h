/*
 * miscadmin.h (fuzz shim): libFuzzer's inputs are short, and ASan reports a
 * stack overflow, so check_stack_depth() has nothing to do here; there are
 * no interrupts to check.
 */
#ifndef SHIM_MISCADMIN_H
#define SHIM_MISCADMIN_H
#define check_stack_depth() ((void) 0)
#define CHECK_FOR_INTERRUPTS() ((void) 0)
#endif
