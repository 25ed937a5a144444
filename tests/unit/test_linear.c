/*
 * test_linear.c - the encoder's linear layers (oneDNN matmuls) against a
 * float64 reference, for every row count that takes a different path
 * (exact small shapes, multiples of 16, the overlapping 16-row tail, full
 * tiles and their remainders), in fp32 and bf16, with and without GELU;
 * concurrent use of one layer; the bf16 rounding.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embed/linear.h"
#include "support/testutil.h"

TestSuite(linear, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

#define IN  40 /* not a multiple of 16: remainders inside the kernels */
#define OUT 72

/* Every row count with its own path, and a few beyond two tiles. */
static const size_t row_counts[] = {1,   2,   7,   15,  16,  17,  31,  32,
                                    33,  47,  64,  100, 200, 240, 255, 256,
                                    257, 271, 272, 300, 511, 512, 555};

static double ref_gelu(double x)
{
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static float uniform(uint64_t *s, float lo, float hi)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((*s >> 40) & 0xffffff) / (float)0x1000000;
}

/* What a bf16 input stands for (identity for fp32). */
static double as_input(float v, bool bf16)
{
    uint16_t b;

    if (!bf16)
        return (double)v;
    dm_linear_to_bf16(&v, &b, 1);
    return (double)dm_linear_from_bf16(b);
}

struct fixture {
    float w[OUT * IN], b[OUT];
    float *x; /* [rows x IN] */
    uint16_t *xb;
};

static void make_fixture(struct fixture *f, size_t rows, uint64_t seed)
{
    for (size_t i = 0; i < OUT * IN; i++)
        f->w[i] = uniform(&seed, -0.3f, 0.3f);
    for (size_t i = 0; i < OUT; i++)
        f->b[i] = uniform(&seed, -1.0f, 1.0f);
    f->x = malloc(rows * IN * sizeof(float));
    f->xb = malloc(rows * IN * sizeof(uint16_t));
    for (size_t i = 0; i < rows * IN; i++)
        f->x[i] = uniform(&seed, -2.0f, 2.0f);
    dm_linear_to_bf16(f->x, f->xb, rows * IN);
}

/*
 * Runs one plan over every row count and compares with float64 on the
 * same (rounded, in bf16) inputs and weights: the only error left is the
 * fp32 accumulation and, for a bf16 output, its rounding.
 */
static void check_plan(bool bf16, bool gelu, bool bf16_out)
{
    const dm_linear_type_t in_t = bf16 ? DM_LINEAR_BF16 : DM_LINEAR_F32;
    const dm_linear_type_t out_t = bf16_out ? DM_LINEAR_BF16 : DM_LINEAR_F32;
    char err[DM_ERRBUF_SIZE] = "";
    dm_linear_plan_t *plan = NULL;
    dm_linear_t *layer = NULL;
    dm_linear_ctx_t *ctx = NULL;

    cr_assert_eq(
        dm_linear_plan_new(IN, OUT, in_t, out_t, gelu, &plan, err, sizeof(err)),
        DM_OK, "%s", err);
    for (size_t k = 0; k < sizeof(row_counts) / sizeof(row_counts[0]); k++) {
        const size_t rows = row_counts[k];
        struct fixture f;
        float *y = malloc(rows * OUT * sizeof(float));
        uint16_t *yb = malloc(rows * OUT * sizeof(uint16_t));
        double worst = 0.0;

        make_fixture(&f, rows, 1000 + k);
        cr_assert_eq(dm_linear_new(plan, f.w, f.b, &layer, err, sizeof(err)),
                     DM_OK, "%s", err);
        cr_assert_eq(dm_linear_ctx_new(&ctx, err, sizeof(err)), DM_OK, "%s",
                     err);
        cr_assert_eq(
            dm_linear_run(layer, ctx, bf16 ? (void *)f.xb : (void *)f.x, rows,
                          bf16_out ? (void *)yb : (void *)y, err, sizeof(err)),
            DM_OK, "rows %zu: %s", rows, err);
        for (size_t r = 0; r < rows; r++)
            for (size_t o = 0; o < OUT; o++) {
                double ref = (double)f.b[o], got, tol;

                for (size_t i = 0; i < IN; i++)
                    ref += as_input(f.x[r * IN + i], bf16) *
                           as_input(f.w[o * IN + i], bf16);
                if (gelu)
                    ref = ref_gelu(ref);
                got = bf16_out ? (double)dm_linear_from_bf16(yb[r * OUT + o])
                               : (double)y[r * OUT + o];
                /* fp32 sums of 40 products of size <= 0.6; a bf16
                 * output is rounded to 8 significant bits */
                tol = bf16_out ? 1e-5 + fabs(ref) / 256.0 : 2e-5;
                cr_expect_leq(fabs(got - ref), tol,
                              "%s%s rows %zu: y[%zu][%zu] = %.7g, want %.7g",
                              bf16 ? "bf16" : "fp32", gelu ? "+gelu" : "", rows,
                              r, o, got, ref);
                if (fabs(got - ref) > worst)
                    worst = fabs(got - ref);
            }
        cr_log_info("%s rows %zu: worst abs error %.3g", bf16 ? "bf16" : "fp32",
                    rows, worst);
        dm_linear_ctx_free(ctx);
        dm_linear_free(layer);
        free(f.x);
        free(f.xb);
        free(y);
        free(yb);
    }
    dm_linear_plan_free(plan);
}

Test(linear, fp32_matches_float64_for_every_row_count)
{
    check_plan(false, false, false);
    check_plan(false, true, false);
}

/*
 * bf16 where oneDNN can run it (AVX-512 and up: natively with
 * AVX512-BF16 or AMX, emulated on plain AVX-512); elsewhere (valgrind's
 * virtual CPU has no AVX-512) making the plan must fail with a message,
 * never give wrong numbers.
 */
Test(linear, bf16_matches_float64_or_is_refused)
{
    char err[DM_ERRBUF_SIZE] = "";
    dm_linear_plan_t *plan = NULL;
    int rc = dm_linear_plan_new(IN, OUT, DM_LINEAR_BF16, DM_LINEAR_F32, false,
                                &plan, err, sizeof(err));

    dm_linear_plan_free(plan);
    if (rc != DM_OK) {
        cr_expect(!dm_linear_bf16_native(), "bf16 refused on a bf16 CPU: %s",
                  err);
        cr_expect_eq(rc, DM_EMODEL, "%s", err);
        cr_expect(strstr(err, "bf16") != NULL, "message: %s", err);
        cr_log_info("bf16 refused here (oneDNN %s): %s", dm_linear_isa_name(),
                    err);
        return;
    }
    check_plan(true, false, false);
    check_plan(true, true, true);
}

struct runner {
    const dm_linear_t *layer;
    const float *x;
    size_t rows;
    float *y;
    int rc;
};

static void *run_many(void *arg)
{
    struct runner *r = arg;
    char err[DM_ERRBUF_SIZE];
    dm_linear_ctx_t *ctx = NULL;

    r->rc = dm_linear_ctx_new(&ctx, err, sizeof(err));
    for (int i = 0; r->rc == DM_OK && i < 20; i++)
        r->rc =
            dm_linear_run(r->layer, ctx, r->x, r->rows, r->y, err, sizeof(err));
    dm_linear_ctx_free(ctx);
    return NULL;
}

/* Two threads, one layer, different row counts (so primitives are made
 * while the other runs): each gets what it gets alone. */
Test(linear, one_layer_in_two_threads)
{
    char err[DM_ERRBUF_SIZE] = "";
    dm_linear_plan_t *plan = NULL;
    dm_linear_t *layer = NULL;
    dm_linear_ctx_t *ctx = NULL;
    struct fixture f;
    const size_t rows[2] = {300, 47};
    struct runner r[2];
    pthread_t tid[2];

    make_fixture(&f, 300, 7);
    cr_assert_eq(dm_linear_plan_new(IN, OUT, DM_LINEAR_F32, DM_LINEAR_F32, true,
                                    &plan, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(dm_linear_new(plan, f.w, f.b, &layer, err, sizeof(err)), DM_OK,
                 "%s", err);
    for (int t = 0; t < 2; t++) {
        r[t] = (struct runner){layer, f.x + (t ? 100 * IN : 0), rows[t],
                               calloc(rows[t] * OUT, sizeof(float)), -1};
        cr_assert_eq(pthread_create(&tid[t], NULL, run_many, &r[t]), 0);
    }
    for (int t = 0; t < 2; t++)
        pthread_join(tid[t], NULL);
    cr_assert_eq(dm_linear_ctx_new(&ctx, err, sizeof(err)), DM_OK, "%s", err);
    for (int t = 0; t < 2; t++) {
        float *alone = calloc(rows[t] * OUT, sizeof(float));

        cr_assert_eq(r[t].rc, DM_OK);
        cr_assert_eq(
            dm_linear_run(layer, ctx, r[t].x, rows[t], alone, err, sizeof(err)),
            DM_OK, "%s", err);
        cr_expect_eq(memcmp(alone, r[t].y, rows[t] * OUT * sizeof(float)), 0,
                     "thread %d differs from a lone run", t);
        free(alone);
        free(r[t].y);
    }
    dm_linear_ctx_free(ctx);
    dm_linear_free(layer);
    dm_linear_plan_free(plan);
    free(f.x);
    free(f.xb);
}

static uint16_t bf16_of(uint32_t bits)
{
    float v;
    uint16_t b;

    memcpy(&v, &bits, sizeof(v));
    dm_linear_to_bf16(&v, &b, 1);
    return b;
}

Test(linear, bf16_rounds_to_nearest_even)
{
    cr_expect_eq(bf16_of(0x3f800000u), 0x3f80);          /* 1.0 exact */
    cr_expect_eq(bf16_of(0x3f807fffu), 0x3f80);          /* below half: down */
    cr_expect_eq(bf16_of(0x3f808000u), 0x3f80);          /* tie, even: down */
    cr_expect_eq(bf16_of(0x3f818000u), 0x3f82);          /* tie, odd: up */
    cr_expect_eq(bf16_of(0x3f808001u), 0x3f81);          /* above half: up */
    cr_expect_eq(bf16_of(0xbf808001u), 0xbf81);          /* sign kept */
    cr_expect_eq(bf16_of(0x7f7fffffu), 0x7f80);          /* max float: to inf */
    cr_expect_eq(bf16_of(0x7f800000u), 0x7f80);          /* inf stays */
    cr_expect_eq(bf16_of(0xff800000u), 0xff80);          /* -inf stays */
    cr_expect_eq(bf16_of(0x00000001u), 0x0000);          /* tiny denormal: 0 */
    cr_expect_eq(bf16_of(0x7f800001u) & 0x7fc0, 0x7fc0); /* NaN stays NaN */
    cr_expect_eq(bf16_of(0xffffffffu) & 0x7fc0, 0x7fc0);
    cr_expect_eq(dm_linear_from_bf16(0x4049), 3.140625f);
}

Test(linear, bad_sizes_are_refused)
{
    char err[DM_ERRBUF_SIZE] = "";
    dm_linear_plan_t *plan = (dm_linear_plan_t *)1;

    cr_expect_eq(dm_linear_plan_new(0, 4, DM_LINEAR_F32, DM_LINEAR_F32, false,
                                    &plan, err, sizeof(err)),
                 DM_EINVAL);
    cr_expect_null(plan);
    cr_expect(strstr(err, "0 -> 4") != NULL, "%s", err);
}
