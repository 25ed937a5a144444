/*
 * monitor_int.h - the monitor's private state and the functions its files
 * share (check.c, alert.c, trigger.c, scheduler.c, monitor.c).  Nothing
 * outside src/monitor/ includes this.  Lock order: see monitor.c.
 */
#ifndef DM_MONITOR_MONITOR_INT_H
#define DM_MONITOR_MONITOR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "embed/embed.h"
#include "monitor/monitor.h"
#include "notify/http.h"
#include "notify/slack.h"
#include "store/store.h"

struct dm_monitor {
    const dm_config_t *cfg; /* borrowed */
    dm_monitor_opts_t opts;

    /* Held for the whole of a check or a manual trigger. */
    pthread_mutex_t check_mu;
    /* Opened by the first check (under check_mu); read under state_mu. */
    dm_embedder_t *embedder;
    /* The change of the model files on disk last logged (under check_mu). */
    char model_change_logged[DM_ERRBUF_SIZE];
    dm_store_pool_t *pool; /* opts.pool, or own_pool */
    dm_store_pool_t *own_pool;

    /* Everything below is guarded by state_mu (a leaf lock). */
    pthread_mutex_t state_mu;
    pthread_cond_t wake; /* signalled by dm_monitor_stop() */
    bool thread_started;
    bool thread_done; /* the scheduler thread has left its loop */
    bool stopping;
    pthread_t thread;
    bool checking;
    bool have_last;
    int64_t last_check_id, last_check_ms;
    char last_status[24];
    int64_t next_check_ms;
    uint64_t checks_run;
    char embedder_name[128];
    char embedder_precision[8];          /* "fp32", "bf16"; "" until open */
    char embedder_precision_reason[128]; /* dm_embedder_precision_reason() */
    /* why the embedder last failed to load or embed ("" = it works, or
     * it was not tried yet) */
    char embedder_error[DM_ERRBUF_SIZE];

    /* Set when a check in progress must be abandoned. */
    atomic_bool cancel;
};

/*
 * Takes check_mu and the store lock on st (waiting up to wait_ms for the
 * store lock; check_mu is only tried).  DM_OK, DM_EBUSY or a store error.
 * dm_monitor_unlock() releases both.
 */
int dm_monitor_lock(dm_monitor_t *m, dm_store_t *st, long wait_ms, char *errbuf,
                    size_t errlen) DM_MUSTCHECK;
void dm_monitor_unlock(dm_monitor_t *m, dm_store_t *st);

/*
 * A whole check on connection st (the caller's): takes the locks
 * (waiting up to wait_ms), runs the pipeline, releases the locks and
 * updates the status.  Returns as dm_monitor_check().
 */
int dm_monitor_check_on(dm_monitor_t *m, dm_store_t *st,
                        const dm_monitor_check_opts_t *opts, long wait_ms,
                        dm_monitor_result_t *r, char *errbuf,
                        size_t errlen) DM_MUSTCHECK;

/*
 * The check pipeline (check.c) on store connection st; the caller holds
 * the locks.  Fills *r; returns as dm_monitor_check().
 */
int dm_monitor_check_run(dm_monitor_t *m, dm_store_t *st,
                         const dm_monitor_check_opts_t *opts,
                         dm_monitor_result_t *r, char *errbuf,
                         size_t errlen) DM_MUSTCHECK;

/*
 * Alert step (alert.c): reads the alert state of the checks before
 * r->check_id, applies dm_slack_policy_decide(), sends (or not) and
 * stores the outcome with the check.  Fills r->alert_*.  Never fails the
 * check: delivery and store errors end up in r->alert_error.
 */
void dm_monitor_alert(dm_monitor_t *m, dm_store_t *st, dm_monitor_result_t *r);

/* Trigger step (trigger.c) after a stored "ok" check.  Fills r->trigger_*. */
void dm_monitor_trigger_auto(dm_monitor_t *m, dm_store_t *st,
                             dm_monitor_result_t *r);

/* HTTP options for Slack / the Learning Engine from the config. */
void dm_monitor_http_opts(const dm_monitor_t *m, bool slack, dm_http_opts_t *o);

/* Slack is configured (alerts.enabled, slack.enabled, a webhook URL). */
bool dm_monitor_slack_on(const dm_monitor_t *m);

/* Fills a Slack message's windows, samples, metrics and the top changes
 * of the explanation (into changes, changes_len bytes, which a borrows;
 * example queries only with alerts.include_examples) from a result. */
/* Rows of the Slack metrics table: semantic, PSI, accuracy drop, floor. */
#define DM_MONITOR_SLACK_ROWS 4
/* Changes of the explanation listed in an alert. */
#define DM_MONITOR_SLACK_CHANGES 3
void dm_monitor_slack_fill(const dm_monitor_t *m, const dm_monitor_result_t *r,
                           dm_slack_alert_t *a,
                           dm_slack_metric_t metrics[DM_MONITOR_SLACK_ROWS],
                           char *changes, size_t changes_len);

/* Whether the monitor asked for a running check to be abandoned. */
static inline bool dm_monitor_cancelled(dm_monitor_t *m)
{
    return atomic_load(&m->cancel);
}

#endif
