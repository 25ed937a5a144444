/*
 * bench_linear.c - the matrix-product ceiling under the encoder: one of
 * MiniLM's feed-forward products (2048 x 384 . 384 x 1536, the shape of
 * issue 15's table) through src/embed/linear.c, in fp32 and in bf16
 * (bf16 inputs and weights, fp32 accumulation and output), on 1 and 2
 * threads.
 *
 *     bench_linear [--rows N] [--seconds S]
 *
 * Threads split the rows in halves, each with its own context, as the
 * encoder's jobs do.  Each figure is the best of three timed passes of at
 * least S seconds (default 1).  bench_embed's GFLOP/s divided by this
 * line's says how far a whole forward is from the products' ceiling.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rng.h"
#include "common/time.h"
#include "embed/linear.h"

#define IN  384
#define OUT 1536

typedef struct job {
    const dm_linear_t *layer;
    dm_linear_ctx_t *ctx;
    const void *src;
    float *dst;
    size_t rows;
    unsigned reps;
    int rc;
    char err[256];
} job_t;

static void *run_job(void *arg)
{
    job_t *j = arg;

    for (unsigned r = 0; r < j->reps && j->rc == DM_OK; r++)
        j->rc = dm_linear_run(j->layer, j->ctx, j->src, j->rows, j->dst, j->err,
                              sizeof(j->err));
    return NULL;
}

/* Runs reps products on `threads` threads; returns seconds, <0 on error. */
static double timed(job_t *jobs, unsigned threads, unsigned reps)
{
    pthread_t tid[2];
    uint64_t t0 = dm_time_mono_ns();

    for (unsigned t = 0; t < threads; t++) {
        jobs[t].reps = reps;
        if (pthread_create(&tid[t], NULL, run_job, &jobs[t]) != 0)
            return -1.0;
    }
    for (unsigned t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    for (unsigned t = 0; t < threads; t++)
        if (jobs[t].rc != DM_OK) {
            fprintf(stderr, "bench_linear: %s\n", jobs[t].err);
            return -1.0;
        }
    return (double)(dm_time_mono_ns() - t0) / 1e9;
}

static int bench(dm_linear_type_t type, const float *w, const float *b,
                 const float *x, size_t rows, double seconds)
{
    const char *name = type == DM_LINEAR_BF16 ? "bf16" : "fp32";
    dm_linear_plan_t *plan = NULL;
    dm_linear_t *layer = NULL;
    dm_linear_ctx_t *ctx[2] = {NULL, NULL};
    uint16_t *xb = NULL;
    float *y = dm_malloc(rows * OUT * sizeof(float));
    char err[256];
    int rc;

    rc = dm_linear_plan_new(IN, OUT, type, DM_LINEAR_F32, false, &plan, err,
                            sizeof(err));
    if (rc == DM_OK)
        rc = dm_linear_new(plan, w, b, &layer, err, sizeof(err));
    for (int t = 0; t < 2 && rc == DM_OK; t++)
        rc = dm_linear_ctx_new(&ctx[t], err, sizeof(err));
    if (rc != DM_OK) {
        printf("%s: not run: %s\n", name, err);
        goto out;
    }
    if (type == DM_LINEAR_BF16) {
        xb = dm_malloc(rows * IN * sizeof(*xb));
        dm_linear_to_bf16(x, xb, rows * IN);
    }
    for (unsigned threads = 1; threads <= 2; threads++) {
        job_t jobs[2];
        size_t half = (rows + 1) / 2;
        double best = 0.0, flop = 2.0 * (double)rows * IN * OUT;
        unsigned reps = 1;

        for (unsigned t = 0; t < threads; t++) {
            size_t first = threads == 1 ? 0 : t * half;
            size_t n = threads == 1 ? rows : (t == 0 ? half : rows - half);

            memset(&jobs[t], 0, sizeof(jobs[t]));
            jobs[t].layer = layer;
            jobs[t].ctx = ctx[t];
            jobs[t].src = xb ? (const void *)(xb + first * IN)
                             : (const void *)(x + first * IN);
            jobs[t].dst = y + first * OUT;
            jobs[t].rows = n;
        }
        if (timed(jobs, threads, 1) < 0.0) { /* warm-up: primitives made */
            rc = DM_EMODEL;
            goto out;
        }
        for (;;) { /* enough repetitions for `seconds` */
            double s = timed(jobs, threads, reps);

            if (s < 0.0) {
                rc = DM_EMODEL;
                goto out;
            }
            if (s >= seconds || reps > 1u << 20)
                break;
            reps = s > 0.0 && seconds / s < 64.0
                       ? (unsigned)((double)reps * seconds / s * 1.1) + 1
                       : reps * 64;
        }
        for (int pass = 0; pass < 3; pass++) {
            double s = timed(jobs, threads, reps);
            double g = flop * reps / s / 1e9;

            if (s < 0.0) {
                rc = DM_EMODEL;
                goto out;
            }
            if (g > best)
                best = g;
        }
        printf("%s, threads %u, %zu x %d . %d x %d: %.1f GFLOP/s\n", name,
               threads, rows, IN, IN, OUT, best);
    }
out:
    free(xb);
    free(y);
    for (int t = 0; t < 2; t++)
        dm_linear_ctx_free(ctx[t]);
    dm_linear_free(layer);
    dm_linear_plan_free(plan);
    return rc;
}

int main(int argc, char **argv)
{
    size_t rows = 2048;
    double seconds = 1.0;
    dm_rng_t rng;
    float *w, *b, *x;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rows") == 0) {
            rows = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: bench_linear [--rows N] [--seconds S]\n");
            return 2;
        }
    }
    if (rows < 2 || rows > 1000000 || !(seconds > 0.0 && seconds < 600.0)) {
        fprintf(stderr, "bench_linear: --rows 2..1000000, --seconds (0, "
                        "600)\n");
        return 2;
    }
    w = dm_malloc((size_t)IN * OUT * sizeof(float));
    b = dm_malloc(OUT * sizeof(float));
    x = dm_malloc(rows * IN * sizeof(float));
    dm_rng_seed(&rng, 15);
    for (size_t i = 0; i < (size_t)IN * OUT; i++)
        w[i] = (float)(dm_rng_uniform(&rng) - 0.5) * 0.1f;
    for (size_t i = 0; i < OUT; i++)
        b[i] = (float)(dm_rng_uniform(&rng) - 0.5) * 0.1f;
    for (size_t i = 0; i < rows * IN; i++)
        x[i] = (float)(dm_rng_uniform(&rng) - 0.5) * 2.0f;
    if (bench(DM_LINEAR_F32, w, b, x, rows, seconds) != DM_OK)
        rc = 1;
    if (bench(DM_LINEAR_BF16, w, b, x, rows, seconds) != DM_OK)
        rc = 1;
    free(w);
    free(b);
    free(x);
    return rc;
}
