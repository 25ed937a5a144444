/*
 * buf.h - a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * Every buffer that grows with outside input is created with a maximum
 * size; an append past it fails with DM_ETOOBIG and leaves the buffer as
 * it was.  The contents are always NUL-terminated (the terminator is not
 * counted in len and not in the cap), so text can be used as a C string.
 *
 * Ownership: the buffer owns data; dm_buf_cleanup() frees it, and
 * dm_buf_steal() hands it to the caller.
 */
#ifndef DM_COMMON_BUF_H
#define DM_COMMON_BUF_H

#include <stddef.h>

#include "common/error.h"

typedef struct dm_buf {
    char *data; /* NULL until the first append */
    size_t len; /* bytes in use, excluding the terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len */
} dm_buf_t;

/* Initialises an empty buffer that may grow to max bytes. */
void dm_buf_init(dm_buf_t *b, size_t max);
/* Frees the contents; the buffer may be reused after dm_buf_init(). */
void dm_buf_cleanup(dm_buf_t *b);
/* Empties the buffer, keeping its memory. */
void dm_buf_reset(dm_buf_t *b);
/* Appends n bytes; DM_ETOOBIG past the cap (nothing appended). */
int dm_buf_append(dm_buf_t *b, const void *p, size_t n) DM_MUSTCHECK;
/* Appends a NUL-terminated string. */
int dm_buf_puts(dm_buf_t *b, const char *s) DM_MUSTCHECK;
/* Appends formatted text; DM_ETOOBIG past the cap (nothing appended). */
int dm_buf_printf(dm_buf_t *b, const char *fmt, ...)
    DM_PRINTF(2, 3) DM_MUSTCHECK;
/* Returns the contents ("" when empty); borrowed, valid until next change. */
const char *dm_buf_str(const dm_buf_t *b);
/*
 * Hands the contents to the caller (free() them) and empties the buffer.
 * Never NULL: an empty buffer gives an allocated "".
 */
char *dm_buf_steal(dm_buf_t *b);

#endif
