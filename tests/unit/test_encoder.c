/*
 * test_encoder.c - the BERT encoder against the reference embeddings of
 * fixtures/minilm-tiny (computed in float64 by the fixture's author),
 * driven by the fixture's token ids so it does not depend on the
 * tokenizer; batching, thread count and input validation.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/encoder.h"
#include "embed/kernels.h"
#include "embed/linear.h"
#include "embed/model.h"
#include "support/randbert.h"
#include "support/testutil.h"

/*
 * One timeout for the suite, none per test: Criterion 2.4 leaks 48 bytes
 * in its runner for a test with its own .timeout, which LeakSanitizer and
 * memcheck report as a failure (red CI of stop 18).
 */
TestSuite(encoder, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

#define MAX_CASES 256

struct cases {
    size_t n;
    int32_t *ids[MAX_CASES];
    size_t lens[MAX_CASES];
    float *emb[MAX_CASES];
    size_t dim;
};

static void load_cases(struct cases *c, const char *file)
{
    char dir[1024], path[1200], line[1 << 16];
    FILE *f;

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &err), *ids, *emb;
        size_t i = c->n;

        cr_assert_not_null(o, "%s: %s", path, err.text);
        cr_assert_lt(i, MAX_CASES);
        ids = json_object_get(o, "input_ids");
        emb = json_object_get(o, "embedding");
        cr_assert(json_is_array(ids) && json_is_array(emb));
        c->lens[i] = json_array_size(ids);
        c->ids[i] = calloc(c->lens[i], sizeof(int32_t));
        for (size_t t = 0; t < c->lens[i]; t++)
            c->ids[i][t] = (int32_t)json_integer_value(json_array_get(ids, t));
        c->dim = json_array_size(emb);
        c->emb[i] = calloc(c->dim, sizeof(float));
        for (size_t j = 0; j < c->dim; j++)
            c->emb[i][j] = (float)json_number_value(json_array_get(emb, j));
        json_decref(o);
        c->n++;
    }
    fclose(f);
    cr_assert_gt(c->n, 0, "no cases in %s", path);
}

static void all_cases(struct cases *c)
{
    memset(c, 0, sizeof(*c));
    load_cases(c, "cases.jsonl");
    load_cases(c, "special_tokens_cases.jsonl");
}

static void free_cases(struct cases *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->ids[i]);
        free(c->emb[i]);
    }
}

static dm_model_t *load_model(void)
{
    char dir[1024], err[DM_ERRBUF_SIZE] = "";
    dm_model_t *m = NULL;

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    cr_assert_eq(dm_model_load(dir, &m, err, sizeof(err)), DM_OK, "%s", err);
    return m;
}

static dm_encoder_t *new_encoder(const dm_model_t *m, size_t threads,
                                 size_t batch)
{
    dm_encoder_opts_t o = {.threads = threads, .batch_size = batch};
    char err[DM_ERRBUF_SIZE] = "";
    dm_encoder_t *e = NULL;

    cr_assert_eq(dm_encoder_new(m, &o, &e, err, sizeof(err)), DM_OK, "%s", err);
    return e;
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float d = 0.0f;

    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > d || isnan(a[i]) != isnan(b[i]))
            d = isnan(a[i]) || isnan(b[i]) ? INFINITY : fabsf(a[i] - b[i]);
    return d;
}

/* Every case alone, within 1e-5 of the float64 reference. */
Test(encoder, every_case_matches_reference)
{
    struct cases c;
    dm_model_t *m = load_model();
    dm_encoder_t *e = new_encoder(m, 1, 32);
    char err[DM_ERRBUF_SIZE] = "";
    float out[1024], worst = 0.0f;
    size_t worst_i = 0;

    all_cases(&c);
    cr_assert_eq(c.dim, m->cfg.hidden);
    for (size_t i = 0; i < c.n; i++) {
        const int32_t *ids = c.ids[i];
        float d;

        cr_assert_eq(
            dm_encoder_encode(e, &ids, &c.lens[i], 1, out, err, sizeof(err)),
            DM_OK, "case %zu: %s", i, err);
        d = max_diff(out, c.emb[i], c.dim);
        cr_expect_leq(d, 1e-5f, "case %zu (%zu tokens): max diff %g", i,
                      c.lens[i], (double)d);
        if (d > worst) {
            worst = d;
            worst_i = i;
        }
    }
    fprintf(stderr,
            "encoder: %zu cases, worst max abs diff %.3g (case %zu, %zu "
            "tokens)\n",
            c.n, (double)worst, worst_i, c.lens[worst_i]);
    dm_encoder_free(e);
    dm_model_free(m);
    free_cases(&c);
}

static float *encode_all(const dm_model_t *m, const struct cases *c,
                         size_t threads, size_t batch)
{
    dm_encoder_t *e = new_encoder(m, threads, batch);
    float *out = calloc(c->n * c->dim, sizeof(float));
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert_eq(dm_encoder_encode(e, (const int32_t *const *)c->ids, c->lens,
                                   c->n, out, err, sizeof(err)),
                 DM_OK, "%s", err);
    dm_encoder_free(e);
    return out;
}

/* All cases in one call (sorted and packed internally) = one by one. */
Test(encoder, batched_equals_one_by_one)
{
    struct cases c;
    dm_model_t *m = load_model();
    dm_encoder_t *e = new_encoder(m, 1, 32);
    float *batched, *one = calloc(1024, sizeof(float));
    char err[DM_ERRBUF_SIZE] = "";

    all_cases(&c);
    batched = encode_all(m, &c, 1, 32);
    for (size_t i = 0; i < c.n; i++) {
        const int32_t *ids = c.ids[i];
        float d;

        cr_assert_eq(
            dm_encoder_encode(e, &ids, &c.lens[i], 1, one, err, sizeof(err)),
            DM_OK, "%s", err);
        d = max_diff(one, batched + i * c.dim, c.dim);
        cr_expect_leq(d, 1e-6f, "case %zu: batched vs alone differ by %g", i,
                      (double)d);
        d = max_diff(batched + i * c.dim, c.emb[i], c.dim);
        cr_expect_leq(d, 1e-5f, "case %zu: batched vs reference %g", i,
                      (double)d);
    }
    free(batched);
    free(one);
    dm_encoder_free(e);
    dm_model_free(m);
    free_cases(&c);
}

/* Threads and batch sizes change the schedule, not the results. */
Test(encoder, threads_and_batch_sizes_agree)
{
    static const size_t conf[][2] = {{2, 32}, {2, 5}, {3, 1}, {1, 7}};
    struct cases c;
    dm_model_t *m = load_model();
    float *ref;

    all_cases(&c);
    ref = encode_all(m, &c, 1, 32);
    for (size_t k = 0; k < sizeof(conf) / sizeof(conf[0]); k++) {
        float *o = encode_all(m, &c, conf[k][0], conf[k][1]);
        float d = max_diff(o, ref, c.n * c.dim);

        cr_expect_leq(d, 1e-6f, "threads %zu batch %zu: max diff %g",
                      conf[k][0], conf[k][1], (double)d);
        free(o);
    }
    free(ref);
    dm_model_free(m);
    free_cases(&c);
}

Test(encoder, rejects_bad_input)
{
    dm_model_t *m = load_model();
    dm_encoder_t *e = new_encoder(m, 1, 32);
    char err[DM_ERRBUF_SIZE] = "";
    int32_t ids[3] = {101, 30522, 102};
    const int32_t *p = ids;
    size_t len = 3;
    float out[64];

    cr_assert_eq(dm_encoder_encode(e, &p, &len, 1, out, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert(strstr(err, "30522") != NULL, "message: %s", err);
    ids[1] = -1;
    cr_assert_eq(dm_encoder_encode(e, &p, &len, 1, out, err, sizeof(err)),
                 DM_EINVAL);
    len = 0;
    cr_assert_eq(dm_encoder_encode(e, &p, &len, 1, out, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert(strstr(err, "tokens") != NULL, "message: %s", err);
    len = m->cfg.max_positions + 1;
    cr_assert_eq(dm_encoder_encode(e, &p, &len, 1, out, err, sizeof(err)),
                 DM_EINVAL);
    /* n == 0 is a no-op */
    cr_assert_eq(dm_encoder_encode(e, &p, &len, 0, out, err, sizeof(err)),
                 DM_OK);
    dm_encoder_free(e);
    dm_model_free(m);
}

Test(encoder, options_bounds)
{
    dm_model_t *m = load_model();
    dm_encoder_opts_t o = {.threads = DM_ENCODER_MAX_THREADS + 1};
    dm_encoder_t *e = NULL;
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert_eq(dm_encoder_new(m, &o, &e, err, sizeof(err)), DM_EINVAL);
    cr_assert_null(e);
    o.threads = 1;
    o.batch_size = DM_ENCODER_MAX_BATCH + 1;
    cr_assert_eq(dm_encoder_new(m, &o, &e, err, sizeof(err)), DM_EINVAL);
    cr_assert_eq(dm_encoder_new(m, NULL, &e, err, sizeof(err)), DM_OK);
    cr_assert_eq(dm_encoder_dim(e), 32);
    dm_encoder_free(e);
    dm_model_free(m);
}

/* The vector exp against libm in double precision. */
Test(encoder, kernels_accuracy)
{
    double worst_exp = 0.0;

    for (double x = -30.0; x <= 30.0; x += 1e-3) {
        float xf = (float)x;
        double ref = exp((double)xf);
        double rel = fabs((double)dm_kern_exp(xf) - ref) / ref;

        if (rel > worst_exp)
            worst_exp = rel;
    }
    cr_expect_leq(worst_exp, 3e-7, "exp relative error %g", worst_exp);
    fprintf(stderr, "kernels: exp rel err %.3g\n", worst_exp);
}

/* LayerNorm of n doubles in place. */
static void ref_ln(double *x, size_t n, const float *g, const float *b,
                   double eps)
{
    double mean = 0, var = 0;

    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (double)n;
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - mean) / sqrt(var + eps) * (double)g[i] + (double)b[i];
}

/* y[out] = W[out x in] x[in] + bias, in double. */
static void ref_linear(const float *w, const float *bias, const double *x,
                       size_t in, size_t out, double *y)
{
    for (size_t o = 0; o < out; o++) {
        double s = (double)bias[o];

        for (size_t i = 0; i < in; i++)
            s += (double)w[o * in + i] * x[i];
        y[o] = s;
    }
}

/* A plain double-precision BERT forward pass, the textbook way. */
static void ref_forward(const dm_model_t *m, const int32_t *ids, size_t L,
                        double *out)
{
    const size_t H = m->cfg.hidden, nh = m->cfg.heads, dh = H / nh;
    const size_t I = m->cfg.intermediate;
    const double eps = (double)m->cfg.layer_norm_eps;
    double *x = calloc(L * H, sizeof(double));
    double *qkv = calloc(L * 3 * H, sizeof(double));
    double *ctx = calloc(L * H, sizeof(double));
    double *f = calloc(I, sizeof(double)), *t = calloc(H, sizeof(double));
    double *p = calloc(L, sizeof(double)), norm = 0;

    for (size_t i = 0; i < L; i++) {
        for (size_t j = 0; j < H; j++)
            x[i * H + j] = (double)m->word_emb[(size_t)ids[i] * H + j] +
                           (double)m->type_emb[j] +
                           (double)m->pos_emb[i * H + j];
        ref_ln(x + i * H, H, m->emb_ln_g, m->emb_ln_b, eps);
    }
    for (size_t l = 0; l < m->cfg.layers; l++) {
        const dm_bert_layer_t *ly = &m->layers[l];

        for (size_t i = 0; i < L; i++)
            ref_linear(ly->qkv_w, ly->qkv_b, x + i * H, H, 3 * H,
                       qkv + i * 3 * H);
        for (size_t h = 0; h < nh; h++)
            for (size_t i = 0; i < L; i++) {
                double mx = -(double)INFINITY, sum = 0;

                for (size_t j = 0; j < L; j++) {
                    double d = 0;

                    for (size_t k = 0; k < dh; k++)
                        d += qkv[i * 3 * H + h * dh + k] *
                             qkv[j * 3 * H + H + h * dh + k];
                    p[j] = d / sqrt((double)dh);
                    mx = fmax(mx, p[j]);
                }
                for (size_t j = 0; j < L; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                for (size_t k = 0; k < dh; k++) {
                    double c = 0;

                    for (size_t j = 0; j < L; j++)
                        c += p[j] / sum * qkv[j * 3 * H + 2 * H + h * dh + k];
                    ctx[i * H + h * dh + k] = c;
                }
            }
        for (size_t i = 0; i < L; i++) {
            ref_linear(ly->attn_out_w, ly->attn_out_b, ctx + i * H, H, H, t);
            for (size_t j = 0; j < H; j++)
                x[i * H + j] += t[j];
            ref_ln(x + i * H, H, ly->attn_ln_g, ly->attn_ln_b, eps);
            ref_linear(ly->ffn_in_w, ly->ffn_in_b, x + i * H, H, I, f);
            for (size_t j = 0; j < I; j++)
                f[j] = 0.5 * f[j] * (1.0 + erf(f[j] / sqrt(2.0)));
            ref_linear(ly->ffn_out_w, ly->ffn_out_b, f, I, H, t);
            for (size_t j = 0; j < H; j++)
                x[i * H + j] += t[j];
            ref_ln(x + i * H, H, ly->out_ln_g, ly->out_ln_b, eps);
        }
    }
    for (size_t j = 0; j < H; j++) {
        out[j] = 0;
        for (size_t i = 0; i < L; i++)
            out[j] += x[i * H + j] / (double)L;
        norm += out[j] * out[j];
    }
    for (size_t j = 0; j < H; j++)
        out[j] /= sqrt(norm);
    free(x);
    free(qkv);
    free(ctx);
    free(f);
    free(t);
    free(p);
}

/*
 * Odd sizes (hidden not a multiple of the vector width, 3 or 5 heads,
 * odd intermediate) against the plain reference above: exercises every
 * remainder path of the kernels.
 */
Test(encoder, odd_sizes_match_plain_reference)
{
    static const size_t shapes[][4] = {
        /* hidden, heads, intermediate, layers */
        {48, 3, 96, 2},
        {20, 5, 37, 2},
        {36, 2, 50, 1},
    };

    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
        char dir[64], err[DM_ERRBUF_SIZE] = "";
        dm_randbert_opts_t o;
        dm_model_t *m = NULL;
        dm_encoder_t *e;
        int32_t *ids[6];
        size_t lens[6] = {1, 2, 17, 33, 5, 70};
        float out[6 * 48];
        double ref[48];

        dm_randbert_opts_minilm(&o);
        o.hidden = shapes[k][0];
        o.heads = shapes[k][1];
        o.intermediate = shapes[k][2];
        o.layers = shapes[k][3];
        o.vocab_size = 200;
        o.max_positions = 80;
        o.seed = 11 + k;
        o.linear_gain = 1.5f;
        snprintf(dir, sizeof(dir), "/tmp/dm-test-enc-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        cr_assert_eq(dm_randbert_write(&o, dir, err, sizeof(err)), DM_OK, "%s",
                     err);
        cr_assert_eq(dm_model_load(dir, &m, err, sizeof(err)), DM_OK, "%s",
                     err);
        e = new_encoder(m, 2, 4);
        for (size_t i = 0; i < 6; i++) {
            ids[i] = calloc(lens[i], sizeof(int32_t));
            for (size_t t = 0; t < lens[i]; t++)
                ids[i][t] = (int32_t)((i * 37 + t * 11) % 200);
        }
        cr_assert_eq(dm_encoder_encode(e, (const int32_t *const *)ids, lens, 6,
                                       out, err, sizeof(err)),
                     DM_OK, "%s", err);
        for (size_t i = 0; i < 6; i++) {
            float d = 0;

            ref_forward(m, ids[i], lens[i], ref);
            for (size_t j = 0; j < o.hidden; j++)
                d = fmaxf(d, fabsf(out[i * o.hidden + j] - (float)ref[j]));
            cr_expect_leq(d, 1e-5f,
                          "hidden %zu heads %zu: sentence %zu (%zu tokens) "
                          "max diff %g",
                          o.hidden, o.heads, i, lens[i], (double)d);
            free(ids[i]);
        }
        dm_encoder_free(e);
        dm_model_free(m);
        dm_randbert_remove(dir);
    }
}

/* An encoder whose products take bf16 inputs, or NULL (and the error)
 * where oneDNN cannot run bf16 here. */
static dm_encoder_t *new_bf16_encoder(const dm_model_t *m, size_t threads,
                                      int *rc, char *err, size_t errlen)
{
    dm_encoder_opts_t o = {.threads = threads, .batch_size = 32, .bf16 = true};
    dm_encoder_t *e = NULL;

    *rc = dm_encoder_new(m, &o, &e, err, errlen);
    return e;
}

/* Where bf16 is refused, the refusal must be a clear error on a CPU that
 * has no native bf16 (valgrind's virtual CPU has no AVX-512). */
static void expect_bf16_refusal(int rc, const char *err)
{
    cr_expect(!dm_linear_bf16_native(), "bf16 refused on a bf16 CPU: %s", err);
    cr_expect_eq(rc, DM_EMODEL, "%s", err);
    cr_expect(strstr(err, "bf16") != NULL, "message: %s", err);
    fprintf(stderr, "encoder: bf16 refused here: %s\n", err);
}

static double cosine_to(const float *a, const double *ref, size_t n)
{
    double ab = 0, aa = 0, bb = 0;

    for (size_t j = 0; j < n; j++) {
        ab += (double)a[j] * ref[j];
        aa += (double)a[j] * (double)a[j];
        bb += ref[j] * ref[j];
    }
    return ab / sqrt(aa * bb);
}

/*
 * bf16 products (fixture model, every case, two threads): cosine to the
 * float64 reference at least 0.9995 for each case and 0.9999 on average
 * (the bound); and not bit-equal to fp32, so the bf16 path ran.
 */
Test(encoder, bf16_cosine_to_reference)
{
    struct cases c;
    dm_model_t *m = load_model();
    char err[DM_ERRBUF_SIZE] = "";
    int rc;
    dm_encoder_t *e = new_bf16_encoder(m, 2, &rc, err, sizeof(err));
    float *out, *fp32;
    double worst = 1.0, sum = 0.0, ref[1024];

    if (e == NULL) {
        expect_bf16_refusal(rc, err);
        dm_model_free(m);
        return;
    }
    cr_assert(dm_encoder_bf16(e));
    all_cases(&c);
    out = calloc(c.n * c.dim, sizeof(float));
    cr_assert_eq(dm_encoder_encode(e, (const int32_t *const *)c.ids, c.lens,
                                   c.n, out, err, sizeof(err)),
                 DM_OK, "%s", err);
    for (size_t i = 0; i < c.n; i++) {
        double cs;

        for (size_t j = 0; j < c.dim; j++)
            ref[j] = (double)c.emb[i][j];
        cs = cosine_to(out + i * c.dim, ref, c.dim);
        cr_expect_geq(cs, 0.9995, "case %zu (%zu tokens): cosine %.6f", i,
                      c.lens[i], cs);
        worst = fmin(worst, cs);
        sum += cs;
    }
    cr_expect_geq(sum / (double)c.n, 0.9999, "mean cosine %.7f",
                  sum / (double)c.n);
    fp32 = encode_all(m, &c, 1, 32);
    cr_expect_gt(max_diff(out, fp32, c.n * c.dim), 1e-6f,
                 "bf16 gave the fp32 result: the bf16 path did not run");
    fprintf(stderr, "encoder bf16: %zu cases, min cosine %.7f, mean %.7f\n",
            c.n, worst, sum / (double)c.n);
    free(fp32);
    free(out);
    dm_encoder_free(e);
    dm_model_free(m);
    free_cases(&c);
}

/*
 * A model of all-MiniLM-L6-v2's shape (random weights, gain 1.5 so the
 * activations are not tiny), bf16 against the float64 reference above on
 * sentences of 1 to 256 tokens: the same bounds as the fixture.
 */
Test(encoder, bf16_minilm_shape_cosine_to_reference)
{
    char dir[64], err[DM_ERRBUF_SIZE] = "";
    static const size_t lens[] = {1, 2, 9, 31, 64, 100, 256};
    enum { N = sizeof(lens) / sizeof(lens[0]) };
    dm_randbert_opts_t o;
    dm_linear_plan_t *probe = NULL;
    dm_model_t *m = NULL;
    dm_encoder_t *e;
    int32_t *ids[N];
    float *out;
    double *ref, worst = 1.0, sum = 0.0;
    int rc;

    /* a bf16 plan is cheap to try; the model is 90 MB to write */
    rc = dm_linear_plan_new(384, 384, DM_LINEAR_BF16, DM_LINEAR_F32, false,
                            &probe, err, sizeof(err));
    dm_linear_plan_free(probe);
    if (rc != DM_OK) {
        expect_bf16_refusal(rc, err);
        return;
    }
    dm_randbert_opts_minilm(&o);
    o.vocab_size = 30522;
    o.seed = 2026;
    o.linear_gain = 1.5f;
    snprintf(dir, sizeof(dir), "/tmp/dm-test-bf16-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(dm_randbert_write(&o, dir, err, sizeof(err)), DM_OK, "%s",
                 err);
    cr_assert_eq(dm_model_load(dir, &m, err, sizeof(err)), DM_OK, "%s", err);
    dm_randbert_remove(dir);
    e = new_bf16_encoder(m, 2, &rc, err, sizeof(err));
    cr_assert_not_null(e, "%s", err);
    for (size_t i = 0; i < N; i++) {
        ids[i] = calloc(lens[i], sizeof(int32_t));
        for (size_t t = 0; t < lens[i]; t++)
            ids[i][t] = t == 0 ? 101
                        : t + 1 == lens[i]
                            ? 102
                            : (int32_t)(1000 + (i * 7919 + t * 104729) % 29000);
    }
    out = calloc(N * m->cfg.hidden, sizeof(float));
    ref = calloc(m->cfg.hidden, sizeof(double));
    cr_assert_eq(dm_encoder_encode(e, (const int32_t *const *)ids, lens, N, out,
                                   err, sizeof(err)),
                 DM_OK, "%s", err);
    for (size_t i = 0; i < N; i++) {
        double cs;

        ref_forward(m, ids[i], lens[i], ref);
        cs = cosine_to(out + i * m->cfg.hidden, ref, m->cfg.hidden);
        cr_expect_geq(cs, 0.9995, "%zu tokens: cosine %.6f", lens[i], cs);
        worst = fmin(worst, cs);
        sum += cs;
        free(ids[i]);
    }
    cr_expect_geq(sum / N, 0.9999, "mean cosine %.7f", sum / N);
    fprintf(stderr, "encoder bf16, MiniLM shape: min cosine %.7f, mean %.7f\n",
            worst, sum / N);
    free(ref);
    free(out);
    dm_encoder_free(e);
    dm_model_free(m);
}
