/*
 * explain.c - what changed between two windows (DESIGN.md section 2.5):
 * the topics of the pooled sample and how their shares moved, and the
 * current queries least like anything in the baseline.
 *
 * Topics are spherical k-means clusters of the embeddings (kmeans.c),
 * named by their c-TF-IDF terms (terms.c) and shown by the queries
 * nearest their centroid.  A topic's change is its share of the current
 * sample minus its share of the baseline sample, tested by the two-sided
 * two-proportion z-test; with k topics the p-values are Holm-adjusted,
 * so "adjusted < alpha" controls the chance of naming any topic that
 * did not move.  (The clustering itself looked at the data, so the
 * p-values are a guide to which changes are beyond sampling noise, not
 * an exact test; they are honest for a fixed partition.)
 *
 * Novel queries: for each current row the cosine to its nearest baseline
 * row, by BLAS products of blocks of current rows against all baseline
 * rows (the n_c x n_b matrix is never stored whole).
 *
 * DESIGN
 * Inputs are normalised once into a float copy (the products are single
 * precision, like the MMD's kernel rows; a cosine's rounding is far below
 * any distance worth reporting).  Every loop runs in row order and every
 * sort breaks ties by row or term, so the explanation is a function of
 * the input and the seed.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

/* Current rows per block of the nearest-neighbour search. */
#define NN_BLOCK 256

double dm_stats_two_prop_p(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2)
{
    double p1, p2, pooled, var;

    if (n1 == 0 || n2 == 0)
        return (double)NAN;
    p1 = (double)x1 / (double)n1;
    p2 = (double)x2 / (double)n2;
    pooled = ((double)x1 + (double)x2) / ((double)n1 + (double)n2);
    var = pooled * (1.0 - pooled) * (1.0 / (double)n1 + 1.0 / (double)n2);
    if (!(var > 0.0))
        return 1.0;
    return erfc(fabs(p1 - p2) / sqrt(var) / sqrt(2.0));
}

/* Unit-length float copy of the rows of x into y (zero rows stay zero). */
static void normalise(const double *x, size_t n, size_t dim, float *y)
{
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * dim;
        /* |v| <= 1 first (exact), so the sum of squares stays finite */
        int e = dm_stats_max_exponent(xi, dim);
        double s = 0.0;

        for (size_t d = 0; d < dim; d++) {
            double v = ldexp(xi[d], -e);

            s += v * v;
        }
        s = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
        for (size_t d = 0; d < dim; d++)
            y[i * dim + d] = (float)(ldexp(xi[d], -e) * s);
    }
}

/* A row and a score to rank by (larger first, then lower row). */
typedef struct ranked {
    double s;
    size_t row;
} ranked_t;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;

    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return (x->row > y->row) - (x->row < y->row);
}

static const char *text_of(const char *const *q, size_t i)
{
    return q[i] != NULL ? q[i] : "";
}

/*
 * Up to max rows of r (already sorted) with distinct texts; writes their
 * positions in r to pick and returns how many.
 */
static size_t distinct(const ranked_t *r, size_t n, const char *const *q,
                       size_t max, size_t *pick)
{
    size_t m = 0;

    for (size_t i = 0; i < n && m < max; i++) {
        bool dup = false;

        for (size_t j = 0; j < m && !dup; j++)
            dup = strcmp(text_of(q, r[pick[j]].row), text_of(q, r[i].row)) == 0;
        if (!dup)
            pick[m++] = i;
    }
    return m;
}

/* Shares, test, accuracy and examples of every topic. */
static void describe(const dm_stats_kmeans_t *km, size_t nb, size_t nc,
                     const char *const *q, const unsigned char *positive,
                     dm_stats_topic_t *t, ranked_t *scratch)
{
    size_t n = nb + nc, k = km->k;
    double p[DM_STATS_EXPLAIN_TOPICS_MAX] = {0};
    size_t posb[DM_STATS_EXPLAIN_TOPICS_MAX] = {0};
    size_t posc[DM_STATS_EXPLAIN_TOPICS_MAX] = {0};

    for (size_t i = 0; i < n; i++) {
        uint32_t c = km->label[i];
        bool pos = positive != NULL && positive[i];

        if (i < nb) {
            t[c].baseline_count++;
            posb[c] += pos;
        } else {
            t[c].current_count++;
            posc[c] += pos;
        }
    }
    for (size_t c = 0; c < k; c++) {
        dm_stats_topic_t *tc = &t[c];
        bool cur;
        size_t m = 0, pick[DM_STATS_EXPLAIN_EXAMPLES];

        tc->baseline_share = (double)tc->baseline_count / (double)nb;
        tc->current_share = (double)tc->current_count / (double)nc;
        tc->change = tc->current_share - tc->baseline_share;
        p[c] =
            dm_stats_two_prop_p(tc->baseline_count, nb, tc->current_count, nc);
        tc->p_value = p[c];
        tc->baseline_accuracy =
            positive != NULL && tc->baseline_count > 0
                ? (double)posb[c] / (double)tc->baseline_count
                : (double)NAN;
        tc->current_accuracy = positive != NULL && tc->current_count > 0
                                   ? (double)posc[c] / (double)tc->current_count
                                   : (double)NAN;
        /* examples from the window where the topic is larger */
        cur = tc->current_share >= tc->baseline_share;
        for (size_t i = cur ? nb : 0; i < (cur ? n : nb); i++)
            if (km->label[i] == c) {
                scratch[m].s = (double)km->sim[i];
                scratch[m].row = i;
                m++;
            }
        qsort(scratch, m, sizeof(*scratch), cmp_ranked);
        tc->n_examples =
            distinct(scratch, m, q, DM_STATS_EXPLAIN_EXAMPLES, pick);
        for (size_t j = 0; j < tc->n_examples; j++)
            tc->examples[j] = scratch[pick[j]].row;
    }
    dm_stats_holm(p, k, p);
    for (size_t c = 0; c < k; c++)
        t[c].p_adjusted = p[c];
}

static int cmp_change(const void *a, const void *b)
{
    const dm_stats_topic_t *x = a, *y = b;
    double ax = fabs(x->change), ay = fabs(y->change);

    if (ax != ay)
        return ax < ay ? 1 : -1;
    /* ties: the larger topic first, then by its first example (topics
     * share no rows), so the order never depends on qsort */
    if (x->current_count + x->baseline_count !=
        y->current_count + y->baseline_count)
        return x->current_count + x->baseline_count <
                       y->current_count + y->baseline_count
                   ? 1
                   : -1;
    return (x->examples[0] > y->examples[0]) -
           (x->examples[0] < y->examples[0]);
}

/* The current rows farthest from their nearest baseline row. */
static void novel(const float *x, size_t nb, size_t nc, size_t dim,
                  const char *const *q, dm_stats_explain_t *out,
                  ranked_t *scratch)
{
    float *s = dm_mallocarray((size_t)NN_BLOCK * nb, sizeof(*s));
    size_t pick[DM_STATS_EXPLAIN_NOVEL];

    for (size_t r0 = 0; r0 < nc; r0 += NN_BLOCK) {
        size_t rows = nc - r0 < NN_BLOCK ? nc - r0 : NN_BLOCK;

        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nb,
                    (int)dim, 1.0f, x + (nb + r0) * dim, (int)dim, x, (int)dim,
                    0.0f, s, (int)nb);
        for (size_t i = 0; i < rows; i++) {
            const float *si = s + i * nb;
            float best = -1.0f;
            double d;

            for (size_t j = 0; j < nb; j++)
                if (si[j] > best)
                    best = si[j];
            d = 1.0 - (double)best;
            /* equal rows: 0, whatever the rounding */
            scratch[r0 + i].s = d > 1e-6 ? d : 0.0;
            scratch[r0 + i].row = nb + r0 + i;
        }
    }
    qsort(scratch, nc, sizeof(*scratch), cmp_ranked);
    out->n_novel = distinct(scratch, nc, q, DM_STATS_EXPLAIN_NOVEL, pick);
    for (size_t j = 0; j < out->n_novel; j++) {
        out->novel[j].row = scratch[pick[j]].row;
        out->novel[j].distance = scratch[pick[j]].s;
    }
    free(s);
}

int dm_stats_explain(const double *baseline, size_t nb, const double *current,
                     size_t nc, size_t dim, const char *const *queries,
                     const unsigned char *positive, unsigned k, uint64_t seed,
                     dm_stats_explain_t *out, char *errbuf, size_t errlen)
{
    size_t n = nb + nc;
    float *x = NULL;
    ranked_t *scratch = NULL;
    dm_stats_kmeans_t km;
    int rc;

    if (out == NULL || baseline == NULL || current == NULL || queries == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "missing argument to dm_stats_explain");
    memset(out, 0, sizeof(*out));
    if (nb == 0 || nc == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "explanation: an empty window (%zu baseline, %zu "
                          "current rows)",
                          nb, nc);
    if (dim == 0 || nb > UINT32_MAX || nc > UINT32_MAX)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "explanation: bad size (dim %zu, %zu + %zu rows)",
                          dim, nb, nc);
    rc = dm_stats_check_finite(baseline, nb, dim, "baseline", errbuf, errlen);
    if (rc == DM_OK)
        rc = dm_stats_check_finite(current, nc, dim, "current", errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    if (k == 0)
        k = DM_STATS_EXPLAIN_TOPICS;
    if (k > DM_STATS_EXPLAIN_TOPICS_MAX)
        k = DM_STATS_EXPLAIN_TOPICS_MAX;
    if (k > n)
        k = (unsigned)n;

    x = dm_mallocarray(n * dim, sizeof(*x));
    normalise(baseline, nb, dim, x);
    normalise(current, nc, dim, x + nb * dim);
    scratch = dm_mallocarray(n, sizeof(*scratch));
    dm_stats_kmeans_run(x, n, dim, k, DM_STATS_EXPLAIN_MAX_ITER,
                        DM_STATS_EXPLAIN_INITS, DM_STATS_EXPLAIN_FIT_ROWS, seed,
                        &km);
    out->k = k;
    out->iterations = km.iterations;
    describe(&km, nb, nc, queries, positive, out->topics, scratch);
    dm_stats_ctfidf(queries, n, km.label, k, out->topics);
    qsort(out->topics, k, sizeof(out->topics[0]), cmp_change);
    novel(x, nb, nc, dim, queries, out, scratch);
    dm_stats_kmeans_cleanup(&km);
    free(scratch);
    free(x);
    return DM_OK;
}

int dm_stats_intents(const uint64_t *base_count, const uint64_t *base_pos,
                     const uint64_t *cur_count, const uint64_t *cur_pos,
                     size_t k, size_t other_idx, uint64_t min_samples,
                     dm_stats_intent_t *out, char *errbuf, size_t errlen)
{
    uint64_t *mb = NULL, *mc = NULL, tb = 0, tc = 0;
    double *p = NULL;
    int rc;

    if (base_count == NULL || base_pos == NULL || cur_count == NULL ||
        cur_pos == NULL || out == NULL || k == 0 || k > DM_STATS_HOLM_MAX)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "intents: between 1 and %d categories needed",
                          DM_STATS_HOLM_MAX);
    for (size_t i = 0; i < k; i++)
        if (base_pos[i] > base_count[i] || cur_pos[i] > cur_count[i])
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "intents: category %zu has more positives "
                              "than rows",
                              i);
    mb = dm_mallocarray(k, sizeof(*mb));
    mc = dm_mallocarray(k, sizeof(*mc));
    p = dm_mallocarray(k, sizeof(*p));
    rc = dm_stats_psi_merge(base_count, cur_count, k, other_idx, min_samples,
                            mb, mc, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    memset(out, 0, k * sizeof(*out));
    for (size_t i = 0; i < k; i++) {
        /* positives follow their rows into "other" */
        size_t to =
            mb[i] == 0 && mc[i] == 0 && (base_count[i] | cur_count[i]) != 0
                ? other_idx
                : i;

        out[to].baseline_positives += base_pos[i];
        out[to].current_positives += cur_pos[i];
        tb += mb[i];
        tc += mc[i];
    }
    if (tb == 0 || tc == 0) {
        rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                        "intents: an empty window (%llu baseline, %llu "
                        "current rows)",
                        (unsigned long long)tb, (unsigned long long)tc);
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        dm_stats_intent_t *o = &out[i];
        double q, pc;

        o->baseline_count = mb[i];
        o->current_count = mc[i];
        o->baseline_share = (double)mb[i] / (double)tb;
        o->current_share = (double)mc[i] / (double)tc;
        q = o->baseline_share < DM_STATS_EPS ? DM_STATS_EPS : o->baseline_share;
        pc = o->current_share < DM_STATS_EPS ? DM_STATS_EPS : o->current_share;
        o->psi_term = (pc - q) * log(pc / q);
        o->baseline_accuracy =
            mb[i] > 0 ? (double)o->baseline_positives / (double)mb[i]
                      : (double)NAN;
        o->current_accuracy = mc[i] > 0
                                  ? (double)o->current_positives / (double)mc[i]
                                  : (double)NAN;
        o->accuracy_p_value = dm_stats_two_prop_p(o->baseline_positives, mb[i],
                                                  o->current_positives, mc[i]);
        p[i] = o->accuracy_p_value;
    }
    dm_stats_holm(p, k, p);
    for (size_t i = 0; i < k; i++)
        out[i].accuracy_p_adjusted = p[i];
out:
    free(p);
    free(mc);
    free(mb);
    return rc;
}
