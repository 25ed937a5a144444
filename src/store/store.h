/*
 * store.h - driftmon's database: one interface, two backends.
 *
 * A dm_store_t talks to SQLite (database.backend "sqlite", a file path,
 * zero set-up) or PostgreSQL ("postgres", database.url or the
 * host/port/name/user/password fields).  Callers never see which one.
 * It reads the assistant's feedback table (name and columns from
 * database.feedback.*) and owns drift_metrics, finetuning_triggers, the
 * embedding cache and schema_version (docs/store.md lists every column).
 *
 * Conventions of every function here:
 * - Returns DM_OK or a negative DM_E* code; database failures are
 *   DM_ESTORE with the server's message in errbuf (never a password or a
 *   connection URL).  errbuf may be NULL.
 * - Instants are int64 milliseconds since the epoch, UTC; windows are
 *   half-open [start, end).
 * - A double that is NAN is stored as SQL NULL and read back as NAN.
 * - Strings passed in are borrowed (copied when needed); strings and
 *   arrays handed out belong to the caller and are released with the
 *   matching _cleanup/_free function named at each type.
 * - Thread-safety: a dm_store_t is used by one thread at a time (it is
 *   one connection).  Open one per thread; the backends handle
 *   concurrency between connections and processes (SQLite busy_timeout,
 *   PostgreSQL MVCC).
 * - PostgreSQL: after a lost connection the failing call returns
 *   DM_ESTORE and the next call reconnects (session state such as a held
 *   lock is lost then; see dm_store_lock_try()).  A connection that the
 *   server closed while it was idle, with no lock held and no transaction
 *   open, is reconnected before the next call, which then works.
 */
#ifndef DM_STORE_STORE_H
#define DM_STORE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/check_enums.h"
#include "common/error.h"
#include "config/config.h"

typedef struct dm_store dm_store_t;

/* Latest schema version this build knows (see dm_store_migrate()). */
#define DM_STORE_SCHEMA_VERSION 5
/* Caps on feedback fields accepted by the store and by ingest. */
#define DM_STORE_MAX_ID     256
#define DM_STORE_MAX_INTENT 128
#define DM_STORE_MAX_TEXT   (256 * 1024)
/* Caps on short strings of a check or a trigger. */
#define DM_STORE_MAX_MODEL 256
#define DM_STORE_TOP_DIMS  5

/* ---- lifecycle ------------------------------------------------------ */

/*
 * Opens the store that cfg->database names and stores it in *out.
 * SQLite: opens (creating) the file database.path in WAL mode with
 * synchronous=NORMAL and a 10 s busy timeout; "file:" URIs are accepted
 * (e.g. "file:x.db?mode=ro").  PostgreSQL: connects with database.url or,
 * when it is empty, the host/port/name/user/password fields, and sets the
 * session time zone to UTC.  Does not touch the schema: call
 * dm_store_migrate() at start.  cfg is only read during the call.
 * Returns DM_OK, DM_ECONFIG for an unknown backend, DM_ESTORE when the
 * database cannot be opened (*out is NULL then).
 */
int dm_store_open(const dm_config_t *cfg, dm_store_t **out, char *errbuf,
                  size_t errlen) DM_MUSTCHECK;

/*
 * For commands that only read a store (`check`): with the sqlite backend,
 * checks that the file database.path exists, so that a mistyped or
 * relative path is an error naming it rather than a new empty store.
 * Other backends, ":memory:" and "file:" URIs always pass.  Returns
 * DM_OK or DM_ENOTFOUND with the path in errbuf.
 */
int dm_store_require_existing(const dm_config_t *cfg, char *errbuf,
                              size_t errlen) DM_MUSTCHECK;

/* Closes the connection (releasing held locks) and frees. NULL-safe. */
void dm_store_free(dm_store_t *s);

/* "sqlite" or "postgres" (static string). */
const char *dm_store_backend(const dm_store_t *s);

/*
 * Brings the schema to DM_STORE_SCHEMA_VERSION: creates every table and
 * index that is missing (the DDL of init-scripts/postgres/init.sql or
 * src/store/schema_sqlite.sql, compiled in), in one transaction, and
 * records the version in schema_version.  Idempotent and safe to run
 * from several processes at once.  *version (may be NULL) receives the
 * version after the call.  DM_ESTORE on failure; DM_ERANGE when the
 * database was migrated by a newer driftmon.
 */
int dm_store_migrate(dm_store_t *s, int *version, char *errbuf,
                     size_t errlen) DM_MUSTCHECK;

/*
 * dm_store_open() then dm_store_migrate(): the one way a one-shot
 * command gets a store whose schema is current (a server shares a
 * dm_store_pool_t instead, which migrates once).  *version (may be
 * NULL) receives the schema version.  Errors and messages are those of
 * the two calls, unchanged; on any error *out is NULL (nothing to free).
 * Thread-safe as long as each thread has its own out.
 */
int dm_store_open_migrated(const dm_config_t *cfg, dm_store_t **out,
                           int *version, char *errbuf,
                           size_t errlen) DM_MUSTCHECK;

/* ---- connection pool --------------------------------------------------- */

/*
 * A pool of connections to the store cfg names, shared by the threads of
 * one process (the API's request threads, the monitor's scheduler and
 * checks): one pool per process, handed to each user, so that the schema
 * is migrated once and idle connections are reused.
 */
typedef struct dm_store_pool dm_store_pool_t;

/* Idle connections a server's pool keeps for reuse. */
#define DM_STORE_POOL_IDLE 16

/* Counters of a pool (dm_store_pool_stats()). */
typedef struct dm_store_pool_stats {
    size_t idle;       /* connections kept for reuse now */
    size_t out;        /* connections handed out and not put back */
    size_t opened;     /* connections opened so far */
    size_t migrations; /* migrations run (1 once the schema is current) */
} dm_store_pool_stats_t;

/*
 * Creates a pool for cfg (borrowed: it must outlive the pool) that keeps
 * up to max_idle idle connections (0: none, each put closes).  Opens
 * nothing yet.  Returns DM_OK, or DM_EINVAL without a cfg.  Free with
 * dm_store_pool_free().
 */
int dm_store_pool_new(const dm_config_t *cfg, size_t max_idle,
                      dm_store_pool_t **out) DM_MUSTCHECK;

/*
 * The pool a user of a store shares (given, when not NULL), or else a
 * new pool of DM_STORE_POOL_IDLE for it alone, also stored in *own
 * (NULL when given was used), which the user frees with
 * dm_store_pool_free() when done.  cfg must not be NULL.  Never NULL.
 */
dm_store_pool_t *dm_store_pool_or_own(const dm_config_t *cfg,
                                      dm_store_pool_t *given,
                                      dm_store_pool_t **own);

/*
 * A connection for the caller's exclusive use until dm_store_pool_put():
 * an idle one, or a new one (dm_store_open()).  The first new connection
 * that migrates successfully brings the schema up to date (one thread
 * migrating at a time); after a failed migration the next get tries
 * again.  Errors and messages are those of dm_store_open() and
 * dm_store_migrate(); on error *out is NULL.  Thread-safe.
 */
int dm_store_pool_get(dm_store_pool_t *p, dm_store_t **out, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

/*
 * Gives st (from dm_store_pool_get() on p; NULL is ignored) back.  It is
 * kept for reuse unless broken (a store error happened on it, so it may
 * be a dead connection) or max_idle connections are idle already; then
 * it is closed.  st must hold no store lock and no open transaction.
 * Thread-safe.
 */
void dm_store_pool_put(dm_store_pool_t *p, dm_store_t *st, bool broken);

/* The pool's counters (a consistent snapshot).  Thread-safe. */
void dm_store_pool_stats(dm_store_pool_t *p, dm_store_pool_stats_t *out);

/*
 * Closes the idle connections and frees the pool.  NULL-safe.  Every
 * connection should have been put back; one still out is not closed:
 * its holder must dm_store_free() it (not put it back), and a warning is
 * logged.  No other thread may use p during or after the call.
 */
void dm_store_pool_free(dm_store_pool_t *p);

/* Current schema version (0 for an empty database). */
int dm_store_schema_version(dm_store_t *s, int *version, char *errbuf,
                            size_t errlen) DM_MUSTCHECK;

/* Cheap round trip (SELECT 1), reconnecting if needed. */
int dm_store_ping(dm_store_t *s, char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Whether writes can work, as far as the backend can tell without
 * writing: false, with the reason in why (size n, may be NULL), when
 * SQLite opened the database read-only or the file is on a read-only
 * mount or not writable by this process.  A disk that is full, or a file
 * system that turns read-only after an error without saying so to
 * access(2), shows only when a write fails.  PostgreSQL: always true.
 * Cheap (no I/O on the database); not thread-safe with other calls on s.
 */
bool dm_store_writable(dm_store_t *s, char *why, size_t n);

/* ---- transactions ----------------------------------------------------- */

/*
 * Explicit transaction around several calls (used by ingest so that a
 * file is written all or nothing).  Calls that write several rows open
 * their own transaction when none is active, and join the active one
 * otherwise.  Not nested: a second begin gives DM_EINVAL.  rollback is
 * safe to call when no transaction is active.
 */
int dm_store_tx_begin(dm_store_t *s, char *errbuf, size_t errlen) DM_MUSTCHECK;
int dm_store_tx_commit(dm_store_t *s, char *errbuf, size_t errlen) DM_MUSTCHECK;
void dm_store_tx_rollback(dm_store_t *s);

/* ---- feedback --------------------------------------------------------- */

/*
 * One feedback row.  All strings borrowed by the store.  id may be NULL
 * (the store then generates a unique one); intent may be NULL.
 */
typedef struct dm_feedback_row {
    const char *id;
    const char *query;
    const char *response;
    const char *intent;
    bool positive;
    int64_t created_at_ms;
} dm_feedback_row_t;

/*
 * Inserts n rows (n may be large; written in batches with prepared or
 * multi-row statements) in one transaction, or in the caller's.  A row
 * whose id already exists is skipped, so re-ingesting a file is harmless;
 * *inserted (may be NULL) receives the number of new rows.  The feedback
 * table must have a unique constraint on its id column.  DM_EINVAL for a
 * row with a NULL query or response; DM_ESTORE on failure (nothing
 * written when the call owns the transaction).
 */
int dm_store_feedback_insert(dm_store_t *s, const dm_feedback_row_t *rows,
                             size_t n, size_t *inserted, char *errbuf,
                             size_t errlen) DM_MUSTCHECK;

/* Rows of the feedback table in total (for tests and the CLI). */
int dm_store_feedback_count(dm_store_t *s, uint64_t *count, char *errbuf,
                            size_t errlen) DM_MUSTCHECK;

/* Count of one intent label in a window ("" label = NULL intent). */
typedef struct dm_store_intent_count {
    char *intent; /* owned; NULL when the rows have no intent */
    uint64_t count;
    uint64_t positives;
} dm_store_intent_count_t;

/* Aggregates of one window; release with dm_store_window_cleanup(). */
typedef struct dm_store_window {
    uint64_t total;
    uint64_t positives;
    dm_store_intent_count_t *intents; /* sorted by label, NULL last */
    size_t n_intents;
} dm_store_window_t;

/*
 * Counts the rows, the positive rows and the rows per intent label with
 * created_at in [start_ms, end_ms), over all rows, computed in the
 * database (one GROUP BY query on the timestamp index).  *out is
 * overwritten.  DM_EINVAL when end < start.
 */
int dm_store_window_aggregate(dm_store_t *s, int64_t start_ms, int64_t end_ms,
                              dm_store_window_t *out, char *errbuf,
                              size_t errlen) DM_MUSTCHECK;
void dm_store_window_cleanup(dm_store_window_t *w);

/* One sampled row; all strings owned by the enclosing dm_store_sample_t. */
typedef struct dm_store_sample_row {
    char *id;
    char *query;
    char *response;
    uint64_t hash; /* dm_store_sample_hash(id) */
    bool positive; /* the row's rating was positive */
} dm_store_sample_row_t;

typedef struct dm_store_sample {
    dm_store_sample_row_t *rows; /* ordered by hash, then id */
    size_t n;
} dm_store_sample_t;

/*
 * A deterministic uniform sample of at most max_rows rows of the window:
 * the rows whose ids have the smallest dm_store_sample_hash(), so the
 * same data gives the same sample on every call and on both backends,
 * and a row once sampled stays sampled while the window only grows by
 * rows that hash higher.  max_rows 0 means every row.  *out is
 * overwritten; release with dm_store_sample_cleanup().
 */
int dm_store_window_sample(dm_store_t *s, int64_t start_ms, int64_t end_ms,
                           size_t max_rows, dm_store_sample_t *out,
                           char *errbuf, size_t errlen) DM_MUSTCHECK;
void dm_store_sample_cleanup(dm_store_sample_t *smp);

/* The sampling hash of a row id (dm_hash_bytes with a fixed seed). */
uint64_t dm_store_sample_hash(const char *id);

/* ---- embedding cache --------------------------------------------------- */

/*
 * The cache holds one vector per (model fingerprint, row id), together
 * with a 64-bit hash of the text it was computed from (the caller's
 * choice of text and hash; the monitor uses dm_hash_bytes of
 * query + " " + response).  A vector is only handed out for the same
 * model, row id and text hash, so an edited row, or a row id of another
 * feedback table, is embedded again instead of reusing a vector of a
 * different text.
 */

/*
 * Looks up the vectors of n rows (ids[i] with text hash text_hashes[i])
 * for one model fingerprint.  vecs is n x dim floats (caller's); found[i]
 * is set true and row i of vecs filled for every cached row whose id,
 * text hash and dimension match (other rows of vecs untouched).
 * *n_found (may be NULL) counts them.
 */
int dm_store_embed_get(dm_store_t *s, const char *model, const char *const *ids,
                       const uint64_t *text_hashes, size_t n, size_t dim,
                       float *vecs, bool *found, size_t *n_found, char *errbuf,
                       size_t errlen) DM_MUSTCHECK;

/*
 * Stores (or replaces) the vectors of n rows (vecs: n x dim) with their
 * text hashes for one model fingerprint, in one transaction (or the
 * caller's).  Vectors are stored as little-endian float32 bytes.
 */
int dm_store_embed_put(dm_store_t *s, const char *model, const char *const *ids,
                       const uint64_t *text_hashes, size_t n, size_t dim,
                       const float *vecs, char *errbuf,
                       size_t errlen) DM_MUSTCHECK;

/* ---- drift_metrics ----------------------------------------------------- */

/*
 * One drift check as stored.  On insert every pointer is borrowed (NULL =
 * SQL NULL) and id is ignored; from dm_store_check_list() and the summary
 * every pointer is owned (free with dm_store_check_cleanup()).
 */
typedef struct dm_store_check {
    int64_t id;
    int64_t checked_at_ms;
    char *status; /* "ok", "insufficient_data" or "failed" */
    char *error;  /* message when status is "failed" */
    /* "live" (the configured window ending now: alerts, triggers, gauges,
       schedule) or "adhoc" (a backfill or an investigation: stored and
       listed only); NULL on insert means "live" */
    char *kind;
    char *failed_phase; /* status "failed": the phase that failed */
    int64_t window_days;
    int64_t baseline_start_ms, baseline_end_ms;
    int64_t current_start_ms, current_end_ms;
    int64_t baseline_count, current_count;     /* feedback rows */
    int64_t baseline_sampled, current_sampled; /* rows embedded */
    int64_t embedded_now;     /* of them computed by this check (not cached) */
    char *embedder;           /* the embedder's honest name */
    char *model;              /* model fingerprint (the cache key) */
    char *embedder_precision; /* "fp32" or "bf16" (schema 5; NULL before) */
    /* semantic drift: the deciding test (schema 2; NULL before) */
    char *semantic_test; /* "mmd" or "kl" */
    double semantic_effect, semantic_p_value, semantic_threshold;
    bool semantic_fired;
    double mmd, domain_auc, witness_auc; /* the effect's two AUCs */
    /* the seed's KL figures */
    double kl_divergence, kl_excess, kl_p_value, kl_max;
    int kl_top_dims[DM_STORE_TOP_DIMS];
    size_t n_top_dims;
    /* intent drift */
    double psi, psi_excess, psi_p_value;
    char *psi_method;
    /* quality drift */
    double baseline_accuracy, current_accuracy, accuracy_delta,
        accuracy_p_value;
    bool quality_below_floor; /* not drift; schema 2 */
    double floor_p_value, accuracy_min_drop;
    /* verdict */
    double combined_score;
    char *severity; /* "none", "info", "warning", "critical" */
    bool drift_detected, kl_fired, psi_fired;
    bool accuracy_fired; /* the accuracy drop (schema 2; the floor before) */
    /* settings used */
    double kl_threshold, psi_threshold, accuracy_min, alpha;
    int64_t permutations;
    char *kl_estimator; /* "excess" or "raw" */
    /* alert outcome: NULL until set; e.g. "sent", "failed",
       "suppressed", "disabled" */
    char *alert_status;
    char *alert_error;
    /* fine-tuning trigger outcome (schema 4): NULL until set; "success",
       "failed", "cooldown", "below_score", "no_drift", "disabled",
       "adhoc"; trigger_id is the finetuning_triggers row (0 = none) */
    char *trigger_status;
    char *trigger_job_id;
    char *trigger_error;
    int64_t trigger_id;
    char *details; /* JSON text */
} dm_store_check_t;

/* Sets every double of c to NAN, every pointer to NULL, the rest to 0. */
void dm_store_check_init(dm_store_check_t *c);
/* Frees the owned strings of a check read from the store. NULL-safe. */
void dm_store_check_cleanup(dm_store_check_t *c);

/*
 * Inserts one check in one statement (atomic); *id (may be NULL)
 * receives its id.  DM_EINVAL when status or severity is NULL or not one
 * of the values above, kind is neither NULL, "live" nor "adhoc", or details is
 * not valid JSON (PostgreSQL).
 */
int dm_store_check_insert(dm_store_t *s, const dm_store_check_t *c, int64_t *id,
                          char *errbuf, size_t errlen) DM_MUSTCHECK;

/* dm_store_check_list() flags */
enum {
    /* read the details JSON (the largest column, kilobytes a check);
     * without it details is NULL */
    DM_STORE_CHECK_DETAILS = 1u << 0,
    /* only checks with status "ok" */
    DM_STORE_CHECK_OK_ONLY = 1u << 1,
    /* only live checks (kind "live"): what alerts, triggers, the gauges
     * and the scheduler look at */
    DM_STORE_CHECK_LIVE_ONLY = 1u << 2,
};

/*
 * Checks with checked_at >= since_ms, newest first (ties: higher id
 * first), at most limit (0 = no limit), as flags (DM_STORE_CHECK_*)
 * say.  *out is a new array of *n checks (NULL when 0); free with
 * dm_store_check_list_free().
 */
int dm_store_check_list(dm_store_t *s, int64_t since_ms, size_t limit,
                        unsigned flags, dm_store_check_t **out, size_t *n,
                        char *errbuf, size_t errlen) DM_MUSTCHECK;
void dm_store_check_list_free(dm_store_check_t *list, size_t n);

/*
 * The check with this id, whole (details included), into *out (release
 * with dm_store_check_cleanup() whenever *found); *found false when there
 * is none.
 */
int dm_store_check_get(dm_store_t *s, int64_t id, dm_store_check_t *out,
                       bool *found, char *errbuf, size_t errlen) DM_MUSTCHECK;

/* Summary over the checks since a time; release with
 * dm_store_summary_cleanup(). */
typedef struct dm_store_summary {
    uint64_t total;                        /* checks */
    uint64_t by_severity[DM_SEVERITIES];   /* by dm_severity_t */
    uint64_t by_status[DM_CHECK_STATUSES]; /* by dm_check_status_t */
    uint64_t detected;                     /* drift_detected */
    double detection_rate; /* detected / ok checks; NAN if none */
    bool have_latest;
    dm_store_check_t latest; /* newest check, when have_latest */
} dm_store_summary_t;

int dm_store_check_summary(dm_store_t *s, int64_t since_ms,
                           dm_store_summary_t *out, char *errbuf,
                           size_t errlen) DM_MUSTCHECK;
void dm_store_summary_cleanup(dm_store_summary_t *sum);

/*
 * Records the alert outcome of stored check id (status borrowed,
 * error may be NULL).  DM_ENOTFOUND when no check has that id.
 */
int dm_store_check_set_alert(dm_store_t *s, int64_t id, const char *status,
                             const char *error, char *errbuf,
                             size_t errlen) DM_MUSTCHECK;

/*
 * Records the fine-tuning trigger outcome of stored check id (status
 * borrowed; job_id, error may be NULL; trigger_id 0 = no trigger row).
 * DM_ENOTFOUND when no check has that id.
 */
int dm_store_check_set_trigger(dm_store_t *s, int64_t id, const char *status,
                               const char *job_id, const char *error,
                               int64_t trigger_id, char *errbuf,
                               size_t errlen) DM_MUSTCHECK;

/*
 * The JSON of a check: one object with every field of the record under
 * its documented key (docs/api.md, "The check record"), generated from
 * the same table as the drift_metrics columns, so every place that shows
 * a check shows the same keys and values.  Times are RFC 3339 (seconds),
 * absent figures null; "details" (the stored details JSON: signals,
 * explanation, samples, settings, timings) only when details is true.
 * New reference, or NULL on ENOMEM.
 */
json_t *dm_store_check_to_json(const dm_store_check_t *c, bool details);

/*
 * Calls fn(name, help, value, arg) for each figure of the record that
 * has a Prometheus gauge of its own (named in the same field table as
 * its column and JSON key), in table order; timestamps in seconds,
 * booleans 0/1, an absent figure NaN (the caller leaves it out).
 */
typedef void (*dm_store_gauge_fn)(const char *name, const char *help,
                                  double value, void *arg);
void dm_store_check_gauges(const dm_store_check_t *c, dm_store_gauge_fn fn,
                           void *arg);

/* ---- finetuning_triggers ----------------------------------------------- */

/* One trigger attempt; pointer ownership as dm_store_check_t. */
typedef struct dm_store_trigger {
    int64_t id;
    int64_t triggered_at_ms;
    char *job_id;       /* NULL when the request failed */
    char *status;       /* "success" or "failed" */
    char *error;        /* NULL on success */
    char *metrics_json; /* the metrics sent, JSON text (may be NULL) */
    int64_t check_id;   /* 0 = none (manual trigger) */
    bool forced;        /* manual trigger */
} dm_store_trigger_t;

void dm_store_trigger_cleanup(dm_store_trigger_t *t);

/* Inserts an attempt; *id (may be NULL) receives its id. DM_EINVAL for a
 * status other than "success"/"failed". */
int dm_store_trigger_insert(dm_store_t *s, const dm_store_trigger_t *t,
                            int64_t *id, char *errbuf,
                            size_t errlen) DM_MUSTCHECK;

/* Time of the newest successful trigger in *ms; *found false when none. */
int dm_store_trigger_last_success(dm_store_t *s, int64_t *ms, bool *found,
                                  char *errbuf, size_t errlen) DM_MUSTCHECK;

/* Number of attempts (only successful ones when only_success). */
int dm_store_trigger_count(dm_store_t *s, bool only_success, uint64_t *count,
                           char *errbuf, size_t errlen) DM_MUSTCHECK;

/* Newest attempts first, at most limit (0 = all); free the array with
 * dm_store_trigger_list_free(). */
int dm_store_trigger_list(dm_store_t *s, size_t limit, dm_store_trigger_t **out,
                          size_t *n, char *errbuf, size_t errlen) DM_MUSTCHECK;
void dm_store_trigger_list_free(dm_store_trigger_t *list, size_t n);

/* ---- named lock ---------------------------------------------------------- */

/*
 * Tries to take the exclusive lock called name ([A-Za-z0-9_.-], at most
 * 64 bytes) for this store handle, without waiting.  Held until
 * dm_store_lock_release() or dm_store_free().  It excludes other handles
 * in this process and other processes (and, on PostgreSQL, other
 * machines).  PostgreSQL: pg_try_advisory_lock on this session; a lost
 * connection drops it (the next lock_try reconnects).  SQLite: flock()
 * on the file "<database path>.<name>.lock" (for an in-memory database
 * the lock only excludes other handles of this process).
 * Returns DM_OK, DM_EBUSY when held by someone else (or already by this
 * handle), DM_EINVAL for a bad name, DM_ESTORE/DM_EIO on failure.
 */
int dm_store_lock_try(dm_store_t *s, const char *name, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

/* Releases a lock taken with dm_store_lock_try(); DM_ENOTFOUND when this
 * handle does not hold it. */
int dm_store_lock_release(dm_store_t *s, const char *name, char *errbuf,
                          size_t errlen) DM_MUSTCHECK;

#endif
