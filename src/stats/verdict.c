/*
 * verdict.c - severity levels, the combined score and the firing rule
 * (DESIGN.md section 2, "Severity" and "Combined score").
 *
 * The comparisons are written exactly as the design states them, in
 * double precision, so that the boundaries fall where the Python
 * reference puts them (0.9 - 0.75 is 0.15000000000000002 > 0.15 there
 * as here).
 */
#include <math.h>
#include <string.h>

#include "stats/stats.h"

static const char *const severity_names[] = {
    [DM_SEVERITY_NONE] = "none",
    [DM_SEVERITY_INFO] = "info",
    [DM_SEVERITY_WARNING] = "warning",
    [DM_SEVERITY_CRITICAL] = "critical",
};

#define N_SEVERITIES (sizeof(severity_names) / sizeof(severity_names[0]))

const char *dm_severity_name(dm_severity_t s)
{
    if ((unsigned)s >= N_SEVERITIES)
        return "unknown";
    return severity_names[s];
}

int dm_severity_parse(const char *s, dm_severity_t *out)
{
    if (s == NULL || out == NULL)
        return DM_EINVAL;
    for (size_t i = 0; i < N_SEVERITIES; i++) {
        if (strcmp(s, severity_names[i]) == 0) {
            *out = (dm_severity_t)i;
            return DM_OK;
        }
    }
    return DM_EINVAL;
}

bool dm_stats_fires(double effect, double threshold, double p_value,
                    double alpha)
{
    return effect > threshold && (isnan(p_value) || p_value < alpha);
}

/* KL / PSI: by r = effect / threshold, only when the signal fired. */
static dm_severity_t ratio_severity(bool fired, double effect, double threshold)
{
    double r;

    if (!fired)
        return DM_SEVERITY_NONE;
    r = effect / threshold;
    if (r > 2.0)
        return DM_SEVERITY_CRITICAL;
    if (r > 1.5)
        return DM_SEVERITY_WARNING;
    return DM_SEVERITY_INFO;
}

static dm_severity_t accuracy_severity(double delta, bool fired)
{
    if (delta > 0.15)
        return DM_SEVERITY_CRITICAL;
    if (delta > 0.10)
        return DM_SEVERITY_WARNING;
    if (delta > 0.05 || fired)
        return DM_SEVERITY_INFO;
    return DM_SEVERITY_NONE;
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
    bool kl_fired = in->have_kl && in->kl_fired;
    bool psi_fired = in->have_psi && in->psi_fired;
    double kl_score = 0.0, psi_score = 0.0, acc_score = 0.0;

    memset(out, 0, sizeof(*out));
    out->kl_severity =
        ratio_severity(kl_fired, in->kl_effect, in->kl_threshold);
    out->psi_severity = ratio_severity(psi_fired, in->psi, in->psi_threshold);
    if (in->have_kl)
        kl_score = score(in->kl_effect, in->kl_threshold);
    if (in->have_psi)
        psi_score = score(in->psi, in->psi_threshold);
    if (in->have_accuracy) {
        double delta = in->baseline_accuracy - in->current_accuracy;

        out->accuracy_fired = in->current_accuracy < in->accuracy_min;
        out->accuracy_severity = accuracy_severity(delta, out->accuracy_fired);
        acc_score = score(delta > 0.0 ? delta : 0.0, 1.0 - in->accuracy_min);
    }
    out->severity =
        max_severity(out->kl_severity,
                     max_severity(out->psi_severity, out->accuracy_severity));
    out->combined_score = (kl_score + psi_score + acc_score) / 3.0;
    out->drift_detected = kl_fired || psi_fired || out->accuracy_fired;
}
