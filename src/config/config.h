/*
 * config.h - driftmon's configuration: one YAML file, one schema.
 *
 * The file (configs/drift-monitor.yaml) is read by one libyaml pass
 * against the key table (src/config/config_keys.c, one line per key)
 * into a dm_config_t.  Every key has a default, so an empty file is valid.
 * After parsing, "${VAR}" and "${VAR:-default}" in string values are
 * replaced from the environment (never before parsing, so an environment
 * value cannot inject YAML); an unset variable without a default is an
 * error.  A ${VAR} in a number, bool or enum value is expanded too and
 * the result must then be a valid value of that type (so it cannot carry
 * YAML either).  Then every value is bounds-checked.  Unknown keys and
 * wrong types are rejected.  Every error names the file, the line and the key
 * path: "drift-monitor.yaml:12: thresholds.kl_threshold: must be > 0".
 *
 * Keys flagged secret (alerts.slack.webhook_url, database.url,
 * database.password, api.token) are never printed: dm_config_dump()
 * writes "<redacted>" in their place.
 *
 * Ownership: a dm_config_t comes from dm_config_load() or
 * dm_config_defaults() and is released with dm_config_free(); all its
 * strings belong to it.  It is read-only once loaded and may then be
 * shared between threads.
 */
#ifndef DM_CONFIG_CONFIG_H
#define DM_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

/* Largest config file accepted, in bytes. */
#define DM_CONFIG_MAX_BYTES (1024 * 1024)
/* Longest string value accepted (after ${VAR} expansion), in bytes. */
#define DM_CONFIG_MAX_STRING 4096

typedef enum dm_kl_estimator {
    DM_KL_ESTIMATOR_EXCESS = 0, /* effect = kl_excess (default) */
    DM_KL_ESTIMATOR_RAW = 1     /* effect = raw kl_divergence (seed) */
} dm_kl_estimator_t;

/* The test that decides semantic drift (embeddings.test). */
typedef enum dm_semantic_test {
    DM_SEMANTIC_TEST_MMD = 0, /* kernel MMD + domain-classifier effect */
    DM_SEMANTIC_TEST_KL = 1   /* the seed's rule: KL over kl_threshold */
} dm_semantic_test_t;

/*
 * Precision of the BERT encoder's matrix products (embeddings.precision).
 * The config's own enum: config does not include embed; the monitor maps
 * it onto dm_embed_precision_t with a switch.
 */
typedef enum dm_embeddings_precision {
    DM_EMBEDDINGS_PRECISION_AUTO = 0, /* bf16 where the CPU has it natively */
    DM_EMBEDDINGS_PRECISION_FP32 = 1,
    DM_EMBEDDINGS_PRECISION_BF16 = 2 /* bf16 inputs, fp32 accumulation */
} dm_embeddings_precision_t;

/*
 * The name a config file gives t, e or p ("mmd", "excess", "auto"), for output
 * that shows the setting; "?" for a value that is not one of the enum's. Static
 * strings; thread-safe.
 */
const char *dm_config_semantic_test_name(dm_semantic_test_t t);
const char *dm_config_kl_estimator_name(dm_kl_estimator_t e);
const char *dm_config_precision_name(dm_embeddings_precision_t p);

typedef struct dm_config_thresholds {
    double semantic_threshold; /* 0.05: share of traffic unlike baseline */
    double kl_threshold;       /* 0.1 (embeddings.test: kl) */
    double psi_threshold;      /* 0.2, on psi_excess */
    double accuracy_min;       /* 0.75: the quality floor */
    double accuracy_min_drop;  /* 0.05: smallest drop that is drift */
} dm_config_thresholds_t;

typedef struct dm_config_monitoring {
    uint32_t sliding_window_days;    /* 7 */
    double check_interval_hours;     /* 6 */
    uint32_t min_samples;            /* 100 */
    uint32_t max_samples_per_window; /* 5000 */
} dm_config_monitoring_t;

typedef struct dm_config_embeddings {
    char *model;             /* "sentence-transformers/all-MiniLM-L6-v2" */
    char *model_path;        /* "models/all-MiniLM-L6-v2" */
    uint32_t batch_size;     /* 32 */
    uint32_t dimension;      /* 384 */
    uint32_t bins;           /* 50 */
    dm_semantic_test_t test; /* mmd */
    dm_kl_estimator_t kl_estimator;      /* excess */
    uint32_t threads;                    /* 0 = all cores */
    dm_embeddings_precision_t precision; /* auto */
} dm_config_embeddings_t;

typedef struct dm_config_significance {
    double alpha;          /* 0.05 */
    uint32_t permutations; /* 200; 0 = testing off */
    uint64_t seed;         /* 42 */
} dm_config_significance_t;

typedef struct dm_config_intents {
    char **categories; /* code reasoning general debug documentation */
    unsigned categories_count;
    uint32_t min_samples_per_intent; /* 10 */
} dm_config_intents_t;

typedef struct dm_config_slack {
    bool enabled;         /* true */
    char *webhook_url;    /* SECRET; "${SLACK_WEBHOOK_URL:-}" */
    char *channel;        /* "#drift-alerts" */
    char **mention_users; /* [] */
    unsigned mention_users_count;
    double timeout_seconds; /* 10 */
    uint32_t max_retries;   /* 3 */
} dm_config_slack_t;

typedef struct dm_config_alerts {
    bool enabled;          /* true */
    double repeat_hours;   /* 24 */
    bool include_examples; /* false: example queries are user text */
    dm_config_slack_t slack;
} dm_config_alerts_t;

typedef struct dm_config_fine_tuning {
    bool auto_trigger;         /* true */
    char *learning_engine_url; /* "http://learning-engine:8003" */
    double min_drift_score;    /* 0.3 */
    double cooldown_hours;     /* 168 */
    double timeout_seconds;    /* 30 */
    uint32_t max_retries;      /* 3 */
} dm_config_fine_tuning_t;

typedef struct dm_config_feedback_table {
    char *table;            /* "feedback" */
    char *id_column;        /* "id" */
    char *query_column;     /* "query" */
    char *response_column;  /* "response" */
    char *intent_column;    /* "intent" */
    char *positive_column;  /* "positive" */
    char *timestamp_column; /* "created_at" */
    /* how positive_column reads (at most one of the two is set):
       values: [] = a boolean column; else the text labels that count as
       positive (case-insensitive); threshold: 0 = a boolean column; else
       a numeric rating >= threshold is positive */
    char **positive_values; /* [] */
    unsigned positive_values_count;
    double positive_threshold; /* 0 */
} dm_config_feedback_table_t;

typedef struct dm_config_database {
    char *backend;  /* "sqlite" or "postgres" */
    char *path;     /* SQLite file: "driftmon.db" */
    char *url;      /* SECRET; PostgreSQL conninfo/URL, "" = use fields */
    char *host;     /* "${POSTGRES_HOST:-localhost}" */
    uint32_t port;  /* 5432 */
    char *name;     /* "${POSTGRES_DB:-driftmon}" */
    char *user;     /* "${POSTGRES_USER:-driftmon}" */
    char *password; /* SECRET; "${POSTGRES_PASSWORD:-}" */
    dm_config_feedback_table_t feedback;
} dm_config_database_t;

typedef struct dm_config_api {
    char *host;                      /* bind address "0.0.0.0" */
    uint32_t port;                   /* 8004 */
    char *token;                     /* SECRET; "" = no auth */
    uint64_t max_body_bytes;         /* 10 MiB */
    uint32_t max_connections;        /* open at once, all clients: 1000 */
    uint32_t max_connections_per_ip; /* open at once from one address: 64 */
    uint32_t idle_timeout_seconds;   /* an idle connection is closed: 30 */
} dm_config_api_t;

typedef struct dm_config_explain {
    uint32_t topics; /* k of the topic k-means: 10 */
} dm_config_explain_t;

typedef struct dm_config_logging {
    char *level; /* "info" */
} dm_config_logging_t;

/* At most this many keys are flagged secret (config_keys.c checks). */
#define DM_CONFIG_MAX_SECRETS 8

/* A secret loaded as "<redacted>" (a dump's redaction): the key's default. */
#define DM_CONFIG_REDACTED "<redacted>"

typedef struct dm_config {
    dm_config_thresholds_t thresholds;
    dm_config_monitoring_t monitoring;
    dm_config_embeddings_t embeddings;
    dm_config_significance_t significance;
    dm_config_intents_t intents;
    dm_config_alerts_t alerts;
    dm_config_fine_tuning_t fine_tuning;
    dm_config_database_t database;
    dm_config_api_t api;
    dm_config_explain_t explain;
    dm_config_logging_t logging;
    /*
     * Not keys (no YAML of their own): for the i-th secret key in key
     * table order, its text before ${VAR} expansion when that text is
     * nothing but references such as "${SLACK_WEBHOOK_URL}" (no literal
     * that could be a secret), else NULL.  A dump writes the reference in
     * place of the secret, so the dump loads back.  Owned by the config.
     */
    char *secret_ref[DM_CONFIG_MAX_SECRETS];
} dm_config_t;

/*
 * Loads, expands and validates the YAML file at path.  On success *out is
 * a new config (free with dm_config_free()).  On failure returns
 * DM_ECONFIG (or DM_EIO when the file cannot be read) with
 * "FILE:LINE: KEY.PATH: reason" in errbuf, and *out is NULL.
 */
int dm_config_load(const char *path, dm_config_t **out, char *errbuf,
                   size_t errlen) DM_MUSTCHECK;

/*
 * As dm_config_load(), for the len bytes at data (need not be
 * NUL-terminated; at most DM_CONFIG_MAX_BYTES), with name standing for
 * the file name in messages.  data is only read during the call.
 */
int dm_config_load_buffer(const char *name, const char *data, size_t len,
                          dm_config_t **out, char *errbuf,
                          size_t errlen) DM_MUSTCHECK;

/* A new config holding every default (environment expanded). */
int dm_config_defaults(dm_config_t **out, char *errbuf,
                       size_t errlen) DM_MUSTCHECK;

/* NULL-safe. */
void dm_config_free(dm_config_t *cfg);

/*
 * Writes the effective config as YAML to f.  A secret is written as the
 * ${VAR} reference it came from (see secret_ref), or as "<redacted>"
 * when it was written literally, or "" when empty, never as its value.
 * The dump loads back: a reference expands again, and "<redacted>" loads
 * as the key's default (so a literal secret is lost: keep secrets in the
 * environment).
 */
void dm_config_dump(const dm_config_t *cfg, FILE *f);

/* Number of documented keys and the dotted path of key i (for tests). */
size_t dm_config_key_count(void);
const char *dm_config_key_path(size_t i);
bool dm_config_key_secret(size_t i);

/*
 * Finds the key with dotted path (e.g. "thresholds.kl_threshold") and
 * stores its index in *idx.  Returns DM_OK or DM_ENOTFOUND.
 */
int dm_config_key_find(const char *path, size_t *idx) DM_MUSTCHECK;

/* The built-in default of key i as written in YAML (before ${VAR}). */
const char *dm_config_key_default(size_t i);

/*
 * The bounds of number key i (closed or open as the docs table says), for
 * command-line options that set the same thing, so the two cannot
 * differ.  Returns DM_OK, or DM_EINVAL when i is not a number key.
 */
int dm_config_key_bounds(size_t i, double *min, double *max) DM_MUSTCHECK;

/* A one-line description of key i (the same text as the docs). */
const char *dm_config_key_doc(size_t i);

/*
 * Writes the value of key i in cfg as a YAML value (quoted string, number,
 * true/false, flow list) into buf (NUL-terminated).  A secret key gives
 * "<redacted>" when set and "" when empty, never its value.  Returns
 * DM_OK, DM_EINVAL for a bad index or DM_ETOOBIG when buf is too small
 * (buf then holds a truncated value).  Thread-safe for a loaded config.
 */
int dm_config_key_format(const dm_config_t *cfg, size_t i, char *buf,
                         size_t n) DM_MUSTCHECK;

#endif
