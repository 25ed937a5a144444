/*
 * api_int.h - private to src/api/: the server object, one request's
 * context, the response under construction, and the handlers the route
 * table of server.c points to.  Nothing outside src/api/ includes this.
 */
#ifndef DM_API_API_INT_H
#define DM_API_API_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "common/buf.h"
#include "store/store.h"

/* GET /drift/metrics response cache: slots and lifetime. */
#define DM_API_CACHE_SLOTS 8
#define DM_API_CACHE_MS    1000
/* Nice increment of the threads that run checks and triggers. */
#define DM_API_JOB_NICE 10
/* Longest request path kept for the access log. */
#define DM_API_PATH_MAX 256

struct dm_api {
    const dm_config_t *cfg; /* borrowed */
    dm_monitor_t *mon;      /* borrowed */
    dm_api_opts_t opts;
    char version[32];
    struct MHD_Daemon *daemon;
    int quiesced_fd; /* listen socket after quiesce, -1 = none */
    unsigned port;
    atomic_bool stopping;      /* responses say Connection: close */
    dm_store_pool_t *pool;     /* opts.pool, or own_pool */
    dm_store_pool_t *own_pool; /* made by dm_api_new() when none given */

    /* slow requests running on their own threads: job_mu guards jobs */
    pthread_mutex_t job_mu;
    pthread_cond_t job_cv;
    unsigned jobs;

    /* GET /drift/metrics answers, reused for up to DM_API_CACHE_MS while
     * no check, trigger or feedback went through this process (gen and
     * the monitor's checks_run unchanged); cache_mu guards cache[].
     * build_mu lets one request at a time rebuild an answer, so an expiry
     * under load costs one store query, not one per waiting request */
    pthread_mutex_t cache_mu;
    pthread_mutex_t build_mu;
    struct dm_api_cache {
        char key[64];
        char *body;
        size_t len;
        uint64_t made_ns;
        uint64_t gen;
    } cache[DM_API_CACHE_SLOTS];
    atomic_uint_fast64_t gen; /* bumped by every write through the API */

    /* process-local counters for /metrics */
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t errors_4xx, errors_5xx;
};

struct dm_api_route;

/* One request in flight (MHD's per-connection request pointer). */
typedef struct dm_api_req {
    dm_api_t *api;
    struct MHD_Connection *conn; /* NULL: from dm_api_handle() */
    /* without a connection: the query arguments and headers (borrowed) */
    const dm_api_kv_t *args, *headers;
    size_t n_args, n_headers;
    const struct dm_api_route *route;
    const char *method; /* static copy of the method name */
    char path[DM_API_PATH_MAX];
    uint64_t start_ns;
    unsigned status; /* sent status, for the access log */
    bool responded;  /* a response has been queued */
    bool too_big;    /* body over api.max_body_bytes */
    dm_buf_t body;
    int job_state;          /* 0 none, 1 running, 2 done */
    dm_api_resp_t job_resp; /* set by the job thread */
} dm_api_req_t;

typedef void (*dm_api_handler_fn)(dm_api_req_t *req, dm_api_resp_t *resp);

/* ---- responses (server.c) ---- */

/* Sets resp to JSON (steals j; NULL means out of memory: 500). */
void dm_api_resp_json(dm_api_resp_t *resp, unsigned status, json_t *j);
/* Sets resp to {"error": {"code", "message"}}; bytes of the message that
 * are not valid UTF-8 (quoted client input) become '?'. */
void dm_api_resp_error(dm_api_resp_t *resp, unsigned status, const char *code,
                       const char *fmt, ...) DM_PRINTF(4, 5);
/* Sets resp to text (steals body, of len bytes). */
void dm_api_resp_text(dm_api_resp_t *resp, unsigned status,
                      const char *content_type, char *body, size_t len);
/* A store error as a response: 503 store_unavailable. */
void dm_api_resp_store_error(dm_api_resp_t *resp, const char *what,
                             const char *err);

/* Value of query argument key (borrowed; NULL when absent).  Only on
 * the server thread (not from a slow handler). */
const char *dm_api_req_query(dm_api_req_t *req, const char *key);

/*
 * Checks that every query parameter of req is one of known (a NULL-ended
 * list): DM_OK, or DM_EPARSE with "unknown query parameter 'x' (this
 * endpoint takes: ...)" in errbuf, so that a typo (?day=7) is an error
 * rather than a silently ignored filter.
 */
int dm_api_query_known(dm_api_req_t *req, const char *const *known,
                       char *errbuf, size_t errlen) DM_MUSTCHECK;

/* ---- store pool (server.c) ---- */

/* A store connection for this thread's exclusive use until put back
 * (dm_store_pool_get() on the server's pool). */
int dm_api_store_get(dm_api_t *api, dm_store_t **out, char *errbuf,
                     size_t errlen) DM_MUSTCHECK;
/* Returns it to the pool; broken (a store error happened) closes it. */
void dm_api_store_put(dm_api_t *api, dm_store_t *st, bool broken);

/*
 * Replaces the last check of *ms (the monitor's own memory) with the
 * newest live check in the store, so checks stored by other processes
 * (a CLI check, another replica, a service started with --no-monitor)
 * count.  Leaves *ms as it is when the store cannot be read.
 */
void dm_api_last_check_read(dm_store_t *st, dm_monitor_status_t *ms);

/* ---- handlers (handlers.c, metrics.c, dashboard.c) ---- */

void dm_api_h_health(dm_api_req_t *req, dm_api_resp_t *resp);
void dm_api_h_check(dm_api_req_t *req, dm_api_resp_t *resp);
void dm_api_h_checks(dm_api_req_t *req, dm_api_resp_t *resp);
void dm_api_h_summary(dm_api_req_t *req, dm_api_resp_t *resp);
/* GET /drift/checks/{id}: one stored check, whole (user text: private). */
void dm_api_h_check_get(dm_api_req_t *req, dm_api_resp_t *resp);
/* True when api.token is unset or the request carries it (server.c). */
bool dm_api_authorized(dm_api_req_t *req);
void dm_api_h_trigger(dm_api_req_t *req, dm_api_resp_t *resp);
void dm_api_h_feedback(dm_api_req_t *req, dm_api_resp_t *resp);
void dm_api_h_prometheus(dm_api_req_t *req, dm_api_resp_t *resp);
void dm_api_h_dashboard(dm_api_req_t *req, dm_api_resp_t *resp);
/*
 * Reads the stored check whose id is id_text (1 to 18 digits) into *c
 * (release with dm_store_check_cleanup()); on false resp holds the answer
 * already: 404 for a bad or unknown id, 503 when the store is down (what
 * names the caller in the message).
 */
bool dm_api_check_fetch(dm_api_req_t *req, const char *id_text,
                        const char *what, dm_store_check_t *c,
                        dm_api_resp_t *resp);
/* GET /checks/{id}: one check's page, what changed (holds user text). */
void dm_api_h_check_page(dm_api_req_t *req, dm_api_resp_t *resp);

/* ---- shared helpers (handlers.c) ---- */

/* A trigger attempt as JSON (new reference). */
json_t *dm_api_trigger_json(const dm_store_trigger_t *t);
/* RFC 3339 string of ms, or JSON null for 0. */
json_t *dm_api_time_json(int64_t ms);
/*
 * Parses a whole-number query argument: absent gives def; not a whole
 * number gives DM_EPARSE, outside [lo, hi] DM_ERANGE (message in errbuf).
 */
int dm_api_query_uint(dm_api_req_t *req, const char *key, unsigned long def,
                      unsigned long lo, unsigned long hi, unsigned long *out,
                      char *errbuf, size_t errlen) DM_MUSTCHECK;

#endif
