/*
 * thread.c - thread helpers.
 */
#include "common/thread.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void dm_thread_lower_priority(int incr)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    int cur;

    errno = 0;
    cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        return;
    if (setpriority(PRIO_PROCESS, tid, cur + incr) != 0) {
        /* best effort: keep running at the current priority */
    }
}
