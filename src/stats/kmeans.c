/*
 * kmeans.c - spherical k-means, the topics of a check's explanation
 * (DESIGN.md section 2.5).
 *
 * Rows are unit vectors (sentence embeddings are compared by cosine), so
 * a centroid is the normalised mean of its rows and a row belongs to the
 * centroid of largest dot product.  Seeding is k-means++ (Arthur and
 * Vassilvitskii 2007) with the cosine distance 1 - cos: each new centre
 * is drawn with probability proportional to the squared distance to the
 * nearest centre so far, which spreads the centres over the topics
 * instead of putting two in the largest one.
 *
 * DESIGN
 * All cosines of one Lloyd iteration are one BLAS product X C' (n x k);
 * the sums of the update step are double.  Everything runs in a fixed
 * order from a seeded generator, so the clustering is a function of the
 * rows and the seed.  Ties (equal cosines) go to the lower cluster.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

void dm_stats_kmeans_cleanup(dm_stats_kmeans_t *km)
{
    free(km->centroids);
    free(km->label);
    free(km->sim);
    memset(km, 0, sizeof(*km));
}

/* k-means++ seeding: writes k centres (copies of rows) to c. */
static void seed_centres(const float *x, size_t n, size_t dim, size_t k,
                         uint64_t seed, uint64_t which, float *c)
{
    double *mind = dm_mallocarray(n, sizeof(*mind));
    float *cos = dm_mallocarray(n, sizeof(*cos));
    dm_rng_t rng;
    size_t pick;

    dm_stats_perm_seed(&rng, seed, DM_STATS_STREAM_TOPICS, which);
    pick = (size_t)dm_rng_below(&rng, n);
    for (size_t i = 0; i < n; i++)
        mind[i] = (double)INFINITY;
    for (size_t j = 0; j < k; j++) {
        double total = 0.0;

        memcpy(c + j * dim, x + pick * dim, dim * sizeof(*c));
        if (j + 1 == k)
            break;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)dim, 1.0f, x,
                    (int)dim, c + j * dim, 1, 0.0f, cos, 1);
        for (size_t i = 0; i < n; i++) {
            double d = 1.0 - (double)cos[i];

            if (d < 0.0)
                d = 0.0;
            if (d * d < mind[i])
                mind[i] = d * d;
            total += mind[i];
        }
        if (!(total > 0.0)) {
            /* every row sits on a centre: any row will do */
            pick = (size_t)dm_rng_below(&rng, n);
            continue;
        }
        {
            double u = dm_rng_uniform(&rng) * total, run = 0.0;

            pick = n - 1;
            for (size_t i = 0; i < n; i++) {
                run += mind[i];
                if (u < run && mind[i] > 0.0) {
                    pick = i;
                    break;
                }
            }
            /* rounding at the top end: the last row with weight */
            while (mind[pick] <= 0.0 && pick > 0)
                pick--;
        }
    }
    free(cos);
    free(mind);
}

/* c[j] = normalised mean of the rows labelled j; returns empty clusters. */
static size_t update_centres(const float *x, size_t n, size_t dim, size_t k,
                             const uint32_t *label, double *sum, size_t *cnt,
                             float *c)
{
    size_t empty = 0;

    memset(sum, 0, k * dim * sizeof(*sum));
    memset(cnt, 0, k * sizeof(*cnt));
    for (size_t i = 0; i < n; i++) {
        double *s = sum + (size_t)label[i] * dim;
        const float *xi = x + i * dim;

        for (size_t d = 0; d < dim; d++)
            s[d] += (double)xi[d];
        cnt[label[i]]++;
    }
    for (size_t j = 0; j < k; j++) {
        double *s = sum + j * dim, norm = 0.0;

        if (cnt[j] == 0) {
            empty++;
            continue;
        }
        for (size_t d = 0; d < dim; d++)
            norm += s[d] * s[d];
        norm = norm > 0.0 ? 1.0 / sqrt(norm) : 0.0;
        for (size_t d = 0; d < dim; d++)
            c[j * dim + d] = (float)(s[d] * norm);
    }
    return empty;
}

/* Labels every row by its most similar centre; returns rows that moved. */
static size_t assign(const float *x, size_t n, size_t dim, size_t k,
                     const float *c, float *s, uint32_t *label, float *sim)
{
    size_t moved = 0;

    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k,
                (int)dim, 1.0f, x, (int)dim, c, (int)dim, 0.0f, s, (int)k);
    for (size_t i = 0; i < n; i++) {
        const float *si = s + i * k;
        uint32_t best = 0;

        for (size_t j = 1; j < k; j++)
            if (si[j] > si[best])
                best = (uint32_t)j;
        if (best != label[i])
            moved++;
        label[i] = best;
        sim[i] = si[best];
    }
    return moved;
}

/* One seeding and its Lloyd iterations. */
static void run_once(const float *x, size_t n, size_t dim, size_t k,
                     unsigned max_iter, uint64_t seed, uint64_t which,
                     dm_stats_kmeans_t *out)
{
    float *s = dm_mallocarray(n * k, sizeof(*s));
    double *sum = dm_mallocarray(k * dim, sizeof(*sum));
    size_t *cnt = dm_mallocarray(k, sizeof(*cnt));

    memset(out, 0, sizeof(*out));
    out->k = k;
    out->centroids = dm_calloc(k * dim, sizeof(float));
    out->label = dm_mallocarray(n, sizeof(uint32_t));
    out->sim = dm_mallocarray(n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        out->label[i] = UINT32_MAX; /* so the first pass counts as moved */
    seed_centres(x, n, dim, k, seed, which, out->centroids);
    for (unsigned it = 1; it <= max_iter; it++) {
        size_t moved =
            assign(x, n, dim, k, out->centroids, s, out->label, out->sim);

        out->iterations = it;
        /* stop with labels and sims of the centres they were given by */
        if (moved == 0 || it == max_iter)
            break;
        if (update_centres(x, n, dim, k, out->label, sum, cnt, out->centroids) >
            0) {
            /* an empty cluster takes the row farthest from its centre
             * (among rows whose cluster keeps another row) */
            for (size_t j = 0; j < k; j++) {
                size_t far = SIZE_MAX;

                if (cnt[j] > 0)
                    continue;
                for (size_t i = 0; i < n; i++)
                    if (cnt[out->label[i]] > 1 &&
                        (far == SIZE_MAX || out->sim[i] < out->sim[far]))
                        far = i;
                if (far == SIZE_MAX)
                    break;
                cnt[out->label[far]]--;
                cnt[j] = 1;
                out->label[far] = (uint32_t)j;
                out->sim[far] = 1.0f;
                memcpy(out->centroids + j * dim, x + far * dim,
                       dim * sizeof(float));
            }
        }
    }
    free(cnt);
    free(sum);
    free(s);
}

/* Sum of the cosines of rows to their centres: larger is better. */
static double cohesion(const dm_stats_kmeans_t *km, size_t n)
{
    double s = 0.0;

    for (size_t i = 0; i < n; i++)
        s += (double)km->sim[i];
    return s;
}

void dm_stats_kmeans_run(const float *x, size_t n, size_t dim, size_t k,
                         unsigned max_iter, unsigned inits, size_t fit_rows,
                         uint64_t seed, dm_stats_kmeans_t *out)
{
    float *fit = NULL, *s = NULL;
    size_t m = n;
    double best = 0.0;

    memset(out, 0, sizeof(*out));
    if (fit_rows >= k && fit_rows < n) {
        /* fit on a seeded uniform subsample, in row order */
        uint8_t *flags = dm_calloc(n, 1);
        dm_rng_t rng;
        size_t j = 0;

        dm_stats_perm_seed(&rng, seed, DM_STATS_STREAM_TOPICS, UINT32_MAX);
        dm_stats_subset_draw(&rng, flags, n, fit_rows, NULL);
        fit = dm_mallocarray(fit_rows * dim, sizeof(*fit));
        for (size_t i = 0; i < n; i++)
            if (flags[i])
                memcpy(fit + (j++) * dim, x + i * dim, dim * sizeof(*fit));
        free(flags);
        m = fit_rows;
    }
    for (unsigned r = 0; r < (inits ? inits : 1); r++) {
        dm_stats_kmeans_t km;
        double c;

        run_once(fit ? fit : x, m, dim, k, max_iter, seed, r, &km);
        c = cohesion(&km, m);
        /* ties keep the earlier run */
        if (r == 0 || c > best) {
            dm_stats_kmeans_cleanup(out);
            *out = km;
            best = c;
        } else {
            dm_stats_kmeans_cleanup(&km);
        }
    }
    if (fit != NULL) {
        /* every row to its nearest centre of the fit */
        free(out->label);
        free(out->sim);
        out->label = dm_mallocarray(n, sizeof(uint32_t));
        out->sim = dm_mallocarray(n, sizeof(float));
        s = dm_mallocarray(n * k, sizeof(*s));
        for (size_t i = 0; i < n; i++)
            out->label[i] = 0;
        (void)assign(x, n, dim, k, out->centroids, s, out->label, out->sim);
        free(s);
        free(fit);
    }
}
