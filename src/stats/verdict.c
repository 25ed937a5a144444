/*
 * verdict.c - severity levels, the combined score (DESIGN.md section
 * 2.4), Holm's family-wise adjustment and the "exact" threshold
 * comparisons every decision uses.
 *
 * Only signals that fired count: a figure that is large but not
 * significant (or significant but below its effect floor) adds nothing
 * to severity or score.  Band edges are compared with a relative
 * tolerance of 1e-9, so that a drop that is 0.05 in exact arithmetic is
 * not missed because 0.85 - 0.80 is 0.04999999999999993 in binary, and
 * 0.9 - 0.75 = 0.15000000000000002 is not "above 0.15".
 */
#include <math.h>
#include <string.h>

#include "stats/stats.h"

/* Relative tolerance under which a value equals its threshold. */
#define EDGE_RTOL 1e-9

static double edge_tol(double threshold)
{
    double t = fabs(threshold) * EDGE_RTOL;

    return t > 1e-15 ? t : 1e-15;
}

bool dm_stats_ge(double value, double threshold)
{
    return value >= threshold - edge_tol(threshold);
}

bool dm_stats_gt(double value, double threshold)
{
    return value > threshold + edge_tol(threshold);
}

void dm_stats_holm(const double *p, size_t m, double *adjusted)
{
    size_t idx[DM_STATS_HOLM_MAX], k = 0;
    double run = 0.0;

    if (m > DM_STATS_HOLM_MAX)
        m = DM_STATS_HOLM_MAX;
    for (size_t i = 0; i < m; i++) {
        if (isnan(p[i])) {
            adjusted[i] = (double)NAN;
            continue;
        }
        /* insertion sort by p, stable: ties keep their order */
        size_t j = k++;

        while (j > 0 && p[idx[j - 1]] > p[i]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t r = 0; r < k; r++) {
        double v = (double)(k - r) * p[idx[r]];

        if (v > 1.0)
            v = 1.0;
        if (v > run)
            run = v;
        adjusted[idx[r]] = run;
    }
}

/* Semantic / intent: by r = effect / threshold, only when fired. */
static dm_severity_t ratio_severity(bool fired, double effect, double threshold)
{
    if (!fired || !(threshold > 0.0))
        return fired ? DM_SEVERITY_INFO : DM_SEVERITY_NONE;
    if (dm_stats_gt(effect, 2.0 * threshold))
        return DM_SEVERITY_CRITICAL;
    if (dm_stats_gt(effect, 1.5 * threshold))
        return DM_SEVERITY_WARNING;
    return DM_SEVERITY_INFO;
}

static dm_severity_t accuracy_severity(bool drop, bool floor, double delta)
{
    dm_severity_t s = floor ? DM_SEVERITY_WARNING : DM_SEVERITY_NONE;

    if (drop) {
        dm_severity_t d = DM_SEVERITY_INFO;

        if (dm_stats_gt(delta, 0.15))
            d = DM_SEVERITY_CRITICAL;
        else if (dm_stats_gt(delta, 0.10))
            d = DM_SEVERITY_WARNING;
        if (d > s)
            s = d;
    }
    return s;
}

/* numerator / denominator, or 0 when the denominator is not > 0 */
static double score(double num, double den)
{
    return den > 0.0 ? num / den : 0.0;
}

static dm_severity_t max_severity(dm_severity_t a, dm_severity_t b)
{
    return a > b ? a : b;
}

void dm_stats_verdict(const dm_stats_verdict_in_t *in, dm_stats_verdict_t *out)
{
    bool sem = in->have_semantic && in->semantic_fired;
    bool psi = in->have_psi && in->psi_fired;
    bool drop = in->have_accuracy && in->accuracy_drop_fired;
    bool floor = in->have_accuracy && in->below_floor;
    double delta = in->baseline_accuracy - in->current_accuracy;
    double s_sem = 0.0, s_psi = 0.0, s_acc = 0.0;

    memset(out, 0, sizeof(*out));
    out->semantic_severity =
        ratio_severity(sem, in->semantic_effect, in->semantic_threshold);
    out->psi_severity = ratio_severity(psi, in->psi_excess, in->psi_threshold);
    out->accuracy_severity = accuracy_severity(drop, floor, delta);
    if (sem)
        s_sem = score(in->semantic_effect, in->semantic_threshold);
    if (psi)
        s_psi = score(in->psi_excess, in->psi_threshold);
    if (drop)
        s_acc = score(delta > 0.0 ? delta : 0.0, 1.0 - in->accuracy_min);
    out->severity =
        max_severity(out->semantic_severity,
                     max_severity(out->psi_severity, out->accuracy_severity));
    out->combined_score = (s_sem + s_psi + s_acc) / 3.0;
    out->drift_detected = sem || psi || drop;
}
