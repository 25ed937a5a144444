/*
 * check.c - one drift check, step by step (DESIGN.md section 3):
 *
 *   1. windows from now (or as_of) and window_days;
 *   2. per-window aggregates (rows, positives, rows per intent) from the
 *      store, over all rows;
 *   3. fewer than min_samples rows in a window: store an
 *      "insufficient_data" row and stop;
 *   4. a deterministic sample of at most max_samples_per_window rows per
 *      window; their cached embeddings (keyed by the embedder's
 *      fingerprint) are reused, the missing ones embedded in chunks of
 *      whole encoder batches and cached as they are computed;
 *   5. statistics, severity and combined score (dm_analyze());
 *   6. one drift_metrics row, written by one INSERT (atomic);
 *   7. the alert (alert.c) and 8. the fine-tuning trigger (trigger.c).
 *
 * Between phases and between embedding chunks the check looks at the
 * monitor's cancel flag (set by dm_monitor_stop() after its grace time);
 * an abandoned check stores nothing.  A check that fails in steps 2-6
 * stores one row with status "failed" and the reason, when the store
 * still answers.  Embeddings cached before a failure stay cached: they
 * are correct, and the next check need not compute them again.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/time.h"
#include "monitor/monitor_int.h"

/* Seed of the embedding cache's text hash ("dmtextv1"). */
#define TEXT_HASH_SEED UINT64_C(0x646d746578747631)

/* One window's working data. */
struct win {
    int64_t start, end;
    dm_store_window_t agg;
    dm_store_sample_t smp;
    float *vecs;             /* smp.n x dim */
    bool *found;             /* cached */
    uint64_t *text_hash;     /* of each row's embedded text (the cache key) */
    double *emb;             /* smp.n x dim, for dm_analyze() */
    uint64_t *cats;          /* per category (dm_analyze_categories) */
    uint64_t *cpos;          /* positives per category */
    const char **queries;    /* smp.n, borrowed from smp: the explanation */
    unsigned char *positive; /* smp.n */
};

static void win_cleanup(struct win *w)
{
    dm_store_window_cleanup(&w->agg);
    dm_store_sample_cleanup(&w->smp);
    free(w->vecs);
    free(w->found);
    free(w->text_hash);
    free(w->emb);
    free(w->cats);
    free(w->cpos);
    free(w->queries);
    free(w->positive);
    memset(w, 0, sizeof(*w));
}

static double ms_since(uint64_t t0)
{
    return (double)(dm_time_mono_ns() - t0) / 1e6;
}

static int checkpoint(dm_monitor_t *m, char *err, size_t n)
{
    if (dm_monitor_cancelled(m))
        return dm_err_set(err, n, DM_ECANCELED,
                          "check abandoned: the monitor is stopping");
    return DM_OK;
}

static void progress(dm_monitor_t *m, dm_monitor_phase_t p, size_t done,
                     size_t total)
{
    if (m->opts.progress)
        m->opts.progress(p, done, total, m->opts.progress_arg);
}

static size_t encoder_threads(const dm_config_t *cfg)
{
    long n;

    if (cfg->embeddings.threads > 0)
        return cfg->embeddings.threads;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    /* the bound of embeddings.threads, the encoder's limit */
    return n > 64 ? 64 : n > 0 ? (size_t)n : 1;
}

/*
 * Logs once per change that the model files on disk are no longer those
 * the embedder was loaded from (the caller holds check_mu).  The check
 * goes on with the loaded model: the embedder owns its weights, and its
 * fingerprint names exactly what it computes, so cached embeddings never
 * mix two models.  Reloading here instead would swap the embedding
 * function under a running monitor, possibly from a half-copied model
 * directory; the operator decides when, by restarting.
 */
static void warn_model_changed(dm_monitor_t *m, dm_embedder_t *e)
{
    char what[DM_ERRBUF_SIZE];

    if (!dm_embedder_files_changed(e, what, sizeof(what))) {
        m->model_change_logged[0] = '\0';
        return;
    }
    if (strcmp(what, m->model_change_logged) == 0)
        return;
    dm_log_warn("embedder %s: model files changed on disk since they were "
                "loaded: %s; checks go on with the model as loaded (%s) "
                "until driftmon is restarted, which loads the files as they "
                "are then",
                dm_embedder_name(e), what, dm_embedder_fingerprint(e));
    snprintf(m->model_change_logged, sizeof(m->model_change_logged), "%s",
             what);
}

/* Remembers (or, with NULL, clears) why the embedder failed, for
 * dm_monitor_status(). */
static void embedder_state(dm_monitor_t *m, const char *error)
{
    pthread_mutex_lock(&m->state_mu);
    snprintf(m->embedder_error, sizeof(m->embedder_error), "%s",
             error ? error : "");
    pthread_mutex_unlock(&m->state_mu);
}

/* embeddings.precision as the embedder takes it (two enums: config does
 * not include embed). */
static dm_embed_precision_t embed_precision(dm_embeddings_precision_t p)
{
    switch (p) {
    case DM_EMBEDDINGS_PRECISION_AUTO:
        return DM_EMBED_PRECISION_AUTO;
    case DM_EMBEDDINGS_PRECISION_FP32:
        return DM_EMBED_PRECISION_FP32;
    case DM_EMBEDDINGS_PRECISION_BF16:
        return DM_EMBED_PRECISION_BF16;
    }
    return DM_EMBED_PRECISION_AUTO; /* not reached: the loader checks */
}

/*
 * Opens the embedder on first use; later, warns when its model files
 * changed on disk (the caller holds check_mu).
 */
static int embedder_get(dm_monitor_t *m, dm_embedder_t **out, char *err,
                        size_t n)
{
    const dm_config_t *cfg = m->cfg;
    dm_embedder_opts_t eo = {0};
    dm_embedder_t *e = NULL;
    int rc;

    if (m->embedder == NULL) {
        eo.model = cfg->embeddings.model;
        eo.model_path = cfg->embeddings.model_path;
        eo.dimension = cfg->embeddings.dimension;
        eo.check_dimension = true;
        eo.batch_size = cfg->embeddings.batch_size;
        eo.threads = encoder_threads(cfg);
        eo.precision = embed_precision(cfg->embeddings.precision);
        rc = dm_embedder_open(&eo, &e, err, n);
        if (rc != DM_OK) {
            rc = dm_err_prefix(err, n, rc,
                               "embedder %s: ", cfg->embeddings.model);
            embedder_state(m, err);
            return rc;
        }
        embedder_state(m, NULL);
        pthread_mutex_lock(&m->state_mu);
        m->embedder = e;
        snprintf(m->embedder_name, sizeof(m->embedder_name), "%s",
                 dm_embedder_name(e));
        snprintf(m->embedder_precision, sizeof(m->embedder_precision), "%s",
                 dm_embedder_precision(e));
        snprintf(m->embedder_precision_reason,
                 sizeof(m->embedder_precision_reason), "%s",
                 dm_embedder_precision_reason(e));
        pthread_mutex_unlock(&m->state_mu);
        dm_log_info("embedder %s (%s) ready, precision %s (%s)",
                    dm_embedder_name(e), dm_embedder_fingerprint(e),
                    dm_embedder_precision(e), dm_embedder_precision_reason(e));
    } else {
        warn_model_changed(m, m->embedder);
    }
    *out = m->embedder;
    return DM_OK;
}

/*
 * The text a row is embedded as: query + " " + response (DESIGN.md 1);
 * owned string, its length in *len.
 */
static char *row_text(const dm_store_sample_row_t *row, size_t *len)
{
    size_t ql = strlen(row->query), rl = strlen(row->response);
    char *t = dm_malloc(ql + rl + 2);

    memcpy(t, row->query, ql);
    t[ql] = ' ';
    memcpy(t + ql + 1, row->response, rl + 1);
    *len = ql + rl + 1;
    return t;
}

/* The cache's text hash: a vector is reused only for the same text. */
static uint64_t row_text_hash(const dm_store_sample_row_t *row)
{
    size_t len;
    char *t = row_text(row, &len);
    uint64_t h = dm_hash_bytes(t, len, TEXT_HASH_SEED);

    free(t);
    return h;
}

/* Index of the first non-finite value of v (dim floats), or dim. */
static size_t first_non_finite(const float *v, size_t dim)
{
    for (size_t j = 0; j < dim; j++)
        if (!isfinite(v[j]))
            return j;
    return dim;
}

/*
 * A cached vector with a non-finite value (a corrupted or hand-edited
 * cache row) would fail every check forever: it is logged with its row
 * id, treated as not cached, so the row is embedded again and its cache
 * entry replaced.  *n_found is lowered accordingly.
 */
static void drop_bad_cached(const char *fp, struct win *w, size_t dim,
                            size_t *n_found)
{
    for (size_t i = 0; i < w->smp.n; i++) {
        size_t j;

        if (!w->found[i])
            continue;
        j = first_non_finite(w->vecs + i * dim, dim);
        if (j == dim)
            continue;
        dm_log_warn("embedding cache: row %s (%s): dimension %zu is not a "
                    "finite number; the entry is dropped and the row "
                    "embedded again",
                    w->smp.rows[i].id, fp, j);
        w->found[i] = false;
        (*n_found)--;
    }
}

/* Cache look-up of a window's sampled rows. */
static int cache_get(dm_store_t *st, const char *fp, struct win *w, size_t dim,
                     size_t *n_found, char *err, size_t n)
{
    const char **ids;
    int rc;

    w->vecs = dm_mallocarray(w->smp.n ? w->smp.n : 1, dim * sizeof(float));
    w->found = dm_calloc(w->smp.n ? w->smp.n : 1, sizeof(bool));
    w->text_hash = dm_mallocarray(w->smp.n ? w->smp.n : 1, sizeof(uint64_t));
    ids = dm_mallocarray(w->smp.n ? w->smp.n : 1, sizeof(*ids));
    for (size_t i = 0; i < w->smp.n; i++) {
        ids[i] = w->smp.rows[i].id;
        w->text_hash[i] = row_text_hash(&w->smp.rows[i]);
    }
    rc = dm_store_embed_get(st, fp, ids, w->text_hash, w->smp.n, dim, w->vecs,
                            w->found, n_found, err, n);
    if (rc == DM_OK)
        drop_bad_cached(fp, w, dim, n_found);
    free(ids);
    return rc;
}

/*
 * Embeds the rows of w that were not cached, chunk by chunk, and caches
 * each chunk.  *done counts rows embedded so far (both windows) of total.
 */
static int embed_missing(dm_monitor_t *m, dm_store_t *st, dm_embedder_t *e,
                         struct win *w, size_t chunk, size_t *done,
                         size_t total, char *err, size_t n)
{
    size_t dim = dm_embedder_dim(e);
    const char *fp = dm_embedder_fingerprint(e);
    size_t *idx = dm_mallocarray(chunk, sizeof(size_t));
    char **texts = dm_calloc(chunk, sizeof(char *));
    size_t *lens = dm_mallocarray(chunk, sizeof(size_t));
    const char **ids = dm_mallocarray(chunk, sizeof(char *));
    uint64_t *hashes = dm_mallocarray(chunk, sizeof(uint64_t));
    float *out = dm_mallocarray(chunk, dim * sizeof(float));
    size_t i = 0;
    int rc = DM_OK;

    while (rc == DM_OK && i < w->smp.n) {
        size_t k = 0;

        for (; i < w->smp.n && k < chunk; i++) {
            if (w->found[i])
                continue;
            texts[k] = row_text(&w->smp.rows[i], &lens[k]);
            ids[k] = w->smp.rows[i].id;
            hashes[k] = w->text_hash[i];
            idx[k++] = i;
        }
        if (k == 0)
            break;
        rc = checkpoint(m, err, n);
        if (rc == DM_OK) {
            rc = dm_embedder_embed(e, (const char *const *)texts, lens, k, out,
                                   err, n);
            if (rc != DM_OK && rc != DM_ECANCELED)
                embedder_state(m, err);
        }
        /* never cache (or analyse) a vector that is not finite; say
         * which row, not which sample index */
        for (size_t j = 0; rc == DM_OK && j < k; j++) {
            size_t d = first_non_finite(out + j * dim, dim);
            if (d < dim)
                rc = dm_err_set(err, n, DM_EMODEL,
                                "embedder %s: row %.200s, dimension %zu: "
                                "non-finite value",
                                dm_embedder_name(e), ids[j], d);
        }
        if (rc == DM_OK)
            rc = dm_store_embed_put(st, fp, ids, hashes, k, dim, out, err, n);
        if (rc == DM_OK)
            for (size_t j = 0; j < k; j++)
                memcpy(w->vecs + idx[j] * dim, out + j * dim,
                       dim * sizeof(float));
        for (size_t j = 0; j < k; j++) {
            free(texts[j]);
            texts[j] = NULL;
        }
        *done += k;
        progress(m, DM_MONITOR_PHASE_EMBED, *done, total);
    }
    free(idx);
    free(texts);
    free(lens);
    free(ids);
    free(hashes);
    free(out);
    return rc;
}

static void to_double(struct win *w, size_t dim)
{
    size_t total = w->smp.n * dim;

    w->emb = dm_mallocarray(total ? total : 1, sizeof(double));
    for (size_t i = 0; i < total; i++)
        w->emb[i] = (double)w->vecs[i];
}

static void count_categories(const dm_config_t *cfg, struct win *w)
{
    w->cats = dm_calloc(dm_analyze_categories(cfg), sizeof(uint64_t));
    w->cpos = dm_calloc(dm_analyze_categories(cfg), sizeof(uint64_t));
    for (size_t i = 0; i < w->agg.n_intents; i++) {
        size_t k = dm_analyze_category_of(cfg, w->agg.intents[i].intent);

        w->cats[k] += w->agg.intents[i].count;
        w->cpos[k] += w->agg.intents[i].positives;
    }
}

/* The sampled rows' queries and ratings, for the explanation. */
static void sample_texts(struct win *w)
{
    size_t n = w->smp.n ? w->smp.n : 1;

    w->queries = dm_mallocarray(n, sizeof(*w->queries));
    w->positive = dm_malloc(n);
    for (size_t i = 0; i < w->smp.n; i++) {
        w->queries[i] = w->smp.rows[i].query;
        w->positive[i] = w->smp.rows[i].positive;
    }
}

static json_t *intent_counts_json(const dm_store_window_t *agg)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < agg->n_intents; i++)
        json_object_set_new(
            o, agg->intents[i].intent ? agg->intents[i].intent : "(none)",
            json_integer((json_int_t)agg->intents[i].count));
    return o;
}

static void row_fill(const dm_monitor_t *m, const dm_monitor_result_t *r,
                     dm_store_check_t *c);

/* Removes from o the keys the check record has (they have one home). */
static void drop_record_keys(const dm_monitor_t *m,
                             const dm_monitor_result_t *r, json_t *o)
{
    dm_store_check_t c;
    json_t *rec;
    const char *key;
    json_t *v;

    row_fill(m, r, &c);
    rec = dm_store_check_to_json(&c, false);
    json_object_foreach(rec, key, v) json_object_del(o, key);
    json_decref(rec);
}

/* The "details" JSON of a check (owned string; NULL on ENOMEM). */
static char *details_text(const dm_monitor_t *m, const dm_monitor_result_t *r,
                          const dm_monitor_check_opts_t *opts,
                          const struct win *base, const struct win *cur)
{
    json_t *o = json_object(), *t = json_object();
    char *s = NULL;

    if (o == NULL || t == NULL)
        goto out;
    if (r->have_analysis) {
        if (dm_analysis_to_json(&r->analysis, o) != DM_OK)
            goto out;
        /* the figures the record has a field for live there only; the
         * top dimensions keep their KL values here */
        json_object_set(o, "kl_top", json_object_get(o, "kl_top_dims"));
        drop_record_keys(m, r, o);
    }
    json_object_set_new(o, "manual", json_boolean(opts->manual));
    json_object_set_new(o, "as_of", json_integer((json_int_t)opts->as_of_ms));
    json_object_set_new(o, "min_samples",
                        json_integer(m->cfg->monitoring.min_samples));
    json_object_set_new(
        o, "max_samples_per_window",
        json_integer(m->cfg->monitoring.max_samples_per_window));
    json_object_set_new(o, "intent_counts",
                        json_pack("{s:o, s:o}", "baseline",
                                  intent_counts_json(&base->agg), "current",
                                  intent_counts_json(&cur->agg)));
    for (int p = 0; p <= DM_MONITOR_PHASE_STATS; p++)
        json_object_set_new(t, dm_monitor_phase_name((dm_monitor_phase_t)p),
                            json_real(r->phase_ms[p]));
    json_object_set_new(o, "timings_ms", t);
    t = NULL;
    s = json_dumps(o, JSON_COMPACT);
out:
    json_decref(t);
    json_decref(o);
    return s;
}

/* An outcome text of the result as a column: "" (not reached) is NULL. */
static char *outcome(const char *s)
{
    return s[0] ? (char *)(uintptr_t)s : NULL;
}

/* Fills the stored row from the result (pointers borrowed from r/cfg). */
static void row_fill(const dm_monitor_t *m, const dm_monitor_result_t *r,
                     dm_store_check_t *c)
{
    const dm_config_t *cfg = m->cfg;
    const dm_analysis_t *a = &r->analysis;

    dm_store_check_init(c);
    c->checked_at_ms = r->checked_at_ms;
    c->status = (char *)(uintptr_t)r->status;
    c->kind = (char *)(uintptr_t)dm_check_kind_name(r->adhoc ? DM_CHECK_ADHOC
                                                             : DM_CHECK_LIVE);
    c->error = r->error[0] ? (char *)(uintptr_t)r->error : NULL;
    c->baseline_start_ms = r->baseline_start_ms;
    c->baseline_end_ms = r->baseline_end_ms;
    c->current_start_ms = r->current_start_ms;
    c->current_end_ms = r->current_end_ms;
    c->baseline_count = (int64_t)r->baseline_count;
    c->current_count = (int64_t)r->current_count;
    c->baseline_sampled = (int64_t)r->baseline_sampled;
    c->current_sampled = (int64_t)r->current_sampled;
    c->failed_phase = (char *)(uintptr_t)r->failed_phase;
    c->window_days = r->window_days;
    c->embedded_now = (int64_t)r->embedded_now;
    c->embedder = r->embedder[0] ? (char *)(uintptr_t)r->embedder : NULL;
    c->model = r->fingerprint[0] ? (char *)(uintptr_t)r->fingerprint : NULL;
    c->embedder_precision = r->embedder_precision[0]
                                ? (char *)(uintptr_t)r->embedder_precision
                                : NULL;
    c->alert_status = outcome(r->alert_status);
    c->alert_error = outcome(r->alert_error);
    c->trigger_status = outcome(r->trigger_status);
    c->trigger_job_id = outcome(r->trigger_job_id);
    c->trigger_error = outcome(r->trigger_error);
    c->trigger_id = r->trigger_id;
    c->severity = (char *)(uintptr_t) "none";
    c->kl_threshold = cfg->thresholds.kl_threshold;
    c->psi_threshold = cfg->thresholds.psi_threshold;
    c->accuracy_min = cfg->thresholds.accuracy_min;
    c->accuracy_min_drop = cfg->thresholds.accuracy_min_drop;
    c->semantic_test =
        (char *)(uintptr_t)dm_config_semantic_test_name(cfg->embeddings.test);
    c->semantic_threshold = cfg->embeddings.test == DM_SEMANTIC_TEST_KL
                                ? cfg->thresholds.kl_threshold
                                : cfg->thresholds.semantic_threshold;
    c->alpha = cfg->significance.alpha;
    c->permutations = cfg->significance.permutations;
    c->kl_estimator = (char *)(uintptr_t)dm_config_kl_estimator_name(
        cfg->embeddings.kl_estimator);
    if (!r->have_analysis)
        return;
    if (a->have_semantic) {
        bool kl_null = a->test == DM_SEMANTIC_TEST_KL && a->permutations > 0;

        c->semantic_effect = a->semantic_effect;
        c->semantic_p_value = a->semantic_p_value;
        if (a->test == DM_SEMANTIC_TEST_MMD) {
            c->mmd = a->mmd.mmd2;
            c->domain_auc = a->domain.auc;
            c->witness_auc = a->mmd.witness_auc;
        }
        c->kl_divergence = a->kl.kl_divergence;
        c->kl_excess = kl_null ? a->kl.kl_excess : (double)NAN;
        c->kl_p_value = a->kl.p_value;
        c->kl_max = a->kl.kl_max;
        c->n_top_dims = a->kl.n_top;
        for (size_t i = 0; i < a->kl.n_top && i < DM_STORE_TOP_DIMS; i++)
            c->kl_top_dims[i] = (int)a->kl.top_dims[i];
    }
    if (a->have_psi) {
        c->psi = a->psi.psi;
        c->psi_excess = a->psi.psi_excess;
        c->psi_p_value = a->psi.p_value;
        c->psi_method = (char *)(uintptr_t)a->psi.method;
    }
    if (a->have_accuracy) {
        c->baseline_accuracy = a->acc.baseline_accuracy;
        c->current_accuracy = a->acc.current_accuracy;
        c->accuracy_delta = a->acc.accuracy_delta;
        c->accuracy_p_value = a->acc.p_value;
        c->floor_p_value = a->acc.floor_p_value;
    }
    c->combined_score = a->verdict.combined_score;
    c->severity = (char *)(uintptr_t)dm_severity_name(a->verdict.severity);
    c->drift_detected = a->verdict.drift_detected;
    c->semantic_fired = a->semantic_fired;
    c->kl_fired = a->test == DM_SEMANTIC_TEST_KL && a->semantic_fired;
    c->psi_fired = a->psi_fired;
    c->accuracy_fired = a->accuracy_drop_fired;
    c->quality_below_floor = a->below_floor;
}

static int store_row(dm_monitor_t *m, dm_store_t *st, dm_monitor_result_t *r,
                     const dm_monitor_check_opts_t *opts, const struct win *b,
                     const struct win *c, char *err, size_t n)
{
    dm_store_check_t row;
    char *details = details_text(m, r, opts, b, c);
    int rc;

    row_fill(m, r, &row);
    row.details = details;
    rc = dm_store_check_insert(st, &row, &r->check_id, err, n);
    free(details);
    return rc;
}

/*
 * Stores what followed the check (the alert and the trigger outcome), so
 * the stored record is the whole check.  The check itself is stored
 * already: a failure here is logged, not the check's.
 */
static void record_outcomes(dm_store_t *st, const dm_monitor_result_t *r)
{
    char err[DM_ERRBUF_SIZE];

    if (dm_store_check_set_alert(st, r->check_id, outcome(r->alert_status),
                                 outcome(r->alert_error), err,
                                 sizeof(err)) != DM_OK ||
        dm_store_check_set_trigger(st, r->check_id, outcome(r->trigger_status),
                                   outcome(r->trigger_job_id),
                                   outcome(r->trigger_error), r->trigger_id,
                                   err, sizeof(err)) != DM_OK)
        dm_log_error("check %lld: outcome not stored: %s",
                     (long long)r->check_id, err);
}

int dm_monitor_result_json(dm_monitor_t *m, const dm_monitor_result_t *r,
                           json_t **out, char *errbuf, size_t errlen)
{
    dm_store_check_t c;
    dm_store_t *st = NULL;
    bool found = false;
    int rc;

    *out = NULL;
    if (r->check_id > 0) {
        /* the stored record, as GET /drift/checks/{id} will serve it */
        rc = dm_store_pool_get(m->pool, &st, errbuf, errlen);
        if (rc == DM_OK)
            rc =
                dm_store_check_get(st, r->check_id, &c, &found, errbuf, errlen);
        dm_store_pool_put(m->pool, st, rc != DM_OK);
        if (rc != DM_OK)
            return rc;
        if (found) {
            *out = dm_store_check_to_json(&c, true);
            dm_store_check_cleanup(&c);
            return *out
                       ? DM_OK
                       : dm_err_set(errbuf, errlen, DM_ENOMEM, "out of memory");
        }
    }
    /* not stored (the store failed): the same record, without details */
    row_fill(m, r, &c);
    c.id = 0;
    *out = dm_store_check_to_json(&c, true);
    return *out ? DM_OK
                : dm_err_set(errbuf, errlen, DM_ENOMEM, "out of memory");
}

static void set_windows(dm_monitor_result_t *r, int64_t end, uint32_t days)
{
    int64_t span = (int64_t)days * DM_MS_PER_DAY;

    r->window_days = days;
    r->current_end_ms = end;
    r->current_start_ms = end - span;
    r->baseline_end_ms = end - span;
    r->baseline_start_ms = end - 2 * span;
}

/* Steps 4-5: sample, embeddings, statistics. */
static int analyze_windows(dm_monitor_t *m, dm_store_t *st, struct win *b,
                           struct win *c, dm_monitor_result_t *r,
                           dm_monitor_phase_t *phase, char *err, size_t n)
{
    const dm_config_t *cfg = m->cfg;
    dm_embedder_t *e = NULL;
    dm_window_data_t wb = {0}, wc = {0};
    size_t dim, fb = 0, fc = 0, done = 0, missing, chunk;
    uint64_t t0;
    int rc;

    *phase = DM_MONITOR_PHASE_SAMPLE;
    t0 = dm_time_mono_ns();
    rc = dm_store_window_sample(st, b->start, b->end,
                                cfg->monitoring.max_samples_per_window, &b->smp,
                                err, n);
    if (rc == DM_OK)
        rc = dm_store_window_sample(st, c->start, c->end,
                                    cfg->monitoring.max_samples_per_window,
                                    &c->smp, err, n);
    r->phase_ms[DM_MONITOR_PHASE_SAMPLE] = ms_since(t0);
    if (rc != DM_OK)
        return rc;
    r->baseline_sampled = b->smp.n;
    r->current_sampled = c->smp.n;

    *phase = DM_MONITOR_PHASE_EMBED;
    t0 = dm_time_mono_ns();
    if ((rc = checkpoint(m, err, n)) != DM_OK ||
        (rc = embedder_get(m, &e, err, n)) != DM_OK)
        return rc;
    dim = dm_embedder_dim(e);
    snprintf(r->embedder, sizeof(r->embedder), "%s", dm_embedder_name(e));
    snprintf(r->fingerprint, sizeof(r->fingerprint), "%s",
             dm_embedder_fingerprint(e));
    snprintf(r->embedder_precision, sizeof(r->embedder_precision), "%s",
             dm_embedder_precision(e));
    rc = cache_get(st, r->fingerprint, b, dim, &fb, err, n);
    if (rc == DM_OK)
        rc = cache_get(st, r->fingerprint, c, dim, &fc, err, n);
    if (rc != DM_OK)
        return rc;
    missing = b->smp.n - fb + c->smp.n - fc;
    chunk = (size_t)cfg->embeddings.batch_size * encoder_threads(cfg) * 16;
    if (missing > 0) {
        progress(m, DM_MONITOR_PHASE_EMBED, 0, missing);
        rc = embed_missing(m, st, e, b, chunk, &done, missing, err, n);
        if (rc == DM_OK)
            rc = embed_missing(m, st, e, c, chunk, &done, missing, err, n);
        if (rc != DM_OK)
            return rc;
    }
    r->embedded_now = missing;
    embedder_state(m, NULL); /* it loaded and embedded what was missing */
    to_double(b, dim);
    to_double(c, dim);
    r->phase_ms[DM_MONITOR_PHASE_EMBED] = ms_since(t0);

    *phase = DM_MONITOR_PHASE_STATS;
    if ((rc = checkpoint(m, err, n)) != DM_OK)
        return rc;
    t0 = dm_time_mono_ns();
    count_categories(cfg, b);
    count_categories(cfg, c);
    sample_texts(b);
    sample_texts(c);
    wb.queries = b->queries;
    wb.positive = b->positive;
    wb.intent_positives = b->cpos;
    wc.queries = c->queries;
    wc.positive = c->positive;
    wc.intent_positives = c->cpos;
    wb.embeddings = b->emb;
    wb.n_embeddings = b->smp.n;
    wb.intent_counts = b->cats;
    wb.positives = b->agg.positives;
    wb.total_feedback = b->agg.total;
    wc.embeddings = c->emb;
    wc.n_embeddings = c->smp.n;
    wc.intent_counts = c->cats;
    wc.positives = c->agg.positives;
    wc.total_feedback = c->agg.total;
    rc = dm_analyze(cfg, &wb, &wc, dim, &r->analysis, err, n);
    r->phase_ms[DM_MONITOR_PHASE_STATS] = ms_since(t0);
    if (rc != DM_OK)
        return rc;
    r->have_analysis = true;
    return DM_OK;
}

/*
 * Live or ad hoc (see dm_monitor_check_opts_t); DM_EINVAL for an as_of in
 * the future.
 */
static int classify(const dm_monitor_t *m, const dm_monitor_check_opts_t *o,
                    int64_t now, bool *adhoc, char *err, size_t n)
{
    char t[DM_TIME_STRLEN];

    if (o->as_of_ms > now + DM_MONITOR_AS_OF_SLACK_MS)
        return dm_err_set(err, n, DM_EINVAL,
                          "as_of %s is in the future: a check can only look "
                          "back",
                          dm_time_format_s(o->as_of_ms, t, sizeof(t)));
    *adhoc =
        (o->as_of_ms != 0 && o->as_of_ms < now - DM_MONITOR_AS_OF_SLACK_MS) ||
        (o->window_days != 0 &&
         o->window_days != m->cfg->monitoring.sliding_window_days);
    return DM_OK;
}

int dm_monitor_embedder_open(dm_monitor_t *m, char *errbuf, size_t errlen)
{
    dm_embedder_t *e = NULL;
    int rc;

    pthread_mutex_lock(&m->check_mu);
    rc = embedder_get(m, &e, errbuf, errlen);
    pthread_mutex_unlock(&m->check_mu);
    return rc;
}

int dm_monitor_check_run(dm_monitor_t *m, dm_store_t *st,
                         const dm_monitor_check_opts_t *opts,
                         dm_monitor_result_t *r, char *errbuf, size_t errlen)
{
    const dm_config_t *cfg = m->cfg;
    dm_monitor_check_opts_t o = {0};
    struct win b = {0}, c = {0};
    dm_monitor_phase_t phase = DM_MONITOR_PHASE_AGGREGATE;
    uint64_t start = dm_time_mono_ns(), t0;
    char err[DM_ERRBUF_SIZE] = "";
    int rc;

    if (opts)
        o = *opts;
    memset(r, 0, sizeof(*r));
    r->status = "failed";
    r->checked_at_ms = dm_time_now_ms();
    rc = classify(m, &o,
                  m->opts.live_now_ms ? m->opts.live_now_ms : r->checked_at_ms,
                  &r->adhoc, err, sizeof(err));
    if (rc != DM_OK) {
        snprintf(r->error, sizeof(r->error), "%s", err);
        dm_err_set(errbuf, errlen, rc, "%s", err);
        return rc;
    }
    set_windows(r, o.as_of_ms ? o.as_of_ms : r->checked_at_ms,
                o.window_days ? o.window_days
                              : cfg->monitoring.sliding_window_days);
    b.start = r->baseline_start_ms;
    b.end = r->baseline_end_ms;
    c.start = r->current_start_ms;
    c.end = r->current_end_ms;

    t0 = dm_time_mono_ns();
    if ((rc = checkpoint(m, err, sizeof(err))) != DM_OK)
        goto out;
    rc =
        dm_store_window_aggregate(st, b.start, b.end, &b.agg, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_window_aggregate(st, c.start, c.end, &c.agg, err,
                                       sizeof(err));
    r->phase_ms[DM_MONITOR_PHASE_AGGREGATE] = ms_since(t0);
    if (rc != DM_OK)
        goto out;
    r->baseline_count = b.agg.total;
    r->current_count = c.agg.total;

    if (b.agg.total < cfg->monitoring.min_samples ||
        c.agg.total < cfg->monitoring.min_samples) {
        r->status = "insufficient_data";
        dm_log_info("insufficient data: %" PRIu64 " baseline and %" PRIu64
                    " current rows, %u needed in each window",
                    b.agg.total, c.agg.total,
                    (unsigned)cfg->monitoring.min_samples);
    } else {
        rc = analyze_windows(m, st, &b, &c, r, &phase, err, sizeof(err));
        if (rc != DM_OK)
            goto out;
        r->status = "ok";
    }

    phase = DM_MONITOR_PHASE_STORE;
    if ((rc = checkpoint(m, err, sizeof(err))) != DM_OK)
        goto out;
    t0 = dm_time_mono_ns();
    rc = store_row(m, st, r, &o, &b, &c, err, sizeof(err));
    r->phase_ms[DM_MONITOR_PHASE_STORE] = ms_since(t0);
    if (rc != DM_OK)
        goto out;

    if (r->adhoc) {
        /* a backfill or an investigation: it must not end or start an
         * episode, nor ask for fine-tuning (DESIGN.md section 3) */
        snprintf(r->alert_status, sizeof(r->alert_status), "adhoc");
        snprintf(r->trigger_status, sizeof(r->trigger_status), "adhoc");
    } else if (strcmp(r->status, "ok") == 0) {
        t0 = dm_time_mono_ns();
        dm_monitor_alert(m, st, r);
        r->phase_ms[DM_MONITOR_PHASE_ALERT] = ms_since(t0);
        t0 = dm_time_mono_ns();
        dm_monitor_trigger_auto(m, st, r);
        r->phase_ms[DM_MONITOR_PHASE_TRIGGER] = ms_since(t0);
    } else {
        snprintf(r->alert_status, sizeof(r->alert_status), "none");
        snprintf(r->trigger_status, sizeof(r->trigger_status), "no_drift");
    }
    record_outcomes(st, r);
out:
    if (rc != DM_OK) {
        r->status = "failed";
        r->have_analysis = false;
        r->failed_phase = dm_monitor_phase_name(phase);
        snprintf(r->error, sizeof(r->error), "%s: %.480s",
                 dm_monitor_phase_name(phase), err[0] ? err : dm_strerror(rc));
        if (rc == DM_ECANCELED) {
            dm_log_warn("%s", r->error);
        } else {
            char err2[DM_ERRBUF_SIZE];

            dm_log_error("check failed in phase %s: %s",
                         dm_monitor_phase_name(phase), r->error);
            r->check_id = 0;
            if (store_row(m, st, r, &o, &b, &c, err2, sizeof(err2)) != DM_OK) {
                r->check_id = 0;
                dm_log_error("the failed check could not be stored: %s", err2);
            }
        }
        dm_err_set(errbuf, errlen, rc, "%s", r->error);
    }
    r->total_ms = ms_since(start);
    win_cleanup(&b);
    win_cleanup(&c);
    return rc;
}
