/*
 * check_enums.c - the one name table of each check enumeration.
 */
#include <stddef.h>
#include <string.h>

#include "common/check_enums.h"

static const char *const severity_names[DM_SEVERITIES] = {
    [DM_SEVERITY_NONE] = "none",
    [DM_SEVERITY_INFO] = "info",
    [DM_SEVERITY_WARNING] = "warning",
    [DM_SEVERITY_CRITICAL] = "critical",
};

static const char *const status_names[DM_CHECK_STATUSES] = {
    [DM_CHECK_OK] = "ok",
    [DM_CHECK_INSUFFICIENT_DATA] = "insufficient_data",
    [DM_CHECK_FAILED] = "failed",
};

static const char *const kind_names[DM_CHECK_KINDS] = {
    [DM_CHECK_LIVE] = "live",
    [DM_CHECK_ADHOC] = "adhoc",
};

static const char *name_of(const char *const *names, size_t n, unsigned i)
{
    return i < n ? names[i] : "unknown";
}

static int parse(const char *const *names, size_t n, const char *s, int *out)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return DM_OK;
        }
    }
    return DM_EINVAL;
}

const char *dm_severity_name(dm_severity_t s)
{
    return name_of(severity_names, DM_SEVERITIES, (unsigned)s);
}

int dm_severity_parse(const char *s, dm_severity_t *out)
{
    int v = 0, rc = parse(severity_names, DM_SEVERITIES, s, &v);

    if (rc == DM_OK && out)
        *out = (dm_severity_t)v;
    return rc;
}

const char *dm_check_status_name(dm_check_status_t s)
{
    return name_of(status_names, DM_CHECK_STATUSES, (unsigned)s);
}

int dm_check_status_parse(const char *s, dm_check_status_t *out)
{
    int v = 0, rc = parse(status_names, DM_CHECK_STATUSES, s, &v);

    if (rc == DM_OK && out)
        *out = (dm_check_status_t)v;
    return rc;
}

const char *dm_check_kind_name(dm_check_kind_t k)
{
    return name_of(kind_names, DM_CHECK_KINDS, (unsigned)k);
}

int dm_check_kind_parse(const char *s, dm_check_kind_t *out)
{
    int v = 0, rc = parse(kind_names, DM_CHECK_KINDS, s, &v);

    if (rc == DM_OK && out)
        *out = (dm_check_kind_t)v;
    return rc;
}
