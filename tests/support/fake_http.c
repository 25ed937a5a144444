/*
 * fake_http.c - scripted HTTP server for tests (libmicrohttpd).
 *
 * DESIGN: libmicrohttpd runs its own listening thread and one thread per
 * connection (MHD_USE_THREAD_PER_CONNECTION), so a scripted delay only
 * blocks its own connection.  One mutex guards the script, the request
 * list and the stopping flag; one condition variable (on the monotonic
 * clock) serves both "a request arrived" and "stop now", so delays end
 * early at fake_http_stop() and waiters wake on every new request.
 * Requests are heap records appended to an array of pointers: a record
 * never moves and is never changed once appended, so fake_http_request_at
 * can hand out pointers that stay valid until the server is stopped.
 */
#include "support/fake_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct script_entry {
    unsigned status;
    char *body;
    char *content_type;
    char *retry_after;
    unsigned delay_ms;
    bool close_connection;
} script_entry_t;

struct fake_http {
    struct MHD_Daemon *daemon;
    unsigned short port;
    char url[64];

    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool stopping;
    script_entry_t *script;
    size_t script_len, script_next;
    fake_http_request_t **reqs;
    size_t nreqs, reqs_cap;
};

/* Per-request state while the body arrives. */
typedef struct pending {
    char *body;
    size_t len, cap;
    bool truncated;
} pending_t;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        fprintf(stderr, "fake_http: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "fake_http: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n;
    char *d;

    if (!s)
        return NULL;
    n = strlen(s);
    d = xmalloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Absolute CLOCK_MONOTONIC deadline ms from now. */
static struct timespec deadline_after(unsigned ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ---- recording --------------------------------------------------------- */

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value)
{
    fake_http_request_t *r = cls;

    (void)kind;
    r->headers =
        xrealloc(r->headers, (r->header_count + 1) * sizeof(*r->headers));
    r->headers[r->header_count].name = xstrdup(key ? key : "");
    r->headers[r->header_count].value = xstrdup(value ? value : "");
    r->header_count++;
    return MHD_YES;
}

typedef struct query_acc {
    char *s;
    size_t len;
} query_acc_t;

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind,
                              const char *key, const char *value)
{
    query_acc_t *q = cls;
    size_t add = strlen(key ? key : "") + (value ? strlen(value) + 1 : 0) +
                 (q->len ? 1 : 0);

    (void)kind;
    q->s = xrealloc(q->s, q->len + add + 1);
    q->len +=
        (size_t)snprintf(q->s + q->len, add + 1, "%s%s%s%s", q->len ? "&" : "",
                         key ? key : "", value ? "=" : "", value ? value : "");
    return MHD_YES;
}

static fake_http_request_t *record_new(struct MHD_Connection *conn,
                                       const char *url, const char *method,
                                       pending_t *p)
{
    fake_http_request_t *r = xmalloc(sizeof(*r));
    query_acc_t q = {NULL, 0};

    memset(r, 0, sizeof(*r));
    r->method = xstrdup(method);
    r->path = xstrdup(url);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, on_header, r);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, on_arg, &q);
    r->query = q.s ? q.s : xstrdup("");
    r->body = xmalloc(p->len + 1);
    if (p->len)
        memcpy(r->body, p->body, p->len);
    r->body[p->len] = '\0';
    r->body_len = p->len;
    r->body_truncated = p->truncated;
    r->received_ns = mono_ns();
    return r;
}

static void record_free(fake_http_request_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->header_count; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->body);
    free(r);
}

/* ---- answering --------------------------------------------------------- */

/* Appends r and takes the next script entry (copied out, under lock). */
static void take_turn(fake_http_t *srv, fake_http_request_t *r,
                      script_entry_t *out)
{
    static const script_entry_t dflt = {200, NULL, NULL, NULL, 0, false};

    pthread_mutex_lock(&srv->lock);
    if (srv->nreqs == srv->reqs_cap) {
        srv->reqs_cap = srv->reqs_cap ? srv->reqs_cap * 2 : 16;
        srv->reqs = xrealloc(srv->reqs, srv->reqs_cap * sizeof(*srv->reqs));
    }
    srv->reqs[srv->nreqs++] = r;
    if (srv->script_len == 0) {
        *out = dflt;
        out->body = xstrdup("{}");
    } else {
        const script_entry_t *e = &srv->script[srv->script_next];

        *out = *e;
        out->body = xstrdup(e->body);
        out->content_type = xstrdup(e->content_type);
        out->retry_after = xstrdup(e->retry_after);
        if (srv->script_next + 1 < srv->script_len)
            srv->script_next++;
    }
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

/* Sleeps delay_ms unless the server stops first. */
static void scripted_delay(fake_http_t *srv, unsigned delay_ms)
{
    struct timespec dl;

    if (delay_ms == 0)
        return;
    dl = deadline_after(delay_ms);
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping &&
           pthread_cond_timedwait(&srv->cond, &srv->lock, &dl) == 0)
        ;
    pthread_mutex_unlock(&srv->lock);
}

static enum MHD_Result answer(struct MHD_Connection *conn,
                              const script_entry_t *e)
{
    const char *body = e->body ? e->body : "";
    size_t len = strlen(body);
    char *copy = xmalloc(len + 1);
    struct MHD_Response *resp;
    enum MHD_Result ret;

    memcpy(copy, body, len + 1);
    resp = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(copy);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            e->content_type ? e->content_type
                                            : "application/json");
    if (e->retry_after)
        MHD_add_response_header(resp, "Retry-After", e->retry_after);
    ret = MHD_queue_response(conn, e->status ? e->status : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    fake_http_t *srv = cls;
    pending_t *p = *con_cls;
    script_entry_t e;
    enum MHD_Result ret;

    (void)version;
    if (!p) {
        p = xmalloc(sizeof(*p));
        memset(p, 0, sizeof(*p));
        *con_cls = p;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;

        if (n > FAKE_HTTP_MAX_BODY - p->len) {
            n = FAKE_HTTP_MAX_BODY - p->len;
            p->truncated = true;
        }
        if (p->len + n > p->cap) {
            p->cap = (p->len + n) * 2;
            p->body = xrealloc(p->body, p->cap);
        }
        memcpy(p->body + p->len, upload_data, n);
        p->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    take_turn(srv, record_new(conn, url, method, p), &e);
    scripted_delay(srv, e.delay_ms);
    ret = e.close_connection ? MHD_NO : answer(conn, &e);
    free(e.body);
    free(e.content_type);
    free(e.retry_after);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode tc)
{
    pending_t *p = *con_cls;

    (void)cls;
    (void)conn;
    (void)tc;
    if (p) {
        free(p->body);
        free(p);
        *con_cls = NULL;
    }
}

/* ---- lifecycle --------------------------------------------------------- */

fake_http_t *fake_http_start(void)
{
    fake_http_t *srv = xmalloc(sizeof(*srv));
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    pthread_condattr_t ca;

    memset(srv, 0, sizeof(*srv));
    pthread_mutex_init(&srv->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cond, &ca);
    pthread_condattr_destroy(&ca);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (!srv->daemon) {
        fprintf(stderr, "fake_http: cannot start the daemon\n");
        goto fail;
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        fprintf(stderr, "fake_http: cannot read the bound port\n");
        goto fail;
    }
    srv->port = info->port;
    snprintf(srv->url, sizeof(srv->url), "http://127.0.0.1:%u",
             (unsigned)srv->port);
    return srv;
fail:
    fake_http_stop(srv);
    return NULL;
}

void fake_http_stop(fake_http_t *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    for (size_t i = 0; i < srv->script_len; i++) {
        free(srv->script[i].body);
        free(srv->script[i].content_type);
        free(srv->script[i].retry_after);
    }
    free(srv->script);
    for (size_t i = 0; i < srv->nreqs; i++)
        record_free(srv->reqs[i]);
    free(srv->reqs);
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

unsigned short fake_http_port(const fake_http_t *srv)
{
    return srv->port;
}

const char *fake_http_url(const fake_http_t *srv)
{
    return srv->url;
}

void fake_http_script(fake_http_t *srv, const fake_http_response_t *r, size_t n)
{
    pthread_mutex_lock(&srv->lock);
    srv->script =
        xrealloc(srv->script, (srv->script_len + n) * sizeof(*srv->script));
    for (size_t i = 0; i < n; i++) {
        script_entry_t *e = &srv->script[srv->script_len++];

        e->status = r[i].status;
        e->body = xstrdup(r[i].body);
        e->content_type = xstrdup(r[i].content_type);
        e->retry_after = xstrdup(r[i].retry_after);
        e->delay_ms = r[i].delay_ms;
        e->close_connection = r[i].close_connection;
    }
    pthread_mutex_unlock(&srv->lock);
}

void fake_http_reply(fake_http_t *srv, unsigned status, const char *body)
{
    fake_http_response_t r = {.status = status, .body = body};

    fake_http_script(srv, &r, 1);
}

size_t fake_http_request_count(fake_http_t *srv)
{
    size_t n;

    pthread_mutex_lock(&srv->lock);
    n = srv->nreqs;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

const fake_http_request_t *fake_http_request_at(fake_http_t *srv, size_t i)
{
    const fake_http_request_t *r = NULL;

    pthread_mutex_lock(&srv->lock);
    if (i < srv->nreqs)
        r = srv->reqs[i];
    pthread_mutex_unlock(&srv->lock);
    return r;
}

const char *fake_http_request_header(const fake_http_request_t *req,
                                     const char *name)
{
    for (size_t i = 0; req && i < req->header_count; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

bool fake_http_wait_requests(fake_http_t *srv, size_t n, unsigned timeout_ms)
{
    struct timespec dl = deadline_after(timeout_ms);
    bool reached;

    pthread_mutex_lock(&srv->lock);
    while (srv->nreqs < n && !srv->stopping &&
           pthread_cond_timedwait(&srv->cond, &srv->lock, &dl) == 0)
        ;
    reached = srv->nreqs >= n;
    pthread_mutex_unlock(&srv->lock);
    return reached;
}

unsigned short fake_http_closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    unsigned short port = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}
