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

int dm_analyze(const dm_config_t *cfg, const dm_window_data_t *baseline,
               const dm_window_data_t *current, size_t dim, dm_analysis_t *out,
               char *errbuf, size_t errlen)
{
    dm_stats_sig_t sig;
    dm_stats_verdict_in_t vin;
    int rc;

    memset(out, 0, sizeof(*out));
    out->kl_threshold = cfg->thresholds.kl_threshold;
    out->psi_threshold = cfg->thresholds.psi_threshold;
    out->accuracy_min = cfg->thresholds.accuracy_min;
    out->alpha = cfg->significance.alpha;
    out->permutations = cfg->significance.permutations;
    out->bins = cfg->embeddings.bins;
    out->estimator = cfg->embeddings.kl_estimator;
    out->kl.p_value = (double)NAN;
    out->psi.p_value = (double)NAN;
    out->acc.p_value = (double)NAN;

    sig.permutations = cfg->significance.permutations;
    sig.alpha = cfg->significance.alpha;
    sig.seed = cfg->significance.seed;
    sig.threads = worker_threads(cfg);

    if (baseline->n_embeddings > 0 && current->n_embeddings > 0) {
        rc = dm_stats_kl(baseline->embeddings, baseline->n_embeddings,
                         current->embeddings, current->n_embeddings, dim,
                         cfg->embeddings.bins, &sig, &out->kl, NULL, errbuf,
                         errlen);
        if (rc != DM_OK)
            return dm_err_prefix(errbuf, errlen, rc, "embedding drift: ");
        out->have_kl = true;
        out->dim = dim;
        out->baseline_embedded = baseline->n_embeddings;
        out->current_embedded = current->n_embeddings;
        out->kl_effect = cfg->embeddings.kl_estimator == DM_KL_ESTIMATOR_RAW
                             ? out->kl.kl_divergence
                             : out->kl.kl_excess;
        out->kl_fired = dm_stats_fires(out->kl_effect, out->kl_threshold,
                                       out->kl.p_value, out->alpha);
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
            out->psi_fired = dm_stats_fires(out->psi.psi, out->psi_threshold,
                                            out->psi.p_value, out->alpha);
        }
    }

    if (baseline->total_feedback > 0 && current->total_feedback > 0) {
        rc = dm_stats_accuracy(baseline->positives, baseline->total_feedback,
                               current->positives, current->total_feedback,
                               &out->acc, errbuf, errlen);
        if (rc != DM_OK)
            return dm_err_prefix(errbuf, errlen, rc, "accuracy: ");
        out->have_accuracy = true;
        out->baseline_total = baseline->total_feedback;
        out->current_total = current->total_feedback;
    }

    memset(&vin, 0, sizeof(vin));
    vin.have_kl = out->have_kl;
    vin.kl_effect = out->kl_effect;
    vin.kl_fired = out->kl_fired;
    vin.have_psi = out->have_psi;
    vin.psi = out->psi.psi;
    vin.psi_fired = out->psi_fired;
    vin.have_accuracy = out->have_accuracy;
    vin.baseline_accuracy = out->acc.baseline_accuracy;
    vin.current_accuracy = out->acc.current_accuracy;
    vin.kl_threshold = out->kl_threshold;
    vin.psi_threshold = out->psi_threshold;
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
                           bool fired, dm_severity_t sev)
{
    json_t *s;

    if (!have)
        return json_null();
    s = json_pack("{s:o, s:f, s:o, s:b, s:s}", "value", num(true, value),
                  "threshold", threshold, "p_value", num(true, p), "fired",
                  fired, "severity", dm_severity_name(sev));
    return s;
}

int dm_analysis_to_json(const dm_analysis_t *a, json_t *o)
{
    const dm_stats_verdict_t *v = &a->verdict;
    json_t *top = json_array(), *signals;
    int rc = DM_OK;

    if (top == NULL)
        return DM_ENOMEM;
    for (size_t i = 0; a->have_kl && i < a->kl.n_top; i++)
        json_array_append_new(top, json_pack("{s:I, s:f}", "dim",
                                             (json_int_t)a->kl.top_dims[i],
                                             "kl", a->kl.top_values[i]));
    rc |= set(o, "kl_divergence", num(a->have_kl, a->kl.kl_divergence));
    rc |= set(o, "kl_excess", num(a->have_kl, a->kl.kl_excess));
    rc |= set(o, "kl_null_mean",
              num(a->have_kl && a->permutations > 0, a->kl.null_mean));
    rc |= set(o, "kl_p_value", num(a->have_kl, a->kl.p_value));
    rc |= set(o, "kl_max", num(a->have_kl, a->kl.kl_max));
    rc |= set(o, "kl_top_dims",
              a->have_kl ? top : (json_decref(top), json_null()));
    rc |= set(o, "psi", num(a->have_psi, a->psi.psi));
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
    rc |= set(o, "combined_score", json_real(v->combined_score));
    rc |= set(o, "severity", json_string(dm_severity_name(v->severity)));
    rc |= set(o, "drift_detected", json_boolean(v->drift_detected));

    signals = json_object();
    if (signals == NULL)
        return DM_ENOMEM;
    rc |= set(signals, "kl",
              signal_json(a->have_kl, a->kl_effect, a->kl_threshold,
                          a->kl.p_value, a->kl_fired, v->kl_severity));
    rc |= set(signals, "psi",
              signal_json(a->have_psi, a->psi.psi, a->psi_threshold,
                          a->psi.p_value, a->psi_fired, v->psi_severity));
    rc |= set(signals, "accuracy",
              signal_json(a->have_accuracy, a->acc.current_accuracy,
                          a->accuracy_min, a->acc.p_value, v->accuracy_fired,
                          v->accuracy_severity));
    rc |= set(o, "signals", signals);

    rc |= set(o, "samples",
              json_pack("{s:I, s:I, s:I, s:I}", "baseline_embedded",
                        (json_int_t)a->baseline_embedded, "current_embedded",
                        (json_int_t)a->current_embedded, "baseline_feedback",
                        (json_int_t)a->baseline_total, "current_feedback",
                        (json_int_t)a->current_total));
    rc |= set(o, "settings",
              json_pack("{s:s, s:I, s:I, s:f, s:I}", "kl_estimator",
                        a->estimator == DM_KL_ESTIMATOR_RAW ? "raw" : "excess",
                        "bins", (json_int_t)a->bins, "permutations",
                        (json_int_t)a->permutations, "alpha", a->alpha,
                        "embedding_dim", (json_int_t)a->dim));
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
        fprintf(f, "  %-22s %10s   %-14s %8s  %s\n", name, "-", "", "-",
                "not computed");
        return;
    }
    fmt_p(pb, sizeof(pb), true, p);
    fprintf(f, "  %-22s %10.4f   %s %-11.4f %8s  %s%s%s\n", name, value, cmp,
            threshold, pb, fired ? "FIRED" : "ok", fired ? " " : "",
            fired ? dm_severity_name(sev) : "");
}

void dm_analysis_print(const dm_analysis_t *a, FILE *f)
{
    const dm_stats_verdict_t *v = &a->verdict;
    const char *kl_name = a->estimator == DM_KL_ESTIMATOR_RAW
                              ? "embedding KL (raw)"
                              : "embedding KL (excess)";

    fprintf(f, "  %-22s %10s   %-14s %8s  %s\n", "signal", "value", "threshold",
            "p-value", "result");
    row(f, kl_name, a->have_kl, a->kl_effect, ">", a->kl_threshold,
        a->kl.p_value, a->kl_fired, v->kl_severity);
    row(f, "intent PSI", a->have_psi, a->psi.psi, ">", a->psi_threshold,
        a->psi.p_value, a->psi_fired, v->psi_severity);
    row(f, "current accuracy", a->have_accuracy, a->acc.current_accuracy, "<",
        a->accuracy_min, a->acc.p_value, v->accuracy_fired,
        v->accuracy_severity);
    if (a->have_kl) {
        fprintf(f,
                "\n  KL: mean %.4f, null mean %.4f, max %.4f (dim %zu); "
                "top dims:",
                a->kl.kl_divergence, a->kl.null_mean, a->kl.kl_max,
                a->kl.n_top ? a->kl.top_dims[0] : 0);
        for (size_t i = 0; i < a->kl.n_top; i++)
            fprintf(f, " %zu", a->kl.top_dims[i]);
        fprintf(f, "\n  embedded rows: baseline %zu, current %zu, dim %zu\n",
                a->baseline_embedded, a->current_embedded, a->dim);
    }
    if (a->have_psi)
        fprintf(f, "  PSI p-value by %s over %zu categories\n", a->psi.method,
                a->psi.n_categories);
    if (a->have_accuracy)
        fprintf(f,
                "  accuracy: baseline %.4f (%llu rows), current %.4f "
                "(%llu rows), drop %+.4f\n",
                a->acc.baseline_accuracy, (unsigned long long)a->baseline_total,
                a->acc.current_accuracy, (unsigned long long)a->current_total,
                a->acc.accuracy_delta);
    fprintf(f, "\n  combined score %.4f   severity %s   drift %s\n",
            v->combined_score, dm_severity_name(v->severity),
            v->drift_detected ? "DETECTED" : "not detected");
}
