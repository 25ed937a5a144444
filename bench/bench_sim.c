/*
 * bench_sim.c - false-alarm rates and power of statistics v2 with more
 * repetitions than the test suite affords: the scenarios of
 * tests/unit/test_sim.c and a few more, each a run of whole checks
 * (dm_analyze, default config, all three signals).  One line per
 * scenario; docs/drift-math.md holds the table.
 *
 * Usage: bench_sim [reps]   (default 200; the n = 5000 rows use reps/4)
 */
#include <stdio.h>
#include <stdlib.h>

#include "support/sim_check.h"

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 200;
    const sim_scenario_t scenarios[] = {
        {"same distribution", SIM_SAME, 0, 100, 0, .85, .85, reps, 201},
        {"same distribution", SIM_SAME, 0, 1000, 0, .85, .85, reps, 202},
        {"same distribution", SIM_SAME, 0, 5000, 0, .85, .85, reps / 4, 203},
        {"new topic 20%", SIM_NEW, .20, 200, 0, .85, .85, reps, 204},
        {"new topic 10%", SIM_NEW, .10, 200, 0, .85, .85, reps, 205},
        {"new topic 10%", SIM_NEW, .10, 1000, 0, .85, .85, reps, 206},
        {"new topic 5%", SIM_NEW, .05, 1000, 0, .85, .85, reps, 207},
        {"new topic 5%", SIM_NEW, .05, 5000, 0, .85, .85, reps / 4, 208},
        {"new topic 2%", SIM_NEW, .02, 5000, 0, .85, .85, reps / 4, 209},
        {"vanished topic 20%", SIM_GONE, .20, 200, 0, .85, .85, reps, 210},
        {"vanished topic 20%", SIM_GONE, .20, 1000, 0, .85, .85, reps, 211},
        {"1 sd shift, 10% of dims", SIM_SHIFT, 1, 200, 0, .85, .85, reps, 212},
        {"accuracy 0.85 -> 0.77", SIM_SAME, 0, 200, 1000, .85, .77, reps, 213},
        {"accuracy 0.85 -> 0.80", SIM_SAME, 0, 200, 1000, .85, .80, reps, 214},
        {"stable accuracy 0.72", SIM_SAME, 0, 200, 1000, .72, .72, reps, 215},
        {"stable accuracy 0.72", SIM_SAME, 0, 200, 5000, .72, .72, reps, 216},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        sim_rates_t r;

        if (scenarios[i].reps < 1)
            continue;
        if (sim_check_run(&scenarios[i], &r, err, sizeof(err)) != 0) {
            fprintf(stderr, "bench_sim: %s\n", err);
            return 1;
        }
        sim_rates_print(&scenarios[i], &r, stdout);
        fflush(stdout);
    }
    return 0;
}
