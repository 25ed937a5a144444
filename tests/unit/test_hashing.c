/*
 * test_hashing.c - the weight-free hashing embedder: bit-identical
 * repeats, unit norm, the zero vector for featureless text, a pinned
 * vector (so a change of features or hashing shows up), similar texts
 * closer than unrelated ones, and several dimensions.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed/hashing.h"

TestSuite(hashing, .timeout = 60 * DM_TEST_TIMEOUT_SCALE);

static double norm(const float *v, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++)
        s += (double)v[i] * (double)v[i];
    return sqrt(s);
}

static double cosine(const char *a, const char *b, size_t dim)
{
    float *x = calloc(dim, sizeof(float)), *y = calloc(dim, sizeof(float));
    double dot = 0.0;

    dm_hashing_embed(a, strlen(a), dim, x);
    dm_hashing_embed(b, strlen(b), dim, y);
    for (size_t i = 0; i < dim; i++)
        dot += (double)x[i] * (double)y[i];
    free(x);
    free(y);
    return dot; /* both are unit vectors */
}

Test(hashing, deterministic_and_unit_norm)
{
    static const char *texts[] = {
        "How do I sort a list in Python?",
        "caf\xc3\xa9 na\xc3\xafve \xe6\x9c\xba\xe5\x99\xa8 \xf0\x9f\x91\x8d",
        "x",
        "ab\xff\xfe invalid utf-8 \xc3",
    };
    static const size_t dims[] = {1, 7, 64, 384, 1024};

    for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
        for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++) {
            size_t dim = dims[d];
            float *a = malloc(dim * sizeof(float));
            float *b = malloc(dim * sizeof(float));

            memset(b, 0x7f, dim * sizeof(float)); /* garbage is overwritten */
            dm_hashing_embed(texts[t], strlen(texts[t]), dim, a);
            dm_hashing_embed(texts[t], strlen(texts[t]), dim, b);
            cr_expect_eq(memcmp(a, b, dim * sizeof(float)), 0,
                         "text %zu dim %zu: not bit-identical", t, dim);
            cr_expect(fabs(norm(a, dim) - 1.0) < 1e-6,
                      "text %zu dim %zu: norm %.9f", t, dim, norm(a, dim));
            free(a);
            free(b);
        }
    }
}

Test(hashing, featureless_text_is_zero)
{
    static const char *texts[] = {"", "   \t\n", "?!... ,;", "\x01\x02\xff"};
    float v[32];

    for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
        memset(v, 0x55, sizeof(v));
        dm_hashing_embed(texts[t], strlen(texts[t]), 32, v);
        for (size_t i = 0; i < 32; i++)
            cr_expect_eq(v[i], 0.0f, "text %zu: v[%zu] = %g", t, i,
                         (double)v[i]);
    }
    dm_hashing_embed(NULL, 0, 32, v);
    cr_expect_eq(norm(v, 32), 0.0);
}

Test(hashing, pinned_vector)
{
    /* "hello world": unigrams hello, world; bigram "hello world"; the
     * trigrams of <hello> and <world>.  Values pinned from this
     * implementation; they must never change silently, because stored
     * baselines depend on them. */
    float v[16];
    static const float want[16] = {
        -0.266730875f, -0.266730875f, 0.0f,          0.266730875f,
        -0.32969752f,  -0.596428394f, 0.0f,          0.0f,
        0.0f,          0.266730875f,  -0.266730875f, 0.0f,
        0.0f,          0.32969752f,   0.0f,          -0.266730875f,
    };

    dm_hashing_embed("Hello, World!", 13, 16, v);
    for (size_t i = 0; i < 16; i++)
        cr_expect_eq(v[i], want[i], "v[%zu] = %.9g, pinned %.9g", i,
                     (double)v[i], (double)want[i]);
}

Test(hashing, case_accents_and_punctuation_do_not_matter)
{
    cr_expect(cosine("Hello, World!", "hello world", 256) > 0.999999);
    cr_expect(cosine("Caf\xc3\xa9 R\xc3\xa9sum\xc3\xa9", "cafe resume", 256) >
              0.999999);
}

Test(hashing, similar_texts_are_closer)
{
    static const struct {
        const char *a, *b, *c; /* a is closer to b than to c */
    } triples[] = {
        {"how do I sort a list in python", "sorting a python list",
         "best pizza recipe with mozzarella"},
        {"the answer was wrong and unhelpful",
         "this answer is wrong, not helpful", "great explanation, thanks"},
        {"segmentation fault when freeing a linked list in C",
         "segfault freeing linked list nodes",
         "how to bake sourdough bread at home"},
        {"reset my password", "password reset link not working",
         "weather forecast for tomorrow"},
    };
    static const size_t dims[] = {128, 384, 2048};

    for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++) {
        for (size_t t = 0; t < sizeof(triples) / sizeof(triples[0]); t++) {
            double near = cosine(triples[t].a, triples[t].b, dims[d]);
            double far = cosine(triples[t].a, triples[t].c, dims[d]);
            cr_expect_gt(near, far + 0.1,
                         "dim %zu, triple %zu: cos(a,b) %.4f, cos(a,c) %.4f",
                         dims[d], t, near, far);
        }
    }
}

Test(hashing, dimension_one_and_large)
{
    float one;
    float *big = malloc(100000 * sizeof(float));
    size_t nonzero = 0;

    dm_hashing_embed("a few words here", 16, 1, &one);
    cr_expect(fabs(fabs((double)one) - 1.0) < 1e-6, "dim 1 gives +-1, got %.9g",
              (double)one);
    dm_hashing_embed("a few words here", 16, 100000, big);
    for (size_t i = 0; i < 100000; i++)
        nonzero += big[i] != 0.0f;
    /* 4 unigrams + 3 bigrams + 1+3+5+4 trigrams, few collisions */
    cr_expect(nonzero >= 18 && nonzero <= 20, "nonzero %zu", nonzero);
    cr_expect(fabs(norm(big, 100000) - 1.0) < 1e-6);
    free(big);
}
