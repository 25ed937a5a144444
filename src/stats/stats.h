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

/* Severity levels, ordered. */
typedef enum dm_severity {
    DM_SEVERITY_NONE = 0,
    DM_SEVERITY_INFO = 1,
    DM_SEVERITY_WARNING = 2,
    DM_SEVERITY_CRITICAL = 3
} dm_severity_t;

/* "none", "info", "warning", "critical". */
const char *dm_severity_name(dm_severity_t s);
/* Parses a severity name; DM_EINVAL for anything else. */
int dm_severity_parse(const char *s, dm_severity_t *out) DM_MUSTCHECK;

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

/* Result of the intent (PSI) signal. */
typedef struct dm_stats_psi {
    double psi;
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

/* Result of the accuracy signal. */
typedef struct dm_stats_acc {
    double baseline_accuracy;
    double current_accuracy;
    double accuracy_delta; /* baseline - current (positive = worse) */
    double p_value;        /* one-sided two-proportion z-test for a drop */
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

/* Inputs to severity and combined score (thresholds from the config). */
typedef struct dm_stats_verdict_in {
    double kl_effect; /* kl_excess or raw kl_divergence */
    bool kl_fired;
    bool have_kl;
    double psi;
    bool psi_fired;
    bool have_psi;
    double baseline_accuracy;
    double current_accuracy;
    bool have_accuracy;
    double kl_threshold;
    double psi_threshold;
    double accuracy_min;
} dm_stats_verdict_in_t;

typedef struct dm_stats_verdict {
    dm_severity_t kl_severity;
    dm_severity_t psi_severity;
    dm_severity_t accuracy_severity;
    dm_severity_t severity; /* highest of the three */
    bool accuracy_fired;    /* current < accuracy_min */
    double combined_score;
    bool drift_detected; /* any signal fired */
} dm_stats_verdict_t;

/*
 * Severity levels and combined score, exactly DESIGN.md section 2.  KL
 * and PSI: none unless fired, then r = effect / threshold gives critical
 * (r > 2), warning (r > 1.5) or info.  Accuracy: d = baseline - current
 * gives critical (d > 0.15), warning (d > 0.10) or info (d > 0.05), at
 * least info when it fired (current < accuracy_min).  A signal with its
 * have_* false is none, does not fire and scores 0; a score whose
 * denominator (threshold, 1 - accuracy_min) is not > 0 counts 0.
 */
void dm_stats_verdict(const dm_stats_verdict_in_t *in, dm_stats_verdict_t *out);

/*
 * Whether a signal fires: effect > threshold and (testing off, i.e.
 * permutations == 0 / p_value NAN, or p_value < alpha).
 */
bool dm_stats_fires(double effect, double threshold, double p_value,
                    double alpha);

#endif
