/*
 * test_ingest.c - validation of feedback rows (JSON objects) and the
 * JSONL / CSV readers, without a database: every field rule, RFC 4180
 * quoting, line numbers, caps.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "support/testutil.h"

/* string equality that prints both sides */
#define STREQ(a, b) tu_streq(a, b)

static int from_json(const char *text, dm_ingest_row_t *row, char *err)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    int rc;

    cr_assert(o != NULL, "bad test JSON: %s", je.text);
    rc = dm_ingest_row_from_json(o, row, err, DM_ERRBUF_SIZE);
    json_decref(o);
    return rc;
}

Test(ingest, json_row_valid)
{
    dm_ingest_row_t r;
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert(eq(int,
                 from_json("{\"id\": 42, \"query\": \"q\", \"response\": "
                           "\"\", \"intent\": null, \"positive\": 1, "
                           "\"created_at\": \"2026-01-01T00:00:00.250Z\"}",
                           &r, err),
                 DM_OK),
              "%s", err);
    cr_assert(STREQ(r.row.id, "42"));
    cr_assert(STREQ(r.row.query, "q"));
    cr_assert(STREQ(r.row.response, ""));
    cr_assert(r.row.intent == NULL);
    cr_assert(r.row.positive);
    cr_assert(eq(i64, r.row.created_at_ms, INT64_C(1767225600250)));
    dm_ingest_row_cleanup(&r);
}

Test(ingest, json_row_errors_name_the_field)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"[1]", "JSON object"},
        {"{\"response\": \"r\", \"positive\": true, \"created_at\": "
         "\"2026-01-01\"}",
         "query: missing"},
        {"{\"query\": 5, \"response\": \"r\", \"positive\": true, "
         "\"created_at\": \"2026-01-01\"}",
         "query: must be a string"},
        {"{\"query\": \"q\", \"response\": \"r\", \"positive\": 2, "
         "\"created_at\": \"2026-01-01\"}",
         "positive"},
        {"{\"query\": \"q\", \"response\": \"r\", \"positive\": true, "
         "\"created_at\": \"2026-13-01\"}",
         "created_at"},
        {"{\"query\": \"q\", \"response\": \"r\", \"positive\": true, "
         "\"created_at\": \"2026-01-01\", \"rating\": 5}",
         "unknown field 'rating'"},
        {"{\"id\": \"a\\nb\", \"query\": \"q\", \"response\": \"r\", "
         "\"positive\": true, \"created_at\": \"2026-01-01\"}",
         "id: control character"},
        {"{\"id\": 1.5, \"query\": \"q\", \"response\": \"r\", "
         "\"positive\": true, \"created_at\": \"2026-01-01\"}",
         "id: must be a string or an integer"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dm_ingest_row_t r;
        char err[DM_ERRBUF_SIZE] = "";
        cr_assert(eq(int, from_json(cases[i].json, &r, err), DM_EINVAL),
                  "case %zu accepted", i);
        cr_assert(strstr(err, cases[i].msg) != NULL,
                  "case %zu: '%s' does not contain '%s'", i, err, cases[i].msg);
        dm_ingest_row_cleanup(&r);
    }
}

Test(ingest, intent_cap)
{
    char json[512], intent[200];
    dm_ingest_row_t r;
    char err[DM_ERRBUF_SIZE] = "";

    memset(intent, 'a', sizeof(intent) - 1);
    intent[sizeof(intent) - 1] = '\0';
    snprintf(json, sizeof(json),
             "{\"query\": \"q\", \"response\": \"r\", \"intent\": \"%s\", "
             "\"positive\": true, \"created_at\": \"2026-01-01\"}",
             intent);
    cr_assert(eq(int, from_json(json, &r, err), DM_EINVAL));
    cr_assert(strstr(err, "intent: longer than 128") != NULL, "%s", err);
    dm_ingest_row_cleanup(&r);
}

static char *tmpfile_with(const char *text, size_t len)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/dm-ingest-XXXXXX");
    fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert(eq(sz, (size_t)write(fd, text, len), len));
    close(fd);
    return path;
}

/* Reads every record; returns "ok" or the error per record, one a line. */
static void read_all(const char *text, dm_ingest_format_t fmt, char *out,
                     size_t outlen, int *open_rc)
{
    char *path = tmpfile_with(text, strlen(text));
    dm_ingest_reader_t *rd = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    size_t used = 0, line;

    out[0] = '\0';
    *open_rc = dm_ingest_reader_open(path, fmt, &rd, err, sizeof(err));
    if (*open_rc != DM_OK) {
        snprintf(out, outlen, "%s", err);
        unlink(path);
        return;
    }
    for (;;) {
        dm_ingest_row_t r;
        int rc = dm_ingest_reader_next(rd, &r, &line, err, sizeof(err));
        if (rc == 0) {
            dm_ingest_row_cleanup(&r);
            break;
        }
        if (rc == 1)
            used += (size_t)snprintf(
                out + used, outlen - used, "%zu:[%s|%s|%s]\n", line,
                r.row.query, r.row.response, r.row.intent ? r.row.intent : "-");
        else
            used += (size_t)snprintf(out + used, outlen - used, "%s\n", err);
        dm_ingest_row_cleanup(&r);
        if (rc == DM_EIO || used >= outlen - 1)
            break;
    }
    dm_ingest_reader_free(rd);
    unlink(path);
}

Test(ingest, csv_rfc4180)
{
    char out[4096];
    int orc;

    read_all("query,response,positive,created_at,intent\r\n"
             "plain,\"quoted, with comma\",1,2026-01-01,code\r\n"
             "\"a \"\"b\"\"\",\"two\nlines\",0,2026-01-01,\r\n"
             "\n"
             "x,y,true,2026-01-01,\"\"\n"
             "last,no newline,f,2026-01-01,debug",
             DM_INGEST_CSV, out, sizeof(out), &orc);
    cr_assert(eq(int, orc, DM_OK), "%s", out);
    cr_assert(STREQ(out, "2:[plain|quoted, with comma|code]\n"
                         "3:[a \"b\"|two\nlines|-]\n"
                         "6:[x|y|-]\n"
                         "7:[last|no newline|debug]\n"));
}

Test(ingest, csv_errors_with_lines_and_recovery)
{
    char out[4096];
    int orc;

    read_all("query,response,positive,created_at\n"
             "a\"b,r,1,2026-01-01\n"
             "ok,r,1,2026-01-01\n"
             "\"x\"y,r,1,2026-01-01\n"
             "ok2,r,1,2026-01-01\n"
             "a,b,c,d,e\n"
             "bad\xff,r,1,2026-01-01\n"
             "\"open,r,1,2026-01-01\nstill open\n",
             DM_INGEST_CSV, out, sizeof(out), &orc);
    cr_assert(eq(int, orc, DM_OK), "%s", out);
    cr_assert(STREQ(out,
                    "line 2: quote inside an unquoted field\n"
                    "3:[ok|r|-]\n"
                    "line 4: unexpected character after a closing quote\n"
                    "5:[ok2|r|-]\n"
                    "line 6: 5 fields, the header has 4\n"
                    "line 7: query: not valid UTF-8 (or contains a NUL byte)\n"
                    "line 8: unterminated quoted field\n"));
}

Test(ingest, csv_header_checks)
{
    char out[1024];
    int orc;

    read_all("query,response,positive\n", DM_INGEST_CSV, out, sizeof(out),
             &orc);
    cr_assert(eq(int, orc, DM_EPARSE));
    cr_assert(strstr(out, "missing column 'created_at'") != NULL, "%s", out);
    read_all("query,response,positive,created_at,query\n", DM_INGEST_CSV, out,
             sizeof(out), &orc);
    cr_assert(eq(int, orc, DM_EPARSE));
    cr_assert(strstr(out, "given twice") != NULL, "%s", out);
    read_all("query,response,positive,created_at,user\n", DM_INGEST_CSV, out,
             sizeof(out), &orc);
    cr_assert(eq(int, orc, DM_EPARSE));
    cr_assert(strstr(out, "unknown column 'user'") != NULL, "%s", out);
    read_all("", DM_INGEST_CSV, out, sizeof(out), &orc);
    cr_assert(eq(int, orc, DM_EPARSE));
    cr_assert(strstr(out, "empty file") != NULL, "%s", out);
}

Test(ingest, csv_record_cap)
{
    size_t n = DM_INGEST_MAX_RECORD + 100;
    char *text = malloc(n + 200);
    char out[1024];
    int orc;

    cr_assert(text != NULL);
    strcpy(text, "query,response,positive,created_at\n\"");
    size_t k = strlen(text);
    memset(text + k, 'a', n);
    strcpy(text + k + n, "\",r,1,2026-01-01\n");
    read_all(text, DM_INGEST_CSV, out, sizeof(out), &orc);
    free(text);
    cr_assert(eq(int, orc, DM_OK));
    cr_assert(strstr(out, "line 2: record longer than") != NULL, "%s", out);
}

Test(ingest, jsonl_lines)
{
    char out[4096];
    int orc;

    read_all("{\"query\": \"a\", \"response\": \"b\", \"positive\": true, "
             "\"created_at\": \"2026-01-01\"}\n"
             "   \n"
             "{\"query\": \"a\", \"query\": \"b\"}\n"
             "{\"query\": \"c\", \"response\": \"d\", \"positive\": false, "
             "\"created_at\": \"2026-01-01\", \"intent\": \"x\"}\r\n",
             DM_INGEST_JSONL, out, sizeof(out), &orc);
    cr_assert(eq(int, orc, DM_OK));
    cr_assert(strstr(out, "1:[a|b|-]\n") == out, "%s", out);
    cr_assert(strstr(out, "line 3: invalid JSON") != NULL, "%s", out);
    cr_assert(strstr(out, "4:[c|d|x]\n") != NULL, "%s", out);
}

Test(ingest, format_guess)
{
    dm_ingest_format_t f;

    cr_assert(eq(int, dm_ingest_format_guess("x.CSV"), DM_INGEST_CSV));
    cr_assert(eq(int, dm_ingest_format_guess("x.jsonl"), DM_INGEST_JSONL));
    cr_assert(eq(int, dm_ingest_format_parse("csv", &f), DM_OK));
    cr_assert(eq(int, f, DM_INGEST_CSV));
    cr_assert(eq(int, dm_ingest_format_parse("xml", &f), DM_EINVAL));
}

static size_t good_row(char *p, dm_ingest_format_t fmt, int i)
{
    if (fmt == DM_INGEST_CSV)
        return (size_t)snprintf(p, 64, "q%d,r,1,2026-01-01\n", i);
    return (size_t)snprintf(p, 128,
                            "{\"query\": \"q%d\", \"response\": \"r\", "
                            "\"positive\": true, \"created_at\": "
                            "\"2026-01-01\"}\n",
                            i);
}

/* One good row, one line over the cap, three good rows, one bad line. */
static char *long_line_file(dm_ingest_format_t fmt)
{
    size_t n = DM_INGEST_MAX_RECORD + 100 * 1024, k = 0;
    char *text = malloc(n + 1024);

    cr_assert(text != NULL);
    if (fmt == DM_INGEST_CSV)
        k += (size_t)snprintf(text, 64, "query,response,positive,created_at\n");
    k += good_row(text + k, fmt, 1);
    memset(text + k, 'a', n);
    k += n;
    text[k++] = '\n';
    for (int i = 2; i <= 4; i++)
        k += good_row(text + k, fmt, i);
    snprintf(text + k, 64, "%s",
             fmt == DM_INGEST_CSV ? "bad,r,maybe,2026-01-01\n"
                                  : "{\"query\": 1}\n");
    return text;
}

Test(ingest, long_line_is_one_bad_line_and_reading_goes_on)
{
    static const dm_ingest_format_t fmts[] = {DM_INGEST_JSONL, DM_INGEST_CSV};
    char out[4096];
    int orc;

    for (size_t i = 0; i < 2; i++) {
        char *text = long_line_file(fmts[i]);
        int o = fmts[i] == DM_INGEST_CSV; /* the header is line 1 */
        char want[512];

        read_all(text, fmts[i], out, sizeof(out), &orc);
        free(text);
        cr_assert(eq(int, orc, DM_OK), "%s", out);
        snprintf(want, sizeof(want),
                 "%d:[q1|r|-]\n"
                 "line %d: %s longer than %d bytes\n"
                 "%d:[q2|r|-]\n%d:[q3|r|-]\n%d:[q4|r|-]\n"
                 "line %d: ",
                 1 + o, 2 + o, o ? "record" : "line", DM_INGEST_MAX_RECORD,
                 3 + o, 4 + o, 5 + o, 6 + o);
        cr_assert(strncmp(out, want, strlen(want)) == 0,
                  "format %zu:\n%s\nwant prefix:\n%s", i, out, want);
    }
}
