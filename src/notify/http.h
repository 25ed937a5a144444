/*
 * http.h - a small, bounded HTTP client for JSON POSTs (libcurl).
 *
 * dm_http_post_json() sends one JSON body to one URL and retries on the
 * failures that a retry can cure: network errors, timeouts, 5xx and 429.
 * Waits between attempts grow exponentially with jitter; a Retry-After
 * header on 429 (and 503) is honoured.  Every call is bounded by a total
 * time budget: no attempt outlives it and no retry is started that could
 * not finish inside it, so a caller (a drift check) is never blocked for
 * longer than opts.budget_ms plus a few milliseconds.
 *
 * Secrets.  Webhook URLs carry their secret in the path (Slack:
 * /services/T../B../<secret>) and requests may carry a bearer token.
 * Neither is ever logged nor written into an error message: messages name
 * the endpoint by opts.label or by "scheme://host[:port]" only, and any
 * text that comes from curl or from the server is scrubbed of the URL's
 * path, query and user info before it is kept.
 *
 * Thread-safety: dm_http_post_json() may be called from any number of
 * threads at once; libcurl's global state is initialised once
 * (pthread_once) and every call uses its own easy handles.
 */
#ifndef DM_NOTIFY_HTTP_H
#define DM_NOTIFY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Default cap on the response body kept in a dm_http_result_t. */
#define DM_HTTP_DEFAULT_MAX_RESPONSE (64 * 1024)

/* Options of one dm_http_post_json() call.  Fill with dm_http_opts_init(). */
typedef struct dm_http_opts {
    long timeout_ms;          /* one attempt, connect to last byte (10000) */
    long connect_timeout_ms;  /* TCP + TLS connect of one attempt (5000) */
    unsigned max_retries;     /* attempts after the first one (3) */
    long backoff_initial_ms;  /* wait before the first retry (500) */
    long backoff_max_ms;      /* cap on one backoff wait (8000) */
    long budget_ms;           /* whole call incl. waits (30000) */
    size_t max_response;      /* response bytes kept (64 KiB) */
    const char *bearer_token; /* borrowed; NULL or "" = no Authorization */
    const char *label;        /* borrowed; names the endpoint in logs and
                                 errors; NULL = "scheme://host[:port]" */
    uint64_t jitter_seed;     /* 0 = seed the jitter from the clock */
} dm_http_opts_t;

/* Why a call did not end with a 2xx response. */
typedef enum dm_http_failure {
    DM_HTTP_FAIL_NONE = 0,    /* 2xx */
    DM_HTTP_FAIL_INVALID = 1, /* bad URL or options; nothing was sent */
    DM_HTTP_FAIL_CONNECT = 2, /* refused, unreachable, DNS */
    DM_HTTP_FAIL_TIMEOUT = 3, /* an attempt ran out of time */
    DM_HTTP_FAIL_NETWORK = 4, /* other transport error (reset, TLS, ...) */
    DM_HTTP_FAIL_STATUS = 5   /* a final non-2xx response */
} dm_http_failure_t;

/*
 * Outcome of dm_http_post_json().  Initialise with dm_http_result_init(),
 * release with dm_http_result_cleanup(); body belongs to the result.
 */
typedef struct dm_http_result {
    long status;         /* HTTP status of the last response; 0 = none */
    unsigned attempts;   /* requests started (1 + retries) */
    char *body;          /* last response body, NUL-terminated; NULL = none */
    size_t body_len;     /* bytes in body (at most opts.max_response) */
    bool body_truncated; /* the server sent more than max_response */
    int64_t elapsed_ms;  /* whole call, waits included */
    long retry_after_s;  /* Retry-After of the last response, s; 0 = none */
    dm_http_failure_t failure;
    char error[DM_ERRBUF_SIZE]; /* last attempt's error ("" = none);
                                   never holds the URL's path or query */
} dm_http_result_t;

/* Fills opts with the defaults written beside each field. */
void dm_http_opts_init(dm_http_opts_t *opts);

/* Makes res empty (no body, status 0). */
void dm_http_result_init(dm_http_result_t *res);

/* Frees the body; res may be reused after dm_http_result_init().
 * NULL-safe. */
void dm_http_result_cleanup(dm_http_result_t *res);

/*
 * POSTs len bytes of body (borrowed) to url (borrowed; http or https
 * only) with "Content-Type: application/json", following no redirects.
 *
 * Retries, up to opts->max_retries times, after a network error, a
 * timeout, a 5xx or a 429.  The wait before retry k (1-based) is
 * min(backoff_max, backoff_initial * 2^(k-1)), of which a random half is
 * jitter ("equal jitter"); after a 429 or 503 carrying Retry-After the
 * wait is Retry-After instead.  Every attempt's timeout is cut to the
 * budget left, and a retry whose wait would not leave time for it inside
 * opts->budget_ms is not made.  Other statuses (2xx, 3xx, other 4xx) are
 * final.
 *
 * res (required) is initialised here and receives the last status, body,
 * attempt count and elapsed time; the caller releases it with
 * dm_http_result_cleanup() whatever the return value.
 *
 * Returns DM_OK for a final 2xx.  Otherwise: DM_EINVAL for a bad URL or
 * options (nothing sent), DM_ENET for a network failure or a non-2xx
 * status (res->failure and res->status tell which), with a message such as
 * "https://hooks.slack.com: HTTP 404 after 1 attempt: no_service" in
 * errbuf.  Messages never contain the URL's path, query or credentials.
 * Thread-safe.
 */
int dm_http_post_json(const char *url, const char *body, size_t len,
                      const dm_http_opts_t *opts, dm_http_result_t *res,
                      char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Writes the loggable name of url, "scheme://host[:port]" (no user info,
 * path or query), into out (size n).  An unparsable URL gives
 * "<invalid url>".  Returns out.  Thread-safe.
 */
char *dm_http_url_label(const char *url, char *out, size_t n);

/*
 * Copies text into out (size n) with every occurrence of url's secret
 * parts (the whole URL, its path beyond "/", its query and its password)
 * replaced by "<redacted>" and control characters by spaces.  Used for
 * text that may echo the request: curl error messages, error bodies.
 * Returns out.  Thread-safe.
 */
char *dm_http_redact(const char *url, const char *text, char *out, size_t n);

#endif
