/*
 * bench_sim.c - power and false-alarm rates of the semantic drift test
 * (MMD permutation test + domain-classifier effect floor) on synthetic
 * sentence-like embeddings, with more repetitions than the test suite
 * can afford.  Prints one line per scenario: detection rate, the share
 * with p < alpha, the effect's quantiles and the time per check.
 *
 * Usage: bench_sim [reps] [threshold] [alpha]   (defaults 40 0.05 0.05)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "stats/stats.h"
#include "support/synth_emb.h"

#define DIM    384
#define TOPICS 10

typedef enum { S_SAME, S_NEW, S_GONE, S_SHIFT } kind_t;

typedef struct scenario {
    const char *name;
    kind_t kind;
    double amount; /* share of the new / vanished topic, or sigma */
    size_t n;
} scenario_t;

static const scenario_t scenarios[] = {
    {"same distribution", S_SAME, 0, 100},
    {"same distribution", S_SAME, 0, 1000},
    {"new topic 20%", S_NEW, 0.20, 200},
    {"new topic 10%", S_NEW, 0.10, 1000},
    {"new topic 5%", S_NEW, 0.05, 1000},
    {"new topic 5%", S_NEW, 0.05, 5000},
    {"new topic 2%", S_NEW, 0.02, 5000},
    {"vanished topic 20%", S_GONE, 0.20, 200},
    {"vanished topic 20%", S_GONE, 0.20, 1000},
    {"1 sd shift, 10% of dims", S_SHIFT, 1.0, 200},
    {"1 sd shift, 10% of dims", S_SHIFT, 1.0, 1000},
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Draws the two windows of one repetition of a scenario. */
static void draw(const synth_space_t *sp, const scenario_t *s, dm_rng_t *rng,
                 double *base, double *cur)
{
    double wb[TOPICS + 1], wc[TOPICS + 1];

    for (int t = 0; t < TOPICS + 1; t++)
        wb[t] = wc[t] = t < TOPICS ? 1.0 / TOPICS : 0.0;
    switch (s->kind) {
    case S_NEW:
        for (int t = 0; t < TOPICS; t++)
            wc[t] *= 1.0 - s->amount;
        wc[TOPICS] = s->amount;
        break;
    case S_GONE:
        /* topic 0 is amount of the baseline and absent now */
        for (int t = 1; t < TOPICS; t++)
            wb[t] = wc[t] = (1.0 - s->amount) / (TOPICS - 1);
        wb[0] = s->amount;
        wc[0] = 0.0;
        break;
    default:
        break;
    }
    synth_draw(sp, wb, s->n, rng, base);
    synth_draw(sp, wc, s->n, rng, cur);
    if (s->kind == S_SHIFT)
        synth_shift(cur, s->n, base, s->n, DIM, DIM / 10, s->amount, rng);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 40;
    double thr = argc > 2 ? strtod(argv[2], NULL) : 0.05;
    double alpha = argc > 3 ? strtod(argv[3], NULL) : 0.05;
    synth_space_t sp;
    dm_stats_sig_t sig = {200, 0.05, 7, 2};
    char err[256];

    sig.alpha = alpha;
    synth_space_init(&sp, DIM, TOPICS + 1, 2026);
    printf("%-26s %6s %6s %7s %7s %7s %7s %8s %8s\n", "scenario", "n", "fired",
           "p<a", "eff q10", "eff q50", "eff q90", "mmd s", "eff s");
    for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
        const scenario_t *s = &scenarios[k];
        double *b = malloc(s->n * DIM * sizeof(double));
        double *c = malloc(s->n * DIM * sizeof(double));
        double *eff = malloc((size_t)reps * sizeof(double));
        double t_mmd = 0, t_eff = 0;
        int fired = 0, sig_n = 0;
        dm_rng_t rng;

        dm_rng_seed(&rng, 1000 + k);
        for (int r = 0; r < reps; r++) {
            dm_stats_mmd_t m;
            dm_stats_domain_t d;
            double t0;

            draw(&sp, s, &rng, b, c);
            sig.seed = (uint64_t)r + 1;
            t0 = now_s();
            if (dm_stats_mmd(b, s->n, c, s->n, DIM, &sig, &m, err,
                             sizeof(err)) != DM_OK) {
                fprintf(stderr, "mmd: %s\n", err);
                return 1;
            }
            t_mmd += now_s() - t0;
            t0 = now_s();
            if (dm_stats_domain(b, s->n, c, s->n, DIM, sig.seed, &d, err,
                                sizeof(err)) != DM_OK) {
                fprintf(stderr, "domain: %s\n", err);
                return 1;
            }
            t_eff += now_s() - t0;
            eff[r] = d.effect;
            sig_n += m.p_value < alpha;
            fired += m.p_value < alpha && d.effect >= thr;
        }
        qsort(eff, (size_t)reps, sizeof(*eff), cmp_d);
        printf("%-26s %6zu %5.1f%% %5.1f%% %7.3f %7.3f %7.3f %8.3f %8.3f\n",
               s->name, s->n, 100.0 * fired / reps, 100.0 * sig_n / reps,
               eff[reps / 10], eff[reps / 2], eff[reps * 9 / 10], t_mmd / reps,
               t_eff / reps);
        fflush(stdout);
        free(eff);
        free(c);
        free(b);
    }
    synth_space_cleanup(&sp);
    return 0;
}
