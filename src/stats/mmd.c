/*
 * mmd.c - the semantic drift test of statistics v2 (DESIGN.md section
 * 2.3): the kernel maximum mean discrepancy between the embeddings of
 * two windows, with a permutation p-value, as alibi-detect's MMDDrift.
 *
 * DESIGN
 * With the pooled rows z_1..z_n (baseline first, nb of them) and a
 * Gaussian kernel K, the unbiased MMD^2 of an assignment a (a_i = 1 for
 * rows in the baseline window, m = sum a, n2 = n - m) needs only three
 * sums: sXX = a'Ka, aT = a'K1 and T = 1'K1, since diag(K) = 1:
 *
 *   MMD^2 = (sXX - m) / (m (m-1)) + (T - 2 aT + sXX - n2) / (n2 (n2-1))
 *           - 2 (aT - sXX) / (m n2)
 *
 * So the observed assignment and all R permutations are the columns of
 * one n x (R + 2) matrix A (the last column all ones), and a single
 * product U = K A gives every statistic.  K is never stored: row blocks
 * of it are made from one BLAS product (squared distances from the Gram
 * matrix), exponentiated, and multiplied into the matching rows of U,
 * block by block on the permutation worker pool.  Each block is one
 * single-threaded BLAS call on fixed data, so U -- and the p-value --
 * are the same for any number of threads.
 *
 * Cost: n^2 (dim + R) multiply-adds and n^2 exponentials; n is capped at
 * 2 DM_STATS_MMD_MAX_ROWS by a seeded subsample of larger windows.
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

/* Folds of the held-out witness AUC. */
#define WFOLDS 5

/* Kernel rows computed per work item. */
#define BLOCK_ROWS 128

int dm_stats_check_finite(const double *x, size_t n, size_t dim,
                          const char *window, char *errbuf, size_t errlen)
{
    for (size_t r = 0; r < n; r++)
        for (size_t d = 0; d < dim; d++)
            if (!isfinite(x[r * dim + d]))
                return dm_err_set(errbuf, errlen, DM_EINVAL,
                                  "%s window, row %zu, dimension %zu: "
                                  "non-finite value",
                                  window, r, d);
    return DM_OK;
}

int dm_stats_max_exponent(const double *x, size_t n)
{
    double big = 0.0;
    int e = 0;

    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > big)
            big = fabs(x[i]);
    (void)frexp(big, &e);
    return e;
}

void dm_stats_rescale(double *x, size_t n, int e)
{
    if (e == 0)
        return;
    for (size_t i = 0; i < n; i++)
        x[i] = ldexp(x[i], -e);
}

/* Read-only state of the blocked kernel product. */
typedef struct kprod {
    const float *z;  /* n x dim pooled rows */
    const float *sq; /* n squared norms */
    const float *a;  /* n x cols indicators, row-major */
    float *u;        /* n x cols result, rows written by their block */
    size_t n, dim, cols;
    float inv_two_s2; /* 1 / (2 sigma^2) */
} kprod_t;

static void *kprod_scratch_new(void *vctx)
{
    const kprod_t *c = vctx;

    return dm_mallocarray((size_t)BLOCK_ROWS * c->n, sizeof(float));
}

static void kprod_scratch_free(void *s)
{
    free(s);
}

static double kprod_item(void *vctx, void *vs, unsigned index)
{
    const kprod_t *c = vctx;
    float *k = vs;
    size_t r0 = (size_t)index * BLOCK_ROWS;
    size_t rows = c->n - r0 < BLOCK_ROWS ? c->n - r0 : BLOCK_ROWS;

    /* k = z[r0..] z' : the Gram rows of this block */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)c->n,
                (int)c->dim, 1.0f, c->z + r0 * c->dim, (int)c->dim, c->z,
                (int)c->dim, 0.0f, k, (int)c->n);
    for (size_t i = 0; i < rows; i++) {
        float *row = k + i * c->n, si = c->sq[r0 + i];

        for (size_t j = 0; j < c->n; j++) {
            float d2 = si + c->sq[j] - 2.0f * row[j];

            row[j] = expf(-(d2 > 0.0f ? d2 : 0.0f) * c->inv_two_s2);
        }
        row[r0 + i] = 1.0f; /* exactly, whatever the rounding above */
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
                (int)c->cols, (int)c->n, 1.0f, k, (int)c->n, c->a, (int)c->cols,
                0.0f, c->u + r0 * c->cols, (int)c->cols);
    return 0.0;
}

/* The k-th smallest of v[0..n-1] (0-based; v is reordered): Hoare's
 * selection with a middle pivot, linear on average. */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;

        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];

                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/*
 * Median of the pairwise squared distances among up to
 * DM_STATS_MMD_MEDIAN_ROWS evenly spaced rows (the lower median, as
 * torch's sort-and-index in alibi-detect).
 */
static double median_sq_dist(const double *z, const double *sq, size_t n,
                             size_t dim)
{
    size_t h = n < DM_STATS_MMD_MEDIAN_ROWS ? n : DM_STATS_MMD_MEDIAN_ROWS;
    size_t *pick = dm_mallocarray(h, sizeof(*pick));
    double *d = dm_mallocarray(h * (h - 1) / 2, sizeof(*d));
    size_t np = 0;
    double med;

    for (size_t i = 0; i < h; i++)
        pick[i] = (size_t)((double)i * (double)n / (double)h);
    for (size_t i = 0; i < h; i++) {
        const double *zi = z + pick[i] * dim;

        for (size_t j = i + 1; j < h; j++) {
            double v = sq[pick[i]] + sq[pick[j]] -
                       2.0 * cblas_ddot((int)dim, zi, 1, z + pick[j] * dim, 1);

            d[np++] = v > 0.0 ? v : 0.0;
        }
    }
    med = select_kth(d, np, (np - 1) / 2);
    free(d);
    free(pick);
    return med;
}

/* Copies m of the n rows of x into dst, chosen by a seeded draw. */
static void subsample(const double *x, size_t n, size_t m, size_t dim,
                      uint64_t seed, uint64_t which, double *dst)
{
    uint8_t *flags = dm_calloc(n, 1);
    dm_rng_t rng;
    size_t k = 0;

    dm_stats_perm_seed(&rng, seed, DM_STATS_STREAM_SUB, which);
    dm_stats_subset_draw(&rng, flags, n, m, NULL);
    /* in row order, so the sample does not depend on the draw order */
    for (size_t i = 0; i < n; i++)
        if (flags[i])
            memcpy(dst + (k++) * dim, x + i * dim, dim * sizeof(*dst));
    free(flags);
}

static double mmd2_of(double sxx, double at, double t, double m, double n2)
{
    return (sxx - m) / (m * (m - 1.0)) +
           (t - 2.0 * at + sxx - n2) / (n2 * (n2 - 1.0)) -
           2.0 * (at - sxx) / (m * n2);
}

int dm_stats_mmd(const double *baseline, size_t nb, const double *current,
                 size_t nc, size_t dim, const dm_stats_sig_t *sig,
                 dm_stats_mmd_t *out, char *errbuf, size_t errlen)
{
    unsigned r_perm = sig != NULL ? sig->permutations : 0;
    uint64_t seed = sig != NULL ? sig->seed : 0;
    size_t mb, mc, n, cols;
    double *z = NULL, *sq = NULL, *null = NULL;
    float *zf = NULL, *sqf = NULL, *a = NULL, *u = NULL;
    unsigned char *fold = NULL;
    size_t ntrain[2 * WFOLDS] = {0};
    double med, inv_med, t = 0.0;
    int scale;
    kprod_t ctx;
    dm_stats_job_t job;
    int rc;

    if (out == NULL || baseline == NULL || current == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "missing argument to dm_stats_mmd");
    memset(out, 0, sizeof(*out));
    out->p_value = (double)NAN;
    if (nb < 2 || nc < 2)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "the MMD test needs at least 2 rows per window "
                          "(%zu baseline, %zu current)",
                          nb, nc);
    if (dim == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "embedding dimension is 0");
    if (nb > UINT32_MAX || nc > UINT32_MAX)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "too many rows");
    rc = dm_stats_check_finite(baseline, nb, dim, "baseline", errbuf, errlen);
    if (rc == DM_OK)
        rc = dm_stats_check_finite(current, nc, dim, "current", errbuf, errlen);
    if (rc != DM_OK)
        return rc;

    mb = nb < DM_STATS_MMD_MAX_ROWS ? nb : DM_STATS_MMD_MAX_ROWS;
    mc = nc < DM_STATS_MMD_MAX_ROWS ? nc : DM_STATS_MMD_MAX_ROWS;
    n = mb + mc;
    /* observed, R permutations, 2 per fold (training indicators), ones */
    cols = (size_t)r_perm + 2 + 2 * WFOLDS;
    z = dm_mallocarray(n * dim, sizeof(*z));
    if (mb < nb)
        subsample(baseline, nb, mb, dim, seed, 0, z);
    else
        memcpy(z, baseline, nb * dim * sizeof(*z));
    if (mc < nc)
        subsample(current, nc, mc, dim, seed, 1, z + mb * dim);
    else
        memcpy(z + mb * dim, current, nc * dim * sizeof(*z));

    /*
     * Into [-1, 1] by a power of two: exact, and the statistic is
     * scale-free (the bandwidth follows the data), so only values whose
     * squares would overflow or vanish -- in double, or in the float
     * kernel below -- are affected, and then only for the better.
     */
    scale = dm_stats_max_exponent(z, n * dim);
    dm_stats_rescale(z, n * dim, scale);
    sq = dm_mallocarray(n, sizeof(*sq));
    for (size_t i = 0; i < n; i++)
        sq[i] = cblas_ddot((int)dim, z + i * dim, 1, z + i * dim, 1);
    med = median_sq_dist(z, sq, n, dim);
    /* identical rows: any bandwidth gives MMD 0; keep the kernel finite */
    if (!(med > 0.0))
        med = 1.0;
    out->bandwidth = ldexp(sqrt(med / 2.0), scale);
    /* a float: FLT_MAX at most, so 0 * it is 0, not NaN */
    inv_med = 1.0 / med < (double)FLT_MAX ? 1.0 / med : (double)FLT_MAX;

    /*
     * The kernel products in single precision: twice the BLAS speed, and
     * a kernel value's rounding (1e-7 relative) is far below the
     * sampling noise of any MMD; the sums over rows below are double.
     */
    zf = dm_mallocarray(n * dim, sizeof(*zf));
    sqf = dm_mallocarray(n, sizeof(*sqf));
    for (size_t i = 0; i < n * dim; i++)
        zf[i] = (float)z[i];
    for (size_t i = 0; i < n; i++)
        sqf[i] = (float)sq[i];

    /* column 0 observed, 1..R permutations, R+1 all ones */
    a = dm_calloc(n * cols, sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        a[i * cols] = i < mb ? 1.0f : 0.0f;
        a[i * cols + cols - 1] = 1.0f;
    }
    fold = dm_malloc(n);
    dm_stats_folds_assign(mb, WFOLDS, seed, 2, fold);
    dm_stats_folds_assign(mc, WFOLDS, seed, 3, fold + mb);
    for (size_t i = 0; i < n; i++)
        for (unsigned f = 0; f < WFOLDS; f++)
            if (fold[i] != f) {
                a[i * cols + r_perm + 1 + 2 * f + (i >= mb)] = 1.0f;
                ntrain[2 * f + (i >= mb)]++;
            }
    if (r_perm > 0) {
        uint8_t *flags = dm_calloc(n, 1);

        for (unsigned r = 0; r < r_perm; r++) {
            dm_rng_t rng;

            dm_stats_perm_seed(&rng, seed, DM_STATS_STREAM_MMD, r);
            dm_stats_subset_draw(&rng, flags, n, mb, NULL);
            for (size_t i = 0; i < n; i++) {
                a[i * cols + 1 + r] = flags[i];
                flags[i] = 0;
            }
        }
        free(flags);
    }

    /* our workers split the blocks; nested BLAS threads only contend */
    openblas_set_num_threads(1);
    u = dm_mallocarray(n * cols, sizeof(*u));
    memset(&ctx, 0, sizeof(ctx));
    ctx.z = zf;
    ctx.sq = sqf;
    ctx.a = a;
    ctx.u = u;
    ctx.n = n;
    ctx.dim = dim;
    ctx.cols = cols;
    ctx.inv_two_s2 = (float)inv_med;
    memset(&job, 0, sizeof(job));
    job.n = (unsigned)((n + BLOCK_ROWS - 1) / BLOCK_ROWS);
    job.threads = sig != NULL ? sig->threads : 1;
    job.ctx = &ctx;
    job.scratch_new = kprod_scratch_new;
    job.scratch_free = kprod_scratch_free;
    job.item = kprod_item;
    null = dm_mallocarray(job.n > r_perm ? job.n : r_perm, sizeof(*null));
    job.out = null;
    dm_stats_job_run(&job);

    for (size_t i = 0; i < n; i++)
        t += (double)u[i * cols + cols - 1];
    for (size_t c = 0; c <= r_perm; c++) {
        double sxx = 0.0, at = 0.0, v;

        for (size_t i = 0; i < n; i++) {
            if (a[i * cols + c] != 0.0f) {
                sxx += (double)u[i * cols + c];
                at += (double)u[i * cols + cols - 1];
            }
        }
        v = mmd2_of(sxx, at, t, (double)mb, (double)mc);
        if (c == 0)
            out->mmd2 = v;
        else
            null[c - 1] = v;
    }
    /* held-out witness: mean kernel to the training baseline minus mean
     * kernel to the training current rows, from the folds without i */
    {
        dm_stats_scored_t *sc = dm_mallocarray(n, sizeof(*sc));

        for (size_t i = 0; i < n; i++) {
            size_t cb = r_perm + 1 + 2 * (size_t)fold[i];

            sc[i].s =
                (double)u[i * cols + cb + 1] / (double)ntrain[2 * fold[i] + 1] -
                (double)u[i * cols + cb] / (double)ntrain[2 * fold[i]];
            sc[i].y = i >= mb;
        }
        out->witness_auc = dm_stats_auc(sc, n, mc);
        free(sc);
    }
    out->baseline_used = mb;
    out->current_used = mc;
    out->permutations = r_perm;
    if (r_perm > 0) {
        dm_stats_null_t s;

        dm_stats_null_summarise(null, r_perm, out->mmd2, &s);
        out->null_mean = s.mean;
        out->p_value = s.p_value;
    }
    free(fold);
    free(null);
    free(u);
    free(a);
    free(sqf);
    free(zf);
    free(sq);
    free(z);
    return DM_OK;
}
