/*
 * psi.c - the intent drift signal: the Population Stability Index of
 * the category counts of two windows and its p-value (DESIGN.md
 * section 2, "PSI").
 *
 * Small categories are merged into "other" first; the PSI then uses
 * floored, unnormalised proportions.  The p-value asks how often the
 * same PSI or more arises when the window labels of the pooled rows are
 * shuffled: up to DM_STATS_PSI_PERM_MAX_ROWS rows this is done exactly,
 * drawing the smaller window's rows without replacement from the pooled
 * label multiset R times (Floyd's subset, permute.c); the larger window
 * gets the rest.  Above that a permutation would cost more than it is
 * worth and Pearson's chi-square test of the 2 x K contingency table
 * (K = categories with rows) gives the p-value, with an exact survival
 * function (special.c).  Both test "same category distribution in both
 * windows", the hypothesis under which the PSI is only sampling noise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

/* Read-only state of the label permutation test. */
typedef struct psi_null {
    const uint32_t *labels; /* category of each pooled row */
    const uint64_t *tot;    /* pooled count per category */
    size_t k;               /* categories (with rows) */
    size_t n_rows;
    size_t n_small; /* rows of the smaller window */
    bool small_is_base;
    uint64_t nb, nc; /* window totals */
    uint64_t seed;
} psi_null_t;

typedef struct psi_scratch {
    uint8_t *flags;   /* n_rows, all 0 between permutations */
    uint32_t *chosen; /* n_small */
    uint64_t *small;  /* k: counts of the smaller window */
    uint64_t *other;  /* k: counts of the larger one */
    double *terms;    /* k */
} psi_scratch_t;

/* sum over categories of (P - Q) ln(P / Q), floored proportions */
static double psi_value(const uint64_t *b, const uint64_t *c, size_t k,
                        uint64_t nb, uint64_t nc, double *terms)
{
    for (size_t i = 0; i < k; i++) {
        double q = (double)b[i] / (double)nb, p = (double)c[i] / (double)nc;

        if (q < DM_STATS_EPS)
            q = DM_STATS_EPS;
        if (p < DM_STATS_EPS)
            p = DM_STATS_EPS;
        terms[i] = (p - q) * log(p / q);
    }
    return dm_stats_pairwise_sum(terms, k);
}

static void *psi_scratch_new(void *vctx)
{
    const psi_null_t *c = vctx;
    psi_scratch_t *s = dm_malloc(sizeof(*s));

    s->flags = dm_calloc(c->n_rows, 1);
    s->chosen = dm_mallocarray(c->n_small, sizeof(*s->chosen));
    s->small = dm_mallocarray(c->k, sizeof(*s->small));
    s->other = dm_mallocarray(c->k, sizeof(*s->other));
    s->terms = dm_mallocarray(c->k, sizeof(*s->terms));
    return s;
}

static void psi_scratch_free(void *vs)
{
    psi_scratch_t *s = vs;

    free(s->terms);
    free(s->other);
    free(s->small);
    free(s->chosen);
    free(s->flags);
    free(s);
}

static double psi_perm_item(void *vctx, void *vs, unsigned index)
{
    const psi_null_t *c = vctx;
    psi_scratch_t *s = vs;
    dm_rng_t rng;

    dm_stats_perm_seed(&rng, c->seed, DM_STATS_STREAM_PSI, index);
    dm_stats_subset_draw(&rng, s->flags, c->n_rows, c->n_small, s->chosen);
    memset(s->small, 0, c->k * sizeof(*s->small));
    for (size_t i = 0; i < c->n_small; i++) {
        s->small[c->labels[s->chosen[i]]]++;
        s->flags[s->chosen[i]] = 0;
    }
    for (size_t i = 0; i < c->k; i++)
        s->other[i] = c->tot[i] - s->small[i];
    if (c->small_is_base)
        return psi_value(s->small, s->other, c->k, c->nb, c->nc, s->terms);
    return psi_value(s->other, s->small, c->k, c->nb, c->nc, s->terms);
}

/* Permutation null of the compacted table (k >= 2 categories). */
static void psi_perm_null(const uint64_t *b, const uint64_t *c, size_t k,
                          uint64_t nb, uint64_t nc, const dm_stats_sig_t *sig,
                          dm_stats_null_t *sum)
{
    size_t n = (size_t)(nb + nc), r = 0;
    uint32_t *labels = dm_mallocarray(n, sizeof(*labels));
    uint64_t *tot = dm_mallocarray(k, sizeof(*tot));
    double *terms = dm_mallocarray(k, sizeof(*terms));
    double *null = dm_mallocarray(sig->permutations, sizeof(*null));
    double observed;
    psi_null_t ctx;
    dm_stats_job_t job;

    for (size_t i = 0; i < k; i++) {
        tot[i] = b[i] + c[i];
        for (uint64_t j = 0; j < tot[i]; j++)
            labels[r++] = (uint32_t)i;
    }
    /* compared with the null as computed by the same code */
    observed = psi_value(b, c, k, nb, nc, terms);

    memset(&ctx, 0, sizeof(ctx));
    ctx.labels = labels;
    ctx.tot = tot;
    ctx.k = k;
    ctx.n_rows = n;
    ctx.small_is_base = nb <= nc;
    ctx.n_small = (size_t)(ctx.small_is_base ? nb : nc);
    ctx.nb = nb;
    ctx.nc = nc;
    ctx.seed = sig->seed;

    memset(&job, 0, sizeof(job));
    job.n = sig->permutations;
    job.threads = sig->threads;
    job.ctx = &ctx;
    job.scratch_new = psi_scratch_new;
    job.scratch_free = psi_scratch_free;
    job.item = psi_perm_item;
    job.out = null;
    dm_stats_job_run(&job);
    dm_stats_null_summarise(null, sig->permutations, observed, sum);

    free(null);
    free(terms);
    free(tot);
    free(labels);
}

/* Pearson's chi-square test of the 2 x k table (no empty columns). */
static double chi_square_pvalue(const uint64_t *b, const uint64_t *c, size_t k,
                                uint64_t nb, uint64_t nc)
{
    double n = (double)nb + (double)nc, x2 = 0.0;

    for (size_t i = 0; i < k; i++) {
        double col = (double)b[i] + (double)c[i];
        double eb = (double)nb * col / n, ec = (double)nc * col / n;
        double db = (double)b[i] - eb, dc = (double)c[i] - ec;

        x2 += db * db / eb + dc * dc / ec;
    }
    return dm_stats_chi2_sf(x2, (double)(k - 1));
}

int dm_stats_psi_merge(const uint64_t *baseline, const uint64_t *current,
                       size_t k, size_t other_idx, uint64_t min_samples,
                       uint64_t *base_out, uint64_t *cur_out, char *errbuf,
                       size_t errlen)
{
    uint64_t tb = 0, tc = 0;

    if (baseline == NULL || current == NULL || base_out == NULL ||
        cur_out == NULL || k == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "PSI needs at least one category");
    if (other_idx >= k && other_idx != SIZE_MAX)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "other category %zu out of range (%zu categories)",
                          other_idx, k);
    for (size_t i = 0; i < k; i++) {
        if (baseline[i] > UINT64_MAX - tb || current[i] > UINT64_MAX - tc)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "category counts overflow");
        tb += baseline[i];
        tc += current[i];
    }
    memcpy(base_out, baseline, k * sizeof(*base_out));
    memcpy(cur_out, current, k * sizeof(*cur_out));
    if (other_idx == SIZE_MAX)
        return DM_OK;
    for (size_t i = 0; i < k; i++) {
        /* b + c < min_samples, written so that it cannot overflow */
        if (i == other_idx || base_out[i] >= min_samples ||
            cur_out[i] >= min_samples - base_out[i])
            continue;
        /* cannot overflow: other stays below the window total */
        base_out[other_idx] += base_out[i];
        cur_out[other_idx] += cur_out[i];
        base_out[i] = 0;
        cur_out[i] = 0;
    }
    return DM_OK;
}

int dm_stats_psi(const uint64_t *baseline, const uint64_t *current, size_t k,
                 size_t other_idx, uint64_t min_samples,
                 const dm_stats_sig_t *sig, dm_stats_psi_t *out, char *errbuf,
                 size_t errlen)
{
    uint64_t *mb = NULL, *mc = NULL, tb = 0, tc = 0;
    double *terms = NULL;
    size_t kk = 0;
    int rc;

    if (out == NULL || k == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "PSI needs at least one category");
    mb = dm_mallocarray(k, sizeof(*mb));
    mc = dm_mallocarray(k, sizeof(*mc));
    rc = dm_stats_psi_merge(baseline, current, k, other_idx, min_samples, mb,
                            mc, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    for (size_t i = 0; i < k; i++) {
        tb += mb[i];
        tc += mc[i];
    }
    if (tb == 0 || tc == 0) {
        rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                        "empty window (%llu baseline, %llu current rows)",
                        (unsigned long long)tb, (unsigned long long)tc);
        goto out;
    }

    terms = dm_mallocarray(k, sizeof(*terms));
    out->psi = psi_value(mb, mc, k, tb, tc, terms);

    /* compact to the categories with rows, in place */
    for (size_t i = 0; i < k; i++) {
        if (mb[i] == 0 && mc[i] == 0)
            continue;
        mb[kk] = mb[i];
        mc[kk] = mc[i];
        kk++;
    }
    out->n_categories = kk;
    out->p_value = (double)NAN;
    out->null_mean = 0.0;
    out->method = "none";
    if (sig != NULL && sig->permutations > 0 && kk >= 2) {
        if (tb <= DM_STATS_PSI_PERM_MAX_ROWS &&
            tc <= DM_STATS_PSI_PERM_MAX_ROWS - tb) {
            dm_stats_null_t sum;

            psi_perm_null(mb, mc, kk, tb, tc, sig, &sum);
            out->p_value = sum.p_value;
            out->null_mean = sum.mean;
            out->method = "permutation";
        } else {
            out->p_value = chi_square_pvalue(mb, mc, kk, tb, tc);
            /*
             * PSI is about Pearson's X^2 / (n_b n_c / (n_b + n_c)) for
             * small differences, so its null mean is (K - 1) (1/n_b +
             * 1/n_c) -- within 1% of the permutation mean at these sizes
             */
            out->null_mean =
                (double)(kk - 1) * (1.0 / (double)tb + 1.0 / (double)tc);
            out->method = "chi_square";
        }
    }
    out->psi_excess =
        out->psi > out->null_mean ? out->psi - out->null_mean : 0.0;
    rc = DM_OK;
out:
    free(terms);
    free(mc);
    free(mb);
    return rc;
}
