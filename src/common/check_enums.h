/*
 * check_enums.h - the enumerations of a drift check and their names:
 * severity, status and kind, each with one name table (check_enums.c).
 * Every module that stores, shows or parses one of them (the verdict,
 * the store, Slack, the API, the dashboard, /metrics) uses these.
 */
#ifndef DM_COMMON_CHECK_ENUMS_H
#define DM_COMMON_CHECK_ENUMS_H

#include "common/error.h"

/* Severity levels, ordered. */
typedef enum dm_severity {
    DM_SEVERITY_NONE = 0,
    DM_SEVERITY_INFO = 1,
    DM_SEVERITY_WARNING = 2,
    DM_SEVERITY_CRITICAL = 3
} dm_severity_t;
#define DM_SEVERITIES 4

/* What became of a check. */
typedef enum dm_check_status {
    DM_CHECK_OK = 0,
    DM_CHECK_INSUFFICIENT_DATA = 1,
    DM_CHECK_FAILED = 2
} dm_check_status_t;
#define DM_CHECK_STATUSES 3

/* Live (the configured window ending now) or ad hoc (a backfill). */
typedef enum dm_check_kind {
    DM_CHECK_LIVE = 0,
    DM_CHECK_ADHOC = 1
} dm_check_kind_t;
#define DM_CHECK_KINDS 2

/* "none", "info", "warning", "critical"; "unknown" outside the enum. */
const char *dm_severity_name(dm_severity_t s);
/* Parses a severity name; DM_EINVAL for anything else (NULL too). */
int dm_severity_parse(const char *s, dm_severity_t *out) DM_MUSTCHECK;

/* "ok", "insufficient_data", "failed"; "unknown" outside the enum. */
const char *dm_check_status_name(dm_check_status_t s);
int dm_check_status_parse(const char *s, dm_check_status_t *out) DM_MUSTCHECK;

/* "live", "adhoc"; "unknown" outside the enum. */
const char *dm_check_kind_name(dm_check_kind_t k);
int dm_check_kind_parse(const char *s, dm_check_kind_t *out) DM_MUSTCHECK;

#endif
