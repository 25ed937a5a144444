/*
 * test_api.c - the HTTP service's dispatch and handlers (src/api/)
 * without a socket: every request goes through dm_api_handle(), the
 * route table, token, body-cap and Content-Type checks and handlers the
 * server runs, against a SQLite store in a scratch directory, a monitor
 * without scheduler and the hashing embedder.  The wire (libmicrohttpd,
 * keep-alive, slow requests on job threads, the stop) stays with
 * tests/integration/test_api.py and tests/fuzz/fuzz_api.c.
 *
 * Every answer is checked against docs/api.md: its status, its JSON
 * (errors as {"error": {"code", "message"}}), and what it did to the
 * store; and no answer ever holds the API token.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/log.h"
#include "common/time.h"
#include "config/config.h"
#include "monitor/monitor.h"
#include "monitor/synth.h"
#include "store/store.h"
#include "support/testutil.h"

#define EB          DM_ERRBUF_SIZE
#define TOKEN       "tok-9f8e7d6c5b4a"
#define MAX_BODY    4096 /* api.max_body_bytes */
#define WINDOW_DAYS 7    /* monitoring.sliding_window_days */
#define ROWS        60   /* synthetic rows per window */

static char dir[256], db_path[512];
static dm_config_t *cfg;
static dm_monitor_t *mon;
static dm_api_t *api;
static dm_api_resp_t R; /* the last answer */
static json_t *J;       /* its body, when it is JSON */

/* Config, monitor and server object for the store at db_path; token ""
 * leaves api.token unset. */
static void api_new(const char *token)
{
    char yaml[4096], err[EB];
    dm_monitor_opts_t mo;
    int n, rc;

    n = snprintf(yaml, sizeof(yaml),
                 "monitoring:\n"
                 "  sliding_window_days: %d\n"
                 "  check_interval_hours: 1000\n"
                 "  min_samples: 20\n"
                 "  max_samples_per_window: 60\n"
                 "embeddings:\n"
                 "  model: \"hashing\"\n"
                 "  dimension: 16\n"
                 "  bins: 8\n"
                 "  threads: 1\n"
                 "significance:\n"
                 "  permutations: 20\n"
                 "alerts:\n"
                 "  enabled: false\n"
                 "fine_tuning:\n"
                 "  auto_trigger: false\n"
                 "  learning_engine_url: \"http://127.0.0.1:9\"\n"
                 "  timeout_seconds: 1\n"
                 "  max_retries: 0\n"
                 "database:\n"
                 "  backend: sqlite\n"
                 "  path: \"%s\"\n"
                 "api:\n"
                 "  token: \"%s\"\n"
                 "  max_body_bytes: %d\n",
                 WINDOW_DAYS, db_path, token, MAX_BODY);
    cr_assert(n > 0 && (size_t)n < sizeof(yaml));
    rc = dm_config_load_buffer("test-api.yaml", yaml, (size_t)n, &cfg, err,
                               sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "config: %s", err);
    dm_monitor_opts_init(&mo);
    mo.http_budget_ms = 2000;
    rc = dm_monitor_new(cfg, &mo, &mon, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "monitor: %s", err);
    rc = dm_api_new(cfg, mon, NULL, &api, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "api: %s", err);
}

static void setup(void)
{
    dm_log_set_level(DM_LOG_OFF);
    tu_tmpdir_make(dir, sizeof(dir), "api-test");
    snprintf(db_path, sizeof(db_path), "%s/api.db", dir);
    api_new(TOKEN);
}

static void teardown(void)
{
    json_decref(J);
    J = NULL;
    dm_api_resp_cleanup(&R);
    dm_api_free(api);
    api = NULL;
    dm_monitor_free(mon);
    mon = NULL;
    dm_config_free(cfg);
    cfg = NULL;
    tu_tmpdir_remove(dir);
}

TestSuite(api, .init = setup, .fini = teardown,
          .timeout = 60 * DM_TEST_TIMEOUT_SCALE);

/* ---- requests ------------------------------------------------------ */

/*
 * Sends method url (the path, then optionally '?' and a query of
 * name=value pairs joined by '&', not percent-decoded) with headers
 * (n of them, beside the ones below) and body (NULL: none) and keeps the
 * answer in R and J.  token: "Authorization: Bearer <token>" (NULL:
 * none); a body goes with Content-Type: application/json unless headers
 * name another.  Asserts that the answer never holds the API token.
 */
static unsigned send_with(const char *method, const char *url,
                          const char *token, const char *body,
                          const dm_api_kv_t *headers, size_t n)
{
    static char query[16384];
    dm_api_kv_t args[16], hdr[16];
    char path[512], auth[128];
    dm_api_request_t rq = {.method = method, .path = path};
    const char *q = strchr(url, '?');
    bool have_type = false;

    json_decref(J);
    J = NULL;
    dm_api_resp_cleanup(&R);
    snprintf(path, sizeof(path), "%.*s", q ? (int)(q - url) : (int)strlen(url),
             url);
    if (q) {
        char *save = NULL;

        cr_assert(strlen(q + 1) < sizeof(query));
        snprintf(query, sizeof(query), "%s", q + 1);
        for (char *kv = strtok_r(query, "&", &save); kv && rq.n_args < 16;
             kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');

            if (eq)
                *eq = '\0';
            args[rq.n_args++] = (dm_api_kv_t){kv, eq ? eq + 1 : NULL};
        }
        rq.args = args;
    }
    cr_assert(n < 14);
    for (size_t i = 0; i < n; i++) {
        hdr[rq.n_headers++] = headers[i];
        have_type |= strcasecmp(headers[i].key, "Content-Type") == 0;
    }
    if (token) {
        snprintf(auth, sizeof(auth), "Bearer %s", token);
        hdr[rq.n_headers++] = (dm_api_kv_t){"Authorization", auth};
    }
    if (body && !have_type)
        hdr[rq.n_headers++] = (dm_api_kv_t){"Content-Type", "application/json"};
    rq.headers = hdr;
    rq.body = body;
    rq.body_len = body ? strlen(body) : 0;

    cr_assert(eq(u32, dm_api_handle(api, &rq, &R), R.status));
    cr_assert(R.body != NULL && strlen(R.body) == R.len);
    cr_assert(strstr(R.body, TOKEN) == NULL, "%s %s: the token in %s", method,
              url, R.body);
    if (R.content_type == NULL ||
        strncmp(R.content_type, "application/json", 16) == 0) {
        J = json_loadb(R.body, R.len, JSON_REJECT_DUPLICATES, NULL);
        cr_assert(J != NULL, "%s %s: not JSON: %s", method, url, R.body);
    }
    return R.status;
}

static unsigned send(const char *method, const char *url, const char *token,
                     const char *body)
{
    return send_with(method, url, token, body, NULL, 0);
}

/* Asserts that R is the error status/code: {"error": {"code", "message"}}
 * and nothing else, the message not empty. */
static void assert_error(unsigned status, const char *code)
{
    json_t *e = json_object_get(J, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));

    cr_assert(eq(u32, R.status, status), "body: %s", R.body);
    cr_assert(eq(sz, json_object_size(J), 1), "%s", R.body);
    cr_assert(eq(sz, json_object_size(e), 2), "%s", R.body);
    cr_assert(tu_streq(json_string_value(json_object_get(e, "code")), code));
    cr_assert(msg && msg[0], "%s", R.body);
}

/* The error message of R (borrowed from J). */
static const char *error_message(void)
{
    return json_string_value(
        json_object_get(json_object_get(J, "error"), "message"));
}

/* A request that must fail, and how. */
typedef struct bad_case {
    const char *what; /* the body of a POST, or the URL of a GET */
    unsigned status;  /* its status */
    const char *code; /* its error code */
    const char *says; /* words its message holds */
} bad_case_t;

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* Sends each case, a POST of its body to path with the token or, with
 * path NULL, a GET of its URL without, and asserts the error it gets. */
static void assert_bad(const char *path, const bad_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (path)
            send("POST", path, TOKEN, cases[i].what);
        else
            send("GET", cases[i].what, NULL, NULL);
        assert_error(cases[i].status, cases[i].code);
        cr_assert(strstr(error_message(), cases[i].says) != NULL,
                  "%s: message %s", cases[i].what, error_message());
    }
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Equal to the 15 digits of the JSON answers. */
static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-13 * fmax(1, fmax(fabs(a), fabs(b)));
}

static long long jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    cr_assert(eq(int, json_is_integer(v), 1), "'%s' is not a whole number",
              key);
    return (long long)json_integer_value(v);
}

/* ---- the store ------------------------------------------------------ */

/* A connection of the test's own to the server's store. */
static dm_store_t *store(void)
{
    dm_store_t *s = NULL;
    char err[EB];
    int rc = dm_store_open_migrated(cfg, &s, NULL, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "store: %s", err);
    return s;
}

static uint64_t feedback_count(void)
{
    dm_store_t *s = store();
    uint64_t n = 0;
    char err[EB];
    int rc = dm_store_feedback_count(s, &n, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "count: %s", err);
    dm_store_free(s);
    return n;
}

/* Two windows of synthetic feedback ending now: the current one leans
 * towards other topics, and is rated worse. */
static void seed(void)
{
    static const double base[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const double cur[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1, 1, 6, 6, 1, 1};
    int64_t now = dm_time_now_ms();
    dm_synth_opts_t o[2] = {
        {.seed = 1,
         .rows = ROWS,
         .start_ms = now - 2 * WINDOW_DAYS * DM_MS_PER_DAY,
         .end_ms = now - WINDOW_DAYS * DM_MS_PER_DAY,
         .topic_weights = base,
         .positive_rate = 0.8,
         .id_prefix = "base"},
        {.seed = 2,
         .rows = ROWS,
         .start_ms = now - WINDOW_DAYS * DM_MS_PER_DAY + 60000,
         .end_ms = now - 60000,
         .topic_weights = cur,
         .positive_rate = 0.5,
         .id_prefix = "cur"},
    };
    dm_store_t *s = store();
    char err[EB];

    for (size_t i = 0; i < 2; i++) {
        size_t ins = 0;
        int rc = dm_synth_ingest(s, &o[i], &ins, err, sizeof(err));

        cr_assert(eq(int, rc, DM_OK), "ingest: %s", err);
        cr_assert(eq(sz, ins, ROWS));
    }
    dm_store_free(s);
}

/* Runs POST /drift/check on the seeded store; returns the record (a new
 * reference). */
static json_t *run_check(void)
{
    json_t *rec;

    seed();
    send("POST", "/drift/check", TOKEN, "{}");
    cr_assert(eq(u32, R.status, 200), "check: %s", R.body);
    rec = json_incref(J);
    return rec;
}

/* ---- routing -------------------------------------------------------- */

Test(api, unknown_paths_are_404)
{
    static const char *const paths[] = {
        "/nope",    "/drift",  "/drift/check/x", "/drift/checks/",
        "/health/", "/HEALTH", "/checks/"};

    for (size_t i = 0; i < N_CASES(paths); i++) {
        send("GET", paths[i], TOKEN, NULL);
        assert_error(404, "not_found");
        cr_assert(tu_streq(error_message(), "no such endpoint"));
    }
}

Test(api, wrong_method_is_405_with_allow)
{
    static const struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"POST", "/health", "GET, HEAD"},
        {"DELETE", "/drift/metrics", "GET, HEAD"},
        {"GET", "/feedback", "POST"},
        {"PUT", "/drift/check", "POST"},
        {"HEAD", "/drift/trigger-finetuning", "POST"},
        {"POST", "/drift/checks/1", "GET, HEAD"},
        {"PATCH", "/metrics", "GET, HEAD"},
    };

    for (size_t i = 0; i < N_CASES(cases); i++) {
        send(cases[i].method, cases[i].path, TOKEN, NULL);
        assert_error(405, "method_not_allowed");
        cr_assert(tu_streq(R.allow, cases[i].allow), "%s %s", cases[i].method,
                  cases[i].path);
        cr_assert(strstr(error_message(), cases[i].allow) != NULL, "%s",
                  error_message());
    }
}

Test(api, head_is_get)
{
    send("HEAD", "/health", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(tu_streq(jstr(J, "status"), "healthy"));
    send("HEAD", "/", NULL, NULL);
    cr_assert(eq(u32, R.status, 200));
    cr_assert(tu_streq(R.content_type, "text/html; charset=utf-8"));
}

Test(api, long_url_is_414)
{
    static char big[9000];
    char url[9100];

    memset(big, 'x', sizeof(big) - 1);
    snprintf(url, sizeof(url), "/drift/metrics?days=%s", big);
    send("GET", url, NULL, NULL);
    assert_error(414, "uri_too_long");
}

/* ---- the token ------------------------------------------------------ */

Test(api, post_endpoints_need_the_token)
{
    static const char *const posts[] = {"/feedback", "/drift/check",
                                        "/drift/trigger-finetuning"};
    static const char *const wrong[] = {"wrong", TOKEN "x", "tok-9f8e7d6c5b4",
                                        ""};

    for (size_t i = 0; i < N_CASES(posts); i++) {
        send("POST", posts[i], NULL, "[]");
        assert_error(401, "unauthorized");
        cr_assert(R.www_auth, "%s: WWW-Authenticate", posts[i]);
        for (size_t k = 0; k < N_CASES(wrong); k++) {
            send("POST", posts[i], wrong[k], "[]");
            assert_error(401, "unauthorized");
        }
    }
    /* not "Bearer": the token alone, or as Basic */
    send_with("POST", "/feedback", NULL, "[]",
              (dm_api_kv_t[]){{"Authorization", TOKEN}}, 1);
    assert_error(401, "unauthorized");
    send_with("POST", "/feedback", NULL, "[]",
              (dm_api_kv_t[]){{"Authorization", "Basic " TOKEN}}, 1);
    assert_error(401, "unauthorized");
    /* the right one, the scheme without case: on to the handler */
    send_with("POST", "/feedback", NULL, "[]",
              (dm_api_kv_t[]){{"authorization", "bearer  " TOKEN}}, 1);
    assert_error(422, "invalid_body");
    send("POST", "/feedback", TOKEN, "[]");
    assert_error(422, "invalid_body");
    /* the token is checked before the body's size */
    send_with("POST", "/feedback", NULL, NULL,
              (dm_api_kv_t[]){{"Content-Length", "999999"}}, 1);
    assert_error(401, "unauthorized");
}

Test(api, feedback_text_needs_the_token)
{
    json_t *rec = run_check();
    char url[64];

    snprintf(url, sizeof(url), "/drift/checks/%lld", jint(rec, "id"));
    send("GET", url, NULL, NULL);
    assert_error(401, "unauthorized");
    cr_assert(R.www_auth);
    send("GET", url, "wrong", NULL);
    assert_error(401, "unauthorized");
    send("GET", url, TOKEN, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);

    snprintf(url, sizeof(url), "/checks/%lld", jint(rec, "id"));
    send("GET", url, NULL, NULL);
    assert_error(401, "unauthorized");
    send("GET", url, TOKEN, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(tu_streq(R.content_type, "text/html; charset=utf-8"));

    /* the list is open, its details (example queries) are not */
    send("GET", "/drift/metrics", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    send("GET", "/drift/metrics?details=1", NULL, NULL);
    assert_error(401, "unauthorized");
    cr_assert(R.www_auth);
    send("GET", "/drift/metrics?details=1", TOKEN, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    json_decref(rec);
}

Test(api, no_token_set_leaves_everything_open)
{
    dm_api_free(api);
    dm_monitor_free(mon);
    dm_config_free(cfg);
    api_new("");
    send("POST", "/feedback", NULL, "[]");
    assert_error(422, "invalid_body");
    send("GET", "/drift/metrics?details=1", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    send("GET", "/drift/checks/1", NULL, NULL);
    assert_error(404, "not_found");
}

/* ---- POST /feedback ------------------------------------------------- */

static const char ROWS2[] =
    "[{\"id\": \"q-1\", \"query\": \"How do I reverse a list?\", "
    "\"response\": \"Use reversed().\", \"intent\": \"code\", "
    "\"positive\": true, \"created_at\": \"2026-11-26T06:58:07Z\"},"
    " {\"id\": 2, \"query\": \"Capital of France?\", \"response\": "
    "\"Paris.\", \"intent\": null, \"positive\": 0, "
    "\"created_at\": \"2026-11-26T07:00:00Z\"}]";

Test(api, feedback_rows_are_stored)
{
    dm_store_t *s;
    dm_store_sample_t smp = {0};
    char err[EB];
    int rc;

    send("POST", "/feedback", TOKEN, ROWS2);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(i64, jint(J, "received"), 2));
    cr_assert(eq(i64, jint(J, "inserted"), 2));
    cr_assert(eq(i64, jint(J, "duplicates"), 0));
    cr_assert(eq(u64, feedback_count(), 2));

    /* the rows as sent */
    s = store();
    rc = dm_store_window_sample(s, 0, INT64_MAX, 0, &smp, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "sample: %s", err);
    cr_assert(eq(sz, smp.n, 2));
    for (size_t i = 0; i < smp.n; i++) {
        const dm_store_sample_row_t *r = &smp.rows[i];

        if (strcmp(r->id, "q-1") == 0) {
            cr_assert(tu_streq(r->query, "How do I reverse a list?"));
            cr_assert(tu_streq(r->response, "Use reversed()."));
            cr_assert(r->positive);
        } else {
            cr_assert(tu_streq(r->id, "2"));
            cr_assert(tu_streq(r->query, "Capital of France?"));
            cr_assert(eq(int, r->positive, 0));
        }
    }
    dm_store_sample_cleanup(&smp);
    dm_store_free(s);

    /* again: both are duplicates, nothing new */
    send("POST", "/feedback", TOKEN, ROWS2);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(i64, jint(J, "received"), 2));
    cr_assert(eq(i64, jint(J, "inserted"), 0));
    cr_assert(eq(i64, jint(J, "duplicates"), 2));
    cr_assert(eq(u64, feedback_count(), 2));
}

Test(api, feedback_bad_bodies_change_nothing)
{
    static const bad_case_t cases[] = {
        {"[{\"query\": ", 400, "bad_request", "malformed JSON"},
        {"not json", 400, "bad_request", "malformed JSON"},
        /* bytes that are not UTF-8: still the JSON error shape */
        {"[\"\xc3\x28\"]", 400, "bad_request", "malformed JSON"},
        {"\xff\xfe", 400, "bad_request", "malformed JSON"},
        {"[{\"\xe2\x82\": 1}]", 400, "bad_request", "malformed JSON"},
        {"{\"rows\": []}", 400, "bad_request", "JSON array"},
        {"[1]", 400, "bad_request", "row 0: must be a JSON object"},
        {"[]", 422, "invalid_body", "no rows"},
        {"[{\"query\": \"q\", \"query\": \"q\"}]", 400, "bad_request",
         "duplicate"},
        /* an unknown field: the row and the field are named */
        {"[{\"query\": \"q\", \"response\": \"r\", \"positive\": true, "
         "\"created_at\": \"2026-11-26T06:58:07Z\", \"colour\": \"red\"}]",
         422, "invalid_row", "colour"},
        /* a missing field */
        {"[{\"query\": \"q\", \"response\": \"r\", \"positive\": true}]", 422,
         "invalid_row", "created_at"},
        /* a wrong type */
        {"[{\"query\": \"q\", \"response\": \"r\", \"positive\": \"yes\", "
         "\"created_at\": \"2026-11-26T06:58:07Z\"}]",
         422, "invalid_row", "positive"},
        /* one bad row among good ones: none is stored */
        {"[{\"query\": \"q\", \"response\": \"r\", \"positive\": true, "
         "\"created_at\": \"2026-11-26T06:58:07Z\"}, {\"query\": \"q\"}]",
         422, "invalid_row", "row 1"},
    };

    assert_bad("/feedback", cases, N_CASES(cases));
    send("POST", "/feedback", TOKEN, NULL);
    assert_error(400, "bad_request");
    cr_assert(eq(u64, feedback_count(), 0));
}

Test(api, body_over_the_cap_is_413)
{
    char *big = malloc(MAX_BODY + 2);
    char *exact = malloc(MAX_BODY + 1);

    cr_assert(big && exact);
    /* a JSON array of MAX_BODY + 1 bytes: [ then spaces then ] */
    memset(big, ' ', MAX_BODY + 1);
    big[0] = '[';
    big[MAX_BODY] = ']';
    big[MAX_BODY + 1] = '\0';
    /* by Content-Length, before a byte is read */
    send("POST", "/feedback", TOKEN, big);
    assert_error(413, "payload_too_large");
    /* chunked: as the body grows past the cap */
    send_with("POST", "/feedback", TOKEN, big,
              (dm_api_kv_t[]){{"Transfer-Encoding", "chunked"}}, 1);
    assert_error(413, "payload_too_large");
    /* a declared length over the cap */
    send_with("POST", "/drift/check", TOKEN, NULL,
              (dm_api_kv_t[]){{"Content-Length", "4097"}}, 1);
    assert_error(413, "payload_too_large");
    /* exactly the cap is read (and is an empty array) */
    memcpy(exact, big, MAX_BODY);
    exact[MAX_BODY - 1] = ']';
    exact[MAX_BODY] = '\0';
    send("POST", "/feedback", TOKEN, exact);
    assert_error(422, "invalid_body");
    cr_assert(eq(u64, feedback_count(), 0));
    free(big);
    free(exact);
}

Test(api, body_type_and_length_are_checked)
{
    send_with("POST", "/feedback", TOKEN, ROWS2,
              (dm_api_kv_t[]){{"Content-Type", "text/plain"}}, 1);
    assert_error(415, "unsupported_media_type");
    send_with("POST", "/feedback", TOKEN, ROWS2,
              (dm_api_kv_t[]){{"Content-Type", "application/jsonx"}}, 1);
    assert_error(415, "unsupported_media_type");
    send_with("POST", "/feedback", TOKEN, NULL,
              (dm_api_kv_t[]){{"Content-Length", "12x"}}, 1);
    assert_error(400, "bad_request");
    cr_assert(tu_streq(error_message(), "invalid Content-Length"));
    send_with("POST", "/feedback", TOKEN, NULL,
              (dm_api_kv_t[]){{"Content-Length", "-1"}}, 1);
    assert_error(400, "bad_request");
    cr_assert(eq(u64, feedback_count(), 0));
    /* a charset parameter is fine */
    send_with(
        "POST", "/feedback", TOKEN, ROWS2,
        (dm_api_kv_t[]){{"Content-Type", "application/json; charset=utf-8"}},
        1);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(u64, feedback_count(), 2));
}

/* ---- POST /drift/check and GET /drift/checks/{id} ------------------- */

Test(api, check_returns_the_stored_record)
{
    json_t *rec = run_check();
    dm_store_t *s;
    dm_store_check_t c;
    bool found = false;
    char err[EB];
    int rc;

    cr_assert(jint(rec, "id") > 0);
    cr_assert(tu_streq(jstr(rec, "kind"), "live"));
    cr_assert(tu_streq(jstr(rec, "status"), "ok"), "%s", R.body);
    cr_assert(eq(i64, jint(rec, "window_days"), WINDOW_DAYS));
    cr_assert(tu_streq(jstr(rec, "embedder"), "hashing-16"));
    cr_assert(eq(int, json_is_object(json_object_get(rec, "details")), 1));
    cr_assert(eq(int, json_is_number(json_object_get(rec, "psi")), 1));
    cr_assert(
        eq(int, json_is_boolean(json_object_get(rec, "drift_detected")), 1));

    /* the store holds the same check */
    s = store();
    rc = dm_store_check_get(s, jint(rec, "id"), &c, &found, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "get: %s", err);
    cr_assert(found);
    cr_assert(tu_streq(c.status, "ok"));
    cr_assert(eq(int, (int)c.drift_detected,
                 (int)json_is_true(json_object_get(rec, "drift_detected"))));
    cr_assert(near(c.psi, json_real_value(json_object_get(rec, "psi"))),
              "psi %.17g", c.psi);
    cr_assert(eq(i64, jint(rec, "baseline_count"), ROWS));
    cr_assert(eq(i64, jint(rec, "current_count"), ROWS));
    dm_store_check_cleanup(&c);
    dm_store_free(s);
    json_decref(rec);
}

#define LONG63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"

Test(api, check_body_is_validated)
{
    static const bad_case_t cases[] = {
        {"{\"window_days\": 0}", 422, "invalid_parameter", "got 0"},
        {"{\"window_days\": 366}", 422, "invalid_parameter", "1 to 365"},
        {"{\"window_days\": \"7\"}", 400, "bad_request", "whole number"},
        {"{\"days\": 7}", 400, "bad_request", "unknown field 'days'"},
        /* the name is quoted cut at 64 bytes, inside the 2-byte e-acute:
         * the message must stay UTF-8, and the answer a 400 */
        {"{\"" LONG63 "\xc3\xa9\": 1}", 400, "bad_request",
         "unknown field '" LONG63 "?'"},
        {"[]", 400, "bad_request", "JSON object"},
        {"{", 400, "bad_request", "malformed JSON"},
        {"{\"as_of\": \"yesterday\"}", 400, "bad_request", "RFC 3339"},
        {"{\"as_of\": \"2999-01-01T00:00:00Z\"}", 422, "invalid_parameter",
         "future"},
    };
    dm_store_t *s;
    dm_store_check_t *list = NULL;
    size_t n = 9;
    char err[EB];
    int rc;

    assert_bad("/drift/check", cases, N_CASES(cases));
    /* no check was stored */
    s = store();
    rc = dm_store_check_list(s, 0, 10, 0, &list, &n, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "list: %s", err);
    cr_assert(eq(sz, n, 0));
    dm_store_check_list_free(list, n);
    dm_store_free(s);
}

Test(api, check_get_found_unknown_and_bad_ids)
{
    json_t *rec = run_check();
    char url[64];
    /* docs/api.md: an id that is not a whole number is 404 too */
    static const char *const bad[] = {
        "/drift/checks/abc", "/drift/checks/12x", "/drift/checks/-1",
        "/drift/checks/1234567890123456789", "/drift/checks/1/2"};

    snprintf(url, sizeof(url), "/drift/checks/%lld", jint(rec, "id"));
    send("GET", url, TOKEN, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    /* the same object POST /drift/check returned */
    cr_assert(json_equal(J, rec), "GET %s: %s", url, R.body);

    send("GET", "/drift/checks/999999", TOKEN, NULL);
    assert_error(404, "not_found");
    cr_assert(tu_streq(error_message(), "no check with id 999999"));
    for (size_t i = 0; i < N_CASES(bad); i++) {
        send("GET", bad[i], TOKEN, NULL);
        assert_error(404, "not_found");
        cr_assert(tu_streq(error_message(), "no such check"), "%s: %s", bad[i],
                  error_message());
    }
    json_decref(rec);
}

/* ---- GET /drift/metrics and /drift/summary -------------------------- */

Test(api, metrics_list_has_the_record_shape)
{
    json_t *rec = run_check(), *item;
    const char *key;
    json_t *v;

    send("GET", "/drift/metrics?days=30", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(i64, jint(J, "days"), 30));
    cr_assert(eq(i64, jint(J, "count"), 1));
    cr_assert(eq(sz, json_array_size(json_object_get(J, "checks")), 1));
    item = json_array_get(json_object_get(J, "checks"), 0);
    /* the record's keys, details only on demand, the same values */
    cr_assert(json_object_get(item, "details") == NULL);
    cr_assert(eq(sz, json_object_size(item), json_object_size(rec) - 1));
    json_object_foreach(rec, key, v)
    {
        if (strcmp(key, "details") == 0)
            continue;
        cr_assert(json_equal(json_object_get(item, key), v), "key %s", key);
    }

    send("GET", "/drift/metrics?days=30&details=1", TOKEN, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    item = json_array_get(json_object_get(J, "checks"), 0);
    cr_assert(json_equal(item, rec), "%s", R.body);

    send("GET", "/drift/metrics?limit=1&days=1", NULL, NULL);
    cr_assert(eq(i64, jint(J, "count"), 1));
    json_decref(rec);
}

Test(api, metrics_list_query_is_validated)
{
    static const bad_case_t cases[] = {
        {"/drift/metrics?day=7", 400, "bad_request",
         "unknown query parameter 'day'"},
        {"/drift/metrics?days=abc", 400, "bad_request", "whole number"},
        {"/drift/metrics?days=", 400, "bad_request", "empty"},
        {"/drift/metrics?days=0", 422, "invalid_parameter", "got 0"},
        {"/drift/metrics?limit=10001", 422, "invalid_parameter", "limit"},
        {"/drift/metrics?details=2", 422, "invalid_parameter", "details"},
        {"/drift/summary?days=x", 400, "bad_request", "whole number"},
        {"/drift/summary?since=1", 400, "bad_request",
         "unknown query parameter"},
    };

    assert_bad(NULL, cases, N_CASES(cases));
    /* an empty store lists nothing */
    send("GET", "/drift/metrics", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(i64, jint(J, "days"), 30));
    cr_assert(eq(i64, jint(J, "count"), 0));
}

Test(api, summary_counts_the_check)
{
    json_t *rec = run_check();

    send("GET", "/drift/summary", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(int, json_is_null(json_object_get(J, "days")), 1));
    cr_assert(eq(i64, jint(J, "total_checks"), 1));
    cr_assert(eq(i64, jint(json_object_get(J, "by_status"), "ok"), 1));
    cr_assert(eq(i64, jint(J, "drift_detected"),
                 json_is_true(json_object_get(rec, "drift_detected"))));
    cr_assert(eq(i64, jint(json_object_get(J, "latest_check"), "id"),
                 jint(rec, "id")));
    json_decref(rec);
}

/* ---- GET /metrics --------------------------------------------------- */

/* The value of the sample `name` (unlabelled) in the exposition text;
 * asserts that there is exactly one. */
static double sample_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text, *hit = NULL;

    for (; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            cr_assert(hit == NULL, "%s twice", name);
            hit = p;
        }
    }
    cr_assert(hit != NULL, "no sample %s in:\n%s", name, text);
    return strtod(hit + n + 1, NULL);
}

struct gauge_walk {
    const char *text;
    size_t n;
};

/* Each gauge of the record's field table is in the text, with the
 * stored value to the last digit. */
static void gauge_in_text(const char *name, const char *help, double v,
                          void *arg)
{
    struct gauge_walk *w = arg;
    char type[160];

    (void)help;
    if (!isfinite(v))
        return; /* not exposed */
    snprintf(type, sizeof(type), "# TYPE %s gauge\n", name);
    cr_assert(strstr(w->text, type) != NULL, "no %s", type);
    cr_assert(eq(dbl, sample_value(w->text, name), v), "%s", name);
    w->n++;
}

Test(api, prometheus_text_has_the_check_gauges)
{
    json_t *rec = run_check();
    struct gauge_walk w = {0};
    dm_store_t *s;
    dm_store_check_t c;
    bool found = false;
    char err[EB];
    int rc;

    /* requests so far: the check's (one) */
    send("GET", "/metrics", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(
        tu_streq(R.content_type, "text/plain; version=0.0.4; charset=utf-8"));
    cr_assert(R.no_store);
    w.text = R.body;
    cr_assert(eq(dbl, sample_value(R.body, "driftmon_latest_check_id"),
                 (double)jint(rec, "id")));
    cr_assert(eq(dbl, sample_value(R.body, "driftmon_store_up"), 1));
    cr_assert(eq(dbl, sample_value(R.body, "driftmon_http_requests_total"), 1));
    cr_assert(strstr(R.body, "driftmon_checks_total{status=\"ok\"} 1\n") !=
              NULL);
    cr_assert(strstr(R.body, "driftmon_build_info{version=\"0.1.0\"} 1\n") !=
              NULL);
    cr_assert(near(sample_value(R.body, "driftmon_psi"),
                   json_real_value(json_object_get(rec, "psi"))));
    cr_assert(eq(dbl, sample_value(R.body, "driftmon_drift_detected"),
                 json_is_true(json_object_get(rec, "drift_detected")) ? 1 : 0));

    /* every gauge of the field table, as stored */
    s = store();
    rc = dm_store_check_get(s, jint(rec, "id"), &c, &found, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "get: %s", err);
    cr_assert(found);
    dm_store_check_gauges(&c, gauge_in_text, &w);
    cr_assert(w.n >= 10, "only %zu gauges", w.n);
    dm_store_check_cleanup(&c);
    dm_store_free(s);

    /* the error counters count what went before */
    send("GET", "/nope", NULL, NULL);
    send("POST", "/feedback", NULL, "[]");
    send("GET", "/metrics", NULL, NULL);
    cr_assert(eq(dbl, sample_value(R.body, "driftmon_http_requests_total"), 4));
    cr_assert(strstr(R.body, "driftmon_http_errors_total{class=\"4xx\"} 2\n") !=
                  NULL,
              "%s", R.body);
    json_decref(rec);
}

Test(api, prometheus_text_of_an_empty_store)
{
    send("GET", "/metrics", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(dbl, sample_value(R.body, "driftmon_store_up"), 1));
    cr_assert(strstr(R.body, "driftmon_checks_total{status=\"ok\"} 0\n") !=
              NULL);
    cr_assert(strstr(R.body, "driftmon_latest_check_id") == NULL);
}

/* ---- GET /health ---------------------------------------------------- */

Test(api, health)
{
    json_t *rec, *st;

    send("GET", "/health", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(R.no_store);
    cr_assert(tu_streq(jstr(J, "status"), "healthy"));
    cr_assert(tu_streq(jstr(J, "version"), "0.1.0"));
    st = json_object_get(J, "store");
    cr_assert(tu_streq(jstr(st, "backend"), "sqlite"));
    cr_assert(eq(int, json_is_true(json_object_get(st, "reachable")), 1));
    cr_assert(eq(int, json_is_true(json_object_get(st, "writable")), 1));
    cr_assert(eq(int, json_is_null(json_object_get(st, "error")), 1));
    cr_assert(
        tu_streq(jstr(json_object_get(J, "embedder"), "model"), "hashing"));
    cr_assert(eq(i64, jint(json_object_get(J, "monitor"), "window_days"),
                 WINDOW_DAYS));
    cr_assert(eq(int, json_is_null(json_object_get(J, "last_check")), 1));

    rec = run_check();
    send("GET", "/health", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(
        eq(i64, jint(json_object_get(J, "last_check"), "id"), jint(rec, "id")));
    cr_assert(tu_streq(jstr(json_object_get(J, "last_check"), "status"), "ok"));
    cr_assert(tu_streq(jstr(json_object_get(J, "embedder"), "state"), "ready"));
    json_decref(rec);
}

/*
 * As `serve` does: one store pool handed to the monitor and the server.
 * A health check, a check and a list, one after the other, share one
 * connection and one migration.
 */
Test(api, monitor_and_server_share_one_store_pool)
{
    dm_store_pool_t *pool = NULL;
    dm_store_pool_stats_t ps;
    dm_monitor_opts_t mo;
    dm_api_opts_t ao;
    char err[EB];
    json_t *rec;

    dm_api_free(api);
    dm_monitor_free(mon);
    cr_assert(eq(int, dm_store_pool_new(cfg, 4, &pool), DM_OK));
    dm_monitor_opts_init(&mo);
    mo.http_budget_ms = 2000;
    mo.pool = pool;
    cr_assert(eq(int, dm_monitor_new(cfg, &mo, &mon, err, sizeof(err)), DM_OK),
              "monitor: %s", err);
    dm_api_opts_init(&ao);
    ao.pool = pool;
    cr_assert(eq(int, dm_api_new(cfg, mon, &ao, &api, err, sizeof(err)), DM_OK),
              "api: %s", err);

    send("GET", "/health", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    rec = run_check();
    send("GET", "/drift/metrics", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    dm_store_pool_stats(pool, &ps);
    cr_assert(eq(sz, ps.migrations, 1));
    cr_assert(eq(sz, ps.opened, 1), "one connection, reused");
    cr_assert(eq(sz, ps.out, 0));
    cr_assert(eq(sz, ps.idle, 1));
    json_decref(rec);

    /* the users first, then the pool they borrow */
    dm_api_free(api);
    api = NULL;
    dm_monitor_free(mon);
    mon = NULL;
    dm_store_pool_free(pool);
}

Test(api, health_of_a_store_that_cannot_open_is_503)
{
    dm_api_free(api);
    dm_monitor_free(mon);
    dm_config_free(cfg);
    /* the database's directory is a file */
    snprintf(db_path, sizeof(db_path), "%s/file", dir);
    tu_write_file(db_path, "");
    snprintf(db_path, sizeof(db_path), "%s/file/api.db", dir);
    api_new(TOKEN);
    send("GET", "/health", NULL, NULL);
    cr_assert(eq(u32, R.status, 503), "%s", R.body);
    cr_assert(tu_streq(jstr(J, "status"), "degraded"));
    cr_assert(eq(int,
                 json_is_false(
                     json_object_get(json_object_get(J, "store"), "reachable")),
                 1));
    send("GET", "/drift/metrics", NULL, NULL);
    assert_error(503, "store_unavailable");
    /* the scrape still answers, and says so */
    send("GET", "/metrics", NULL, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(eq(dbl, sample_value(R.body, "driftmon_store_up"), 0));
    cr_assert(strstr(R.body, "driftmon_checks_total") == NULL);
    send("POST", "/feedback", TOKEN, ROWS2);
    assert_error(503, "store_unavailable");
}

/* ---- POST /drift/trigger-finetuning --------------------------------- */

Test(api, trigger_takes_no_fields_and_reports_the_engine)
{
    send("POST", "/drift/trigger-finetuning", TOKEN, "{\"force\": true}");
    assert_error(400, "bad_request");
    cr_assert(strstr(error_message(), "no fields") != NULL);
    /* the Learning Engine's port is closed: 502 with the attempt */
    send("POST", "/drift/trigger-finetuning", TOKEN, "{}");
    cr_assert(eq(u32, R.status, 502), "%s", R.body);
    cr_assert(tu_streq(jstr(json_object_get(J, "error"), "code"),
                       "learning_engine_failed"));
    cr_assert(tu_streq(jstr(json_object_get(J, "trigger"), "status"), "failed"),
              "%s", R.body);
}

/*
 * The quality floor (statistics v2) on the dashboard: the current window
 * is rated 0.5 against a 0.75 floor, so the check is below it, and both
 * the list and the check's own page say so, apart from drift.
 */
Test(api, dashboard_shows_quality_below_floor)
{
    json_t *rec = run_check();
    bool below = json_is_true(json_object_get(rec, "quality_below_floor"));
    char path[64];

    cr_assert(below, "the check: %s", R.body);
    send("GET", "/", NULL, NULL);
    cr_assert(eq(u32, R.status, 200));
    cr_assert(strstr(R.body, " (below floor)</td>") != NULL, "%s", R.body);
    snprintf(path, sizeof(path), "/checks/%lld", jint(rec, "id"));
    send("GET", path, TOKEN, NULL);
    cr_assert(eq(u32, R.status, 200), "%s", R.body);
    cr_assert(strstr(R.body, ", quality below floor</div>") != NULL, "%s",
              R.body);
    cr_assert(strstr(R.body, "accuracy vs floor (not drift)") != NULL &&
                  strstr(R.body, "<td>below</td></tr>") != NULL,
              "%s", R.body);
    json_decref(rec);
}
