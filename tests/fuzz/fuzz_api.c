/*
 * fuzz_api.c - libFuzzer target: the request bodies and query strings of
 * every endpoint of driftmon's HTTP service (src/api/), end to end: the
 * real server (dm_api_start(), libmicrohttpd, the route table, token,
 * Content-Length / Content-Type / body-cap checks, the handlers) on a
 * loopback port, a monitor without scheduler, and a SQLite store in a
 * scratch directory.  Each input is one HTTP/1.1 request on a new
 * connection (Connection: close); the whole answer is read and checked
 * against the contract of docs/api.md, not only "no crash":
 *
 *   - a well-formed status line, Content-Type and X-Content-Type-Options
 *     on every answer, a body of exactly Content-Length bytes (none for
 *     HEAD);
 *   - the status is the one the request must get (405 for the wrong
 *     method, 401 without the token, 413 for a body over
 *     api.max_body_bytes, 415 for a body that is not application/json,
 *     400 for a body jansson cannot parse or of the wrong shape, 422 for
 *     an empty feedback array or window_days out of 1..365, 200 for a
 *     valid check request) or one of the endpoint's documented statuses;
 *     5xx only where it is the documented outcome here (502 from the
 *     manual trigger: the Learning Engine URL is a closed port); the
 *     store is healthy and nothing runs concurrently, so 500, 503 and
 *     409 are always violations;
 *   - every application/json body parses (jansson, duplicate keys
 *     rejected); every error is {"error": {"code", "message"}} with
 *     non-empty strings; 401 has WWW-Authenticate, 405 has Allow;
 *   - per endpoint: feedback 200 counts add up (received = rows sent,
 *     inserted + duplicates = received) and the feedback table grew by
 *     exactly "inserted" (and not at all after an error: a bad request
 *     changes nothing); a check has window_days as asked and status ok or
 *     insufficient_data; /drift/metrics count = length of checks;
 *     /health is healthy; /metrics is Prometheus text (every sample of a
 *     declared family, a finite value); the dashboard has no <script;
 *   - the API token (random for each process, see token below) never
 *     appears in an answer.
 * A violation prints the request and the answer and abort()s.  At exit
 * the target prints how many answers of each status class every
 * endpoint gave, to show that the run reached them all.
 *
 * Input layout.  Byte 0 selects the request:
 *   bits 0-2  endpoint: 0 POST /feedback, 1 POST /drift/check,
 *             2 POST /drift/trigger-finetuning, 3 GET /drift/metrics,
 *             4 GET /drift/summary, 5 GET /health, 6 GET /metrics, 7 GET /
 *   bit 3     POST: no valid token (bit 7 picks a wrong one over none)
 *   bit 4     the other method (POST for a GET endpoint, GET for a POST
 *             one): 405
 *   bit 5     POST: Content-Type text/plain; GET: HEAD instead
 *   bit 6     POST: the body chunked (Transfer-Encoding) instead of
 *             Content-Length
 * The rest is the body (POST) or the query string (GET: the bytes that
 * cannot stand in a request line - controls, space, non-ASCII - are
 * percent-encoded, all others, '%', '&', '=' and '+' included, are sent
 * as they are; at most QUERY_MAX bytes, so the request line stays within
 * libmicrohttpd's buffer).
 *
 * DESIGN
 *
 * State.  The store persists between inputs (checks and triggers read
 * what earlier feedback wrote, as in production), so a finding may need
 * the inputs before it: replay the run's corpus, or the crash input
 * alone (it starts from the base population).  A base population of
 * BASE_ROWS rows per window, dated relative to now, lets every check
 * reach the statistics whatever the date; the tables are emptied and the
 * base population re-inserted every WIPE_EVERY inputs and when the
 * feedback table passes FEEDBACK_MAX rows, so the store stays small and
 * executions fast.  Checks are cheap by configuration: the hashing
 * embedder at dimension 16, 20 permutations (the fewest alpha 0.05 allows), at
 * most 40 rows per window.
 *
 * Threads.  The server answers on its own threads; the harness thread
 * only waits for the answer, so the store is never written by the
 * harness while a request is in flight (the answer is sent after the
 * handler has finished and returned its store connection).
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/time.h"
#include "config/config.h"
#include "fuzz_util.h"
#include "monitor/monitor.h"
#include "store/store.h"

#define MAX_BODY     2048 /* api.max_body_bytes */
#define WINDOW_DAYS  7    /* monitoring.sliding_window_days */
#define QUERY_MAX    2048
#define REPLY_MAX    (32u * 1024 * 1024)
#define BASE_ROWS    24
#define WIPE_EVERY   256
#define FEEDBACK_MAX 2000

enum ep {
    EP_FEEDBACK,
    EP_CHECK,
    EP_TRIGGER,
    EP_CHECKS,
    EP_SUMMARY,
    EP_HEALTH,
    EP_PROM,
    EP_DASHBOARD,
    EP_COUNT
};

static const struct {
    const char *method, *path;
} eps[EP_COUNT] = {
    {"POST", "/feedback"},
    {"POST", "/drift/check"},
    {"POST", "/drift/trigger-finetuning"},
    {"GET", "/drift/metrics"},
    {"GET", "/drift/summary"},
    {"GET", "/health"},
    {"GET", "/metrics"},
    {"GET", "/"},
};

/* api.token: random for each process, and only ever compared by XOR
 * (here and in server.c), never by memcmp/strcmp/memmem, whose libFuzzer
 * hooks would hand it to the mutator: the fuzzer plays a client that does
 * not know it, so the token in an answer can only be a leak */
static char token[25], wrong_token[25];
static dm_config_t *cfg;
static dm_monitor_t *mon;
static dm_api_t *api;
static dm_store_t *hst; /* the harness's own connection */
static sqlite3 *raw;    /* for emptying the tables */
static unsigned port;
static unsigned long inputs;
/* answers by endpoint and status class (1xx..5xx), printed at exit */
static unsigned long seen[EP_COUNT][6];

/* ---- dm_buf_t appends that cannot fail here ---------------------- */

/* Request and answer buffers (both are capped well below this). */
#define BUF_MAX (8u << 20)

static void sb_add(dm_buf_t *b, const void *p, size_t n)
{
    if (dm_buf_append(b, p, n) != DM_OK)
        abort();
}

/* dm_buf_printf() that cannot fail here */
#define sb_printf(b, ...)                                                      \
    do {                                                                       \
        if (dm_buf_printf((b), __VA_ARGS__) != DM_OK)                          \
            abort();                                                           \
    } while (0)

/* ---- the store: base population, wipe ---------------------------- */

static void store_seed(void)
{
    static const struct {
        const char *q, *r, *intent;
    } texts[] = {
        {"How do I reverse a list in Python?", "Use reversed() or [::-1].",
         "code"},
        {"Why does my loop never end?", "The condition never becomes false.",
         "debug"},
        {"Explain the proof that sqrt 2 is irrational.",
         "Assume p/q in lowest terms; both turn out even.", "reasoning"},
        {"What is the capital of France?", "Paris.", "general"},
        {"Where is the config reference?", "See docs/config.md.",
         "documentation"},
        {"Segfault in strlen, what now?", "Check the pointer for NULL first.",
         "debug"},
    };
    dm_feedback_row_t rows[2 * BASE_ROWS];
    char ids[2 * BASE_ROWS][32], err[DM_ERRBUF_SIZE];
    int64_t now = dm_time_now_ms();
    size_t n = sizeof(texts) / sizeof(texts[0]);

    for (size_t i = 0; i < 2 * BASE_ROWS; i++) {
        bool cur = i >= BASE_ROWS;
        /* the current window leans towards debugging, and worse */
        size_t t = cur ? (i % 3 == 0 ? 1 : i % n) : i % n;

        snprintf(ids[i], sizeof(ids[i]), "base-%zu", i);
        rows[i].id = ids[i];
        rows[i].query = texts[t].q;
        rows[i].response = texts[t].r;
        rows[i].intent = texts[t].intent;
        rows[i].positive = cur ? i % 3 != 0 : i % 5 != 0;
        rows[i].created_at_ms = now -
                                (cur ? 1 : WINDOW_DAYS + 1) * DM_MS_PER_DAY +
                                (int64_t)(i % BASE_ROWS) * 60000;
    }
    if (dm_store_feedback_insert(hst, rows, 2 * BASE_ROWS, NULL, err,
                                 sizeof(err)) != DM_OK) {
        fprintf(stderr, "fuzz_api: seeding the store: %s\n", err);
        abort();
    }
}

static void store_wipe(void)
{
    char *msg = NULL;

    if (sqlite3_exec(raw,
                     "DELETE FROM finetuning_triggers; "
                     "DELETE FROM drift_metrics; "
                     "DELETE FROM embedding_cache; DELETE FROM feedback;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "fuzz_api: emptying the store: %s\n", msg);
        abort();
    }
    store_seed();
}

static uint64_t feedback_count(void)
{
    char err[DM_ERRBUF_SIZE];
    uint64_t n = 0;

    if (dm_store_feedback_count(hst, &n, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "fuzz_api: counting feedback: %s\n", err);
        abort();
    }
    return n;
}

/* ---- set-up ------------------------------------------------------ */

static void make_token(void)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[12];

    if (getentropy(rnd, sizeof(rnd)) != 0) {
        perror("fuzz_api: getentropy");
        abort();
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        token[2 * i] = hex[rnd[i] >> 4];
        token[2 * i + 1] = hex[rnd[i] & 15];
    }
    memcpy(wrong_token, token, sizeof(token));
    wrong_token[0] = 'x'; /* not a hex digit */
}

/* Whether the token occurs in the n bytes at p (XOR compare, see token). */
static bool has_token(const char *p, size_t n)
{
    size_t t = sizeof(token) - 1;

    for (size_t i = 0; p && i + t <= n; i++) {
        unsigned char d = 0;

        for (size_t k = 0; k < t; k++)
            d |= (unsigned char)(p[i + k] ^ token[k]);
        if (d == 0)
            return true;
    }
    return false;
}

static void print_stats(void)
{
    static const char cls[6] = {'?', '1', '2', '3', '4', '5'};

    fprintf(stderr, "fuzz_api: %lu inputs; answers by status class:\n", inputs);
    for (int e = 0; e < EP_COUNT; e++) {
        fprintf(stderr, "  %-4s %-26s", eps[e].method, eps[e].path);
        for (int c = 1; c < 6; c++)
            fprintf(stderr, " %cxx:%lu", cls[c], seen[e][c]);
        fprintf(stderr, "\n");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = dm_fuzz_tmpdir();
    char yaml[4096], err[DM_ERRBUF_SIZE];
    dm_monitor_opts_t mo;
    dm_api_opts_t ao;
    int n;

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    make_token();
    dm_log_set_level(getenv("DM_FUZZ_LOG") ? DM_LOG_INFO : DM_LOG_OFF);
    n = snprintf(yaml, sizeof(yaml),
                 "monitoring:\n"
                 "  sliding_window_days: %d\n"
                 "  check_interval_hours: 1000\n"
                 "  min_samples: 5\n"
                 "  max_samples_per_window: 40\n"
                 "embeddings:\n"
                 "  model: \"hashing\"\n"
                 "  dimension: 16\n"
                 "  bins: 8\n"
                 "  threads: 1\n"
                 "significance:\n"
                 "  permutations: 20\n"
                 "intents:\n"
                 "  min_samples_per_intent: 2\n"
                 "alerts:\n"
                 "  enabled: false\n"
                 "  slack:\n"
                 "    enabled: false\n"
                 "    max_retries: 0\n"
                 "    timeout_seconds: 1\n"
                 "fine_tuning:\n"
                 "  auto_trigger: false\n"
                 "  learning_engine_url: \"http://127.0.0.1:9\"\n"
                 "  timeout_seconds: 1\n"
                 "  max_retries: 0\n"
                 "database:\n"
                 "  backend: sqlite\n"
                 "  path: \"%s/api.db\"\n"
                 "api:\n"
                 "  host: \"127.0.0.1\"\n"
                 "  port: 8004\n"
                 "  token: \"%s\"\n"
                 "  max_body_bytes: %d\n",
                 WINDOW_DAYS, dir, token, MAX_BODY);
    if (n < 0 || (size_t)n >= sizeof(yaml) ||
        dm_config_load_buffer("fuzz-api.yaml", yaml, (size_t)n, &cfg, err,
                              sizeof(err)) != DM_OK) {
        fprintf(stderr, "fuzz_api: config: %s\n", err);
        abort();
    }
    cfg->api.port = 0; /* the kernel picks a free one (bounds say 1..) */
    dm_monitor_opts_init(&mo);
    mo.http_budget_ms = 2000;
    dm_api_opts_init(&ao);
    ao.stop_grace_ms = 5000;
    if (dm_monitor_new(cfg, &mo, &mon, err, sizeof(err)) != DM_OK ||
        dm_api_new(cfg, mon, &ao, &api, err, sizeof(err)) != DM_OK ||
        dm_api_start(api, err, sizeof(err)) != DM_OK ||
        dm_store_open(cfg, &hst, err, sizeof(err)) != DM_OK ||
        dm_store_migrate(hst, NULL, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "fuzz_api: set-up: %s\n", err);
        abort();
    }
    port = dm_api_port(api);
    if (sqlite3_open(cfg->database.path, &raw) != SQLITE_OK) {
        fprintf(stderr, "fuzz_api: cannot open %s\n", cfg->database.path);
        abort();
    }
    sqlite3_busy_timeout(raw, 10000);
    store_seed();
    atexit(print_stats);
    return 0;
}

/* ---- one exchange ------------------------------------------------ */

typedef struct reply {
    char *raw;
    size_t raw_len;
    unsigned status;
    const char *body;
    size_t body_len;
    char ctype[128];
    long clen; /* -1: no Content-Length */
    bool nosniff, allow, www_auth;
} reply_t;

static const dm_buf_t *cur_req; /* for the violation report */
static const reply_t *cur_rep;

static void violation(const char *fmt, ...) DM_PRINTF(1, 2);
static void violation(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz_api: CONTRACT VIOLATION: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n--- request (%zu bytes) ---\n%.*s\n",
            cur_req ? cur_req->len : 0, cur_req ? (int)cur_req->len : 0,
            cur_req ? dm_buf_str(cur_req) : "");
    fprintf(stderr, "--- answer (%zu bytes) ---\n%.*s\n---\n",
            cur_rep ? cur_rep->raw_len : 0,
            cur_rep ? (int)(cur_rep->raw_len < 4096 ? cur_rep->raw_len : 4096)
                    : 0,
            cur_rep && cur_rep->raw ? cur_rep->raw : "");
    abort();
}

/* Sends req on a new loopback connection and reads until the server
 * closes it. */
static void exchange(const dm_buf_t *req, reply_t *rep)
{
    struct sockaddr_in sa;
    struct timeval tv = {.tv_sec = 30, .tv_usec = 0};
    size_t off = 0;
    dm_buf_t in;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    dm_buf_init(&in, BUF_MAX);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* a backstop only: libFuzzer's -timeout reports a hang first */
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
        perror("fuzz_api: socket");
        abort();
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        /* libFuzzer's timer signal may interrupt connect(), which then
         * completes in the background */
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);

        if (errno != EINTR)
            soerr = errno;
        while (soerr == 0 && poll(&pfd, 1, 30000) < 0 && errno == EINTR)
            ;
        if (soerr == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            soerr = errno;
        if (soerr != 0) {
            fprintf(stderr, "fuzz_api: connect: %s\n", strerror(soerr));
            abort();
        }
    }
    /* The server may answer (413, 401, ...) and close before reading all
     * of the body: a failed send is not an error, the answer counts. */
    while (off < req->len) {
        ssize_t w = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    for (;;) {
        char buf[65536];
        ssize_t r = recv(fd, buf, sizeof(buf), 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            cur_rep = NULL;
            violation("no complete answer within 30 s");
        }
        if (r <= 0)
            break;
        if (in.len + (size_t)r > REPLY_MAX)
            violation("answer larger than %u bytes", REPLY_MAX);
        sb_add(&in, buf, (size_t)r);
    }
    close(fd);
    memset(rep, 0, sizeof(*rep));
    rep->raw_len = in.len;
    rep->raw = in.len ? dm_buf_steal(&in) : NULL;
    rep->clen = -1;
}

/* Parses the status line and the headers we check. */
static void reply_parse(reply_t *rep)
{
    const char *p = rep->raw, *end, *hdr_end;

    cur_rep = rep;
    if (p == NULL || rep->raw_len < 17 || memcmp(p, "HTTP/1.1 ", 9) != 0 ||
        p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9' || p[12] != ' ')
        violation("no well-formed HTTP/1.1 status line");
    rep->status =
        (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    hdr_end = memmem(p, rep->raw_len, "\r\n\r\n", 4);
    if (hdr_end == NULL)
        violation("the header does not end");
    end = memmem(p, (size_t)(hdr_end - p) + 2, "\r\n", 2); /* status line */
    while (end < hdr_end) {
        const char *line = end + 2;
        const char *eol = memmem(line, (size_t)(hdr_end + 2 - line), "\r\n", 2);
        size_t n = (size_t)(eol - line);
        const char *colon = memchr(line, ':', n);
        size_t klen;
        const char *v;
        size_t vlen;

        if (colon == NULL)
            violation("a header line without a colon");
        klen = (size_t)(colon - line);
        v = colon + 1;
        while (v < eol && *v == ' ')
            v++;
        vlen = (size_t)(eol - v);
#define IS(name)                                                               \
    (klen == sizeof(name) - 1 && strncasecmp(line, name, klen) == 0)
        if (IS("Content-Type"))
            snprintf(rep->ctype, sizeof(rep->ctype), "%.*s", (int)vlen, v);
        else if (IS("Content-Length"))
            rep->clen = strtol(v, NULL, 10);
        else if (IS("X-Content-Type-Options"))
            rep->nosniff = vlen == 7 && memcmp(v, "nosniff", 7) == 0;
        else if (IS("Allow"))
            rep->allow = vlen > 0;
        else if (IS("WWW-Authenticate"))
            rep->www_auth = vlen > 6 && strncasecmp(v, "Bearer", 6) == 0;
#undef IS
        end = eol;
    }
    rep->body = hdr_end + 4;
    rep->body_len = rep->raw_len - (size_t)(rep->body - rep->raw);
}

/* ---- the contract ------------------------------------------------ */

static bool is_json(const reply_t *rep)
{
    return strncmp(rep->ctype, "application/json", 16) == 0;
}

static bool status_in(unsigned s, const unsigned *set)
{
    for (; *set; set++)
        if (*set == s)
            return true;
    return false;
}

static const char *str_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_int_t int_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        violation("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* {"error": {"code": "...", "message": "..."}}; returns the code. */
static const char *error_code(json_t *j)
{
    json_t *e = json_object_get(j, "error");
    const char *code = str_field(e, "code"), *msg = str_field(e, "message");

    if (!json_is_object(e) || code == NULL || msg == NULL || !code[0] ||
        !msg[0])
        violation("an error answer without {\"error\": {code, message}}");
    return code;
}

/* Prometheus text format 0.0.4, as far as metrics.c writes it. */
static void check_prometheus(const char *p, size_t len)
{
    const char *end = p + len;
    char fam[128] = "";

    if (len == 0 || p[len - 1] != '\n')
        violation("/metrics: empty or not newline-terminated");
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(eol - p), i = 0;
        char num[64], *numend;
        double v;

        if (n > 7 && memcmp(p, "# TYPE ", 7) == 0) {
            const char *sp = memchr(p + 7, ' ', n - 7);

            if (sp == NULL || (size_t)(sp - p - 7) >= sizeof(fam))
                violation("/metrics: bad TYPE line");
            snprintf(fam, sizeof(fam), "%.*s", (int)(sp - p - 7), p + 7);
        } else if (n > 7 && memcmp(p, "# HELP ", 7) == 0) {
            /* free text */
        } else {
            size_t fl = strlen(fam);
            const char *sp;

            while (i < n && (p[i] == '_' || p[i] == ':' ||
                             (p[i] >= 'a' && p[i] <= 'z') ||
                             (p[i] >= 'A' && p[i] <= 'Z') ||
                             (i > 0 && p[i] >= '0' && p[i] <= '9')))
                i++;
            /* a sample of the family last declared (counters may carry
             * the suffix _total in the family name itself) */
            if (i == 0 || fl == 0 || i != fl || memcmp(p, fam, fl) != 0)
                violation("/metrics: sample '%.*s' outside its family '%s'",
                          (int)n, p, fam);
            if (i < n && p[i] == '{') {
                const char *close = memchr(p + i, '}', n - i);

                if (close == NULL)
                    violation("/metrics: unterminated labels");
                i = (size_t)(close - p) + 1;
            }
            sp = p + i;
            if (i >= n || *sp != ' ' || n - i - 1 == 0 ||
                n - i - 1 >= sizeof(num))
                violation("/metrics: no value in '%.*s'", (int)n, p);
            snprintf(num, sizeof(num), "%.*s", (int)(n - i - 1), sp + 1);
            v = strtod(num, &numend);
            if (*numend != '\0' || !isfinite(v))
                violation("/metrics: value '%s' is not a finite number", num);
        }
        p = eol + 1;
    }
}

/* ---- one input ------------------------------------------------- */

/* The request an input stands for (see the layout at the top). */
typedef struct input {
    enum ep e;
    bool post;         /* a POST endpoint */
    bool other_method; /* sent with the method it does not take */
    bool no_token, bad_token, bad_ct, head, chunked;
    const char *method;
    const char *rest; /* body or query string */
    size_t rest_len;
} input_t;

static void input_decode(const uint8_t *data, size_t size, input_t *in)
{
    unsigned sel = data[0];

    in->e = (enum ep)(sel & 7);
    in->post = strcmp(eps[in->e].method, "POST") == 0;
    in->other_method = (sel & 0x10) != 0;
    in->no_token = in->post && (sel & 0x08) != 0;
    in->bad_token = in->no_token && (sel & 0x80) != 0;
    in->bad_ct = in->post && (sel & 0x20) != 0;
    in->head = !in->post && !in->other_method && (sel & 0x20) != 0;
    in->chunked = in->post && (sel & 0x40) != 0;
    if (in->other_method)
        in->method = in->post ? "GET" : "POST";
    else
        in->method = in->head ? "HEAD" : eps[in->e].method;
    in->rest = (const char *)data + 1;
    in->rest_len = size - 1;
}

static void request_build(const input_t *in, dm_buf_t *req)
{
    static const char hex[] = "0123456789ABCDEF";

    sb_printf(req, "%s %s", in->method, eps[in->e].path);
    if (!in->post && in->rest_len > 0) {
        size_t n = in->rest_len < QUERY_MAX ? in->rest_len : QUERY_MAX;

        sb_add(req, "?", 1);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)in->rest[i];
            char pct[3] = {'%', hex[c >> 4], hex[c & 15]};

            if (c <= 0x20 || c >= 0x7f)
                sb_add(req, pct, 3);
            else
                sb_add(req, &in->rest[i], 1);
        }
    }
    sb_printf(req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if (in->post == in->other_method) { /* a GET */
        sb_printf(req, "\r\n");
        return;
    }
    /* a POST, also to a GET endpoint, as a client would send it */
    if (!in->no_token)
        sb_printf(req, "Authorization: Bearer %s\r\n", token);
    else if (in->bad_token)
        sb_printf(req, "Authorization: Bearer %s\r\n", wrong_token);
    sb_printf(req, "Content-Type: %s\r\n",
              in->bad_ct ? "text/plain" : "application/json");
    if (!in->chunked) {
        sb_printf(req, "Content-Length: %zu\r\n\r\n", in->rest_len);
        sb_add(req, in->rest, in->rest_len);
        return;
    }
    sb_printf(req, "Transfer-Encoding: chunked\r\n\r\n");
    if (in->rest_len > 0) {
        sb_printf(req, "%zx\r\n", in->rest_len);
        sb_add(req, in->rest, in->rest_len);
        sb_printf(req, "\r\n");
    }
    sb_printf(req, "0\r\n\r\n");
}

/* The statuses a handler may answer with here (0-ended). */
static const unsigned st_feedback[] = {200, 400, 422, 0};
static const unsigned st_query[] = {200, 400, 422, 0};
/* GET /drift/metrics: details=1 holds feedback text, so without the
 * right token it is 401 (issue 12) */
static const unsigned st_checks[] = {200, 400, 401, 422, 0};
static const unsigned st_4xx[] = {400, 422, 0};
static const unsigned st_ok[] = {200, 0};

/*
 * The status the request must get, or 0 when any of *allowed will do.
 * *sent is the body as jansson reads it (NULL when it does not parse or
 * the server answers before reading it).
 */
static unsigned expect(const input_t *in, json_t **sent,
                       const unsigned **allowed)
{
    json_t *b;
    json_error_t je;

    *sent = NULL;
    *allowed = st_ok;
    if (in->other_method)
        return 405;
    if (!in->post) {
        if (in->e == EP_CHECKS)
            *allowed = st_checks;
        else if (in->e == EP_SUMMARY)
            *allowed = st_query;
        return 0;
    }
    if (in->no_token)
        return 401;
    if (in->chunked && in->bad_ct)
        return 415; /* a body is announced: its type is checked first */
    if (in->rest_len > MAX_BODY)
        return 413;
    if (!in->chunked && in->bad_ct && in->rest_len > 0)
        return 415;
    b = *sent = in->rest_len ? json_loadb(in->rest, in->rest_len,
                                          JSON_REJECT_DUPLICATES, &je)
                             : NULL;
    switch (in->e) {
    case EP_FEEDBACK:
        *allowed = st_feedback;
        if (!json_is_array(b))
            return 400;
        return json_array_size(b) == 0 ? 422 : 0;
    case EP_CHECK: {
        json_t *wd = json_object_get(b, "window_days");

        if (in->rest_len == 0 ||
            (json_is_object(b) && json_object_size(b) == 0))
            return 200;
        if (!json_is_object(b))
            return 400;
        if (json_object_size(b) > 1) {
            *allowed = st_4xx; /* 422 when window_days comes first */
            return 0;
        }
        if (!json_is_integer(wd))
            return 400;
        return json_integer_value(wd) >= 1 && json_integer_value(wd) <= 365
                   ? 200
                   : 422;
    }
    default: /* the trigger: its Learning Engine is a closed port */
        if (in->rest_len == 0 ||
            (json_is_object(b) && json_object_size(b) == 0))
            return 502;
        return 400;
    }
}

/* What every answer must satisfy; returns the JSON body (or NULL). */
static json_t *check_answer(const input_t *in, const reply_t *rep,
                            unsigned want, const unsigned *allowed)
{
    json_error_t je;
    json_t *j;

    if (want ? rep->status != want : !status_in(rep->status, allowed))
        violation("status %u, expected %u (0: a documented one)", rep->status,
                  want);
    if (rep->ctype[0] == '\0' || !rep->nosniff)
        violation("no Content-Type or no X-Content-Type-Options: nosniff");
    if (in->head ? rep->body_len != 0
                 : rep->clen < 0 || (size_t)rep->clen != rep->body_len)
        violation("body of %zu bytes, Content-Length %ld", rep->body_len,
                  rep->clen);
    if (has_token(rep->raw, rep->raw_len))
        violation("the API token appears in the answer");
    if (rep->status == 401 && !rep->www_auth)
        violation("401 without WWW-Authenticate: Bearer");
    if (rep->status == 405 && !rep->allow)
        violation("405 without Allow");
    if ((rep->status >= 400 || (in->e != EP_PROM && in->e != EP_DASHBOARD)) &&
        !is_json(rep))
        violation("Content-Type '%s' where JSON is due", rep->ctype);
    if (in->head || !is_json(rep))
        return NULL;
    j = json_loadb(rep->body, rep->body_len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        violation("the answer is not JSON: %s", je.text);
    if (rep->status >= 400)
        (void)error_code(j);
    return j;
}

/* Only a successful POST /feedback writes feedback, exactly the rows it
 * reports (a bad request changes nothing). */
static void check_feedback(const input_t *in, const reply_t *rep, json_t *j,
                           json_t *sent, uint64_t before)
{
    uint64_t after = feedback_count();
    json_int_t rec, ins, dup;

    if (in->e != EP_FEEDBACK || rep->status != 200) {
        if (after != before)
            violation("a request answered %u changed the feedback table "
                      "(%llu -> %llu rows)",
                      rep->status, (unsigned long long)before,
                      (unsigned long long)after);
        return;
    }
    rec = int_field(j, "received");
    ins = int_field(j, "inserted");
    dup = int_field(j, "duplicates");
    if (!json_is_array(sent) || rec != (json_int_t)json_array_size(sent) ||
        ins < 0 || dup < 0 || ins + dup != rec)
        violation("feedback counts do not add up");
    if (after != before + (uint64_t)ins)
        violation("feedback: %lld inserted, the table grew by %lld",
                  (long long)ins, (long long)(after - before));
    if (after > FEEDBACK_MAX)
        store_wipe();
}

/* The shape of each endpoint's answer beyond the common contract. */
static void check_endpoint(const input_t *in, const reply_t *rep, json_t *j,
                           json_t *sent)
{
    const char *st = str_field(j, "status");

    switch (in->e) {
    case EP_CHECK:
        if (rep->status == 200) {
            json_t *wd = json_object_get(sent, "window_days");

            if (st == NULL ||
                (strcmp(st, "ok") != 0 && strcmp(st, "insufficient_data") != 0))
                violation("a check answered 200 with status '%s'",
                          st ? st : "(none)");
            if (int_field(j, "window_days") !=
                    (wd ? json_integer_value(wd) : WINDOW_DAYS) ||
                int_field(j, "id") <= 0)
                violation("the check's window_days or id is wrong");
        }
        break;
    case EP_TRIGGER:
        if (rep->status == 502) {
            json_t *t = json_object_get(j, "trigger");

            st = str_field(t, "status");
            if (strcmp(error_code(j), "learning_engine_failed") != 0 ||
                st == NULL || strcmp(st, "failed") != 0 ||
                int_field(t, "trigger_id") <= 0)
                violation("a failed trigger without its stored attempt");
        }
        break;
    case EP_CHECKS:
        if (rep->status == 200 && j) {
            json_t *c = json_object_get(j, "checks");

            if (!json_is_array(c) ||
                int_field(j, "count") != (json_int_t)json_array_size(c) ||
                int_field(j, "days") < 1 || int_field(j, "days") > 3650)
                violation("/drift/metrics: count, checks or days wrong");
        }
        break;
    case EP_SUMMARY:
        if (rep->status == 200 && j &&
            (int_field(j, "total_checks") < 0 ||
             !json_is_object(json_object_get(j, "by_severity")) ||
             !json_is_object(json_object_get(j, "finetuning"))))
            violation("/drift/summary: missing fields");
        break;
    case EP_HEALTH:
        if (rep->status == 200 && j && (st == NULL || strcmp(st, "healthy")))
            violation("/health is not healthy");
        break;
    case EP_PROM:
        if (rep->status == 200 && !in->head) {
            if (strncmp(rep->ctype, "text/plain", 10) != 0)
                violation("/metrics: Content-Type '%s'", rep->ctype);
            check_prometheus(rep->body, rep->body_len);
        }
        break;
    case EP_DASHBOARD:
        if (rep->status == 200 && !in->head &&
            (strncmp(rep->ctype, "text/html", 9) != 0 ||
             strcasestr(rep->body, "<script") != NULL))
            violation("the dashboard is not script-free HTML");
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in;
    dm_buf_t req;
    reply_t rep;
    json_t *j, *sent;
    const unsigned *allowed;
    unsigned want;
    uint64_t before;

    if (size < 1)
        return 0;
    if (++inputs % WIPE_EVERY == 0)
        store_wipe();
    input_decode(data, size, &in);
    dm_buf_init(&req, BUF_MAX);
    request_build(&in, &req);
    cur_req = &req;
    cur_rep = NULL;
    want = expect(&in, &sent, &allowed);
    before = feedback_count();
    exchange(&req, &rep);
    reply_parse(&rep);
    seen[in.e][rep.status / 100]++;
    j = check_answer(&in, &rep, want, allowed);
    check_feedback(&in, &rep, j, sent, before);
    if (!in.other_method)
        check_endpoint(&in, &rep, j, sent);
    json_decref(j);
    json_decref(sent);
    free(rep.raw);
    dm_buf_cleanup(&req);
    cur_req = NULL;
    cur_rep = NULL;
    return 0;
}
