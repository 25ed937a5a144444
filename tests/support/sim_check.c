/*
 * sim_check.c - seeded simulations of whole drift checks (sim_check.h).
 *
 * Each repetition draws both windows: embeddings from ten equally likely
 * topics (plus the scenario's change), intent counts from a fixed mix,
 * positives from the scenario's rates; then one dm_analyze with the
 * default config and significance.seed varied per repetition.
 */
#include "support/sim_check.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "config/config.h"
#include "monitor/analyze.h"
#include "support/synth_emb.h"

static const double intent_mix[5] = {0.40, 0.25, 0.15, 0.12, 0.08};

void sim_multinomial(dm_rng_t *rng, const double *p, size_t k, uint64_t n,
                     uint64_t *out)
{
    memset(out, 0, k * sizeof(*out));
    for (uint64_t i = 0; i < n; i++) {
        double u = dm_rng_uniform(rng), acc = 0.0;
        size_t j = 0;

        for (; j + 1 < k; j++) {
            acc += p[j];
            if (u < acc)
                break;
        }
        out[j]++;
    }
}

static uint64_t binomial(dm_rng_t *rng, uint64_t n, double p)
{
    uint64_t k = 0;

    for (uint64_t i = 0; i < n; i++)
        k += dm_rng_uniform(rng) < p;
    return k;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void draw_embeddings(const synth_space_t *sp, const sim_scenario_t *s,
                            dm_rng_t *rng, double *base, double *cur)
{
    double wb[SIM_TOPICS + 1], wc[SIM_TOPICS + 1];

    for (int t = 0; t <= SIM_TOPICS; t++)
        wb[t] = wc[t] = t < SIM_TOPICS ? 1.0 / SIM_TOPICS : 0.0;
    if (s->kind == SIM_NEW) {
        for (int t = 0; t < SIM_TOPICS; t++)
            wc[t] *= 1.0 - s->amount;
        wc[SIM_TOPICS] = s->amount;
    } else if (s->kind == SIM_GONE) {
        for (int t = 1; t < SIM_TOPICS; t++)
            wb[t] = wc[t] = (1.0 - s->amount) / (SIM_TOPICS - 1);
        wb[0] = s->amount;
        wc[0] = 0.0;
    }
    synth_draw(sp, wb, s->n, rng, base);
    synth_draw(sp, wc, s->n, rng, cur);
    if (s->kind == SIM_SHIFT)
        synth_shift(cur, s->n, base, s->n, SIM_DIM, SIM_DIM / 10, s->amount,
                    rng);
}

int sim_check_run(const sim_scenario_t *s, sim_rates_t *r, char *err,
                  size_t errlen)
{
    synth_space_t sp;
    dm_config_t *cfg = NULL;
    double *b = malloc(s->n * SIM_DIM * sizeof(double));
    double *c = malloc(s->n * SIM_DIM * sizeof(double));
    double *eff = malloc((size_t)s->reps * sizeof(double));
    uint64_t n_fb = s->n_fb ? s->n_fb : s->n;
    int rc = -1;
    dm_rng_t rng;

    memset(r, 0, sizeof(*r));
    if (b == NULL || c == NULL || eff == NULL || s->reps < 1) {
        snprintf(err, errlen, "out of memory or no repetitions");
        goto out;
    }
    if (dm_config_defaults(&cfg, err, errlen) != DM_OK)
        goto out;
    synth_space_init(&sp, SIM_DIM, SIM_TOPICS + 1, 2026);
    dm_rng_seed(&rng, s->seed);
    for (int rep = 0; rep < s->reps; rep++) {
        uint64_t ib[16] = {0}, ic[16] = {0};
        dm_window_data_t wb = {0}, wc = {0};
        dm_analysis_t a;
        double t0;

        draw_embeddings(&sp, s, &rng, b, c);
        sim_multinomial(&rng, intent_mix, 5, n_fb, ib);
        sim_multinomial(&rng, intent_mix, 5, n_fb, ic);
        wb.embeddings = b;
        wb.n_embeddings = s->n;
        wb.intent_counts = ib;
        wb.total_feedback = n_fb;
        wb.positives = binomial(&rng, n_fb, s->acc_b);
        wc.embeddings = c;
        wc.n_embeddings = s->n;
        wc.intent_counts = ic;
        wc.total_feedback = n_fb;
        wc.positives = binomial(&rng, n_fb, s->acc_c);
        cfg->significance.seed = s->seed * 1000 + (uint64_t)rep;
        t0 = now_s();
        if (dm_analyze(cfg, &wb, &wc, SIM_DIM, &a, err, errlen) != DM_OK) {
            synth_space_cleanup(&sp);
            goto out;
        }
        r->seconds += now_s() - t0;
        if (!a.have_semantic || !a.have_psi || !a.have_accuracy) {
            snprintf(err, errlen, "a signal is missing from the analysis");
            synth_space_cleanup(&sp);
            goto out;
        }
        r->drift += a.verdict.drift_detected;
        r->semantic += a.semantic_fired;
        r->psi += a.psi_fired;
        r->drop += a.accuracy_drop_fired;
        r->floor += a.below_floor;
        eff[rep] = a.semantic_effect;
    }
    r->drift /= s->reps;
    r->semantic /= s->reps;
    r->psi /= s->reps;
    r->drop /= s->reps;
    r->floor /= s->reps;
    r->seconds /= s->reps;
    qsort(eff, (size_t)s->reps, sizeof(*eff), cmp_d);
    r->eff_q10 = eff[s->reps / 10];
    r->eff_med = eff[s->reps / 2];
    r->eff_q90 = eff[(s->reps * 9) / 10];
    synth_space_cleanup(&sp);
    rc = 0;
out:
    dm_config_free(cfg);
    free(eff);
    free(c);
    free(b);
    return rc;
}

void sim_rates_print(const sim_scenario_t *s, const sim_rates_t *r, FILE *f)
{
    fprintf(f,
            "sim | %-26s | n %5zu | fb %5llu | %4d checks | drift %5.1f%% | "
            "semantic %5.1f%% | intent %5.1f%% | drop %5.1f%% | floor "
            "%5.1f%% | effect q10/50/90 %.3f %.3f %.3f | %.3f s\n",
            s->name, s->n, (unsigned long long)(s->n_fb ? s->n_fb : s->n),
            s->reps, 100 * r->drift, 100 * r->semantic, 100 * r->psi,
            100 * r->drop, 100 * r->floor, r->eff_q10, r->eff_med, r->eff_q90,
            r->seconds);
}
