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

#define DM_STATS_EPS 1e-4
#define DM_STATS_TOP_DIMS 5
#define DM_STATS_MAX_BINS 1000

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

/* Significance testing settings (significance.* in the config). */
typedef struct dm_stats_sig {
    unsigned permutations; /* R; 0 = testing off */
    double alpha;          /* fire only when p < alpha */
    uint64_t seed;         /* RNG seed, so results reproduce */
    unsigned threads;      /* worker threads for permutations (>= 1) */
} dm_stats_sig_t;

/* Result of the embedding (KL) signal. */
typedef struct dm_stats_kl {
    double kl_divergence;  /* mean over dimensions of KL_j */
    double kl_max;         /* largest KL_j */
    size_t top_dims[DM_STATS_TOP_DIMS]; /* dims with largest KL_j, desc */
    double top_values[DM_STATS_TOP_DIMS];
    size_t n_top;          /* min(5, dim) */
    /* permutation null; all 0 / p_value 1 when permutations == 0 */
    double null_mean;
    double null_sd;
    double p_value;        /* (1 + #{null >= observed}) / (1 + R); NAN if off */
    double kl_excess;      /* max(0, kl_divergence - null_mean) */
    unsigned permutations; /* R actually run */
} dm_stats_kl_t;

/*
 * Computes per-dimension KL divergences of 50-bin (bins) histograms of
 * baseline (nb rows x dim, row-major) relative to current (nc x dim), as
 * DESIGN.md section 2, and the permutation null when sig->permutations > 0.
 * per_dim (optional, dim doubles) receives KL_j.
 * Returns DM_OK, or DM_EINVAL (message in errbuf) for nb or nc of 0, dim
 * of 0, bins outside 2..DM_STATS_MAX_BINS, or a non-finite value.
 */
int dm_stats_kl(const double *baseline, size_t nb, const double *current,
                size_t nc, size_t dim, unsigned bins,
                const dm_stats_sig_t *sig, dm_stats_kl_t *out,
                double *per_dim, char *errbuf, size_t errlen) DM_MUSTCHECK;

/* Result of the intent (PSI) signal. */
typedef struct dm_stats_psi {
    double psi;
    double p_value;       /* NAN when testing is off */
    const char *method;   /* "permutation", "chi_square" or "none" */
    size_t n_categories;  /* after merging small categories into other */
} dm_stats_psi_t;

/*
 * PSI over k categories given per-category counts of the baseline and the
 * current window (the caller has already mapped labels to categories;
 * index other_idx is "other", or SIZE_MAX when there is none).  Categories
 * with fewer than min_samples rows in both windows together are merged
 * into "other" first (when other_idx is valid).  Proportions floored at
 * DM_STATS_EPS, not renormalised.  psi = sum (P_k - Q_k) ln(P_k / Q_k).
 * merged_out (optional, k entries) receives the counts after merging.
 */
int dm_stats_psi(const uint64_t *baseline, const uint64_t *current,
                 size_t k, size_t other_idx, uint64_t min_samples,
                 const dm_stats_sig_t *sig, dm_stats_psi_t *out,
                 char *errbuf, size_t errlen) DM_MUSTCHECK;

/* Result of the accuracy signal. */
typedef struct dm_stats_acc {
    double baseline_accuracy;
    double current_accuracy;
    double accuracy_delta; /* baseline - current (positive = worse) */
    double p_value;        /* one-sided two-proportion z-test for a drop */
} dm_stats_acc_t;

/* Accuracy from positives/totals; DM_EINVAL when a total is 0. */
int dm_stats_accuracy(uint64_t base_pos, uint64_t base_total,
                      uint64_t cur_pos, uint64_t cur_total,
                      dm_stats_acc_t *out, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

/* Inputs to severity and combined score (thresholds from the config). */
typedef struct dm_stats_verdict_in {
    double kl_effect;      /* kl_excess or raw kl_divergence */
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
    dm_severity_t severity;  /* highest of the three */
    bool accuracy_fired;     /* current < accuracy_min */
    double combined_score;
    bool drift_detected;     /* any signal fired */
} dm_stats_verdict_t;

/* Severity levels and combined score, exactly DESIGN.md section 2. */
void dm_stats_verdict(const dm_stats_verdict_in_t *in,
                      dm_stats_verdict_t *out);

/*
 * Whether a signal fires: effect > threshold and (testing off, i.e.
 * permutations == 0 / p_value NAN, or p_value < alpha).
 */
bool dm_stats_fires(double effect, double threshold, double p_value,
                    double alpha);

#endif
