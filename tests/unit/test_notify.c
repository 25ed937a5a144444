/*
 * test_notify.c - the notify module against scripted fake servers: the
 * HTTP client's retry, Retry-After, timeout and budget rules; secrecy of
 * webhook URLs in logs and errors; the exact Slack and Learning Engine
 * payloads; Learning Engine answer parsing; the alert suppression table.
 *
 * Times in here are lower bounds that sleeping guarantees (a honoured
 * Retry-After of 1 s cannot take less than 1 s) and generous upper
 * bounds that only check the budget logic (a 2 s budget never takes 10).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "notify/http.h"
#include "notify/learning.h"
#include "notify/slack.h"
#include "support/fake_http.h"

/* The fake servers are on 127.0.0.1: keep a CI proxy out of the way. */
static void no_proxy(void)
{
    static const char *const vars[] = {"http_proxy", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

TestSuite(notify, .timeout = 60 * DM_TEST_TIMEOUT_SCALE, .init = no_proxy);

#define SECRET_PATH "/services/T000/B000/SeCrEtToKeN123"
#define SECRET_WORD "SeCrEtToKeN123"

/* Small timeouts and backoffs so the suite stays fast. */
static dm_http_opts_t fast_opts(void)
{
    dm_http_opts_t o;

    dm_http_opts_init(&o);
    o.timeout_ms = 2000;
    o.connect_timeout_ms = 1000;
    o.max_retries = 3;
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 40;
    o.budget_ms = 8000;
    o.jitter_seed = 7;
    return o;
}

static fake_http_t *start(void)
{
    fake_http_t *srv = fake_http_start();

    cr_assert_not_null(srv, "fake server did not start");
    return srv;
}

static char *url_of(fake_http_t *srv, const char *path)
{
    char *u = malloc(512);

    cr_assert_not_null(u);
    snprintf(u, 512, "%s%s", fake_http_url(srv), path);
    return u;
}

static double gap_ms(fake_http_t *srv, size_t i, size_t j)
{
    const fake_http_request_t *a = fake_http_request_at(srv, i);
    const fake_http_request_t *b = fake_http_request_at(srv, j);

    cr_assert(a && b);
    return (double)(b->received_ns - a->received_ns) / 1e6;
}

/* ---- HTTP client -------------------------------------------------------- */

Test(notify, http_200_sends_json_with_headers)
{
    fake_http_t *srv = start();
    char *url = url_of(srv, "/hook");
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];
    const char *body = "{\"a\":1}";
    const fake_http_request_t *q;

    fake_http_reply(srv, 200, "ok");
    o.bearer_token = "tok-123";
    cr_assert_eq(
        dm_http_post_json(url, body, strlen(body), &o, &res, err, sizeof(err)),
        DM_OK, "%s", err);
    cr_assert_eq(res.status, 200);
    cr_assert_eq(res.attempts, 1);
    cr_assert_eq(res.failure, DM_HTTP_FAIL_NONE);
    cr_assert_str_eq(res.body, "ok");
    cr_assert_eq(res.body_len, 2);
    cr_assert_str_eq(err, "");
    cr_assert_eq(fake_http_request_count(srv), 1);
    q = fake_http_request_at(srv, 0);
    cr_assert_str_eq(q->method, "POST");
    cr_assert_str_eq(q->path, "/hook");
    cr_assert_str_eq(q->body, body);
    cr_assert_str_eq(fake_http_request_header(q, "content-type"),
                     "application/json");
    cr_assert_str_eq(fake_http_request_header(q, "Authorization"),
                     "Bearer tok-123");
    dm_http_result_cleanup(&res);
    free(url);
    fake_http_stop(srv);
}

Test(notify, http_no_token_no_authorization_header)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];

    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_null(fake_http_request_header(fake_http_request_at(srv, 0),
                                            "Authorization"));
    cr_assert_str_eq(fake_http_request_at(srv, 0)->path, "/");
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_429_honours_retry_after)
{
    fake_http_t *srv = start();
    fake_http_response_t script[] = {
        {.status = 429, .retry_after = "1", .body = "slow down"},
        {.status = 200, .body = "ok"},
    };
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];
    double gap;

    fake_http_script(srv, script, 2);
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(res.status, 200);
    cr_assert_eq(fake_http_request_count(srv), 2);
    gap = gap_ms(srv, 0, 1);
    /* the backoff alone would be <= 40 ms; Retry-After says 1 s */
    cr_assert_geq(gap, 950.0, "second attempt after %.0f ms", gap);
    cr_assert_lt(gap, 5000.0, "second attempt after %.0f ms", gap);
    cr_assert_geq(res.elapsed_ms, 950);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_429_retry_after_beyond_budget_gives_up)
{
    fake_http_t *srv = start();
    fake_http_response_t r = {.status = 429, .retry_after = "120"};
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];

    fake_http_script(srv, &r, 1);
    o.budget_ms = 2000;
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_ENET);
    cr_assert_eq(res.attempts, 1);
    cr_assert_eq(res.status, 429);
    cr_assert_eq(res.retry_after_s, 120);
    cr_assert_eq(res.failure, DM_HTTP_FAIL_STATUS);
    cr_assert_not_null(strstr(err, "HTTP 429"), "%s", err);
    cr_assert_not_null(strstr(err, "does not fit"), "%s", err);
    cr_assert_lt(res.elapsed_ms, 2000);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_retry_after_http_date)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE], date[64];
    time_t when = time(NULL) + 30;
    struct tm tm;
    fake_http_response_t r = {.status = 429, .retry_after = date};

    gmtime_r(&when, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    fake_http_script(srv, &r, 1);
    o.budget_ms = 2000;
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_ENET);
    /* about 30 s from now: read as seconds, too long for the budget */
    cr_assert_geq(res.retry_after_s, 25, "Retry-After %s read as %ld s", date,
                  res.retry_after_s);
    cr_assert_leq(res.retry_after_s, 31);
    cr_assert_eq(res.attempts, 1);
    cr_assert_not_null(strstr(err, "does not fit"), "%s", err);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_500_then_200)
{
    fake_http_t *srv = start();
    fake_http_response_t script[] = {{.status = 500, .body = "oops"},
                                     {.status = 200, .body = "ok"}};
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];

    fake_http_script(srv, script, 2);
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(res.status, 200);
    cr_assert_str_eq(res.body, "ok");
    cr_assert_eq(fake_http_request_count(srv), 2);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_500_forever_stops_after_max_retries)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];

    fake_http_reply(srv, 500, "{\"error\":\"down\"}");
    o.max_retries = 3;
    o.budget_ms = 5000;
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_ENET);
    cr_assert_eq(res.attempts, 4);
    cr_assert_eq(fake_http_request_count(srv), 4);
    cr_assert_eq(res.status, 500);
    cr_assert_eq(res.failure, DM_HTTP_FAIL_STATUS);
    cr_assert_str_eq(res.body, "{\"error\":\"down\"}");
    cr_assert_not_null(strstr(err, "HTTP 500 after 4 attempts"), "%s", err);
    cr_assert_not_null(strstr(err, "down"), "%s", err);
    cr_assert_lt(res.elapsed_ms, 5000);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_hang_times_out)
{
    fake_http_t *srv = start();
    fake_http_response_t r = {.status = 200, .delay_ms = 10000};
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];
    uint64_t t0 = dm_time_mono_ns();
    double took;

    fake_http_script(srv, &r, 1);
    o.timeout_ms = 300;
    o.max_retries = 1;
    o.budget_ms = 3000;
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_ENET);
    took = (double)(dm_time_mono_ns() - t0) / 1e6;
    cr_assert_eq(res.failure, DM_HTTP_FAIL_TIMEOUT);
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(res.status, 0);
    cr_assert_not_null(strstr(err, "timed out"), "%s", err);
    /* two 300 ms attempts; far below the server's 10 s */
    cr_assert_geq(took, 550.0, "took %.0f ms", took);
    cr_assert_lt(took, 3000.0, "took %.0f ms", took);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_budget_bounds_the_call)
{
    fake_http_t *srv = start();
    /* times scale with slow instrumentation (valgrind): the second
     * attempt must still find time left in the budget */
    const unsigned k = DM_TEST_TIMEOUT_SCALE;
    fake_http_response_t r = {.status = 200, .delay_ms = 10000 * k};
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];
    uint64_t t0 = dm_time_mono_ns();
    double took;

    fake_http_script(srv, &r, 1);
    /* each attempt may take 1 s, ten retries allowed, budget 1.5 s */
    o.timeout_ms = 1000 * k;
    o.max_retries = 10;
    o.budget_ms = 1500 * k;
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_ENET);
    took = (double)(dm_time_mono_ns() - t0) / 1e6;
    cr_assert_eq(res.failure, DM_HTTP_FAIL_TIMEOUT);
    cr_assert_geq(res.attempts, 2, "the second attempt gets the rest");
    cr_assert_leq(res.attempts, 3);
    cr_assert_lt(took, (1500.0 + 700.0) * k, "took %.0f ms", took);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_connection_refused)
{
    unsigned short port = fake_http_closed_port();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char url[64], err[DM_ERRBUF_SIZE];

    cr_assert_neq(port, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", (unsigned)port);
    o.max_retries = 2;
    cr_assert_eq(dm_http_post_json(url, "{}", 2, &o, &res, err, sizeof(err)),
                 DM_ENET);
    cr_assert_eq(res.failure, DM_HTTP_FAIL_CONNECT);
    cr_assert_eq(res.attempts, 3);
    cr_assert_eq(res.status, 0);
    cr_assert_not_null(strstr(err, "after 3 attempts"), "%s", err);
    cr_assert_lt(res.elapsed_ms, 5000);
    dm_http_result_cleanup(&res);
}

Test(notify, http_404_is_not_retried)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];

    fake_http_reply(srv, 404, "no_service");
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_ENET);
    cr_assert_eq(res.attempts, 1);
    cr_assert_eq(fake_http_request_count(srv), 1);
    cr_assert_eq(res.status, 404);
    cr_assert_eq(res.failure, DM_HTTP_FAIL_STATUS);
    cr_assert_not_null(strstr(err, "HTTP 404 after 1 attempt"), "%s", err);
    cr_assert_not_null(strstr(err, "no_service"), "%s", err);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_error_snippet_never_cuts_a_secret_in_half)
{
    fake_http_t *srv = start();
    char *url = url_of(srv, SECRET_PATH);
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE], body[512];

    /* the quoted snippet is cut near 160 bytes: put the path across it */
    snprintf(body, sizeof(body), "%0155d%s", 0, SECRET_PATH);
    fake_http_reply(srv, 404, body);
    cr_assert_eq(dm_http_post_json(url, "{}", 2, &o, &res, err, sizeof(err)),
                 DM_ENET);
    cr_assert_not_null(strstr(err, "00000"), "%s", err);
    cr_assert_null(strstr(err, "/serv"), "%s", err);
    cr_assert_null(strstr(err, "SeCr"), "%s", err);
    dm_http_result_cleanup(&res);
    free(url);
    fake_http_stop(srv);
}

Test(notify, http_dropped_connection_is_retried)
{
    fake_http_t *srv = start();
    fake_http_response_t script[] = {{.close_connection = true},
                                     {.status = 200, .body = "ok"}};
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];

    fake_http_script(srv, script, 2);
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(fake_http_request_count(srv), 2);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, http_response_body_is_capped)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];
    size_t big = 200 * 1024;
    char *body = malloc(big + 1);

    cr_assert_not_null(body);
    memset(body, 'x', big);
    body[big] = '\0';
    fake_http_reply(srv, 200, body);
    o.max_response = 1024;
    cr_assert_eq(dm_http_post_json(fake_http_url(srv), "{}", 2, &o, &res, err,
                                   sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(res.status, 200);
    cr_assert(res.body_truncated);
    cr_assert_eq(res.body_len, 1024);
    cr_assert_eq(strlen(res.body), 1024);
    cr_assert_eq(res.attempts, 1);
    dm_http_result_cleanup(&res);
    free(body);
    fake_http_stop(srv);
}

Test(notify, http_rejects_bad_urls_and_options)
{
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];

    cr_assert_eq(dm_http_post_json("ftp://example.com/x" SECRET_PATH, "{}", 2,
                                   &o, &res, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert_eq(res.attempts, 0);
    cr_assert_eq(res.failure, DM_HTTP_FAIL_INVALID);
    cr_assert_null(strstr(err, SECRET_WORD), "%s", err);
    dm_http_result_cleanup(&res);

    cr_assert_eq(dm_http_post_json("not a url " SECRET_WORD, "{}", 2, &o, &res,
                                   err, sizeof(err)),
                 DM_EINVAL);
    cr_assert_null(strstr(err, SECRET_WORD), "%s", err);
    dm_http_result_cleanup(&res);

    cr_assert_eq(dm_http_post_json("", "{}", 2, &o, &res, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert_str_eq(err, "no URL configured");
    dm_http_result_cleanup(&res);

    o.budget_ms = 0;
    cr_assert_eq(dm_http_post_json("http://127.0.0.1:1/", "{}", 2, &o, &res,
                                   err, sizeof(err)),
                 DM_EINVAL);
    dm_http_result_cleanup(&res);

    o = fast_opts();
    o.bearer_token = "abc\r\nX-Evil: 1";
    cr_assert_eq(dm_http_post_json("http://127.0.0.1:1/", "{}", 2, &o, &res,
                                   err, sizeof(err)),
                 DM_EINVAL);
    dm_http_result_cleanup(&res);
}

Test(notify, http_label_and_redact)
{
    const char *url =
        "https://user:pw9@hooks.slack.com" SECRET_PATH "?token=q1w2e3";
    char out[512];

    cr_assert_str_eq(dm_http_url_label(url, out, sizeof(out)),
                     "https://hooks.slack.com");
    cr_assert_str_eq(
        dm_http_url_label("http://127.0.0.1:8003/train", out, sizeof(out)),
        "http://127.0.0.1:8003");
    cr_assert_str_eq(dm_http_url_label("::bad::", out, sizeof(out)),
                     "<invalid url>");

    dm_http_redact(url,
                   "Cannot POST " SECRET_PATH "\n at " SECRET_PATH
                   "?token=q1w2e3 by user:pw9",
                   out, sizeof(out));
    cr_assert_str_eq(out, "Cannot POST <redacted>  at <redacted> by "
                          "<redacted>");
    dm_http_redact(url, "query token=q1w2e3 alone", out, sizeof(out));
    cr_assert_str_eq(out, "query <redacted> alone");
    dm_http_redact(NULL, "plain\ttext", out, sizeof(out));
    cr_assert_str_eq(out, "plain text");
    dm_http_redact(url, "12345678901234567890", out, 8);
    cr_assert_str_eq(out, "1234567");
}

/* Runs fn with the log on DEBUG and stderr captured into buf. */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t n)
{
    char path[] = "/tmp/test_notify_stderr_XXXXXX";
    int fd = mkstemp(path), saved;
    ssize_t got;

    cr_assert_geq(fd, 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    cr_assert_geq(saved, 0);
    cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
    dm_log_set_level(DM_LOG_DEBUG);
    fn(arg);
    fflush(stderr);
    dm_log_set_level(DM_LOG_INFO);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    got = read(fd, buf, n - 1);
    buf[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(path);
}

typedef struct secret_run {
    fake_http_t *srv;
    char errs[6][DM_ERRBUF_SIZE];
    char res_errs[6][DM_ERRBUF_SIZE];
} secret_run_t;

static void secret_scenarios(void *arg)
{
    secret_run_t *s = arg;
    fake_http_response_t script[] = {
        {.status = 500, .body = "Cannot POST " SECRET_PATH},
        {.status = 503, .body = "upstream " SECRET_PATH " failed"},
        {.status = 404, .body = "Cannot POST " SECRET_PATH},
    };
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    dm_slack_alert_t a;
    char *url = url_of(s->srv, SECRET_PATH);
    char refused[128], *le_url, *job = NULL;
    dm_learning_request_t req = {.days = 7};
    unsigned short port = fake_http_closed_port();
    int rc;

    fake_http_script(s->srv, script, 3);
    /* 500, 503 (retried, logged), then a final 404 echoing the path */
    rc = dm_http_post_json(url, "{}", 2, &o, &res, s->errs[0],
                           sizeof(s->errs[0]));
    cr_assert_eq(rc, DM_ENET);
    memcpy(s->res_errs[0], res.error, sizeof(res.error));
    dm_http_result_cleanup(&res);

    /* connection refused on a URL with the secret path */
    snprintf(refused, sizeof(refused), "http://127.0.0.1:%u%s", (unsigned)port,
             SECRET_PATH);
    o.max_retries = 1;
    rc = dm_http_post_json(refused, "{}", 2, &o, &res, s->errs[1],
                           sizeof(s->errs[1]));
    cr_assert_eq(rc, DM_ENET);
    memcpy(s->res_errs[1], res.error, sizeof(res.error));
    dm_http_result_cleanup(&res);

    /* a Slack alert through a failing webhook */
    dm_slack_alert_init(&a);
    a.severity = DM_SEVERITY_WARNING;
    rc = dm_slack_alert_send(url, &a, &o, &res, s->errs[2], sizeof(s->errs[2]));
    cr_assert_eq(rc, DM_ENET);
    memcpy(s->res_errs[2], res.error, sizeof(res.error));
    dm_http_result_cleanup(&res);
    rc = dm_slack_alert_send(refused, &a, &o, &res, s->errs[3],
                             sizeof(s->errs[3]));
    cr_assert_eq(rc, DM_ENET);
    memcpy(s->res_errs[3], res.error, sizeof(res.error));
    dm_http_result_cleanup(&res);

    /* a timeout through a path with the secret */
    {
        fake_http_t *slow = start();
        fake_http_response_t r = {.status = 200, .delay_ms = 5000};
        char *slow_url = url_of(slow, SECRET_PATH);

        fake_http_script(slow, &r, 1);
        o.timeout_ms = 200;
        o.max_retries = 1;
        rc = dm_http_post_json(slow_url, "{}", 2, &o, &res, s->errs[4],
                               sizeof(s->errs[4]));
        cr_assert_eq(rc, DM_ENET);
        memcpy(s->res_errs[4], res.error, sizeof(res.error));
        dm_http_result_cleanup(&res);
        free(slow_url);
        fake_http_stop(slow);
    }

    /* the Learning Engine behind a base URL with the secret in its path,
     * answering with an echo of that path */
    {
        fake_http_t *le = start();

        fake_http_reply(le, 404, "Cannot POST /" SECRET_WORD "/train");
        o = fast_opts();
        le_url = url_of(le, "/" SECRET_WORD);
        rc = dm_learning_train(le_url, &req, &o, &job, &res, s->errs[5],
                               sizeof(s->errs[5]));
        cr_assert_eq(rc, DM_ENET);
        cr_assert_null(job);
        memcpy(s->res_errs[5], res.error, sizeof(res.error));
        dm_http_result_cleanup(&res);
        free(le_url);
        fake_http_stop(le);
    }
    free(url);
}

Test(notify, webhook_path_never_in_logs_or_errors)
{
    secret_run_t *s = calloc(1, sizeof(*s));
    static char log[64 * 1024];

    cr_assert_not_null(s);
    s->srv = start();
    capture_stderr(secret_scenarios, s, log, sizeof(log));
    /* the scenarios did log (retries), so the check below means something */
    cr_assert_not_null(strstr(log, "retrying in"), "log: %s", log);
    cr_assert_null(strstr(log, SECRET_WORD), "log leaks the path: %s", log);
    for (int i = 0; i < 6; i++) {
        cr_assert_neq(s->errs[i][0], '\0', "scenario %d has no error", i);
        cr_assert_null(strstr(s->errs[i], SECRET_WORD), "errbuf %d: %s", i,
                       s->errs[i]);
        cr_assert_null(strstr(s->res_errs[i], SECRET_WORD), "res.error %d: %s",
                       i, s->res_errs[i]);
    }
    /* the 404 body is quoted, with the path redacted */
    cr_assert_not_null(strstr(s->errs[0], "Cannot POST <redacted>"), "%s",
                       s->errs[0]);
    cr_assert_not_null(strstr(s->errs[2], "slack webhook http://127.0.0.1:"),
                       "%s", s->errs[2]);
    cr_assert_not_null(strstr(s->errs[4], "timed out"), "%s", s->errs[4]);
    fake_http_stop(s->srv);
    free(s);
}

/* ---- Slack payloads ----------------------------------------------------- */

static const dm_slack_metric_t metrics[] = {
    {"kl_divergence", 0.2345, 0.1, 0.005, true},
    {"psi", 0.05, 0.2, 0.42, false},
    {"accuracy", 0.69, 0.75, (double)NAN, true},
};
static const char *const mentions[] = {"U012AB3CD", "@U999", "here"};

static dm_slack_alert_t drift_alert(dm_severity_t sev)
{
    dm_slack_alert_t a;

    dm_slack_alert_init(&a);
    a.kind = DM_SLACK_KIND_DRIFT;
    a.severity = sev;
    a.check_id = 42;
    a.current_start_ms = INT64_C(1795071600000);  /* 2026-11-19T07:00:00Z */
    a.current_end_ms = INT64_C(1795676400000);    /* 2026-11-26T07:00:00Z */
    a.baseline_start_ms = INT64_C(1794466800000); /* 2026-11-12T07:00:00Z */
    a.baseline_end_ms = a.current_start_ms;
    a.current_samples = 512;
    a.baseline_samples = 498;
    a.metrics = metrics;
    a.metrics_count = 3;
    a.combined_score = 0.8731;
    a.mention_users = mentions;
    a.mention_count = 3;
    a.channel = "#drift-alerts";
    a.time_ms = INT64_C(1795676400123);
    return a;
}

static json_t *build(const dm_slack_alert_t *a)
{
    char *s = NULL, err[DM_ERRBUF_SIZE];
    json_t *j;
    json_error_t je;

    cr_assert_eq(dm_slack_alert_json(a, &s, err, sizeof(err)), DM_OK, "%s",
                 err);
    j = json_loads(s, 0, &je);
    cr_assert_not_null(j, "invalid JSON: %s", je.text);
    free(s);
    return j;
}

static json_t *attachment(json_t *root)
{
    json_t *atts = json_object_get(root, "attachments");

    cr_assert(json_is_array(atts));
    cr_assert_eq(json_array_size(atts), 1);
    return json_array_get(atts, 0);
}

static const char *str_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    cr_assert(json_is_string(v), "key %s is not a string", key);
    return json_string_value(v);
}

/* The value of the field titled t, or NULL. */
static const char *field(json_t *att, const char *t)
{
    json_t *fields = json_object_get(att, "fields"), *f;
    size_t i;

    cr_assert(json_is_array(fields));
    json_array_foreach(fields, i, f)
    {
        if (strcmp(str_at(f, "title"), t) == 0)
            return str_at(f, "value");
    }
    return NULL;
}

Test(notify, slack_colour_per_severity_and_mentions_on_critical_only)
{
    static const struct {
        dm_severity_t sev;
        const char *color;
        const char *text;
    } rows[] = {
        {DM_SEVERITY_INFO, "#36a64f", "Drift detected: info (check #42)"},
        {DM_SEVERITY_WARNING, "#ff9900", "Drift detected: warning (check #42)"},
        {DM_SEVERITY_CRITICAL, "#d00000",
         "<@U012AB3CD> <@U999> <!here> Drift detected: critical (check #42)"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        dm_slack_alert_t a = drift_alert(rows[i].sev);
        json_t *root = build(&a), *att = attachment(root);

        cr_assert_str_eq(str_at(att, "color"), rows[i].color);
        cr_assert_str_eq(str_at(root, "text"), rows[i].text);
        cr_assert_str_eq(str_at(root, "channel"), "#drift-alerts");
        cr_assert_eq(strstr(str_at(att, "title"), "<@") == NULL, true);
        cr_assert_str_eq(str_at(att, "fallback"),
                         rows[i].text +
                             (rows[i].sev == DM_SEVERITY_CRITICAL
                                  ? strlen("<@U012AB3CD> <@U999> <!here> ")
                                  : 0));
        json_decref(root);
    }
    cr_assert_str_eq(
        dm_slack_alert_color(&(dm_slack_alert_t){.kind = DM_SLACK_KIND_DRIFT,
                                                 .severity = DM_SEVERITY_NONE}),
        DM_SLACK_COLOR_NEUTRAL);
}

Test(notify, slack_drift_message_contents)
{
    dm_slack_alert_t a = drift_alert(DM_SEVERITY_CRITICAL);
    json_t *root = build(&a), *att = attachment(root);
    const char *table = str_at(att, "text");

    cr_assert_str_eq(str_at(att, "title"),
                     "Drift detected: critical (check #42)");
    cr_assert_str_eq(table,
                     "```\n"
                     "signal              value   threshold    p-value  fired\n"
                     "kl_divergence      0.2345      0.1000      0.005  yes\n"
                     "psi                0.0500      0.2000      0.420  no\n"
                     "accuracy           0.6900      0.7500        n/a  yes\n"
                     "```");
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(att, "mrkdwn_in"), 0)),
        "text");
    cr_assert_str_eq(field(att, "Severity"), "critical");
    cr_assert_str_eq(field(att, "Combined score"), "0.8731");
    cr_assert_str_eq(field(att, "Samples"), "current 512, baseline 498");
    cr_assert_str_eq(field(att, "Fired"), "kl_divergence, accuracy");
    cr_assert_str_eq(field(att, "Current window"),
                     "2026-11-19T07:00:00Z .. 2026-11-26T07:00:00Z");
    cr_assert_str_eq(field(att, "Baseline window"),
                     "2026-11-12T07:00:00Z .. 2026-11-19T07:00:00Z");
    cr_assert_str_eq(str_at(att, "footer"), "driftmon check #42");
    cr_assert_eq(json_integer_value(json_object_get(att, "ts")),
                 INT64_C(1795676400));
    json_decref(root);
}

Test(notify, slack_optional_parts_left_out)
{
    dm_slack_alert_t a;
    json_t *root, *att;

    dm_slack_alert_init(&a);
    a.severity = DM_SEVERITY_WARNING;
    root = build(&a);
    att = attachment(root);
    cr_assert_null(json_object_get(root, "channel"));
    cr_assert_null(json_object_get(att, "text"));
    cr_assert_null(json_object_get(att, "ts"));
    cr_assert_null(field(att, "Samples"));
    cr_assert_null(field(att, "Combined score"));
    cr_assert_null(field(att, "Current window"));
    cr_assert_str_eq(str_at(root, "text"), "Drift detected: warning");
    cr_assert_str_eq(str_at(att, "footer"), "driftmon");
    json_decref(root);
}

Test(notify, slack_resolved_message)
{
    dm_slack_alert_t a = drift_alert(DM_SEVERITY_NONE);
    json_t *root, *att;

    a.kind = DM_SLACK_KIND_RESOLVED;
    a.check_id = 43;
    a.previous_severity = DM_SEVERITY_CRITICAL;
    root = build(&a);
    att = attachment(root);
    cr_assert_str_eq(str_at(att, "color"), "#36a64f");
    cr_assert_str_eq(str_at(root, "text"), "Drift resolved (check #43)");
    cr_assert_str_eq(str_at(att, "title"), "Drift resolved (check #43)");
    cr_assert_str_eq(field(att, "Previous alert"), "critical");
    cr_assert_null(field(att, "Fired"));
    /* no mentions on a resolved message even after a critical alert */
    cr_assert_null(strstr(str_at(root, "text"), "<@"));
    json_decref(root);
}

Test(notify, slack_finetune_started_message)
{
    dm_slack_alert_t a;
    json_t *root, *att;
    char *s = NULL, err[DM_ERRBUF_SIZE];

    dm_slack_alert_init(&a);
    a.kind = DM_SLACK_KIND_FINETUNE_STARTED;
    a.severity = DM_SEVERITY_CRITICAL;
    a.mention_users = mentions;
    a.mention_count = 3;
    a.check_id = 42;
    a.job_id = "ft-2026-11-26-001";
    a.reason = "combined score 0.87 >= 0.30; kl_divergence, accuracy fired";
    a.combined_score = 0.8731;
    root = build(&a);
    att = attachment(root);
    cr_assert_str_eq(str_at(att, "color"), DM_SLACK_COLOR_NEUTRAL);
    cr_assert_str_eq(str_at(root, "text"),
                     "Fine-tuning started: job ft-2026-11-26-001 (check #42)");
    cr_assert_str_eq(field(att, "Job id"), "ft-2026-11-26-001");
    /* caller text is escaped for Slack */
    cr_assert_str_eq(field(att, "Reason"),
                     "combined score 0.87 &gt;= 0.30; kl_divergence, "
                     "accuracy fired");
    cr_assert_str_eq(field(att, "Combined score"), "0.8731");
    json_decref(root);

    a.job_id = NULL;
    cr_assert_eq(dm_slack_alert_json(&a, &s, err, sizeof(err)), DM_EINVAL);
    cr_assert_null(s);
    cr_assert_str_eq(err, "slack: fine-tuning message without a job id");
}

Test(notify, slack_escapes_caller_text)
{
    dm_slack_alert_t a = drift_alert(DM_SEVERITY_CRITICAL);
    static const dm_slack_metric_t m[] = {{"a<b>&c", 1.0, 0.5, 0.01, true}};
    static const char *const evil[] = {"U1><!channel"};
    json_t *root, *att;

    a.title = "<!channel> drift & more <http://x|y>";
    a.metrics = m;
    a.metrics_count = 1;
    a.mention_users = evil;
    a.mention_count = 1;
    root = build(&a);
    att = attachment(root);
    cr_assert_str_eq(str_at(att, "title"),
                     "&lt;!channel&gt; drift &amp; more &lt;http://x|y&gt;");
    cr_assert_not_null(strstr(str_at(att, "text"), "a&lt;b&gt;&amp;c"));
    cr_assert_str_eq(field(att, "Fired"), "a&lt;b&gt;&amp;c");
    cr_assert_str_eq(str_at(root, "text"),
                     "<@U1&gt;&lt;!channel> Drift detected: critical (check "
                     "#42)");
    json_decref(root);
}

Test(notify, slack_rejects_bad_messages)
{
    dm_slack_alert_t a = drift_alert(DM_SEVERITY_INFO);
    static const dm_slack_metric_t noname[] = {{NULL, 1, 1, 1, false}};
    char *s = NULL, err[DM_ERRBUF_SIZE];

    a.severity = (dm_severity_t)7;
    cr_assert_eq(dm_slack_alert_json(&a, &s, err, sizeof(err)), DM_EINVAL);
    a = drift_alert(DM_SEVERITY_INFO);
    a.metrics = noname;
    a.metrics_count = 1;
    cr_assert_eq(dm_slack_alert_json(&a, &s, err, sizeof(err)), DM_EINVAL);
    cr_assert_str_eq(err, "slack: metric 0 has no name");
    a = drift_alert(DM_SEVERITY_INFO);
    a.title = "bad \xff utf-8";
    cr_assert_eq(dm_slack_alert_json(&a, &s, err, sizeof(err)), DM_EINVAL);
    cr_assert_null(s);
}

Test(notify, slack_send_posts_exact_json)
{
    fake_http_t *srv = start();
    char *url = url_of(srv, SECRET_PATH), *expect = NULL;
    dm_slack_alert_t a = drift_alert(DM_SEVERITY_CRITICAL);
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char err[DM_ERRBUF_SIZE];
    const fake_http_request_t *q;

    fake_http_reply(srv, 200, "ok");
    cr_assert_eq(dm_slack_alert_json(&a, &expect, err, sizeof(err)), DM_OK);
    cr_assert_eq(dm_slack_alert_send(url, &a, &o, &res, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(res.status, 200);
    q = fake_http_request_at(srv, 0);
    cr_assert_not_null(q);
    cr_assert_str_eq(q->path, SECRET_PATH);
    cr_assert_str_eq(q->body, expect);
    cr_assert_str_eq(fake_http_request_header(q, "Content-Type"),
                     "application/json");
    dm_http_result_cleanup(&res);
    free(expect);
    free(url);
    fake_http_stop(srv);
}

/* ---- suppression policy ------------------------------------------------- */

#define H   DM_MS_PER_HOUR
#define NOW (INT64_C(1795676400000))

Test(notify, policy_table_every_row)
{
    /* alert_sent, alert_sev, alert age h, last_drift, drift, sev, repeat,
     * expected */
    static const struct {
        int row;
        bool sent;
        dm_severity_t asev;
        double age_h;
        bool last_drift, drift;
        dm_severity_t sev;
        double repeat_h;
        dm_slack_action_t want;
    } rows[] = {
        /* 1: no drift, previous check clean */
        {1, false, DM_SEVERITY_NONE, 0, false, false, DM_SEVERITY_NONE, 24,
         DM_SLACK_ACTION_NOTHING},
        {1, true, DM_SEVERITY_CRITICAL, 2, false, false, DM_SEVERITY_NONE, 24,
         DM_SLACK_ACTION_NOTHING},
        /* 2: drift cleared, nothing had been sent */
        {2, false, DM_SEVERITY_NONE, 0, true, false, DM_SEVERITY_NONE, 24,
         DM_SLACK_ACTION_NOTHING},
        /* 3: drift cleared after an alert */
        {3, true, DM_SEVERITY_WARNING, 6, true, false, DM_SEVERITY_NONE, 24,
         DM_SLACK_ACTION_RESOLVED},
        {3, true, DM_SEVERITY_INFO, 100, true, false, DM_SEVERITY_NONE, 24,
         DM_SLACK_ACTION_RESOLVED},
        /* 4: new episode (even right after an old alert) */
        {4, false, DM_SEVERITY_NONE, 0, false, true, DM_SEVERITY_INFO, 24,
         DM_SLACK_ACTION_SEND},
        {4, true, DM_SEVERITY_CRITICAL, 1, false, true, DM_SEVERITY_INFO, 24,
         DM_SLACK_ACTION_SEND},
        /* 5: ongoing drift never alerted (or the send failed) */
        {5, false, DM_SEVERITY_NONE, 0, true, true, DM_SEVERITY_WARNING, 24,
         DM_SLACK_ACTION_SEND},
        /* 6: escalation, at any age */
        {6, true, DM_SEVERITY_INFO, 1, true, true, DM_SEVERITY_WARNING, 24,
         DM_SLACK_ACTION_SEND},
        {6, true, DM_SEVERITY_WARNING, 0, true, true, DM_SEVERITY_CRITICAL, 24,
         DM_SLACK_ACTION_SEND},
        {6, true, DM_SEVERITY_INFO, 0.01, true, true, DM_SEVERITY_CRITICAL,
         1000, DM_SLACK_ACTION_SEND},
        /* 7: same or lower severity within repeat_hours */
        {7, true, DM_SEVERITY_WARNING, 6, true, true, DM_SEVERITY_WARNING, 24,
         DM_SLACK_ACTION_SKIP},
        {7, true, DM_SEVERITY_CRITICAL, 23.9, true, true, DM_SEVERITY_INFO, 24,
         DM_SLACK_ACTION_SKIP},
        {7, true, DM_SEVERITY_WARNING, -5, true, true, DM_SEVERITY_WARNING, 24,
         DM_SLACK_ACTION_SKIP}, /* alert "in the future": skew */
        /* 8: same or lower severity after repeat_hours */
        {8, true, DM_SEVERITY_WARNING, 24, true, true, DM_SEVERITY_WARNING, 24,
         DM_SLACK_ACTION_SEND},
        {8, true, DM_SEVERITY_CRITICAL, 30, true, true, DM_SEVERITY_INFO, 24,
         DM_SLACK_ACTION_SEND},
        {8, true, DM_SEVERITY_WARNING, 0, true, true, DM_SEVERITY_WARNING, 0,
         DM_SLACK_ACTION_SEND}, /* repeat_hours 0: every check */
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        dm_slack_policy_input_t in = {
            .alert_sent = rows[i].sent,
            .alert_severity = rows[i].asev,
            .alert_ms = NOW - (int64_t)(rows[i].age_h * (double)H),
            .last_check_drift = rows[i].last_drift,
            .drift = rows[i].drift,
            .severity = rows[i].sev,
            .now_ms = NOW,
            .repeat_hours = rows[i].repeat_h,
        };
        const char *why = NULL;
        dm_slack_action_t got = dm_slack_policy_decide(&in, &why);

        cr_assert_eq(got, rows[i].want, "case %zu (row %d): got %s, want %s", i,
                     rows[i].row, dm_slack_action_name(got),
                     dm_slack_action_name(rows[i].want));
        cr_assert_not_null(why);
        cr_assert_neq(why[0], '\0');
    }
    cr_assert_str_eq(dm_slack_action_name(DM_SLACK_ACTION_RESOLVED),
                     "resolved");
    cr_assert_str_eq(dm_severity_name(DM_SEVERITY_WARNING), "warning");
}

/* ---- Learning Engine ---------------------------------------------------- */

Test(notify, learning_url_join)
{
    static const struct {
        const char *base, *want;
    } rows[] = {
        {"http://le:8003", "http://le:8003/train"},
        {"http://le:8003/", "http://le:8003/train"},
        {"http://le:8003///", "http://le:8003/train"},
        {"https://gw.example/le", "https://gw.example/le/train"},
        {"https://gw.example/le/", "https://gw.example/le/train"},
    };
    char *u = NULL, err[DM_ERRBUF_SIZE];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cr_assert_eq(
            dm_learning_url_join(rows[i].base, "/train", &u, err, sizeof(err)),
            DM_OK, "%s", err);
        cr_assert_str_eq(u, rows[i].want);
        free(u);
        cr_assert_eq(
            dm_learning_url_join(rows[i].base, "train", &u, err, sizeof(err)),
            DM_OK);
        cr_assert_str_eq(u, rows[i].want);
        free(u);
    }
    cr_assert_eq(dm_learning_url_join("", "/train", &u, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert_null(u);
    cr_assert_eq(dm_learning_url_join("///", "/train", &u, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert_eq(
        dm_learning_url_join("http://le?x=1", "/train", &u, err, sizeof(err)),
        DM_EINVAL);
}

Test(notify, learning_body_exact)
{
    json_t *reason = json_pack("{s:f, s:s, s:b}", "combined_score", 0.5,
                               "severity", "critical", "drift_detected", 1);
    dm_learning_request_t req = {.days = 7, .force = false, .reason = reason};
    char *body = NULL, err[DM_ERRBUF_SIZE];

    cr_assert_eq(dm_learning_train_body(&req, &body, err, sizeof(err)), DM_OK,
                 "%s", err);
    cr_assert_str_eq(body, "{\"days\":7,\"force\":false,\"reason\":{"
                           "\"combined_score\":0.5,\"severity\":\"critical\","
                           "\"drift_detected\":true}}");
    free(body);
    req.reason = NULL;
    req.force = true;
    req.days = 14;
    cr_assert_eq(dm_learning_train_body(&req, &body, err, sizeof(err)), DM_OK);
    cr_assert_str_eq(body, "{\"days\":14,\"force\":true,\"reason\":{}}");
    free(body);
    json_decref(reason);

    reason = json_array();
    req.reason = reason;
    cr_assert_eq(dm_learning_train_body(&req, &body, err, sizeof(err)),
                 DM_EINVAL);
    json_decref(reason);
    req.reason = NULL;
    req.days = 0;
    cr_assert_eq(dm_learning_train_body(&req, &body, err, sizeof(err)),
                 DM_EINVAL);
}

static int train(fake_http_t *srv, const char *base_path,
                 const dm_http_opts_t *o, char **job, dm_http_result_t *res,
                 char *err, size_t errlen)
{
    json_t *reason =
        json_pack("{s:f, s:f}", "kl_divergence", 0.25, "psi", 0.125);
    dm_learning_request_t req = {.days = 7, .force = false, .reason = reason};
    char *base = url_of(srv, base_path);
    int rc = dm_learning_train(base, &req, o, job, res, err, errlen);

    free(base);
    json_decref(reason);
    return rc;
}

Test(notify, learning_train_success_and_request)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char *job = NULL, err[DM_ERRBUF_SIZE];
    const fake_http_request_t *q;
    json_t *sent;
    json_error_t je;

    fake_http_reply(srv, 202,
                    "{\"job_id\": \"ft-123\", \"status\": \"queued\"}");
    o.bearer_token = "le-token";
    cr_assert_eq(train(srv, "/", &o, &job, &res, err, sizeof(err)), DM_OK, "%s",
                 err);
    cr_assert_str_eq(job, "ft-123");
    cr_assert_eq(res.status, 202);
    q = fake_http_request_at(srv, 0);
    cr_assert_str_eq(q->method, "POST");
    cr_assert_str_eq(q->path, "/train");
    cr_assert_str_eq(q->body, "{\"days\":7,\"force\":false,\"reason\":{"
                              "\"kl_divergence\":0.25,\"psi\":0.125}}");
    sent = json_loads(q->body, 0, &je);
    cr_assert_not_null(sent);
    cr_assert_eq(json_integer_value(json_object_get(sent, "days")), 7);
    cr_assert(json_is_false(json_object_get(sent, "force")));
    cr_assert_eq(json_real_value(
                     json_object_get(json_object_get(sent, "reason"), "psi")),
                 0.125);
    cr_assert_str_eq(fake_http_request_header(q, "Authorization"),
                     "Bearer le-token");
    json_decref(sent);
    free(job);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, learning_numeric_job_id)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    char *job = NULL, err[DM_ERRBUF_SIZE];

    fake_http_reply(srv, 200, "{\"job_id\": 4242}");
    /* res may be NULL */
    cr_assert_eq(train(srv, "", &o, &job, NULL, err, sizeof(err)), DM_OK, "%s",
                 err);
    cr_assert_str_eq(job, "4242");
    free(job);
    fake_http_stop(srv);
}

Test(notify, learning_malformed_json)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char *job = NULL, err[DM_ERRBUF_SIZE];

    fake_http_reply(srv, 200, "<html>oops</html>");
    cr_assert_eq(train(srv, "", &o, &job, &res, err, sizeof(err)), DM_EPARSE);
    cr_assert_null(job);
    cr_assert_eq(res.attempts, 1, "a 200 is not retried");
    cr_assert_not_null(strstr(err, "learning engine http://127.0.0.1:"), "%s",
                       err);
    cr_assert_not_null(strstr(err, "response is not JSON"), "%s", err);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, learning_missing_job_id)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char *job = NULL, err[DM_ERRBUF_SIZE];

    fake_http_reply(srv, 200, "{\"status\": \"queued\"}");
    cr_assert_eq(train(srv, "", &o, &job, &res, err, sizeof(err)), DM_EPARSE);
    cr_assert_null(job);
    cr_assert_not_null(strstr(err, "response has no job_id"), "%s", err);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, learning_retries_5xx_then_succeeds)
{
    fake_http_t *srv = start();
    fake_http_response_t script[] = {
        {.status = 503, .body = "{\"detail\":\"busy\"}"},
        {.status = 429},
        {.status = 200, .body = "{\"job_id\":\"j-9\"}"},
    };
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char *job = NULL, err[DM_ERRBUF_SIZE];

    fake_http_script(srv, script, 3);
    cr_assert_eq(train(srv, "", &o, &job, &res, err, sizeof(err)), DM_OK, "%s",
                 err);
    cr_assert_str_eq(job, "j-9");
    cr_assert_eq(res.attempts, 3);
    free(job);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, learning_errors_non_2xx_and_timeout)
{
    fake_http_t *srv = start();
    dm_http_opts_t o = fast_opts();
    dm_http_result_t res;
    char *job = NULL, err[DM_ERRBUF_SIZE];

    fake_http_reply(srv, 400, "{\"detail\":\"days must be <= 30\"}");
    cr_assert_eq(train(srv, "", &o, &job, &res, err, sizeof(err)), DM_ENET);
    cr_assert_null(job);
    cr_assert_eq(res.attempts, 1);
    cr_assert_not_null(strstr(err, "HTTP 400"), "%s", err);
    cr_assert_not_null(strstr(err, "days must be <= 30"), "%s", err);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);

    srv = start();
    fake_http_script(
        srv, &(fake_http_response_t){.status = 200, .delay_ms = 5000}, 1);
    o.timeout_ms = 200;
    o.max_retries = 1;
    cr_assert_eq(train(srv, "", &o, &job, &res, err, sizeof(err)), DM_ENET);
    cr_assert_eq(res.failure, DM_HTTP_FAIL_TIMEOUT);
    cr_assert_not_null(strstr(err, "timed out"), "%s", err);
    dm_http_result_cleanup(&res);
    fake_http_stop(srv);
}

Test(notify, learning_job_id_parse_rules)
{
    static const struct {
        long status;
        const char *body;
        int rc;
        const char *want; /* job id, or a piece of the error */
    } rows[] = {
        {200, "{\"job_id\":\"abc\"}", DM_OK, "abc"},
        {201, "{\"job_id\":-7}", DM_OK, "-7"},
        {200, "{\"job_id\":\"\"}", DM_EPARSE, "empty job_id"},
        {200, "{\"job_id\":1.5}", DM_EPARSE, "neither a string"},
        {200, "{\"job_id\":null}", DM_EPARSE, "no job_id"},
        {200, "{\"job_id\":\"a\\nb\"}", DM_EPARSE, "control characters"},
        {200, "[\"job_id\"]", DM_EPARSE, "not a JSON object"},
        {200, "", DM_EPARSE, "empty response"},
        {200, "{\"job_id\":\"a\",\"job_id\":\"b\"}", DM_EPARSE, "not JSON"},
        {500, "{\"job_id\":\"abc\"}", DM_ENET, "HTTP 500"},
    };
    char *job = NULL, err[DM_ERRBUF_SIZE];
    char longid[DM_LEARNING_JOB_ID_MAX + 32];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int rc = dm_learning_job_id_parse(rows[i].status, rows[i].body,
                                          strlen(rows[i].body), &job, err,
                                          sizeof(err));

        cr_assert_eq(rc, rows[i].rc, "case %zu: rc %d (%s)", i, rc, err);
        if (rc == DM_OK) {
            cr_assert_str_eq(job, rows[i].want);
            free(job);
        } else {
            cr_assert_null(job);
            cr_assert_not_null(strstr(err, rows[i].want), "case %zu: %s", i,
                               err);
        }
    }
    snprintf(longid, sizeof(longid), "{\"job_id\":\"%0*d\"}",
             DM_LEARNING_JOB_ID_MAX + 1, 0);
    cr_assert_eq(dm_learning_job_id_parse(200, longid, strlen(longid), &job,
                                          err, sizeof(err)),
                 DM_EPARSE);
    cr_assert_not_null(strstr(err, "longer than"), "%s", err);
}
