/*
 * test_compare.c - `driftmon compare` end to end (the real binary on
 * files) and the analysis layer it shares with the drift check.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/rng.h"
#include "config/config.h"
#include "embed/hashing.h"
#include "monitor/analyze.h"
#include "stats/stats.h"
#include "support/testutil.h"

TestSuite(compare, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

static char tmpdir[64];

static void setup_dir(void)
{
    tu_tmpdir_make(tmpdir, sizeof(tmpdir), "compare");
}

static void teardown_dir(void)
{
    tu_tmpdir_remove(tmpdir);
}

/* Runs driftmon with args; stdout into out (NUL-terminated), stderr into
 * err.  Returns the exit status. */
static int run(const char *args, char *out, size_t outlen, char *err,
               size_t errlen)
{
    return tu_run_binary(args, out, outlen, err, errlen);
}

/* Writes content to tmpdir/name; returns the path (one of 8 rotating
 * buffers). */
static char *write_file(const char *name, const char *content)
{
    static char path[8][600];
    static int next;
    char *p = path[next++ % 8];

    snprintf(p, 600, "%s/%s", tmpdir, name);
    tu_write_file(p, content);
    return p;
}

/* Writes n rows of dim-d normal embeddings shifted by shift, with an
 * intent mix and a positive rate. */
static char *write_rows(const char *name, uint64_t seed, int n, int dim,
                        double shift, double p_pos, int debug_share)
{
    static char path[4][600];
    static int next;
    char *p = path[next++ % 4];
    static const char *intents[] = {"code", "general", "debug"};
    dm_rng_t r;
    FILE *f;

    dm_rng_seed(&r, seed);
    snprintf(p, 600, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < n; i++) {
        int which = (int)dm_rng_below(&r, 100) < debug_share
                        ? 2
                        : (int)dm_rng_below(&r, 2);
        fputs("{\"embedding\":[", f);
        for (int d = 0; d < dim; d++)
            fprintf(f, "%s%.6f", d ? "," : "", dm_rng_normal(&r) + shift);
        fprintf(f, "],\"intent\":\"%s\",\"positive\":%s}\n", intents[which],
                dm_rng_uniform(&r) < p_pos ? "true" : "false");
    }
    fclose(f);
    return p;
}

Test(compare, bundled_example_drifts, .init = setup_dir, .fini = teardown_dir)
{
    static char out[1 << 16], err[4096];
    char args[2048];
    const char *root = getenv("DM_SOURCE_ROOT");
    json_error_t jerr;
    json_t *o;
    int rc;

    snprintf(args, sizeof(args),
             "compare --json --baseline '%s/examples/baseline.jsonl' "
             "--current '%s/examples/current.jsonl'",
             root, root);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 1, "exit %d, stderr: %s", rc, err);
    o = json_loads(out, 0, &jerr);
    cr_assert_not_null(o, "not JSON: %s\n%s", jerr.text, out);
    cr_assert(json_is_true(json_object_get(o, "drift_detected")));
    static const char *keys[] = {"semantic_test",
                                 "semantic_effect",
                                 "semantic_p_value",
                                 "mmd",
                                 "domain_auc",
                                 "kl_divergence",
                                 "kl_max",
                                 "kl_top_dims",
                                 "psi",
                                 "psi_excess",
                                 "psi_p_value",
                                 "baseline_accuracy",
                                 "current_accuracy",
                                 "accuracy_delta",
                                 "accuracy_p_value",
                                 "floor_p_value",
                                 "quality_below_floor",
                                 "combined_score",
                                 "severity",
                                 "drift_detected",
                                 "signals",
                                 "status"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        cr_assert_not_null(json_object_get(o, keys[i]), "missing %s", keys[i]);
    cr_assert_eq(json_array_size(json_object_get(o, "kl_top_dims")), 5);
    cr_assert_str_eq(json_string_value(json_object_get(o, "semantic_test")),
                     "mmd");
    cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "ok");
    /* the example's current week loses ~14 points of satisfaction */
    double delta = json_real_value(json_object_get(o, "accuracy_delta"));
    cr_assert(delta > 0.08 && delta < 0.2, "accuracy_delta %g", delta);
    json_t *sig = json_object_get(o, "signals");
    cr_assert(json_is_true(
        json_object_get(json_object_get(sig, "accuracy"), "fired")));
    cr_assert_str_neq(json_string_value(json_object_get(o, "severity")),
                      "none");
    json_decref(o);

    /* the human table says the same */
    snprintf(args, sizeof(args),
             "compare --baseline '%s/examples/baseline.jsonl' "
             "--current '%s/examples/current.jsonl'",
             root, root);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 1);
    cr_assert(strstr(out, "intent PSI") != NULL, "%s", out);
    cr_assert(strstr(out, "drift DETECTED") != NULL, "%s", out);
}

Test(compare, same_distribution_is_quiet, .init = setup_dir,
     .fini = teardown_dir)
{
    static char out[1 << 16], err[4096];
    char args[2048];
    char *a = write_rows("a.jsonl", 1, 300, 16, 0.0, 0.9, 20);
    char *b = write_rows("b.jsonl", 2, 300, 16, 0.0, 0.9, 20);
    json_t *o;
    int rc;

    snprintf(args, sizeof(args), "compare --json --baseline %s --current %s", a,
             b);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 0, "exit %d: %s %s", rc, err, out);
    o = json_loads(out, 0, NULL);
    cr_assert_not_null(o);
    cr_assert(json_is_false(json_object_get(o, "drift_detected")));
    cr_assert_str_eq(json_string_value(json_object_get(o, "severity")), "none");
    /* raw KL is far above the threshold at this sample size: the
     * permutation null is what keeps the check quiet */
    cr_assert(json_real_value(json_object_get(o, "kl_divergence")) > 0.1);
    json_decref(o);
}

/* Rows with a "text" (query) and its hashing embedding: topics drawn
 * from vocab[0..2], and from vocab[3] with probability new_share. */
static char *write_texts(const char *name, uint64_t seed, int n,
                         double new_share)
{
    static char path[4][600];
    static int next;
    static const char *const vocab[4][6] = {
        {"python", "pandas", "dataframe", "numpy", "decorator", "pip"},
        {"flight", "hotel", "passport", "luggage", "airport", "visa"},
        {"integral", "matrix", "theorem", "eigenvalue", "proof", "limit"},
        {"tomato", "compost", "seedling", "mulch", "orchard", "harvest"},
    };
    char *p = path[next++ % 4];
    float v[64];
    dm_rng_t r;
    FILE *f;

    dm_rng_seed(&r, seed);
    snprintf(p, 600, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < n; i++) {
        int t = dm_rng_uniform(&r) < new_share ? 3 : (int)dm_rng_below(&r, 3);
        char q[256];

        snprintf(q, sizeof(q), "%s %s %s and %s %s",
                 vocab[t][dm_rng_below(&r, 6)], vocab[t][dm_rng_below(&r, 6)],
                 vocab[t][dm_rng_below(&r, 6)], vocab[t][dm_rng_below(&r, 6)],
                 vocab[t][dm_rng_below(&r, 6)]);
        dm_hashing_embed(q, strlen(q), 64, v);
        fputs("{\"embedding\":[", f);
        for (int d = 0; d < 64; d++)
            fprintf(f, "%s%.6f", d ? "," : "", (double)v[d]);
        fprintf(f, "],\"text\":\"%s\",\"intent\":\"code\",\"positive\":%s}\n",
                q, i % 10 ? "true" : "false");
    }
    fclose(f);
    return p;
}

/* With texts, compare explains like a check: the new topic first. */
Test(compare, texts_give_the_explanation, .init = setup_dir,
     .fini = teardown_dir)
{
    static char out[1 << 18], err[4096];
    char args[2048];
    char *a = write_texts("a.jsonl", 5, 300, 0.0);
    char *b = write_texts("b.jsonl", 6, 300, 0.25);
    json_t *o, *ex, *t0, *terms;
    bool named = false;
    int rc;

    snprintf(args, sizeof(args), "compare --json --baseline %s --current %s", a,
             b);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert(rc == 0 || rc == 1, "exit %d: %s", rc, err);
    o = json_loads(out, 0, NULL);
    cr_assert_not_null(o, "%s", out);
    ex = json_object_get(o, "explanation");
    t0 = json_array_get(json_object_get(ex, "topics"), 0);
    terms = json_object_get(t0, "terms");
    cr_assert_not_null(t0, "%s", out);
    for (size_t i = 0; i < json_array_size(terms); i++)
        named |= strstr("tomato compost seedling mulch orchard harvest",
                        json_string_value(json_array_get(terms, i))) != NULL;
    cr_assert(named, "first topic: %s",
              json_string_value(json_array_get(terms, 0)));
    cr_assert_lt(json_real_value(json_object_get(t0, "baseline_share")), 0.02);
    /* four real topics in ten clusters: the new one may be split, so
     * its first piece holds part of its 25% (docs/explain.md) */
    cr_assert_gt(json_real_value(json_object_get(t0, "current_share")), 0.05);
    cr_assert_float_eq(json_real_value(json_object_get(t0, "current_accuracy")),
                       0.9, 0.1);
    cr_assert_eq(json_array_size(json_object_get(ex, "novel")),
                 DM_STATS_EXPLAIN_NOVEL);
    cr_assert_gt(json_array_size(json_object_get(ex, "intents")), 0);
    json_decref(o);

    /* explain.topics: 4 clusters for the four real topics, and the new
     * one is whole: ~0 -> ~0.25 */
    {
        char *cfg = write_file("c.yaml", "explain:\n  topics: 4\n");

        snprintf(args, sizeof(args),
                 "compare --json --config %s --baseline %s --current %s", cfg,
                 a, b);
        rc = run(args, out, sizeof(out), err, sizeof(err));
        cr_assert(rc == 0 || rc == 1, "exit %d: %s", rc, err);
        o = json_loads(out, 0, NULL);
        cr_assert_not_null(o, "%s", out);
        ex = json_object_get(o, "explanation");
        cr_assert_eq(json_integer_value(json_object_get(ex, "k")), 4, "%s",
                     out);
        t0 = json_array_get(json_object_get(ex, "topics"), 0);
        cr_assert_lt(json_real_value(json_object_get(t0, "baseline_share")),
                     0.02);
        cr_assert_float_eq(
            json_real_value(json_object_get(t0, "current_share")), 0.25, 0.06,
            "%s", out);
        json_decref(o);
    }

    /* the human output says it in words */
    snprintf(args, sizeof(args), "compare --baseline %s --current %s", a, b);
    run(args, out, sizeof(out), err, sizeof(err));
    cr_assert(strstr(out, "what changed:") != NULL &&
                  strstr(out, "topic *") != NULL,
              "%s", out);
}

Test(compare, embedding_shift_fires_semantic, .init = setup_dir,
     .fini = teardown_dir)
{
    static char out[1 << 16], err[4096];
    char args[2048];
    char *a = write_rows("a.jsonl", 3, 300, 16, 0.0, 0.9, 20);
    char *b = write_rows("b.jsonl", 4, 300, 16, 1.0, 0.9, 20);
    json_t *o, *kl;
    int rc;

    snprintf(args, sizeof(args), "compare --json --baseline %s --current %s", a,
             b);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    o = json_loads(out, 0, NULL);
    cr_assert_not_null(o);
    kl = json_object_get(json_object_get(o, "signals"), "semantic");
    cr_assert(json_is_true(json_object_get(kl, "fired")));
    cr_assert(json_real_value(json_object_get(o, "semantic_p_value")) < 0.05);
    /* a 1-sd shift of every dimension: nearly every row is separable */
    cr_assert(json_real_value(json_object_get(o, "semantic_effect")) > 0.5);
    cr_assert(json_is_false(json_object_get(
        json_object_get(json_object_get(o, "signals"), "psi"), "fired")));
    json_decref(o);
}

Test(compare, only_some_signals, .init = setup_dir, .fini = teardown_dir)
{
    static char out[1 << 16], err[4096];
    char args[2048];
    char *a = write_file("a.jsonl", "{\"positive\": true}\n"
                                    "{\"positive\": true}\n\n"
                                    "{\"positive\": 1}\n");
    char *b = write_file("b.jsonl", "{\"positive\": false}\n"
                                    "{\"positive\": 0, \"query\": \"x\"}\n");
    char *cfg = write_file("c.yaml", "monitoring:\n  min_samples: 1\n");
    json_t *o;
    int rc;

    snprintf(args, sizeof(args),
             "compare --json --config %s --baseline %s --current %s", cfg, a,
             b);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    o = json_loads(out, 0, NULL);
    cr_assert_not_null(o);
    cr_assert(json_is_null(json_object_get(o, "kl_divergence")));
    cr_assert(json_is_null(json_object_get(o, "psi")));
    cr_assert_float_eq(json_real_value(json_object_get(o, "baseline_accuracy")),
                       1.0, 1e-12);
    cr_assert_float_eq(json_real_value(json_object_get(o, "current_accuracy")),
                       0.0, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(o, "severity")),
                     "critical");
    json_decref(o);
}

/* Fewer rows than monitoring.min_samples: nothing decided, exit 0. */
Test(compare, min_samples_guard, .init = setup_dir, .fini = teardown_dir)
{
    static char out[1 << 16], err[4096];
    char args[2048];
    char *a = write_rows("a.jsonl", 5, 40, 8, 0.0, 0.9, 20);
    char *b = write_rows("b.jsonl", 6, 300, 8, 3.0, 0.1, 90);
    char *cfg = write_file("c.yaml", "monitoring:\n  min_samples: 30\n");
    json_t *o;
    int rc;

    snprintf(args, sizeof(args), "compare --json --baseline %s --current %s", a,
             b);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    o = json_loads(out, 0, NULL);
    cr_assert_not_null(o, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "status")),
                     "insufficient_data");
    cr_assert(json_is_false(json_object_get(o, "drift_detected")));
    cr_assert_eq(json_integer_value(json_object_get(o, "baseline_rows")), 40);
    cr_assert_eq(json_integer_value(json_object_get(o, "min_samples")), 100);
    json_decref(o);

    /* the human form says so too */
    snprintf(args, sizeof(args), "compare --baseline %s --current %s", a, b);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "insufficient data") != NULL, "%s", out);

    /* with a lower min_samples the same files decide (and drift) */
    snprintf(args, sizeof(args),
             "compare --json --config %s --baseline %s --current %s", cfg, a,
             b);
    rc = run(args, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
}

/* A signal in one file only is an input error, never silently dropped. */
Test(compare, one_sided_signal_is_an_error, .init = setup_dir,
     .fini = teardown_dir)
{
    static const struct {
        const char *b, *c, *what;
    } cases[] = {
        {"{\"embedding\":[1,2],\"positive\":true}\n", "{\"positive\":true}\n",
         "\"embedding\" values"},
        {"{\"positive\":true}\n", "{\"positive\":true,\"intent\":\"code\"}\n",
         "\"intent\" values"},
        {"{\"intent\":\"code\",\"positive\":true}\n", "{\"intent\":\"code\"}\n",
         "\"positive\" values"},
    };
    static char out[4096], err[4096];
    char args[2048];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *b = write_file("b.jsonl", cases[i].b);
        char *c = write_file("c.jsonl", cases[i].c);
        int rc;

        snprintf(args, sizeof(args), "compare --baseline %s --current %s", b,
                 c);
        rc = run(args, out, sizeof(out), err, sizeof(err));
        cr_assert_eq(rc, 2, "case %zu: exit %d (%s)", i, rc, err);
        cr_assert_str_eq(out, "", "case %zu printed: %s", i, out);
        cr_assert(strstr(err, cases[i].what) != NULL, "case %zu: %s", i, err);
        cr_assert(strstr(err, "has none") != NULL, "case %zu: %s", i, err);
    }
}

/* Each bad input: exit 2, a message naming file and line, nothing on
 * stdout. */
Test(compare, bad_input_is_reported_with_line, .init = setup_dir,
     .fini = teardown_dir)
{
    static const struct {
        const char *content;
        int line;
        const char *msg;
    } cases[] = {
        {"{\"embedding\":[1,2]}\n{\"embedding\":[1,2,3]}\n", 2,
         "has 3 values, earlier rows have 2"},
        {"{\"embedding\":[1,2]}\n{\"embedding\":[1,\"x\"]}\n", 2,
         "element 1 is not a number"},
        {"{\"embedding\":[1,2]}\n\n{\"embedding\":[1,1e999]}\n", 3,
         "invalid JSON"},
        {"{\"embedding\":[1,2]\n", 1, "invalid JSON"},
        {"[1,2]\n", 1, "not a JSON object"},
        {"{\"embedding\":[]}\n", 1, "non-empty array"},
        {"{\"intent\":5}\n", 1, "intent: must be a string"},
        {"{\"positive\":\"yes\"}\n", 1, "positive: must be"},
        {"{\"positive\":true,\"positive\":false}\n", 1, "invalid JSON"},
    };
    static char out[4096], err[4096];
    char args[2048], want[700];
    char *good = write_file("good.jsonl", "{\"embedding\":[1,2],"
                                          "\"positive\":true}\n");

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *bad = write_file("bad.jsonl", cases[i].content);
        int rc;

        snprintf(args, sizeof(args), "compare --baseline %s --current %s", good,
                 bad);
        rc = run(args, out, sizeof(out), err, sizeof(err));
        cr_assert_eq(rc, 2, "case %zu: exit %d", i, rc);
        cr_assert_str_eq(out, "", "case %zu printed: %s", i, out);
        snprintf(want, sizeof(want), "driftmon: error: %s:%d: ", bad,
                 cases[i].line);
        cr_assert(strstr(err, want) != NULL, "case %zu: want '%s' in '%s'", i,
                  want, err);
        cr_assert(strstr(err, cases[i].msg) != NULL,
                  "case %zu: want '%s' in '%s'", i, cases[i].msg, err);
    }
}

Test(compare, usage_errors, .init = setup_dir, .fini = teardown_dir)
{
    static char out[4096], err[4096];

    cr_assert_eq(
        run("compare --baseline x", out, sizeof(out), err, sizeof(err)), 2);
    cr_assert(strstr(err, "--baseline and --current are required") != NULL);
    cr_assert_eq(run("compare --baseline /nonexistent/a --current /x", out,
                     sizeof(out), err, sizeof(err)),
                 2);
    cr_assert(strstr(err, "/nonexistent/a: cannot open") != NULL, "%s", err);
    cr_assert_eq(run("compare --bogus", out, sizeof(out), err, sizeof(err)), 2);
    cr_assert_eq(run("no-such-command", out, sizeof(out), err, sizeof(err)), 2);
    cr_assert_eq(run("--help", out, sizeof(out), err, sizeof(err)), 0);
    cr_assert(strstr(out, "exit codes:") != NULL);
}

/* The analysis layer directly: the tests, estimators, absent signals. */
Test(compare, analyze_estimators)
{
    dm_config_t *cfg = NULL;
    char err[DM_ERRBUF_SIZE];
    enum { N = 120, D = 8 };
    static double xb[N * D], xc[N * D];
    dm_window_data_t wb = {0}, wc = {0};
    dm_analysis_t a;
    dm_rng_t r;

    cr_assert_eq(dm_config_defaults(&cfg, err, sizeof(err)), DM_OK, "%s", err);
    dm_rng_seed(&r, 11);
    for (int i = 0; i < N * D; i++) {
        xb[i] = dm_rng_normal(&r);
        xc[i] = dm_rng_normal(&r);
    }
    wb.embeddings = xb;
    wb.n_embeddings = N;
    wc.embeddings = xc;
    wc.n_embeddings = N;

    /* default: MMD decides, the seed's KL is reported without its null */
    cr_assert_eq(dm_analyze(cfg, &wb, &wc, D, &a, err, sizeof(err)), DM_OK,
                 "%s", err);
    cr_assert(a.have_semantic && !a.have_psi && !a.have_accuracy);
    cr_assert_eq(a.test, DM_SEMANTIC_TEST_MMD);
    cr_assert(a.kl.kl_divergence > cfg->thresholds.kl_threshold, "raw KL %g",
              a.kl.kl_divergence);
    cr_assert(isnan(a.kl.p_value));
    cr_assert_float_eq(a.semantic_p_value, a.mmd.p_value, 1e-15);
    cr_assert_float_eq(
        a.semantic_effect,
        fmax(0.0, (a.domain.auc - 0.5) + (a.mmd.witness_auc - 0.5)), 1e-15);
    /* one signal: Holm leaves its p-value alone */
    cr_assert_float_eq(a.semantic_p_adjusted, a.semantic_p_value, 1e-15);
    cr_assert(!a.semantic_fired, "same distribution fired: effect %g p %g",
              a.semantic_effect, a.semantic_p_value);

    /* embeddings.test: kl restores the first version's rule */
    cfg->embeddings.test = DM_SEMANTIC_TEST_KL;
    cr_assert_eq(dm_analyze(cfg, &wb, &wc, D, &a, err, sizeof(err)), DM_OK,
                 "%s", err);
    cr_assert_float_eq(a.kl_effect, a.kl.kl_excess, 1e-15);
    cr_assert_float_eq(a.semantic_effect, a.kl.kl_excess, 1e-15);
    cr_assert_not(isnan(a.kl.p_value));
    cr_assert(!a.semantic_fired, "same distribution fired: excess %g p %g",
              a.kl.kl_excess, a.kl.p_value);

    /* the seed's behaviour: raw KL without testing fires */
    cfg->embeddings.kl_estimator = DM_KL_ESTIMATOR_RAW;
    cfg->significance.permutations = 0;
    cr_assert_eq(dm_analyze(cfg, &wb, &wc, D, &a, err, sizeof(err)), DM_OK);
    cr_assert_float_eq(a.kl_effect, a.kl.kl_divergence, 1e-15);
    cr_assert(isnan(a.kl.p_value));
    cr_assert(a.semantic_fired);
    cr_assert(a.verdict.drift_detected);

    /* embeddings in one window only: an error, not a dropped signal */
    wc.n_embeddings = 0;
    err[0] = '\0';
    cr_assert_eq(dm_analyze(cfg, &wb, &wc, D, &a, err, sizeof(err)), DM_EINVAL);
    cr_assert(strstr(err, "only the baseline window") != NULL, "%s", err);
    dm_config_free(cfg);
}

Test(compare, analyze_intent_categories)
{
    dm_config_t *cfg = NULL;
    char err[DM_ERRBUF_SIZE];
    size_t k;

    cr_assert_eq(dm_config_defaults(&cfg, err, sizeof(err)), DM_OK, "%s", err);
    k = dm_analyze_categories(cfg);
    cr_assert_eq(k, cfg->intents.categories_count + 1);
    cr_assert_str_eq(dm_analyze_category_name(cfg, k - 1), "other");
    cr_assert_eq(dm_analyze_category_of(cfg, "code"), 0);
    cr_assert_eq(dm_analyze_category_of(cfg, "CODE"), 0);
    cr_assert_eq(dm_analyze_category_of(cfg, "smalltalk"), k - 1);
    cr_assert_eq(dm_analyze_category_of(cfg, NULL), k - 1);
    dm_config_free(cfg);
}
