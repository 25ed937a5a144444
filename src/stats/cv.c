/*
 * cv.c - cross-validation helpers shared by the semantic effect
 * estimators: seeded, stratified fold assignment and the Mann-Whitney
 * AUC of scores.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

void dm_stats_folds_assign(size_t n, unsigned folds, uint64_t seed,
                           uint64_t which, unsigned char *fold)
{
    size_t *ord = dm_mallocarray(n ? n : 1, sizeof(*ord));
    dm_rng_t rng;

    dm_stats_perm_seed(&rng, seed, DM_STATS_STREAM_CV, which);
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    /* Fisher-Yates, then dealt round-robin: fold sizes differ by <= 1 */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dm_rng_below(&rng, i), t = ord[i - 1];

        ord[i - 1] = ord[j];
        ord[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        fold[ord[i]] = (unsigned char)(i % folds);
    free(ord);
}

/* Same rank: equal, or both NaN (a NaN equals nothing, itself included). */
static bool same_score(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

/* Ascending, NaN first; a total order, so qsort and the tie runs agree. */
static int cmp_scored(const void *x, const void *y)
{
    const dm_stats_scored_t *a = x, *b = y;

    if (!same_score(a->s, b->s)) {
        if (isnan(a->s) || isnan(b->s))
            return isnan(a->s) ? -1 : 1;
        return (a->s > b->s) - (a->s < b->s);
    }
    return (int)a->y - (int)b->y;
}

double dm_stats_auc(dm_stats_scored_t *v, size_t n, size_t n1)
{
    double rank_sum = 0.0;
    size_t i = 0;

    if (n1 == 0 || n1 >= n)
        return 0.5;
    qsort(v, n, sizeof(*v), cmp_scored);
    while (i < n) {
        size_t j = i, pos = 0;
        double mid;

        /* j > i on exit, whatever the scores: same_score(x, x) holds */
        while (j < n && same_score(v[j].s, v[i].s)) {
            pos += v[j].y;
            j++;
        }
        mid = ((double)i + 1.0 + (double)j) / 2.0; /* mean rank, 1-based */
        rank_sum += mid * (double)pos;
        i = j;
    }
    return (rank_sum - (double)n1 * ((double)n1 + 1.0) / 2.0) /
           ((double)n1 * (double)(n - n1));
}
