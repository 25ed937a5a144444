/*
 * log.h - leveled logging with thread names and a context prefix.
 *
 * One line per message on stderr:
 *     2026-11-26T06:58:07.123Z INFO  [scheduler] check 42: message
 * time (UTC), level, thread name, optional context, message.  Each thread
 * names itself once with dm_log_thread_name(); a context (for example a
 * check id) is set per thread with dm_log_context().  The level is global.
 * All functions are thread-safe; a line is written with one write call so
 * lines from several threads never interleave.
 *
 * Never pass secrets (webhook URLs, passwords, tokens) to these functions.
 */
#ifndef DM_COMMON_LOG_H
#define DM_COMMON_LOG_H

#include "common/error.h"

typedef enum dm_log_level {
    DM_LOG_DEBUG = 0,
    DM_LOG_INFO = 1,
    DM_LOG_WARN = 2,
    DM_LOG_ERROR = 3,
    DM_LOG_OFF = 4
} dm_log_level_t;

/* Sets the lowest level that is printed (default DM_LOG_INFO). */
void dm_log_set_level(dm_log_level_t level);
dm_log_level_t dm_log_get_level(void);
/*
 * Parses "debug", "info", "warn", "error" or "off" into *out.
 * Returns DM_OK or DM_EINVAL.
 */
int dm_log_level_parse(const char *s, dm_log_level_t *out) DM_MUSTCHECK;
/* Names the calling thread in log lines (copied, at most 15 bytes). */
void dm_log_thread_name(const char *name);
/* Sets (or with NULL clears) the calling thread's context prefix. */
void dm_log_context(const char *ctx);

void dm_log(dm_log_level_t level, const char *fmt, ...) DM_PRINTF(2, 3);

#define dm_log_debug(...) dm_log(DM_LOG_DEBUG, __VA_ARGS__)
#define dm_log_info(...)  dm_log(DM_LOG_INFO, __VA_ARGS__)
#define dm_log_warn(...)  dm_log(DM_LOG_WARN, __VA_ARGS__)
#define dm_log_error(...) dm_log(DM_LOG_ERROR, __VA_ARGS__)

#endif
