/*
 * metrics.c - GET /metrics: the Prometheus text exposition format
 * (version 0.0.4) of the latest figures, for scraping.
 *
 * Gauges carry the figures of the newest check with status "ok" (KL, PSI,
 * accuracy, p-values, combined score, severity as a labelled 0/1 gauge,
 * the thresholds, the duration of that check's analysis), plus the
 * service state (store reachable, monitor running, a check in progress,
 * last and next check times).  Counters are read from the store (checks
 * by status, checks with drift, fine-tuning triggers by status), so they
 * are the same on every replica and survive restarts; the HTTP request
 * counters are this process's, and so are the process gauges (resident
 * memory, open file descriptors, malloc'd bytes in use: what the soak
 * test, tests/soak/soak.py, watches).  A figure that is not known (no check
 * yet, a signal without data) is left out rather than written as NaN.
 * Every family has HELP and TYPE lines; names follow the Prometheus
 * conventions (base units, _total on counters), as `promtool check
 * metrics` checks.
 */
#include <dirent.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"
#include "common/log.h"
#include "common/time.h"

/* Cap of the exposition text. */
#define EXPO_MAX (256 * 1024)

/* One family header. */
static void family(dm_buf_t *b, const char *name, const char *type,
                   const char *help)
{
    if (dm_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                      type) != DM_OK)
        dm_log_warn("metrics: exposition truncated");
}

static void sample(dm_buf_t *b, const char *name, const char *labels, double v)
{
    int rc;

    if (!isfinite(v))
        return;
    rc = dm_buf_printf(b, "%s%s %.17g\n", name, labels ? labels : "", v);
    if (rc != DM_OK)
        dm_log_warn("metrics: exposition truncated");
}

/* A gauge family with one unlabelled sample (skipped when not finite). */
static void gauge(dm_buf_t *b, const char *name, const char *help, double v)
{
    if (!isfinite(v))
        return;
    family(b, name, "gauge", help);
    sample(b, name, NULL, v);
}

/* Sum of the details' timings_ms (the check's phases up to stats). */
static double details_seconds(const char *details)
{
    json_t *d = details ? json_loads(details, 0, NULL) : NULL;
    json_t *t = json_object_get(d, "timings_ms"), *v;
    const char *k;
    double ms = 0;
    bool any = false;

    json_object_foreach(t, k, v)
    {
        if (json_is_number(v)) {
            ms += json_number_value(v);
            any = true;
        }
    }
    json_decref(d);
    return any ? ms / 1000.0 : (double)NAN;
}

static void record_gauge(const char *name, const char *help, double v, void *b)
{
    gauge(b, name, help, v);
}

/* The gauges of the newest ok check: its record's own (the field table of
 * store_checks.c names them) and the labelled families. */
static void latest_figures(dm_buf_t *b, const dm_store_check_t *c)
{
    char lab[64];

    gauge(b, "driftmon_latest_check_id",
          "Id of the newest ok check, whose figures the driftmon_latest "
          "gauges below report.",
          (double)c->id);
    dm_store_check_gauges(c, record_gauge, b);
    if (isfinite(c->baseline_accuracy) || isfinite(c->current_accuracy)) {
        family(b, "driftmon_accuracy", "gauge",
               "Share of positive feedback per window.");
        sample(b, "driftmon_accuracy", "{window=\"baseline\"}",
               c->baseline_accuracy);
        sample(b, "driftmon_accuracy", "{window=\"current\"}",
               c->current_accuracy);
    }
    family(b, "driftmon_severity", "gauge",
           "Severity of the newest ok check: 1 for its level, 0 otherwise.");
    for (int i = 0; i < DM_SEVERITIES; i++) {
        snprintf(lab, sizeof(lab), "{severity=\"%s\"}",
                 dm_severity_name((dm_severity_t)i));
        sample(b, "driftmon_severity", lab,
               c->severity && strcmp(c->severity,
                                     dm_severity_name((dm_severity_t)i)) == 0
                   ? 1
                   : 0);
    }
    family(b, "driftmon_signal_fired", "gauge",
           "1 when the signal fired in the newest ok check.");
    sample(b, "driftmon_signal_fired", "{signal=\"semantic\"}",
           c->semantic_fired || c->kl_fired);
    sample(b, "driftmon_signal_fired", "{signal=\"psi\"}", c->psi_fired);
    sample(b, "driftmon_signal_fired", "{signal=\"accuracy\"}",
           c->accuracy_fired);
    sample(b, "driftmon_signal_fired", "{signal=\"quality_floor\"}",
           c->quality_below_floor);
    family(b, "driftmon_threshold", "gauge",
           "Thresholds the newest ok check used.");
    sample(b, "driftmon_threshold", "{signal=\"semantic\"}",
           isfinite(c->semantic_threshold) ? c->semantic_threshold
                                           : c->kl_threshold);
    sample(b, "driftmon_threshold", "{signal=\"kl\"}", c->kl_threshold);
    sample(b, "driftmon_threshold", "{signal=\"psi\"}", c->psi_threshold);
    sample(b, "driftmon_threshold", "{signal=\"accuracy\"}",
           c->accuracy_min_drop);
    sample(b, "driftmon_threshold", "{signal=\"quality_floor\"}",
           c->accuracy_min);
    gauge(b, "driftmon_check_duration_seconds",
          "Duration of the newest ok check up to its statistics (aggregate, "
          "sample, embed, stats).",
          details_seconds(c->details));
}

/* Everything read from the store; false when the store failed. */
static bool store_part(dm_api_t *api, dm_buf_t *b, char *err, size_t errlen)
{
    dm_store_t *st = NULL;
    dm_store_summary_t sum;
    dm_store_check_t *list = NULL, *last = NULL;
    size_t n = 0, nlast = 0;
    uint64_t trig = 0, trig_ok = 0;
    char lab[64];
    int rc;

    memset(&sum, 0, sizeof(sum));
    rc = dm_api_store_get(api, &st, err, errlen);
    if (rc == DM_OK)
        rc = dm_store_check_summary(st, 0, &sum, err, errlen);
    if (rc == DM_OK)
        rc = dm_store_trigger_count(st, false, &trig, err, errlen);
    if (rc == DM_OK)
        rc = dm_store_trigger_count(st, true, &trig_ok, err, errlen);
    /* the gauges follow live checks only: an ad hoc check (a backfill)
     * says nothing about the traffic now */
    if (rc == DM_OK)
        rc = dm_store_check_list(st, 0, 1,
                                 DM_STORE_CHECK_DETAILS |
                                     DM_STORE_CHECK_OK_ONLY |
                                     DM_STORE_CHECK_LIVE_ONLY,
                                 &list, &n, err, errlen);
    if (rc == DM_OK)
        rc = dm_store_check_list(st, 0, 1, DM_STORE_CHECK_LIVE_ONLY, &last,
                                 &nlast, err, errlen);
    dm_api_store_put(api, st, rc != DM_OK);
    if (rc != DM_OK) {
        dm_store_check_list_free(list, n);
        dm_store_check_list_free(last, nlast);
        dm_store_summary_cleanup(&sum);
        return false;
    }
    family(b, "driftmon_checks_total", "counter",
           "Drift checks stored, by status.");
    for (int i = 0; i < DM_CHECK_STATUSES; i++) {
        snprintf(lab, sizeof(lab), "{status=\"%s\"}",
                 dm_check_status_name((dm_check_status_t)i));
        sample(b, "driftmon_checks_total", lab, (double)sum.by_status[i]);
    }
    family(b, "driftmon_drift_detected_checks_total", "counter",
           "Stored checks that detected drift.");
    sample(b, "driftmon_drift_detected_checks_total", NULL,
           (double)sum.detected);
    family(b, "driftmon_finetuning_triggers_total", "counter",
           "Fine-tuning trigger attempts, by outcome.");
    sample(b, "driftmon_finetuning_triggers_total", "{status=\"success\"}",
           (double)trig_ok);
    sample(b, "driftmon_finetuning_triggers_total", "{status=\"failed\"}",
           (double)(trig - trig_ok));
    if (nlast > 0)
        gauge(b, "driftmon_last_check_timestamp_seconds",
              "Time of the newest live check, any status (Unix seconds).",
              (double)last[0].checked_at_ms / 1000.0);
    for (size_t i = 0; i < n; i++) {
        if (list[i].status && strcmp(list[i].status, "ok") == 0) {
            latest_figures(b, &list[i]);
            break;
        }
    }
    dm_store_check_list_free(list, n);
    dm_store_check_list_free(last, nlast);
    dm_store_summary_cleanup(&sum);
    return true;
}

/* Resident memory (bytes) from /proc/self/statm; -1 when unknown. */
static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    int got;

    if (f == NULL)
        return -1;
    got = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    return got == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : -1;
}

/* Open file descriptors (entries of /proc/self/fd); -1 when unknown. */
static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    double n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* Process gauges; a figure the system does not give is left out. */
static void process_part(dm_buf_t *b)
{
    double v = resident_bytes();

    if (v >= 0)
        gauge(b, "process_resident_memory_bytes",
              "Resident memory size in bytes.", v);
    v = open_fds();
    if (v >= 0)
        gauge(b, "process_open_fds", "Number of open file descriptors.", v);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    {
        struct mallinfo2 mi = mallinfo2();

        /* in use: what a leak grows, unlike RSS, which also holds memory
         * malloc keeps after free() (and a leak first fills that) */
        gauge(b, "driftmon_heap_inuse_bytes",
              "Bytes allocated with malloc and not yet freed.",
              (double)(mi.uordblks + mi.hblkhd));
    }
#endif
}

void dm_api_h_prometheus(dm_api_req_t *req, dm_api_resp_t *resp)
{
    dm_api_t *api = req->api;
    dm_monitor_status_t ms;
    dm_buf_t b;
    char err[DM_ERRBUF_SIZE] = "";
    char lab[160];
    bool up;
    size_t len;

    dm_buf_init(&b, EXPO_MAX);
    dm_monitor_status(api->mon, &ms);
    snprintf(lab, sizeof(lab), "{version=\"%s\"}", api->version);
    family(&b, "driftmon_build_info", "gauge",
           "Always 1; the version as a label.");
    sample(&b, "driftmon_build_info", lab, 1);
    gauge(&b, "driftmon_monitor_running",
          "1 while the background monitor runs.", ms.running ? 1 : 0);
    gauge(&b, "driftmon_check_in_progress",
          "1 while a drift check runs in this process.", ms.checking ? 1 : 0);
    if (ms.next_check_ms)
        gauge(&b, "driftmon_next_check_timestamp_seconds",
              "When the next scheduled check is due (Unix seconds).",
              (double)ms.next_check_ms / 1000.0);
    family(&b, "driftmon_http_requests_total", "counter",
           "HTTP requests answered by this process.");
    sample(&b, "driftmon_http_requests_total", NULL,
           (double)atomic_load(&api->requests));
    family(&b, "driftmon_http_errors_total", "counter",
           "HTTP error responses of this process, by class.");
    sample(&b, "driftmon_http_errors_total", "{class=\"4xx\"}",
           (double)atomic_load(&api->errors_4xx));
    sample(&b, "driftmon_http_errors_total", "{class=\"5xx\"}",
           (double)atomic_load(&api->errors_5xx));
    process_part(&b);
    up = store_part(api, &b, err, sizeof(err));
    if (!up)
        dm_log_warn("metrics: store unavailable: %s", err);
    gauge(&b, "driftmon_store_up", "1 when the store answered this scrape.",
          up ? 1 : 0);
    len = b.len;
    resp->no_store = true;
    dm_api_resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
                     dm_buf_steal(&b), len);
}
