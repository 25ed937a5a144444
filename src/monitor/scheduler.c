/*
 * scheduler.c - the background monitor: a thread named "scheduler" that
 * runs a drift check every monitoring.check_interval_hours.
 *
 * DESIGN
 *
 * The schedule lives in the store, not in memory: before each wait the
 * thread reads the newest stored check (whoever ran it: this process, the
 * CLI, another replica) and sleeps until that check's time plus the
 * interval (dm_monitor_next_due_ms()).  So a restart neither repeats a
 * check that just ran nor skips one that is due, and replicas sharing a
 * database space their checks out instead of each running its own.  When
 * another process holds the check lock, this round is skipped: that
 * check, once stored, moves the schedule.
 *
 * Waiting is a condition-variable wait on the monitor's `wake` (monotonic
 * clock), woken by dm_monitor_stop().  A failure to reach the store, or a
 * check that could not even be recorded, waits retry_delay_ms (at most
 * the interval) before the next attempt, so a dead database does not
 * become a busy loop.
 *
 * Stopping (dm_monitor_stop()): set `stopping` and wake the thread; if it
 * is inside a check, give it stop_grace_ms to finish, then set `cancel`,
 * which the check reads at its next checkpoint (it then stores nothing);
 * join.  Locks: state_mu only, never held across I/O (see monitor.c).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/thread.h"
#include "common/time.h"
#include "monitor/monitor_int.h"

/* Longest single wait, so a wall-clock jump is noticed within a minute. */
#define MAX_WAIT_MS 60000

static struct timespec mono_deadline(long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits up to ms or until stopped.  Returns true when stopping. */
static bool wait_or_stop(dm_monitor_t *m, long ms)
{
    struct timespec dl = mono_deadline(ms < 0 ? 0 : ms);
    bool stop;

    pthread_mutex_lock(&m->state_mu);
    while (!m->stopping &&
           pthread_cond_timedwait(&m->wake, &m->state_mu, &dl) == 0)
        ;
    stop = m->stopping;
    pthread_mutex_unlock(&m->state_mu);
    return stop;
}

static bool stopping(dm_monitor_t *m)
{
    bool s;

    pthread_mutex_lock(&m->state_mu);
    s = m->stopping;
    pthread_mutex_unlock(&m->state_mu);
    return s;
}

static long retry_delay(const dm_monitor_t *m)
{
    double interval = m->cfg->monitoring.check_interval_hours * 3600000.0;

    return interval < (double)m->opts.retry_delay_ms ? (long)interval + 1
                                                     : m->opts.retry_delay_ms;
}

/* Reads the newest stored check; publishes it and the next due time. */
static int read_schedule(dm_monitor_t *m, dm_store_t *st, int64_t *due,
                         char *err, size_t n)
{
    dm_store_check_t *list = NULL;
    size_t cnt = 0;
    int rc = dm_store_check_list(st, 0, 1, DM_STORE_CHECK_LIVE_ONLY, &list,
                                 &cnt, err, n);

    if (rc != DM_OK)
        return rc;
    *due = dm_monitor_next_due_ms(cnt > 0, cnt ? list[0].checked_at_ms : 0,
                                  m->cfg->monitoring.check_interval_hours,
                                  dm_time_now_ms());
    pthread_mutex_lock(&m->state_mu);
    m->next_check_ms = *due;
    if (cnt > 0) {
        m->have_last = true;
        m->last_check_id = list[0].id;
        m->last_check_ms = list[0].checked_at_ms;
        snprintf(m->last_status, sizeof(m->last_status), "%s",
                 list[0].status ? list[0].status : "");
    }
    pthread_mutex_unlock(&m->state_mu);
    dm_store_check_list_free(list, cnt);
    return DM_OK;
}

static void *scheduler_main(void *arg)
{
    dm_monitor_t *m = arg;
    dm_store_t *st = NULL;
    int64_t told_due = -1; /* the due time last logged */
    char err[DM_ERRBUF_SIZE];

    pthread_setname_np(pthread_self(), "scheduler");
    dm_log_thread_name("scheduler");
    /* background work: the API's request threads come first (the check's
     * worker threads inherit this) */
    dm_thread_lower_priority(10);
    dm_log_info("background monitor started: a check every %g h",
                m->cfg->monitoring.check_interval_hours);
    while (!stopping(m)) {
        dm_monitor_result_t r;
        dm_monitor_check_opts_t o = {0};
        int64_t due = 0, now;
        int rc;

        if (st == NULL &&
            dm_store_pool_get(m->pool, &st, err, sizeof(err)) != DM_OK) {
            dm_log_error("store unavailable: %s", err);
            wait_or_stop(m, retry_delay(m));
            continue;
        }
        if (read_schedule(m, st, &due, err, sizeof(err)) != DM_OK) {
            dm_log_error("cannot read the last check: %s", err);
            dm_store_pool_put(m->pool, st, true);
            st = NULL;
            wait_or_stop(m, retry_delay(m));
            continue;
        }
        now = dm_time_now_ms();
        if (due > now) {
            int64_t wait = due - now;

            if (due != told_due) {
                char when[40];

                /* once per schedule, not per minute's wake-up: the
                   operator's (and the tests') sign that it is idle */
                dm_log_info("next check at %s",
                            dm_time_format_s(due, when, sizeof(when)));
                told_due = due;
            }

            wait_or_stop(m, wait > MAX_WAIT_MS ? MAX_WAIT_MS : (long)wait);
            continue;
        }
        rc = dm_monitor_check_on(m, st, &o, 0, &r, err, sizeof(err));
        if (rc == DM_EBUSY) {
            dm_log_info("check skipped: %s", err);
            wait_or_stop(m, retry_delay(m));
            continue;
        }
        if (rc == DM_ECANCELED)
            break;
        if (rc == DM_OK)
            dm_log_info(
                "check %lld: %s, severity %s", (long long)r.check_id, r.status,
                r.have_analysis ? dm_severity_name(r.analysis.verdict.severity)
                                : "none");
        if (r.check_id == 0) {
            /* not even the failure was recorded: the schedule would not
               move, so wait before trying again */
            dm_store_pool_put(m->pool, st, true);
            st = NULL;
            wait_or_stop(m, retry_delay(m));
        }
    }
    /* closed, not kept: a cancelled check may have left it mid-way */
    dm_store_pool_put(m->pool, st, true);
    dm_log_info("background monitor stopped");
    pthread_mutex_lock(&m->state_mu);
    m->thread_done = true;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->state_mu);
    return NULL;
}

int dm_monitor_start(dm_monitor_t *m, char *errbuf, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&m->state_mu);
    if (m->thread_started) {
        pthread_mutex_unlock(&m->state_mu);
        return dm_err_set(errbuf, errlen, DM_EBUSY,
                          "the background monitor is already running");
    }
    m->stopping = false;
    m->thread_done = false;
    atomic_store(&m->cancel, false);
    rc = pthread_create(&m->thread, NULL, scheduler_main, m);
    m->thread_started = rc == 0;
    pthread_mutex_unlock(&m->state_mu);
    if (rc != 0)
        return dm_err_set(errbuf, errlen, DM_EINTERNAL,
                          "cannot start the scheduler thread: %s",
                          strerror(rc));
    return DM_OK;
}

void dm_monitor_stop(dm_monitor_t *m)
{
    struct timespec dl;

    pthread_mutex_lock(&m->state_mu);
    if (!m->thread_started) {
        pthread_mutex_unlock(&m->state_mu);
        return;
    }
    m->stopping = true;
    pthread_cond_broadcast(&m->wake);
    dl = mono_deadline(m->opts.stop_grace_ms);
    while (!m->thread_done &&
           pthread_cond_timedwait(&m->wake, &m->state_mu, &dl) == 0)
        ;
    if (!m->thread_done) {
        dm_log_warn("the running check did not finish within %ld ms: "
                    "abandoning it",
                    m->opts.stop_grace_ms);
        atomic_store(&m->cancel, true);
    }
    pthread_mutex_unlock(&m->state_mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_lock(&m->state_mu);
    m->thread_started = false;
    m->next_check_ms = 0;
    atomic_store(&m->cancel, false); /* stopped: later calls may run */
    pthread_mutex_unlock(&m->state_mu);
}
