/*
 * fake_http.h - a scripted HTTP server on 127.0.0.1 for tests.
 *
 * Stands in for Slack, the Learning Engine or any peer driftmon talks
 * to.  It listens on a free port (chosen by the kernel), records every
 * request it receives (method, path, query, headers, body, arrival time)
 * and answers from a script of responses, in order.  When one response is
 * left in the script it is used for every further request ("500 forever"
 * is a one-entry script); an empty script answers 200 "{}".
 *
 * A response can be delayed (to make a client time out: the delay is cut
 * short by fake_http_stop(), so stopping never waits for it) or can drop
 * the connection without answering.  Each connection is served by its own
 * thread, so a delayed answer does not hold up other requests.
 *
 *     fake_http_t *srv = fake_http_start();
 *     fake_http_response_t r[] = {{.status = 429, .retry_after = "1"},
 *                                 {.status = 200, .body = "ok"}};
 *     fake_http_script(srv, r, 2);
 *     ... point the client at fake_http_url(srv) ...
 *     cr_assert_eq(fake_http_request_count(srv), 2);
 *     const fake_http_request_t *q = fake_http_request_at(srv, 0);
 *     fake_http_stop(srv);
 *
 * Thread-safety: all functions may be called from any thread while the
 * server runs; recorded requests are immutable once visible.
 */
#ifndef DM_TESTS_FAKE_HTTP_H
#define DM_TESTS_FAKE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Request bodies above this are cut (and flagged). */
#define FAKE_HTTP_MAX_BODY (1024 * 1024)

typedef struct fake_http fake_http_t;

/* One scripted answer.  Strings are copied by fake_http_script(). */
typedef struct fake_http_response {
    unsigned status;          /* HTTP status (0 means 200) */
    const char *body;         /* NULL = "" */
    const char *content_type; /* NULL = "application/json" */
    const char *retry_after;  /* Retry-After value; NULL = no header */
    unsigned delay_ms;        /* wait this long before answering */
    bool close_connection;    /* drop the connection, send nothing */
} fake_http_response_t;

typedef struct fake_http_header {
    char *name;
    char *value;
} fake_http_header_t;

/* One received request; owned by the server, valid until fake_http_stop. */
typedef struct fake_http_request {
    char *method;                /* "POST" */
    char *path;                  /* "/services/T000/B000/XXXX" (no query) */
    char *query;                 /* "a=1&b=2" as received decoded; "" = none */
    fake_http_header_t *headers; /* every request header, in order */
    size_t header_count;
    char *body; /* NUL-terminated; body_len bytes */
    size_t body_len;
    bool body_truncated;  /* more than FAKE_HTTP_MAX_BODY was sent */
    uint64_t received_ns; /* CLOCK_MONOTONIC when the body was complete */
} fake_http_request_t;

/*
 * Starts a server on 127.0.0.1 and a kernel-chosen port.  Returns NULL
 * (with a message on stderr) when it cannot.
 */
fake_http_t *fake_http_start(void);

/* Stops the server, cutting scripted delays short, and frees everything
 * (recorded requests included).  NULL-safe. */
void fake_http_stop(fake_http_t *srv);

/* The port it listens on. */
unsigned short fake_http_port(const fake_http_t *srv);

/* "http://127.0.0.1:PORT" (borrowed, valid until fake_http_stop). */
const char *fake_http_url(const fake_http_t *srv);

/* Appends n responses (copied) to the script. */
void fake_http_script(fake_http_t *srv, const fake_http_response_t *r,
                      size_t n);

/* Appends one plain response (status, body) to the script. */
void fake_http_reply(fake_http_t *srv, unsigned status, const char *body);

/* Number of requests received so far (including dropped ones). */
size_t fake_http_request_count(fake_http_t *srv);

/* Request i (0 = first), or NULL when there is no such request yet. */
const fake_http_request_t *fake_http_request_at(fake_http_t *srv, size_t i);

/* Value of header name (case-insensitive) in req, or NULL. */
const char *fake_http_request_header(const fake_http_request_t *req,
                                     const char *name);

/*
 * Waits until at least n requests were received or timeout_ms passed.
 * Returns true when the count was reached.
 */
bool fake_http_wait_requests(fake_http_t *srv, size_t n, unsigned timeout_ms);

/*
 * A port on 127.0.0.1 with nothing listening (bound, then released), for
 * "connection refused" tests; 0 on failure.
 */
unsigned short fake_http_closed_port(void);

#endif
