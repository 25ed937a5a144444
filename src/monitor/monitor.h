/*
 * monitor.h - the drift monitor: one drift check (DESIGN.md section 3),
 * its Slack alert (section 5) and fine-tuning trigger (section 6), and
 * the background scheduler that runs a check every
 * monitoring.check_interval_hours.
 *
 * A dm_monitor_t borrows a loaded config (which must outlive it) and owns
 * the embedder (opened on the first check, then shared), a check mutex
 * and the scheduler thread.  The functions below are what the CLI and the
 * HTTP API call:
 *
 *   driftmon check / POST /drift/check        dm_monitor_check()
 *   POST /drift/trigger-finetuning            dm_monitor_trigger_manual()
 *   GET /health (monitor state, last/next)    dm_monitor_status()
 *   driftmon serve (background checks)        dm_monitor_start()/_stop()
 *
 * Concurrency.  Checks never overlap: in-process a mutex, across processes
 * and replicas the store lock DM_MONITOR_LOCK (a PostgreSQL advisory lock,
 * or a lock file next to the SQLite database).  A manual trigger takes the
 * same locks, so the cooldown is read and written by one party at a time.
 * Each thread that uses the store needs its own connection, taken from
 * the monitor's store pool (dm_monitor_opts_t.pool, shared with the API
 * by `serve`): the scheduler thread keeps one; dm_monitor_check() and
 * dm_monitor_trigger_manual() get one for each call and put it back, so
 * they may be called from any thread.  All functions are thread-safe.
 */
#ifndef DM_MONITOR_MONITOR_H
#define DM_MONITOR_MONITOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "config/config.h"
#include "monitor/analyze.h"
#include "store/store.h"

/* Name of the store lock that serialises checks and triggers. */
#define DM_MONITOR_LOCK "driftmon-check"
/* Longest job id / status string kept in a result. */
#define DM_MONITOR_JOB_ID_MAX 257

typedef struct dm_monitor dm_monitor_t;

/* Phases of a check, for progress reports and timings. */
typedef enum dm_monitor_phase {
    DM_MONITOR_PHASE_AGGREGATE = 0, /* counts per window (SQL) */
    DM_MONITOR_PHASE_SAMPLE = 1,    /* deterministic sample of rows */
    DM_MONITOR_PHASE_EMBED = 2,     /* cache look-up + embedding */
    DM_MONITOR_PHASE_STATS = 3,     /* statistics, severity */
    DM_MONITOR_PHASE_STORE = 4,     /* the drift_metrics row */
    DM_MONITOR_PHASE_ALERT = 5,     /* Slack */
    DM_MONITOR_PHASE_TRIGGER = 6,   /* Learning Engine */
    DM_MONITOR_PHASES = 7
} dm_monitor_phase_t;

/* "aggregate", "sample", "embed", "stats", "store", "alert", "trigger". */
const char *dm_monitor_phase_name(dm_monitor_phase_t p);

/*
 * Progress callback: `done` of `total` units of phase (embedding: rows
 * embedded of the rows missing from the cache).  Called on the thread
 * running the check.
 */
typedef void (*dm_monitor_progress_cb)(dm_monitor_phase_t phase, size_t done,
                                       size_t total, void *arg);

/* Monitor-wide options; dm_monitor_opts_init() gives the defaults. */
typedef struct dm_monitor_opts {
    long http_budget_ms; /* total time of one Slack or Learning Engine
                            call, retries included (30000) */
    long stop_grace_ms;  /* dm_monitor_stop(): time a running check gets
                            to finish before it is abandoned (30000) */
    long retry_delay_ms; /* scheduler: wait after a store failure before
                            trying again (60000; capped by the interval) */
    long lock_wait_ms;   /* dm_monitor_check(): how long to wait for a
                            check running elsewhere (0 = fail at once
                            with DM_EBUSY) */
    int64_t live_now_ms; /* the "now" that a check's as_of is compared
                            with to tell live from ad hoc (0 = the
                            clock); for tests that replay a fixed date */
    dm_monitor_progress_cb progress; /* NULL = none */
    void *progress_arg;
    dm_store_pool_t *pool; /* store connections (borrowed: must outlive
                              the monitor; `serve` shares one with the
                              API); NULL = the monitor makes its own */
} dm_monitor_opts_t;

void dm_monitor_opts_init(dm_monitor_opts_t *o);

/*
 * Slack between a check's as_of and now within which as_of counts as
 * "now" (clocks of two machines, a CLI timestamp rounded to seconds).
 */
#define DM_MONITOR_AS_OF_SLACK_MS 60000

/*
 * Options of one check.  A check over the configured window ending now
 * is *live*; one with as_of more than DM_MONITOR_AS_OF_SLACK_MS in the
 * past, or a window_days other than monitoring.sliding_window_days, is
 * *ad hoc* (a backfill or an investigation): stored and listed with kind
 * "adhoc", but it never alerts, resolves, triggers fine-tuning, or moves
 * the gauges, /health's last check or the schedule.  as_of more than the
 * slack in the future is an error (DM_EINVAL, nothing stored).
 */
typedef struct dm_monitor_check_opts {
    uint32_t window_days; /* 0 = monitoring.sliding_window_days */
    int64_t as_of_ms;     /* end of the current window; 0 = now */
    bool manual;          /* requested (CLI/API) rather than scheduled;
                             recorded in details */
} dm_monitor_check_opts_t;

/*
 * The outcome of one check: what was stored, plus the alert and trigger
 * outcomes and timings.  Plain data (no pointers to free); copy freely.
 */
typedef struct dm_monitor_result {
    int64_t check_id;         /* drift_metrics id; 0 when nothing was stored */
    const char *failed_phase; /* status "failed": the phase that failed
                                 (dm_monitor_phase_name()); else NULL */
    bool adhoc;               /* kind "adhoc" (see dm_monitor_check_opts_t) */
    const char *status;       /* "ok", "insufficient_data", "failed" (static) */
    char error[DM_ERRBUF_SIZE]; /* why it failed ("" otherwise) */
    int64_t checked_at_ms;
    uint32_t window_days;
    int64_t baseline_start_ms, baseline_end_ms;
    int64_t current_start_ms, current_end_ms;
    uint64_t baseline_count, current_count;   /* rows in each window */
    size_t baseline_sampled, current_sampled; /* rows embedded */
    size_t embedded_now;                      /* of them computed now
                                                 (not cached) */
    char embedder[128];                       /* honest name */
    char fingerprint[128];                    /* cache key */
    char embedder_precision[8];               /* "fp32", "bf16" */
    bool have_analysis; /* status "ok": analysis holds every figure */
    dm_analysis_t analysis;
    /* alert: "sent", "failed", "suppressed", "resolved", "disabled",
       "none" (nothing to say), "adhoc" (an ad hoc check never alerts),
       "" (not reached) */
    char alert_status[16];
    char alert_error[DM_ERRBUF_SIZE];
    /* trigger: "success", "failed" (both stored as a trigger row),
       "cooldown", "below_score", "no_drift", "disabled", "adhoc", "" */
    char trigger_status[16];
    char trigger_job_id[DM_MONITOR_JOB_ID_MAX];
    char trigger_error[DM_ERRBUF_SIZE];
    int64_t trigger_id; /* finetuning_triggers id, 0 = none */
    double phase_ms[DM_MONITOR_PHASES];
    double total_ms;
} dm_monitor_result_t;

/*
 * Creates a monitor for cfg (borrowed; must outlive the monitor).  opts
 * may be NULL (defaults; copied).  Opens nothing yet: the embedder is
 * opened by the first check, store connections by each user (from
 * opts.pool, or from a pool of the monitor's own).  Returns DM_OK or
 * DM_EINVAL.  Free with dm_monitor_free().
 */
int dm_monitor_new(const dm_config_t *cfg, const dm_monitor_opts_t *opts,
                   dm_monitor_t **out, char *errbuf,
                   size_t errlen) DM_MUSTCHECK;

/* Stops the scheduler if running (dm_monitor_stop()) and frees.
 * NULL-safe.  No check may be running on another thread. */
void dm_monitor_free(dm_monitor_t *m);

/*
 * Runs one drift check now (DESIGN.md section 3) on a store connection of
 * its own: windows, aggregates, sample, embeddings (cached ones reused,
 * missing ones computed and cached), statistics, one drift_metrics row,
 * then the alert and the fine-tuning trigger.  opts may be NULL.  result
 * (required) is filled in every case that gets past the locks.
 *
 * Returns DM_OK when a check was stored with status "ok" or
 * "insufficient_data"; DM_EBUSY when another check holds the locks (in
 * this process, or elsewhere for longer than opts.lock_wait_ms; nothing
 * stored); DM_ECANCELED when the monitor is being stopped (nothing
 * stored); otherwise the error of the failed phase (DM_ESTORE,
 * DM_EMODEL, ...) with the message in errbuf and in result->error
 * (DM_EINVAL for an as_of in the future, nothing stored); the
 * check is then stored with status "failed" when the store allows it
 * (result->check_id != 0).  A failure never leaves a partial row.
 */
int dm_monitor_check(dm_monitor_t *m, const dm_monitor_check_opts_t *opts,
                     dm_monitor_result_t *result, char *errbuf,
                     size_t errlen) DM_MUSTCHECK;

/*
 * Like dm_monitor_check() with the result as a new JSON object in *out
 * (dm_monitor_result_json()), for the HTTP API.  *out is set whenever
 * a result exists (also for a failed check), else NULL.
 */
int dm_monitor_check_json(dm_monitor_t *m, const dm_monitor_check_opts_t *opts,
                          json_t **out, char *errbuf,
                          size_t errlen) DM_MUSTCHECK;

/*
 * The check as JSON (new reference in *out): the stored record read
 * back and serialised by dm_store_check_to_json() with its details, so
 * `driftmon check --json`, POST /drift/check, GET /drift/checks/{id} and
 * each item of GET /drift/metrics show the same keys and values (the
 * record of docs/api.md).  A check that could not be stored gives the
 * same record built from the result, with "id" and "details" null.
 * Never holds a secret.  Returns DM_OK or a DM_E* code with a message.
 */
int dm_monitor_result_json(dm_monitor_t *m, const dm_monitor_result_t *r,
                           json_t **out, char *errbuf,
                           size_t errlen) DM_MUSTCHECK;

/* Prints a readable report of the result (the analysis table included). */
void dm_monitor_result_print(const dm_monitor_result_t *r, FILE *f);

/* Outcome of a manual trigger. */
typedef struct dm_monitor_trigger_result {
    int64_t trigger_id; /* finetuning_triggers row; 0 = not stored */
    bool success;
    char job_id[DM_MONITOR_JOB_ID_MAX];
    char error[DM_ERRBUF_SIZE];
    int64_t based_on_check; /* newest "ok" check whose metrics were sent,
                               0 = none */
} dm_monitor_trigger_result_t;

/*
 * The manual fine-tuning trigger (POST /drift/trigger-finetuning): asks
 * the Learning Engine for a job regardless of drift score and cooldown,
 * with "force": true and the metrics of the newest stored check as the
 * reason.  The attempt is stored (forced, check id 0); a success sends a
 * Slack notification.  Works even when fine_tuning.auto_trigger is off.
 * Returns DM_OK on success; DM_EBUSY when a check holds the locks; the
 * Learning Engine's error (DM_ENET, DM_EPARSE) or DM_ESTORE otherwise,
 * with the message in errbuf and out->error.
 */
int dm_monitor_trigger_manual(dm_monitor_t *m, dm_monitor_trigger_result_t *out,
                              char *errbuf, size_t errlen) DM_MUSTCHECK;

/* JSON of a manual trigger's outcome (new reference): trigger_id,
 * status "success"/"failed", job_id, error, based_on_check. */
int dm_monitor_trigger_result_to_json(const dm_monitor_trigger_result_t *r,
                                      json_t **out) DM_MUSTCHECK;

/* State of the monitor, for GET /health. */
typedef struct dm_monitor_status {
    bool running;          /* the scheduler thread runs */
    bool checking;         /* a check is running in this process */
    bool have_last;        /* a check is known (stored or run here) */
    int64_t last_check_id; /* newest check the scheduler saw or ran */
    int64_t last_check_ms;
    char last_status[24];  /* its status */
    int64_t next_check_ms; /* scheduler's next run; 0 = not scheduled */
    uint64_t checks_run;   /* checks run by this monitor */
    char embedder[128];    /* "" until the first check opened it */
    /* the loaded embedder's precision ("fp32", "bf16") and why (see
     * dm_embedder_precision_reason()); "" until it is loaded */
    char embedder_precision[8];
    char embedder_precision_reason[128];
    /* why the embedder last failed to load or embed; "" when it works or
     * was not tried yet */
    char embedder_error[DM_ERRBUF_SIZE];
} dm_monitor_status_t;

/* Fills *out.  Never blocks on a running check.  Thread-safe. */
void dm_monitor_status(dm_monitor_t *m, dm_monitor_status_t *out);

/*
 * Opens the embedder now rather than at the first check, so that a model
 * that cannot load shows in dm_monitor_status() (and /health) from the
 * start.  A failure is remembered there and the next check tries again.
 * Waits for a running check.  Returns DM_OK or the embedder's error
 * (DM_EMODEL, ...) with the message in errbuf.  Thread-safe.
 */
int dm_monitor_embedder_open(dm_monitor_t *m, char *errbuf,
                             size_t errlen) DM_MUSTCHECK;

/*
 * When the next scheduled check is due: last_ms + interval when a check
 * is stored (have_last), else now.  A due time in the past means "now";
 * a last check in the future (clock skew) counts as now.  Pure.
 */
int64_t dm_monitor_next_due_ms(bool have_last, int64_t last_ms,
                               double interval_hours, int64_t now_ms);

/*
 * Starts the scheduler thread ("scheduler"), which opens its own store
 * connection, reads the last stored check and runs a check whenever
 * dm_monitor_next_due_ms() says one is due, so a restart neither repeats
 * a check that just ran nor skips one that is due.  A check that finds
 * another replica checking is skipped (that replica's check becomes the
 * last one).  Returns DM_OK, DM_EBUSY when already running, DM_EINTERNAL
 * when the thread cannot be created.
 */
int dm_monitor_start(dm_monitor_t *m, char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Stops the scheduler: it takes no new work; a check in progress gets
 * opts.stop_grace_ms to finish, after which it is abandoned at its next
 * checkpoint (between phases and between embedding batches; an abandoned
 * check stores nothing; a Slack or Learning Engine call in flight is
 * bounded by http_budget_ms).  Returns when the thread has exited.
 * Safe to call when not running and from a signal-handling thread (not
 * from a signal handler).
 */
void dm_monitor_stop(dm_monitor_t *m);

#endif
