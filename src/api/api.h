/*
 * api.h - driftmon's HTTP service (DESIGN.md section 7): the REST API,
 * the Prometheus exposition and the dashboard, served by libmicrohttpd.
 *
 *   GET  /health                     status, store, embedder, monitor state
 *   POST /drift/check                run a check now ({"window_days": N})
 *   GET  /drift/metrics?days=30      stored checks, newest first
 *   GET  /drift/summary              counts, detection rate, triggers
 *   POST /drift/trigger-finetuning   manual fine-tuning trigger
 *   POST /feedback                   ingest rows (JSON array, all or none)
 *   GET  /metrics                    Prometheus text exposition
 *   GET  /                           the dashboard (HTML + inline SVG)
 *
 * docs/api.md documents every request and response.  Every error is
 * {"error": {"code": "...", "message": "..."}} with its HTTP status.
 * When api.token is set the POST endpoints need "Authorization: Bearer
 * <token>".  Request bodies are capped at api.max_body_bytes.  No
 * response and no log line ever holds a secret (api.token, the webhook
 * URL, the database URL or password).
 *
 * Ownership: a dm_api_t borrows the config and the monitor, which must
 * outlive it, and the store pool of dm_api_opts_t.pool when one is given.
 * Each request in flight takes a store connection of its own from that
 * pool (or from one of the server's own), never sharing one between
 * threads.
 *
 * Thread-safety: dm_api_new/_start/_stop/_free are called by one
 * controlling thread; requests are served by the server's own threads.
 *
 * dm_api_handle() answers one request without a socket, through the same
 * dispatch (route table, token, body cap and Content-Type checks,
 * handlers) as the server: for the unit tests (tests/unit/test_api.c).
 */
#ifndef DM_API_API_H
#define DM_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "config/config.h"
#include "monitor/monitor.h"

typedef struct dm_api dm_api_t;

/* Server options; dm_api_opts_init() gives the defaults. */
typedef struct dm_api_opts {
    unsigned threads;      /* worker threads (4; at least 4 are used);
                              the connection limits and the idle
                              timeout come from api.* of the config */
    long stop_grace_ms;    /* dm_api_stop(): time in-flight slow
                              requests (check, trigger) get (60000) */
    const char *version;   /* reported by /health ("0.1.0"; borrowed) */
    dm_store_pool_t *pool; /* store connections (borrowed: must outlive
                              the server; `serve` shares the monitor's);
                              NULL = the server makes its own */
} dm_api_opts_t;

void dm_api_opts_init(dm_api_opts_t *o);

/*
 * Creates a server for cfg and monitor (both borrowed; they must outlive
 * it).  opts may be NULL (defaults; copied).  Binds nothing yet.
 * Returns DM_OK or DM_EINVAL with a message in errbuf.
 */
int dm_api_new(const dm_config_t *cfg, dm_monitor_t *monitor,
               const dm_api_opts_t *opts, dm_api_t **out, char *errbuf,
               size_t errlen) DM_MUSTCHECK;

/*
 * Binds api.host:api.port (port 0: the kernel picks one, see
 * dm_api_port()) and starts serving on the server's threads.  Returns
 * DM_OK, DM_EINVAL for a bad api.host, DM_EBUSY when already started,
 * DM_EIO when the address cannot be bound.
 */
int dm_api_start(dm_api_t *api, char *errbuf, size_t errlen) DM_MUSTCHECK;

/* The port the server listens on (0 when not started). */
unsigned dm_api_port(const dm_api_t *api);

/*
 * Graceful stop: stops accepting connections, lets requests in flight
 * finish (slow ones - a check, a trigger - for up to opts.stop_grace_ms;
 * they are bounded by the monitor's own budgets), then closes every
 * connection and joins the threads.  Safe to call when not started and
 * twice.  Not from a signal handler.
 */
void dm_api_stop(dm_api_t *api);

/* Stops (dm_api_stop()) and frees; closes the pooled store connections
 * when the pool is the server's own.  NULL-safe. */
void dm_api_free(dm_api_t *api);

/* ---- one request without a socket ---- */

/* A name and its value (both borrowed). */
typedef struct dm_api_kv {
    const char *key;
    const char *value; /* NULL: a query argument without '=' */
} dm_api_kv_t;

/* One request as libmicrohttpd hands it to the server: the path decoded
 * and without its query string, the query arguments split and decoded.
 * Everything is borrowed. */
typedef struct dm_api_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* "/drift/checks/12" */
    const dm_api_kv_t *args;
    size_t n_args;
    const dm_api_kv_t *headers; /* names compared without case */
    size_t n_headers;
    const char *body; /* may be NULL when body_len is 0 */
    size_t body_len;
} dm_api_request_t;

/* An answer: what a handler builds and the server sends. */
typedef struct dm_api_resp {
    unsigned status;
    char *body; /* owned (free(), or dm_api_resp_cleanup()) */
    size_t len;
    const char *content_type; /* static; NULL: application/json */
    char allow[128];          /* Allow header (405); "" = none */
    bool www_auth;            /* WWW-Authenticate: Bearer (401) */
    bool no_store;            /* Cache-Control: no-store */
    const char *csp;          /* Content-Security-Policy, static */
} dm_api_resp_t;

/*
 * Answers rq as the server would (api need not be started): the
 * head checks (URL and header size, route: 404/405, token: 401,
 * Content-Length: 400/413, Content-Type: 415), the body against
 * api.max_body_bytes (413), then the endpoint's handler, on the
 * caller's thread (the server runs slow ones, a check or a trigger, on a
 * thread of their own).  As a client would, it sends a Content-Length
 * header for a non-empty body when rq has neither Content-Length nor
 * Transfer-Encoding.  For HEAD, resp holds the body a GET gets (the
 * server sends only its headers).  Counts the answer in /metrics and
 * writes the access-log line, as the server does.  Fills *resp (release
 * with dm_api_resp_cleanup()) and returns its status.  Thread-safe like
 * the server's own threads.
 */
unsigned dm_api_handle(dm_api_t *api, const dm_api_request_t *rq,
                       dm_api_resp_t *resp);

/* Frees resp's body; NULL-safe. */
void dm_api_resp_cleanup(dm_api_resp_t *resp);

#endif
