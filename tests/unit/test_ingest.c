/*
 * test_ingest.c - validation of feedback rows (JSON objects) and the
 * JSONL / CSV readers, without a database: every field rule, RFC 4180
 * quoting, line numbers, caps.  Then dm_ingest_run(), the one ingest
 * policy, over a scratch SQLite store: batches, each bad-row policy, the
 * transaction, the counts, and a store that fails in the middle.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "store/store_int.h" /* dm_store_test_exec: fill the disk */
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

/* ---- dm_ingest_run ------------------------------------------------- */

static char run_dir[256];
static dm_config_t *run_cfg;

static void run_setup(void)
{
    char path[512], yaml[1024], err[DM_ERRBUF_SIZE] = "";

    tu_tmpdir_make(run_dir, sizeof(run_dir), "ingest-run");
    snprintf(path, sizeof(path), "%s/driftmon.yaml", run_dir);
    snprintf(yaml, sizeof(yaml),
             "database:\n  backend: sqlite\n  path: \"%s/t.db\"\n", run_dir);
    tu_write_file(path, yaml);
    cr_assert(eq(int, dm_config_load(path, &run_cfg, err, sizeof(err)), DM_OK),
              "%s", err);
}

static void run_teardown(void)
{
    dm_config_free(run_cfg);
    run_cfg = NULL;
    tu_tmpdir_remove(run_dir);
}

static dm_store_t *run_store(void)
{
    dm_store_t *s = NULL;
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert(eq(int,
                 dm_store_open_migrated(run_cfg, &s, NULL, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    return s;
}

static uint64_t stored(dm_store_t *s)
{
    uint64_t n = 0;
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert(eq(int, dm_store_feedback_count(s, &n, err, sizeof(err)), DM_OK),
              "%s", err);
    return n;
}

/* What the callbacks saw. */
struct seen {
    size_t bad, progress, rejected_at_last;
    int last_rc;
    char last_msg[DM_ERRBUF_SIZE];
};

static void seen_bad(const dm_ingest_stats_t *st, int rc, const char *msg,
                     void *arg)
{
    struct seen *s = arg;

    s->bad++;
    s->rejected_at_last = st->rejected;
    s->last_rc = rc;
    snprintf(s->last_msg, sizeof(s->last_msg), "%s", msg);
}

static void seen_progress(const dm_ingest_stats_t *st, void *arg)
{
    struct seen *s = arg;

    (void)st;
    s->progress++;
}

/* JSONL: rows r1..r5, with line 3 not a row (its query is a number). */
#define JSONL_ROW(id)                                                          \
    "{\"id\": \"" id "\", \"query\": \"q\", \"response\": \"r\", "             \
    "\"positive\": true, \"created_at\": \"2026-01-01T00:00:00Z\"}\n"
static const char bad_in_middle[] =
    JSONL_ROW("r1") JSONL_ROW("r2") "{\"query\": 1}\n" JSONL_ROW("r4")
        JSONL_ROW("r5") JSONL_ROW("r6");

/* Runs the policy over bad_in_middle; returns the run's code. */
static int run_file(dm_store_t *st, dm_ingest_policy_t *pol,
                    dm_ingest_stats_t *stats, char *err)
{
    char *path = tmpfile_with(bad_in_middle, strlen(bad_in_middle));
    dm_ingest_reader_t *rd = NULL;
    dm_ingest_source_t src;
    int rc;

    cr_assert(eq(int,
                 dm_ingest_reader_open(path, DM_INGEST_JSONL, &rd, err,
                                       DM_ERRBUF_SIZE),
                 DM_OK),
              "%s", err);
    dm_ingest_source_init_reader(&src, rd);
    rc = dm_ingest_run(st, &src, pol, stats, err, DM_ERRBUF_SIZE);
    dm_ingest_reader_free(rd);
    unlink(path);
    return rc;
}

TestSuite(ingest_run, .init = run_setup, .fini = run_teardown);

Test(ingest_run, report_reads_on_then_writes_nothing)
{
    dm_store_t *st = run_store();
    struct seen seen = {0};
    dm_ingest_policy_t pol = {.on_bad = DM_INGEST_REPORT,
                              .atomic = true,
                              .batch = 2, /* r1, r2 are written, then undone */
                              .bad_cb = seen_bad,
                              .progress_cb = seen_progress,
                              .arg = &seen};
    dm_ingest_stats_t stats;
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert(eq(int, run_file(st, &pol, &stats, err), DM_EINVAL));
    cr_assert(strstr(err, "line 3: query: must be a string") != NULL, "%s",
              err);
    cr_assert(eq(sz, stats.read, 5));
    cr_assert(eq(sz, stats.rejected, 1));
    cr_assert(eq(sz, stats.inserted, 0));
    cr_assert(eq(sz, stats.duplicates, 0));
    cr_assert(not(stats.stopped));
    cr_assert(eq(sz, seen.bad, 1));
    cr_assert(eq(sz, seen.rejected_at_last, 1));
    cr_assert(eq(int, seen.last_rc, DM_EINVAL));
    cr_assert(STREQ(seen.last_msg, err));
    cr_assert(eq(sz, seen.progress, 2)); /* two full batches */
    cr_assert(eq(u64, stored(st), 0));
    /* the transaction is closed: the store takes a new one */
    pol.on_bad = DM_INGEST_SKIP;
    cr_assert(eq(int, run_file(st, &pol, &stats, err), DM_OK), "%s", err);
    cr_assert(eq(u64, stored(st), 5));
    dm_store_free(st);
}

Test(ingest_run, skip_writes_the_good_rows_and_counts_duplicates)
{
    dm_store_t *st = run_store();
    struct seen seen = {0};
    dm_ingest_policy_t pol = {
        .on_bad = DM_INGEST_SKIP, .batch = 2, .bad_cb = seen_bad, .arg = &seen};
    dm_ingest_stats_t stats;
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert(eq(int, run_file(st, &pol, &stats, err), DM_OK), "%s", err);
    cr_assert(eq(sz, stats.read, 5));
    cr_assert(eq(sz, stats.rejected, 1));
    cr_assert(eq(sz, stats.inserted, 5));
    cr_assert(eq(sz, stats.duplicates, 0));
    cr_assert(eq(sz, seen.bad, 1));
    cr_assert(strstr(seen.last_msg, "line 3: ") != NULL, "%s", seen.last_msg);
    cr_assert(eq(u64, stored(st), 5));
    /* again: every row is a duplicate, nothing new */
    cr_assert(eq(int, run_file(st, &pol, &stats, err), DM_OK), "%s", err);
    cr_assert(eq(sz, stats.inserted, 0));
    cr_assert(eq(sz, stats.duplicates, 5));
    cr_assert(eq(u64, stored(st), 5));
    dm_store_free(st);
}

Test(ingest_run, stop_ends_at_the_first_bad_element)
{
    static const struct {
        const char *body, *msg;
        int rc;
        size_t read;
    } cases[] = {
        {"[" JSONL_ROW("a") "," JSONL_ROW("b") ", {\"query\": \"q\"}, "
                                               "{\"nope\": 1}]",
         "row 2: ", DM_EINVAL, 2},
        {"[" JSONL_ROW("a") ", 7, {\"nope\": 1}]",
         "row 1: must be a JSON object", DM_EPARSE, 1},
    };
    dm_store_t *st = run_store();

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seen seen = {0};
        dm_ingest_policy_t pol = {.on_bad = DM_INGEST_STOP,
                                  .atomic = true,
                                  .batch = 1,
                                  .bad_cb = seen_bad,
                                  .arg = &seen};
        dm_ingest_stats_t stats;
        dm_ingest_source_t src;
        char err[DM_ERRBUF_SIZE] = "";
        json_error_t je;
        json_t *arr = json_loads(cases[i].body, 0, &je);

        cr_assert(arr != NULL, "case %zu: %s", i, je.text);
        dm_ingest_source_init_json(&src, arr);
        cr_assert(eq(int,
                     dm_ingest_run(st, &src, &pol, &stats, err, sizeof(err)),
                     cases[i].rc),
                  "case %zu: %s", i, err);
        cr_assert(strstr(err, cases[i].msg) != NULL, "case %zu: %s", i, err);
        cr_assert(eq(sz, stats.read, cases[i].read), "case %zu", i);
        cr_assert(eq(sz, stats.rejected, 1), "case %zu", i); /* stopped */
        cr_assert(eq(sz, seen.bad, 1), "case %zu", i);
        cr_assert(eq(sz, stats.inserted, 0), "case %zu", i);
        cr_assert(eq(u64, stored(st), 0), "case %zu", i); /* rolled back */
        json_decref(arr);
    }
    dm_store_free(st);
}

Test(ingest_run, without_a_store_it_only_validates)
{
    static const char body[] = "[" JSONL_ROW("a") "," JSONL_ROW("b") "]";
    static const dm_ingest_policy_t pol = {.on_bad = DM_INGEST_STOP,
                                           .atomic = true};
    dm_ingest_stats_t stats;
    dm_ingest_source_t src;
    char err[DM_ERRBUF_SIZE] = "";
    json_t *arr = json_loads(body, 0, NULL);
    dm_store_t *st = run_store();

    dm_ingest_source_init_json(&src, arr);
    cr_assert(eq(int, dm_ingest_run(NULL, &src, &pol, &stats, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, stats.read, 2));
    cr_assert(eq(sz, stats.inserted + stats.duplicates + stats.rejected, 0));
    cr_assert(eq(u64, stored(st), 0));
    /* a source is read once; init again to run it again */
    dm_ingest_source_init_json(&src, arr);
    cr_assert(
        eq(int, dm_ingest_run(st, &src, &pol, &stats, err, sizeof(err)), DM_OK),
        "%s", err);
    cr_assert(eq(sz, stats.inserted, 2));
    cr_assert(eq(u64, stored(st), 2));
    json_decref(arr);
    dm_store_free(st);
}

/* A source of rows that fails to read after `good` rows. */
static int failing_next(dm_ingest_source_t *src, dm_ingest_row_t *out, char *eb,
                        size_t el)
{
    static const dm_feedback_row_t row = {NULL, "q", "r", NULL, true, 0};

    memset(out, 0, sizeof(*out));
    if (src->pos++ == src->n)
        return dm_err_set(eb, el, DM_EIO, "line %zu: read failed", src->pos);
    out->row = row; /* no id: the store makes one */
    return 1;
}

Test(ingest_run, a_read_error_stops_the_run)
{
    dm_store_t *st = run_store();
    dm_ingest_source_t src = {.next = failing_next, .n = 3};
    dm_ingest_policy_t pol = {.on_bad = DM_INGEST_SKIP, .batch = 2};
    dm_ingest_stats_t stats;
    char err[DM_ERRBUF_SIZE] = "";

    /* skip: the rows before it are written, and the run says it stopped */
    cr_assert(
        eq(int, dm_ingest_run(st, &src, &pol, &stats, err, sizeof(err)), DM_OK),
        "%s", err);
    cr_assert(stats.stopped);
    cr_assert(eq(sz, stats.read, 3));
    cr_assert(eq(sz, stats.rejected, 1));
    cr_assert(eq(sz, stats.inserted, 3));
    cr_assert(eq(u64, stored(st), 3));
    /* report: the read error is the answer and nothing is written */
    src.pos = 0;
    pol.on_bad = DM_INGEST_REPORT;
    pol.atomic = true;
    cr_assert(eq(int, dm_ingest_run(st, &src, &pol, &stats, err, sizeof(err)),
                 DM_EIO));
    cr_assert(STREQ(err, "line 4: read failed"));
    cr_assert(stats.stopped);
    cr_assert(eq(u64, stored(st), 3));
    dm_store_free(st);
}

/* Rows big enough to fill a small database after a few batches. */
static dm_feedback_row_t big_rows[200];

static void make_big_rows(void)
{
    static char big[4000];
    static char ids[200][8];

    memset(big, 'x', sizeof(big) - 1);
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof(ids[i]), "f%d", i);
        big_rows[i] = (dm_feedback_row_t){ids[i], big, big, NULL, true, 0};
    }
}

Test(ingest_run, a_store_error_in_the_middle)
{
    dm_store_t *st = run_store();
    dm_ingest_policy_t pol = {
        .on_bad = DM_INGEST_STOP, .atomic = true, .batch = 5};
    dm_ingest_stats_t stats;
    dm_ingest_source_t src;
    char err[DM_ERRBUF_SIZE] = "";

    make_big_rows();
    cr_assert(eq(int,
                 dm_store_test_exec(st, "PRAGMA max_page_count = 40", err,
                                    sizeof(err)),
                 DM_OK),
              "%s", err);
    /* atomic: the batches before the failing one are undone */
    dm_ingest_source_init_rows(&src, big_rows, 200);
    cr_assert(eq(int, dm_ingest_run(st, &src, &pol, &stats, err, sizeof(err)),
                 DM_ESTORE));
    cr_assert(strstr(err, "full") != NULL, "%s", err);
    cr_assert(stats.read > 5 && stats.read < 200, "read %zu", stats.read);
    cr_assert(eq(sz, stats.inserted, 0));
    cr_assert(eq(u64, stored(st), 0));
    /* not atomic: the batches before the failing one stay */
    pol.atomic = false;
    dm_ingest_source_init_rows(&src, big_rows, 200);
    cr_assert(eq(int, dm_ingest_run(st, &src, &pol, &stats, err, sizeof(err)),
                 DM_ESTORE));
    cr_assert(stats.inserted >= 5 && stats.inserted < 200, "inserted %zu",
              stats.inserted);
    cr_assert(eq(u64, stored(st), stats.inserted));
    dm_store_free(st);
}
