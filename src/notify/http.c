/*
 * http.c - bounded JSON POSTs with retries, on libcurl.
 *
 * One call = a loop of attempts.  Each attempt uses a fresh easy handle
 * (so no state such as a stale Retry-After survives from one attempt to
 * the next), restricted to http/https, with no redirects and no signals.
 * An attempt ends in one of three verdicts: done (2xx), final failure
 * (other 4xx, 3xx, a bad URL, a TLS verification failure) or retryable
 * (network errors, timeouts, 5xx, 429).  Between retryable attempts the
 * loop sleeps an exponential backoff with equal jitter, or the server's
 * Retry-After after a 429/503.
 *
 * DESIGN: the time budget.  t0 is taken from the monotonic clock at
 * entry; every attempt's curl timeout is min(timeout_ms, budget left),
 * and a wait is only started when it ends before the budget does.  So a
 * call returns within budget_ms plus scheduling noise, whatever the peer
 * does.  The state of a call lives on its stack; the only shared state is
 * libcurl's global initialisation, done once under pthread_once.
 *
 * Secrets: the URL is given to curl and to nothing else.  Logs and error
 * messages use a label ("scheme://host[:port]" by default), and every
 * text that could echo the request (curl's error buffer, an error
 * response body) passes through dm_http_redact() first.
 */
#include "notify/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/time.h"

#define LABEL_MAX 256
/* Bytes of an error response body quoted in an error message. */
#define SNIPPET_MAX 160

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int curl_ready(void)
{
    pthread_once(&curl_once, curl_init_once);
    return curl_init_rc == CURLE_OK ? DM_OK : DM_EINTERNAL;
}

/* How each transport error is reported and whether a retry can help. */
static const struct {
    CURLcode code;
    dm_http_failure_t failure;
    bool retry;
} curl_codes[] = {
    {CURLE_OPERATION_TIMEDOUT, DM_HTTP_FAIL_TIMEOUT, true},
    {CURLE_COULDNT_CONNECT, DM_HTTP_FAIL_CONNECT, true},
    {CURLE_COULDNT_RESOLVE_HOST, DM_HTTP_FAIL_CONNECT, true},
    {CURLE_COULDNT_RESOLVE_PROXY, DM_HTTP_FAIL_CONNECT, true},
    {CURLE_URL_MALFORMAT, DM_HTTP_FAIL_INVALID, false},
    {CURLE_UNSUPPORTED_PROTOCOL, DM_HTTP_FAIL_INVALID, false},
    /* certificate problems are configuration, not weather */
    {CURLE_PEER_FAILED_VERIFICATION, DM_HTTP_FAIL_NETWORK, false},
    {CURLE_SSL_CACERT_BADFILE, DM_HTTP_FAIL_NETWORK, false},
    {CURLE_SSL_CERTPROBLEM, DM_HTTP_FAIL_NETWORK, false},
};

void dm_http_opts_init(dm_http_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->timeout_ms = 10000;
    opts->connect_timeout_ms = 5000;
    opts->max_retries = 3;
    opts->backoff_initial_ms = 500;
    opts->backoff_max_ms = 8000;
    opts->budget_ms = 30000;
    opts->max_response = DM_HTTP_DEFAULT_MAX_RESPONSE;
}

void dm_http_result_init(dm_http_result_t *res)
{
    memset(res, 0, sizeof(*res));
}

void dm_http_result_cleanup(dm_http_result_t *res)
{
    if (!res)
        return;
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
}

/* ---- labels and redaction --------------------------------------------- */

char *dm_http_url_label(const char *url, char *out, size_t n)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *port = NULL;

    if (n == 0)
        return out;
    snprintf(out, n, "<invalid url>");
    if (!url || curl_ready() != DM_OK)
        return out;
    u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) !=
        CURLUE_OK)
        port = NULL;
    snprintf(out, n, "%s://%s%s%s", scheme, host, port ? ":" : "",
             port ? port : "");
out:
    curl_free(port);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return out;
}

typedef struct span {
    const char *p;
    size_t len;
} span_t;

/*
 * The secret parts of url as written (not as curl normalises them, since
 * an echo shows what was sent): the URL, path+query, path, query and the
 * user info.  Longest first, so the longest match wins.
 */
static size_t url_secrets(const char *url, span_t out[5])
{
    size_t k = 0, ulen = strlen(url);
    const char *sep = strstr(url, "://");

    out[k++] = (span_t){url, ulen};
    if (sep) {
        const char *auth = sep + 3;
        const char *tail = auth + strcspn(auth, "/?#");
        const char *end = url + ulen;
        size_t plen = strcspn(tail, "?#");

        for (const char *a = tail; a > auth; a--) {
            if (a[-1] == '@') {
                out[k++] = (span_t){auth, (size_t)(a - 1 - auth)};
                break;
            }
        }
        if ((size_t)(end - tail) > 1)
            out[k++] = (span_t){tail, (size_t)(end - tail)};
        if (plen > 1 && plen < (size_t)(end - tail))
            out[k++] = (span_t){tail, plen};
        if (tail[plen] == '?' && tail[plen + 1] != '\0') {
            const char *q = tail + plen + 1;

            out[k++] = (span_t){q, strcspn(q, "#")};
        }
    }
    /* insertion sort by length, longest first; empty spans dropped */
    for (size_t i = 1; i < k; i++) {
        span_t s = out[i];
        size_t j = i;

        while (j > 0 && out[j - 1].len < s.len) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = s;
    }
    while (k > 0 && out[k - 1].len == 0)
        k--;
    return k;
}

char *dm_http_redact(const char *url, const char *text, char *out, size_t n)
{
    static const char mark[] = "<redacted>";
    span_t secrets[5];
    size_t nsec = 0, o = 0;

    if (n == 0)
        return out;
    if (url && url[0])
        nsec = url_secrets(url, secrets);
    for (const char *t = text ? text : ""; *t && o + 1 < n;) {
        size_t i;

        for (i = 0; i < nsec; i++)
            if (strncmp(t, secrets[i].p, secrets[i].len) == 0)
                break;
        if (i < nsec) {
            size_t m = sizeof(mark) - 1;

            if (m > n - 1 - o)
                m = n - 1 - o;
            memcpy(out + o, mark, m);
            o += m;
            t += secrets[i].len;
            continue;
        }
        out[o++] = ((unsigned char)*t < 0x20 || *t == 0x7f) ? ' ' : *t;
        t++;
    }
    out[o] = '\0';
    return out;
}

/* ---- one attempt ------------------------------------------------------- */

typedef struct attempt {
    CURLcode cc;
    long status;
    long retry_after_s;
    dm_buf_t body;
    bool truncated;
    char curl_err[CURL_ERROR_SIZE];
} attempt_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    attempt_t *a = ud;
    size_t n = size * nmemb, room = a->body.max - a->body.len;

    if (n > room) {
        /* keep what fits, then abort: a huge body is not worth reading */
        if (room && dm_buf_append(&a->body, p, room) != DM_OK)
            return 0;
        a->truncated = true;
        return 0;
    }
    if (dm_buf_append(&a->body, p, n) != DM_OK)
        return 0;
    return n;
}

static void attempt_run(const char *url, const char *body, size_t len,
                        struct curl_slist *headers, long timeout_ms,
                        long connect_ms, attempt_t *a)
{
    CURL *h = curl_easy_init();
    curl_off_t ra = 0;

    a->curl_err[0] = '\0';
    if (!h) {
        a->cc = CURLE_FAILED_INIT;
        return;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "driftmon");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->curl_err);
    a->cc = curl_easy_perform(h);
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status) != CURLE_OK)
        a->status = 0;
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        a->retry_after_s = ra > 86400 ? 86400 : (long)ra;
    curl_easy_cleanup(h);
}

typedef enum verdict { V_DONE, V_FINAL, V_RETRY } verdict_t;

/* Classifies an attempt and fills res->failure, res->error. */
static verdict_t attempt_classify(const char *url, const attempt_t *a,
                                  dm_http_result_t *res)
{
    bool response =
        a->cc == CURLE_OK || (a->cc == CURLE_WRITE_ERROR && a->truncated);

    res->error[0] = '\0';
    if (response) {
        if (a->status >= 200 && a->status < 300) {
            res->failure = DM_HTTP_FAIL_NONE;
            return V_DONE;
        }
        res->failure = DM_HTTP_FAIL_STATUS;
        snprintf(res->error, sizeof(res->error), "HTTP %ld", a->status);
        return (a->status == 429 || a->status >= 500) ? V_RETRY : V_FINAL;
    }
    {
        char raw[DM_ERRBUF_SIZE];
        dm_http_failure_t f = DM_HTTP_FAIL_NETWORK;
        bool retry = true;

        for (size_t i = 0; i < sizeof(curl_codes) / sizeof(curl_codes[0]);
             i++) {
            if (curl_codes[i].code == a->cc) {
                f = curl_codes[i].failure;
                retry = curl_codes[i].retry;
                break;
            }
        }
        snprintf(raw, sizeof(raw), "%s%s%s", curl_easy_strerror(a->cc),
                 a->curl_err[0] ? ": " : "", a->curl_err);
        dm_http_redact(url, raw, res->error, sizeof(res->error));
        res->failure = f;
        return retry ? V_RETRY : V_FINAL;
    }
}

/* ---- the call ---------------------------------------------------------- */

static int64_t ms_since(uint64_t t0)
{
    return (int64_t)((dm_time_mono_ns() - t0) / 1000000u);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts, rem;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
        ts = rem;
}

/* Backoff before retry k (1-based): equal jitter over the capped delay. */
static int64_t backoff_ms(const dm_http_opts_t *o, unsigned k, dm_rng_t *rng)
{
    int64_t d = o->backoff_initial_ms;

    for (unsigned i = 1; i < k && d < o->backoff_max_ms; i++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    if (d <= 0)
        return 0;
    return d / 2 + (int64_t)dm_rng_below(rng, (uint64_t)(d - d / 2) + 1);
}

static int opts_check(const dm_http_opts_t *o, char *errbuf, size_t errlen)
{
    if (o->timeout_ms <= 0 || o->connect_timeout_ms <= 0 || o->budget_ms <= 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "http: timeouts and budget must be > 0 ms");
    if (o->backoff_initial_ms < 0 || o->backoff_max_ms < 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "http: backoff must be >= 0 ms");
    if (o->max_response == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "http: max_response must be > 0");
    if (o->bearer_token) {
        for (const char *t = o->bearer_token; *t; t++)
            if ((unsigned char)*t < 0x20 || *t == 0x7f)
                return dm_err_set(errbuf, errlen, DM_EINVAL,
                                  "http: bearer token holds a control "
                                  "character");
    }
    return DM_OK;
}

/* Refuses anything but an http(s) URL with a host, without echoing it. */
static int url_check(const char *url, char *errbuf, size_t errlen)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL;
    int rc = DM_EINVAL;

    if (!url || !url[0])
        return dm_err_set(errbuf, errlen, DM_EINVAL, "no URL configured");
    u = curl_url();
    if (!u) {
        rc = DM_ENOMEM;
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
            CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        dm_err_set(errbuf, errlen, DM_EINVAL,
                   "URL is malformed (not shown: it may hold a secret)");
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        dm_err_set(errbuf, errlen, DM_EINVAL,
                   "URL scheme must be http or https");
        goto out;
    }
    rc = DM_OK;
out:
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

static struct curl_slist *headers_new(const char *token)
{
    struct curl_slist *l = NULL, *t;
    dm_buf_t auth;

    dm_buf_init(&auth, 8192 + 32);
    l = curl_slist_append(l, "Content-Type: application/json");
    if (l && (t = curl_slist_append(l, "Accept: application/json")))
        l = t;
    /* no "Expect: 100-continue" round trip for larger bodies */
    if (l && (t = curl_slist_append(l, "Expect:")))
        l = t;
    if (l && token && token[0]) {
        if (dm_buf_printf(&auth, "Authorization: Bearer %s", token) != DM_OK ||
            !(t = curl_slist_append(l, dm_buf_str(&auth)))) {
            curl_slist_free_all(l);
            l = NULL;
        }
    }
    dm_buf_cleanup(&auth);
    return l;
}

/*
 * Appends a quoted, redacted start of an error body (NUL-terminated) to
 * msg.  The whole body is scanned for secrets and only then cut, so a
 * secret that straddles the cut cannot leak in part.
 */
static void append_snippet(char *msg, size_t n, const char *url,
                           const char *body, size_t len)
{
    char clean[SNIPPET_MAX + 1];
    size_t used = strlen(msg);

    if (!body || len == 0 || used + 3 >= n)
        return;
    dm_http_redact(url, body, clean, sizeof(clean));
    for (size_t e = strlen(clean); e > 0 && clean[e - 1] == ' '; e--)
        clean[e - 1] = '\0';
    if (clean[0])
        snprintf(msg + used, n - used, ": %s%s", clean,
                 len > SNIPPET_MAX ? "..." : "");
}

int dm_http_post_json(const char *url, const char *body, size_t len,
                      const dm_http_opts_t *opts, dm_http_result_t *res,
                      char *errbuf, size_t errlen)
{
    struct curl_slist *headers = NULL;
    char label[LABEL_MAX], why_stop[160] = "";
    uint64_t t0 = dm_time_mono_ns();
    attempt_t a;
    dm_rng_t rng;
    int rc;

    dm_http_result_init(res);
    dm_buf_init(&a.body, opts ? opts->max_response : 1);
    if (errbuf && errlen)
        errbuf[0] = '\0';
    res->failure = DM_HTTP_FAIL_INVALID;
    if (!opts || (!body && len)) {
        rc = dm_err_set(errbuf, errlen, DM_EINVAL, "http: bad arguments");
        goto out;
    }
    if ((rc = curl_ready()) != DM_OK) {
        dm_err_set(errbuf, errlen, rc, "http: libcurl failed to initialise");
        goto out;
    }
    if ((rc = opts_check(opts, errbuf, errlen)) != DM_OK ||
        (rc = url_check(url, errbuf, errlen)) != DM_OK)
        goto out;
    if (opts->label && opts->label[0])
        snprintf(label, sizeof(label), "%s", opts->label);
    else
        dm_http_url_label(url, label, sizeof(label));
    if (!(headers = headers_new(opts->bearer_token))) {
        rc = dm_err_set(errbuf, errlen, DM_ENOMEM, "%s: out of memory", label);
        goto out;
    }
    dm_rng_seed(&rng, opts->jitter_seed
                          ? opts->jitter_seed
                          : dm_time_mono_ns() ^ (uint64_t)(uintptr_t)&rng);

    for (;;) {
        int64_t left = opts->budget_ms - ms_since(t0), wait;
        long tmo, ctmo;
        verdict_t v;

        if (left <= 0) {
            if (res->attempts == 0) {
                res->failure = DM_HTTP_FAIL_TIMEOUT;
                snprintf(res->error, sizeof(res->error), "no time left");
            }
            snprintf(why_stop, sizeof(why_stop), "time budget of %ld ms spent",
                     opts->budget_ms);
            break;
        }
        tmo = left < opts->timeout_ms ? (long)left : opts->timeout_ms;
        ctmo = tmo < opts->connect_timeout_ms ? tmo : opts->connect_timeout_ms;
        dm_buf_reset(&a.body);
        a.truncated = false;
        a.status = 0;
        a.retry_after_s = 0;
        res->attempts++;
        attempt_run(url, body ? body : "", len, headers, tmo, ctmo, &a);
        v = attempt_classify(url, &a, res);
        res->status = (a.cc == CURLE_OK || a.truncated) ? a.status : 0;
        res->retry_after_s = a.retry_after_s;
        res->body_truncated = a.truncated;
        free(res->body);
        res->body = NULL;
        res->body_len = 0;
        if (a.body.len || res->status) {
            res->body_len = a.body.len;
            res->body = dm_buf_steal(&a.body);
        }
        if (v != V_RETRY)
            break;
        if (res->attempts > opts->max_retries)
            break;
        if (a.retry_after_s > 0 && (a.status == 429 || a.status == 503))
            wait = (int64_t)a.retry_after_s * 1000;
        else
            wait = backoff_ms(opts, res->attempts, &rng);
        if (ms_since(t0) + wait >= opts->budget_ms) {
            snprintf(why_stop, sizeof(why_stop),
                     "no retry: a %lld ms wait does not fit the %ld ms "
                     "time budget",
                     (long long)wait, opts->budget_ms);
            break;
        }
        dm_log_warn("POST %s: attempt %u failed (%s); retrying in %lld ms",
                    label, res->attempts, res->error, (long long)wait);
        sleep_ms(wait);
    }

    res->elapsed_ms = ms_since(t0);
    if (res->failure == DM_HTTP_FAIL_NONE) {
        dm_log_debug("POST %s: HTTP %ld in %lld ms (%u attempt%s)", label,
                     res->status, (long long)res->elapsed_ms, res->attempts,
                     res->attempts == 1 ? "" : "s");
        rc = DM_OK;
        goto out;
    }
    rc = res->failure == DM_HTTP_FAIL_INVALID ? DM_EINVAL : DM_ENET;
    dm_err_set(errbuf, errlen, rc, "%s: %s after %u attempt%s in %lld ms%s%s",
               label, res->error[0] ? res->error : "no attempt made",
               res->attempts, res->attempts == 1 ? "" : "s",
               (long long)res->elapsed_ms, why_stop[0] ? "; " : "", why_stop);
    if (res->failure == DM_HTTP_FAIL_STATUS && errbuf)
        append_snippet(errbuf, errlen, url, res->body, res->body_len);
out:
    if (res->elapsed_ms == 0)
        res->elapsed_ms = ms_since(t0);
    curl_slist_free_all(headers);
    dm_buf_cleanup(&a.body);
    return rc;
}
