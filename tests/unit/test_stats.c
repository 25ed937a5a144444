/*
 * test_stats.c - the statistics core (src/stats/): the numpy/scipy
 * reference fixtures (KL, PSI, severity), edge cases and argument
 * checks, reproducibility of the permutation tests, the chi-square
 * survival function against mpmath, and statistical calibration of the
 * permutation tests with fixed seeds (false-alarm rate under no drift,
 * power under a clear drift).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/rng.h"
#include "stats/stats.h"
#include "support/sim_check.h"

TestSuite(stats, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

#define RTOL 1e-9

/* |got - want| within RTOL relative (absolute 1e-15 around 0). */
static bool close_rel(double got, double want, double rtol)
{
    double tol = rtol * fabs(want);

    if (tol < 1e-15)
        tol = 1e-15;
    return fabs(got - want) <= tol;
}

/* assert_close(got, want, context format, args...) */
#define assert_close(got, want, ...)                                           \
    do {                                                                       \
        double got_ = (got), want_ = (want);                                   \
        char ctx_[160];                                                        \
                                                                               \
        snprintf(ctx_, sizeof(ctx_), __VA_ARGS__);                             \
        cr_assert(close_rel(got_, want_, RTOL), "%s: got %.17g, want %.17g",   \
                  ctx_, got_, want_);                                          \
    } while (0)

static json_t *load_fixture(const char *name)
{
    const char *dir = getenv("DM_FIXTURES");
    char path[1024];
    json_error_t jerr;
    json_t *root;

    cr_assert_not_null(dir, "DM_FIXTURES is not set");
    snprintf(path, sizeof(path), "%s/metrics/%s", dir, name);
    root = json_load_file(path, 0, &jerr);
    cr_assert_not_null(root, "%s: %s (line %d)", path, jerr.text, jerr.line);
    cr_assert(json_is_array(root), "%s: not an array", path);
    return root;
}

static double num(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_number(v), "fixture field %s missing", key);
    return json_number_value(v);
}

/* A list of rows of equal length into a malloc'd row-major matrix. */
static double *matrix(const json_t *rows, size_t *n, size_t *dim)
{
    double *m;

    *n = json_array_size(rows);
    cr_assert_gt(*n, 0);
    *dim = json_array_size(json_array_get(rows, 0));
    m = dm_mallocarray(*n, *dim * sizeof(double));
    for (size_t r = 0; r < *n; r++) {
        const json_t *row = json_array_get(rows, r);

        cr_assert_eq(json_array_size(row), *dim);
        for (size_t d = 0; d < *dim; d++)
            m[r * *dim + d] = json_number_value(json_array_get(row, d));
    }
    return m;
}

static uint64_t *counts(const json_t *arr, size_t *k)
{
    uint64_t *c;

    *k = json_array_size(arr);
    c = dm_mallocarray(*k, sizeof(*c));
    for (size_t i = 0; i < *k; i++)
        c[i] = (uint64_t)json_integer_value(json_array_get(arr, i));
    return c;
}

/* ---- fixtures ---------------------------------------------------------- */

Test(stats, kl_fixtures)
{
    json_t *root = load_fixture("kl.json");
    char err[DM_ERRBUF_SIZE];
    size_t i;
    json_t *c;

    json_array_foreach(root, i, c)
    {
        size_t nb, nc, dim, dim2;
        double *b = matrix(json_object_get(c, "baseline"), &nb, &dim);
        double *cur = matrix(json_object_get(c, "current"), &nc, &dim2);
        unsigned bins = (unsigned)num(c, "bins");
        const json_t *per = json_object_get(c, "kl_per_dim");
        const json_t *top = json_object_get(c, "top_dims");
        double *got = dm_mallocarray(dim, sizeof(double));
        dm_stats_sig_t sig = {
            .permutations = 20, .alpha = 0.05, .seed = 7, .threads = 2};
        dm_stats_kl_t out, out2;

        cr_assert_eq(dim, dim2);
        cr_assert_eq(dm_stats_kl(b, nb, cur, nc, dim, bins, NULL, &out, got,
                                 err, sizeof(err)),
                     DM_OK, "case %zu: %s", i, err);
        cr_assert_eq(json_array_size(per), dim);
        for (size_t d = 0; d < dim; d++)
            assert_close(got[d], json_number_value(json_array_get(per, d)),
                         "case %zu dim %zu", i, d);
        assert_close(out.kl_divergence, num(c, "kl_mean"), "case %zu", i);
        assert_close(out.kl_max, num(c, "kl_max"), "case %zu", i);
        cr_assert_eq(out.n_top, json_array_size(top), "case %zu", i);
        for (size_t k = 0; k < out.n_top; k++) {
            size_t want = (size_t)json_integer_value(json_array_get(top, k));

            cr_assert_eq(out.top_dims[k], want, "case %zu top %zu: %zu vs %zu",
                         i, k, out.top_dims[k], want);
            cr_assert_eq(out.top_values[k], got[want]);
        }
        /* testing off: no null, the excess is the raw divergence */
        cr_assert(isnan(out.p_value));
        cr_assert_eq(out.permutations, 0);
        cr_assert_eq(out.kl_excess, out.kl_divergence);

        /* with a null: the observed figures do not change */
        cr_assert_eq(dm_stats_kl(b, nb, cur, nc, dim, bins, &sig, &out2, NULL,
                                 err, sizeof(err)),
                     DM_OK, "%s", err);
        cr_assert_eq(out2.kl_divergence, out.kl_divergence);
        cr_assert_eq(out2.permutations, 20);
        cr_assert(out2.p_value > 0.0 && out2.p_value <= 1.0);
        cr_assert(out2.null_mean > 0.0 && out2.null_sd >= 0.0);
        cr_assert_eq(out2.kl_excess,
                     fmax(0.0, out2.kl_divergence - out2.null_mean));
        free(got);
        free(cur);
        free(b);
    }
    json_decref(root);
}

Test(stats, psi_fixtures)
{
    json_t *root = load_fixture("psi.json");
    char err[DM_ERRBUF_SIZE];
    size_t i;
    json_t *c;

    json_array_foreach(root, i, c)
    {
        size_t k, k2;
        uint64_t *b = counts(json_object_get(c, "baseline"), &k);
        uint64_t *cur = counts(json_object_get(c, "current"), &k2);
        dm_stats_psi_t out;

        cr_assert_eq(k, k2);
        cr_assert_eq(
            dm_stats_psi(b, cur, k, SIZE_MAX, 0, NULL, &out, err, sizeof(err)),
            DM_OK, "case %zu: %s", i, err);
        assert_close(out.psi, num(c, "psi"), "case %zu", i);
        cr_assert_str_eq(out.method, "none");
        cr_assert(isnan(out.p_value));
        free(cur);
        free(b);
    }
    json_decref(root);
}

/* DESIGN.md section 2.4 (statistics v2): only fired signals count. */
Test(stats, severity_v2_fixtures)
{
    json_t *root = load_fixture("severity_v2.json");
    size_t i;
    json_t *c;

    cr_assert_gt(json_array_size(root), 10);
    json_array_foreach(root, i, c)
    {
        dm_stats_verdict_in_t in = {0};
        dm_stats_verdict_t v;
        const char *want = json_string_value(json_object_get(c, "severity"));
        dm_severity_t want_sev;

        in.have_semantic = in.have_psi = in.have_accuracy = true;
        in.semantic_effect = num(c, "semantic_effect");
        in.semantic_threshold = num(c, "semantic_threshold");
        in.semantic_fired = json_is_true(json_object_get(c, "semantic_fired"));
        in.psi_excess = num(c, "psi_excess");
        in.psi_threshold = num(c, "psi_threshold");
        in.psi_fired = json_is_true(json_object_get(c, "psi_fired"));
        in.baseline_accuracy = num(c, "baseline_accuracy");
        in.current_accuracy = num(c, "current_accuracy");
        in.accuracy_min = num(c, "accuracy_min");
        in.accuracy_drop_fired =
            json_is_true(json_object_get(c, "accuracy_drop_fired"));
        in.below_floor =
            json_is_true(json_object_get(c, "quality_below_floor"));
        dm_stats_verdict(&in, &v);

        cr_assert_not_null(want);
        cr_assert_str_eq(dm_severity_name(v.severity), want, "case %zu", i);
        cr_assert_eq(dm_severity_parse(want, &want_sev), DM_OK);
        cr_assert_eq(v.severity, want_sev);
        assert_close(v.combined_score, num(c, "combined_score"), "case %zu", i);
        cr_assert_eq(v.drift_detected,
                     json_is_true(json_object_get(c, "drift_detected")),
                     "case %zu", i);
    }
    json_decref(root);
}

/* ---- edge cases -------------------------------------------------------- */

Test(stats, kl_degenerate_dimension)
{
    /* dimension 1 is constant in both windows */
    double b[] = {0.1, 5.0, 0.3, 0.2, 5.0, 0.1, 0.3, 5.0, 0.2};
    double c[] = {0.5, 5.0, 0.9, 0.6, 5.0, 0.7};
    double per[3];
    dm_stats_sig_t sig = {.permutations = 30, .seed = 1, .threads = 1};
    dm_stats_kl_t out;
    char err[DM_ERRBUF_SIZE];

    cr_assert_eq(
        dm_stats_kl(b, 3, c, 2, 3, 50, &sig, &out, per, err, sizeof(err)),
        DM_OK, "%s", err);
    cr_assert_eq(per[1], 0.0, "constant dimension: KL %.17g", per[1]);
    cr_assert_gt(per[0], 0.0);
    cr_assert_gt(per[2], 0.0);
    cr_assert_eq(out.top_dims[2], 1, "the constant dimension ranks last");

    /* every dimension constant: KL 0, and the null ties it: p = 1 */
    double z[] = {1.0, 2.0, 1.0, 2.0};
    cr_assert_eq(
        dm_stats_kl(z, 1, z + 2, 1, 2, 50, &sig, &out, NULL, err, sizeof(err)),
        DM_OK, "%s", err);
    cr_assert_eq(out.kl_divergence, 0.0);
    cr_assert_eq(out.p_value, 1.0);
    cr_assert_eq(out.kl_excess, 0.0);
}

Test(stats, kl_one_row_per_window)
{
    double b[] = {0.1, -0.2, 0.3, 0.0};
    double c[] = {0.4, 0.2, -0.3, 0.0};
    dm_stats_sig_t sig = {.permutations = 50, .seed = 3, .threads = 2};
    dm_stats_kl_t out;
    char err[DM_ERRBUF_SIZE];
    double per[4];

    cr_assert_eq(
        dm_stats_kl(b, 1, c, 1, 4, 50, &sig, &out, per, err, sizeof(err)),
        DM_OK, "%s", err);
    /* one value at each end of the range: the same KL in three dims */
    cr_assert_gt(per[0], 0.0);
    cr_assert_eq(per[3], 0.0);
    cr_assert(close_rel(per[0], per[1], 1e-15) &&
              close_rel(per[0], per[2], 1e-15));
    /* swapping the two rows gives the same KL: every permutation ties */
    cr_assert_eq(out.p_value, 1.0, "p %.17g", out.p_value);
    cr_assert(close_rel(out.null_mean, out.kl_divergence, 1e-12));
    cr_assert_lt(out.kl_excess, 1e-12);
}

Test(stats, kl_bin_edges_as_numpy)
{
    /*
     * 0..1 in 10 bins: numpy.linspace puts edge 3 at 3 * 0.1 + 0 =
     * 0.30000000000000004, so numpy.histogram counts 0.3 in bin 2 (the
     * naive floor(0.3 * 10) says bin 3), and 1.0, the top edge, in bin 9.
     * Baseline {0, 0.3} -> bins 0, 2; current {0.25, 1} -> bins 2, 9:
     * q = (.5, eps, .5, eps x 7), p = (eps, eps, .5, eps x 6, .5), both
     * summing to S = 1 + 8 eps, so KL = (.5 - eps) / S * ln(.5 / eps).
     */
    double b[] = {0.0, 0.3};
    double c[] = {0.25, 1.0};
    double eps = DM_STATS_EPS;
    double want = (0.5 - eps) / (1.0 + 8.0 * eps) * log(0.5 / eps);
    dm_stats_kl_t o;
    char err[DM_ERRBUF_SIZE];

    cr_assert_eq(
        dm_stats_kl(b, 2, c, 2, 1, 10, NULL, &o, NULL, err, sizeof(err)), DM_OK,
        "%s", err);
    cr_assert(close_rel(o.kl_divergence, want, 1e-13), "got %.17g want %.17g",
              o.kl_divergence, want);
}

Test(stats, kl_invalid_arguments)
{
    double x[] = {0.1, 0.2, 0.3, 0.4};
    double bad[] = {0.1, (double)NAN, 0.3, 0.4};
    double inf[] = {0.1, 0.2, HUGE_VAL, 0.4};
    double huge[] = {-1.7e308, 1.7e308};
    dm_stats_kl_t out;
    char err[DM_ERRBUF_SIZE];

    err[0] = '\0';
    cr_assert_eq(
        dm_stats_kl(x, 0, x, 2, 2, 50, NULL, &out, NULL, err, sizeof(err)),
        DM_EINVAL);
    cr_assert(strstr(err, "empty window") != NULL, "message: %s", err);
    err[0] = '\0';
    cr_assert_eq(
        dm_stats_kl(x, 2, x, 0, 2, 50, NULL, &out, NULL, err, sizeof(err)),
        DM_EINVAL);
    cr_assert_neq(err[0], '\0');
    err[0] = '\0';
    cr_assert_eq(
        dm_stats_kl(x, 2, x, 2, 0, 50, NULL, &out, NULL, err, sizeof(err)),
        DM_EINVAL);
    cr_assert(strstr(err, "dimension") != NULL, "message: %s", err);
    err[0] = '\0';
    cr_assert_eq(
        dm_stats_kl(x, 2, x, 2, 2, 1, NULL, &out, NULL, err, sizeof(err)),
        DM_EINVAL);
    cr_assert(strstr(err, "bins") != NULL, "message: %s", err);
    cr_assert_eq(dm_stats_kl(x, 2, x, 2, 2, DM_STATS_MAX_BINS + 1, NULL, &out,
                             NULL, err, sizeof(err)),
                 DM_EINVAL);
    err[0] = '\0';
    cr_assert_eq(
        dm_stats_kl(x, 2, bad, 2, 2, 50, NULL, &out, NULL, err, sizeof(err)),
        DM_EINVAL);
    cr_assert(strstr(err, "current window, row 0, dimension 1: non-finite") !=
                  NULL,
              "message: %s", err);
    err[0] = '\0';
    cr_assert_eq(
        dm_stats_kl(inf, 2, x, 2, 2, 50, NULL, &out, NULL, err, sizeof(err)),
        DM_EINVAL);
    cr_assert(strstr(err, "baseline window, row 1, dimension 0") != NULL,
              "message: %s", err);
    err[0] = '\0';
    cr_assert_eq(dm_stats_kl(huge, 1, huge + 1, 1, 1, 50, NULL, &out, NULL, err,
                             sizeof(err)),
                 DM_EINVAL);
    cr_assert(strstr(err, "range") != NULL, "message: %s", err);
    /* the smallest valid call works */
    cr_assert_eq(
        dm_stats_kl(x, 1, x + 1, 1, 1, 2, NULL, &out, NULL, err, sizeof(err)),
        DM_OK, "%s", err);
}

/* n x dim standard normals plus shift, from rng */
static double *normals(dm_rng_t *rng, size_t n, size_t dim, double shift)
{
    double *m = dm_mallocarray(n, dim * sizeof(double));

    for (size_t i = 0; i < n * dim; i++)
        m[i] = dm_rng_normal(rng) + shift;
    return m;
}

Test(stats, kl_permutations_reproducible)
{
    dm_rng_t rng;
    double *b, *c;
    dm_stats_sig_t sig = {
        .permutations = 99, .alpha = 0.05, .seed = 42, .threads = 1};
    dm_stats_kl_t o1, o2, o3, o4;
    char err[DM_ERRBUF_SIZE];

    dm_rng_seed(&rng, 11);
    b = normals(&rng, 70, 16, 0.0);
    c = normals(&rng, 90, 16, 0.2);
    cr_assert_eq(
        dm_stats_kl(b, 70, c, 90, 16, 50, &sig, &o1, NULL, err, sizeof(err)),
        DM_OK, "%s", err);
    cr_assert_eq(
        dm_stats_kl(b, 70, c, 90, 16, 50, &sig, &o2, NULL, err, sizeof(err)),
        DM_OK);
    sig.threads = 2;
    cr_assert_eq(
        dm_stats_kl(b, 70, c, 90, 16, 50, &sig, &o3, NULL, err, sizeof(err)),
        DM_OK);
    /* bit-identical for the same seed, whatever the thread count */
    cr_assert_eq(o1.p_value, o2.p_value);
    cr_assert_eq(o1.null_mean, o2.null_mean);
    cr_assert_eq(o1.null_sd, o2.null_sd);
    cr_assert_eq(o1.p_value, o3.p_value);
    cr_assert_eq(o1.null_mean, o3.null_mean, "%.17g vs %.17g", o1.null_mean,
                 o3.null_mean);
    cr_assert_eq(o1.null_sd, o3.null_sd);
    cr_assert_eq(o1.kl_excess, o3.kl_excess);
    sig.threads = 7; /* more threads than useful, uneven shares */
    cr_assert_eq(
        dm_stats_kl(b, 70, c, 90, 16, 50, &sig, &o3, NULL, err, sizeof(err)),
        DM_OK);
    cr_assert_eq(o1.null_mean, o3.null_mean);
    cr_assert_eq(o1.p_value, o3.p_value);
    /* a different seed gives a different null */
    sig.seed = 43;
    cr_assert_eq(
        dm_stats_kl(b, 70, c, 90, 16, 50, &sig, &o4, NULL, err, sizeof(err)),
        DM_OK);
    cr_assert_neq(o1.null_mean, o4.null_mean);
    cr_assert_eq(o1.kl_divergence, o4.kl_divergence);
    free(c);
    free(b);
}

/* ---- PSI --------------------------------------------------------------- */

Test(stats, psi_merge_small_categories)
{
    /* categories: a, b, tiny, other; min_samples 10 */
    uint64_t b[] = {50, 40, 3, 7};
    uint64_t c[] = {45, 55, 4, 1};
    uint64_t mb[4], mc[4];
    dm_stats_psi_t out, ref;
    char err[DM_ERRBUF_SIZE];

    cr_assert_eq(dm_stats_psi_merge(b, c, 4, 3, 10, mb, mc, err, sizeof(err)),
                 DM_OK);
    cr_assert_eq(mb[2], 0);
    cr_assert_eq(mc[2], 0);
    cr_assert_eq(mb[3], 10);
    cr_assert_eq(mc[3], 5);
    cr_assert_eq(mb[0], 50);
    /* 7 + 1 < 10 but "other" itself is never merged away */
    cr_assert_eq(dm_stats_psi(b, c, 4, 3, 10, NULL, &out, err, sizeof(err)),
                 DM_OK);
    cr_assert_eq(
        dm_stats_psi(mb, mc, 4, SIZE_MAX, 0, NULL, &ref, err, sizeof(err)),
        DM_OK);
    cr_assert_eq(out.psi, ref.psi);
    cr_assert_eq(out.n_categories, 3);
    /* exactly min_samples stays */
    cr_assert_eq(dm_stats_psi_merge(b, c, 4, 3, 7, mb, mc, err, sizeof(err)),
                 DM_OK);
    cr_assert_eq(mb[2], 3);
    cr_assert_eq(mc[2], 4);
    /* no other category: nothing merges */
    cr_assert_eq(
        dm_stats_psi_merge(b, c, 4, SIZE_MAX, 1000, mb, mc, err, sizeof(err)),
        DM_OK);
    cr_assert_eq(memcmp(mb, b, sizeof(b)), 0);
}

Test(stats, psi_methods_and_errors)
{
    uint64_t b[] = {120, 80, 0, 50};
    uint64_t c[] = {100, 90, 0, 70};
    uint64_t big_b[] = {60000, 40000, 30000};
    uint64_t big_c[] = {50000, 45000, 35000};
    uint64_t one_b[] = {0, 10}, one_c[] = {0, 20};
    uint64_t zero[] = {0, 0};
    dm_stats_sig_t sig = {
        .permutations = 200, .alpha = 0.05, .seed = 5, .threads = 2};
    dm_stats_psi_t out, out2;
    char err[DM_ERRBUF_SIZE];

    cr_assert_eq(
        dm_stats_psi(b, c, 4, SIZE_MAX, 0, &sig, &out, err, sizeof(err)), DM_OK,
        "%s", err);
    cr_assert_str_eq(out.method, "permutation");
    cr_assert_eq(out.n_categories, 3);
    cr_assert(out.p_value > 0.0 && out.p_value <= 1.0);
    sig.threads = 1;
    cr_assert_eq(
        dm_stats_psi(b, c, 4, SIZE_MAX, 0, &sig, &out2, err, sizeof(err)),
        DM_OK);
    cr_assert_eq(out.p_value, out2.p_value, "threads change the p-value");

    /* 260,000 rows: chi-square; the table is clearly different */
    cr_assert_eq(dm_stats_psi(big_b, big_c, 3, SIZE_MAX, 0, &sig, &out, err,
                              sizeof(err)),
                 DM_OK);
    cr_assert_str_eq(out.method, "chi_square");
    cr_assert_lt(out.p_value, 1e-10);

    /* testing off, or a single category: no test */
    cr_assert_eq(
        dm_stats_psi(b, c, 4, SIZE_MAX, 0, NULL, &out, err, sizeof(err)),
        DM_OK);
    cr_assert_str_eq(out.method, "none");
    cr_assert(isnan(out.p_value));
    cr_assert_eq(dm_stats_psi(one_b, one_c, 2, SIZE_MAX, 0, &sig, &out, err,
                              sizeof(err)),
                 DM_OK);
    cr_assert_str_eq(out.method, "none");
    cr_assert_eq(out.psi, 0.0);
    cr_assert_eq(out.n_categories, 1);

    err[0] = '\0';
    cr_assert_eq(
        dm_stats_psi(b, c, 0, SIZE_MAX, 0, &sig, &out, err, sizeof(err)),
        DM_EINVAL);
    cr_assert_neq(err[0], '\0');
    err[0] = '\0';
    cr_assert_eq(dm_stats_psi(b, c, 4, 4, 0, &sig, &out, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert(strstr(err, "other") != NULL, "message: %s", err);
    err[0] = '\0';
    cr_assert_eq(
        dm_stats_psi(zero, one_c, 2, SIZE_MAX, 0, &sig, &out, err, sizeof(err)),
        DM_EINVAL);
    cr_assert(strstr(err, "empty window") != NULL, "message: %s", err);
}

/* ---- chi-square survival function -------------------------------------- */

/* references: mpmath.gammainc(df/2, x/2, inf, regularized=True), 40 digits */
static const struct {
    double x, df, sf;
} chi2_cases[] = {
    {3.84146, 1.0, 4.9999964833747422e-2},
    {10.0, 4.0, 4.0427681994512805e-2},
    {0.5, 3.0, 9.1889141165467586e-1},
    {0.001, 1.0, 9.7477287936996039e-1},
    {0.1, 10.0, 9.9999999750204866e-1},
    {25.0, 3.0, 1.5440498291101365e-5},
    {200.0, 10.0, 1.6139305336977305e-37},
    {1000.0, 1000.0, 4.9405285382923964e-1},
    {1100.0, 1000.0, 1.4614408126295194e-2},
    {900.0, 1000.0, 9.8928276190871026e-1},
    {1050.0, 1000.0, 1.3247405682147708e-1},
    {101000.0, 100000.0, 1.286884037723367e-2},
    {99000.0, 100000.0, 9.875216843619172e-1},
    {1003000.0, 1000000.0, 1.7016772933266315e-2},
    {20.0, 30.0, 9.1654152706533718e-1},
    {39.0, 40.0, 5.1514425331406268e-1},
    {41.0, 40.0, 4.2647529857943558e-1},
    {7.0, 0.5, 2.765051994480116e-3},
    {0.2, 0.5, 3.9166115427103393e-1},
    {1.0, 1.0, 3.173105078629141e-1},
    {3.0, 2.0, 2.2313016014842983e-1},
    {60.0, 50.0, 1.572420272383916e-1},
    {150.0, 100.0, 9.0393204235400909e-4},
    {5000.0, 4000.0, 1.6633156038804352e-25},
};

Test(stats, chi2_sf_known_values)
{
    for (size_t i = 0; i < sizeof(chi2_cases) / sizeof(chi2_cases[0]); i++) {
        double got = dm_stats_chi2_sf(chi2_cases[i].x, chi2_cases[i].df);

        cr_assert(close_rel(got, chi2_cases[i].sf, 1e-12),
                  "chi2.sf(%g, %g) = %.17g, want %.17g (rel err %.2g)",
                  chi2_cases[i].x, chi2_cases[i].df, got, chi2_cases[i].sf,
                  fabs(got - chi2_cases[i].sf) / chi2_cases[i].sf);
    }
    /* chi2.sf(x, 2) = exp(-x/2) exactly; far tail underflows to 0 */
    cr_assert(close_rel(dm_stats_chi2_sf(30.0, 2.0), exp(-15.0), 1e-14));
    cr_assert_lt(dm_stats_chi2_sf(2000.0, 10.0), 1e-300);
    cr_assert_eq(dm_stats_chi2_sf(0.0, 3.0), 1.0);
    cr_assert_eq(dm_stats_chi2_sf(-1.0, 3.0), 1.0);
    cr_assert_eq(dm_stats_chi2_sf(HUGE_VAL, 3.0), 0.0);
    cr_assert(isnan(dm_stats_chi2_sf((double)NAN, 3.0)));
    cr_assert(isnan(dm_stats_chi2_sf(1.0, 0.0)));
    cr_assert(isnan(dm_stats_chi2_sf(1.0, HUGE_VAL)));
}

/* ---- accuracy, verdict ------------------------------------------------- */

Test(stats, accuracy_test)
{
    dm_stats_acc_t a;
    char err[DM_ERRBUF_SIZE];

    cr_assert_eq(dm_stats_accuracy(90, 100, 80, 100, &a, err, sizeof(err)),
                 DM_OK);
    assert_close(a.baseline_accuracy, 0.9, "baseline");
    assert_close(a.current_accuracy, 0.8, "current");
    assert_close(a.accuracy_delta, 0.9 - 0.8, "delta");
    /* references: Python 0.5*math.erfc(z/math.sqrt(2)), pooled z */
    assert_close(a.p_value, 0.023835190328080753, "90/100 vs 80/100");
    cr_assert_eq(dm_stats_accuracy(800, 1000, 820, 1000, &a, err, sizeof(err)),
                 DM_OK);
    assert_close(a.p_value, 0.8728518388915044, "an improvement");
    cr_assert_eq(dm_stats_accuracy(450, 500, 700, 1000, &a, err, sizeof(err)),
                 DM_OK);
    assert_close(a.p_value, 2.9798999567655046e-18, "large drop");
    /* every row the same: no variance, no evidence of a drop */
    cr_assert_eq(dm_stats_accuracy(10, 10, 30, 30, &a, err, sizeof(err)),
                 DM_OK);
    cr_assert_eq(a.p_value, 1.0);
    cr_assert_eq(a.accuracy_delta, 0.0);
    cr_assert_eq(dm_stats_accuracy(0, 10, 0, 30, &a, err, sizeof(err)), DM_OK);
    cr_assert_eq(a.p_value, 1.0);

    err[0] = '\0';
    cr_assert_eq(dm_stats_accuracy(0, 0, 1, 2, &a, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert(strstr(err, "empty window") != NULL, "message: %s", err);
    err[0] = '\0';
    cr_assert_eq(dm_stats_accuracy(3, 2, 1, 2, &a, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert_neq(err[0], '\0');
}

Test(stats, verdict_absent_signals_and_fires)
{
    dm_stats_verdict_in_t in = {0};
    dm_stats_verdict_t v;
    dm_severity_t s;

    /* absent signals fire nothing and score nothing, whatever they say */
    in.semantic_effect = 5.0;
    in.semantic_fired = true;
    in.psi_excess = 5.0;
    in.psi_fired = true;
    in.accuracy_drop_fired = true;
    in.below_floor = true;
    in.baseline_accuracy = 0.9;
    in.current_accuracy = 0.1;
    in.semantic_threshold = 0.05;
    in.psi_threshold = 0.2;
    in.accuracy_min = 0.75;
    dm_stats_verdict(&in, &v);
    cr_assert_eq(v.severity, DM_SEVERITY_NONE);
    cr_assert_eq(v.combined_score, 0.0);
    cr_assert_not(v.drift_detected);

    in.have_accuracy = true;
    dm_stats_verdict(&in, &v);
    cr_assert_eq(v.accuracy_severity, DM_SEVERITY_CRITICAL);
    cr_assert(v.drift_detected);
    assert_close(v.combined_score, (0.8 / 0.25) / 3.0, "accuracy only");

    /* below the floor alone: a warning, no score, not drift */
    in.accuracy_drop_fired = false;
    in.baseline_accuracy = 0.72;
    in.current_accuracy = 0.72;
    dm_stats_verdict(&in, &v);
    cr_assert_eq(v.accuracy_severity, DM_SEVERITY_WARNING);
    cr_assert_eq(v.combined_score, 0.0);
    cr_assert_not(v.drift_detected);

    /* a drop that is exactly on a band edge in decimal is not above it */
    in.below_floor = false;
    in.accuracy_drop_fired = true;
    in.baseline_accuracy = 0.9;
    in.current_accuracy = 0.75; /* 0.15000000000000002 in binary */
    dm_stats_verdict(&in, &v);
    cr_assert_eq(v.accuracy_severity, DM_SEVERITY_WARNING);
    in.current_accuracy = 0.8; /* 0.09999999999999998: not above 0.10 */
    dm_stats_verdict(&in, &v);
    cr_assert_eq(v.accuracy_severity, DM_SEVERITY_INFO);

    /* the semantic ratio bands compare exactly too: 0.1 / 0.05 = 2 */
    in.have_accuracy = false;
    in.have_semantic = true;
    in.semantic_effect = 0.1;
    dm_stats_verdict(&in, &v);
    cr_assert_eq(v.semantic_severity, DM_SEVERITY_WARNING);
    in.semantic_effect = 0.1000001;
    dm_stats_verdict(&in, &v);
    cr_assert_eq(v.semantic_severity, DM_SEVERITY_CRITICAL);

    cr_assert(dm_stats_ge(0.85 - 0.80, 0.05), "0.85 - 0.80 >= 0.05");
    cr_assert_not(dm_stats_gt(0.9 - 0.75, 0.15), "0.9 - 0.75 > 0.15");
    cr_assert(dm_stats_gt(0.16, 0.15));
    cr_assert_not(dm_stats_ge(0.0499, 0.05));

    cr_assert_str_eq(dm_severity_name(DM_SEVERITY_WARNING), "warning");
    cr_assert_eq(dm_severity_parse("critical", &s), DM_OK);
    cr_assert_eq(s, DM_SEVERITY_CRITICAL);
    cr_assert_eq(dm_severity_parse("Critical", &s), DM_EINVAL);
    cr_assert_eq(dm_severity_parse("", &s), DM_EINVAL);
}

/* ---- calibration ------------------------------------------------------- */

#define CAL_REPS         200
#define CAL_ROWS         100
#define CAL_DIM          32
#define CAL_BINS         50
#define CAL_PERMS        200
#define CAL_ALPHA        0.05
#define CAL_KL_THRESHOLD 0.1

typedef struct cal_result {
    double fire;     /* kl_excess > threshold and p < alpha */
    double raw_fire; /* kl_divergence > threshold, no test */
    double p_small;  /* p < alpha */
    double mean_kl, mean_excess;
} cal_result_t;

/* The first version's firing rule (embeddings.test: kl): effect over the
 * threshold and, when tested, p < alpha. */
static bool rule_fires(double effect, double threshold, double p, double alpha)
{
    return effect > threshold && (isnan(p) || p < alpha);
}

static cal_result_t kl_calibrate(uint64_t seed, double shift)
{
    dm_stats_sig_t sig = {
        .permutations = CAL_PERMS, .alpha = CAL_ALPHA, .threads = 1};
    cal_result_t res = {0};
    char err[DM_ERRBUF_SIZE];
    dm_rng_t rng;

    dm_rng_seed(&rng, seed);
    for (int rep = 0; rep < CAL_REPS; rep++) {
        double *b = normals(&rng, CAL_ROWS, CAL_DIM, 0.0);
        double *c = normals(&rng, CAL_ROWS, CAL_DIM, shift);
        dm_stats_kl_t out;

        sig.seed = seed * 1000 + (uint64_t)rep;
        cr_assert_eq(dm_stats_kl(b, CAL_ROWS, c, CAL_ROWS, CAL_DIM, CAL_BINS,
                                 &sig, &out, NULL, err, sizeof(err)),
                     DM_OK, "%s", err);
        res.fire +=
            rule_fires(out.kl_excess, CAL_KL_THRESHOLD, out.p_value, CAL_ALPHA);
        res.raw_fire += rule_fires(out.kl_divergence, CAL_KL_THRESHOLD,
                                   (double)NAN, CAL_ALPHA);
        res.p_small += out.p_value < CAL_ALPHA;
        res.mean_kl += out.kl_divergence;
        res.mean_excess += out.kl_excess;
        free(c);
        free(b);
    }
    res.fire /= CAL_REPS;
    res.raw_fire /= CAL_REPS;
    res.p_small /= CAL_REPS;
    res.mean_kl /= CAL_REPS;
    res.mean_excess /= CAL_REPS;
    return res;
}

Test(stats, kl_calibration_no_drift)
{
    cal_result_t r = kl_calibrate(1001, 0.0);

    fprintf(stderr,
            "KL calibration, same distribution (%d comparisons, %d+%d rows x "
            "%d dims, %d bins, %d permutations): fire rate (kl_excess > %.2f "
            "and p < %.2f) = %.3f, p < %.2f rate = %.3f, raw KL > %.2f rate = "
            "%.3f, mean KL = %.3f, mean excess = %.4f\n",
            CAL_REPS, CAL_ROWS, CAL_ROWS, CAL_DIM, CAL_BINS, CAL_PERMS,
            CAL_KL_THRESHOLD, CAL_ALPHA, r.fire, CAL_ALPHA, r.p_small,
            CAL_KL_THRESHOLD, r.raw_fire, r.mean_kl, r.mean_excess);
    cr_assert_leq(r.fire, 0.08, "false alarm rate %.3f", r.fire);
    cr_assert_geq(r.raw_fire, 0.9, "raw KL fired only %.3f", r.raw_fire);
    /* the p-value alone is a valid 5% test */
    cr_assert(r.p_small >= 0.015 && r.p_small <= 0.09, "p < 0.05 rate %.3f",
              r.p_small);
}

Test(stats, kl_calibration_shift)
{
    /* every dimension of the current window shifted by 0.5 sd */
    cal_result_t r = kl_calibrate(2002, 0.5);

    fprintf(stderr,
            "KL calibration, mean shift 0.5 sd in all %d dims (%d "
            "comparisons): fire rate = %.3f, p < %.2f rate = %.3f, mean KL = "
            "%.3f, mean excess = %.4f\n",
            CAL_DIM, CAL_REPS, r.fire, CAL_ALPHA, r.p_small, r.mean_kl,
            r.mean_excess);
    cr_assert_geq(r.fire, 0.95, "power %.3f", r.fire);
}

typedef struct psi_cal {
    double p_small, fire, raw_fire;
    double mean_psi, mean_null, mean_excess;
    const char *method;
} psi_cal_t;

static psi_cal_t psi_calibrate(uint64_t seed, const double *pb,
                               const double *pc, uint64_t rows, int reps,
                               double threshold)
{
    dm_stats_sig_t sig = {
        .permutations = CAL_PERMS, .alpha = CAL_ALPHA, .threads = 1};
    psi_cal_t res = {0};
    char err[DM_ERRBUF_SIZE];
    dm_rng_t rng;

    dm_rng_seed(&rng, seed);
    for (int rep = 0; rep < reps; rep++) {
        uint64_t b[5], c[5];
        dm_stats_psi_t out;

        sim_multinomial(&rng, pb, 5, rows, b);
        sim_multinomial(&rng, pc, 5, rows, c);
        sig.seed = seed * 1000 + (uint64_t)rep;
        cr_assert_eq(dm_stats_psi(b, c, 5, 4, 0, &sig, &out, err, sizeof(err)),
                     DM_OK, "%s", err);
        res.method = out.method;
        res.p_small += out.p_value < CAL_ALPHA;
        res.fire += rule_fires(out.psi, threshold, out.p_value, CAL_ALPHA);
        res.raw_fire += out.psi > threshold;
        res.mean_psi += out.psi;
        res.mean_null += out.null_mean;
        res.mean_excess += out.psi_excess;
        cr_assert(out.psi_excess >= 0.0 && out.psi_excess <= out.psi + 1e-15 &&
                      fabs(out.psi_excess -
                           fmax(0.0, out.psi - out.null_mean)) < 1e-15,
                  "psi %g null %g excess %g", out.psi, out.null_mean,
                  out.psi_excess);
    }
    res.mean_psi /= reps;
    res.mean_null /= reps;
    res.mean_excess /= reps;
    res.p_small /= reps;
    res.fire /= reps;
    res.raw_fire /= reps;
    return res;
}

static const double intent_mix[5] = {0.40, 0.25, 0.15, 0.12, 0.08};
static const double drifted_mix[5] = {0.20, 0.30, 0.20, 0.18, 0.12};

Test(stats, psi_calibration_permutation)
{
    /*
     * 300 rows per window: PSI is ~0.027 from noise alone, so a 0.005
     * threshold leaves the decision to the p-value.  The drifted mix has
     * a population PSI of about 0.20 (the default threshold).
     */
    psi_cal_t same =
        psi_calibrate(3003, intent_mix, intent_mix, 300, 1000, 0.005);
    psi_cal_t drift =
        psi_calibrate(3004, intent_mix, drifted_mix, 300, 200, 0.005);

    fprintf(stderr,
            "PSI calibration (%s, 300+300 rows, 5 categories, 1000 "
            "comparisons): same mix p < %.2f rate = %.3f, fire rate (psi > "
            "0.005 and p < %.2f) = %.3f, raw psi > 0.005 rate = %.3f; "
            "drifted mix (200 comparisons) fire rate = %.3f\n",
            same.method, CAL_ALPHA, same.p_small, CAL_ALPHA, same.fire,
            same.raw_fire, drift.fire);
    cr_assert_str_eq(same.method, "permutation");
    cr_assert(same.p_small >= 0.02 && same.p_small <= 0.08,
              "p < 0.05 rate %.3f", same.p_small);
    cr_assert_leq(same.fire, 0.08);
    cr_assert_geq(same.raw_fire, 0.9, "threshold too high to matter: %.3f",
                  same.raw_fire);
    cr_assert_geq(drift.fire, 0.95, "power %.3f", drift.fire);
    /* the null mean is PSI's bias: same mix, they agree on average, and
     * the excess is a small fraction of the raw PSI */
    cr_assert(fabs(same.mean_psi - same.mean_null) < 0.1 * same.mean_psi,
              "mean psi %g, mean null %g", same.mean_psi, same.mean_null);
    cr_assert_lt(same.mean_excess, 0.35 * same.mean_psi, "excess %g of %g",
                 same.mean_excess, same.mean_psi);
    /* drifted: the excess keeps the population PSI (about 0.2) */
    cr_assert(drift.mean_excess > 0.15 && drift.mean_excess < 0.3,
              "drift mean excess %g", drift.mean_excess);
}

Test(stats, psi_calibration_chi_square)
{
    /* 101,000 rows per window: over the permutation limit */
    psi_cal_t same =
        psi_calibrate(4004, intent_mix, intent_mix, 101000, 300, 0.0);

    fprintf(stderr,
            "PSI calibration (%s, 101000+101000 rows, 300 comparisons): "
            "same mix p < %.2f rate = %.3f\n",
            same.method, CAL_ALPHA, same.p_small);
    cr_assert_str_eq(same.method, "chi_square");
    cr_assert(same.p_small >= 0.02 && same.p_small <= 0.08,
              "p < 0.05 rate %.3f", same.p_small);
    /* the closed-form null mean (K - 1)(1/nb + 1/nc) is PSI's bias */
    cr_assert(fabs(same.mean_psi - same.mean_null) < 0.1 * same.mean_psi,
              "mean psi %g, closed-form null mean %g", same.mean_psi,
              same.mean_null);
}

/* A copy of n values times 2^e (exact: no value leaves the normal range). */
static double *scaled(const double *x, size_t n, int e)
{
    double *y = dm_mallocarray(n, sizeof(*y));

    for (size_t i = 0; i < n; i++)
        y[i] = ldexp(x[i], e);
    return y;
}

/*
 * The semantic test and its effect at any scale of the embedding: found
 * by the fuzzer, rows near 1e300 made the float kernel and X'X overflow,
 * the held-out scores NaN, and the AUC's tie loop spin forever.  The
 * MMD is scale-free, so any power of two gives the same bits; the
 * classifier rescales out-of-range features to [-1, 1], so 2^600 and
 * 2^-900 give the same fit as the data brought there by hand.
 */
Test(stats, semantic_tests_at_any_scale)
{
    enum { NB = 40, NC = 40, DIM = 8 };
    dm_rng_t rng;
    double *b, *c;
    dm_stats_sig_t sig = {.permutations = 49, .seed = 5, .threads = 1};
    dm_stats_mmd_t m0, m;
    dm_stats_domain_t d0, d;
    char err[256];
    int e0;

    dm_rng_seed(&rng, 77);
    b = normals(&rng, NB, DIM, 0.0);
    c = normals(&rng, NC, DIM, 0.7);
    cr_assert_eq(dm_stats_mmd(b, NB, c, NC, DIM, &sig, &m0, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_lt(m0.p_value, 0.05, "a 0.7 sd shift: p %g", m0.p_value);
    {
        /* the classifier rescales to max |v| in [0.5, 1) */
        double big = 0.0;

        for (size_t i = 0; i < NB * DIM; i++)
            big = fmax(big, fmax(fabs(b[i]), fabs(c[i])));
        (void)frexp(big, &e0);
        e0 = -e0;
    }
    {
        double *bs = scaled(b, NB * DIM, e0), *cs = scaled(c, NC * DIM, e0);

        cr_assert_eq(
            dm_stats_domain(bs, NB, cs, NC, DIM, 5, &d0, err, sizeof(err)),
            DM_OK, "%s", err);
        free(bs);
        free(cs);
    }
    cr_assert(d0.auc > 0.6 && d0.auc <= 1.0, "auc %g", d0.auc);

    static const int exps[] = {600, 900, -900, -1000};
    for (size_t k = 0; k < sizeof(exps) / sizeof(exps[0]); k++) {
        double *bs = scaled(b, NB * DIM, exps[k]);
        double *cs = scaled(c, NC * DIM, exps[k]);

        cr_assert_eq(
            dm_stats_mmd(bs, NB, cs, NC, DIM, &sig, &m, err, sizeof(err)),
            DM_OK, "2^%d: %s", exps[k], err);
        cr_assert_eq(m.mmd2, m0.mmd2, "2^%d: mmd2 %g, %g", exps[k], m.mmd2,
                     m0.mmd2);
        cr_assert_eq(m.p_value, m0.p_value, "2^%d", exps[k]);
        cr_assert_eq(m.witness_auc, m0.witness_auc, "2^%d", exps[k]);
        cr_assert_eq(m.bandwidth, ldexp(m0.bandwidth, exps[k]), "2^%d",
                     exps[k]);
        cr_assert_eq(
            dm_stats_domain(bs, NB, cs, NC, DIM, 5, &d, err, sizeof(err)),
            DM_OK, "2^%d: %s", exps[k], err);
        cr_assert_eq(d.auc, d0.auc, "2^%d: auc %g, %g", exps[k], d.auc, d0.auc);
        free(bs);
        free(cs);
    }

    /* one-signed huge rows beside ordinary ones: finite answers */
    for (size_t i = 0; i < 3 * DIM; i++)
        c[i] = 1e300;
    cr_assert_eq(dm_stats_mmd(b, NB, c, NC, DIM, &sig, &m, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert(isfinite(m.mmd2) && m.witness_auc >= 0.0 &&
                  m.witness_auc <= 1.0 && m.p_value > 0.0 && m.p_value <= 1.0,
              "mmd2 %g, witness auc %g, p %g", m.mmd2, m.witness_auc,
              m.p_value);
    cr_assert_eq(dm_stats_domain(b, NB, c, NC, DIM, 5, &d, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert(d.auc >= 0.0 && d.auc <= 1.0, "auc %g", d.auc);
    free(b);
    free(c);
}
