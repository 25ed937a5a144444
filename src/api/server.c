/*
 * server.c - the HTTP server: libmicrohttpd set-up, the route table,
 * request bodies with their cap, content-type and bearer-token checks,
 * the JSON error helper, the access log, the store connections (from the
 * pool of store.h) and the graceful stop.  The endpoints themselves are in
 * handlers.c, metrics.c and dashboard.c.
 *
 * DESIGN
 *
 * Threads.  MHD runs an internal thread pool (opts.threads, at least 4)
 * over epoll.  Fast handlers run on the pool thread that read the request.
 * Slow ones (a drift check, a manual trigger: seconds, with network
 * calls) must not hold a pool thread, or every keep-alive connection
 * served by that thread would stall behind them: the connection is
 * suspended, the handler runs on a thread of its own ("job"), stores its
 * response in the request and resumes the connection; MHD then calls the
 * access handler again and the response is queued there.
 *
 * Request life.  First call (headers only): route (404/405), token (401),
 * Content-Length against api.max_body_bytes (413, before one body byte is
 * read) and Content-Type (415).  An early error is queued at once.  Body
 * calls append to a capped buffer; a body without Content-Length that
 * grows past the cap is discarded as it arrives (nothing more is kept) and
 * answered 413 at its end.  The final call dispatches.  The completion
 * callback writes the access-log line (method, path, status, duration:
 * never the query string's values, headers or bodies) and frees the
 * request.  dm_api_handle() takes the same steps for a request without a
 * socket (head_check(), the capped body, the handler, the access log):
 * the query arguments and headers then come from the caller's lists
 * (req_value()) instead of the connection.
 *
 * Locks.  job_mu (count of running jobs) and cache_mu (handlers.c) are
 * leaves, never held together and never across I/O.  build_mu
 * (handlers.c) is held while one request rebuilds a GET /drift/metrics
 * answer (store I/O included); it is taken before the store pool's locks
 * (store_pool.c, below everything here) and cache_mu, never after them.
 *
 * Stop.  Quiesce (close the listening socket to new connections), mark
 * "stopping" so every further response carries Connection: close, wait
 * for jobs (bounded by opts.stop_grace_ms) and for open connections to
 * drain (bounded), then stop MHD, which joins its threads.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/thread.h"
#include "common/time.h"

/* Route flags. */
/* Longest request URL (path and query) and header block we accept, and
 * libmicrohttpd's memory per connection, which must leave room for both
 * (a request head over MHD_MEMORY gets libmicrohttpd's own HTML 414/431
 * page: the JSON shape only holds below it). */
#define URL_MAX     8192
#define HEADERS_MAX 16384
#define MHD_MEMORY  ((size_t)256 * 1024)
#define DM_STR_(x)  #x
#define DM_STR(x)   DM_STR_(x)

#define R_MUTATING 0x1  /* needs the bearer token when api.token is set */
#define R_BODY     0x2  /* reads a JSON request body */
#define R_SLOW     0x4  /* runs on a job thread (connection suspended) */
#define R_PRIVATE  0x8  /* holds user text: the token too, when one is set */
#define R_PREFIX   0x10 /* path is a prefix; the handler reads the rest */

typedef struct dm_api_route {
    const char *method;
    const char *path;
    dm_api_handler_fn handler;
    unsigned flags;
} dm_api_route_t;

static const dm_api_route_t routes[] = {
    {"GET", "/", dm_api_h_dashboard, 0},
    {"GET", "/health", dm_api_h_health, 0},
    {"GET", "/metrics", dm_api_h_prometheus, 0},
    {"POST", "/drift/check", dm_api_h_check, R_MUTATING | R_BODY | R_SLOW},
    {"GET", "/drift/metrics", dm_api_h_checks, 0},
    {"GET", "/drift/summary", dm_api_h_summary, 0},
    {"GET", "/drift/checks/", dm_api_h_check_get, R_PRIVATE | R_PREFIX},
    {"GET", "/checks/", dm_api_h_check_page, R_PRIVATE | R_PREFIX},
    {"POST", "/drift/trigger-finetuning", dm_api_h_trigger,
     R_MUTATING | R_BODY | R_SLOW},
    {"POST", "/feedback", dm_api_h_feedback, R_MUTATING | R_BODY},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* ---- responses ----------------------------------------------------- */

void dm_api_resp_text(dm_api_resp_t *resp, unsigned status,
                      const char *content_type, char *body, size_t len)
{
    free(resp->body);
    resp->status = status;
    resp->body = body;
    resp->len = len;
    resp->content_type = content_type;
}

void dm_api_resp_json(dm_api_resp_t *resp, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

    json_decref(j);
    if (s == NULL) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\","
                                  "\"message\":\"out of memory\"}}";
        dm_api_resp_text(resp, 500, "application/json", dm_strdup(oom),
                         sizeof(oom) - 1);
        return;
    }
    dm_api_resp_text(resp, status, "application/json", s, strlen(s));
}

/*
 * Length of the valid UTF-8 sequence at s (n bytes available): no
 * overlong form, no surrogate, nothing above U+10FFFF; 0 when invalid.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp, min;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * Replaces each byte of s that is not part of valid UTF-8 with '?'.  An
 * error message may quote the client's bytes (jansson's error text for
 * malformed JSON, a field name cut at a byte limit), and json_pack()
 * refuses invalid UTF-8: without this a 400 became a 500 "out of memory".
 */
static void utf8_scrub(char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);

        if (k == 0)
            s[i++] = '?';
        else
            i += k;
    }
}

void dm_api_resp_error(dm_api_resp_t *resp, unsigned status, const char *code,
                       const char *fmt, ...)
{
    char msg[DM_ERRBUF_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    utf8_scrub(msg);
    dm_api_resp_json(
        resp, status,
        json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

void dm_api_resp_store_error(dm_api_resp_t *resp, const char *what,
                             const char *err)
{
    /* The store's messages never hold the URL or the password. */
    dm_log_warn("%s: store unavailable: %s", what, err);
    dm_api_resp_error(resp, 503, "store_unavailable", "%s: %s", what, err);
}

/* The request's list of kind (query arguments or headers) when it has no
 * connection (dm_api_handle()). */
static const dm_api_kv_t *req_list(const dm_api_req_t *req,
                                   enum MHD_ValueKind kind, size_t *n)
{
    if (kind == MHD_HEADER_KIND) {
        *n = req->n_headers;
        return req->headers;
    }
    *n = req->n_args;
    return req->args;
}

/* The value of key of kind, from the connection or, without one, from the
 * request's own lists; names compared without case, as libmicrohttpd
 * does.  Borrowed; NULL when absent. */
static const char *req_value(dm_api_req_t *req, enum MHD_ValueKind kind,
                             const char *key)
{
    const dm_api_kv_t *kv;
    size_t n;

    if (req->conn)
        return MHD_lookup_connection_value(req->conn, kind, key);
    kv = req_list(req, kind, &n);
    for (size_t i = 0; i < n; i++)
        if (kv[i].key && strcasecmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

/* Calls it on every pair of kind, in order, until it returns MHD_NO. */
static void req_values(dm_api_req_t *req, enum MHD_ValueKind kind,
                       MHD_KeyValueIterator it, void *cls)
{
    const dm_api_kv_t *kv;
    size_t n;

    if (req->conn) {
        MHD_get_connection_values(req->conn, kind, it, cls);
        return;
    }
    kv = req_list(req, kind, &n);
    for (size_t i = 0; i < n; i++)
        if (it(cls, kind, kv[i].key, kv[i].value) == MHD_NO)
            return;
}

const char *dm_api_req_query(dm_api_req_t *req, const char *key)
{
    return req_value(req, MHD_GET_ARGUMENT_KIND, key);
}

struct query_scan {
    const char *const *known;
    const char *unknown; /* the first unknown name, borrowed */
};

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    struct query_scan *q = cls;

    (void)kind;
    (void)value;
    for (size_t i = 0; q->known[i] != NULL; i++)
        if (key != NULL && strcmp(key, q->known[i]) == 0)
            return MHD_YES;
    q->unknown = key ? key : "";
    return MHD_NO;
}

int dm_api_query_known(dm_api_req_t *req, const char *const *known,
                       char *errbuf, size_t errlen)
{
    struct query_scan q = {known, NULL};
    char list[256] = "";
    size_t used = 0;

    req_values(req, MHD_GET_ARGUMENT_KIND, scan_arg, &q);
    if (q.unknown == NULL)
        return DM_OK;
    for (size_t i = 0; known[i] != NULL && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                 i ? ", " : "", known[i]);
    /* the name is echoed cut short: it is the client's text */
    return dm_err_set(errbuf, errlen, DM_EPARSE,
                      "unknown query parameter '%.64s' (this endpoint takes: "
                      "%s)",
                      q.unknown, list);
}

/* ---- store pool ---------------------------------------------------- */

int dm_api_store_get(dm_api_t *api, dm_store_t **out, char *errbuf,
                     size_t errlen)
{
    /* The pool's first connection brings the schema up to date, so a
     * fresh database answers every endpoint before the first check. */
    return dm_store_pool_get(api->pool, out, errbuf, errlen);
}

void dm_api_store_put(dm_api_t *api, dm_store_t *st, bool broken)
{
    dm_store_pool_put(api->pool, st, broken); /* broken: reopened by the
                                                 next get */
}

/* ---- sending ------------------------------------------------------- */

/* Counts an answer for /metrics. */
static void count_status(dm_api_t *api, unsigned status)
{
    atomic_fetch_add(&api->requests, 1);
    if (status >= 500)
        atomic_fetch_add(&api->errors_5xx, 1);
    else if (status >= 400)
        atomic_fetch_add(&api->errors_4xx, 1);
}

static enum MHD_Result send_resp(dm_api_req_t *req, dm_api_resp_t *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = resp->status ? resp->status : 500;

    if (resp->body == NULL) {
        resp->body = dm_strdup("");
        resp->len = 0;
    }
    r = MHD_create_response_from_buffer(resp->len, resp->body,
                                        MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(resp->body);
        resp->body = NULL;
        return MHD_NO;
    }
    resp->body = NULL; /* MHD frees it now */
    MHD_add_response_header(r, "Content-Type",
                            resp->content_type ? resp->content_type
                                               : "application/json");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp->allow[0])
        MHD_add_response_header(r, "Allow", resp->allow);
    if (resp->www_auth)
        MHD_add_response_header(r, "WWW-Authenticate",
                                "Bearer realm=\"driftmon\"");
    if (resp->no_store)
        MHD_add_response_header(r, "Cache-Control", "no-store");
    if (resp->csp)
        MHD_add_response_header(r, "Content-Security-Policy", resp->csp);
    if (atomic_load(&req->api->stopping))
        MHD_add_response_header(r, "Connection", "close");
    ret = MHD_queue_response(req->conn, status, r);
    MHD_destroy_response(r);
    req->status = status;
    req->responded = true;
    count_status(req->api, status);
    return ret;
}

/* The 413 of a body over api.max_body_bytes. */
static void too_big_error(dm_api_resp_t *resp)
{
    dm_api_resp_error(resp, 413, "payload_too_large",
                      "request body larger than api.max_body_bytes");
}

static enum MHD_Result send_error(dm_api_req_t *req, unsigned status,
                                  const char *code, const char *msg)
{
    dm_api_resp_t resp = {0};

    dm_api_resp_error(&resp, status, code, "%s", msg);
    return send_resp(req, &resp);
}

/* ---- request checks ----------------------------------------------- */

/* Compares in time independent of where the strings differ. */
static bool const_time_eq(const char *a, size_t alen, const char *b,
                          size_t blen)
{
    unsigned char d = (unsigned char)(alen != blen);
    size_t n = alen > blen ? alen : blen;

    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        d |= (unsigned char)(x ^ y);
    }
    return d == 0;
}

static bool authorized(dm_api_req_t *req)
{
    const char *tok = req->api->cfg->api.token;
    const char *h;

    if (tok == NULL || tok[0] == '\0')
        return true;
    h = req_value(req, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return const_time_eq(h, strlen(h), tok, strlen(tok));
}

bool dm_api_authorized(dm_api_req_t *req)
{
    return authorized(req);
}

/* application/json, optionally with parameters (charset). */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    if (ct == NULL)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static const dm_api_route_t *route_find(const char *method, const char *path,
                                        char *allow, size_t allow_len,
                                        bool *path_known)
{
    size_t used = 0;

    *path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        size_t plen = strlen(routes[i].path);

        if ((routes[i].flags & R_PREFIX)
                ? strncmp(routes[i].path, path, plen) != 0 || path[plen] == '\0'
                : strcmp(routes[i].path, path) != 0)
            continue;
        *path_known = true;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 &&
             strcmp(routes[i].method, "GET") == 0))
            return &routes[i];
        used += (size_t)snprintf(allow + used, allow_len - used, "%s%s%s",
                                 used ? ", " : "", routes[i].method,
                                 strcmp(routes[i].method, "GET") == 0 ? ", HEAD"
                                                                      : "");
        if (used >= allow_len)
            used = allow_len - 1;
    }
    return NULL;
}

/* Adds the length of one key/value pair to *(size_t *)cls. */
static enum MHD_Result add_len(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    size_t *n = cls;

    (void)kind;
    *n += (key ? strlen(key) : 0) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/*
 * Everything that can be decided from the request head: true when the
 * request goes on (its body, then its handler), false with the error
 * answer in *resp.  Sets req->route.
 */
static bool head_check(dm_api_req_t *req, const char *method, const char *path,
                       dm_api_resp_t *resp)
{
    char allow[sizeof(resp->allow)];
    bool known;
    const char *cl, *te;
    size_t url_len = strlen(path), head_len = 0;

    /* Our own caps, well inside libmicrohttpd's memory limit (MHD_MEMORY),
     * so that a long URL or header block gets the JSON error shape rather
     * than libmicrohttpd's HTML page. */
    req_values(req, MHD_GET_ARGUMENT_KIND, add_len, &url_len);
    if (url_len > URL_MAX) {
        dm_api_resp_error(resp, 414, "uri_too_long",
                          "request URL longer than " DM_STR(URL_MAX) " bytes");
        return false;
    }
    req_values(req, MHD_HEADER_KIND, add_len, &head_len);
    if (head_len > HEADERS_MAX) {
        dm_api_resp_error(
            resp, 431, "headers_too_large",
            "request headers larger than " DM_STR(HEADERS_MAX) " bytes");
        return false;
    }

    req->route = route_find(method, path, allow, sizeof(allow), &known);
    if (req->route == NULL && !known) {
        dm_api_resp_error(resp, 404, "not_found", "no such endpoint");
        return false;
    }
    if (req->route == NULL) {
        dm_api_resp_error(resp, 405, "method_not_allowed",
                          "method %s not allowed here (allowed: %s)", method,
                          allow);
        memcpy(resp->allow, allow, sizeof(resp->allow));
        return false;
    }
    if ((req->route->flags & (R_MUTATING | R_PRIVATE)) && !authorized(req)) {
        dm_api_resp_error(resp, 401, "unauthorized",
                          "missing or wrong bearer token");
        resp->www_auth = true;
        return false;
    }
    cl = req_value(req, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    te = req_value(req, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);

        if (end == cl || *end != '\0' || cl[0] == '-') {
            dm_api_resp_error(resp, 400, "bad_request",
                              "invalid Content-Length");
            return false;
        }
        if (n > req->api->cfg->api.max_body_bytes) {
            too_big_error(resp);
            return false;
        }
        if (n == 0)
            return true;
    } else if (te == NULL) {
        return true; /* no body */
    }
    if ((req->route->flags & R_BODY) &&
        !is_json_type(
            req_value(req, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        dm_api_resp_error(resp, 415, "unsupported_media_type",
                          "request body must be application/json");
        return false;
    }
    return true;
}

/* First call (headers only): an early error is queued at once. */
static enum MHD_Result first_call(dm_api_req_t *req, const char *method,
                                  const char *path)
{
    dm_api_resp_t resp = {0};

    if (head_check(req, method, path, &resp))
        return MHD_YES;
    return send_resp(req, &resp);
}

/* ---- slow requests ------------------------------------------------- */

static void *job_main(void *arg)
{
    dm_api_req_t *req = arg;
    dm_api_t *api = req->api;

    dm_log_thread_name("api-job");
    /* checks saturate the cores; requests must not wait behind them */
    dm_thread_lower_priority(DM_API_JOB_NICE);
    req->route->handler(req, &req->job_resp);
    pthread_mutex_lock(&api->job_mu);
    req->job_state = 2;
    MHD_resume_connection(req->conn);
    api->jobs--;
    pthread_cond_broadcast(&api->job_cv);
    pthread_mutex_unlock(&api->job_mu);
    return NULL;
}

static enum MHD_Result job_start(dm_api_req_t *req)
{
    dm_api_t *api = req->api;
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&api->job_mu);
    req->job_state = 1;
    api->jobs++;
    MHD_suspend_connection(req->conn);
    rc = pthread_create(&t, &attr, job_main, req);
    if (rc != 0) {
        api->jobs--;
        req->job_state = 0;
        MHD_resume_connection(req->conn);
    }
    pthread_mutex_unlock(&api->job_mu);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return send_error(req, 503, "unavailable",
                          "cannot start a worker thread");
    return MHD_YES;
}

/* ---- MHD callbacks ------------------------------------------------- */

static const char *method_name(const char *m)
{
    static const char *const known[] = {"GET",     "HEAD",   "POST",
                                        "PUT",     "DELETE", "PATCH",
                                        "OPTIONS", "TRACE",  "CONNECT"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "OTHER";
}

/* The path for the access log: printable ASCII only (MHD has decoded
 * %XX escapes, so a client could otherwise forge log lines). */
static void copy_path(char *dst, size_t n, const char *url)
{
    size_t i = 0;

    for (; url && url[i] && i + 1 < n; i++)
        dst[i] = url[i] > 0x20 && url[i] < 0x7f ? url[i] : '?';
    dst[i] = '\0';
}

/* A new request's context (conn NULL: from dm_api_handle()). */
static dm_api_req_t *req_new(dm_api_t *api, struct MHD_Connection *conn,
                             const char *method, const char *url)
{
    dm_api_req_t *req = dm_calloc(1, sizeof(*req));

    req->api = api;
    req->conn = conn;
    req->start_ns = dm_time_mono_ns();
    req->method = method_name(method);
    copy_path(req->path, sizeof(req->path), url);
    dm_buf_init(&req->body, api->cfg->api.max_body_bytes);
    return req;
}

/* Writes the access-log line and frees req. */
static void req_done(dm_api_req_t *req, enum MHD_RequestTerminationCode tc)
{
    double ms = (double)(dm_time_mono_ns() - req->start_ns) / 1e6;

    if (tc == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        dm_log_info("%s %s %u %.3f ms", req->method, req->path, req->status,
                    ms);
    else
        dm_log_info("%s %s %u %.3f ms (connection ended early: %d)",
                    req->method, req->path, req->status, ms, (int)tc);
    dm_buf_cleanup(&req->body);
    free(req->job_resp.body);
    free(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    dm_api_t *api = cls;
    dm_api_req_t *req = *con_cls;

    (void)version;
    if (req == NULL) {
        req = req_new(api, conn, method, url);
        *con_cls = req;
        dm_log_thread_name("http");
        return first_call(req, method, url);
    }
    if (*upload_size > 0) {
        if (!req->responded && !req->too_big &&
            dm_buf_append(&req->body, upload, *upload_size) != DM_OK) {
            req->too_big = true;
            dm_buf_cleanup(&req->body); /* keep nothing more */
            dm_buf_init(&req->body, 0);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->responded)
        return MHD_YES;
    if (req->too_big) {
        dm_api_resp_t resp = {0};

        too_big_error(&resp);
        return send_resp(req, &resp);
    }
    if (req->route->flags & R_SLOW) {
        if (req->job_state == 0)
            return job_start(req);
        if (req->job_state == 2)
            return send_resp(req, &req->job_resp);
        return MHD_YES;
    }
    {
        dm_api_resp_t resp = {0};

        req->route->handler(req, &resp);
        return send_resp(req, &resp);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode tc)
{
    dm_api_req_t *req = *con_cls;

    (void)cls;
    (void)conn;
    if (req == NULL)
        return;
    req_done(req, tc);
    *con_cls = NULL;
}

/* ---- one request without a socket ----------------------------------- */

unsigned dm_api_handle(dm_api_t *api, const dm_api_request_t *rq,
                       dm_api_resp_t *resp)
{
    dm_api_req_t *req = req_new(api, NULL, rq->method, rq->path);
    dm_api_kv_t *headers = NULL;
    char cl[32];

    memset(resp, 0, sizeof(*resp));
    req->args = rq->args;
    req->n_args = rq->n_args;
    req->headers = rq->headers;
    req->n_headers = rq->n_headers;
    if (rq->body_len > 0 &&
        req_value(req, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) ==
            NULL &&
        req_value(req, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ==
            NULL) {
        /* as a client would: the body with its length */
        headers = dm_calloc(rq->n_headers + 1, sizeof(*headers));
        for (size_t i = 0; i < rq->n_headers; i++)
            headers[i] = rq->headers[i];
        snprintf(cl, sizeof(cl), "%zu", rq->body_len);
        headers[rq->n_headers] =
            (dm_api_kv_t){MHD_HTTP_HEADER_CONTENT_LENGTH, cl};
        req->headers = headers;
        req->n_headers = rq->n_headers + 1;
    }
    if (head_check(req, rq->method, rq->path, resp)) {
        if (dm_buf_append(&req->body, rq->body, rq->body_len) != DM_OK)
            too_big_error(resp);
        else
            req->route->handler(req, resp);
    }
    /* what send_resp() would send */
    if (resp->status == 0)
        resp->status = 500;
    if (resp->body == NULL) {
        resp->body = dm_strdup("");
        resp->len = 0;
    }
    req->status = resp->status;
    count_status(api, resp->status);
    req_done(req, MHD_REQUEST_TERMINATED_COMPLETED_OK);
    free(headers);
    return resp->status;
}

void dm_api_resp_cleanup(dm_api_resp_t *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[DM_ERRBUF_SIZE];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    dm_log_warn("http: %s", msg);
}

/* ---- life cycle ---------------------------------------------------- */

void dm_api_opts_init(dm_api_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->threads = 4;
    o->stop_grace_ms = 60000;
    o->version = "0.1.0";
}

int dm_api_new(const dm_config_t *cfg, dm_monitor_t *monitor,
               const dm_api_opts_t *opts, dm_api_t **out, char *errbuf,
               size_t errlen)
{
    dm_api_t *api;

    *out = NULL;
    if (cfg == NULL || monitor == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "api: a config and a monitor are required");
    api = dm_calloc(1, sizeof(*api));
    api->cfg = cfg;
    api->mon = monitor;
    if (opts)
        api->opts = *opts;
    else
        dm_api_opts_init(&api->opts);
    if (api->opts.threads < 4)
        api->opts.threads = 4;
    snprintf(api->version, sizeof(api->version), "%s",
             api->opts.version ? api->opts.version : "0.1.0");
    api->opts.version = api->version;
    api->quiesced_fd = -1;
    api->pool = dm_store_pool_or_own(cfg, api->opts.pool, &api->own_pool);
    pthread_mutex_init(&api->job_mu, NULL);
    pthread_mutex_init(&api->cache_mu, NULL);
    pthread_mutex_init(&api->build_mu, NULL);
    pthread_cond_init(&api->job_cv, NULL);
    *out = api;
    return DM_OK;
}

/* Resolves api.host (numeric or a name) into addr. */
static int resolve(const char *host, unsigned port,
                   struct sockaddr_storage *addr, socklen_t *alen, bool *ipv6,
                   char *errbuf, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char ps[16];
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(ps, sizeof(ps), "%u", port);
    rc = getaddrinfo(host && host[0] ? host : NULL, ps, &hints, &res);
    if (rc != 0 || res == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "api.host: cannot resolve '%s': %s", host,
                          gai_strerror(rc));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *alen = res->ai_addrlen;
    *ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return DM_OK;
}

/* Whether addr only accepts connections from this machine. */
static bool is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        const uint8_t *b = a->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && b[12] == 127;
    }
    return false;
}

int dm_api_start(dm_api_t *api, char *errbuf, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t alen = 0;
    bool ipv6 = false;
    unsigned flags;
    const union MHD_DaemonInfo *info;
    int rc;

    if (api->daemon)
        return dm_err_set(errbuf, errlen, DM_EBUSY, "api: already started");
    rc = resolve(api->cfg->api.host, api->cfg->api.port, &addr, &alen, &ipv6,
                 errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    atomic_store(&api->stopping, false);
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
            MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    api->daemon = MHD_start_daemon(
        flags, (uint16_t)api->cfg->api.port, NULL, NULL, on_request, api,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, api, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)api->opts.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)api->cfg->api.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)api->cfg->api.max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)api->cfg->api.idle_timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, MHD_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, api, MHD_OPTION_END);
    (void)alen;
    if (api->daemon == NULL)
        return dm_err_set(errbuf, errlen, DM_EIO,
                          "api: cannot listen on %s:%u (address in use or "
                          "not available)",
                          api->cfg->api.host, (unsigned)api->cfg->api.port);
    info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? info->port : api->cfg->api.port;
    dm_log_info("listening on %s:%u (%u threads)", api->cfg->api.host,
                api->port, api->opts.threads);
    if (api->cfg->api.token == NULL || api->cfg->api.token[0] == '\0') {
        if (!is_loopback(&addr))
            dm_log_warn("api.token is empty and the API listens on %s, "
                        "which is not a loopback address: anyone who can "
                        "reach port %u can run checks, trigger fine-tuning "
                        "and write feedback; set api.token (or "
                        "DRIFTMON_API_TOKEN), or api.host: 127.0.0.1",
                        api->cfg->api.host[0] ? api->cfg->api.host
                                              : "every address",
                        api->port);
    }
    return DM_OK;
}

unsigned dm_api_port(const dm_api_t *api)
{
    return api && api->daemon ? api->port : 0;
}

static void timespec_after_ms(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static unsigned open_connections(dm_api_t *api)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

    return info ? info->num_connections : 0;
}

void dm_api_stop(dm_api_t *api)
{
    struct timespec dl;
    uint64_t drain_end;
    MHD_socket fd;

    if (api == NULL || api->daemon == NULL)
        return;
    atomic_store(&api->stopping, true);
    fd = MHD_quiesce_daemon(api->daemon);
    api->quiesced_fd = fd == MHD_INVALID_SOCKET ? -1 : (int)fd;
    dm_log_info("stopping: no new connections; finishing requests in flight");
    timespec_after_ms(&dl, api->opts.stop_grace_ms);
    pthread_mutex_lock(&api->job_mu);
    while (api->jobs > 0 &&
           pthread_cond_timedwait(&api->job_cv, &api->job_mu, &dl) == 0)
        ;
    if (api->jobs > 0)
        dm_log_warn("%u slow request(s) still running after %ld ms", api->jobs,
                    api->opts.stop_grace_ms);
    /* A job still running holds a suspended connection, which MHD must
     * not see stopped under it: wait for it (checks are bounded by the
     * monitor's budgets). */
    while (api->jobs > 0)
        pthread_cond_wait(&api->job_cv, &api->job_mu);
    pthread_mutex_unlock(&api->job_mu);
    /* Let responses just queued go out; idle keep-alive connections are
     * closed by the stop below. */
    drain_end = dm_time_mono_ns() + 2000000000ull;
    while (open_connections(api) > 0 && dm_time_mono_ns() < drain_end) {
        struct timespec ts = {0, 10000000L};

        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(api->daemon);
    api->daemon = NULL;
    if (api->quiesced_fd >= 0)
        close(api->quiesced_fd);
    api->quiesced_fd = -1;
    dm_log_info("HTTP server stopped");
}

void dm_api_free(dm_api_t *api)
{
    if (api == NULL)
        return;
    dm_api_stop(api);
    dm_store_pool_free(api->own_pool);
    pthread_mutex_destroy(&api->job_mu);
    pthread_mutex_destroy(&api->cache_mu);
    pthread_mutex_destroy(&api->build_mu);
    for (size_t i = 0; i < DM_API_CACHE_SLOTS; i++)
        free(api->cache[i].body);
    pthread_cond_destroy(&api->job_cv);
    free(api);
}
