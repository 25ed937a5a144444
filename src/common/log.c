/*
 * log.c - leveled logging.
 *
 * DESIGN: the level is an atomic int; the thread name and context are
 * thread-local, so no lock is needed.  Each line is formatted into a stack
 * buffer and written with a single write(2), which POSIX makes atomic for
 * pipes up to PIPE_BUF and is in practice line-atomic on files and ttys.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/time.h"

static atomic_int log_level = DM_LOG_INFO;
static _Thread_local char thread_name[16] = "main";
static _Thread_local char context[64];

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR",
                                          "OFF"};

void dm_log_set_level(dm_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

dm_log_level_t dm_log_get_level(void)
{
    return (dm_log_level_t)atomic_load(&log_level);
}

int dm_log_level_parse(const char *s, dm_log_level_t *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error",
                                        "off"};

    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (dm_log_level_t)i;
            return DM_OK;
        }
    }
    return DM_EINVAL;
}

void dm_log_thread_name(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name ? name : "");
}

void dm_log_context(const char *ctx)
{
    snprintf(context, sizeof(context), "%s", ctx ? ctx : "");
}

void dm_log(dm_log_level_t level, const char *fmt, ...)
{
    char line[2048];
    char ts[40];
    va_list ap;
    int n, m;

    if ((int)level < atomic_load(&log_level) || level >= DM_LOG_OFF)
        return;
    dm_time_format_ms(dm_time_now_ms(), ts, sizeof(ts));
    n = snprintf(line, sizeof(line), "%s %-5s [%s] %s%s", ts,
                 level_names[level], thread_name, context,
                 context[0] ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report a failed log write */
    }
}
