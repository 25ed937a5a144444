/*
 * bench_stats.c - wall time of the embedding drift statistic with its
 * permutation null at production size: 5,000 + 5,000 rows of 384-d
 * embeddings (monitoring.max_samples_per_window, all-MiniLM-L6-v2),
 * 50 bins, 200 permutations, on 1 and 2 threads; best of 3 runs each.
 *
 * The data are deterministic: unit-variance normals scaled to the size
 * of L2-normalised 384-d embeddings (sd 1/sqrt(384)), with a small drift
 * (the current window shifted by 0.1 sd in every dimension).
 *
 * Usage: bench_stats [rows-per-window [dim [permutations]]]
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/rng.h"
#include "common/time.h"
#include "stats/stats.h"

#define RUNS 3

static size_t arg_or(int argc, char **argv, int i, size_t def)
{
    char *end;
    unsigned long v;

    if (argc <= i)
        return def;
    v = strtoul(argv[i], &end, 10);
    if (*end != '\0' || v == 0) {
        fprintf(stderr, "bench_stats: bad argument '%s'\n", argv[i]);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    size_t n = arg_or(argc, argv, 1, 5000);
    size_t dim = arg_or(argc, argv, 2, 384);
    unsigned perms = (unsigned)arg_or(argc, argv, 3, 200);
    double sd = 1.0 / sqrt((double)dim);
    double *b = dm_mallocarray(n, dim * sizeof(double));
    double *c = dm_mallocarray(n, dim * sizeof(double));
    char err[DM_ERRBUF_SIZE];
    dm_rng_t rng;

    dm_rng_seed(&rng, 20261126);
    for (size_t i = 0; i < n * dim; i++)
        b[i] = sd * dm_rng_normal(&rng);
    for (size_t i = 0; i < n * dim; i++)
        c[i] = sd * (dm_rng_normal(&rng) + 0.1);

    for (unsigned threads = 1; threads <= 2; threads++) {
        dm_stats_sig_t sig = {.permutations = perms,
                              .alpha = 0.05,
                              .seed = 42,
                              .threads = threads};
        dm_stats_kl_t out;
        double best = HUGE_VAL;

        for (int run = 0; run < RUNS; run++) {
            uint64_t t0 = dm_time_mono_ns();
            double s;

            if (dm_stats_kl(b, n, c, n, dim, 50, &sig, &out, NULL, err,
                            sizeof(err)) != DM_OK) {
                fprintf(stderr, "bench_stats: %s\n", err);
                return 1;
            }
            s = (double)(dm_time_mono_ns() - t0) / 1e9;
            if (s < best)
                best = s;
        }
        printf("stats: %zu+%zu x %zu, %u permutations, %u thread%s: %.3f s "
               "(best of %d; kl %.4f, null mean %.4f, p %.4f)\n",
               n, n, dim, perms, threads, threads == 1 ? "" : "s", best, RUNS,
               out.kl_divergence, out.null_mean, out.p_value);
    }
    free(c);
    free(b);
    return 0;
}
