/*
 * lines.c - capped line reader over stdio.
 */
#include "common/lines.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int dm_lines_open(dm_lines_t *lr, const char *path, size_t max_line,
                  char *errbuf, size_t n)
{
    memset(lr, 0, sizeof(*lr));
    if (path == NULL)
        return dm_err_set(errbuf, n, DM_EINVAL, "no file name given");
    snprintf(lr->name, sizeof(lr->name), "%s",
             strcmp(path, "-") == 0 ? "<stdin>" : path);
    if (strcmp(path, "-") == 0) {
        lr->f = stdin;
    } else {
        struct stat sb;

        lr->f = fopen(path, "rb");
        if (lr->f == NULL)
            return dm_err_set(errbuf, n, DM_EIO, "%s: cannot open: %s", path,
                              strerror(errno));
        lr->own = 1;
        /* a directory opens on Linux and fails only at the first read */
        if (fstat(fileno(lr->f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
            fclose(lr->f);
            lr->f = NULL;
            return dm_err_set(errbuf, n, DM_EIO,
                              "%s: cannot open: is a directory", path);
        }
    }
    dm_buf_init(&lr->buf, max_line);
    return DM_OK;
}

int dm_lines_next(dm_lines_t *lr, const char **line, size_t *len, char *errbuf,
                  size_t n)
{
    char chunk[4096];
    size_t cl = 0;
    int got = 0, c;

    /* getc_unlocked rather than fgets so NUL bytes are kept and counted */
    dm_buf_reset(&lr->buf);
    while ((c = getc_unlocked(lr->f)) != EOF) {
        got = 1;
        if (c == '\n')
            break;
        chunk[cl++] = (char)c;
        if (cl == sizeof(chunk)) {
            if (dm_buf_append(&lr->buf, chunk, cl) != DM_OK)
                goto toobig;
            cl = 0;
        }
    }
    if (dm_buf_append(&lr->buf, chunk, cl) != DM_OK)
        goto toobig;
    if (ferror(lr->f))
        return dm_err_set(errbuf, n, DM_EIO, "%s:%zu: read error", lr->name,
                          lr->lineno + 1);
    if (!got)
        return 0;
    lr->lineno++;
    if (lr->buf.len > 0 && lr->buf.data[lr->buf.len - 1] == '\r')
        lr->buf.data[--lr->buf.len] = '\0';
    *line = dm_buf_str(&lr->buf);
    *len = lr->buf.len;
    return 1;

toobig:
    /* the rest of the line is read and dropped, so the caller may go on
       with the next line (one over-long line is one bad line) */
    while ((c = getc_unlocked(lr->f)) != EOF && c != '\n')
        ;
    lr->lineno++;
    dm_buf_reset(&lr->buf);
    if (ferror(lr->f))
        return dm_err_set(errbuf, n, DM_EIO, "%s:%zu: read error", lr->name,
                          lr->lineno);
    return dm_err_set(errbuf, n, DM_ETOOBIG,
                      "%s:%zu: line longer than %zu bytes", lr->name,
                      lr->lineno, lr->buf.max);
}

void dm_lines_close(dm_lines_t *lr)
{
    if (lr->own && lr->f)
        fclose(lr->f);
    lr->f = NULL;
    dm_buf_cleanup(&lr->buf);
}
