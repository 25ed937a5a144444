/*
 * config_keys.c - the one declarative schema of the configuration.
 *
 * dm_cfg_keys[] has one line per key: path, C type, offset in
 * dm_config_t, default, bounds, SECRET flag, check, one-line doc.  It is
 * the only description of a key: the libyaml pass (config_scan.c) reads
 * a file against it straight into dm_config_t, and the defaults, the
 * validation, the secret flag, dm_config_dump(), dm_config_free() and
 * the key listing behind the example-file and docs tests all walk it.
 * Adding a key is one line here plus its field in config.h.
 *
 * Also here: the strict scalar syntax shared by the libyaml pass and the
 * defaults, and the typed accessors of a key's field.
 */
#include "config/config_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"

_Static_assert(sizeof(dm_kl_estimator_t) == sizeof(int),
               "CFG_ENUM fields are stored as int");
_Static_assert(sizeof(dm_semantic_test_t) == sizeof(int),
               "CFG_ENUM fields are stored as int");
_Static_assert(sizeof(dm_embeddings_precision_t) == sizeof(int),
               "CFG_ENUM fields are stored as int");

/*
 * The names a config file gives the values of each enum or choice key,
 * NULL-terminated; an enum's by value, so a name cannot drift from the
 * value it stands for.  The enum names are public (config.h), so that
 * output outside this module spells a value as the config does.
 */
static const char *const semantic_test_names[] = {
    [DM_SEMANTIC_TEST_MMD] = "mmd", [DM_SEMANTIC_TEST_KL] = "kl", NULL};
static const char *const kl_estimator_names[] = {
    [DM_KL_ESTIMATOR_EXCESS] = "excess", [DM_KL_ESTIMATOR_RAW] = "raw", NULL};
static const char *const precision_names[] = {
    [DM_EMBEDDINGS_PRECISION_AUTO] = "auto",
    [DM_EMBEDDINGS_PRECISION_FP32] = "fp32",
    [DM_EMBEDDINGS_PRECISION_BF16] = "bf16",
    NULL};
static const char *const backend_names[] = {"sqlite", "postgres", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          NULL};

#define F(field) offsetof(dm_config_t, field)
#define STRMAX   DM_CONFIG_MAX_STRING
#define NUM(path, type, field, def, min, max, flags, doc)                      \
    {                                                                          \
        path, type, F(field), 0, def, min, max, flags, CHK_NONE, NULL, doc     \
    }
#define STR(path, field, def, min, max, flags, check, choices, doc)            \
    {                                                                          \
        path, CFG_STRING, F(field), 0, def, min, max, flags, check, choices,   \
            doc                                                                \
    }
#define ENUM(path, field, def, choices, doc)                                   \
    {                                                                          \
        path, CFG_ENUM, F(field), 0, def, 0, 0, 0, CHK_CHOICE, choices, doc    \
    }
#define LIST(path, field, def, min, max, check, doc)                           \
    {                                                                          \
        path, CFG_LIST, F(field), F(field##_count), def, min, max, 0, check,   \
            NULL, doc                                                          \
    }

#define GT     CFG_MIN_EXCL
#define LT     CFG_MAX_EXCL
#define SECRET CFG_SECRET

/*
 * Every key, grouped by section (dm_config_dump() prints them in this
 * order).  Bounds: numbers [min, max] (GT/LT make an end open), strings
 * min..max bytes, lists min..max items.
 */
const struct cfg_key dm_cfg_keys[] = {
    NUM("thresholds.semantic_threshold", CFG_DOUBLE,
        thresholds.semantic_threshold, "0.05", 0, 1, GT,
        "semantic drift (embeddings.test: mmd) needs at least this share of "
        "current traffic unlike the baseline, 2 (AUC - 0.5) of a domain "
        "classifier"),
    NUM("thresholds.kl_threshold", CFG_DOUBLE, thresholds.kl_threshold, "0.1",
        0, 100, GT,
        "semantic drift (embeddings.test: kl) fires when the KL effect size "
        "is above this"),
    NUM("thresholds.psi_threshold", CFG_DOUBLE, thresholds.psi_threshold, "0.2",
        0, 100, GT,
        "intent drift fires when the PSI in excess of its permutation null "
        "is above this"),
    NUM("thresholds.accuracy_min", CFG_DOUBLE, thresholds.accuracy_min, "0.75",
        0, 1, GT | LT,
        "quality floor: a current accuracy significantly below this is "
        "quality_below_floor (alerted, not drift)"),
    NUM("thresholds.accuracy_min_drop", CFG_DOUBLE,
        thresholds.accuracy_min_drop, "0.05", 0, 1, GT | LT,
        "quality drift fires on a significant drop of the accuracy of at "
        "least this"),

    NUM("monitoring.sliding_window_days", CFG_U32,
        monitoring.sliding_window_days, "7", 1, 365, 0,
        "length of the current window and of the baseline window, in days"),
    NUM("monitoring.check_interval_hours", CFG_DOUBLE,
        monitoring.check_interval_hours, "6", 0, 8760, GT,
        "hours between two background checks"),
    NUM("monitoring.min_samples", CFG_U32, monitoring.min_samples, "100", 1,
        1000000, 0, "fewer rows than this in either window: insufficient_data"),
    NUM("monitoring.max_samples_per_window", CFG_U32,
        monitoring.max_samples_per_window, "5000", 1, 1000000, 0,
        "rows embedded per window at most (a deterministic sample above "
        "that); must be >= min_samples"),

    STR("embeddings.model", embeddings.model,
        "sentence-transformers/all-MiniLM-L6-v2", 1, STRMAX, 0, CHK_NONE, NULL,
        "the embedder: a BERT sentence-transformers model name, or hashing"),
    STR("embeddings.model_path", embeddings.model_path,
        "models/all-MiniLM-L6-v2", 0, STRMAX, 0, CHK_NONE, NULL,
        "directory holding the model files (config.json, "
        "model.safetensors, vocab.txt, ...)"),
    /* batch_size and threads: the encoder's own limits
       (DM_ENCODER_MAX_BATCH / _THREADS; test_embed checks they agree) */
    NUM("embeddings.batch_size", CFG_U32, embeddings.batch_size, "32", 1, 1024,
        0, "texts encoded per batch"),
    NUM("embeddings.dimension", CFG_U32, embeddings.dimension, "384", 1, 16384,
        0,
        "embedding dimension (checked against the model; the bucket "
        "count of the hashing embedder)"),
    NUM("embeddings.bins", CFG_U32, embeddings.bins, "50", 2, 1000, 0,
        "histogram bins per embedding dimension for KL"),
    ENUM("embeddings.test", embeddings.test, "mmd", semantic_test_names,
         "the test that decides semantic drift: kernel MMD with a "
         "permutation p-value and the semantic_threshold effect floor "
         "(mmd), or the seed's KL rule with kl_threshold (kl)"),
    ENUM("embeddings.kl_estimator", embeddings.kl_estimator, "excess",
         kl_estimator_names,
         "effect size compared with kl_threshold: KL in excess of its "
         "permutation null (excess) or the raw KL (raw)"),
    NUM("embeddings.threads", CFG_U32, embeddings.threads, "0", 0, 64, 0,
        "encoder threads; 0 = one per core (at most 64)"),
    ENUM("embeddings.precision", embeddings.precision, "auto", precision_names,
         "precision of the BERT encoder's matrix products: bf16 inputs with "
         "fp32 accumulation (bf16), fp32 (fp32), or bf16 where the CPU "
         "multiplies bf16 natively (AVX512-BF16 or AMX) and fp32 elsewhere "
         "(auto); hashing ignores it"),

    NUM("significance.alpha", CFG_DOUBLE, significance.alpha, "0.05", 0, 1,
        GT | LT, "a signal fires only when its p-value is below this"),
    NUM("significance.permutations", CFG_U32, significance.permutations, "200",
        0, 100000, 0,
        "permutations of the null distribution; (permutations + 1) * alpha > "
        "1"),
    NUM("significance.seed", CFG_U64, significance.seed, "42", 0,
        18446744073709551615.0, 0,
        "seed of the permutation RNG (results are reproducible)"),

    LIST("intents.categories", intents.categories,
         "code reasoning general debug documentation", 1, 256, CHK_LABEL,
         "intent labels tracked by PSI (case-insensitive); any other label "
         "counts as the implicit category other"),
    NUM("intents.min_samples_per_intent", CFG_U32,
        intents.min_samples_per_intent, "10", 0, 1000000, 0,
        "a category with fewer rows (both windows together) is merged into "
        "other"),

    NUM("alerts.enabled", CFG_BOOL, alerts.enabled, "true", 0, 1, 0,
        "send alerts at all"),
    NUM("alerts.repeat_hours", CFG_DOUBLE, alerts.repeat_hours, "24", 0, 8760,
        0,
        "no repeat of an alert of the same or a lower severity within this "
        "many hours"),
    NUM("alerts.include_examples", CFG_BOOL, alerts.include_examples, "false",
        0, 1, 0,
        "show an example query with each top change in alerts (user text)"),
    NUM("alerts.slack.enabled", CFG_BOOL, alerts.slack.enabled, "true", 0, 1, 0,
        "send alerts to Slack (needs webhook_url)"),
    STR("alerts.slack.webhook_url", alerts.slack.webhook_url,
        "${SLACK_WEBHOOK_URL:-}", 0, STRMAX, SECRET, CHK_URL, NULL,
        "Slack incoming webhook URL; empty = no Slack messages"),
    STR("alerts.slack.channel", alerts.slack.channel, "#drift-alerts", 0, 80, 0,
        CHK_NONE, NULL, "channel named in the message"),
    LIST("alerts.slack.mention_users", alerts.slack.mention_users, "", 0, 50,
         CHK_LABEL, "Slack user ids mentioned on critical alerts"),
    NUM("alerts.slack.timeout_seconds", CFG_DOUBLE,
        alerts.slack.timeout_seconds, "10", 0, 300, GT,
        "timeout of one webhook request, in seconds"),
    NUM("alerts.slack.max_retries", CFG_U32, alerts.slack.max_retries, "3", 0,
        10, 0, "retries after a network error, a 429 or a 5xx"),

    NUM("fine_tuning.auto_trigger", CFG_BOOL, fine_tuning.auto_trigger, "true",
        0, 1, 0, "ask the Learning Engine to fine-tune when drift is found"),
    STR("fine_tuning.learning_engine_url", fine_tuning.learning_engine_url,
        "${LEARNING_ENGINE_URL:-http://learning-engine:8003}", 0, STRMAX, 0,
        CHK_BASEURL, NULL,
        "base URL of the Learning Engine (POST {url}/train)"),
    NUM("fine_tuning.min_drift_score", CFG_DOUBLE, fine_tuning.min_drift_score,
        "0.3", 0, 1000, 0, "combined drift score needed to trigger"),
    NUM("fine_tuning.cooldown_hours", CFG_DOUBLE, fine_tuning.cooldown_hours,
        "168", 0, 87600, 0,
        "hours since the last successful trigger before the next one"),
    NUM("fine_tuning.timeout_seconds", CFG_DOUBLE, fine_tuning.timeout_seconds,
        "30", 0, 600, GT, "timeout of the trigger request, in seconds"),
    NUM("fine_tuning.max_retries", CFG_U32, fine_tuning.max_retries, "3", 0, 10,
        0, "retries after a network error, a 429 or a 5xx"),

    STR("database.backend", database.backend, "sqlite", 1, 16, 0, CHK_CHOICE,
        backend_names, "store backend: sqlite or postgres"),
    STR("database.path", database.path, "driftmon.db", 0, STRMAX, 0, CHK_NONE,
        NULL,
        "SQLite database file (sqlite backend); relative to the config "
        "file's directory"),
    STR("database.url", database.url, "", 0, STRMAX, SECRET, CHK_NONE, NULL,
        "PostgreSQL conninfo or postgres:// URL; empty = use host, port, "
        "name, user and password"),
    STR("database.host", database.host, "${POSTGRES_HOST:-localhost}", 0, 255,
        0, CHK_NONE, NULL, "PostgreSQL host"),
    NUM("database.port", CFG_U32, database.port, "${POSTGRES_PORT:-5432}", 1,
        65535, 0, "PostgreSQL port"),
    STR("database.name", database.name, "${POSTGRES_DB:-driftmon}", 0, 63, 0,
        CHK_NONE, NULL, "PostgreSQL database name"),
    STR("database.user", database.user, "${POSTGRES_USER:-driftmon}", 0, 63, 0,
        CHK_NONE, NULL, "PostgreSQL user"),
    STR("database.password", database.password, "${POSTGRES_PASSWORD:-}", 0,
        STRMAX, SECRET, CHK_NONE, NULL, "PostgreSQL password"),
    STR("database.feedback.table", database.feedback.table, "feedback", 1, 127,
        0, CHK_TABLE, NULL, "table of feedback rows (table or schema.table)"),
    STR("database.feedback.id_column", database.feedback.id_column, "id", 1, 63,
        0, CHK_IDENT, NULL, "column: unique row id"),
    STR("database.feedback.query_column", database.feedback.query_column,
        "query", 1, 63, 0, CHK_IDENT, NULL, "column: the user's query"),
    STR("database.feedback.response_column", database.feedback.response_column,
        "response", 1, 63, 0, CHK_IDENT, NULL, "column: the model's response"),
    STR("database.feedback.intent_column", database.feedback.intent_column,
        "intent", 1, 63, 0, CHK_IDENT, NULL, "column: the intent label"),
    STR("database.feedback.positive_column", database.feedback.positive_column,
        "positive", 1, 63, 0, CHK_IDENT, NULL,
        "column: whether the user rated the answer positive"),
    STR("database.feedback.timestamp_column",
        database.feedback.timestamp_column, "created_at", 1, 63, 0, CHK_IDENT,
        NULL, "column: when the row was written"),
    LIST("database.feedback.positive_values", database.feedback.positive_values,
         "", 0, 32, CHK_LABEL,
         "text positive column: the values that count as positive "
         "(case-insensitive), any other is negative; empty = a boolean "
         "column"),
    NUM("database.feedback.positive_threshold", CFG_DOUBLE,
        database.feedback.positive_threshold, "0", 0, 1e9, 0,
        "numeric rating column (e.g. 1-5): a rating >= this is positive; "
        "0 = a boolean column"),

    STR("api.host", api.host, "0.0.0.0", 1, 255, 0, CHK_NONE, NULL,
        "address the HTTP API listens on"),
    NUM("api.port", CFG_U32, api.port, "8004", 1, 65535, 0,
        "port the HTTP API listens on"),
    STR("api.token", api.token, "${DRIFTMON_API_TOKEN:-}", 0, STRMAX, SECRET,
        CHK_NONE, NULL,
        "bearer token required by the mutating endpoints; empty = no auth"),
    NUM("api.max_body_bytes", CFG_U64, api.max_body_bytes, "10485760", 1024,
        1073741824, 0, "largest request body accepted, in bytes"),
    NUM("api.max_connections", CFG_U32, api.max_connections, "1000", 1, 100000,
        0,
        "connections open at once from all clients; more are closed at "
        "once"),
    NUM("api.max_connections_per_ip", CFG_U32, api.max_connections_per_ip, "64",
        1, 100000, 0,
        "connections open at once from one client address; more are "
        "closed at once"),
    NUM("api.idle_timeout_seconds", CFG_U32, api.idle_timeout_seconds, "30", 1,
        3600, 0, "a connection that sends nothing for this long is closed"),

    NUM("explain.topics", CFG_U32, explain.topics, "10", 2, 16, 0,
        "topics the explanation of a check clusters its sample into "
        "(spherical k-means); more splits big topics, fewer merges small "
        "ones"),

    STR("logging.level", logging.level, "info", 1, 16, 0, CHK_CHOICE,
        level_names, "lowest level logged"),
};

const size_t dm_cfg_nkeys = sizeof(dm_cfg_keys) / sizeof(dm_cfg_keys[0]);

/* ---- key lookup and field access ---- */

long dm_cfg_key_index(const char *path, size_t len)
{
    for (size_t i = 0; i < dm_cfg_nkeys; i++)
        if (strlen(dm_cfg_keys[i].path) == len &&
            memcmp(dm_cfg_keys[i].path, path, len) == 0)
            return (long)i;
    return -1;
}

char **dm_cfg_str(dm_config_t *cfg, const struct cfg_key *k)
{
    return (char **)(void *)((char *)cfg + k->off);
}

char ***dm_cfg_list(dm_config_t *cfg, const struct cfg_key *k, unsigned **count)
{
    *count = (unsigned *)(void *)((char *)cfg + k->count_off);
    return (char ***)(void *)((char *)cfg + k->off);
}

void dm_cfg_store(dm_config_t *cfg, const struct cfg_key *k,
                  const union cfg_val *v)
{
    void *p = (char *)cfg + k->off;

    switch (k->type) {
    case CFG_BOOL:
        *(bool *)p = v->b;
        break;
    case CFG_U32:
        *(uint32_t *)p = v->u32;
        break;
    case CFG_U64:
        *(uint64_t *)p = v->u64;
        break;
    case CFG_DOUBLE:
        *(double *)p = v->d;
        break;
    case CFG_ENUM:
        *(int *)p = v->e;
        break;
    case CFG_STRING:
    case CFG_LIST:
        break;
    }
}

/* ---- the strict scalar syntax ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Decimal digits only, no sign, no leading zero (010 is not octal 8). */
static bool uint_syntax(const char *s)
{
    size_t i = 0;

    while (is_digit(s[i]))
        i++;
    return i > 0 && s[i] == '\0' && !(s[0] == '0' && i > 1);
}

/* [-+]? (digits [. digits?] | . digits) ([eE] [-+]? digits)? */
static bool float_syntax(const char *s)
{
    size_t i = 0, mant = 0;

    if (s[i] == '-' || s[i] == '+')
        i++;
    while (is_digit(s[i])) {
        i++;
        mant++;
    }
    if (s[i] == '.') {
        i++;
        while (is_digit(s[i])) {
            i++;
            mant++;
        }
    }
    if (mant == 0)
        return false;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t exp = 0;

        i++;
        if (s[i] == '-' || s[i] == '+')
            i++;
        while (is_digit(s[i])) {
            i++;
            exp++;
        }
        if (exp == 0)
            return false;
    }
    return s[i] == '\0';
}

/* A bound as text: integers exactly (UINT64_MAX too), else %.15g. */
static const char *bound_text(const struct cfg_key *k, double b, char *buf,
                              size_t n)
{
    if (k->type == CFG_U64 && b >= 18446744073709551615.0)
        snprintf(buf, n, "%" PRIu64, UINT64_MAX);
    else
        snprintf(buf, n, "%.15g", b);
    return buf;
}

int dm_cfg_check_bounds(const struct cfg_key *k, double v, char *why, size_t n)
{
    bool gt = (k->flags & CFG_MIN_EXCL) != 0;
    bool lt = (k->flags & CFG_MAX_EXCL) != 0;
    char b[32];

    if (gt ? !(v > k->min) : !(v >= k->min))
        return dm_err_set(why, n, DM_ECONFIG, "must be %s %s",
                          gt ? ">" : ">=", bound_text(k, k->min, b, sizeof(b)));
    if (lt ? !(v < k->max) : !(v <= k->max))
        return dm_err_set(why, n, DM_ECONFIG, "must be %s %s",
                          lt ? "<" : "<=", bound_text(k, k->max, b, sizeof(b)));
    return DM_OK;
}

static int parse_bool(const char *s, union cfg_val *out, char *why, size_t n)
{
    /* YAML 1.1's bool words; any other word is an error (a lenient
     * reader would take it as true). */
    static const struct {
        const char *word;
        bool val;
    } words[] = {{"true", true}, {"false", false}, {"yes", true},
                 {"no", false},  {"on", true},     {"off", false}};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(s, words[i].word) == 0) {
            out->b = words[i].val;
            return DM_OK;
        }
    return dm_err_set(why, n, DM_ECONFIG, "must be true or false");
}

static int parse_uint(const struct cfg_key *k, const char *s,
                      union cfg_val *out, char *why, size_t n)
{
    unsigned long long v;
    int rc;

    if (s[0] == '-' && is_digit(s[1]))
        return dm_err_set(why, n, DM_ECONFIG, "must not be negative");
    if (!uint_syntax(s))
        return dm_err_set(why, n, DM_ECONFIG,
                          "must be a whole number (decimal digits, no "
                          "leading zero)");
    errno = 0;
    v = strtoull(s, NULL, 10);
    if (errno == ERANGE || (k->type == CFG_U32 && v > UINT32_MAX)) {
        char b[32];

        return dm_err_set(why, n, DM_ECONFIG, "must be <= %s",
                          bound_text(k, k->max, b, sizeof(b)));
    }
    rc = dm_cfg_check_bounds(k, (double)v, why, n);
    if (rc != DM_OK)
        return rc;
    if (k->type == CFG_U32)
        out->u32 = (uint32_t)v;
    else
        out->u64 = (uint64_t)v;
    return DM_OK;
}

static int parse_double(const struct cfg_key *k, const char *s,
                        union cfg_val *out, char *why, size_t n)
{
    double v;

    if (!float_syntax(s))
        return dm_err_set(why, n, DM_ECONFIG, "must be a number");
    errno = 0;
    v = strtod(s, NULL);
    /* Overflow and underflow (ERANGE) are errors, not inf or 0. */
    if (errno == ERANGE || !isfinite(v))
        return dm_err_set(why, n, DM_ECONFIG, "is out of range");
    out->d = v;
    return dm_cfg_check_bounds(k, v, why, n);
}

int dm_cfg_choice_fail(const struct cfg_key *k, char *why, size_t n)
{
    char list[128];
    size_t j = 0;

    list[0] = '\0';
    for (size_t i = 0; k->choices[i] != NULL && j < sizeof(list); i++) {
        int w = snprintf(list + j, sizeof(list) - j, "%s%s", i ? ", " : "",
                         k->choices[i]);

        j += w > 0 ? (size_t)w : 0;
    }
    return dm_err_set(why, n, DM_ECONFIG, "must be one of: %s", list);
}

int dm_cfg_choice(const struct cfg_key *k, const char *s)
{
    for (int i = 0; k->choices[i] != NULL; i++)
        if (strcmp(k->choices[i], s) == 0)
            return i;
    return -1;
}

/* The name of value v among names (NULL-terminated), or "?". */
static const char *name_of(const char *const *names, size_t count, int v)
{
    return v >= 0 && (size_t)v < count - 1 ? names[v] : "?";
}

const char *dm_config_semantic_test_name(dm_semantic_test_t t)
{
    return name_of(semantic_test_names,
                   sizeof(semantic_test_names) / sizeof(semantic_test_names[0]),
                   (int)t);
}

const char *dm_config_kl_estimator_name(dm_kl_estimator_t e)
{
    return name_of(kl_estimator_names,
                   sizeof(kl_estimator_names) / sizeof(kl_estimator_names[0]),
                   (int)e);
}

const char *dm_config_precision_name(dm_embeddings_precision_t p)
{
    return name_of(precision_names,
                   sizeof(precision_names) / sizeof(precision_names[0]),
                   (int)p);
}

int dm_cfg_parse_scalar(const struct cfg_key *k, const char *s,
                        union cfg_val *out, char *why, size_t n)
{
    int idx;

    switch (k->type) {
    case CFG_BOOL:
        return parse_bool(s, out, why, n);
    case CFG_U32:
    case CFG_U64:
        return parse_uint(k, s, out, why, n);
    case CFG_DOUBLE:
        return parse_double(k, s, out, why, n);
    case CFG_ENUM:
        idx = dm_cfg_choice(k, s);
        if (idx < 0)
            return dm_cfg_choice_fail(k, why, n);
        out->e = idx;
        return DM_OK;
    case CFG_STRING:
    case CFG_LIST:
        break;
    }
    return dm_err_set(why, n, DM_EINTERNAL, "not a scalar key");
}

/* ---- the public key listing ---- */

size_t dm_config_key_count(void)
{
    return dm_cfg_nkeys;
}

const char *dm_config_key_path(size_t i)
{
    return i < dm_cfg_nkeys ? dm_cfg_keys[i].path : NULL;
}

bool dm_config_key_secret(size_t i)
{
    return i < dm_cfg_nkeys && (dm_cfg_keys[i].flags & CFG_SECRET) != 0;
}

const char *dm_config_key_default(size_t i)
{
    return i < dm_cfg_nkeys ? dm_cfg_keys[i].def : NULL;
}

int dm_config_key_bounds(size_t i, double *min, double *max)
{
    if (i >= dm_cfg_nkeys ||
        (dm_cfg_keys[i].type != CFG_U32 && dm_cfg_keys[i].type != CFG_U64 &&
         dm_cfg_keys[i].type != CFG_DOUBLE))
        return DM_EINVAL;
    *min = dm_cfg_keys[i].min;
    *max = dm_cfg_keys[i].max;
    return DM_OK;
}

const char *dm_config_key_doc(size_t i)
{
    return i < dm_cfg_nkeys ? dm_cfg_keys[i].doc : NULL;
}

int dm_config_key_find(const char *path, size_t *idx)
{
    long i = path ? dm_cfg_key_index(path, strlen(path)) : -1;

    if (i < 0)
        return DM_ENOTFOUND;
    *idx = (size_t)i;
    return DM_OK;
}
