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
    /* the explanation (DESIGN.md 2.5), all optional: */
    const char *const *queries;       /* n_embeddings query texts: topics */
    const unsigned char *positive;    /* n_embeddings flags: topic accuracy */
    const uint64_t *intent_positives; /* per category: intent accuracy */
} dm_window_data_t;

/* Longest example or novel query kept, with its NUL (longer ones are cut
 * at a UTF-8 character boundary). */
#define DM_EXPLAIN_TEXT 240
/* Most categories: intents.categories (256) and "other". */
#define DM_EXPLAIN_INTENTS     257
#define DM_EXPLAIN_INTENT_NAME 64

/* What changed (DESIGN.md 2.5): plain data, the texts copied in. */
typedef struct dm_explanation {
    bool have_topics; /* both windows carried query texts */
    dm_stats_explain_t topics;
    char examples[DM_STATS_EXPLAIN_TOPICS_MAX][DM_STATS_EXPLAIN_EXAMPLES]
                 [DM_EXPLAIN_TEXT];
    char novel[DM_STATS_EXPLAIN_NOVEL][DM_EXPLAIN_TEXT];
    bool have_intents; /* both windows carried per-intent positives */
    size_t n_intents;
    char intent_names[DM_EXPLAIN_INTENTS][DM_EXPLAIN_INTENT_NAME];
    dm_stats_intent_t intents[DM_EXPLAIN_INTENTS];
} dm_explanation_t;

/* Everything a check reports.  Plain data; copy freely. */
typedef struct dm_analysis {
    /* semantic drift: both windows carry embeddings */
    bool have_semantic;
    dm_semantic_test_t test;
    size_t dim;
    size_t baseline_embedded, current_embedded;
    dm_stats_kl_t kl;          /* the seed's KL, always; its null only for kl */
    double kl_effect;          /* kl_excess or kl_divergence per kl_estimator */
    dm_stats_mmd_t mmd;        /* test mmd */
    dm_stats_domain_t domain;  /* test mmd: the effect */
    double semantic_effect;    /* mmd: 2 (mean AUC - 0.5); kl: kl_effect */
    double semantic_threshold; /* semantic_threshold or kl_threshold */
    double semantic_p_value;   /* mmd.p_value or kl.p_value */
    double semantic_p_adjusted; /* Holm over the signals of the check */
    bool semantic_fired;
    /* intent drift */
    bool have_psi;
    dm_stats_psi_t psi;
    double psi_p_adjusted;
    bool psi_fired;
    /* quality: a drop (drift) and the floor (not drift) */
    bool have_accuracy;
    dm_stats_acc_t acc;
    double accuracy_p_adjusted;
    bool accuracy_drop_fired;
    bool below_floor; /* quality_below_floor */
    uint64_t baseline_total, current_total;
    /* verdict */
    dm_stats_verdict_t verdict;
    /* settings used, recorded with the result */
    double kl_threshold, psi_threshold, accuracy_min, accuracy_min_drop;
    double alpha;
    unsigned permutations;
    unsigned bins;
    dm_kl_estimator_t estimator;
    /* what changed */
    dm_explanation_t explanation;
    double explain_ms; /* wall time of the explanation, for benchmarks */
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
 * Computes every signal both windows carry data for (DESIGN.md section
 * 2: the semantic test of embeddings.test with its effect floor, PSI
 * over its null, the accuracy drop and the quality floor), adjusts the
 * drift signals' p-values by Holm's procedure so that together they
 * alert at most alpha of the time, then severity and combined score from
 * the signals that fired.  dim is the embedding width (when embeddings
 * given).  With query texts in both windows it also explains the check
 * (topics and novel queries, dm_stats_explain() with k =
 * explain.topics and the significance seed), and with
 * per-intent positives, the intents (dm_stats_intents()).
 * Returns DM_OK or a DM_E* code with a message in errbuf.
 */
int dm_analyze(const dm_config_t *cfg, const dm_window_data_t *baseline,
               const dm_window_data_t *current, size_t dim, dm_analysis_t *out,
               char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Adds every figure of the analysis to obj (a JSON object, borrowed):
 * semantic_test, semantic_effect, semantic_p_value, mmd, domain_auc,
 * kl_divergence, kl_excess, kl_p_value, kl_max, kl_top_dims, psi,
 * psi_excess, psi_p_value, baseline_accuracy, ..., quality_below_floor,
 * severity, drift_detected, and a "signals" object (semantic, psi,
 * accuracy, quality_floor) with value/threshold/p_value/p_adjusted/
 * fired/severity each, and an "explanation" object (topics, novel,
 * intents; docs/explain.md).  Absent signals are JSON null.  Returns
 * DM_OK or DM_ENOMEM.
 */
int dm_analysis_to_json(const dm_analysis_t *a, json_t *obj) DM_MUSTCHECK;

/* Prints a readable table of the analysis to f, then the top changes of
 * its explanation in plain words. */
void dm_analysis_print(const dm_analysis_t *a, FILE *f);

/*
 * Computes the explanation of two windows into e (overwritten): topics
 * and novel queries when both windows carry embeddings and query texts
 * (dm_stats_explain(), k = explain.topics, seeded by
 * significance.seed), intents when both carry per-category counts and
 * positives (dm_stats_intents(), merged as the PSI merges).  The texts
 * shown are copied into e.  Returns DM_OK or a DM_E* code with a message
 * in err.
 */
int dm_explanation_compute(const dm_config_t *cfg, const dm_window_data_t *b,
                           const dm_window_data_t *c, size_t dim,
                           dm_explanation_t *e, char *err,
                           size_t errlen) DM_MUSTCHECK;

/*
 * The "explanation" JSON object: {"topics": [...], "novel": [...],
 * "intents": [...]} (a part the check could not compute is null).  New
 * reference, or NULL on ENOMEM.
 */
json_t *dm_explanation_to_json(const dm_explanation_t *e);

/*
 * Writes up to n of the largest changes of the explanation, one line
 * each, to out (NUL-terminated, at most outlen bytes, lines separated by
 * '\n', prefix before each): topics whose share moved and intents whose
 * accuracy moved, by at least a point with a Holm-adjusted p below
 * alpha, largest first ("\u25b2 topic *recipe, oven, garlic*: 0% \u2192 20%
 * of queries"); with examples, each topic's line ends with its first
 * representative query.  Returns the number of lines.
 */
size_t dm_explanation_top(const dm_explanation_t *e, double alpha, size_t n,
                          bool examples, const char *prefix, char *out,
                          size_t outlen);

#endif
