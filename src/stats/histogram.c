/*
 * histogram.c - numpy-compatible numerics for the embedding signal: the
 * per-dimension histogram binning of numpy.histogram(x, bins, range=(min,
 * max)), numpy's pairwise summation, and the per-dimension KL exactly as
 * scipy.stats.entropy(baseline, current) computes it.
 *
 * Binning follows numpy/lib/_histograms_impl.py for equal-width bins:
 * the edges are numpy.linspace(min, max, bins + 1), i.e. edge i is
 * i * ((max - min) / bins) + min and the last edge is max itself; a value
 * goes to bin floor((x - min) / (max - min) * bins), values equal to max
 * into the last bin, and the index is then moved by one where the
 * computed edges disagree with it (a value below its bin's lower edge
 * goes down, one at or above the next edge goes up, except in the last
 * bin whose top edge is inclusive).  Because the final index is decided
 * by comparisons against the same edges numpy computes, the counts match
 * numpy's bit for bit.  A dimension whose pooled values are all equal
 * gets a single bin (numpy would widen the range by 0.5 each side and
 * use one of its bins: the KL is 0 either way).
 */
#include <math.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

/* numpy's PW_BLOCKSIZE */
#define PW_BLOCK 128

double dm_stats_pairwise_sum(const double *a, size_t n)
{
    double r[8], res;
    size_t i;

    if (n < 8) {
        res = 0.0;
        for (i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= PW_BLOCK) {
        for (i = 0; i < 8; i++)
            r[i] = a[i];
        for (i = 8; i < n - (n % 8); i += 8) {
            r[0] += a[i + 0];
            r[1] += a[i + 1];
            r[2] += a[i + 2];
            r[3] += a[i + 3];
            r[4] += a[i + 4];
            r[5] += a[i + 5];
            r[6] += a[i + 6];
            r[7] += a[i + 7];
        }
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    {
        size_t n2 = n / 2;

        n2 -= n2 % 8;
        return dm_stats_pairwise_sum(a, n2) +
               dm_stats_pairwise_sum(a + n2, n - n2);
    }
}

/* numpy.linspace(lo, hi, bins + 1) into e (bins + 1 doubles). */
static void linspace_edges(double lo, double hi, unsigned bins, double *e)
{
    double delta = hi - lo;
    double step = delta / (double)bins;

    for (unsigned i = 0; i < bins; i++) {
        double y;

        /* numpy's special case for a step that underflows to 0 */
        if (step == 0.0)
            y = ((double)i / (double)bins) * delta;
        else
            y = (double)i * step;
        e[i] = y + lo;
    }
    e[bins] = hi;
}

/* numpy.histogram's bin of x in [lo, lo + range] with edges e. */
static unsigned bin_of(double x, double lo, double range, const double *e,
                       unsigned bins)
{
    double f = ((x - lo) / range) * (double)bins;
    long i = (long)f;

    if (i >= (long)bins)
        i = (long)bins - 1;
    if (i < 0)
        i = 0;
    if (x < e[i]) {
        if (i > 0)
            i--;
    } else if (i != (long)bins - 1 && x >= e[i + 1]) {
        i++;
    }
    return (unsigned)i;
}

void dm_stats_bins_cleanup(dm_stats_bins_t *b)
{
    free(b->idx);
    free(b->nbins);
    b->idx = NULL;
    b->nbins = NULL;
}

/* Pass 1: finiteness and the pooled min/max of every dimension. */
static int scan_range(const double *x, size_t n, size_t dim, const char *window,
                      double *mn, double *mx, char *errbuf, size_t errlen)
{
    for (size_t r = 0; r < n; r++) {
        const double *row = x + r * dim;

        for (size_t d = 0; d < dim; d++) {
            double v = row[d];

            if (!isfinite(v))
                return dm_err_set(errbuf, errlen, DM_EINVAL,
                                  "%s window, row %zu, dimension %zu: "
                                  "non-finite value",
                                  window, r, d);
            if (v < mn[d])
                mn[d] = v;
            if (v > mx[d])
                mx[d] = v;
        }
    }
    return DM_OK;
}

/* Pass 3: bin indices of n rows into idx (n x dim). */
static void bin_rows(const double *x, size_t n, size_t dim, unsigned bins,
                     const double *mn, const double *mx, const uint16_t *nbins,
                     const double *edges, uint16_t *idx)
{
    for (size_t r = 0; r < n; r++) {
        const double *row = x + r * dim;
        uint16_t *out = idx + r * dim;

        for (size_t d = 0; d < dim; d++) {
            if (nbins[d] == 1)
                out[d] = 0;
            else
                out[d] = (uint16_t)bin_of(row[d], mn[d], mx[d] - mn[d],
                                          edges + d * (bins + 1), bins);
        }
    }
}

int dm_stats_bins_compute(const double *baseline, size_t nb,
                          const double *current, size_t nc, size_t dim,
                          unsigned bins, dm_stats_bins_t *out, char *errbuf,
                          size_t errlen)
{
    double *mn = NULL, *mx = NULL, *edges = NULL;
    int rc;

    out->n_rows = nb + nc;
    out->dim = dim;
    out->bins = bins;
    out->idx = NULL;
    out->nbins = NULL;

    mn = dm_mallocarray(dim, sizeof(*mn));
    mx = dm_mallocarray(dim, sizeof(*mx));
    for (size_t d = 0; d < dim; d++) {
        mn[d] = HUGE_VAL;
        mx[d] = -HUGE_VAL;
    }
    rc = scan_range(baseline, nb, dim, "baseline", mn, mx, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    rc = scan_range(current, nc, dim, "current", mn, mx, errbuf, errlen);
    if (rc != DM_OK)
        goto out;

    /* Pass 2: edges per dimension. */
    out->nbins = dm_mallocarray(dim, sizeof(*out->nbins));
    edges = dm_mallocarray(dim, ((size_t)bins + 1) * sizeof(*edges));
    for (size_t d = 0; d < dim; d++) {
        double range = mx[d] - mn[d];

        if (!isfinite(range)) {
            rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                            "dimension %zu: value range %g..%g too wide", d,
                            mn[d], mx[d]);
            goto out;
        }
        out->nbins[d] = range == 0.0 ? 1 : (uint16_t)bins;
        if (range != 0.0)
            linspace_edges(mn[d], mx[d], bins, edges + d * (bins + 1));
    }

    out->idx = dm_mallocarray(out->n_rows, dim * sizeof(*out->idx));
    bin_rows(baseline, nb, dim, bins, mn, mx, out->nbins, edges, out->idx);
    bin_rows(current, nc, dim, bins, mn, mx, out->nbins, edges,
             out->idx + nb * dim);
    rc = DM_OK;
out:
    free(edges);
    free(mx);
    free(mn);
    return rc;
}

/* count / n raised to DM_STATS_EPS, as the reference floors proportions */
static void floored_props(const uint32_t *c, size_t n, unsigned nbins,
                          double *p)
{
    for (unsigned i = 0; i < nbins; i++) {
        p[i] = (double)c[i] / (double)n;
        if (p[i] < DM_STATS_EPS)
            p[i] = DM_STATS_EPS;
    }
}

double dm_stats_kl_exact(const uint32_t *cq, size_t nq, const uint32_t *cp,
                         size_t np_, unsigned nbins, double *work)
{
    double *q = work, *p = work + nbins, *v = work + 2 * (size_t)nbins;
    double sq, sp;

    floored_props(cq, nq, nbins, q);
    floored_props(cp, np_, nbins, p);
    sq = dm_stats_pairwise_sum(q, nbins);
    sp = dm_stats_pairwise_sum(p, nbins);
    /* scipy: pk /= sum(pk); qk /= sum(qk); sum(rel_entr(pk, qk)) */
    for (unsigned i = 0; i < nbins; i++) {
        double qi = q[i] / sq, pi = p[i] / sp;

        v[i] = qi * log(qi / pi);
    }
    return dm_stats_pairwise_sum(v, nbins);
}
