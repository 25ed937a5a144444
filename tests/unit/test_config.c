/*
 * test_config.c - the configuration module: the shipped file and the
 * defaults (the seed's values), partial files, every key through the
 * loader and back out through the key table, the example file and the docs
 * against the key table (pgbouncer optscan style), every class of error with
 * its exact FILE:LINE: KEY: message, ${VAR} expansion and its injection safety,
 * secrets in dumps and errors, and the check-config command.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "common/error.h"
#include "config/config.h"
#include "support/testutil.h"

TestSuite(config, .timeout = 60 * DM_TEST_TIMEOUT_SCALE);

/* Equality assertions that print both sides (each side evaluated once). */
#define EQ_D(a, b)                                                             \
    do {                                                                       \
        double eq_a_ = (a), eq_b_ = (b);                                       \
        cr_assert_eq(eq_a_, eq_b_, "%s = %.17g, want %.17g", #a, eq_a_,        \
                     eq_b_);                                                   \
    } while (0)
#define EQ_U(a, b)                                                             \
    do {                                                                       \
        unsigned long long eq_a_ = (a), eq_b_ = (b);                           \
        cr_assert_eq(eq_a_, eq_b_, "%s = %llu, want %llu", #a, eq_a_, eq_b_);  \
    } while (0)
#define EQ_I(a, b)                                                             \
    do {                                                                       \
        long long eq_a_ = (a), eq_b_ = (b);                                    \
        cr_assert_eq(eq_a_, eq_b_, "%s = %lld, want %lld", #a, eq_a_, eq_b_);  \
    } while (0)

#define SECRET_MARK "s3cr3t-Zq9"

/* The variables the shipped config reads, unset for reproducible runs. */
static const char *const shipped_vars[] = {
    "SLACK_WEBHOOK_URL", "LEARNING_ENGINE_URL", "POSTGRES_HOST",
    "POSTGRES_PORT",     "POSTGRES_DB",         "POSTGRES_USER",
    "POSTGRES_PASSWORD", "DRIFTMON_API_TOKEN",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(shipped_vars) / sizeof(shipped_vars[0]); i++)
        unsetenv(shipped_vars[i]);
}

static void source_path(char *out, size_t n, const char *rel)
{
    const char *root = getenv("DM_SOURCE_ROOT");

    cr_assert_not_null(root, "DM_SOURCE_ROOT is not set");
    snprintf(out, n, "%s/%s", root, rel);
}

/* Writes text to a new temporary .yaml file; its name goes to path. */
static void write_tmp(const char *text, size_t len, char *path, size_t n)
{
    int fd;

    snprintf(path, n, "/tmp/dm_test_config_XXXXXX.yaml");
    fd = mkstemps(path, 5);
    cr_assert_geq(fd, 0, "mkstemps: %s", strerror(errno));
    EQ_I(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Loads text as a file; returns the code, the config and the message. */
static int load_text(const char *text, dm_config_t **cfg, char *path, size_t pn,
                     char *err, size_t en)
{
    int rc;

    write_tmp(text, strlen(text), path, pn);
    err[0] = '\0';
    rc = dm_config_load(path, cfg, err, en);
    unlink(path);
    return rc;
}

static dm_config_t *load_ok(const char *text)
{
    char path[256], err[DM_ERRBUF_SIZE];
    dm_config_t *cfg = NULL;
    int rc = load_text(text, &cfg, path, sizeof(path), err, sizeof(err));

    cr_assert_eq(rc, DM_OK, "load failed (%d): %s\nfile:\n%s", rc, err, text);
    cr_assert_not_null(cfg);
    return cfg;
}

/*
 * Asserts that text fails to load with exactly "FILE:LINE: KEY: msg"
 * ("FILE:LINE: msg" when key is NULL).
 */
static void expect_error(const char *text, int line, const char *key,
                         const char *msg)
{
    char path[256], err[DM_ERRBUF_SIZE], want[DM_ERRBUF_SIZE];
    dm_config_t *cfg = NULL;
    int rc = load_text(text, &cfg, path, sizeof(path), err, sizeof(err));

    cr_assert_eq(rc, DM_ECONFIG, "rc %d, message \"%s\", for:\n%s", rc, err,
                 text);
    cr_assert_null(cfg);
    if (key != NULL)
        snprintf(want, sizeof(want), "%s:%d: %s: %s", path, line, key, msg);
    else
        snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
    cr_assert_str_eq(err, want, "got:  %s\nwant: %s\nfor:\n%s", err, want,
                     text);
}

/*
 * A relative database.path loaded from a file is resolved against the
 * file's directory: "\"/tmp/x.db\"" is the same as the default "\"x.db\"".
 */
static bool same_db_path(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la < lb) {
        const char *t = a;
        a = b;
        b = t;
        la = lb;
        lb = strlen(b);
    }
    return lb >= 2 && a[1] == '/' && b[1] != '/' &&
           strcmp(a + la - (lb - 1), b + 1) == 0 && a[la - lb] == '/';
}

/* Asserts that every key of a and b formats the same, except skip. */
static void assert_same_config(const dm_config_t *a, const dm_config_t *b,
                               const char *skip)
{
    char va[8192], vb[8192];

    for (size_t i = 0; i < dm_config_key_count(); i++) {
        const char *path = dm_config_key_path(i);

        if (skip != NULL && strstr(skip, path) != NULL)
            continue;
        EQ_I(dm_config_key_format(a, i, va, sizeof(va)), DM_OK);
        EQ_I(dm_config_key_format(b, i, vb, sizeof(vb)), DM_OK);
        if (strcmp(path, "database.path") == 0 && same_db_path(va, vb))
            continue;
        cr_assert_str_eq(va, vb, "key %s differs", path);
    }
}

static void assert_seed_defaults(const dm_config_t *c)
{
    static const char *const cats[] = {"code", "reasoning", "general", "debug",
                                       "documentation"};

    /* The seed's YAML. */
    EQ_D(c->thresholds.kl_threshold, 0.1);
    EQ_D(c->thresholds.psi_threshold, 0.2);
    EQ_D(c->thresholds.accuracy_min, 0.75);
    EQ_U(c->monitoring.sliding_window_days, 7);
    EQ_D(c->monitoring.check_interval_hours, 6);
    EQ_U(c->monitoring.min_samples, 100);
    cr_assert_str_eq(c->embeddings.model,
                     "sentence-transformers/all-MiniLM-L6-v2");
    EQ_U(c->embeddings.batch_size, 32);
    EQ_U(c->embeddings.dimension, 384);
    EQ_U(c->intents.categories_count, 5);
    for (unsigned i = 0; i < 5; i++)
        cr_assert_str_eq(c->intents.categories[i], cats[i]);
    EQ_U(c->intents.min_samples_per_intent, 10);
    cr_assert(c->alerts.enabled);
    cr_assert(c->alerts.slack.enabled);
    cr_assert_str_eq(c->alerts.slack.webhook_url, "");
    cr_assert_str_eq(c->alerts.slack.channel, "#drift-alerts");
    cr_assert(c->fine_tuning.auto_trigger);
    cr_assert_str_eq(c->fine_tuning.learning_engine_url,
                     "http://learning-engine:8003");
    EQ_D(c->fine_tuning.min_drift_score, 0.3);
    EQ_D(c->fine_tuning.cooldown_hours, 168);
    /* The new keys (config.h). */
    EQ_U(c->monitoring.max_samples_per_window, 5000);
    cr_assert_str_eq(c->embeddings.model_path, "models/all-MiniLM-L6-v2");
    EQ_U(c->embeddings.bins, 50);
    EQ_I(c->embeddings.kl_estimator, DM_KL_ESTIMATOR_EXCESS);
    EQ_U(c->embeddings.threads, 0);
    EQ_I(c->embeddings.precision, DM_EMBEDDINGS_PRECISION_AUTO);
    EQ_D(c->significance.alpha, 0.05);
    EQ_U(c->significance.permutations, 200);
    EQ_U(c->significance.seed, 42);
    EQ_D(c->alerts.repeat_hours, 24);
    EQ_U(c->alerts.slack.mention_users_count, 0);
    EQ_D(c->alerts.slack.timeout_seconds, 10);
    EQ_U(c->alerts.slack.max_retries, 3);
    EQ_D(c->fine_tuning.timeout_seconds, 30);
    EQ_U(c->fine_tuning.max_retries, 3);
    cr_assert_str_eq(c->database.backend, "sqlite");
    /* from a file, resolved against its directory */
    {
        const char *p = c->database.path;
        size_t l = strlen(p);

        cr_assert(strcmp(p, "driftmon.db") == 0 ||
                      (p[0] == '/' && l > 12 &&
                       strcmp(p + l - 12, "/driftmon.db") == 0),
                  "database.path %s", p);
    }
    cr_assert_str_eq(c->database.url, "");
    cr_assert_str_eq(c->database.host, "localhost");
    EQ_U(c->database.port, 5432);
    cr_assert_str_eq(c->database.name, "driftmon");
    cr_assert_str_eq(c->database.user, "driftmon");
    cr_assert_str_eq(c->database.password, "");
    cr_assert_str_eq(c->database.feedback.table, "feedback");
    cr_assert_str_eq(c->database.feedback.id_column, "id");
    cr_assert_str_eq(c->database.feedback.query_column, "query");
    cr_assert_str_eq(c->database.feedback.response_column, "response");
    cr_assert_str_eq(c->database.feedback.intent_column, "intent");
    cr_assert_str_eq(c->database.feedback.positive_column, "positive");
    cr_assert_str_eq(c->database.feedback.timestamp_column, "created_at");
    cr_assert_str_eq(c->api.host, "0.0.0.0");
    EQ_U(c->api.port, 8004);
    cr_assert_str_eq(c->api.token, "");
    EQ_U(c->api.max_body_bytes, 10485760);
    EQ_U(c->api.max_connections, 1000);
    EQ_U(c->api.max_connections_per_ip, 64);
    EQ_U(c->api.idle_timeout_seconds, 30);
    cr_assert_str_eq(c->logging.level, "info");
}

/* ---- the shipped file, the defaults, partial files ---- */

Test(config, shipped_file_gives_seed_defaults)
{
    char path[4096], err[DM_ERRBUF_SIZE];
    dm_config_t *cfg = NULL;

    clear_env();
    source_path(path, sizeof(path), "configs/drift-monitor.yaml");
    cr_assert_eq(dm_config_load(path, &cfg, err, sizeof(err)), DM_OK, "%s",
                 err);
    assert_seed_defaults(cfg);
    dm_config_free(cfg);
}

Test(config, defaults_are_the_seed_and_the_shipped_file)
{
    char path[4096], err[DM_ERRBUF_SIZE];
    dm_config_t *shipped = NULL, *defaults = NULL;

    clear_env();
    cr_assert_eq(dm_config_defaults(&defaults, err, sizeof(err)), DM_OK, "%s",
                 err);
    assert_seed_defaults(defaults);
    source_path(path, sizeof(path), "configs/drift-monitor.yaml");
    cr_assert_eq(dm_config_load(path, &shipped, err, sizeof(err)), DM_OK, "%s",
                 err);
    assert_same_config(shipped, defaults, NULL);
    dm_config_free(shipped);
    dm_config_free(defaults);
}

Test(config, empty_files_give_defaults)
{
    static const char *const empties[] = {
        "", "# only a comment\n", "---\n", "{}\n", "~\n", "\xEF\xBB\xBF",
    };
    char err[DM_ERRBUF_SIZE];
    dm_config_t *defaults = NULL;

    clear_env();
    EQ_I(dm_config_defaults(&defaults, err, sizeof(err)), DM_OK);
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        dm_config_t *cfg = load_ok(empties[i]);

        assert_same_config(cfg, defaults, NULL);
        dm_config_free(cfg);
    }
    dm_config_free(defaults);
}

Test(config, partial_file_overrides_only_what_it_says)
{
    char err[DM_ERRBUF_SIZE];
    dm_config_t *defaults = NULL, *cfg;

    clear_env();
    cfg = load_ok("thresholds:\n"
                  "  kl_threshold: 0.5\n"
                  "significance:\n"
                  "  permutations: 100000\n"
                  "  alpha: 0.01\n"
                  "alerts:\n"
                  "  slack:\n"
                  "    channel: \"#ml\"\n"
                  "embeddings: {}\n");
    EQ_D(cfg->thresholds.kl_threshold, 0.5);
    EQ_U(cfg->significance.permutations, 100000);
    EQ_D(cfg->significance.alpha, 0.01);
    cr_assert_str_eq(cfg->alerts.slack.channel, "#ml");
    EQ_I(dm_config_defaults(&defaults, err, sizeof(err)), DM_OK);
    assert_same_config(cfg, defaults,
                       "thresholds.kl_threshold significance.permutations "
                       "significance.alpha alerts.slack.channel");
    cr_assert(cfg->alerts.slack.enabled); /* sibling keeps its default */
    dm_config_free(cfg);
    dm_config_free(defaults);
}

/* ---- every key through the loader and the key table ---- */

static const struct {
    const char *path;
    const char *yaml;      /* the value written in the file */
    const char *formatted; /* what dm_config_key_format() gives back */
} every_key[] = {
    {"thresholds.semantic_threshold", "0.08", "0.08"},
    {"thresholds.kl_threshold", "0.25", "0.25"},
    {"thresholds.psi_threshold", "0.35", "0.35"},
    {"thresholds.accuracy_min", "0.6", "0.6"},
    {"thresholds.accuracy_min_drop", "0.1", "0.1"},
    {"monitoring.sliding_window_days", "14", "14"},
    {"monitoring.check_interval_hours", "1.5", "1.5"},
    {"monitoring.min_samples", "50", "50"},
    {"monitoring.max_samples_per_window", "70000", "70000"},
    {"embeddings.model", "hashing", "\"hashing\""},
    {"embeddings.model_path", "\"/opt/m\"", "\"/opt/m\""},
    {"embeddings.batch_size", "8", "8"},
    {"embeddings.dimension", "768", "768"},
    {"embeddings.bins", "20", "20"},
    {"embeddings.test", "kl", "kl"},
    {"embeddings.kl_estimator", "raw", "raw"},
    {"embeddings.threads", "3", "3"},
    {"embeddings.precision", "bf16", "bf16"},
    {"significance.alpha", "0.01", "0.01"},
    {"significance.permutations", "1000", "1000"},
    {"significance.seed", "18446744073709551615", "18446744073709551615"},
    {"intents.categories", "[alpha, \"beta\"]", "[\"alpha\", \"beta\"]"},
    {"intents.min_samples_per_intent", "0", "0"},
    {"alerts.enabled", "false", "false"},
    {"alerts.repeat_hours", "0", "0"},
    {"alerts.include_examples", "yes", "true"},
    {"alerts.slack.enabled", "off", "false"},
    {"alerts.slack.webhook_url",
     "\"https://hooks.example/T/B/" SECRET_MARK "\"", "\"<redacted>\""},
    {"alerts.slack.channel", "\"#ops\"", "\"#ops\""},
    {"alerts.slack.mention_users", "[U1, U2]", "[\"U1\", \"U2\"]"},
    {"alerts.slack.timeout_seconds", "2.5", "2.5"},
    {"alerts.slack.max_retries", "0", "0"},
    {"fine_tuning.auto_trigger", "False", "false"},
    {"fine_tuning.learning_engine_url", "\"https://le.example:9000\"",
     "\"https://le.example:9000\""},
    {"fine_tuning.min_drift_score", "0", "0"},
    {"fine_tuning.cooldown_hours", "0.5", "0.5"},
    {"fine_tuning.timeout_seconds", "5", "5"},
    {"fine_tuning.max_retries", "0", "0"},
    {"database.backend", "postgres", "\"postgres\""},
    {"database.path", "\"\"", "\"\""},
    {"database.url", "\"postgres://u:" SECRET_MARK "@h/db\"", "\"<redacted>\""},
    {"database.host", "db.internal", "\"db.internal\""},
    {"database.port", "6432", "6432"},
    {"database.name", "drift", "\"drift\""},
    {"database.user", "monitor", "\"monitor\""},
    {"database.password", "\"" SECRET_MARK "\"", "\"<redacted>\""},
    {"database.feedback.table", "app.feedback_log", "\"app.feedback_log\""},
    {"database.feedback.id_column", "fid", "\"fid\""},
    {"database.feedback.query_column", "q", "\"q\""},
    {"database.feedback.response_column", "r", "\"r\""},
    {"database.feedback.intent_column", "label", "\"label\""},
    {"database.feedback.positive_column", "thumbs_up", "\"thumbs_up\""},
    {"database.feedback.timestamp_column", "ts", "\"ts\""},
    {"database.feedback.positive_values", "[thumbs_up, \"5 stars\"]",
     "[\"thumbs_up\", \"5 stars\"]"},
    {"database.feedback.positive_threshold", "4", "4"},
    {"api.host", "\"127.0.0.1\"", "\"127.0.0.1\""},
    {"api.port", "9000", "9000"},
    {"api.token", "\"" SECRET_MARK "\"", "\"<redacted>\""},
    {"api.max_body_bytes", "2048", "2048"},
    {"api.max_connections", "500", "500"},
    {"api.max_connections_per_ip", "8", "8"},
    {"api.idle_timeout_seconds", "5", "5"},
    {"explain.topics", "12", "12"},
    {"logging.level", "debug", "\"debug\""},
};

#define N_EVERY (sizeof(every_key) / sizeof(every_key[0]))

/* Appends "path: value" as nested YAML, after the previous path prev. */
static void append_nested(char *out, size_t n, const char *prev,
                          const char *path, const char *value)
{
    size_t len = strlen(out);
    const char *p = path, *q = prev;
    int depth = 0;

    /* Skip the sections shared with the previous path. */
    for (;;) {
        const char *dp = strchr(p, '.'), *dq = strchr(q, '.');

        if (dp == NULL || dq == NULL || dp - p != dq - q ||
            strncmp(p, q, (size_t)(dp - p)) != 0)
            break;
        p = dp + 1;
        q = dq + 1;
        depth++;
    }
    for (const char *dot; (dot = strchr(p, '.')) != NULL; p = dot + 1) {
        len += (size_t)snprintf(out + len, n - len, "%*s%.*s:\n", 2 * depth, "",
                                (int)(dot - p), p);
        depth++;
    }
    snprintf(out + len, n - len, "%*s%s: %s\n", 2 * depth, "", p, value);
}

#define ALONE "database.feedback.positive_threshold"

Test(config, every_key_loads_through_the_schema)
{
    static char yaml[16384];
    char got[1024], def[1024];
    dm_config_t *cfg, *defaults = NULL;
    char err[DM_ERRBUF_SIZE];
    const char *prev = "";

    clear_env();
    cr_assert_eq(N_EVERY, dm_config_key_count(),
                 "the test table has %zu keys, the config %zu", (size_t)N_EVERY,
                 dm_config_key_count());
    yaml[0] = '\0';
    for (size_t i = 0; i < N_EVERY; i++) {
        cr_assert_str_eq(every_key[i].path, dm_config_key_path(i),
                         "test table order");
        /* cannot be set with positive_values: loaded on its own below */
        if (strcmp(every_key[i].path, ALONE) == 0)
            continue;
        append_nested(yaml, sizeof(yaml), prev, every_key[i].path,
                      every_key[i].yaml);
        prev = every_key[i].path;
    }
    cfg = load_ok(yaml);
    EQ_I(dm_config_defaults(&defaults, err, sizeof(err)), DM_OK);
    for (size_t i = 0; i < N_EVERY; i++) {
        dm_config_t *alone = NULL;

        if (strcmp(every_key[i].path, ALONE) == 0) {
            yaml[0] = '\0';
            append_nested(yaml, sizeof(yaml), "", ALONE, every_key[i].yaml);
            alone = load_ok(yaml);
        }
        EQ_I(dm_config_key_format(alone ? alone : cfg, i, got, sizeof(got)),
             DM_OK);
        dm_config_free(alone);
        cr_assert_str_eq(got, every_key[i].formatted, "key %s",
                         every_key[i].path);
        cr_assert_eq(dm_config_key_format(defaults, i, def, sizeof(def)),
                     DM_OK);
        cr_assert_str_neq(got, def, "key %s: test value is the default",
                          every_key[i].path);
    }
    /* Secrets keep their values in the struct. */
    cr_assert_str_eq(cfg->alerts.slack.webhook_url,
                     "https://hooks.example/T/B/" SECRET_MARK);
    cr_assert_str_eq(cfg->database.url, "postgres://u:" SECRET_MARK "@h/db");
    cr_assert_str_eq(cfg->database.password, SECRET_MARK);
    cr_assert_str_eq(cfg->api.token, SECRET_MARK);
    EQ_I(cfg->embeddings.kl_estimator, DM_KL_ESTIMATOR_RAW);
    EQ_I(cfg->embeddings.precision, DM_EMBEDDINGS_PRECISION_BF16);
    EQ_U(cfg->significance.seed, UINT64_MAX);
    dm_config_free(cfg);
    dm_config_free(defaults);
}

Test(config, embeddings_precision_values)
{
    static const struct {
        const char *yaml;
        dm_embeddings_precision_t want;
    } cases[] = {
        {"embeddings:\n  precision: auto\n", DM_EMBEDDINGS_PRECISION_AUTO},
        {"embeddings:\n  precision: fp32\n", DM_EMBEDDINGS_PRECISION_FP32},
        {"embeddings:\n  precision: bf16\n", DM_EMBEDDINGS_PRECISION_BF16},
        {"embeddings:\n  batch_size: 8\n", DM_EMBEDDINGS_PRECISION_AUTO},
    };

    clear_env();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dm_config_t *cfg = load_ok(cases[i].yaml);

        EQ_I(cfg->embeddings.precision, cases[i].want);
        dm_config_free(cfg);
    }
    cr_assert_str_eq(dm_config_precision_name(DM_EMBEDDINGS_PRECISION_AUTO),
                     "auto");
    cr_assert_str_eq(dm_config_precision_name(DM_EMBEDDINGS_PRECISION_FP32),
                     "fp32");
    cr_assert_str_eq(dm_config_precision_name(DM_EMBEDDINGS_PRECISION_BF16),
                     "bf16");
    cr_assert_str_eq(dm_config_precision_name((dm_embeddings_precision_t)7),
                     "?");
}

Test(config, key_listing)
{
    static const char *const secrets[] = {"alerts.slack.webhook_url",
                                          "database.url", "database.password",
                                          "api.token"};
    size_t nsecret = 0, idx;

    for (size_t i = 0; i < dm_config_key_count(); i++) {
        cr_assert_not_null(dm_config_key_path(i));
        cr_assert_not_null(dm_config_key_default(i));
        cr_assert_not_null(dm_config_key_doc(i));
        EQ_I(dm_config_key_find(dm_config_key_path(i), &idx), DM_OK);
        EQ_U(idx, i);
        nsecret += dm_config_key_secret(i);
    }
    EQ_U(nsecret, 4);
    for (size_t i = 0; i < 4; i++) {
        EQ_I(dm_config_key_find(secrets[i], &idx), DM_OK);
        cr_assert(dm_config_key_secret(idx), "%s must be secret", secrets[i]);
    }
    cr_assert_eq(dm_config_key_find("thresholds", &idx), DM_ENOTFOUND);
    cr_assert_eq(dm_config_key_find("nope.key", &idx), DM_ENOTFOUND);
    cr_assert_null(dm_config_key_path(dm_config_key_count()));
}

/* ---- the example file and the docs against the key table ---- */

/*
 * Collects the dotted paths of the leaf keys of a YAML file and their
 * values as written (a list's items joined by spaces, as the key table
 * writes a list default).
 */
static size_t yaml_leaf_paths(const char *file, char paths[][128],
                              char values[][256], size_t max)
{
    FILE *f = fopen(file, "rb");
    yaml_parser_t p;
    yaml_event_t ev;
    char stack[8][64];
    int depth = 0;
    bool want_key[8] = {false};
    char key[64] = "";
    size_t n = 0;
    bool done = false;

    cr_assert_not_null(f, "%s: %s", file, strerror(errno));
    cr_assert(yaml_parser_initialize(&p));
    yaml_parser_set_input_file(&p, f);
    while (!done) {
        cr_assert(yaml_parser_parse(&p, &ev), "%s: YAML error", file);
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (depth > 0)
                snprintf(stack[depth - 1], sizeof(stack[0]), "%s", key);
            want_key[++depth] = true;
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            want_key[depth] = true;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (ev.type == YAML_SCALAR_EVENT && want_key[depth]) {
                snprintf(key, sizeof(key), "%s",
                         (const char *)ev.data.scalar.value);
                want_key[depth] = false;
                break;
            }
            cr_assert_lt(n, max);
            paths[n][0] = '\0';
            for (int i = 0; i < depth - 1; i++) {
                strcat(paths[n], stack[i]);
                strcat(paths[n], ".");
            }
            strcat(paths[n], key);
            values[n][0] = '\0';
            if (ev.type == YAML_SCALAR_EVENT)
                snprintf(values[n], sizeof(values[0]), "%s",
                         (const char *)ev.data.scalar.value);
            want_key[depth] = true;
            if (ev.type == YAML_SEQUENCE_START_EVENT) {
                /* The list's items, space-separated. */
                yaml_event_delete(&ev);
                for (;;) {
                    size_t len = strlen(values[n]);

                    cr_assert(yaml_parser_parse(&p, &ev));
                    if (ev.type == YAML_SEQUENCE_END_EVENT)
                        break;
                    cr_assert_eq(ev.type, YAML_SCALAR_EVENT);
                    snprintf(values[n] + len, sizeof(values[0]) - len, "%s%s",
                             len ? " " : "",
                             (const char *)ev.data.scalar.value);
                    yaml_event_delete(&ev);
                }
            }
            n++;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return n;
}

Test(config, example_file_has_every_key_and_only_known_keys)
{
    static char leaves[256][128], values[256][256];
    char file[4096];
    size_t n;

    source_path(file, sizeof(file), "configs/drift-monitor.yaml");
    n = yaml_leaf_paths(file, leaves, values, 256);
    for (size_t i = 0; i < dm_config_key_count(); i++) {
        size_t j = 0;

        while (j < n && strcmp(leaves[j], dm_config_key_path(i)) != 0)
            j++;
        cr_expect(j < n, "key %s is missing from configs/drift-monitor.yaml",
                  dm_config_key_path(i));
        /* The default as the key table writes it, ${VAR} and all (so the
         * example cannot show a literal where the default reads the
         * environment, which loading it in a clean environment misses). */
        if (j < n)
            cr_expect_str_eq(values[j], dm_config_key_default(i),
                             "configs/drift-monitor.yaml: %s: %s, the key "
                             "table's default %s",
                             leaves[j], values[j], dm_config_key_default(i));
    }
    for (size_t j = 0; j < n; j++) {
        size_t idx;

        cr_expect_eq(dm_config_key_find(leaves[j], &idx), DM_OK,
                     "configs/drift-monitor.yaml has %s, not a config key",
                     leaves[j]);
    }
    cr_assert_eq(n, dm_config_key_count(), "%zu leaves, %zu keys", n,
                 dm_config_key_count());
}

Test(config, docs_document_every_key)
{
    static char doc[256 * 1024];
    char file[4096], needle[160];
    FILE *f;
    size_t len;

    source_path(file, sizeof(file), "docs/configuration.md");
    f = fopen(file, "rb");
    cr_assert_not_null(f, "%s: %s", file, strerror(errno));
    len = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[len] = '\0';
    for (size_t i = 0; i < dm_config_key_count(); i++) {
        /* A table row of the key: "| `path` |". */
        snprintf(needle, sizeof(needle), "| `%s` |", dm_config_key_path(i));
        cr_expect_not_null(strstr(doc, needle),
                           "key %s is not documented in docs/configuration.md",
                           dm_config_key_path(i));
    }
    for (size_t i = 0; i < sizeof(shipped_vars) / sizeof(shipped_vars[0]);
         i++) {
        snprintf(needle, sizeof(needle), "`%s`", shipped_vars[i]);
        cr_expect_not_null(strstr(doc, needle), "variable %s not documented",
                           shipped_vars[i]);
    }
}

/* ---- errors, each with its exact FILE:LINE: KEY: message ---- */

Test(config, error_unknown_key)
{
    expect_error("thresholds:\n"
                 "  kl_threshold: 0.1\n"
                 "  kl_treshold: 0.2\n",
                 3, "thresholds.kl_treshold", "unknown key");
    expect_error("# comment\n\nthreshold:\n  kl_threshold: 0.1\n", 3,
                 "threshold", "unknown key");
    expect_error("alerts:\n  slack:\n    enabled: true\n    webhook: x\n", 4,
                 "alerts.slack.webhook", "unknown key");
    expect_error("thresholds.kl_threshold: 0.3\n", 1, "thresholds.kl_threshold",
                 "unknown key (write nested sections, not dotted names)");
    expect_error("alerts:\n  slack.enabled: false\n", 2, "alerts.slack.enabled",
                 "unknown key (write nested sections, not dotted names)");
}

Test(config, error_wrong_type)
{
    expect_error("thresholds:\n  kl_threshold: abc\n", 2,
                 "thresholds.kl_threshold", "must be a number");
    expect_error("thresholds:\n  kl_threshold: \"0.1\"\n", 2,
                 "thresholds.kl_threshold",
                 "must be a number, not a quoted string");
    expect_error("monitoring:\n  min_samples: [1, 2]\n", 2,
                 "monitoring.min_samples",
                 "must be a whole number, not a list");
    expect_error("embeddings:\n  model:\n    name: x\n", 3, "embeddings.model",
                 "must be a string, not a mapping");
    expect_error("monitoring:\n  min_samples: -5\n", 2,
                 "monitoring.min_samples", "must not be negative");
    expect_error("monitoring:\n  min_samples: 1.5\n", 2,
                 "monitoring.min_samples",
                 "must be a whole number (decimal digits, no leading zero)");
    expect_error("monitoring:\n  min_samples: 010\n", 2,
                 "monitoring.min_samples",
                 "must be a whole number (decimal digits, no leading zero)");
    expect_error("alerts:\n  enabled: maybe\n", 2, "alerts.enabled",
                 "must be true or false");
    expect_error("intents:\n  categories: code\n", 2, "intents.categories",
                 "must be a list of strings, not a scalar");
    expect_error("intents:\n  categories:\n    - code\n    - [a]\n", 4,
                 "intents.categories[1]", "must be a string, not a list");
    expect_error("alerts: true\n", 1, "alerts",
                 "must be a mapping of keys, not a scalar (write {} for an "
                 "empty section)");
    expect_error("api:\n  token: ~\n", 2, "api.token",
                 "must be a string, not null (write \"\" for an empty "
                 "value)");
    expect_error("thresholds:\n  kl_threshold: .inf\n", 2,
                 "thresholds.kl_threshold", "must be a number");
    expect_error("thresholds:\n  kl_threshold: 1e-400\n", 2,
                 "thresholds.kl_threshold", "is out of range");
}

Test(config, error_bad_learning_engine_url)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"http://le:8003/?token=1", "must not have a query (?) or fragment "
                                    "(#): paths are appended to it"},
        {"http://le:8003/#x", "must not have a query (?) or fragment (#): "
                              "paths are appended to it"},
        {"http://", "must name a host"},
        {"https:///train", "must name a host"},
        {"http://:8003", "must name a host"},
        {"http://le:99999", "port must be a number from 1 to 65535"},
        {"http://le:0", "port must be a number from 1 to 65535"},
        {"http://le:", "port must be a number from 1 to 65535"},
        {"http://le:80x", "port must be a number from 1 to 65535"},
        {"http://[::1", "must have a closing ']' after an IPv6 host"},
        {"ftp://le", "must be an http:// or https:// URL"},
    };
    static const char *const good[] = {
        "http://le:8003",
        "https://le/base/",
        "http://[::1]:65535/x",
        "http://user:pw@le:1",
        "",
    };
    char text[256];

    clear_env();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "fine_tuning:\n  learning_engine_url: \"%s\"\n", bad[i].url);
        expect_error(text, 2, "fine_tuning.learning_engine_url", bad[i].why);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text),
                 "fine_tuning:\n  auto_trigger: false\n"
                 "  learning_engine_url: \"%s\"\n",
                 good[i]);
        dm_config_free(load_ok(text));
    }
    /* the Slack webhook: a host and a port too, a query allowed */
    expect_error("alerts:\n  slack:\n    webhook_url: \"http://\"\n", 3,
                 "alerts.slack.webhook_url", "must name a host");
    dm_config_free(load_ok("alerts:\n  slack:\n    webhook_url: "
                           "\"https://hooks.example/x?a=1\"\n"));
}

Test(config, error_positive_mapping_twice)
{
    expect_error("database:\n  feedback:\n    positive_values: [up]\n"
                 "    positive_threshold: 4\n",
                 3, "database.feedback.positive_values",
                 "cannot be set together with "
                 "database.feedback.positive_threshold");
    expect_error("database:\n  feedback:\n    positive_values: [up, UP]\n", 3,
                 "database.feedback.positive_values[1]",
                 "duplicate item \"up\"");
}

Test(config, error_out_of_bounds)
{
    expect_error("thresholds:\n  kl_threshold: 0\n", 2,
                 "thresholds.kl_threshold", "must be > 0");
    expect_error("thresholds:\n  psi_threshold: -0.5\n", 2,
                 "thresholds.psi_threshold", "must be > 0");
    expect_error("thresholds:\n  accuracy_min: 1\n", 2,
                 "thresholds.accuracy_min", "must be < 1");
    expect_error("embeddings:\n  bins: 1\n", 2, "embeddings.bins",
                 "must be >= 2");
    expect_error("embeddings:\n  bins: 1001\n", 2, "embeddings.bins",
                 "must be <= 1000");
    expect_error("monitoring:\n  sliding_window_days: 0\n", 2,
                 "monitoring.sliding_window_days", "must be >= 1");
    expect_error("monitoring:\n  sliding_window_days: 99999999999\n", 2,
                 "monitoring.sliding_window_days", "must be <= 365");
    expect_error("monitoring:\n  check_interval_hours: 0\n", 2,
                 "monitoring.check_interval_hours", "must be > 0");
    expect_error("significance:\n  alpha: 1\n", 2, "significance.alpha",
                 "must be < 1");
    /* (R + 1) alpha <= 1: no permutation p-value could ever fire */
    expect_error("significance:\n  permutations: 19\n", 2,
                 "significance.permutations",
                 "(permutations + 1) * alpha must be > 1 (19 permutations, "
                 "alpha 0.05: the smallest p-value, 1/20, is never below "
                 "alpha; this alpha needs at least 20)");
    /* 0 too: no p-value at all is no test (DESIGN.md 2.2) */
    expect_error("significance:\n  permutations: 0\n", 2,
                 "significance.permutations",
                 "(permutations + 1) * alpha must be > 1 (0 permutations, "
                 "alpha 0.05: the smallest p-value, 1/1, is never below "
                 "alpha; this alpha needs at least 20)");
    expect_error("significance:\n  alpha: 0.001\n", 2, "significance.alpha",
                 "(permutations + 1) * alpha must be > 1 (200 permutations, "
                 "alpha 0.001: the smallest p-value, 1/201, is never below "
                 "alpha; this alpha needs at least 1000)");
    /* the boundary: 20 permutations at alpha 0.05 is valid, 19 is not */
    {
        dm_config_t *ok = load_ok("significance:\n  permutations: 20\n");

        cr_assert_eq(ok->significance.permutations, 20);
        dm_config_free(ok);
    }
    expect_error("significance:\n  permutations: 100001\n", 2,
                 "significance.permutations", "must be <= 100000");
    expect_error("significance:\n  seed: 18446744073709551616\n", 2,
                 "significance.seed", "must be <= 18446744073709551615");
    expect_error("api:\n  port: 0\n", 2, "api.port", "must be >= 1");
    expect_error("database:\n  port: 65536\n", 2, "database.port",
                 "must be <= 65535");
    expect_error("api:\n  max_body_bytes: 10\n", 2, "api.max_body_bytes",
                 "must be >= 1024");
    expect_error("alerts:\n  slack:\n    channel: \"" /* 81 bytes */
                 "#123456789012345678901234567890123456789012345678901234567"
                 "89012345678901234567890\"\n",
                 3, "alerts.slack.channel", "must be at most 80 bytes");
}

Test(config, error_between_keys)
{
    expect_error("monitoring:\n  min_samples: 100\n"
                 "  max_samples_per_window: 50\n",
                 3, "monitoring.max_samples_per_window",
                 "must be >= monitoring.min_samples (100)");
    expect_error("monitoring:\n  min_samples: 6000\n", 2,
                 "monitoring.min_samples",
                 "must be <= monitoring.max_samples_per_window (5000)");
    expect_error("database:\n  path: \"\"\n", 2, "database.path",
                 "must not be empty with the sqlite backend");
    expect_error("database:\n  backend: postgres\n  host: \"\"\n", 3,
                 "database.host",
                 "must not be empty with the postgres backend when "
                 "database.url is empty");
    expect_error("fine_tuning:\n  learning_engine_url: \"\"\n", 2,
                 "fine_tuning.learning_engine_url",
                 "must not be empty when fine_tuning.auto_trigger is on");
    expect_error("database:\n  feedback:\n    id_column: query\n", 3,
                 "database.feedback.id_column",
                 "same column as database.feedback.query_column");
}

Test(config, error_bad_enum)
{
    expect_error("embeddings:\n  kl_estimator: median\n", 2,
                 "embeddings.kl_estimator", "must be one of: excess, raw");
    expect_error("embeddings:\n  kl_estimator: 1\n", 2,
                 "embeddings.kl_estimator", "must be one of: excess, raw");
    expect_error("embeddings:\n  precision: fp16\n", 2, "embeddings.precision",
                 "must be one of: auto, fp32, bf16");
    expect_error("embeddings:\n  precision: 2\n", 2, "embeddings.precision",
                 "must be one of: auto, fp32, bf16");
    expect_error("database:\n  backend: mysql\n", 2, "database.backend",
                 "must be one of: sqlite, postgres");
    expect_error("logging:\n  level: verbose\n", 2, "logging.level",
                 "must be one of: debug, info, warn, error");
}

Test(config, error_bad_identifier)
{
    static const char ident_msg[] =
        "must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 "
        "characters)";
    static const char table_msg[] =
        "must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 "
        "characters) or schema.table";
    dm_config_t *cfg;

    expect_error("database:\n  feedback:\n    table: \"1feedback\"\n", 3,
                 "database.feedback.table", table_msg);
    expect_error("database:\n  feedback:\n    table: \"a.b.c\"\n", 3,
                 "database.feedback.table", table_msg);
    expect_error("database:\n  feedback:\n    table: \"fb; DROP TABLE x\"\n", 3,
                 "database.feedback.table", table_msg);
    expect_error("database:\n  feedback:\n    intent_column: \"a-b\"\n", 3,
                 "database.feedback.intent_column", ident_msg);
    expect_error("database:\n  feedback:\n    id_column: \"s.id\"\n", 3,
                 "database.feedback.id_column", ident_msg);
    expect_error("database:\n  feedback:\n    query_column: "
                 "a234567890123456789012345678901234567890123456789012345678901"
                 "234\n",
                 3, "database.feedback.query_column",
                 "must be at most 63 bytes");
    cfg = load_ok("database:\n  feedback:\n    table: app_1.Feedback_Log\n"
                  "    id_column: _id\n");
    cr_assert_str_eq(cfg->database.feedback.table, "app_1.Feedback_Log");
    cr_assert_str_eq(cfg->database.feedback.id_column, "_id");
    dm_config_free(cfg);
}

Test(config, error_bad_categories)
{
    expect_error("intents:\n  categories: [code, debug, Code]\n", 2,
                 "intents.categories[2]", "duplicate item \"code\"");
    expect_error("intents:\n  categories:\n    - code\n    - other\n", 4,
                 "intents.categories[1]",
                 "\"other\" is implicit (every label not in the list) and "
                 "cannot be configured");
    expect_error("intents:\n  categories: []\n", 2, "intents.categories",
                 "must have 1 to 256 items");
    expect_error("intents:\n  categories:\n    - code\n    - \"\"\n", 4,
                 "intents.categories[1]", "must not be empty");
    expect_error("intents:\n  categories:\n    - code\n    -\n", 4,
                 "intents.categories[1]", "must not be empty");
    expect_error("alerts:\n  slack:\n    mention_users: [U1, U1]\n", 3,
                 "alerts.slack.mention_users[1]", "duplicate item \"U1\"");
}

Test(config, error_duplicate_keys)
{
    expect_error("thresholds:\n  kl_threshold: 0.1\n  kl_threshold: 0.2\n", 3,
                 "thresholds.kl_threshold", "duplicate key (first at line 2)");
    expect_error("api:\n  port: 1\nlogging:\n  level: info\napi:\n  port: 2\n",
                 5, "api", "duplicate key (first at line 1)");
}

Test(config, error_document_shape)
{
    expect_error("- thresholds\n", 1, NULL,
                 "the top level must be a mapping of sections (thresholds:, "
                 "monitoring:, ...), not a list");
    expect_error("hello\n", 1, NULL,
                 "the top level must be a mapping of sections (thresholds:, "
                 "monitoring:, ...), not a scalar");
    expect_error("api:\n  port: 1\n---\napi:\n  port: 2\n", 3, NULL,
                 "only one YAML document is allowed");
    expect_error("thresholds: &t\n  kl_threshold: 0.1\n", 1, "thresholds",
                 "anchors (&name) are not supported");
    expect_error("thresholds:\n  kl_threshold: *t\n", 2,
                 "thresholds.kl_threshold",
                 "aliases (*name) are not supported");
    expect_error("thresholds:\n  kl_threshold: !!float 1\n", 2,
                 "thresholds.kl_threshold", "tags (!name) are not supported");
    expect_error("? [a]\n: 1\n", 1, NULL,
                 "keys must be plain names, not a list");
}

Test(config, error_malformed_yaml)
{
    expect_error("thresholds:\n"
                 "  kl_threshold: 0.1\n"
                 " psi_threshold: 0.2\n",
                 3, NULL,
                 "YAML syntax error: did not find expected key (while "
                 "parsing a block mapping at line 1)");
    expect_error("api:\n  port: 8004\n  token: \"abc\n", 4, NULL,
                 "YAML syntax error: found unexpected end of stream (while "
                 "scanning a quoted scalar at line 3)");
    expect_error("monitoring:\n\tmin_samples: 1\n", 2, NULL,
                 "YAML syntax error: found character that cannot start any "
                 "token (while scanning for the next token at line 2)");
    expect_error("api:\n  port: 8004\n  host: \"\xff\"\n", 3, NULL,
                 "YAML syntax error: invalid leading UTF-8 octet");
}

Test(config, error_missing_and_oversized_file)
{
    char err[DM_ERRBUF_SIZE], path[256], want[512];
    static dm_config_t dummy;
    dm_config_t *cfg = &dummy; /* must be reset to NULL */
    char *big;
    size_t len = DM_CONFIG_MAX_BYTES + 1;

    cr_assert_eq(dm_config_load("/nonexistent/dm.yaml", &cfg, err, sizeof(err)),
                 DM_EIO);
    cr_assert_null(cfg);
    cr_assert_str_eq(err, "/nonexistent/dm.yaml: cannot open: No such file "
                          "or directory");

    big = malloc(len);
    cr_assert_not_null(big);
    memset(big, '#', len);
    big[len - 1] = '\n';
    write_tmp(big, len, path, sizeof(path));
    free(big);
    EQ_I(dm_config_load(path, &cfg, err, sizeof(err)), DM_ECONFIG);
    unlink(path);
    cr_assert_null(cfg);
    snprintf(want, sizeof(want),
             "%s: larger than 1048576 bytes (the limit of a config file)",
             path);
    cr_assert_str_eq(err, want);
}

Test(config, line_numbers_follow_the_value)
{
    /* Block list items, values on a later line, CRLF line ends, a BOM. */
    expect_error("intents:\n"
                 "  categories:\n"
                 "\n"
                 "    - code\n"
                 "    # a comment\n"
                 "    - other\n",
                 6, "intents.categories[1]",
                 "\"other\" is implicit (every label not in the list) and "
                 "cannot be configured");
    expect_error("thresholds:\r\n  psi_threshold: 0.2\r\n"
                 "  kl_threshold:\r\n    0\r\n",
                 4, "thresholds.kl_threshold", "must be > 0");
    expect_error("\xEF\xBB\xBF# c\nembeddings:\n  bins: 1\n", 3,
                 "embeddings.bins", "must be >= 2");
}

/* ---- ${VAR} expansion ---- */

Test(config, env_unset_variable_is_an_error)
{
    unsetenv("DM_TEST_NOPE");
    expect_error("alerts:\n  slack:\n    channel: \"#a\"\n"
                 "    webhook_url: \"${DM_TEST_NOPE}\"\n",
                 4, "alerts.slack.webhook_url",
                 "environment variable DM_TEST_NOPE is not set (use "
                 "${DM_TEST_NOPE:-default} for a default)");
    expect_error("intents:\n  categories:\n    - code\n    - ${DM_TEST_NOPE}\n",
                 4, "intents.categories[1]",
                 "environment variable DM_TEST_NOPE is not set (use "
                 "${DM_TEST_NOPE:-default} for a default)");
    expect_error("database:\n  port: ${DM_TEST_NOPE}\n", 2, "database.port",
                 "environment variable DM_TEST_NOPE is not set (use "
                 "${DM_TEST_NOPE:-default} for a default)");
}

Test(config, env_syntax_errors)
{
    expect_error("api:\n  host: \"${DM_TEST_X\"\n", 2, "api.host",
                 "unterminated ${DM_TEST_X (missing })");
    expect_error("api:\n  host: \"${DM_TEST_X:-a\"\n", 2, "api.host",
                 "unterminated ${DM_TEST_X:-...} (missing })");
    expect_error("api:\n  host: \"${1X}\"\n", 2, "api.host",
                 "invalid ${...}: expected a variable name after ${ (use $${ "
                 "for a literal ${)");
    expect_error("api:\n  host: \"${X-d}\"\n", 2, "api.host",
                 "invalid ${X...}: only ${VAR} and ${VAR:-default} are "
                 "supported");
}

Test(config, env_expansion_rules)
{
    dm_config_t *cfg;

    setenv("DM_TEST_HOST", "db.example", 1);
    setenv("DM_TEST_EMPTY", "", 1);
    unsetenv("DM_TEST_UNSET");
    cfg = load_ok("database:\n"
                  "  host: \"${DM_TEST_HOST}\"\n"
                  "  name: \"${DM_TEST_UNSET:-fallback}\"\n"
                  "  user: \"${DM_TEST_EMPTY:-dflt}\"\n"
                  "  password: \"${DM_TEST_EMPTY}\"\n"
                  "  path: \"pre-${DM_TEST_HOST}-${DM_TEST_UNSET:-}-post\"\n"
                  "api:\n"
                  "  host: \"$${DM_TEST_HOST} pa$$word $5 $ ${DM_TEST_HOST}\"\n"
                  "  token: ${DM_TEST_UNSET:-a:b}\n");
    cr_assert_str_eq(cfg->database.host, "db.example");
    cr_assert_str_eq(cfg->database.name, "fallback");
    cr_assert_str_eq(cfg->database.user, "dflt");
    cr_assert_str_eq(cfg->database.password, "");
    /* relative: resolved against the directory of the file (/tmp) */
    cr_assert_str_eq(cfg->database.path, "/tmp/pre-db.example--post");
    cr_assert_str_eq(cfg->api.host, "${DM_TEST_HOST} pa$$word $5 $ db.example");
    cr_assert_str_eq(cfg->api.token, "a:b");
    dm_config_free(cfg);
}

Test(config, env_value_cannot_inject_yaml)
{
    static const char inject[] = "a\nthresholds:\n  kl_threshold: 9";
    dm_config_t *cfg;

    setenv("DM_TEST_INJECT", inject, 1);
    cfg = load_ok("alerts:\n  slack:\n    channel: \"${DM_TEST_INJECT}\"\n"
                  "embeddings:\n  model_path: ${DM_TEST_INJECT}\n");
    cr_assert_str_eq(cfg->alerts.slack.channel, inject);
    cr_assert_str_eq(cfg->embeddings.model_path, inject);
    EQ_D(cfg->thresholds.kl_threshold, 0.1);
    dm_config_free(cfg);
    /* In a number it is not a number, whatever YAML it holds. */
    expect_error("monitoring:\n  min_samples: ${DM_TEST_INJECT}\n", 2,
                 "monitoring.min_samples",
                 "must be a whole number (decimal digits, no leading zero) "
                 "(after ${VAR} expansion)");
    setenv("DM_TEST_INJECT", "5\nthresholds: {kl_threshold: 9}", 1);
    expect_error("monitoring:\n  min_samples: \"${DM_TEST_INJECT}\"\n", 2,
                 "monitoring.min_samples",
                 "must be a whole number (decimal digits, no leading zero) "
                 "(after ${VAR} expansion)");
}

Test(config, env_in_numbers_bools_and_enums)
{
    dm_config_t *cfg;

    setenv("DM_TEST_PORT", "6543", 1);
    setenv("DM_TEST_BOOL", "no", 1);
    unsetenv("DM_TEST_UNSET");
    /* Multi-byte characters before the values exercise the splice. */
    cfg = load_ok("\xEF\xBB\xBF# caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n"
                  "alerts:\n"
                  "  slack:\n"
                  "    channel: \"#\xC3\xA9t\xC3\xA9\"\n"
                  "    enabled: ${DM_TEST_BOOL}\n"
                  "    timeout_seconds: '${DM_TEST_UNSET:-2.5}'\n"
                  "database:\n"
                  "  port: \"${DM_TEST_PORT}\"\n"
                  "api:\n"
                  "  port: 8${DM_TEST_UNSET:-0}81\n"
                  "embeddings:\n"
                  "  kl_estimator: ${DM_TEST_UNSET:-raw}\n"
                  "  bins: 7\n");
    EQ_U(cfg->database.port, 6543);
    EQ_U(cfg->api.port, 8081);
    cr_assert_not(cfg->alerts.slack.enabled);
    EQ_D(cfg->alerts.slack.timeout_seconds, 2.5);
    EQ_I(cfg->embeddings.kl_estimator, DM_KL_ESTIMATOR_RAW);
    EQ_U(cfg->embeddings.bins, 7);
    cr_assert_str_eq(cfg->alerts.slack.channel, "#\xC3\xA9t\xC3\xA9");
    dm_config_free(cfg);
    /* CRLF line ends and a NEL (U+0085) before a spliced value. */
    cfg = load_ok("# a\xC2\x85"
                  "# b\r\napi:\r\n  host: \"\xE2\x82\xAC\"\r\n"
                  "  port: ${DM_TEST_PORT}\r\n  max_body_bytes: 4096\r\n");
    EQ_U(cfg->api.port, 6543);
    EQ_U(cfg->api.max_body_bytes, 4096);
    dm_config_free(cfg);
    expect_error("database:\n  port: ${DM_TEST_UNSET:-70000}\n", 2,
                 "database.port", "must be <= 65535 (after ${VAR} expansion)");
}

Test(config, env_in_defaults)
{
    char err[DM_ERRBUF_SIZE];
    dm_config_t *cfg = NULL;

    clear_env();
    setenv("POSTGRES_HOST", "pg.internal", 1);
    setenv("POSTGRES_PORT", "6000", 1);
    setenv("LEARNING_ENGINE_URL", "http://le:1", 1);
    cr_assert_eq(dm_config_defaults(&cfg, err, sizeof(err)), DM_OK, "%s", err);
    cr_assert_str_eq(cfg->database.host, "pg.internal");
    EQ_U(cfg->database.port, 6000);
    cr_assert_str_eq(cfg->fine_tuning.learning_engine_url, "http://le:1");
    dm_config_free(cfg);
    setenv("POSTGRES_PORT", "x", 1);
    EQ_I(dm_config_defaults(&cfg, err, sizeof(err)), DM_ECONFIG);
    cr_assert_null(cfg);
    cr_assert_str_eq(err, "(defaults): database.port: must be a whole number "
                          "(decimal digits, no leading zero) (in the default "
                          "value)");
}

/* ---- secrets ---- */

static char *dump_to_string(const dm_config_t *cfg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    cr_assert_not_null(f);
    dm_config_dump(cfg, f);
    fclose(f);
    return out;
}

Test(config, secrets_never_in_dump)
{
    dm_config_t *cfg;
    char *dump;

    clear_env();
    setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/" SECRET_MARK, 1);
    setenv("POSTGRES_PASSWORD", SECRET_MARK "-pw", 1);
    setenv("DRIFTMON_API_TOKEN", SECRET_MARK "-tok", 1);
    cfg = load_ok("database:\n  url: \"host=x password=" SECRET_MARK "\"\n");
    cr_assert_str_eq(cfg->database.password, SECRET_MARK "-pw");
    dump = dump_to_string(cfg);
    cr_assert_null(strstr(dump, SECRET_MARK), "secret in dump:\n%s", dump);
    /* from the environment: the reference; written literally: redacted */
    cr_assert_not_null(
        strstr(dump, "    webhook_url: \"${SLACK_WEBHOOK_URL:-}\"\n"), "%s",
        dump);
    cr_assert_not_null(strstr(dump, "  url: \"<redacted>\"\n"), "%s", dump);
    cr_assert_not_null(strstr(dump, "  password: \"${POSTGRES_PASSWORD:-}\"\n"),
                       "%s", dump);
    cr_assert_not_null(strstr(dump, "  token: \"${DRIFTMON_API_TOKEN:-}\"\n"),
                       "%s", dump);
    free(dump);
    dm_config_free(cfg);

    /* An empty secret is shown empty. */
    clear_env();
    cfg = load_ok("");
    dump = dump_to_string(cfg);
    cr_assert_not_null(strstr(dump, "    webhook_url: \"\"\n"), "%s", dump);
    cr_assert_null(strstr(dump, "<redacted>"), "%s", dump);
    free(dump);
    dm_config_free(cfg);
}

Test(config, secrets_never_in_errors)
{
    char path[256], err[DM_ERRBUF_SIZE];
    dm_config_t *cfg = NULL;
    char yaml[8192];
    int rc;

    clear_env();
    rc = load_text("alerts:\n  slack:\n    webhook_url: \"ftp://" SECRET_MARK
                   "\"\n",
                   &cfg, path, sizeof(path), err, sizeof(err));
    EQ_I(rc, DM_ECONFIG);
    cr_assert_null(strstr(err, SECRET_MARK), "%s", err);
    cr_assert_not_null(strstr(err, ":3: alerts.slack.webhook_url: must be an "
                                   "http:// or https:// URL"),
                       "%s", err);

    setenv("SLACK_WEBHOOK_URL", "https://x/" SECRET_MARK " y", 1);
    rc = load_text("", &cfg, path, sizeof(path), err, sizeof(err));
    EQ_I(rc, DM_ECONFIG);
    cr_assert_null(strstr(err, SECRET_MARK), "%s", err);
    cr_assert_not_null(strstr(err, ": alerts.slack.webhook_url: must be a "
                                   "URL without spaces or control characters "
                                   "(in the default value)"),
                       "%s", err);

    /* Too long: the message names the key and the limit, not the value. */
    clear_env();
    snprintf(yaml, sizeof(yaml), "api:\n  token: \"%s%04500d\"\n", SECRET_MARK,
             7);
    rc = load_text(yaml, &cfg, path, sizeof(path), err, sizeof(err));
    EQ_I(rc, DM_ECONFIG);
    cr_assert_null(strstr(err, SECRET_MARK), "%s", err);
    cr_assert_not_null(strstr(err, ":2: api.token: must be at most 4096 "
                                   "bytes"),
                       "%s", err);

    /* A secret in a YAML syntax error is not echoed either. */
    rc = load_text("database:\n  password: \"" SECRET_MARK "\n", &cfg, path,
                   sizeof(path), err, sizeof(err));
    EQ_I(rc, DM_ECONFIG);
    cr_assert_null(strstr(err, SECRET_MARK), "%s", err);
    cr_assert_null(cfg);
}

Test(config, dump_loads_back)
{
    char path[256], err[DM_ERRBUF_SIZE];
    dm_config_t *cfg, *again = NULL;
    char *dump;

    clear_env();
    setenv("DM_TEST_INJECT", "x\n\"y\" \\ ${Z} \x01", 1);
    cfg =
        load_ok("alerts:\n  slack:\n    channel: \"${DM_TEST_INJECT}\"\n"
                "    mention_users: [\"U 1\", U2]\n"
                "thresholds:\n  kl_threshold: 0.123456789012\n"
                "significance:\n  alpha: 1.2345e-5\n  permutations: 100000\n");
    dump = dump_to_string(cfg);
    write_tmp(dump, strlen(dump), path, sizeof(path));
    cr_assert_eq(dm_config_load(path, &again, err, sizeof(err)), DM_OK,
                 "%s\n%s", err, dump);
    unlink(path);
    assert_same_config(cfg, again, NULL);
    cr_assert_str_eq(again->alerts.slack.channel, "x\n\"y\" \\ ${Z} \x01");
    free(dump);
    dm_config_free(cfg);
    dm_config_free(again);
}

Test(config, dump_with_secrets_loads_back)
{
    char path[256], err[DM_ERRBUF_SIZE];
    dm_config_t *cfg, *again = NULL;
    char *dump;
    size_t n = 0;

    clear_env();
    for (size_t i = 0; i < dm_config_key_count(); i++)
        n += dm_config_key_secret(i);
    cr_assert_leq(n, DM_CONFIG_MAX_SECRETS);
    setenv("DM_TEST_HOOK", "https://hooks.slack.com/" SECRET_MARK, 1);
    setenv("DM_TEST_PGURL", "host=x password=" SECRET_MARK, 1);
    setenv("DRIFTMON_API_TOKEN", "env-token", 1);
    cfg = load_ok("alerts:\n  slack:\n    webhook_url: \"${DM_TEST_HOOK}\"\n"
                  "database:\n  url: \"${DM_TEST_PGURL:-}\"\n"
                  "  password: \"pw-" SECRET_MARK "\"\n"
                  "api:\n  token: \"literal-" SECRET_MARK "\"\n");
    dump = dump_to_string(cfg);
    cr_assert_null(strstr(dump, SECRET_MARK), "secret in dump:\n%s", dump);
    cr_assert_null(strstr(dump, "env-token"), "%s", dump);
    write_tmp(dump, strlen(dump), path, sizeof(path));
    cr_assert_eq(dm_config_load(path, &again, err, sizeof(err)), DM_OK,
                 "%s\n%s", err, dump);
    unlink(path);
    /* references expand again; a literal secret ("<redacted>") loads as
       the key's default, here the environment's token and no password */
    assert_same_config(cfg, again, "database.password api.token");
    cr_assert_str_eq(again->alerts.slack.webhook_url,
                     "https://hooks.slack.com/" SECRET_MARK);
    cr_assert_str_eq(again->database.url, "host=x password=" SECRET_MARK);
    cr_assert_str_eq(again->api.token, "env-token");
    cr_assert_str_eq(again->database.password, "");
    free(dump);
    dm_config_free(cfg);
    dm_config_free(again);
    /* "${A}x${B}" holds a literal between references: redacted */
    setenv("DM_TEST_A", "a", 1);
    cfg = load_ok("api:\n  token: \"${DM_TEST_A}" SECRET_MARK "\"\n");
    dump = dump_to_string(cfg);
    cr_assert_null(strstr(dump, SECRET_MARK), "%s", dump);
    cr_assert_not_null(strstr(dump, "  token: \"<redacted>\"\n"), "%s", dump);
    free(dump);
    dm_config_free(cfg);
}

/* ---- driftmon check-config ---- */

/* Runs the driftmon binary with args; returns its exit code. */
static int run_driftmon(const char *const *args, char *out, size_t on,
                        char *errout, size_t en)
{
    const char *bin = getenv("DM_BINARY");
    char ofile[] = "/tmp/dm_test_out_XXXXXX";
    char efile[] = "/tmp/dm_test_err_XXXXXX";
    char *argv[8];
    int ofd, efd, status = 0, argc = 0;
    pid_t pid;

    cr_assert_not_null(bin, "DM_BINARY is not set");
    argv[argc++] = (char *)(uintptr_t)bin;
    for (size_t i = 0; args[i] != NULL && argc < 7; i++)
        argv[argc++] = (char *)(uintptr_t)args[i];
    argv[argc] = NULL;
    ofd = mkstemp(ofile);
    efd = mkstemp(efile);
    cr_assert(ofd >= 0 && efd >= 0);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(bin, argv);
        _exit(127);
    }
    EQ_I(waitpid(pid, &status, 0), pid);
    close(ofd);
    close(efd);
    tu_read_into(ofile, out, on);
    tu_read_into(efile, errout, en);
    unlink(ofile);
    unlink(efile);
    cr_assert(WIFEXITED(status), "driftmon did not exit normally");
    return WEXITSTATUS(status);
}

Test(config, cli_check_config_shipped_file)
{
    char file[4096], want[4200], out[16384], err[4096];
    const char *args[] = {"check-config", file, NULL};
    const char *alias[] = {"--check-config", file, NULL};

    clear_env();
    source_path(file, sizeof(file), "configs/drift-monitor.yaml");
    snprintf(want, sizeof(want), "%s: ok\n", file);
    cr_assert_eq(run_driftmon(args, out, sizeof(out), err, sizeof(err)), 0,
                 "stderr: %s", err);
    cr_assert_str_eq(out, want);
    cr_assert_str_eq(err, "");
    cr_assert_eq(run_driftmon(alias, out, sizeof(out), err, sizeof(err)), 0,
                 "stderr: %s", err);
    cr_assert_str_eq(out, want);
}

Test(config, cli_check_config_dump_redacts)
{
    char file[4096], want[4200], out[16384], err[4096];
    const char *args[] = {"check-config", file, "--dump", NULL};

    clear_env();
    setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/" SECRET_MARK, 1);
    source_path(file, sizeof(file), "configs/drift-monitor.yaml");
    cr_assert_eq(run_driftmon(args, out, sizeof(out), err, sizeof(err)), 0,
                 "stderr: %s", err);
    cr_assert_null(strstr(out, SECRET_MARK), "%s", out);
    cr_assert_null(strstr(err, SECRET_MARK), "%s", err);
    cr_assert_not_null(
        strstr(out, "    webhook_url: \"${SLACK_WEBHOOK_URL:-}\"\n"), "%s",
        out);
    cr_assert_not_null(strstr(out, "\nthresholds:\n  semantic_threshold: "
                                   "0.05\n  kl_threshold: 0.1\n"),
                       "%s", out);
    snprintf(want, sizeof(want), "%s: ok\n", file);
    cr_assert_str_eq(err, want);
}

Test(config, cli_check_config_bad_file)
{
    char path[256], want[512], out[4096], err[4096];
    const char *args[] = {"check-config", path, NULL};
    const char *none[] = {"check-config", NULL};
    static const char bad[] = "thresholds:\n  kl_threshold: 0\n";

    write_tmp(bad, strlen(bad), path, sizeof(path));
    EQ_I(run_driftmon(args, out, sizeof(out), err, sizeof(err)), 2);
    unlink(path);
    snprintf(want, sizeof(want),
             "driftmon: error: %s:2: thresholds.kl_threshold: must be > 0\n",
             path);
    cr_assert_str_eq(err, want);
    cr_assert_str_eq(out, "");
    EQ_I(run_driftmon(args, out, sizeof(out), err, sizeof(err)), 2);
    cr_assert_not_null(strstr(err, "cannot open"), "%s", err);
    EQ_I(run_driftmon(none, out, sizeof(out), err, sizeof(err)), 2);
    cr_assert_not_null(strstr(err, "driftmon: error: missing FILE"), "%s", err);
}

Test(config, load_buffer_is_load_without_a_file)
{
    /* not NUL-terminated: the loader must stop at len */
    static const char text[] = "thresholds:\n  kl_threshold: 0.25\nXXXX";
    static const char bad[] = "monitoring:\n  min_samples: 0\n";
    char err[DM_ERRBUF_SIZE] = "";
    dm_config_t *cfg = NULL;
    char *big;

    clear_env();
    EQ_I(dm_config_load_buffer("mem.yaml", text, sizeof(text) - 1 - 4, &cfg,
                               err, sizeof(err)),
         DM_OK);
    cr_assert_not_null(cfg);
    EQ_D(cfg->thresholds.kl_threshold, 0.25);
    EQ_D(cfg->thresholds.psi_threshold, 0.2);
    dm_config_free(cfg);

    cfg = NULL;
    EQ_I(dm_config_load_buffer("mem.yaml", "", 0, &cfg, err, sizeof(err)),
         DM_OK);
    cr_assert_not_null(cfg);
    dm_config_free(cfg);

    cfg = NULL;
    EQ_I(dm_config_load_buffer("mem.yaml", bad, strlen(bad), &cfg, err,
                               sizeof(err)),
         DM_ECONFIG);
    cr_assert_null(cfg);
    cr_assert_str_eq(err, "mem.yaml:2: monitoring.min_samples: must be >= 1");

    big = calloc(1, DM_CONFIG_MAX_BYTES + 1);
    cr_assert_not_null(big);
    memset(big, '#', DM_CONFIG_MAX_BYTES + 1);
    EQ_I(dm_config_load_buffer("big.yaml", big, DM_CONFIG_MAX_BYTES + 1, &cfg,
                               err, sizeof(err)),
         DM_ECONFIG);
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, "big.yaml: larger than"), "%s", err);
    free(big);
}

Test(config, relative_database_path_follows_the_config_file)
{
    static const struct {
        const char *path, *want; /* want NULL: as written */
    } cases[] = {
        {"rel.db", "/tmp/rel.db"},   {"sub/dir/x.db", "/tmp/sub/dir/x.db"},
        {"/abs/x.db", NULL},         {":memory:", NULL},
        {"file:x.db?mode=ro", NULL},
    };
    char text[256];

    clear_env();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dm_config_t *cfg;

        snprintf(text, sizeof(text), "database:\n  path: \"%s\"\n",
                 cases[i].path);
        cfg = load_ok(text); /* written into /tmp */
        cr_assert_str_eq(cfg->database.path,
                         cases[i].want ? cases[i].want : cases[i].path);
        dm_config_free(cfg);
    }
}
