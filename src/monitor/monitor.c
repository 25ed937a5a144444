/*
 * monitor.c - the monitor object: its life cycle, the locks that keep
 * checks from overlapping, the entry points the CLI and the API call
 * (dm_monitor_check(), dm_monitor_status()) and the result's JSON and
 * text forms.  The check itself is check.c; alerts alert.c; the trigger
 * trigger.c; the background thread scheduler.c.
 *
 * DESIGN
 *
 * State.  A monitor is shared by the scheduler thread and any thread that
 * asks for a check or a trigger (an HTTP worker).  The config is read-only.
 * The embedder is opened by the first check and then shared (it
 * serialises its own BERT calls).  Each thread uses its own store
 * connection from m->pool (the caller's, or the monitor's own): the
 * scheduler keeps one, dm_monitor_check() and dm_monitor_trigger_manual()
 * get one per call and put it back (closed when the call failed, as it
 * may be a dead connection).
 *
 * Locks, always taken in this order and released in reverse:
 *   1. check_mu   (pthread mutex) held for a whole check or manual
 *                 trigger; only ever *tried* (with polling up to
 *                 lock_wait_ms), so a busy monitor answers DM_EBUSY
 *                 instead of queueing work.
 *   2. the store lock DM_MONITOR_LOCK on the caller's connection
 *                 (PostgreSQL advisory lock / SQLite lock file): the same
 *                 exclusion across processes and replicas.
 *   3. state_mu   (pthread mutex, a leaf) guards the status fields and
 *                 the scheduler's stop flag; held for a few instructions,
 *                 never across I/O, so dm_monitor_status() never waits
 *                 for a check.
 * The embedder's internal mutex and the store pool's locks are below all
 * of these.  m->cancel is an
 * atomic flag, read at the check's checkpoints without any lock.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"
#include "monitor/monitor_int.h"

static const char *const phase_names[DM_MONITOR_PHASES] = {
    "aggregate", "sample", "embed", "stats", "store", "alert", "trigger"};

const char *dm_monitor_phase_name(dm_monitor_phase_t p)
{
    return (unsigned)p < DM_MONITOR_PHASES ? phase_names[p] : "unknown";
}

void dm_monitor_opts_init(dm_monitor_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->http_budget_ms = 30000;
    o->stop_grace_ms = 30000;
    o->retry_delay_ms = 60000;
    o->lock_wait_ms = 0;
}

int dm_monitor_new(const dm_config_t *cfg, const dm_monitor_opts_t *opts,
                   dm_monitor_t **out, char *errbuf, size_t errlen)
{
    dm_monitor_t *m;
    pthread_condattr_t ca;

    *out = NULL;
    if (cfg == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "monitor: no config");
    m = dm_calloc(1, sizeof(*m));
    m->cfg = cfg;
    if (opts)
        m->opts = *opts;
    else
        dm_monitor_opts_init(&m->opts);
    if (m->opts.http_budget_ms <= 0 || m->opts.stop_grace_ms < 0 ||
        m->opts.retry_delay_ms <= 0 || m->opts.lock_wait_ms < 0) {
        free(m);
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "monitor: negative or zero time option");
    }
    m->pool = dm_store_pool_or_own(cfg, m->opts.pool, &m->own_pool);
    pthread_mutex_init(&m->check_mu, NULL);
    pthread_mutex_init(&m->state_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&m->cancel, false);
    *out = m;
    return DM_OK;
}

void dm_monitor_free(dm_monitor_t *m)
{
    if (m == NULL)
        return;
    dm_monitor_stop(m);
    dm_embedder_free(m->embedder);
    dm_store_pool_free(m->own_pool);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->state_mu);
    pthread_mutex_destroy(&m->check_mu);
    free(m);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

int dm_monitor_lock(dm_monitor_t *m, dm_store_t *st, long wait_ms, char *errbuf,
                    size_t errlen)
{
    uint64_t deadline = dm_time_mono_ns() + (uint64_t)wait_ms * 1000000u;
    int rc;

    while (pthread_mutex_trylock(&m->check_mu) != 0) {
        if (dm_time_mono_ns() >= deadline || dm_monitor_cancelled(m))
            return dm_err_set(errbuf, errlen, DM_EBUSY,
                              "a check is already running in this process");
        sleep_ms(50);
    }
    for (;;) {
        rc = dm_store_lock_try(st, DM_MONITOR_LOCK, errbuf, errlen);
        if (rc != DM_EBUSY)
            break;
        if (dm_time_mono_ns() >= deadline || dm_monitor_cancelled(m)) {
            rc = dm_err_set(errbuf, errlen, DM_EBUSY,
                            "a check is running elsewhere (store lock %s "
                            "held by another process or replica)",
                            DM_MONITOR_LOCK);
            break;
        }
        sleep_ms(100);
    }
    if (rc != DM_OK)
        pthread_mutex_unlock(&m->check_mu);
    return rc;
}

void dm_monitor_unlock(dm_monitor_t *m, dm_store_t *st)
{
    char err[DM_ERRBUF_SIZE];

    if (dm_store_lock_release(st, DM_MONITOR_LOCK, err, sizeof(err)) != DM_OK)
        dm_log_warn("store lock release: %s", err); /* dropped with the
                                                       connection anyway */
    pthread_mutex_unlock(&m->check_mu);
}

/* Records a finished check in the status (any thread). */
static void note_check(dm_monitor_t *m, const dm_monitor_result_t *r)
{
    pthread_mutex_lock(&m->state_mu);
    m->checks_run++;
    if (r->check_id != 0 && !r->adhoc) {
        m->have_last = true;
        m->last_check_id = r->check_id;
        m->last_check_ms = r->checked_at_ms;
        snprintf(m->last_status, sizeof(m->last_status), "%s", r->status);
    }
    pthread_mutex_unlock(&m->state_mu);
}

static void set_checking(dm_monitor_t *m, bool on)
{
    pthread_mutex_lock(&m->state_mu);
    m->checking = on;
    pthread_mutex_unlock(&m->state_mu);
}

int dm_monitor_check_on(dm_monitor_t *m, dm_store_t *st,
                        const dm_monitor_check_opts_t *opts, long wait_ms,
                        dm_monitor_result_t *r, char *errbuf, size_t errlen)
{
    int rc;

    if (dm_monitor_cancelled(m))
        return dm_err_set(errbuf, errlen, DM_ECANCELED,
                          "the monitor is stopping");
    rc = dm_monitor_lock(m, st, wait_ms, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    set_checking(m, true);
    rc = dm_monitor_check_run(m, st, opts, r, errbuf, errlen);
    set_checking(m, false);
    dm_monitor_unlock(m, st);
    if (rc != DM_ECANCELED)
        note_check(m, r);
    return rc;
}

int dm_monitor_check(dm_monitor_t *m, const dm_monitor_check_opts_t *opts,
                     dm_monitor_result_t *result, char *errbuf, size_t errlen)
{
    dm_store_t *st = NULL;
    int rc;

    memset(result, 0, sizeof(*result));
    result->status = "failed";
    rc = dm_store_pool_get(m->pool, &st, errbuf, errlen);
    if (rc != DM_OK) {
        snprintf(result->error, sizeof(result->error), "store: %s",
                 errbuf && errbuf[0] ? errbuf : dm_strerror(rc));
        return rc;
    }
    rc = dm_monitor_check_on(m, st, opts, m->opts.lock_wait_ms, result, errbuf,
                             errlen);
    dm_store_pool_put(m->pool, st, rc != DM_OK);
    return rc;
}

int dm_monitor_check_json(dm_monitor_t *m, const dm_monitor_check_opts_t *opts,
                          json_t **out, char *errbuf, size_t errlen)
{
    dm_monitor_result_t *r = dm_calloc(1, sizeof(*r));
    int rc = dm_monitor_check(m, opts, r, errbuf, errlen);

    *out = NULL;
    if (rc == DM_OK || r->check_id != 0) {
        char err2[DM_ERRBUF_SIZE];
        int rc2 = dm_monitor_result_json(m, r, out, err2, sizeof(err2));

        if (rc2 != DM_OK && rc == DM_OK)
            rc = dm_err_set(errbuf, errlen, rc2, "%s", err2);
    }
    free(r);
    return rc;
}

void dm_monitor_status(dm_monitor_t *m, dm_monitor_status_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&m->state_mu);
    out->running = m->thread_started && !m->stopping;
    out->checking = m->checking;
    out->have_last = m->have_last;
    out->last_check_id = m->last_check_id;
    out->last_check_ms = m->last_check_ms;
    snprintf(out->last_status, sizeof(out->last_status), "%s", m->last_status);
    out->next_check_ms = out->running ? m->next_check_ms : 0;
    out->checks_run = m->checks_run;
    snprintf(out->embedder, sizeof(out->embedder), "%s", m->embedder_name);
    snprintf(out->embedder_precision, sizeof(out->embedder_precision), "%s",
             m->embedder_precision);
    snprintf(out->embedder_precision_reason,
             sizeof(out->embedder_precision_reason), "%s",
             m->embedder_precision_reason);
    snprintf(out->embedder_error, sizeof(out->embedder_error), "%s",
             m->embedder_error);
    pthread_mutex_unlock(&m->state_mu);
}

int64_t dm_monitor_next_due_ms(bool have_last, int64_t last_ms,
                               double interval_hours, int64_t now_ms)
{
    double due;

    if (!have_last || last_ms > now_ms)
        last_ms = have_last ? now_ms : 0;
    if (!have_last)
        return now_ms;
    due = (double)last_ms + interval_hours * 3600000.0;
    if (due > 9.0e18)
        return INT64_MAX;
    return (int64_t)ceil(due);
}

/* ---- result output ------------------------------------------------- */

void dm_monitor_result_print(const dm_monitor_result_t *r, FILE *f)
{
    char a[DM_TIME_STRLEN], b[DM_TIME_STRLEN];

    fprintf(
        f, "drift check #%lld: %s%s%s (%s, checked at %s)\n",
        (long long)r->check_id, r->status, r->failed_phase ? " in phase " : "",
        r->failed_phase ? r->failed_phase : "", r->adhoc ? "ad hoc" : "live",
        dm_time_format_s(r->checked_at_ms, a, sizeof(a)));
    /* rows were embedded only when the check got past its embed phase */
    fprintf(f, "  current window   %s .. %s  %8llu rows, %zu %s\n",
            dm_time_format_s(r->current_start_ms, a, sizeof(a)),
            dm_time_format_s(r->current_end_ms, b, sizeof(b)),
            (unsigned long long)r->current_count, r->current_sampled,
            r->have_analysis ? "embedded" : "sampled");
    fprintf(f, "  baseline window  %s .. %s  %8llu rows, %zu %s\n",
            dm_time_format_s(r->baseline_start_ms, a, sizeof(a)),
            dm_time_format_s(r->baseline_end_ms, b, sizeof(b)),
            (unsigned long long)r->baseline_count, r->baseline_sampled,
            r->have_analysis ? "embedded" : "sampled");
    if (r->embedder[0] && r->have_analysis)
        fprintf(f,
                "  embedder         %s (%s), precision %s; %zu rows embedded "
                "now, %zu from the cache\n",
                r->embedder, r->fingerprint, r->embedder_precision,
                r->embedded_now,
                r->baseline_sampled + r->current_sampled - r->embedded_now);
    if (r->error[0])
        fprintf(f, "  error            %s\n", r->error);
    if (r->have_analysis) {
        fputc('\n', f);
        dm_analysis_print(&r->analysis, f);
    } else if (strcmp(r->status, "insufficient_data") == 0) {
        fprintf(f, "\n  not enough rows to compare: nothing fires\n");
    }
    if (r->alert_status[0])
        fprintf(f, "\n  alert            %s%s%s\n", r->alert_status,
                r->alert_error[0] ? ": " : "", r->alert_error);
    if (r->trigger_status[0]) {
        fprintf(f, "  fine-tuning      %s", r->trigger_status);
        if (r->trigger_job_id[0])
            fprintf(f, " (job %s)", r->trigger_job_id);
        if (r->trigger_error[0])
            fprintf(f, ": %s", r->trigger_error);
        fputc('\n', f);
    }
    fprintf(f,
            "  time             %.0f ms (aggregate %.0f, sample %.0f, embed "
            "%.0f, stats %.0f, store %.0f, alert %.0f, trigger %.0f)\n",
            r->total_ms, r->phase_ms[0], r->phase_ms[1], r->phase_ms[2],
            r->phase_ms[3], r->phase_ms[4], r->phase_ms[5], r->phase_ms[6]);
}
