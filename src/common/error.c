/*
 * error.c - error code descriptions and error-buffer formatting.
 */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *text;
} err_texts[] = {
    {DM_OK, "success"},
    {DM_ENOMEM, "out of memory"},
    {DM_EINVAL, "invalid argument"},
    {DM_EIO, "input/output error"},
    {DM_EPARSE, "malformed input"},
    {DM_ERANGE, "value out of range"},
    {DM_ENOTFOUND, "not found"},
    {DM_ETOOBIG, "input too large"},
    {DM_ESTORE, "store error"},
    {DM_ENET, "network error"},
    {DM_EBUSY, "resource busy"},
    {DM_EMODEL, "invalid model"},
    {DM_ECONFIG, "invalid configuration"},
    {DM_EINTERNAL, "internal error"},
    {DM_ECANCELED, "cancelled"},
};

const char *dm_strerror(int err)
{
    for (size_t i = 0; i < sizeof(err_texts) / sizeof(err_texts[0]); i++)
        if (err_texts[i].code == err)
            return err_texts[i].text;
    return "unknown error";
}

int dm_err_set(char *errbuf, size_t n, int err, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || n == 0)
        return err;
    va_start(ap, fmt);
    vsnprintf(errbuf, n, fmt, ap);
    va_end(ap);
    return err;
}

int dm_err_prefix(char *errbuf, size_t n, int err, const char *fmt, ...)
{
    char prefix[DM_ERRBUF_SIZE];
    char old[DM_ERRBUF_SIZE];
    va_list ap;

    if (errbuf == NULL || n == 0)
        return err;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(old, sizeof(old), "%s", errbuf);
    snprintf(errbuf, n, "%s%s", prefix, old);
    return err;
}
