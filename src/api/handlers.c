/*
 * handlers.c - the JSON endpoints: /health, /drift/check, /drift/metrics,
 * /drift/summary, /drift/trigger-finetuning and /feedback (docs/api.md).
 *
 * Each handler validates its input completely before touching the store,
 * so a bad request changes nothing: 400 for a body that is not JSON or
 * has the wrong shape or types, 422 for well-formed values out of bounds
 * (window_days outside 1..365, a feedback row that fails validation).
 * Store connections come from the server's pool (one per request, never
 * shared); a store failure is 503 store_unavailable.
 *
 * /drift/check and /drift/trigger-finetuning run on a job thread of their
 * own (server.c), so they must not call dm_api_req_query().
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "common/log.h"
#include "common/time.h"
#include "common/alloc.h"
#include "common/json.h"
#include "ingest/ingest.h"

/* ---- JSON helpers -------------------------------------------------- */

json_t *dm_api_time_json(int64_t ms)
{
    char b[DM_TIME_STRLEN];

    if (ms == 0)
        return json_null();
    return json_string(dm_time_format_s(ms, b, sizeof(b)));
}

static json_t *str_json(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *dm_api_trigger_json(const dm_store_trigger_t *t)
{
    json_t *m = t->metrics_json ? json_loads(t->metrics_json, 0, NULL) : NULL;

    return json_pack(
        "{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "id", (json_int_t)t->id,
        "timestamp", dm_api_time_json(t->triggered_at_ms), "job_id",
        str_json(t->job_id), "status", str_json(t->status), "error",
        str_json(t->error), "drift_metrics", m ? m : json_null(), "check_id",
        t->check_id ? json_integer(t->check_id) : json_null(), "forced",
        t->forced);
}

int dm_api_query_uint(dm_api_req_t *req, const char *key, unsigned long def,
                      unsigned long lo, unsigned long hi, unsigned long *out,
                      char *errbuf, size_t errlen)
{
    const char *v = dm_api_req_query(req, key);
    unsigned long x = 0;
    size_t i;

    *out = def;
    if (v == NULL)
        return DM_OK;
    for (i = 0; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 9)
            return dm_err_set(errbuf, errlen, DM_EPARSE,
                              "query parameter '%s' must be a whole number "
                              "from %lu to %lu",
                              key, lo, hi);
        x = x * 10 + (unsigned long)(v[i] - '0');
    }
    if (i == 0)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "query parameter '%s' is empty", key);
    if (x < lo || x > hi)
        return dm_err_set(errbuf, errlen, DM_ERANGE,
                          "query parameter '%s' must be from %lu to %lu (got "
                          "%lu)",
                          key, lo, hi, x);
    *out = x;
    return DM_OK;
}

/* 400 for DM_EPARSE, 422 for DM_ERANGE. */
static void query_error(dm_api_resp_t *resp, int rc, const char *msg)
{
    if (rc == DM_ERANGE)
        dm_api_resp_error(resp, 422, "invalid_parameter", "%s", msg);
    else
        dm_api_resp_error(resp, 400, "bad_request", "%s", msg);
}

/*
 * Parses an optional JSON object body into *out (NULL when the body is
 * empty).  On failure fills resp with 400 and returns false.
 */
static bool body_object(dm_api_req_t *req, dm_api_resp_t *resp, json_t **out)
{
    json_error_t je;
    json_t *j;

    *out = NULL;
    if (req->body.len == 0)
        return true;
    j = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        dm_api_resp_error(resp, 400, "bad_request",
                          "malformed JSON at line %d, column %d: %s", je.line,
                          je.column, je.text);
        return false;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        dm_api_resp_error(resp, 400, "bad_request",
                          "the body must be a JSON object");
        return false;
    }
    *out = j;
    return true;
}

/* ---- GET /health --------------------------------------------------- */

void dm_api_last_check_read(dm_store_t *st, dm_monitor_status_t *ms)
{
    dm_store_check_t *list = NULL;
    size_t n = 0;
    char err[DM_ERRBUF_SIZE];

    if (dm_store_check_list(st, 0, 1, DM_STORE_CHECK_LIVE_ONLY, &list, &n, err,
                            sizeof(err)) != DM_OK) {
        dm_log_warn("last check: %s", err);
        return;
    }
    ms->have_last = n > 0;
    if (n > 0) {
        ms->last_check_id = list[0].id;
        ms->last_check_ms = list[0].checked_at_ms;
        snprintf(ms->last_status, sizeof(ms->last_status), "%s",
                 list[0].status ? list[0].status : "");
    }
    dm_store_check_list_free(list, n);
}

void dm_api_h_health(dm_api_req_t *req, dm_api_resp_t *resp)
{
    dm_api_t *api = req->api;
    const dm_config_t *cfg = api->cfg;
    dm_monitor_status_t ms;
    dm_store_t *st = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    int rc;
    bool up, writable = false;
    const char *embedder_state;
    json_t *o;

    dm_monitor_status(api->mon, &ms);
    rc = dm_api_store_get(api, &st, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_ping(st, err, sizeof(err));
    up = rc == DM_OK;
    /* A read-only store still serves every GET: 200, but "degraded" and
     * the reason, since checks and feedback cannot be stored. */
    if (up) {
        writable = dm_store_writable(st, err, sizeof(err));
        dm_api_last_check_read(st, &ms);
    }
    dm_api_store_put(api, st, !up);
    if (!up)
        dm_log_warn("health: store unreachable: %s", err);
    /* "ready" (loaded and, when a check ran, embedding), "failed" (the
     * model did not load or embed: every check fails), "not_loaded" */
    embedder_state = ms.embedder_error[0] ? "failed"
                     : ms.embedder[0]     ? "ready"
                                          : "not_loaded";
    o = json_pack(
        "{s:s, s:s, s:{s:s, s:b, s:b, s:o}, s:{s:s, s:o, s:s, s:o, s:o, s:o}, "
        "s:{s:s, s:f, s:f, s:f, s:f, s:f, s:f}, s:{s:b, s:b, s:I, s:f, s:i}, "
        "s:o, s:o}",
        "status",
        up && writable && !ms.embedder_error[0] ? "healthy" : "degraded",
        "version", api->version, "store", "backend", cfg->database.backend,
        "reachable", up, "writable", writable, "error",
        up && writable ? json_null() : json_string(err), "embedder", "model",
        cfg->embeddings.model, "name",
        ms.embedder[0] ? json_string(ms.embedder) : json_null(), "state",
        embedder_state, "error",
        ms.embedder_error[0] ? json_string(ms.embedder_error) : json_null(),
        "precision",
        ms.embedder_precision[0] ? json_string(ms.embedder_precision)
                                 : json_null(),
        "precision_reason",
        ms.embedder_precision[0] ? json_string(ms.embedder_precision_reason)
                                 : json_null(),
        "thresholds", "semantic_test",
        dm_config_semantic_test_name(cfg->embeddings.test),
        "semantic_threshold", cfg->thresholds.semantic_threshold,
        "kl_threshold", cfg->thresholds.kl_threshold, "psi_threshold",
        cfg->thresholds.psi_threshold, "accuracy_min",
        cfg->thresholds.accuracy_min, "accuracy_min_drop",
        cfg->thresholds.accuracy_min_drop, "alpha", cfg->significance.alpha,
        "monitor", "running", ms.running, "checking", ms.checking, "checks_run",
        (json_int_t)ms.checks_run, "check_interval_hours",
        cfg->monitoring.check_interval_hours, "window_days",
        (int)cfg->monitoring.sliding_window_days, "last_check",
        ms.have_last
            ? json_pack("{s:I, s:o, s:s}", "id", (json_int_t)ms.last_check_id,
                        "timestamp", dm_api_time_json(ms.last_check_ms),
                        "status", ms.last_status)
            : json_null(),
        "next_check", dm_api_time_json(ms.next_check_ms));
    resp->no_store = true;
    dm_api_resp_json(resp, up ? 200 : 503, o);
}

/* ---- POST /drift/check --------------------------------------------- */

void dm_api_h_check(dm_api_req_t *req, dm_api_resp_t *resp)
{
    dm_monitor_check_opts_t co = {.manual = true};
    json_t *body = NULL, *res = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    const char *key;
    json_t *val;
    int rc;

    if (!body_object(req, resp, &body))
        return;
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "as_of") == 0) {
            if (!json_is_string(val) ||
                dm_time_parse(json_string_value(val), &co.as_of_ms) != DM_OK ||
                co.as_of_ms <= 0) {
                dm_api_resp_error(resp, 400, "bad_request",
                                  "as_of must be an RFC 3339 time such as "
                                  "2026-11-26T06:00:00Z");
                goto out;
            }
            if (co.as_of_ms > dm_time_now_ms() + DM_MONITOR_AS_OF_SLACK_MS) {
                dm_api_resp_error(resp, 422, "invalid_parameter",
                                  "as_of is in the future: a check can only "
                                  "look back");
                goto out;
            }
            continue;
        }
        if (strcmp(key, "window_days") != 0) {
            dm_api_resp_error(resp, 400, "bad_request",
                              "unknown field '%.64s' (allowed: window_days, "
                              "as_of)",
                              key);
            goto out;
        }
        if (!json_is_integer(val)) {
            dm_api_resp_error(resp, 400, "bad_request",
                              "window_days must be a whole number");
            goto out;
        }
        if (json_integer_value(val) < 1 || json_integer_value(val) > 365) {
            dm_api_resp_error(resp, 422, "invalid_parameter",
                              "window_days must be from 1 to 365 (got %lld)",
                              (long long)json_integer_value(val));
            goto out;
        }
        co.window_days = (uint32_t)json_integer_value(val);
    }
    rc = dm_monitor_check_json(req->api->mon, &co, &res, err, sizeof(err));
    atomic_fetch_add(&req->api->gen, 1);
    switch (rc) {
    case DM_OK:
        dm_api_resp_json(resp, 200, res);
        res = NULL;
        break;
    case DM_EBUSY:
        dm_api_resp_error(resp, 409, "check_running",
                          "a drift check is already running");
        break;
    case DM_ECANCELED:
        dm_api_resp_error(resp, 503, "shutting_down",
                          "the service is shutting down");
        break;
    default: {
        unsigned status = rc == DM_ESTORE ? 503 : 500;
        json_t *e =
            json_pack("{s:{s:s, s:s}}", "error", "code",
                      rc == DM_ESTORE ? "store_unavailable" : "check_failed",
                      "message", err[0] ? err : dm_strerror(rc));

        dm_log_warn("drift check failed: %s", err);
        if (e && res) {
            json_object_set_new(e, "check", res);
            res = NULL;
        }
        dm_api_resp_json(resp, status, e);
        break;
    }
    }
out:
    json_decref(res);
    json_decref(body);
}

/* ---- GET /drift/metrics -------------------------------------------- */

/*
 * The answer for a (days, limit, details) key is reused for up to
 * DM_API_CACHE_MS, and only while nothing was written through this
 * process (api->gen) and the monitor ran no check (checks_run is part of
 * the generation): a check run here is visible at once, one run by
 * another replica within DM_API_CACHE_MS.  A dashboard polling and a
 * scraper hammering cost one query per second instead of one per request.
 */
static uint64_t cache_gen(dm_api_t *api)
{
    dm_monitor_status_t ms;

    dm_monitor_status(api->mon, &ms);
    return atomic_load(&api->gen) * 1000003u + ms.checks_run;
}

/*
 * A cached answer for key made under generation gen, no older than
 * DM_API_CACHE_MS, or with stale of any age (still of generation gen, so
 * nothing was written through this process since).
 */
static bool cache_get(dm_api_t *api, const char *key, uint64_t gen, bool stale,
                      dm_api_resp_t *resp)
{
    uint64_t now = dm_time_mono_ns();
    bool hit = false;

    pthread_mutex_lock(&api->cache_mu);
    for (size_t i = 0; i < DM_API_CACHE_SLOTS && !hit; i++) {
        struct dm_api_cache *c = &api->cache[i];

        if (c->body && c->gen == gen && strcmp(c->key, key) == 0 &&
            (stale ||
             now - c->made_ns < (uint64_t)DM_API_CACHE_MS * 1000000u)) {
            char *copy = dm_malloc(c->len + 1);

            memcpy(copy, c->body, c->len + 1);
            dm_api_resp_text(resp, 200, "application/json", copy, c->len);
            hit = true;
        }
    }
    pthread_mutex_unlock(&api->cache_mu);
    return hit;
}

static void cache_put(dm_api_t *api, const char *key, uint64_t gen,
                      const dm_api_resp_t *resp)
{
    struct dm_api_cache *slot = NULL;

    pthread_mutex_lock(&api->cache_mu);
    for (size_t i = 0; i < DM_API_CACHE_SLOTS; i++) {
        struct dm_api_cache *c = &api->cache[i];

        if (strcmp(c->key, key) == 0 || c->body == NULL) {
            slot = c;
            break;
        }
        if (slot == NULL || c->made_ns < slot->made_ns)
            slot = c; /* the oldest is replaced */
    }
    free(slot->body);
    slot->body = dm_malloc(resp->len + 1);
    memcpy(slot->body, resp->body, resp->len);
    slot->body[resp->len] = '\0';
    slot->len = resp->len;
    slot->gen = gen;
    slot->made_ns = dm_time_mono_ns();
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    pthread_mutex_unlock(&api->cache_mu);
}

void dm_api_h_checks(dm_api_req_t *req, dm_api_resp_t *resp)
{
    unsigned long days, limit, details;
    dm_store_t *st = NULL;
    dm_store_check_t *list = NULL;
    size_t n = 0;
    char err[DM_ERRBUF_SIZE] = "";
    char key[64];
    uint64_t gen;
    json_t *arr;
    int rc;

    static const char *const params[] = {"days", "limit", "details", NULL};

    if ((rc = dm_api_query_known(req, params, err, sizeof(err))) != DM_OK ||
        (rc = dm_api_query_uint(req, "days", 30, 1, 3650, &days, err,
                                sizeof(err))) != DM_OK ||
        (rc = dm_api_query_uint(req, "limit", 1000, 1, 10000, &limit, err,
                                sizeof(err))) != DM_OK ||
        (rc = dm_api_query_uint(req, "details", 0, 0, 1, &details, err,
                                sizeof(err))) != DM_OK) {
        query_error(resp, rc, err);
        return;
    }
    if (details && !dm_api_authorized(req)) {
        /* details hold the explanation's example queries: user text */
        dm_api_resp_error(resp, 401, "unauthorized",
                          "details=1 returns feedback text: missing or "
                          "wrong bearer token");
        resp->www_auth = true;
        return;
    }
    snprintf(key, sizeof(key), "%lu/%lu/%lu", days, limit, details);
    gen = cache_gen(req->api);
    if (cache_get(req->api, key, gen, false, resp))
        return;
    /* one rebuild at a time: while it runs, the others answer with the
     * expired copy of the same generation, or wait for the new one */
    if (pthread_mutex_trylock(&req->api->build_mu) != 0) {
        if (cache_get(req->api, key, gen, true, resp))
            return;
        pthread_mutex_lock(&req->api->build_mu);
    }
    if (cache_get(req->api, key, gen, false, resp)) {
        pthread_mutex_unlock(&req->api->build_mu);
        return;
    }
    rc = dm_api_store_get(req->api, &st, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_check_list(
            st, dm_time_now_ms() - (int64_t)days * DM_MS_PER_DAY, limit,
            details ? DM_STORE_CHECK_DETAILS : 0, &list, &n, err, sizeof(err));
    dm_api_store_put(req->api, st, rc != DM_OK);
    if (rc != DM_OK) {
        pthread_mutex_unlock(&req->api->build_mu);
        dm_api_resp_store_error(resp, "drift metrics", err);
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr,
                              dm_store_check_to_json(&list[i], details != 0));
    dm_store_check_list_free(list, n);
    dm_api_resp_json(resp, 200,
                     json_pack("{s:i, s:I, s:o}", "days", (int)days, "count",
                               (json_int_t)n, "checks", arr));
    if (resp->status == 200)
        cache_put(req->api, key, gen, resp);
    pthread_mutex_unlock(&req->api->build_mu);
}

/* ---- GET /drift/checks/{id} ----------------------------------------- */

bool dm_api_check_fetch(dm_api_req_t *req, const char *id_text,
                        const char *what, dm_store_check_t *c,
                        dm_api_resp_t *resp)
{
    dm_store_t *st = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    bool found = false;
    int64_t id = 0;
    int rc;

    /* 1 to 18 digits: an id, never an overflow */
    for (size_t i = 0; id_text[i] || i == 0; i++) {
        if (id_text[i] < '0' || id_text[i] > '9' || i >= 18) {
            dm_api_resp_error(resp, 404, "not_found", "no such check");
            return false;
        }
        id = id * 10 + (id_text[i] - '0');
    }
    rc = dm_api_store_get(req->api, &st, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_check_get(st, id, c, &found, err, sizeof(err));
    dm_api_store_put(req->api, st, rc != DM_OK);
    if (rc != DM_OK) {
        dm_api_resp_store_error(resp, what, err);
        return false;
    }
    if (!found) {
        dm_api_resp_error(resp, 404, "not_found", "no check with id %lld",
                          (long long)id);
        return false;
    }
    return true;
}

void dm_api_h_check_get(dm_api_req_t *req, dm_api_resp_t *resp)
{
    dm_store_check_t c;
    json_t *o;

    if (!dm_api_check_fetch(req, req->path + strlen("/drift/checks/"),
                            "drift check", &c, resp))
        return;
    o = dm_store_check_to_json(&c, true);
    dm_store_check_cleanup(&c);
    dm_api_resp_json(resp, 200, o);
}

/* ---- GET /drift/summary -------------------------------------------- */

void dm_api_h_summary(dm_api_req_t *req, dm_api_resp_t *resp)
{
    const dm_config_t *cfg = req->api->cfg;
    unsigned long days;
    dm_store_t *st = NULL;
    dm_store_summary_t sum;
    dm_store_trigger_t *last = NULL;
    size_t n_last = 0;
    uint64_t n_trig = 0, n_ok = 0;
    int64_t last_ok_ms = 0, now = dm_time_now_ms();
    bool have_ok = false;
    char err[DM_ERRBUF_SIZE] = "";
    double remaining = 0;
    json_t *bs, *bst, *o;
    int rc;

    memset(&sum, 0, sizeof(sum));
    static const char *const params[] = {"days", NULL};

    rc = dm_api_query_known(req, params, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_api_query_uint(req, "days", 0, 1, 36500, &days, err,
                               sizeof(err));
    if (rc != DM_OK) {
        query_error(resp, rc, err);
        return;
    }
    rc = dm_api_store_get(req->api, &st, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_check_summary(
            st, days ? now - (int64_t)days * DM_MS_PER_DAY : 0, &sum, err,
            sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_trigger_count(st, false, &n_trig, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_trigger_count(st, true, &n_ok, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_trigger_last_success(st, &last_ok_ms, &have_ok, err,
                                           sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_trigger_list(st, 1, &last, &n_last, err, sizeof(err));
    dm_api_store_put(req->api, st, rc != DM_OK);
    if (rc != DM_OK) {
        dm_store_summary_cleanup(&sum);
        dm_api_resp_store_error(resp, "drift summary", err);
        return;
    }
    if (have_ok) {
        double since_h = (double)(now - last_ok_ms) / (double)DM_MS_PER_HOUR;

        remaining = cfg->fine_tuning.cooldown_hours - since_h;
        if (remaining < 0)
            remaining = 0;
    }
    bs = json_object();
    bst = json_object();
    for (int i = 0; i < DM_SEVERITIES; i++)
        json_object_set_new(bs, dm_severity_name((dm_severity_t)i),
                            json_integer((json_int_t)sum.by_severity[i]));
    for (int i = 0; i < DM_CHECK_STATUSES; i++)
        json_object_set_new(bst, dm_check_status_name((dm_check_status_t)i),
                            json_integer((json_int_t)sum.by_status[i]));
    o = json_pack(
        "{s:o, s:I, s:o, s:o, s:I, s:o, s:o, s:{s:I, s:I, s:o, s:o, s:f, "
        "s:f}}",
        "days", days ? json_integer((json_int_t)days) : json_null(),
        "total_checks", (json_int_t)sum.total, "by_severity", bs, "by_status",
        bst, "drift_detected", (json_int_t)sum.detected, "detection_rate",
        dm_json_real(sum.detection_rate), "latest_check",
        sum.have_latest ? dm_store_check_to_json(&sum.latest, false)
                        : json_null(),
        "finetuning", "total_triggers", (json_int_t)n_trig,
        "successful_triggers", (json_int_t)n_ok, "last_trigger",
        n_last ? dm_api_trigger_json(&last[0]) : json_null(), "last_success",
        have_ok ? dm_api_time_json(last_ok_ms) : json_null(), "cooldown_hours",
        cfg->fine_tuning.cooldown_hours, "cooldown_remaining_hours", remaining);
    dm_store_trigger_list_free(last, n_last);
    dm_store_summary_cleanup(&sum);
    dm_api_resp_json(resp, 200, o);
}

/* ---- POST /drift/trigger-finetuning -------------------------------- */

void dm_api_h_trigger(dm_api_req_t *req, dm_api_resp_t *resp)
{
    dm_monitor_trigger_result_t r;
    json_t *body = NULL, *rj = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    int rc;

    if (!body_object(req, resp, &body))
        return;
    if (body && json_object_size(body) > 0) {
        json_decref(body);
        dm_api_resp_error(resp, 400, "bad_request",
                          "this endpoint takes no fields (send {} or nothing)");
        return;
    }
    json_decref(body);
    memset(&r, 0, sizeof(r));
    rc = dm_monitor_trigger_manual(req->api->mon, &r, err, sizeof(err));
    atomic_fetch_add(&req->api->gen, 1);
    if (rc == DM_EBUSY) {
        dm_api_resp_error(resp, 409, "check_running",
                          "a drift check or trigger is running");
        return;
    }
    if (rc == DM_ECANCELED) {
        dm_api_resp_error(resp, 503, "shutting_down",
                          "the service is shutting down");
        return;
    }
    if (dm_monitor_trigger_result_to_json(&r, &rj) != DM_OK)
        rj = NULL;
    if (rc == DM_OK) {
        dm_api_resp_json(resp, 200, rj);
        return;
    }
    {
        unsigned status = rc == DM_ESTORE ? 503 : 502;
        json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code",
                              rc == DM_ESTORE ? "store_unavailable"
                                              : "learning_engine_failed",
                              "message", err[0] ? err : dm_strerror(rc));

        dm_log_warn("manual trigger failed: %s", err);
        if (e && rj) {
            json_object_set_new(e, "trigger", rj);
            rj = NULL;
        }
        json_decref(rj);
        dm_api_resp_json(resp, status, e);
    }
}

/* ---- POST /feedback ------------------------------------------------ */

void dm_api_h_feedback(dm_api_req_t *req, dm_api_resp_t *resp)
{
    /* all or nothing, and the first bad row is the answer */
    static const dm_ingest_policy_t policy = {.on_bad = DM_INGEST_STOP,
                                              .atomic = true};
    json_error_t je;
    json_t *arr = NULL;
    dm_ingest_source_t src;
    dm_ingest_stats_t stats;
    dm_store_t *st = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    int rc;

    if (req->body.len == 0) {
        dm_api_resp_error(resp, 400, "bad_request",
                          "the body must be a JSON array of feedback rows");
        return;
    }
    arr =
        json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &je);
    if (arr == NULL) {
        dm_api_resp_error(resp, 400, "bad_request",
                          "malformed JSON at line %d, column %d: %s", je.line,
                          je.column, je.text);
        return;
    }
    if (!json_is_array(arr)) {
        dm_api_resp_error(resp, 400, "bad_request",
                          "the body must be a JSON array of feedback rows");
        goto out;
    }
    if (json_array_size(arr) == 0) {
        dm_api_resp_error(resp, 422, "invalid_body", "no rows to ingest");
        goto out;
    }
    /* Every row is checked before the store is touched, so a bad row is
     * a 4xx whatever the state of the store. */
    dm_ingest_source_init_json(&src, arr);
    rc = dm_ingest_run(NULL, &src, &policy, NULL, err, sizeof(err));
    if (rc != DM_OK) {
        if (rc == DM_EPARSE)
            dm_api_resp_error(resp, 400, "bad_request", "%s", err);
        else
            dm_api_resp_error(resp, 422, "invalid_row", "%s", err);
        goto out;
    }
    rc = dm_api_store_get(req->api, &st, err, sizeof(err));
    if (rc == DM_OK) {
        dm_ingest_source_init_json(&src, arr);
        rc = dm_ingest_run(st, &src, &policy, &stats, err, sizeof(err));
    }
    dm_api_store_put(req->api, st, rc != DM_OK && rc != DM_EINVAL);
    atomic_fetch_add(&req->api->gen, 1);
    if (rc == DM_EINVAL) {
        dm_api_resp_error(resp, 422, "invalid_row", "%s", err);
        goto out;
    }
    if (rc != DM_OK) {
        dm_api_resp_store_error(resp, "feedback", err);
        goto out;
    }
    dm_api_resp_json(resp, 200,
                     json_pack("{s:I, s:I, s:I}", "received",
                               (json_int_t)stats.read, "inserted",
                               (json_int_t)stats.inserted, "duplicates",
                               (json_int_t)stats.duplicates));
out:
    json_decref(arr);
}
