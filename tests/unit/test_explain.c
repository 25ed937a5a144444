/*
 * test_explain.c - the explanation of a check (src/stats/explain.c,
 * kmeans.c, terms.c): on synthetic queries from eleven topics with
 * disjoint vocabularies, embedded by the hashing embedder, a topic that
 * appears in the current week is found, named and shown; steady weeks
 * move no topic; the output is deterministic; c-TF-IDF ranks and breaks
 * ties as documented; bad arguments are refused.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/rng.h"
#include "embed/hashing.h"
#include "stats/stats.h"

TestSuite(explain, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

#define TOPICS 11
#define WORDS  12
#define DIM    384
#define NEW    10 /* the topic only the current week has */

static const char *const vocab[TOPICS][WORDS] = {
    {"python", "list", "dictionary", "pandas", "dataframe", "function",
     "decorator", "generator", "numpy", "pip", "virtualenv", "comprehension"},
    {"javascript", "promise", "async", "react", "component", "npm", "closure",
     "typescript", "array", "fetch", "callback", "node"},
    {"integral", "derivative", "probability", "matrix", "eigenvalue", "proof",
     "theorem", "series", "limit", "equation", "prime", "vector"},
    {"puzzle", "riddle", "logic", "deduction", "liar", "chess", "strategy",
     "paradox", "syllogism", "knights", "boxes", "coins"},
    {"recipe", "pasta", "oven", "garlic", "bread", "flour", "sauce", "roast",
     "vegetables", "spices", "dough", "butter"},
    {"flight", "hotel", "itinerary", "passport", "museum", "train", "luggage",
     "beach", "visa", "tickets", "budget", "airport"},
    {"segfault", "exception", "stacktrace", "crash", "null", "pointer",
     "traceback", "core", "dump", "assertion", "panic", "overflow"},
    {"slow", "latency", "profiler", "memory", "leak", "cpu", "cache",
     "bottleneck", "timeout", "query", "index", "throughput"},
    {"endpoint", "parameter", "docstring", "reference", "schema", "openapi",
     "swagger", "authentication", "header", "payload", "version", "changelog"},
    {"readme", "tutorial", "guide", "markdown", "example", "installation",
     "chapter", "diagram", "glossary", "quickstart", "section", "wiki"},
    {"tomato", "soil", "compost", "seedling", "pruning", "greenhouse", "mulch",
     "fertilizer", "orchard", "weeds", "irrigation", "harvest"},
};

/*
 * The hashing embedder is lexical: two queries are alike by the words
 * they share.  So, like synth.c's feedback, the queries are dense in the
 * words of their subject (eight of them) in short frames; with long
 * shared frames, the frames would be the topics.
 */
static const char *const tpl[] = {
    "how %s %s %s %s with %s %s %s %s?",
    "%s %s %s %s, %s %s %s %s",
    "why %s %s %s %s %s %s %s %s",
    "%s %s %s %s or %s %s %s %s?",
};

#define N_TPL (sizeof(tpl) / sizeof(tpl[0]))

/* A window of synthetic queries, their topics and embeddings. */
typedef struct win {
    size_t n;
    char **q;
    int *topic;
} win_t;

/* n queries; a share new_share of them from topic NEW, the rest spread
 * evenly over topics 0..9. */
static void make(win_t *w, size_t n, double new_share, uint64_t seed)
{
    dm_rng_t r;

    dm_rng_seed(&r, seed);
    w->n = n;
    w->q = dm_calloc(n, sizeof(char *));
    w->topic = dm_calloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        int t =
            dm_rng_uniform(&r) < new_share ? NEW : (int)dm_rng_below(&r, NEW);
        const char *const *v = vocab[t];
        char buf[256];

        const char *wd[8];

        for (size_t j = 0; j < 8; j++)
            wd[j] = v[dm_rng_below(&r, WORDS)];
        snprintf(buf, sizeof(buf), tpl[dm_rng_below(&r, N_TPL)], wd[0], wd[1],
                 wd[2], wd[3], wd[4], wd[5], wd[6], wd[7]);
        w->q[i] = dm_strdup(buf);
        w->topic[i] = t;
    }
}

static void win_free(win_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->q[i]);
    free(w->q);
    free(w->topic);
}

/* Pooled embeddings and texts of two windows (caller frees). */
static double *pool(const win_t *b, const win_t *c, const char ***texts)
{
    size_t n = b->n + c->n;
    double *e = dm_mallocarray(n * DIM, sizeof(double));
    float v[DIM];

    *texts = dm_mallocarray(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *q = i < b->n ? b->q[i] : c->q[i - b->n];

        (*texts)[i] = q;
        dm_hashing_embed(q, strlen(q), DIM, v);
        for (size_t d = 0; d < DIM; d++)
            e[i * DIM + d] = (double)v[d];
    }
    return e;
}

static int topic_of(const win_t *b, const win_t *c, size_t row)
{
    return row < b->n ? b->topic[row] : c->topic[row - b->n];
}

static bool in_vocab(int t, const char *term)
{
    for (size_t j = 0; j < WORDS; j++)
        if (strcmp(vocab[t][j], term) == 0)
            return true;
    return false;
}

static void run(const win_t *b, const win_t *c, const unsigned char *pos,
                dm_stats_explain_t *ex)
{
    const char **texts;
    double *e = pool(b, c, &texts);
    char err[256] = "";
    int rc = dm_stats_explain(e, b->n, e + b->n * DIM, c->n, DIM, texts, pos, 0,
                              42, ex, err, sizeof(err));

    cr_assert_eq(rc, DM_OK, "dm_stats_explain: %s", err);
    free(texts);
    free(e);
}

Test(explain, new_topic_is_found_named_and_shown)
{
    win_t b, c;
    dm_stats_explain_t *ex = dm_malloc(sizeof(*ex));
    const dm_stats_topic_t *top = NULL;
    size_t terms = 0, examples = 0, nov = 0;

    make(&b, 1500, 0.0, 1);
    make(&c, 1500, 0.2, 2);
    run(&b, &c, NULL, ex);
    cr_assert_eq(ex->k, DM_STATS_EXPLAIN_TOPICS);
    for (size_t i = 0; i < ex->k; i++)
        if (top == NULL || ex->topics[i].change > top->change)
            top = &ex->topics[i];
    cr_assert_eq(top, &ex->topics[0],
                 "the largest change is first (|%.3f| vs |%.3f|)",
                 ex->topics[0].change, top->change);
    cr_assert_lt(top->baseline_share, 0.02, "baseline share %.4f",
                 top->baseline_share);
    cr_assert(fabs(top->current_share - 0.2) < 0.04, "current share %.4f",
              top->current_share);
    cr_assert_lt(top->p_adjusted, 1e-6, "p_adjusted %g", top->p_adjusted);
    for (size_t j = 0; j < top->n_terms; j++)
        terms += in_vocab(NEW, top->terms[j]);
    cr_assert_eq(top->n_terms, DM_STATS_EXPLAIN_TERMS);
    cr_assert_geq(terms, 4, "%zu of 5 terms from the new topic (first: %s)",
                  terms, top->terms[0]);
    cr_assert_eq(top->n_examples, DM_STATS_EXPLAIN_EXAMPLES);
    for (size_t j = 0; j < top->n_examples; j++) {
        cr_assert_geq(top->examples[j], b.n, "examples from the current week");
        examples += topic_of(&b, &c, top->examples[j]) == NEW;
    }
    cr_assert_geq(examples, 2, "%zu of 3 examples from the new topic",
                  examples);
    cr_assert_eq(ex->n_novel, DM_STATS_EXPLAIN_NOVEL);
    for (size_t j = 0; j < ex->n_novel; j++) {
        cr_assert_geq(ex->novel[j].row, b.n);
        if (j > 0)
            cr_assert_geq(ex->novel[j - 1].distance, ex->novel[j].distance);
        nov += topic_of(&b, &c, ex->novel[j].row) == NEW;
    }
    cr_assert_geq(nov, 8, "%zu of 10 novel queries from the new topic", nov);
    free(ex);
    win_free(&b);
    win_free(&c);
}

Test(explain, steady_weeks_move_no_topic)
{
    win_t b, c;
    dm_stats_explain_t *ex = dm_malloc(sizeof(*ex));

    make(&b, 1500, 0.0, 3);
    make(&c, 1500, 0.0, 4);
    run(&b, &c, NULL, ex);
    for (size_t i = 0; i < ex->k; i++) {
        cr_assert_lt(fabs(ex->topics[i].change), 0.04,
                     "topic %zu (%s) moved %.4f", i, ex->topics[i].terms[0],
                     ex->topics[i].change);
        if (i > 0)
            cr_assert_geq(fabs(ex->topics[i - 1].change),
                          fabs(ex->topics[i].change), "sorted by |change|");
    }
    free(ex);
    win_free(&b);
    win_free(&c);
}

Test(explain, deterministic)
{
    win_t b, c;
    dm_stats_explain_t *x1 = dm_calloc(1, sizeof(*x1));
    dm_stats_explain_t *x2 = dm_calloc(1, sizeof(*x2));

    make(&b, 600, 0.0, 5);
    make(&c, 700, 0.1, 6);
    run(&b, &c, NULL, x1);
    run(&b, &c, NULL, x2);
    /* NAN accuracies compare unequal as doubles; compare the bytes */
    cr_assert_eq(memcmp(x1, x2, sizeof(*x1)), 0, "two runs differ");
    cr_assert_gt(x1->iterations, 1);
    free(x1);
    free(x2);
    win_free(&b);
    win_free(&c);
}

Test(explain, accuracy_per_topic)
{
    win_t b, c;
    dm_stats_explain_t *ex = dm_malloc(sizeof(*ex));
    unsigned char *pos = dm_malloc(2000);
    size_t total = 0;

    make(&b, 1000, 0.0, 7);
    make(&c, 1000, 0.0, 8);
    /* every row positive except current-week rows of topic 4 (cooking) */
    for (size_t i = 0; i < 2000; i++)
        pos[i] = !(i >= 1000 && c.topic[i - 1000] == 4);
    run(&b, &c, pos, ex);
    for (size_t i = 0; i < ex->k; i++) {
        const dm_stats_topic_t *t = &ex->topics[i];
        bool cooking = in_vocab(4, t->terms[0]);

        total += t->baseline_count + t->current_count;
        if (t->baseline_count > 0)
            cr_assert_float_eq(t->baseline_accuracy, 1.0, 1e-12);
        if (cooking)
            cr_assert_lt(t->current_accuracy, 0.1, "cooking %.3f",
                         t->current_accuracy);
        else if (t->current_count > 0)
            cr_assert_gt(t->current_accuracy, 0.9, "%s %.3f", t->terms[0],
                         t->current_accuracy);
    }
    cr_assert_eq(total, 2000);
    free(pos);
    free(ex);
    win_free(&b);
    win_free(&c);
}

Test(explain, ctfidf_ranks_and_breaks_ties_by_term)
{
    /* two rows per topic; rows of one topic identical, so k-means puts
     * each topic in a cluster of its own */
    const char *q[] = {
        "Zebra zebra apple the mango and banana",
        "Zebra zebra apple the mango and banana",
        "apple kiwi 2024 x",
        "apple kiwi 2024 x",
    };
    double e[4 * 2] = {1, 0, 1, 0, 0, 1, 0, 1};
    dm_stats_explain_t *ex = dm_malloc(sizeof(*ex));
    char err[256];
    const dm_stats_topic_t *t0 = NULL;

    cr_assert_eq(dm_stats_explain(e, 2, e + 4, 2, 2, q, NULL, 2, 1, ex, err,
                                  sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(ex->k, 2);
    for (size_t i = 0; i < 2; i++)
        if (strcmp(ex->topics[i].terms[0], "zebra") == 0)
            t0 = &ex->topics[i];
    cr_assert_not_null(t0, "no topic named zebra (%s, %s)",
                       ex->topics[0].terms[0], ex->topics[1].terms[0]);
    /* zebra (tf 4, only here) first; then banana and mango (tf 2, only
     * here) in term order; apple (in both topics) last; stop words,
     * numbers and one-letter words never */
    cr_assert_eq(t0->n_terms, 4);
    cr_assert_str_eq(t0->terms[0], "zebra");
    cr_assert_str_eq(t0->terms[1], "banana");
    cr_assert_str_eq(t0->terms[2], "mango");
    cr_assert_str_eq(t0->terms[3], "apple");
    /* a topic that is all baseline / all current */
    cr_assert_float_eq(fabs(t0->change), 1.0, 1e-12);
    cr_assert_eq(t0->n_examples, 1, "identical texts are shown once");
    free(ex);
}

Test(explain, bad_arguments)
{
    double e[4] = {1, 0, 0, 1};
    const char *q[] = {"a", "b"};
    double bad[4] = {1, (double)NAN, 0, 1};
    dm_stats_explain_t ex;
    char err[256];

    cr_assert_eq(
        dm_stats_explain(e, 0, e, 2, 2, q, NULL, 0, 1, &ex, err, sizeof(err)),
        DM_EINVAL);
    cr_assert_eq(dm_stats_explain(e, 1, e + 2, 1, 0, q, NULL, 0, 1, &ex, err,
                                  sizeof(err)),
                 DM_EINVAL);
    cr_assert_eq(dm_stats_explain(bad, 1, bad + 2, 1, 2, q, NULL, 0, 1, &ex,
                                  err, sizeof(err)),
                 DM_EINVAL);
    cr_assert(strstr(err, "non-finite") != NULL, "%s", err);
}

Test(explain, two_proportion_p)
{
    cr_assert_float_eq(dm_stats_two_prop_p(10, 100, 10, 100), 1.0, 1e-12);
    cr_assert_float_eq(dm_stats_two_prop_p(0, 100, 0, 50), 1.0, 1e-12);
    cr_assert(isnan(dm_stats_two_prop_p(0, 0, 1, 2)));
    /* 50/100 vs 30/100: z = 0.2 / sqrt(.4 .6 .02) = 2.8868, p = 0.003892 */
    cr_assert_float_eq(dm_stats_two_prop_p(50, 100, 30, 100), 0.0038924, 1e-6);
}

/* Rows and positives of six categories (the last is "other"). */
static void intents(const uint64_t *bc, const uint64_t *bp, const uint64_t *cc,
                    const uint64_t *cp, uint64_t min_samples,
                    dm_stats_intent_t *out)
{
    char err[256] = "";

    cr_assert_eq(dm_stats_intents(bc, bp, cc, cp, 6, 5, min_samples, out, err,
                                  sizeof(err)),
                 DM_OK, "%s", err);
}

Test(explain, intent_accuracy_drop_is_named)
{
    /* "debug" (3) drops from 0.9 to 0.6; every other category stays at
     * 0.9 and every share stays put */
    uint64_t bc[6] = {300, 200, 250, 200, 150, 40};
    uint64_t bp[6] = {270, 180, 225, 180, 135, 36};
    uint64_t cc[6] = {310, 190, 240, 210, 160, 38};
    uint64_t cp[6] = {279, 171, 216, 126, 144, 34};
    dm_stats_intent_t out[6];
    dm_stats_psi_t psi;
    char err[256];
    double sum = 0.0;

    intents(bc, bp, cc, cp, 10, out);
    for (size_t i = 0; i < 6; i++) {
        sum += out[i].psi_term;
        if (i == 3) {
            cr_assert_float_eq(out[i].baseline_accuracy, 0.9, 1e-12);
            cr_assert_float_eq(out[i].current_accuracy, 0.6, 1e-12);
            cr_assert_lt(out[i].accuracy_p_adjusted, 1e-6, "debug p %g",
                         out[i].accuracy_p_adjusted);
        } else {
            cr_assert_gt(out[i].accuracy_p_adjusted, 0.05, "%zu: p %g", i,
                         out[i].accuracy_p_adjusted);
        }
        cr_assert_geq(out[i].accuracy_p_adjusted, out[i].accuracy_p_value);
    }
    /* the terms add up to the PSI of the check */
    cr_assert_eq(dm_stats_psi(bc, cc, 6, 5, 10, NULL, &psi, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_float_eq(sum, psi.psi, 1e-12, "sum %.17g, psi %.17g", sum,
                       psi.psi);
    cr_assert_float_eq(out[0].baseline_share, 300.0 / 1140.0, 1e-15);
}

Test(explain, small_intents_merge_into_other_with_their_positives)
{
    uint64_t bc[6] = {100, 3, 100, 100, 100, 10};
    uint64_t bp[6] = {90, 3, 90, 90, 90, 5};
    uint64_t cc[6] = {100, 2, 100, 100, 100, 10};
    uint64_t cp[6] = {90, 0, 90, 90, 90, 5};
    dm_stats_intent_t out[6];
    char err[256];

    intents(bc, bp, cc, cp, 10, out);
    cr_assert_eq(out[1].baseline_count + out[1].current_count, 0);
    cr_assert(isnan(out[1].baseline_accuracy));
    cr_assert(isnan(out[1].accuracy_p_value));
    cr_assert_eq(out[5].baseline_count, 13);
    cr_assert_eq(out[5].baseline_positives, 8);
    cr_assert_eq(out[5].current_count, 12);
    cr_assert_eq(out[5].current_positives, 5);
    /* positives above rows are refused */
    bp[0] = 101;
    cr_assert_eq(
        dm_stats_intents(bc, bp, cc, cp, 6, 5, 10, out, err, sizeof(err)),
        DM_EINVAL);
}
