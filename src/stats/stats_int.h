/*
 * stats_int.h - helpers shared by the files of src/stats/; nothing
 * outside the module includes this header.
 */
#ifndef DM_STATS_STATS_INT_H
#define DM_STATS_STATS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "stats/stats.h"

/* Stream tags, so the KL and PSI tests never share random numbers. */
#define DM_STATS_STREAM_KL     UINT64_C(0x4b4c2d6e756c6c31) /* "KL-null1" */
#define DM_STATS_STREAM_PSI    UINT64_C(0x5053492d6e756c6c) /* "PSI-null" */
#define DM_STATS_STREAM_MMD    UINT64_C(0x4d4d442d6e756c6c) /* "MMD-null" */
#define DM_STATS_STREAM_SUB    UINT64_C(0x4d4d442d73756273) /* "MMD-subs" */
#define DM_STATS_STREAM_CV     UINT64_C(0x43562d666f6c6473) /* "CV-folds" */
#define DM_STATS_STREAM_TOPICS UINT64_C(0x544f50494373706c) /* "TOPICspl" */

/*
 * Checks that every value of an n x dim matrix is finite; DM_EINVAL with
 * a message naming the window, row and dimension otherwise.
 */
int dm_stats_check_finite(const double *x, size_t n, size_t dim,
                          const char *window, char *errbuf, size_t errlen);

/*
 * The exponent e with max |x[i]| = m 2^e, m in [0.5, 1) (0 when every
 * value is 0).  ldexp(x, -e) brings finite values of any magnitude into
 * [-1, 1] exactly, so that their squares and sums of squares can neither
 * overflow nor vanish; a scale-free computation (a median-heuristic
 * kernel, a cosine) gives the same bits on the rescaled values.
 */
int dm_stats_max_exponent(const double *x, size_t n);

/* x[i] = ldexp(x[i], -e) for n values. */
void dm_stats_rescale(double *x, size_t n, int e);

/*
 * Sums n doubles the way numpy's add.reduce does for a contiguous array
 * (pairwise summation, 8 accumulators below 128 elements), so that sums
 * round as in the numpy/scipy reference.
 */
double dm_stats_pairwise_sum(const double *a, size_t n);

/*
 * The pooled rows of both windows binned per dimension, numpy-exact.
 * Rows 0..nb-1 are the baseline, nb..nb+nc-1 the current window.
 */
typedef struct dm_stats_bins {
    size_t n_rows;
    size_t dim;
    unsigned bins;
    uint16_t *idx;   /* n_rows x dim bin indices, row-major; owned */
    uint16_t *nbins; /* per dimension: bins, or 1 when degenerate; owned */
} dm_stats_bins_t;

/*
 * Validates the values (finite, finite pooled range) and bins every value
 * of both windows into out (initialised here; release it with
 * dm_stats_bins_cleanup even on failure).  Returns DM_OK or DM_EINVAL
 * with a message naming the window, row and dimension.  The caller has
 * checked the sizes (nb, nc, dim > 0, 2 <= bins <= DM_STATS_MAX_BINS).
 */
int dm_stats_bins_compute(const double *baseline, size_t nb,
                          const double *current, size_t nc, size_t dim,
                          unsigned bins, dm_stats_bins_t *out, char *errbuf,
                          size_t errlen);
void dm_stats_bins_cleanup(dm_stats_bins_t *b);

/*
 * KL of one dimension exactly as scipy.stats.entropy(Q, P) of the
 * floored proportions: cq (nq rows) is the baseline histogram, cp (np_
 * rows) the current one, both nbins long; work holds 3 * nbins doubles.
 */
double dm_stats_kl_exact(const uint32_t *cq, size_t nq, const uint32_t *cp,
                         size_t np_, unsigned nbins, double *work);

/*
 * Seeds r for permutation index of a test with the given seed and
 * stream: a pure function of the three, hence independent of which
 * thread runs the permutation.
 */
void dm_stats_perm_seed(dm_rng_t *r, uint64_t seed, uint64_t stream,
                        uint64_t index);

/*
 * Draws a uniformly random subset of m of the n indices 0..n-1 (Floyd's
 * algorithm): sets flags[i] = 1 for each chosen i (flags, n bytes, must
 * be all 0 on entry) and, when chosen is not NULL, writes the m chosen
 * indices to it in draw order.  m <= n <= UINT32_MAX.
 */
void dm_stats_subset_draw(dm_rng_t *r, uint8_t *flags, size_t n, size_t m,
                          uint32_t *chosen);

/*
 * One permutation test run on worker threads.  item computes the
 * statistic of permutation index with per-worker scratch (from
 * scratch_new, released by scratch_free); results land in out[index].
 * Permutations are dealt to workers round-robin, so out does not depend
 * on the number of threads.
 */
typedef struct dm_stats_job {
    unsigned n;       /* permutations */
    unsigned threads; /* requested workers (0 = 1) */
    void *ctx;        /* borrowed, read-only during the run */
    void *(*scratch_new)(void *ctx);
    void (*scratch_free)(void *scratch);
    double (*item)(void *ctx, void *scratch, unsigned index);
    double *out; /* n results */
} dm_stats_job_t;

/*
 * Runs job on min(threads, n, DM_STATS_MAX_THREADS) workers, the calling
 * thread being one of them.  A worker thread that cannot be created has
 * its share run by the calling thread, so this cannot fail.
 */
void dm_stats_job_run(const dm_stats_job_t *job);

/*
 * Assigns each of n rows to one of folds folds (fold[i] < folds <= 255)
 * by a shuffle seeded from (seed, DM_STATS_STREAM_CV, which), dealt
 * round-robin, so fold sizes differ by at most one.
 */
void dm_stats_folds_assign(size_t n, unsigned folds, uint64_t seed,
                           uint64_t which, unsigned char *fold);

/* A score and its class (1 = current window). */
typedef struct dm_stats_scored {
    double s;
    unsigned char y;
} dm_stats_scored_t;

/*
 * Mann-Whitney AUC of the n1 rows with y = 1 against the rest (ties
 * count 1/2); v is sorted in place.  0.5 when either class is empty.
 * A NaN score ranks below every number and ties with the other NaNs.
 */
double dm_stats_auc(dm_stats_scored_t *v, size_t n, size_t n1);

/* Summary of a null distribution against an observed statistic. */
typedef struct dm_stats_null {
    double mean;
    double sd;      /* sample standard deviation, 0 when n < 2 */
    double p_value; /* (1 + #{null >= observed}) / (1 + n) */
} dm_stats_null_t;

/*
 * Summarises n >= 1 null statistics.  "null >= observed" allows a
 * relative 1e-12 for rounding, so that a permutation equal in exact
 * arithmetic to the observed assignment counts as a tie.
 */
void dm_stats_null_summarise(const double *null, size_t n, double observed,
                             dm_stats_null_t *out);

/* Spherical k-means of unit rows (kmeans.c). */
typedef struct dm_stats_kmeans {
    size_t k;
    float *centroids; /* k x dim, unit length (or 0); owned */
    uint32_t *label;  /* n: the topic of each row; owned */
    float *sim;       /* n: cosine of each row to its centroid; owned */
    unsigned iterations;
} dm_stats_kmeans_t;

/*
 * Clusters the n unit-length (or zero) rows of x (n x dim, row-major)
 * into k <= n clusters by cosine: inits runs (0 means 1), each a
 * k-means++ seeding drawn from (seed, DM_STATS_STREAM_TOPICS, run) and
 * Lloyd iterations (cosines by one BLAS product per iteration; ties to
 * the lower cluster) until no label changes or max_iter; the run with
 * the largest sum of cosines to the centroids wins.  A cluster left
 * empty takes the row farthest from its own centroid.  With k <=
 * fit_rows < n the centroids are fitted on fit_rows rows drawn
 * uniformly (seeded) and every row is then labelled by its nearest
 * centroid: the cost no longer grows with the sample.  out is
 * initialised here; release it with dm_stats_kmeans_cleanup.
 */
void dm_stats_kmeans_run(const float *x, size_t n, size_t dim, size_t k,
                         unsigned max_iter, unsigned inits, size_t fit_rows,
                         uint64_t seed, dm_stats_kmeans_t *out);
void dm_stats_kmeans_cleanup(dm_stats_kmeans_t *km);

/*
 * The top terms of each of k classes by class-based TF-IDF (terms.c):
 * texts[i] (NULL reads as "") belongs to class label[i].  Writes up to
 * DM_STATS_EXPLAIN_TERMS terms per class to topics[c].terms and their
 * number to topics[c].n_terms.
 */
void dm_stats_ctfidf(const char *const *texts, size_t n, const uint32_t *label,
                     size_t k, dm_stats_topic_t *topics);

#endif
