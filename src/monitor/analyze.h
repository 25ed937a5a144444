/*
 * analyze.h - from window data to a verdict: the part of a drift check
 * that turns two windows' embeddings, intent counts and feedback counts
 * into every figure of DESIGN.md section 2, using the thresholds and
 * significance settings of a config.  Shared by `driftmon compare` (two
 * files) and the drift check (two store windows).
 *
 * No I/O; thread-safe on distinct arguments.
 */
#ifndef DM_MONITOR_ANALYZE_H
#define DM_MONITOR_ANALYZE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "config/config.h"
#include "stats/stats.h"

/*
 * One window's data.  Every part is optional: embeddings when
 * n_embeddings > 0, intents when intent_counts != NULL, accuracy when
 * total_feedback > 0.  All arrays are borrowed.
 */
typedef struct dm_window_data {
    const double *embeddings; /* n_embeddings x dim, row-major */
    size_t n_embeddings;
    const uint64_t *intent_counts; /* per category, dm_analyze_categories */
    uint64_t positives;
    uint64_t total_feedback;
} dm_window_data_t;

/* Everything a check reports.  Plain data; copy freely. */
typedef struct dm_analysis {
    /* semantic drift */
    bool have_kl;
    size_t dim;
    size_t baseline_embedded, current_embedded;
    dm_stats_kl_t kl;
    double kl_effect; /* kl_excess or kl_divergence per kl_estimator */
    bool kl_fired;
    /* intent drift */
    bool have_psi;
    dm_stats_psi_t psi;
    bool psi_fired;
    /* quality drift */
    bool have_accuracy;
    dm_stats_acc_t acc;
    uint64_t baseline_total, current_total;
    /* verdict */
    dm_stats_verdict_t verdict;
    /* settings used, recorded with the result */
    double kl_threshold, psi_threshold, accuracy_min, alpha;
    unsigned permutations;
    unsigned bins;
    dm_kl_estimator_t estimator;
} dm_analysis_t;

/*
 * The category list a config defines: its intents.categories followed by
 * "other".  Returns the count (categories_count + 1); name i is
 * dm_analyze_category_name(cfg, i).
 */
size_t dm_analyze_categories(const dm_config_t *cfg);
const char *dm_analyze_category_name(const dm_config_t *cfg, size_t i);
/* Category index of a label (exact match, ASCII case-insensitive); NULL
 * or an unknown label gives the index of "other". */
size_t dm_analyze_category_of(const dm_config_t *cfg, const char *label);

/*
 * Computes every signal both windows carry data for, then severity and
 * combined score.  dim is the embedding width (when embeddings given).
 * Returns DM_OK or a DM_E* code with a message in errbuf.
 */
int dm_analyze(const dm_config_t *cfg, const dm_window_data_t *baseline,
               const dm_window_data_t *current, size_t dim, dm_analysis_t *out,
               char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Adds every figure of the analysis to obj (a JSON object, borrowed):
 * kl_divergence, kl_excess, kl_p_value, kl_max, kl_top_dims, psi,
 * psi_p_value, baseline_accuracy, ..., severity, drift_detected, and a
 * "signals" object with per-signal value/threshold/p_value/fired/severity.
 * Absent signals are JSON null.  Returns DM_OK or DM_ENOMEM.
 */
int dm_analysis_to_json(const dm_analysis_t *a, json_t *obj) DM_MUSTCHECK;

/* Prints a readable table of the analysis to f. */
void dm_analysis_print(const dm_analysis_t *a, FILE *f);

#endif
