/*
 * time.h - wall-clock and monotonic time, RFC 3339 formatting and parsing.
 *
 * Wall-clock instants are int64 milliseconds since the Unix epoch (UTC),
 * which covers every date a feedback log can hold and keeps arithmetic on
 * windows exact.  No function here depends on the process time zone.
 */
#ifndef DM_COMMON_TIME_H
#define DM_COMMON_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define DM_MS_PER_DAY  INT64_C(86400000)
#define DM_MS_PER_HOUR INT64_C(3600000)
/* Size that fits any string dm_time_format_ms() writes. */
#define DM_TIME_STRLEN 32

/* Current wall-clock time in milliseconds since the epoch. */
int64_t dm_time_now_ms(void);
/* Monotonic clock in nanoseconds (for durations only). */
uint64_t dm_time_mono_ns(void);

/*
 * Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out, of size n
 * (>= DM_TIME_STRLEN to never truncate).  Returns out.
 */
char *dm_time_format_ms(int64_t ms, char *out, size_t n);
/* Like dm_time_format_ms() without the milliseconds: "...:SSZ". */
char *dm_time_format_s(int64_t ms, char *out, size_t n);

/*
 * Parses an RFC 3339 timestamp ("2026-11-26T06:58:07Z",
 * "2026-11-26 06:58:07.5+01:00"; 'T' or a space between date and time;
 * fraction optional; 'Z' or a numeric offset required) into milliseconds
 * since the epoch.  A date alone ("2026-11-26") means midnight UTC.
 * Returns DM_OK, or DM_EPARSE for anything else (including out-of-range
 * fields such as month 13 or Feb 30).
 */
int dm_time_parse(const char *s, int64_t *out_ms) DM_MUSTCHECK;

#endif
