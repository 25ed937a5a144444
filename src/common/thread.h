/*
 * thread.h - small thread helpers.
 */
#ifndef DM_COMMON_THREAD_H
#define DM_COMMON_THREAD_H

/*
 * Lowers the calling thread's CPU priority by incr nice levels (on Linux
 * the nice value is per thread, and threads it creates afterwards
 * inherit it).  The service runs drift checks this way, so that request
 * threads keep their latency while a check's workers saturate the
 * cores.  Best effort: a failure changes nothing and is not reported.
 */
void dm_thread_lower_priority(int incr);

#endif
