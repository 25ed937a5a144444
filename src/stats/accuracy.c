/*
 * accuracy.c - the quality drift signal: positive-feedback rate per
 * window, its drop, and the one-sided two-proportion z-test of that drop
 * (DESIGN.md section 2, "Accuracy").
 *
 * The test uses the pooled proportion under H0 (equal rates), the usual
 * form for a test of equality: z = (pb - pc) / sqrt(p (1 - p) (1/nb +
 * 1/nc)), p-value = P(Z >= z) = erfc(z / sqrt 2) / 2.  The pooled
 * variance is 0 only when every row of both windows has the same rating;
 * then both rates are equal, there is no evidence of a drop, and the
 * p-value is 1 (Fisher's exact test gives 1 for such a table too).
 */
#include <math.h>

#include "stats/stats.h"

int dm_stats_accuracy(uint64_t base_pos, uint64_t base_total, uint64_t cur_pos,
                      uint64_t cur_total, dm_stats_acc_t *out, char *errbuf,
                      size_t errlen)
{
    double nb = (double)base_total, nc = (double)cur_total;
    double pooled, var;

    if (out == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "missing argument to dm_stats_accuracy");
    if (base_total == 0 || cur_total == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "empty window (%llu baseline, %llu current rows)",
                          (unsigned long long)base_total,
                          (unsigned long long)cur_total);
    if (base_pos > base_total || cur_pos > cur_total)
        return dm_err_set(
            errbuf, errlen, DM_EINVAL,
            "more positives than rows (baseline %llu/%llu, "
            "current %llu/%llu)",
            (unsigned long long)base_pos, (unsigned long long)base_total,
            (unsigned long long)cur_pos, (unsigned long long)cur_total);

    out->baseline_accuracy = (double)base_pos / nb;
    out->current_accuracy = (double)cur_pos / nc;
    out->accuracy_delta = out->baseline_accuracy - out->current_accuracy;

    pooled = ((double)base_pos + (double)cur_pos) / (nb + nc);
    var = pooled * (1.0 - pooled) * (1.0 / nb + 1.0 / nc);
    if (!(var > 0.0)) {
        out->p_value = 1.0;
    } else {
        double z = out->accuracy_delta / sqrt(var);

        out->p_value = 0.5 * erfc(z / sqrt(2.0));
    }
    return DM_OK;
}

double dm_stats_floor_pvalue(uint64_t cur_pos, uint64_t cur_total, double floor)
{
    if (cur_total == 0)
        return 1.0;
    return dm_stats_binom_cdf(cur_pos, cur_total, floor);
}
