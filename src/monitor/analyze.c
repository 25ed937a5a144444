/*
 * analyze.c - turns two windows' data into the figures and verdict of a
 * drift check (DESIGN.md section 2), applying the config's thresholds,
 * significance settings and KL estimator.  The statistics themselves live
 * in src/stats/; this file decides which signals exist, which fire, and
 * how they are reported (JSON and a readable table).
 */
#include "monitor/analyze.h"

#include <math.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/json.h"
#include "common/time.h"

size_t dm_analyze_categories(const dm_config_t *cfg)
{
    return (size_t)cfg->intents.categories_count + 1;
}

const char *dm_analyze_category_name(const dm_config_t *cfg, size_t i)
{
    if (i < cfg->intents.categories_count)
        return cfg->intents.categories[i];
    return "other";
}

size_t dm_analyze_category_of(const dm_config_t *cfg, const char *label)
{
    if (label != NULL)
        for (unsigned i = 0; i < cfg->intents.categories_count; i++)
            if (strcasecmp(label, cfg->intents.categories[i]) == 0)
                return i;
    return cfg->intents.categories_count;
}

static unsigned worker_threads(const dm_config_t *cfg)
{
    long n;

    if (cfg->embeddings.threads > 0)
        return cfg->embeddings.threads;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The semantic signal: the seed's KL always, the deciding test's figures. */
static int semantic(const dm_config_t *cfg, const dm_window_data_t *baseline,
                    const dm_window_data_t *current, size_t dim,
                    const dm_stats_sig_t *sig, dm_analysis_t *out, char *errbuf,
                    size_t errlen)
{
    bool kl_test = cfg->embeddings.test == DM_SEMANTIC_TEST_KL;
    size_t nb = baseline->n_embeddings, nc = current->n_embeddings;
    int rc;

    /* the KL's permutation null only where it decides */
    rc = dm_stats_kl(baseline->embeddings, nb, current->embeddings, nc, dim,
                     cfg->embeddings.bins, kl_test ? sig : NULL, &out->kl, NULL,
                     errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    out->have_semantic = true;
    out->dim = dim;
    out->baseline_embedded = nb;
    out->current_embedded = nc;
    out->kl_effect = cfg->embeddings.kl_estimator == DM_KL_ESTIMATOR_RAW
                         ? out->kl.kl_divergence
                         : out->kl.kl_excess;
    if (kl_test) {
        out->semantic_effect = out->kl_effect;
        out->semantic_threshold = cfg->thresholds.kl_threshold;
        out->semantic_p_value = out->kl.p_value;
        return DM_OK;
    }
    out->kl.p_value = (double)NAN;
    out->semantic_threshold = cfg->thresholds.semantic_threshold;
    if (nb < DM_STATS_DOMAIN_FOLDS || nc < DM_STATS_DOMAIN_FOLDS)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "the MMD test needs at least %d embedded rows per "
                          "window (%zu baseline, %zu current); raise "
                          "monitoring.min_samples",
                          DM_STATS_DOMAIN_FOLDS, nb, nc);
    rc = dm_stats_mmd(baseline->embeddings, nb, current->embeddings, nc, dim,
                      sig, &out->mmd, errbuf, errlen);
    if (rc == DM_OK)
        rc = dm_stats_domain(baseline->embeddings, nb, current->embeddings, nc,
                             dim, cfg->significance.seed, &out->domain, errbuf,
                             errlen);
    if (rc != DM_OK)
        return rc;
    /*
     * The effect: 2 (AUC - 0.5) of the mean held-out AUC of two domain
     * classifiers, the linear one (all rows) and the MMD witness (the
     * MMD's rows, a kernel one); they err on different samples, so the
     * mean reads the share of new traffic with about half the spread of
     * either (docs/drift-math.md).
     */
    out->semantic_effect =
        (out->domain.auc - 0.5) + (out->mmd.witness_auc - 0.5);
    if (!(out->semantic_effect > 0.0))
        out->semantic_effect = 0.0;
    out->semantic_p_value = out->mmd.p_value;
    return DM_OK;
}

/* p < alpha, or no test at all (significance testing off) */
static bool significant(double p_adjusted, double alpha)
{
    return isnan(p_adjusted) || p_adjusted < alpha;
}

/* Holm over the drift signals present, then which fired. */
static void decide(dm_analysis_t *a)
{
    double p[3], adj[3];

    p[0] = a->have_semantic ? a->semantic_p_value : (double)NAN;
    p[1] = a->have_psi ? a->psi.p_value : (double)NAN;
    p[2] = a->have_accuracy ? a->acc.p_value : (double)NAN;
    dm_stats_holm(p, 3, adj);
    a->semantic_p_adjusted = adj[0];
    a->psi_p_adjusted = adj[1];
    a->accuracy_p_adjusted = adj[2];

    if (a->have_semantic) {
        bool big = a->test == DM_SEMANTIC_TEST_KL
                       ? dm_stats_gt(a->semantic_effect, a->semantic_threshold)
                       : dm_stats_ge(a->semantic_effect, a->semantic_threshold);

        a->semantic_fired = big && significant(adj[0], a->alpha);
    }
    if (a->have_psi)
        a->psi_fired = dm_stats_gt(a->psi.psi_excess, a->psi_threshold) &&
                       significant(adj[1], a->alpha);
    if (a->have_accuracy) {
        a->accuracy_drop_fired =
            dm_stats_ge(a->acc.accuracy_delta, a->accuracy_min_drop) &&
            adj[2] < a->alpha;
        /* the floor is a condition of its own, tested at alpha */
        a->below_floor = a->acc.current_accuracy < a->accuracy_min &&
                         a->acc.floor_p_value < a->alpha;
    }
}

int dm_analyze(const dm_config_t *cfg, const dm_window_data_t *baseline,
               const dm_window_data_t *current, size_t dim, dm_analysis_t *out,
               char *errbuf, size_t errlen)
{
    dm_stats_sig_t sig;
    dm_stats_verdict_in_t vin;
    uint64_t t0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->test = cfg->embeddings.test;
    out->kl_threshold = cfg->thresholds.kl_threshold;
    out->psi_threshold = cfg->thresholds.psi_threshold;
    out->accuracy_min = cfg->thresholds.accuracy_min;
    out->accuracy_min_drop = cfg->thresholds.accuracy_min_drop;
    out->alpha = cfg->significance.alpha;
    out->permutations = cfg->significance.permutations;
    out->bins = cfg->embeddings.bins;
    out->estimator = cfg->embeddings.kl_estimator;
    out->kl.p_value = (double)NAN;
    out->mmd.p_value = (double)NAN;
    out->domain.auc = (double)NAN;
    out->semantic_p_value = (double)NAN;
    out->semantic_p_adjusted = (double)NAN;
    out->psi.p_value = (double)NAN;
    out->psi_p_adjusted = (double)NAN;
    out->acc.p_value = (double)NAN;
    out->acc.floor_p_value = (double)NAN;
    out->accuracy_p_adjusted = (double)NAN;

    sig.permutations = cfg->significance.permutations;
    sig.alpha = cfg->significance.alpha;
    sig.seed = cfg->significance.seed;
    sig.threads = worker_threads(cfg);

    if ((baseline->n_embeddings > 0) != (current->n_embeddings > 0))
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "embedding drift: only the %s window has "
                          "embeddings; both windows need them, or neither",
                          baseline->n_embeddings > 0 ? "baseline" : "current");
    if (baseline->n_embeddings > 0) {
        rc = semantic(cfg, baseline, current, dim, &sig, out, errbuf, errlen);
        if (rc != DM_OK)
            return dm_err_prefix(errbuf, errlen, rc, "embedding drift: ");
    }

    if (baseline->intent_counts != NULL && current->intent_counts != NULL) {
        size_t k = dm_analyze_categories(cfg);
        uint64_t nb = 0, nc = 0;

        for (size_t i = 0; i < k; i++) {
            nb += baseline->intent_counts[i];
            nc += current->intent_counts[i];
        }
        if (nb > 0 && nc > 0) {
            rc = dm_stats_psi(baseline->intent_counts, current->intent_counts,
                              k, k - 1, cfg->intents.min_samples_per_intent,
                              &sig, &out->psi, errbuf, errlen);
            if (rc != DM_OK)
                return dm_err_prefix(errbuf, errlen, rc, "intent drift: ");
            out->have_psi = true;
        }
    }

    if (baseline->total_feedback > 0 && current->total_feedback > 0) {
        rc = dm_stats_accuracy(baseline->positives, baseline->total_feedback,
                               current->positives, current->total_feedback,
                               &out->acc, errbuf, errlen);
        if (rc != DM_OK)
            return dm_err_prefix(errbuf, errlen, rc, "accuracy: ");
        out->acc.floor_p_value = dm_stats_floor_pvalue(
            current->positives, current->total_feedback, out->accuracy_min);
        out->have_accuracy = true;
        out->baseline_total = baseline->total_feedback;
        out->current_total = current->total_feedback;
    }

    decide(out);

    t0 = dm_time_mono_ns();
    rc = dm_explanation_compute(cfg, baseline, current, dim, &out->explanation,
                                errbuf, errlen);
    out->explain_ms = (double)(dm_time_mono_ns() - t0) / 1e6;
    if (rc != DM_OK)
        return dm_err_prefix(errbuf, errlen, rc, "explanation: ");

    memset(&vin, 0, sizeof(vin));
    vin.have_semantic = out->have_semantic;
    vin.semantic_fired = out->semantic_fired;
    vin.semantic_effect = out->semantic_effect;
    vin.semantic_threshold = out->semantic_threshold;
    vin.have_psi = out->have_psi;
    vin.psi_fired = out->psi_fired;
    vin.psi_excess = out->psi.psi_excess;
    vin.psi_threshold = out->psi_threshold;
    vin.have_accuracy = out->have_accuracy;
    vin.accuracy_drop_fired = out->accuracy_drop_fired;
    vin.below_floor = out->below_floor;
    vin.baseline_accuracy = out->acc.baseline_accuracy;
    vin.current_accuracy = out->acc.current_accuracy;
    vin.accuracy_min = out->accuracy_min;
    dm_stats_verdict(&vin, &out->verdict);
    return DM_OK;
}

/* A JSON number, or null when absent or not finite. */
static json_t *num(bool have, double v)
{
    return have ? dm_json_real(v) : json_null();
}

static int set(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0 ? DM_OK
                                                              : DM_ENOMEM;
}

static json_t *signal_json(bool have, double value, double threshold, double p,
                           double p_adj, bool fired, dm_severity_t sev)
{
    if (!have)
        return json_null();
    return json_pack("{s:o, s:f, s:o, s:o, s:b, s:s}", "value",
                     num(true, value), "threshold", threshold, "p_value",
                     num(true, p), "p_adjusted", num(true, p_adj), "fired",
                     fired, "severity", dm_severity_name(sev));
}

int dm_analysis_to_json(const dm_analysis_t *a, json_t *o)
{
    const dm_stats_verdict_t *v = &a->verdict;
    bool mmd = a->have_semantic && a->test == DM_SEMANTIC_TEST_MMD;
    bool kl_null = a->have_semantic && a->test == DM_SEMANTIC_TEST_KL &&
                   a->permutations > 0;
    json_t *top = json_array(), *signals;
    int rc = DM_OK;

    if (top == NULL)
        return DM_ENOMEM;
    for (size_t i = 0; a->have_semantic && i < a->kl.n_top; i++)
        json_array_append_new(top, json_pack("{s:I, s:f}", "dim",
                                             (json_int_t)a->kl.top_dims[i],
                                             "kl", a->kl.top_values[i]));
    rc |= set(o, "semantic_test",
              json_string(dm_config_semantic_test_name(a->test)));
    rc |= set(o, "semantic_effect", num(a->have_semantic, a->semantic_effect));
    rc |=
        set(o, "semantic_p_value", num(a->have_semantic, a->semantic_p_value));
    rc |= set(o, "mmd", num(mmd, a->mmd.mmd2));
    rc |= set(o, "mmd_null_mean",
              num(mmd && a->permutations > 0, a->mmd.null_mean));
    rc |= set(o, "mmd_bandwidth", num(mmd, a->mmd.bandwidth));
    rc |= set(o, "domain_auc", num(mmd, a->domain.auc));
    rc |= set(o, "witness_auc", num(mmd, a->mmd.witness_auc));
    rc |= set(o, "kl_divergence", num(a->have_semantic, a->kl.kl_divergence));
    rc |= set(o, "kl_excess", num(kl_null, a->kl.kl_excess));
    rc |= set(o, "kl_null_mean", num(kl_null, a->kl.null_mean));
    rc |= set(o, "kl_p_value", num(kl_null, a->kl.p_value));
    rc |= set(o, "kl_max", num(a->have_semantic, a->kl.kl_max));
    rc |= set(o, "kl_top_dims",
              a->have_semantic ? top : (json_decref(top), json_null()));
    rc |= set(o, "psi", num(a->have_psi, a->psi.psi));
    rc |= set(o, "psi_excess", num(a->have_psi, a->psi.psi_excess));
    rc |= set(o, "psi_null_mean", num(a->have_psi, a->psi.null_mean));
    rc |= set(o, "psi_p_value", num(a->have_psi, a->psi.p_value));
    rc |= set(o, "psi_test",
              a->have_psi ? json_string(a->psi.method) : json_null());
    rc |= set(o, "baseline_accuracy",
              num(a->have_accuracy, a->acc.baseline_accuracy));
    rc |= set(o, "current_accuracy",
              num(a->have_accuracy, a->acc.current_accuracy));
    rc |=
        set(o, "accuracy_delta", num(a->have_accuracy, a->acc.accuracy_delta));
    rc |= set(o, "accuracy_p_value", num(a->have_accuracy, a->acc.p_value));
    rc |= set(o, "floor_p_value", num(a->have_accuracy, a->acc.floor_p_value));
    rc |= set(o, "quality_below_floor", json_boolean(a->below_floor));
    rc |= set(o, "combined_score", json_real(v->combined_score));
    rc |= set(o, "severity", json_string(dm_severity_name(v->severity)));
    rc |= set(o, "drift_detected", json_boolean(v->drift_detected));

    signals = json_object();
    if (signals == NULL)
        return DM_ENOMEM;
    rc |= set(signals, "semantic",
              signal_json(a->have_semantic, a->semantic_effect,
                          a->semantic_threshold, a->semantic_p_value,
                          a->semantic_p_adjusted, a->semantic_fired,
                          v->semantic_severity));
    rc |= set(signals, "psi",
              signal_json(a->have_psi, a->psi.psi_excess, a->psi_threshold,
                          a->psi.p_value, a->psi_p_adjusted, a->psi_fired,
                          v->psi_severity));
    rc |= set(signals, "accuracy",
              signal_json(a->have_accuracy, a->acc.accuracy_delta,
                          a->accuracy_min_drop, a->acc.p_value,
                          a->accuracy_p_adjusted, a->accuracy_drop_fired,
                          a->accuracy_drop_fired ? v->accuracy_severity
                                                 : DM_SEVERITY_NONE));
    rc |= set(
        signals, "quality_floor",
        signal_json(a->have_accuracy, a->acc.current_accuracy, a->accuracy_min,
                    a->acc.floor_p_value, a->acc.floor_p_value, a->below_floor,
                    a->below_floor ? DM_SEVERITY_WARNING : DM_SEVERITY_NONE));
    rc |= set(o, "signals", signals);
    rc |= set(o, "explanation", dm_explanation_to_json(&a->explanation));

    rc |= set(o, "samples",
              json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "baseline_embedded",
                        (json_int_t)a->baseline_embedded, "current_embedded",
                        (json_int_t)a->current_embedded, "baseline_feedback",
                        (json_int_t)a->baseline_total, "current_feedback",
                        (json_int_t)a->current_total, "baseline_mmd_rows",
                        (json_int_t)a->mmd.baseline_used, "current_mmd_rows",
                        (json_int_t)a->mmd.current_used));
    rc |= set(o, "settings",
              json_pack("{s:s, s:s, s:I, s:I, s:f, s:I, s:f}", "semantic_test",
                        dm_config_semantic_test_name(a->test), "kl_estimator",
                        dm_config_kl_estimator_name(a->estimator), "bins",
                        (json_int_t)a->bins, "permutations",
                        (json_int_t)a->permutations, "alpha", a->alpha,
                        "embedding_dim", (json_int_t)a->dim,
                        "accuracy_min_drop", a->accuracy_min_drop));
    return rc == DM_OK ? DM_OK : DM_ENOMEM;
}

static void fmt_p(char *buf, size_t n, bool have, double p)
{
    if (!have || isnan(p))
        snprintf(buf, n, "%s", "-");
    else if (p < 1e-4)
        snprintf(buf, n, "%s", "<0.0001");
    else
        snprintf(buf, n, "%.4f", p);
}

static void row(FILE *f, const char *name, bool have, double value,
                const char *cmp, double threshold, double p, bool fired,
                dm_severity_t sev)
{
    char pb[32];

    if (!have) {
        fprintf(f, "  %-24s %10s   %-14s %8s  %s\n", name, "-", "", "-",
                "not computed");
        return;
    }
    fmt_p(pb, sizeof(pb), true, p);
    fprintf(f, "  %-24s %10.4f   %s %-11.4f %8s  %s%s%s\n", name, value, cmp,
            threshold, pb, fired ? "FIRED" : "ok", fired ? " " : "",
            fired ? dm_severity_name(sev) : "");
}

void dm_analysis_print(const dm_analysis_t *a, FILE *f)
{
    const dm_stats_verdict_t *v = &a->verdict;
    const char *sem_name =
        a->test == DM_SEMANTIC_TEST_KL
            ? (a->estimator == DM_KL_ESTIMATOR_RAW ? "semantic (KL, raw)"
                                                   : "semantic (KL excess)")
            : "semantic (share unlike)";

    fprintf(f, "  %-24s %10s   %-14s %8s  %s\n", "signal", "value", "threshold",
            "p (Holm)", "result");
    row(f, sem_name, a->have_semantic, a->semantic_effect,
        a->test == DM_SEMANTIC_TEST_KL ? ">" : ">=", a->semantic_threshold,
        a->semantic_p_adjusted, a->semantic_fired, v->semantic_severity);
    row(f, "intent PSI (excess)", a->have_psi, a->psi.psi_excess, ">",
        a->psi_threshold, a->psi_p_adjusted, a->psi_fired, v->psi_severity);
    row(f, "accuracy drop", a->have_accuracy, a->acc.accuracy_delta,
        ">=", a->accuracy_min_drop, a->accuracy_p_adjusted,
        a->accuracy_drop_fired, v->accuracy_severity);
    row(f, "accuracy vs floor", a->have_accuracy, a->acc.current_accuracy, "<",
        a->accuracy_min, a->acc.floor_p_value, a->below_floor,
        DM_SEVERITY_WARNING);
    if (a->have_semantic) {
        if (a->test == DM_SEMANTIC_TEST_MMD)
            fprintf(f,
                    "\n  MMD^2 %.5f (null mean %.5f, bandwidth %.3f, "
                    "%zu + %zu rows)\n  held-out AUC: linear classifier "
                    "%.3f, MMD witness %.3f\n",
                    a->mmd.mmd2, a->mmd.null_mean, a->mmd.bandwidth,
                    a->mmd.baseline_used, a->mmd.current_used, a->domain.auc,
                    a->mmd.witness_auc);
        fprintf(f, "%s  KL (seed's figure): mean %.4f, max %.4f; top dims:",
                a->test == DM_SEMANTIC_TEST_MMD ? "" : "\n",
                a->kl.kl_divergence, a->kl.kl_max);
        for (size_t i = 0; i < a->kl.n_top; i++)
            fprintf(f, " %zu", a->kl.top_dims[i]);
        fprintf(f, "\n  embedded rows: baseline %zu, current %zu, dim %zu\n",
                a->baseline_embedded, a->current_embedded, a->dim);
    }
    if (a->have_psi)
        fprintf(f,
                "  PSI %.4f (null mean %.4f), p-value by %s over %zu "
                "categories\n",
                a->psi.psi, a->psi.null_mean, a->psi.method,
                a->psi.n_categories);
    if (a->have_accuracy)
        fprintf(f,
                "  accuracy: baseline %.4f (%llu rows), current %.4f "
                "(%llu rows), drop %+.4f\n",
                a->acc.baseline_accuracy, (unsigned long long)a->baseline_total,
                a->acc.current_accuracy, (unsigned long long)a->current_total,
                a->acc.accuracy_delta);
    if (a->below_floor)
        fprintf(f,
                "  quality below floor: current accuracy %.4f is "
                "significantly under %.2f (not drift)\n",
                a->acc.current_accuracy, a->accuracy_min);
    fprintf(f, "\n  combined score %.4f   severity %s   drift %s\n",
            v->combined_score, dm_severity_name(v->severity),
            v->drift_detected ? "DETECTED" : "not detected");
    if (a->explanation.have_topics || a->explanation.have_intents) {
        char top[4096];

        fprintf(f, "\n  what changed:\n");
        if (dm_explanation_top(&a->explanation, a->alpha, 3, false, "    ", top,
                               sizeof(top)) > 0)
            fprintf(f, "%s\n", top);
        else
            fprintf(f, "    no topic or intent moved significantly\n");
    }
}
