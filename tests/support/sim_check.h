/*
 * sim_check.h - seeded simulations of whole drift checks (statistics
 * v2, all three signals through dm_analyze with the default config) on
 * synthetic embeddings (synth_emb.h), intent counts and feedback.
 * Shared by tests/unit/test_sim.c (assertions) and bench/bench_sim.c
 * (more repetitions).  Test support only.
 */
#ifndef DM_TESTS_SIM_CHECK_H
#define DM_TESTS_SIM_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/rng.h"

#define SIM_DIM    384
#define SIM_TOPICS 10

typedef enum { SIM_SAME, SIM_NEW, SIM_GONE, SIM_SHIFT } sim_kind_t;

typedef struct sim_scenario {
    const char *name;
    sim_kind_t kind;
    double amount; /* share of the new / vanished topic, or sd shift */
    size_t n;      /* embedded rows per window */
    uint64_t n_fb; /* feedback rows per window (0 = n) */
    double acc_b;  /* positive rate, baseline */
    double acc_c;  /* positive rate, current */
    int reps;
    uint64_t seed;
} sim_scenario_t;

typedef struct sim_rates {
    double drift, semantic, psi, drop, floor;
    double eff_q10, eff_med, eff_q90; /* semantic effect quantiles */
    double seconds;                   /* mean analysis time per check */
} sim_rates_t;

/* Runs s->reps checks; 0, or -1 with a message in err. */
int sim_check_run(const sim_scenario_t *s, sim_rates_t *out, char *err,
                  size_t errlen);

/* Counts of n rows drawn from the k category probabilities p (p sums
 * to 1) into out. */
void sim_multinomial(dm_rng_t *rng, const double *p, size_t k, uint64_t n,
                     uint64_t *out);

/* One line of figures. */
void sim_rates_print(const sim_scenario_t *s, const sim_rates_t *r, FILE *f);

#endif
