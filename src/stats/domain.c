/*
 * domain.c - the effect of semantic drift a user can read (DESIGN.md
 * section 2.3): the share of current traffic unlike the baseline, from
 * the held-out AUC of a domain classifier, effect = 2 (AUC - 0.5).
 *
 * Why this number: if a share s of the current rows comes from a region
 * the baseline never visits and the rest from the baseline's own
 * distribution, a classifier ranks the s part above every baseline row
 * and the rest at random, so AUC = s + (1 - s) / 2 and 2 (AUC - 0.5) = s.
 * It reads "about 10% of this week's queries are unlike last week's",
 * whatever the embedding's dimension, unlike a per-dimension divergence.
 *
 * DESIGN
 * The classifier is L2-regularised logistic regression (lambda = 1 on
 * the summed log-loss, intercept free: scikit-learn's default), fitted
 * DM_STATS_DOMAIN_FOLDS times on k-fold training sets and scored on the
 * held-out fold, so no row is scored by a model that saw it.  Rows are
 * regrouped fold by fold; each fold's Gram matrix is one BLAS syrk, and a
 * training set's Gram is the total minus its fold's.  The fit is
 * Boehning's bounded-Hessian Newton iteration: the log-loss Hessian is
 * bounded by X'X / 4, so H = X'X / 4 + lambda I is factored once per fold
 * (LAPACK dpotrf) and every iteration is two BLAS products for all folds
 * together and one triangular solve per fold; the objective decreases
 * monotonically.  Iterations stop when no weight moves by more than
 * STEP_RTOL of the largest one, or after MAX_ITER.  Everything is a fixed
 * sequence of BLAS calls on data in a seeded order, so the result is
 * reproducible.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

#define FOLDS  DM_STATS_DOMAIN_FOLDS
#define LAMBDA 1.0
/*
 * Only the ranking of held-out scores matters, and it settles long before
 * the weights do on nearly separable windows (where bounded-Hessian steps
 * shrink slowly): stop when no weight moves by more than STEP_RTOL of
 * the largest weight, or after MAX_ITER.
 */
#define MAX_ITER  40
#define STEP_RTOL 1e-3

/* Feature scale (a power of two) beyond which rows are rescaled. */
#define DOMAIN_EXP 32

/* LAPACK (in OpenBLAS), Fortran calling convention */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
                    int *info);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs,
                    const double *a, const int *lda, double *b, const int *ldb,
                    int *info);

static double sigmoid(double t)
{
    if (t >= 0.0)
        return 1.0 / (1.0 + exp(-t));
    return exp(t) / (1.0 + exp(t));
}

int dm_stats_domain(const double *baseline, size_t nb, const double *current,
                    size_t nc, size_t dim, uint64_t seed,
                    dm_stats_domain_t *out, char *errbuf, size_t errlen)
{
    size_t n = nb + nc, d1 = dim + 1, start[FOLDS + 1], cnt[FOLDS] = {0};
    unsigned char *fb = NULL, *fc = NULL, *fold = NULL, *y = NULL;
    double *x = NULL, *gram = NULL, *h = NULL, *w = NULL, *s = NULL;
    double *res = NULL, *g = NULL, *step = NULL;
    dm_stats_scored_t *sc = NULL;
    int rc, dn = (int)d1;

    if (out == NULL || baseline == NULL || current == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "missing argument to dm_stats_domain");
    memset(out, 0, sizeof(*out));
    out->auc = (double)NAN;
    if (nb < FOLDS || nc < FOLDS)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "the domain classifier needs at least %d rows per "
                          "window (%zu baseline, %zu current)",
                          FOLDS, nb, nc);
    if (dim == 0 || d1 > 1 << 20)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "embedding dimension %zu out of range", dim);
    rc = dm_stats_check_finite(baseline, nb, dim, "baseline", errbuf, errlen);
    if (rc == DM_OK)
        rc = dm_stats_check_finite(current, nc, dim, "current", errbuf, errlen);
    if (rc != DM_OK)
        return rc;

    fb = dm_malloc(nb);
    fc = dm_malloc(nc);
    dm_stats_folds_assign(nb, FOLDS, seed, 0, fb);
    dm_stats_folds_assign(nc, FOLDS, seed, 1, fc);
    for (size_t i = 0; i < nb; i++)
        cnt[fb[i]]++;
    for (size_t i = 0; i < nc; i++)
        cnt[fc[i]]++;
    start[0] = 0;
    for (int f = 0; f < FOLDS; f++)
        start[f + 1] = start[f] + cnt[f];

    /* rows regrouped fold by fold, each with a trailing 1 (intercept) */
    x = dm_mallocarray(n * d1, sizeof(*x));
    fold = dm_malloc(n);
    y = dm_malloc(n);
    {
        size_t pos[FOLDS];

        memcpy(pos, start, sizeof(pos));
        for (size_t i = 0; i < n; i++) {
            bool cur = i >= nb;
            size_t src = cur ? i - nb : i;
            unsigned char f = cur ? fc[src] : fb[src];
            size_t r = pos[f]++;

            memcpy(x + r * d1, (cur ? current : baseline) + src * dim,
                   dim * sizeof(*x));
            x[r * d1 + dim] = 1.0;
            fold[r] = f;
            y[r] = cur;
        }
    }

    /*
     * Features far from unit scale (beyond 2^+-DOMAIN_EXP) are brought
     * into [-1, 1] by a power of two, or X'X would overflow (or vanish)
     * and the fit turn to NaN; within that range nothing changes.
     */
    {
        int e = dm_stats_max_exponent(baseline, nb * dim);
        int ec = dm_stats_max_exponent(current, nc * dim);

        if (ec > e)
            e = ec;
        if (e > DOMAIN_EXP || e < -DOMAIN_EXP)
            for (size_t r = 0; r < n; r++)
                dm_stats_rescale(x + r * d1, dim, e);
    }

    /* per-fold Gram (upper triangle), then H_f = (total - fold) / 4 + lI */
    gram = dm_calloc((size_t)FOLDS * d1 * d1, sizeof(*gram));
    h = dm_mallocarray((size_t)FOLDS * d1 * d1, sizeof(*h));
    for (int f = 0; f < FOLDS; f++)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, dn,
                    (int)(start[f + 1] - start[f]), 1.0, x + start[f] * d1, dn,
                    0.0, gram + (size_t)f * d1 * d1, dn);
    for (int f = 0; f < FOLDS; f++) {
        double *hf = h + (size_t)f * d1 * d1;
        int info = 0;

        for (size_t i = 0; i < d1; i++) {
            for (size_t j = i; j < d1; j++) {
                double tot = 0.0;

                for (int o = 0; o < FOLDS; o++)
                    if (o != f)
                        tot += gram[(size_t)o * d1 * d1 + i * d1 + j];
                hf[i * d1 + j] = 0.25 * tot;
            }
            if (i < dim)
                hf[i * d1 + i] += LAMBDA;
        }
        /* row-major upper = column-major lower */
        dpotrf_("L", &dn, hf, &dn, &info);
        if (info != 0) {
            rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                            "domain classifier: Hessian bound of fold %d not "
                            "positive definite (LAPACK info %d)",
                            f, info);
            goto out;
        }
    }

    w = dm_calloc(d1 * FOLDS, sizeof(*w)); /* d1 x FOLDS */
    s = dm_mallocarray(n * FOLDS, sizeof(*s));
    res = dm_mallocarray(n * FOLDS, sizeof(*res));
    g = dm_mallocarray(d1 * FOLDS, sizeof(*g));
    step = dm_mallocarray(d1, sizeof(*step));
    for (unsigned it = 1; it <= MAX_ITER; it++) {
        double moved = 0.0;

        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, FOLDS,
                    dn, 1.0, x, dn, w, FOLDS, 0.0, s, FOLDS);
        for (size_t i = 0; i < n; i++)
            for (int f = 0; f < FOLDS; f++)
                res[i * FOLDS + f] =
                    fold[i] == f ? 0.0
                                 : sigmoid(s[i * FOLDS + f]) - (double)y[i];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dn, FOLDS, (int)n,
                    1.0, x, dn, res, FOLDS, 0.0, g, FOLDS);
        for (int f = 0; f < FOLDS; f++) {
            int one = 1, info = 0;

            for (size_t j = 0; j < d1; j++)
                step[j] = g[j * FOLDS + f] +
                          (j < dim ? LAMBDA * w[j * FOLDS + f] : 0.0);
            dpotrs_("L", &dn, &one, h + (size_t)f * d1 * d1, &dn, step, &dn,
                    &info);
            for (size_t j = 0; j < d1; j++) {
                w[j * FOLDS + f] -= step[j];
                if (fabs(step[j]) > moved)
                    moved = fabs(step[j]);
            }
        }
        out->iterations = it;
        {
            double big = 0.0;

            for (size_t j = 0; j < d1 * FOLDS; j++)
                if (fabs(w[j]) > big)
                    big = fabs(w[j]);
            if (moved <= STEP_RTOL * big)
                break;
        }
    }

    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, FOLDS, dn,
                1.0, x, dn, w, FOLDS, 0.0, s, FOLDS);
    /* AUC per held-out fold, averaged (scikit-learn's cross_val_score):
     * the folds' models differ in scale and offset, so their scores are
     * not pooled */
    sc = dm_mallocarray(n, sizeof(*sc));
    out->auc = 0.0;
    for (int f = 0; f < FOLDS; f++) {
        size_t m = 0, pos = 0;

        for (size_t i = start[f]; i < start[f + 1]; i++) {
            sc[m].s = s[i * FOLDS + f];
            sc[m].y = y[i];
            pos += y[i];
            m++;
        }
        out->auc += dm_stats_auc(sc, m, pos) / FOLDS;
    }
    out->effect = 2.0 * (out->auc - 0.5);
    if (!(out->effect > 0.0))
        out->effect = 0.0;
    rc = DM_OK;
out:
    free(sc);
    free(step);
    free(g);
    free(res);
    free(s);
    free(w);
    free(h);
    free(gram);
    free(y);
    free(fold);
    free(x);
    free(fc);
    free(fb);
    return rc;
}
