/*
 * test_sim.c - the decision rules of statistics v2 (DESIGN.md section 2)
 * as claims: seeded simulations of whole checks (all three signals
 * together, through dm_analyze) on synthetic sentence-like embeddings
 * (tests/support/synth_emb.h), intent counts and feedback.
 *
 * Each scenario runs a fixed number of checks and asserts a rate: the
 * false-alarm rate of same-distribution checks stays within alpha plus
 * a binomial allowance (2.33 standard errors, a one-sided 99% bound), the
 * changes a user cares about are caught in at least 90% of checks, a
 * change below the effect floor is not drift, and a stable low accuracy
 * is below the floor but not drift.  Every figure is printed, so the log
 * is the table in docs/drift-math.md (bench/bench_sim repeats it with
 * more repetitions).  Seeds are fixed: the suite is deterministic.
 *
 * Suite "sim": a minute or two of CPU, so it is kept out of the quick
 * unit suite and of the valgrind pass.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "config/config.h"
#include "monitor/analyze.h"
#include "config/config.h"
#include "monitor/analyze.h"
#include "support/sim_check.h"
#include "support/synth_emb.h"

TestSuite(sim, .timeout = 900 * DM_TEST_TIMEOUT_SCALE);

#define ALPHA 0.05

/* Runs a scenario; the figures go to stderr (the log is the table). */
static sim_rates_t run(const sim_scenario_t *s)
{
    sim_rates_t r;
    char err[512];

    cr_assert_eq(sim_check_run(s, &r, err, sizeof(err)), 0, "%s", err);
    sim_rates_print(s, &r, stderr);
    return r;
}

/* alpha plus 2.33 standard errors of a rate over reps checks */
static double fa_bound(int reps)
{
    return ALPHA + 2.33 * sqrt(ALPHA * (1 - ALPHA) / reps);
}

Test(sim, same_distribution_n100)
{
    sim_scenario_t s = {
        "same distribution", SIM_SAME, 0, 100, 0, 0.85, 0.85, 200, 101};
    sim_rates_t r = run(&s);

    cr_assert_leq(r.drift, fa_bound(s.reps), "false alarms %.3f > %.3f",
                  r.drift, fa_bound(s.reps));
}

Test(sim, same_distribution_n1000)
{
    sim_scenario_t s = {
        "same distribution", SIM_SAME, 0, 1000, 0, 0.85, 0.85, 60, 102};
    sim_rates_t r = run(&s);

    cr_assert_leq(r.drift, fa_bound(s.reps), "false alarms %.3f > %.3f",
                  r.drift, fa_bound(s.reps));
}

Test(sim, new_topic_20_percent_n200)
{
    sim_scenario_t s = {
        "new topic 20%", SIM_NEW, 0.20, 200, 0, 0.85, 0.85, 100, 103};
    sim_rates_t r = run(&s);

    cr_assert_geq(r.semantic, 0.9, "power %.3f", r.semantic);
    cr_assert(r.eff_med > 0.12 && r.eff_med < 0.3, "median effect %.3f",
              r.eff_med);
}

Test(sim, new_topic_10_percent_n1000)
{
    sim_scenario_t s = {
        "new topic 10%", SIM_NEW, 0.10, 1000, 0, 0.85, 0.85, 60, 104};
    sim_rates_t r = run(&s);

    cr_assert_geq(r.semantic, 0.9, "power %.3f", r.semantic);
    cr_assert(r.eff_med > 0.06 && r.eff_med < 0.15, "median effect %.3f",
              r.eff_med);
}

Test(sim, vanished_topic_20_percent_n500)
{
    sim_scenario_t s = {
        "vanished topic 20%", SIM_GONE, 0.20, 500, 0, 0.85, 0.85, 40, 105};
    sim_rates_t r = run(&s);

    cr_assert_geq(r.semantic, 0.9, "power %.3f", r.semantic);
}

Test(sim, shift_1sd_in_10_percent_of_dims_n200)
{
    sim_scenario_t s = {"1 sd shift in 10% of dims",
                        SIM_SHIFT,
                        1.0,
                        200,
                        0,
                        0.85,
                        0.85,
                        40,
                        106};
    sim_rates_t r = run(&s);

    cr_assert_geq(r.semantic, 0.9, "power %.3f", r.semantic);
}

Test(sim, accuracy_drop_085_to_077_n1000)
{
    sim_scenario_t s = {
        "accuracy 0.85 -> 0.77", SIM_SAME, 0, 1000, 0, 0.85, 0.77, 100, 107};
    sim_rates_t r = run(&s);

    cr_assert_geq(r.drop, 0.9, "power %.3f", r.drop);
    /* nothing else moved */
    cr_assert_leq(r.semantic + r.psi, 2 * fa_bound(s.reps));
}

/* The effect floor has teeth: significant but tiny is not drift. */
Test(sim, new_topic_2_percent_n5000_is_not_drift)
{
    sim_scenario_t s = {"new topic 2%", SIM_NEW, 0.02, 5000, 0,
                        0.85,           0.85,    20,   108};
    sim_rates_t r = run(&s);

    cr_assert_leq(r.semantic, 0.1, "2%% topic fired %.3f", r.semantic);
    cr_assert(r.eff_med > 0.0 && r.eff_med < 0.05, "median effect %.3f",
              r.eff_med);
}

/* A stable 72%: a quality problem, not a change. */
Test(sim, stable_072_is_below_floor_not_drift)
{
    sim_scenario_t s = {
        "stable accuracy 0.72", SIM_SAME, 0, 500, 5000, 0.72, 0.72, 40, 109};
    sim_rates_t r = run(&s);

    cr_assert_geq(r.floor, 0.9, "below floor in %.3f", r.floor);
    cr_assert_leq(r.drift, fa_bound(s.reps), "drift %.3f", r.drift);
}

/*
 * One outlier row (a value of 1e3) does not hide a 1 sd shift in 8 of
 * 384 dimensions (it turned the first version's p = 0.005 into 0.43 by
 * stretching the min-max histogram bins): the MMD's median bandwidth and
 * the classifiers barely notice it.
 */
Test(sim, outlier_row_does_not_hide_a_shift)
{
    enum { N = 200 };
    static const double w[SIM_TOPICS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    double *b = malloc(N * SIM_DIM * sizeof(double));
    double *c = malloc(N * SIM_DIM * sizeof(double));
    synth_space_t sp;
    dm_config_t *cfg = NULL;
    char err[512];
    dm_rng_t rng;

    cr_assert_not_null(b);
    cr_assert_not_null(c);
    cr_assert_eq(dm_config_defaults(&cfg, err, sizeof(err)), DM_OK, "%s", err);
    synth_space_init(&sp, SIM_DIM, SIM_TOPICS + 1, 2026);
    dm_rng_seed(&rng, 110);
    for (int rep = 0; rep < 5; rep++) {
        dm_window_data_t wb = {0}, wc = {0};
        dm_analysis_t clean, dirty;

        synth_draw(&sp, w, N, &rng, b);
        synth_draw(&sp, w, N, &rng, c);
        synth_shift(c, N, b, N, SIM_DIM, 8, 1.0, &rng);
        wb.embeddings = b;
        wb.n_embeddings = N;
        wc.embeddings = c;
        wc.n_embeddings = N;
        cfg->significance.seed = (uint64_t)rep;
        cr_assert_eq(
            dm_analyze(cfg, &wb, &wc, SIM_DIM, &clean, err, sizeof(err)), DM_OK,
            "%s", err);
        b[7 * SIM_DIM + 3] = 1e3;
        cr_assert_eq(
            dm_analyze(cfg, &wb, &wc, SIM_DIM, &dirty, err, sizeof(err)), DM_OK,
            "%s", err);
        fprintf(stderr, "outlier rep %d: p %.4f -> %.4f, effect %.3f -> %.3f\n",
                rep, clean.semantic_p_value, dirty.semantic_p_value,
                clean.semantic_effect, dirty.semantic_effect);
        cr_assert(clean.semantic_fired && dirty.semantic_fired,
                  "rep %d: clean p %g effect %g, with outlier p %g effect %g",
                  rep, clean.semantic_p_value, clean.semantic_effect,
                  dirty.semantic_p_value, dirty.semantic_effect);
        cr_assert_lt(fabs(dirty.semantic_effect - clean.semantic_effect), 0.05);
    }
    synth_space_cleanup(&sp);
    dm_config_free(cfg);
    free(c);
    free(b);
}
