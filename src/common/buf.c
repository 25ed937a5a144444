/*
 * buf.c - capped growable buffer.
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void dm_buf_init(dm_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void dm_buf_cleanup(dm_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void dm_buf_reset(dm_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int ensure(dm_buf_t *b, size_t extra)
{
    size_t need, cap;

    if (extra > b->max || b->len > b->max - extra)
        return DM_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return DM_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > (b->max + 1) / 2 ? b->max + 1 : cap * 2;
    b->data = dm_realloc(b->data, cap);
    b->cap = cap;
    return DM_OK;
}

int dm_buf_append(dm_buf_t *b, const void *p, size_t n)
{
    int rc = ensure(b, n);

    if (rc != DM_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DM_OK;
}

int dm_buf_puts(dm_buf_t *b, const char *s)
{
    return dm_buf_append(b, s, strlen(s));
}

int dm_buf_printf(dm_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return DM_EINVAL;
    rc = ensure(b, (size_t)n);
    if (rc != DM_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return DM_OK;
}

const char *dm_buf_str(const dm_buf_t *b)
{
    return b->data ? b->data : "";
}

char *dm_buf_steal(dm_buf_t *b)
{
    char *p = b->data ? b->data : dm_strdup("");

    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
