/*
 * stats.h - the statistics of a drift check (DESIGN.md section 2).
 *
 * Pure computation: no I/O, no store, no globals.  Every function is
 * thread-safe on distinct arguments and deterministic for a given seed.
 * All arithmetic is double precision.  P = current window, Q = baseline.
 *
 * Ownership: callers own every input and output array; nothing here keeps
 * a pointer past the call.
 */
#ifndef DM_STATS_STATS_H
#define DM_STATS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/check_enums.h"
#include "common/error.h"

#define DM_STATS_EPS      1e-4
#define DM_STATS_TOP_DIMS 5
#define DM_STATS_MAX_BINS 1000
/* Most worker threads a permutation test uses, whatever sig->threads says. */
#define DM_STATS_MAX_THREADS 64
/*
 * The PSI p-value comes from permutations up to this many rows in both
 * windows together, and from Pearson's chi-square test above it.
 */
#define DM_STATS_PSI_PERM_MAX_ROWS 200000

/* dm_severity_t and its names: common/check_enums.h */

/*
 * Significance testing settings (significance.* in the config).  A NULL
 * dm_stats_sig_t pointer means testing off.  Permutation i draws from
 * its own generator seeded from (seed, i), so results depend on seed and
 * R only, never on the number of threads.
 */
typedef struct dm_stats_sig {
    unsigned permutations; /* R; 0 = testing off */
    double alpha;          /* fire only when p < alpha */
    uint64_t seed;         /* RNG seed, so results reproduce */
    unsigned threads;      /* worker threads for permutations (0 means 1;
                              at most DM_STATS_MAX_THREADS are used) */
} dm_stats_sig_t;

/* Result of the embedding (KL) signal. */
typedef struct dm_stats_kl {
    double kl_divergence;               /* mean over dimensions of KL_j */
    double kl_max;                      /* largest KL_j */
    size_t top_dims[DM_STATS_TOP_DIMS]; /* dims with largest KL_j, desc;
                                           ties: lower index first */
    double top_values[DM_STATS_TOP_DIMS];
    size_t n_top; /* min(5, dim) */
    /*
     * Permutation null.  With testing off (permutations == 0) there is no
     * null: null_mean = null_sd = 0, p_value = NAN and so
     * kl_excess = kl_divergence.
     */
    double null_mean;      /* mean of the R null statistics */
    double null_sd;        /* their sample standard deviation (R - 1) */
    double p_value;        /* (1 + #{null >= observed}) / (1 + R); NAN if off */
    double kl_excess;      /* max(0, kl_divergence - null_mean) */
    unsigned permutations; /* R actually run */
} dm_stats_kl_t;

/*
 * Computes per-dimension KL divergences of 50-bin (bins) histograms of
 * baseline (nb rows x dim, row-major) relative to current (nc x dim), as
 * DESIGN.md section 2, and the permutation null when sig->permutations > 0.
 * Bin assignment is numpy.histogram's, bit for bit (edges from
 * numpy.linspace, top edge inclusive); a dimension whose pooled values
 * are all equal has one bin and KL_j = 0.  per_dim (optional, dim
 * doubles) receives KL_j.  The null is the same statistic after the
 * pooled rows are re-assigned at random to windows of sizes nb and nc,
 * run on min(sig->threads, R) threads; a null value counts as ">=" the
 * observed one within a relative 1e-12 (rounding ties, as
 * scipy.stats.permutation_test does).
 * Returns DM_OK, or DM_EINVAL (message in errbuf) for nb or nc of 0, dim
 * of 0, bins outside 2..DM_STATS_MAX_BINS, a non-finite value, a pooled
 * range max - min that overflows, or more than UINT32_MAX rows.
 */
int dm_stats_kl(const double *baseline, size_t nb, const double *current,
                size_t nc, size_t dim, unsigned bins, const dm_stats_sig_t *sig,
                dm_stats_kl_t *out, double *per_dim, char *errbuf,
                size_t errlen) DM_MUSTCHECK;

/*
 * Most rows per window the MMD test uses: its cost grows with the square
 * of the rows, so larger windows are subsampled (uniformly, seeded) down
 * to this many, which keeps a 5,000 + 5,000 check well under a second.
 */
#define DM_STATS_MMD_MAX_ROWS 2000
/* Rows the median-heuristic bandwidth is taken over (all pairs). */
#define DM_STATS_MMD_MEDIAN_ROWS 1000

/* Result of the kernel two-sample test (semantic drift, statistics v2). */
typedef struct dm_stats_mmd {
    double mmd2;          /* unbiased MMD^2 of the rows used */
    double bandwidth;     /* sigma: k(x,y) = exp(-|x-y|^2 / (2 sigma^2)) */
    double null_mean;     /* mean of the R permutation MMD^2 values */
    double p_value;       /* (1 + #{null >= observed}) / (1 + R); NAN if off */
    double witness_auc;   /* held-out AUC of the MMD witness function */
    size_t baseline_used; /* rows used after subsampling */
    size_t current_used;
    unsigned permutations; /* R actually run */
} dm_stats_mmd_t;

/*
 * Maximum mean discrepancy between baseline (nb x dim) and current
 * (nc x dim) with a Gaussian RBF kernel whose bandwidth is the median
 * heuristic on the pooled rows (2 sigma^2 = median pairwise squared
 * distance over up to DM_STATS_MMD_MEDIAN_ROWS evenly spaced pooled
 * rows), unbiased estimator, and a permutation p-value (the pooled rows
 * re-assigned to windows of the same sizes, R = sig->permutations times,
 * seeded as dm_stats_kl) -- alibi-detect's MMDDrift.  Windows larger
 * than DM_STATS_MMD_MAX_ROWS are subsampled first (seeded, without
 * replacement).  The kernel matrix is never stored whole: row blocks are
 * computed with BLAS and multiplied by the permutation indicators on
 * min(sig->threads, blocks) threads; results do not depend on the number
 * of threads.
 * Returns DM_OK, or DM_EINVAL (message in errbuf) for fewer than 2 rows in
 * a window, dim of 0, a non-finite value, or more than UINT32_MAX rows.
 */
int dm_stats_mmd(const double *baseline, size_t nb, const double *current,
                 size_t nc, size_t dim, const dm_stats_sig_t *sig,
                 dm_stats_mmd_t *out, char *errbuf, size_t errlen) DM_MUSTCHECK;

/* Folds of the domain classifier's cross-validation. */
#define DM_STATS_DOMAIN_FOLDS 5

/* Result of the domain classifier (the semantic effect). */
typedef struct dm_stats_domain {
    double auc;          /* held-out AUC of "current" against "baseline" */
    double effect;       /* max(0, 2 (auc - 0.5)): share of current traffic
                            unlike the baseline */
    unsigned iterations; /* optimiser iterations, the largest over folds */
} dm_stats_domain_t;

/*
 * The share of current traffic unlike the baseline, read off a domain
 * classifier: L2-regularised logistic regression (lambda = 1 on the sum
 * of log-losses, intercept unpenalised, as scikit-learn's default C = 1)
 * of window membership on the embedding, DM_STATS_DOMAIN_FOLDS-fold
 * cross-validated (folds stratified by window, assigned by a seeded
 * shuffle), every row scored by the model that did not see it; the AUC
 * of those held-out scores gives effect = 2 (AUC - 0.5), floored at 0.
 * When a fraction s of current rows comes from somewhere the baseline
 * never goes and the rest from the baseline's distribution, a classifier
 * that separates them reads s.  Each fit is Boehning's bounded-Hessian
 * Newton iteration (one Cholesky factor per fold, BLAS products).
 * Returns DM_OK, or DM_EINVAL (message in errbuf) for fewer than
 * DM_STATS_DOMAIN_FOLDS rows in a window, dim of 0 or a non-finite value.
 */
int dm_stats_domain(const double *baseline, size_t nb, const double *current,
                    size_t nc, size_t dim, uint64_t seed,
                    dm_stats_domain_t *out, char *errbuf,
                    size_t errlen) DM_MUSTCHECK;

/* Result of the intent (PSI) signal. */
typedef struct dm_stats_psi {
    double psi;
    double null_mean;    /* mean PSI under the null (0 when "none") */
    double psi_excess;   /* max(0, psi - null_mean): the bias-corrected PSI */
    double p_value;      /* NAN when method is "none" */
    const char *method;  /* "permutation", "chi_square" or "none";
                            static string */
    size_t n_categories; /* categories with at least one row in either
                            window, after merging small ones into other */
} dm_stats_psi_t;

/*
 * PSI over k categories given per-category counts of the baseline and the
 * current window (the caller has already mapped labels to categories;
 * index other_idx is "other", or SIZE_MAX when there is none).  Categories
 * with fewer than min_samples rows in both windows together are merged
 * into "other" first (when other_idx is valid).  Proportions floored at
 * DM_STATS_EPS, not renormalised.  psi = sum (P_k - Q_k) ln(P_k / Q_k).
 * p-value (testing on and at least two categories with rows): with at most
 * DM_STATS_PSI_PERM_MAX_ROWS rows in all, a permutation test (the pooled
 * labels drawn without replacement into windows of the original sizes,
 * R times, seeded as dm_stats_kl); above that, Pearson's chi-square test
 * of the 2 x K table, K = categories with rows, K - 1 degrees of freedom.
 * method says which; "none" (p_value NAN) when testing is off or fewer
 * than two categories have rows (psi is then 0).
 * Returns DM_OK, or DM_EINVAL (message in errbuf) for k of 0, other_idx
 * neither < k nor SIZE_MAX, a window with no rows, or counts whose sum
 * overflows.  dm_stats_psi_merge() gives the counts after merging.
 */
int dm_stats_psi(const uint64_t *baseline, const uint64_t *current, size_t k,
                 size_t other_idx, uint64_t min_samples,
                 const dm_stats_sig_t *sig, dm_stats_psi_t *out, char *errbuf,
                 size_t errlen) DM_MUSTCHECK;

/*
 * The merge step of dm_stats_psi() on its own: writes the counts after
 * merging small categories into other_idx to base_out and cur_out (k
 * entries each, caller-owned; they may not alias the inputs).  Returns
 * DM_OK or DM_EINVAL (k of 0, bad other_idx, overflow).
 */
int dm_stats_psi_merge(const uint64_t *baseline, const uint64_t *current,
                       size_t k, size_t other_idx, uint64_t min_samples,
                       uint64_t *base_out, uint64_t *cur_out, char *errbuf,
                       size_t errlen) DM_MUSTCHECK;

/*
 * Survival function of the chi-square distribution with df > 0 degrees
 * of freedom at x: the regularized upper incomplete gamma Q(df/2, x/2)
 * (series below x/2 < df/2 + 1, Legendre's continued fraction above).
 * Returns 1 for x <= 0, 0 for x = +inf, NAN for a NaN x or a df that
 * is not finite and > 0.  Relative error below 5e-14 for df <= 1e4 and
 * 5e-13 at df = 1e6 (checked against mpmath).
 * Thread-safe.
 */
double dm_stats_chi2_sf(double x, double df);

/*
 * P(X <= k) for X ~ Binomial(n, p), exactly (the pmf summed from k down,
 * in double precision; relative error below 1e-12 for n <= 1e7).  1 when
 * k >= n or p <= 0, 0 when p >= 1 and k < n, NAN for p outside [0, 1].
 * Thread-safe.
 */
double dm_stats_binom_cdf(uint64_t k, uint64_t n, double p);

/* Result of the accuracy signal. */
typedef struct dm_stats_acc {
    double baseline_accuracy;
    double current_accuracy;
    double accuracy_delta; /* baseline - current (positive = worse) */
    double p_value;        /* one-sided two-proportion z-test for a drop */
    /* exact one-sided binomial test of "current rate < floor" */
    double floor_p_value;
} dm_stats_acc_t;

/*
 * Accuracy from positives/totals, and the one-sided two-proportion z-test
 * of a drop (H1: baseline rate > current rate) with the pooled
 * proportion: z = delta / sqrt(p(1-p)(1/nb + 1/nc)), p_value =
 * 0.5 erfc(z / sqrt 2).  When the pooled variance is 0 every row of both
 * windows agrees, delta is 0 and p_value is 1 (Fisher's exact test
 * agrees).  DM_EINVAL when a total is 0 or positives exceed a total.
 */
int dm_stats_accuracy(uint64_t base_pos, uint64_t base_total, uint64_t cur_pos,
                      uint64_t cur_total, dm_stats_acc_t *out, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

/*
 * The exact one-sided binomial test of a quality floor: the p-value of
 * "the current positive rate is below floor" given cur_pos of cur_total,
 * P(X <= cur_pos | Binomial(cur_total, floor)).  1 when cur_total is 0.
 */
double dm_stats_floor_pvalue(uint64_t cur_pos, uint64_t cur_total,
                             double floor);

/*
 * Holm's step-down adjustment of m p-values (family-wise error control):
 * sorted ascending, p_(i) becomes max over j <= i of min(1, (m - j + 1)
 * p_(j)), so "adjusted < alpha" is exactly Holm's rejection at level
 * alpha.  NAN entries are not tests: they stay NAN and do not count in m.
 * adjusted may alias p.  m <= DM_STATS_HOLM_MAX.
 */
#define DM_STATS_HOLM_MAX 512
void dm_stats_holm(const double *p, size_t m, double *adjusted);

/*
 * Threshold comparisons for effects and bands, "exact" in the sense of
 * the design: a value that equals the threshold in exact arithmetic but
 * not in binary floating point (0.85 - 0.80 = 0.04999...) compares as
 * equal.  Values within a relative 1e-9 of the threshold count as equal.
 */
bool dm_stats_ge(double value, double threshold);
bool dm_stats_gt(double value, double threshold);

/* Inputs to severity and combined score (DESIGN.md section 2.4). */
typedef struct dm_stats_verdict_in {
    bool have_semantic;
    bool semantic_fired;
    double semantic_effect; /* the semantic test's effect */
    double semantic_threshold;
    bool have_psi;
    bool psi_fired;
    double psi_excess;
    double psi_threshold;
    bool have_accuracy;
    bool accuracy_drop_fired;
    bool below_floor; /* quality_below_floor */
    double baseline_accuracy;
    double current_accuracy;
    double accuracy_min;
} dm_stats_verdict_in_t;

typedef struct dm_stats_verdict {
    dm_severity_t semantic_severity;
    dm_severity_t psi_severity;
    dm_severity_t accuracy_severity;
    dm_severity_t severity; /* highest of the three */
    double combined_score;
    bool drift_detected; /* a drift signal fired (not the floor) */
} dm_stats_verdict_t;

/*
 * Severity levels and combined score, exactly DESIGN.md section 2.4,
 * from fired signals only.  Semantic and intent: r = effect / threshold
 * gives critical (r > 2), warning (r > 1.5) or info.  Accuracy drop d =
 * baseline - current: critical (d > 0.15), warning (d > 0.10) or info;
 * below the floor alone is a warning.  Combined score: (effect /
 * semantic_threshold + psi_excess / psi_threshold + max(0, d) / (1 -
 * accuracy_min)) / 3, each term 0 unless its signal fired (or its
 * denominator is not > 0).  Band edges compare with dm_stats_gt.
 */
void dm_stats_verdict(const dm_stats_verdict_in_t *in, dm_stats_verdict_t *out);

/*
 * What changed (DESIGN.md section 2.5): topics, novel queries and
 * intents, from the sample a check already holds.
 */
#define DM_STATS_EXPLAIN_TOPICS     10 /* default k of the topic k-means */
#define DM_STATS_EXPLAIN_TOPICS_MAX 16
#define DM_STATS_EXPLAIN_TERMS      5  /* top terms per topic */
#define DM_STATS_EXPLAIN_TERM_LEN   32 /* longest term kept, with its NUL */
#define DM_STATS_EXPLAIN_EXAMPLES   3  /* representative queries per topic */
#define DM_STATS_EXPLAIN_NOVEL      10 /* novel queries reported */
#define DM_STATS_EXPLAIN_MAX_ITER   50 /* k-means iterations at most */
#define DM_STATS_EXPLAIN_INITS      4  /* k-means++ seedings, best kept */
/* Rows the topic centroids are fitted on (a seeded uniform subsample of
 * larger samples; every row is then labelled by its nearest centroid). */
#define DM_STATS_EXPLAIN_FIT_ROWS 2000

/* One topic: a cluster of the pooled sample. */
typedef struct dm_stats_topic {
    size_t baseline_count, current_count; /* sampled rows in the topic */
    double baseline_share, current_share; /* of each window's sample */
    double change;                        /* current - baseline share */
    double p_value;    /* two-sided two-proportion z-test of the shares */
    double p_adjusted; /* Holm over the topics */
    /* positive share of the topic's rows per window; NAN without
     * positives or without rows in that window */
    double baseline_accuracy, current_accuracy;
    size_t n_terms;
    char terms[DM_STATS_EXPLAIN_TERMS][DM_STATS_EXPLAIN_TERM_LEN];
    size_t n_examples;
    size_t examples[DM_STATS_EXPLAIN_EXAMPLES]; /* pooled row indices */
} dm_stats_topic_t;

/* A current-window query unlike every baseline query. */
typedef struct dm_stats_novel {
    size_t row;      /* pooled row index (>= nb) */
    double distance; /* 1 - cosine to its nearest baseline row */
} dm_stats_novel_t;

/* The topics and novel queries of a check.  Plain data; copy freely. */
typedef struct dm_stats_explain {
    size_t k;                                             /* topics found */
    dm_stats_topic_t topics[DM_STATS_EXPLAIN_TOPICS_MAX]; /* by |change| desc */
    size_t n_novel;
    dm_stats_novel_t novel[DM_STATS_EXPLAIN_NOVEL]; /* by distance desc */
    unsigned iterations;                            /* k-means iterations run */
} dm_stats_explain_t;

/*
 * Explains the difference between two windows' samples: baseline (nb x
 * dim, row-major) and current (nc x dim).  Rows are numbered pooled,
 * baseline first: queries[i] is the query text of row i (nb + nc
 * entries, borrowed; NULL reads as ""); positive (optional, NULL) is 1
 * for a row rated positive, 0 otherwise.  Topics: spherical k-means with k =
 * min(k, rows, DM_STATS_EXPLAIN_TOPICS_MAX) (0 means DM_STATS_EXPLAIN_TOPICS),
 * seeded k-means++ from (seed, its own stream), at most
 * DM_STATS_EXPLAIN_MAX_ITER Lloyd iterations with BLAS products, the
 * best of DM_STATS_EXPLAIN_INITS seedings (largest sum of cosines),
 * fitted on at most DM_STATS_EXPLAIN_FIT_ROWS rows; per
 * topic the shares, their change and its Holm-adjusted two-sided
 * p-value, the top terms by class-based TF-IDF (BERTopic's c-TF-IDF:
 * tf(t, topic) log(1 + A / f_t), A the mean word count per topic, f_t
 * the count of t over all topics; lower-cased words of 2 or more
 * characters, English stop words and numbers dropped, ties by term),
 * the queries nearest the centroid from the window where the topic is
 * larger (distinct texts), accuracy per window.  Novel: the current rows
 * with the largest cosine distance to their nearest baseline row
 * (distinct texts; ties by row).  Deterministic for a given input and
 * seed.  Memory: a few copies of the sample.
 * Returns DM_OK, or DM_EINVAL (message in errbuf) for an empty window,
 * dim of 0, a non-finite value or more than UINT32_MAX rows.
 */
int dm_stats_explain(const double *baseline, size_t nb, const double *current,
                     size_t nc, size_t dim, const char *const *queries,
                     const unsigned char *positive, unsigned k, uint64_t seed,
                     dm_stats_explain_t *out, char *errbuf,
                     size_t errlen) DM_MUSTCHECK;

/* One intent category of a check's explanation. */
typedef struct dm_stats_intent {
    uint64_t baseline_count, current_count; /* rows, after merging */
    uint64_t baseline_positives, current_positives;
    double baseline_share, current_share;
    double psi_term; /* (P - Q) ln(P / Q), proportions floored at eps */
    /* positive share per window; NAN for a window without rows */
    double baseline_accuracy, current_accuracy;
    double accuracy_p_value;    /* two-sided two-proportion; NAN if no test */
    double accuracy_p_adjusted; /* Holm over the categories tested */
} dm_stats_intent_t;

/*
 * Per category of k (other_idx is "other", or SIZE_MAX): the rows and
 * positives of each window, merged into "other" first exactly as
 * dm_stats_psi() merges them (fewer than min_samples rows in both
 * windows together), the shares, the category's term of the PSI (their
 * sum is dm_stats_psi's psi), accuracy per window and the two-sided
 * two-proportion p-value of its change, Holm-adjusted over the
 * categories with rows in both windows.  out has k entries, in category
 * order (merged ones have zero counts).  Returns DM_OK, or DM_EINVAL
 * (message in errbuf) for k of 0 or above DM_STATS_HOLM_MAX, a bad
 * other_idx, an empty window, positives above counts or an overflow.
 */
int dm_stats_intents(const uint64_t *base_count, const uint64_t *base_pos,
                     const uint64_t *cur_count, const uint64_t *cur_pos,
                     size_t k, size_t other_idx, uint64_t min_samples,
                     dm_stats_intent_t *out, char *errbuf,
                     size_t errlen) DM_MUSTCHECK;

/*
 * Two-sided two-proportion z-test of x1/n1 against x2/n2 with the pooled
 * proportion; 1 when the pooled variance is 0, NAN when n1 or n2 is 0.
 */
double dm_stats_two_prop_p(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2);

#endif
