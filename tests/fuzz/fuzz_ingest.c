/*
 * fuzz_ingest.c - libFuzzer target: the feedback ingest readers
 * (ingest.h).  The first byte picks the format (even: JSONL, odd: CSV);
 * the rest is written to a scratch file and read to the end with
 * dm_ingest_reader_next(), which runs the CSV state machine or
 * json_loadb() + dm_ingest_row_from_json() per line.  Checks: every
 * valid row has its required fields, within their caps, as valid UTF-8
 * (checked with utf8proc, independently of ingest.c's own check) and an
 * id without control characters; errors carry a message; reading stops.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "fuzz_util.h"
#include "ingest/ingest.h"

/* NULL or valid UTF-8 (utf8proc: no surrogates, no overlongs) of at
 * least min and at most max bytes, without NUL. */
static void check_text(const char *s, size_t min, size_t max)
{
    size_t len, off = 0;

    if (s == NULL) {
        if (min > 0)
            abort();
        return;
    }
    len = strlen(s);
    if (len < min || len > max)
        abort();
    while (off < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)s + off,
                             (utf8proc_ssize_t)(len - off), &cp);

        if (n <= 0 || cp == 0)
            abort();
        off += (size_t)n;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)dm_fuzz_tmpdir();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_ingest_format_t fmt;
    dm_ingest_reader_t *r = NULL;
    char path[8192], err[512];
    size_t line = 0, calls = 0;
    int rc;

    if (size < 1)
        return 0;
    fmt = (data[0] & 1) ? DM_INGEST_CSV : DM_INGEST_JSONL;
    dm_fuzz_write(dm_fuzz_tmpdir(), "input", data + 1, size - 1);
    snprintf(path, sizeof(path), "%s/input", dm_fuzz_tmpdir());
    err[0] = '\0';
    rc = dm_ingest_reader_open(path, fmt, &r, err, sizeof(err));
    if (rc != DM_OK) {
        if (r != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    for (;;) {
        dm_ingest_row_t row;

        memset(&row, 0, sizeof(row));
        err[0] = '\0';
        rc = dm_ingest_reader_next(r, &row, &line, err, sizeof(err));
        if (rc == 1) {
            check_text(row.row.query, 0, DM_STORE_MAX_TEXT);
            check_text(row.row.response, 0, DM_STORE_MAX_TEXT);
            check_text(row.row.intent, 0, DM_STORE_MAX_INTENT);
            check_text(row.row.id, 0, DM_STORE_MAX_ID);
            if (row.row.query == NULL || row.row.response == NULL)
                abort();
            for (const char *c = row.row.id; c && *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    abort();
        } else if (rc < 0 && err[0] == '\0') {
            abort();
        }
        dm_ingest_row_cleanup(&row);
        if (rc == 0 || rc == DM_EIO || rc == DM_ETOOBIG)
            break;
        /* every record or error consumes input: more calls than bytes
         * would be a loop */
        if (++calls > size + 1)
            abort();
    }
    dm_ingest_reader_free(r);
    return 0;
}
