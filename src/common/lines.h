/*
 * lines.h - a line reader with a cap on line length.
 *
 * Reads a file (or standard input, named "-") one line at a time.  Lines
 * end at '\n'; a trailing '\r' is removed; the last line need not end in
 * a newline.  A line longer than the cap is an error naming the line
 * number, never a silent truncation.  Not thread-safe: one reader, one
 * thread.
 */
#ifndef DM_COMMON_LINES_H
#define DM_COMMON_LINES_H

#include <stdio.h>

#include "common/buf.h"

typedef struct dm_lines {
    FILE *f;
    int own; /* close f at the end (not for stdin) */
    dm_buf_t buf;
    size_t lineno;  /* number of the line last returned, from 1 */
    char name[256]; /* file name for messages */
} dm_lines_t;

/*
 * Opens path ("-" for stdin) for reading lines of at most max_line bytes.
 * Returns DM_OK, or DM_EIO with a message in errbuf.
 */
int dm_lines_open(dm_lines_t *lr, const char *path, size_t max_line,
                  char *errbuf, size_t n) DM_MUSTCHECK;

/*
 * Reads the next line into *line (borrowed: valid until the next call;
 * NUL-terminated, without the newline) and its length into *len.
 * Returns 1 for a line, 0 at end of file, or a negative DM_E* code with
 * a message naming the file and line (DM_ETOOBIG for an over-long line,
 * DM_EIO for a read error).  After DM_ETOOBIG the rest of that line has
 * been read and dropped and the line counted: the next call returns the
 * line after it.  After DM_EIO reading must stop.
 */
int dm_lines_next(dm_lines_t *lr, const char **line, size_t *len, char *errbuf,
                  size_t n) DM_MUSTCHECK;

/* Closes the file (unless stdin) and frees the buffer. */
void dm_lines_close(dm_lines_t *lr);

#endif
