/*
 * test_store.c - the store test suite, run once per backend:
 * DM_STORE_BACKEND=sqlite (a temporary file per test) or postgres (a
 * fresh database per test on the server that tests/pg/with-postgres
 * started, DM_PG_URL).  Covers migrations, feedback insert and id dedup,
 * window aggregates, deterministic sampling, the embedding cache, checks,
 * triggers, the named lock across handles and processes, concurrent
 * writers, SQL injection in values, failure modes of each backend
 * (read-only and full SQLite files, a WAL database in a read-only
 * directory; PostgreSQL restart and bad credentials) and the ingest /
 * migrate commands of the real binary.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/time.h"
#include "config/config.h"
#include "store/store.h"
#include "store/store_int.h"
#include "support/testutil.h"

#define EB DM_ERRBUF_SIZE
/* a string literal or a const string where the API wants char * */
#define CS(x) ((char *)(uintptr_t)(x))
/* string equality that prints both sides (NULL-safe) */
#define STREQ(a, b) tu_streq(a, b)
#define T0          INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static char dir[256];
static char cfg_path[512];
static char db_url[512];
static int is_pg;

static const char *backend(void)
{
    const char *b = getenv("DM_STORE_BACKEND");
    return b && *b ? b : "sqlite";
}

/* A fresh database for this test: a temp dir file, or CREATE DATABASE. */
static void setup(void)
{
    char yaml[2048];

    is_pg = strcmp(backend(), "postgres") == 0;
    tu_tmpdir_make(dir, sizeof(dir), "store-test");
    snprintf(cfg_path, sizeof(cfg_path), "%s/driftmon.yaml", dir);
    if (is_pg) {
        tu_pg_database_new("t", db_url, sizeof(db_url));
        snprintf(yaml, sizeof(yaml),
                 "database:\n  backend: postgres\n  url: \"%s\"\n", db_url);
    } else {
        snprintf(db_url, sizeof(db_url), "%s/t.db", dir);
        snprintf(yaml, sizeof(yaml),
                 "database:\n  backend: sqlite\n  path: \"%s\"\n", db_url);
    }
    tu_write_file(cfg_path, yaml);
}

static void teardown(void)
{
    tu_tmpdir_remove(dir);
}

static dm_config_t *load_cfg(void)
{
    dm_config_t *cfg = NULL;
    char err[EB];
    int rc = dm_config_load(cfg_path, &cfg, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "config: %s", err);
    return cfg;
}

static dm_store_t *open_store(bool migrate)
{
    dm_config_t *cfg = load_cfg();
    dm_store_t *s = NULL;
    char err[EB];
    int rc = dm_store_open(cfg, &s, err, sizeof(err));

    dm_config_free(cfg);
    cr_assert(eq(int, rc, DM_OK), "open: %s", err);
    if (migrate) {
        int v = 0;
        rc = dm_store_migrate(s, &v, err, sizeof(err));
        cr_assert(eq(int, rc, DM_OK), "migrate: %s", err);
        cr_assert(eq(int, v, DM_STORE_SCHEMA_VERSION));
    }
    return s;
}

static uint64_t count_rows(dm_store_t *s)
{
    uint64_t n = 0;
    char err[EB];
    int rc = dm_store_feedback_count(s, &n, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "count: %s", err);
    return n;
}

static void insert(dm_store_t *s, const dm_feedback_row_t *rows, size_t n,
                   size_t expect_inserted)
{
    size_t k = 0;
    char err[EB];
    int rc = dm_store_feedback_insert(s, rows, n, &k, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "insert: %s", err);
    cr_assert(eq(sz, k, expect_inserted));
}

TestSuite(store, .init = setup, .fini = teardown,
          .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

Test(store, backend_is_the_requested_one)
{
    dm_store_t *s = open_store(false);
    cr_assert(STREQ(CS(dm_store_backend(s)), CS(backend())));
    dm_store_free(s);
}

Test(store, migrate_is_idempotent_and_versioned)
{
    dm_store_t *s = open_store(false);
    char err[EB];
    int v = -1;

    cr_assert(eq(int, dm_store_schema_version(s, &v, err, sizeof(err)), DM_OK),
              "%s", err);
    cr_assert(eq(int, v, 0));
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, dm_store_migrate(s, &v, err, sizeof(err)), DM_OK),
                  "%s", err);
        cr_assert(eq(int, v, DM_STORE_SCHEMA_VERSION));
    }
    /* the schema script itself can run again on a migrated database */
    cr_assert(eq(int,
                 dm_store_test_exec(
                     s, is_pg ? dm_store_schema_pg : dm_store_schema_sqlite,
                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(int, dm_store_schema_version(s, &v, err, sizeof(err)), DM_OK));
    cr_assert(eq(int, v, DM_STORE_SCHEMA_VERSION));
    cr_assert(eq(int, dm_store_ping(s, err, sizeof(err)), DM_OK));
    dm_store_free(s);
}

/*
 * A store written by the first version (schema 1, with a stored check)
 * migrates to statistics v2: its old rows still read, the new figures
 * absent (NULL read as NaN, flags false), and new checks store them.
 */
Test(store, schema_1_store_migrates_and_old_rows_read)
{
    dm_store_t *s = open_store(false);
    char err[EB];
    int v = -1;
    dm_store_check_t *list = NULL, c;
    size_t n = 0;
    int64_t id = 0;

    cr_assert(eq(int,
                 dm_store_test_exec(
                     s, is_pg ? dm_store_schema_pg : dm_store_schema_sqlite,
                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(int, dm_store_schema_version(s, &v, err, sizeof(err)), DM_OK));
    cr_assert(eq(int, v, 1));
    cr_assert(
        eq(int,
           dm_store_test_exec(
               s,
               is_pg ? "INSERT INTO drift_metrics (\"timestamp\", status, "
                       "kl_divergence, kl_excess, psi, severity, "
                       "drift_detected, accuracy_fired) VALUES "
                       "(to_timestamp(1700000000), 'ok', 0.3, 0.02, 0.1, "
                       "'info', TRUE, "
                       "TRUE)"
                     : "INSERT INTO drift_metrics (\"timestamp\", status, "
                       "kl_divergence, kl_excess, psi, severity, "
                       "drift_detected, accuracy_fired) VALUES "
                       "(1700000000000, 'ok', 0.3, 0.02, 0.1, 'info', "
                       "1, 1)",
               err, sizeof(err)),
           DM_OK),
        "%s", err);
    cr_assert(eq(int, dm_store_migrate(s, &v, err, sizeof(err)), DM_OK), "%s",
              err);
    cr_assert(eq(int, v, DM_STORE_SCHEMA_VERSION));
    cr_assert(eq(int,
                 dm_store_check_list(s, 0, 10, 0, &list, &n, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(dbl, list[0].kl_divergence, 0.3));
    cr_assert(eq(dbl, list[0].kl_excess, 0.02));
    cr_assert(list[0].drift_detected && list[0].accuracy_fired);
    cr_assert(list[0].semantic_test == NULL);
    cr_assert(isnan(list[0].semantic_effect) && isnan(list[0].psi_excess) &&
              isnan(list[0].floor_p_value));
    cr_assert(not(list[0].semantic_fired));
    cr_assert(not(list[0].quality_below_floor));
    dm_store_check_list_free(list, n);

    /* a new check stores every v2 figure and reads it back */
    dm_store_check_init(&c);
    c.checked_at_ms = 1700000100000;
    c.status = (char *)(uintptr_t) "ok";
    c.severity = (char *)(uintptr_t) "warning";
    c.semantic_test = (char *)(uintptr_t) "mmd";
    c.semantic_effect = 0.125;
    c.semantic_p_value = 0.004975;
    c.semantic_threshold = 0.05;
    c.semantic_fired = true;
    c.mmd = 0.0031;
    c.domain_auc = 0.5625;
    c.psi_excess = 0.01;
    c.accuracy_min_drop = 0.05;
    c.quality_below_floor = true;
    c.floor_p_value = 0.001;
    cr_assert(
        eq(int, dm_store_check_insert(s, &c, &id, err, sizeof(err)), DM_OK),
        "%s", err);
    cr_assert(eq(int,
                 dm_store_check_list(s, 0, 10, 0, &list, &n, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(i64, list[0].id, id));
    cr_assert(STREQ(list[0].semantic_test, "mmd"));
    cr_assert(eq(dbl, list[0].semantic_effect, 0.125));
    cr_assert(eq(dbl, list[0].domain_auc, 0.5625));
    cr_assert(eq(dbl, list[0].floor_p_value, 0.001));
    cr_assert(list[0].semantic_fired && list[0].quality_below_floor);
    dm_store_check_list_free(list, n);
    dm_store_free(s);
}

Test(store, migrate_via_cli)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' migrate --config '%s' >'%s/out' 2>&1",
             getenv("DM_BINARY"), cfg_path, dir);
    cr_assert(eq(int, system(cmd), 0));
    cr_assert(eq(int, system(cmd), 0));
    dm_store_t *s = open_store(false);
    int v = 0;
    char err[EB];
    cr_assert(eq(int, dm_store_schema_version(s, &v, err, sizeof(err)), DM_OK));
    cr_assert(eq(int, v, DM_STORE_SCHEMA_VERSION));
    dm_store_free(s);
}

/*
 * Issue 14 items 2 and 3: a store of schema version 1 migrates to
 * version 3 (drift_metrics.kind, embedding_cache.text_hash); its checks
 * read back as live ones, its cached vectors (no text hash) are dropped.
 */
Test(store, version_1_store_migrates_checks_are_live)
{
    dm_store_t *s = open_store(false);
    dm_store_check_t *list = NULL;
    size_t n = 0;
    char err[EB];
    int v = 0;

    cr_assert(eq(int,
                 dm_store_test_exec(
                     s, is_pg ? dm_store_schema_pg : dm_store_schema_sqlite,
                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(int,
                 dm_store_test_exec(
                     s,
                     is_pg ? "INSERT INTO drift_metrics (status, severity) "
                             "VALUES ('ok', 'none');"
                             "INSERT INTO embedding_cache (row_id, model, dim, "
                             "vector) VALUES ('r1', 'm', 1, "
                             "'\\x0000803f'::bytea);"
                           : "INSERT INTO drift_metrics (\"timestamp\", "
                             "status, severity) VALUES (1, 'ok', 'none');"
                             "INSERT INTO embedding_cache (row_id, model, dim, "
                             "vector) VALUES ('r1', 'm', 1, X'0000803f');",
                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(int, dm_store_schema_version(s, &v, err, sizeof(err)), DM_OK));
    cr_assert(eq(int, v, 1));
    cr_assert(eq(int, dm_store_migrate(s, &v, err, sizeof(err)), DM_OK), "%s",
              err);
    cr_assert(eq(int, v, DM_STORE_SCHEMA_VERSION));
    cr_assert(eq(int,
                 dm_store_check_list(s, 0, 0, DM_STORE_CHECK_LIVE_ONLY, &list,
                                     &n, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 1));
    cr_assert(STREQ(list[0].kind, "live"));
    /* schema 5's column reads as null on a row from before it */
    cr_assert_null(list[0].embedder_precision);
    dm_store_check_list_free(list, n);
    /* a vector cached without its text hash is never handed out */
    {
        const char *ids[1] = {"r1"};
        const uint64_t h[1] = {0};
        float vec[1] = {0};
        bool found[1];
        size_t nf = 1;

        cr_assert(eq(int,
                     dm_store_embed_get(s, "m", ids, h, 1, 1, vec, found, &nf,
                                        err, sizeof(err)),
                     DM_OK),
                  "%s", err);
        cr_assert(eq(sz, nf, 0));
    }
    dm_store_free(s);
}

Test(store, insert_dedups_on_id_and_generates_ids)
{
    dm_store_t *s = open_store(true);
    dm_feedback_row_t rows[3] = {
        {"a", "q1", "r1", "code", true, T0},
        {"b", "q2", "r2", NULL, false, T0 + 1},
        {NULL, "q3", "r3", "debug", true, T0 + 2},
    };

    insert(s, rows, 3, 3);
    insert(s, rows, 2, 0);     /* same ids: nothing new */
    insert(s, rows + 2, 1, 1); /* no id: a new generated one each time */
    cr_assert(eq(u64, count_rows(s), 4));

    dm_store_sample_t smp;
    char err[EB];
    cr_assert(
        eq(int,
           dm_store_window_sample(s, T0, T0 + 10, 0, &smp, err, sizeof(err)),
           DM_OK),
        "%s", err);
    cr_assert(eq(sz, smp.n, 4));
    size_t generated = 0;
    for (size_t i = 0; i < smp.n; i++)
        if (strcmp(smp.rows[i].query, "q3") == 0) {
            generated++;
            cr_assert(eq(sz, strlen(smp.rows[i].id), 32));
        }
    cr_assert(eq(sz, generated, 2));
    dm_store_sample_cleanup(&smp);
    dm_store_free(s);
}

Test(store, transaction_rollback_writes_nothing)
{
    dm_store_t *s = open_store(true);
    dm_feedback_row_t r = {"x", "q", "r", "code", true, T0};
    char err[EB];

    cr_assert(eq(int, dm_store_tx_begin(s, err, sizeof(err)), DM_OK), "%s",
              err);
    cr_assert(eq(int, dm_store_tx_begin(s, err, sizeof(err)), DM_EINVAL));
    insert(s, &r, 1, 1);
    dm_store_tx_rollback(s);
    cr_assert(eq(u64, count_rows(s), 0));
    cr_assert(eq(int, dm_store_tx_begin(s, err, sizeof(err)), DM_OK));
    insert(s, &r, 1, 1);
    cr_assert(eq(int, dm_store_tx_commit(s, err, sizeof(err)), DM_OK));
    cr_assert(eq(u64, count_rows(s), 1));
    dm_store_free(s);
}

Test(store, window_aggregates_half_open_and_by_intent)
{
    dm_store_t *s = open_store(true);
    dm_feedback_row_t rows[] = {
        {"1", "q", "r", "code", true, T0 - 1}, /* before */
        {"2", "q", "r", "code", true, T0},     /* first instant in */
        {"3", "q", "r", "code", false, T0 + 5},
        {"4", "q", "r", "debug", true, T0 + 6},
        {"5", "q", "r", NULL, false, T0 + 7},
        {"6", "q", "r", "general", true, T0 + 99},
        {"7", "q", "r", "code", true, T0 + 100}, /* end: excluded */
    };
    dm_store_window_t w;
    char err[EB];

    insert(s, rows, 7, 7);
    cr_assert(
        eq(int,
           dm_store_window_aggregate(s, T0, T0 + 100, &w, err, sizeof(err)),
           DM_OK),
        "%s", err);
    cr_assert(eq(u64, w.total, 5));
    cr_assert(eq(u64, w.positives, 3));
    cr_assert(eq(sz, w.n_intents, 4));
    cr_assert(STREQ(w.intents[0].intent, "code"));
    cr_assert(eq(u64, w.intents[0].count, 2));
    cr_assert(eq(u64, w.intents[0].positives, 1));
    cr_assert(STREQ(w.intents[1].intent, "debug"));
    cr_assert(STREQ(w.intents[2].intent, "general"));
    cr_assert(w.intents[3].intent == NULL);
    cr_assert(eq(u64, w.intents[3].count, 1));
    dm_store_window_cleanup(&w);

    cr_assert(eq(
        int,
        dm_store_window_aggregate(s, T0 + 200, T0 + 300, &w, err, sizeof(err)),
        DM_OK));
    cr_assert(eq(u64, w.total, 0));
    cr_assert(eq(sz, w.n_intents, 0));
    dm_store_window_cleanup(&w);
    cr_assert(eq(int,
                 dm_store_window_aggregate(s, T0, T0 - 1, &w, err, sizeof(err)),
                 DM_EINVAL));
    dm_store_free(s);
}

static int child_ok(int st)
{
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

Test(store, sample_is_deterministic_and_smallest_hashes)
{
    enum { N = 600, K = 50 };
    dm_store_t *s = open_store(true);
    dm_feedback_row_t rows[N];
    static char ids[N][16], qs[N][16];
    uint64_t hashes[N];
    dm_store_sample_t a, b;
    char err[EB];

    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "row-%d", i);
        snprintf(qs[i], sizeof(qs[i]), "query %d", i);
        rows[i] = (dm_feedback_row_t){ids[i], qs[i],      "resp",
                                      "code", i % 2 == 0, T0 + i};
        hashes[i] = dm_store_sample_hash(ids[i]);
    }
    insert(s, rows, N, N);
    qsort(hashes, N, sizeof(hashes[0]), cmp_u64);
    cr_assert(eq(int,
                 dm_store_window_sample(s, T0, T0 + N, K, &a, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(int,
                 dm_store_window_sample(s, T0, T0 + N, K, &b, err, sizeof(err)),
                 DM_OK));
    cr_assert(eq(sz, a.n, K));
    cr_assert(eq(sz, b.n, K));
    for (size_t i = 0; i < a.n; i++) {
        cr_assert(STREQ(a.rows[i].id, b.rows[i].id));
        cr_assert(eq(u64, a.rows[i].hash, hashes[i]));
        cr_assert(eq(u64, a.rows[i].hash, dm_store_sample_hash(a.rows[i].id)));
        /* query/response belong to the row */
        char expect[16];
        snprintf(expect, sizeof(expect), "query %s", a.rows[i].id + 4);
        cr_assert(STREQ(a.rows[i].query, expect));
        cr_assert(STREQ(a.rows[i].response, "resp"));
        /* and so does the rating (even row numbers are positive) */
        cr_assert(eq(int, a.rows[i].positive, atoi(a.rows[i].id + 4) % 2 == 0),
                  "%s", a.rows[i].id);
    }
    dm_store_sample_cleanup(&a);
    dm_store_sample_cleanup(&b);
    /* a sub-window only samples its own rows */
    cr_assert(
        eq(int, dm_store_window_sample(s, T0, T0 + 10, K, &a, err, sizeof(err)),
           DM_OK));
    cr_assert(eq(sz, a.n, 10));
    dm_store_sample_cleanup(&a);
    dm_store_free(s);
}

Test(store, embedding_cache_round_trip)
{
    dm_store_t *s = open_store(true);
    const char *ids[3] = {"a", "b", "c"};
    /* text hashes; the high bit must survive a signed BIGINT column */
    const uint64_t h[3] = {11, UINT64_MAX - 1, 33};
    float v[3 * 4] = {0.5f, -1.25f, 3e-8f, 1e30f, 1, 2, 3, 4, -0.0f, 7, 8, 9};
    float out[4 * 4];
    bool found[4];
    size_t nf = 0;
    char err[EB];

    cr_assert(eq(int,
                 dm_store_embed_put(s, "m1", ids, h, 2, 4, v, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    const char *q[4] = {"b", "zz", "a", "b"};
    const uint64_t qh[4] = {h[1], 0, h[0], h[1]};
    memset(out, 0, sizeof(out));
    cr_assert(eq(int,
                 dm_store_embed_get(s, "m1", q, qh, 4, 4, out, found, &nf, err,
                                    sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, nf, 3));
    cr_assert(found[0] && !found[1] && found[2] && found[3]);
    cr_assert(memcmp(out, v + 4, 16) == 0);
    cr_assert(memcmp(out + 8, v, 16) == 0);
    cr_assert(memcmp(out + 12, v + 4, 16) == 0);
    /* other model, other dimension: not found */
    cr_assert(eq(int,
                 dm_store_embed_get(s, "m2", q, qh, 4, 4, out, found, &nf, err,
                                    sizeof(err)),
                 DM_OK));
    cr_assert(eq(sz, nf, 0));
    cr_assert(eq(int,
                 dm_store_embed_get(s, "m1", q, qh, 4, 3, out, found, &nf, err,
                                    sizeof(err)),
                 DM_OK));
    cr_assert(eq(sz, nf, 0));
    /* issue 14 item 3: the same row id with another text is not found */
    {
        const uint64_t other[4] = {h[1] + 1, 0, h[0] ^ 1, h[1]};
        cr_assert(eq(int,
                     dm_store_embed_get(s, "m1", q, other, 4, 4, out, found,
                                        &nf, err, sizeof(err)),
                     DM_OK));
        cr_assert(eq(sz, nf, 1));
        cr_assert(found[3] && !found[0] && !found[1] && !found[2]);
    }
    /* replace */
    cr_assert(eq(int,
                 dm_store_embed_put(s, "m1", ids + 1, h + 1, 2, 4, v + 4, err,
                                    sizeof(err)),
                 DM_OK));
    cr_assert(eq(int,
                 dm_store_embed_get(s, "m1", ids, h, 3, 4, out, found, &nf, err,
                                    sizeof(err)),
                 DM_OK));
    cr_assert(eq(sz, nf, 3));
    cr_assert(memcmp(out + 4, v + 4, 16) == 0);
    cr_assert(memcmp(out + 8, v + 8, 16) == 0);
    dm_store_free(s);
}

static void fill_check(dm_store_check_t *c, int64_t at, const char *sev,
                       bool detected)
{
    dm_store_check_init(c);
    c->checked_at_ms = at;
    c->status = CS("ok");
    c->severity = CS(sev);
    c->drift_detected = detected;
    c->kl_fired = detected;
    c->baseline_start_ms = at - 14 * DM_MS_PER_DAY;
    c->baseline_end_ms = at - 7 * DM_MS_PER_DAY;
    c->current_start_ms = at - 7 * DM_MS_PER_DAY;
    c->current_end_ms = at;
    c->baseline_count = 1000;
    c->current_count = 1200;
    c->baseline_sampled = 500;
    c->current_sampled = 600;
    c->model = CS("hashing:384");
    c->kl_divergence = 0.123456789012345678;
    c->kl_excess = 0.05;
    c->kl_p_value = 0.004975124378109453;
    c->kl_max = 0.9;
    c->n_top_dims = 5;
    for (int i = 0; i < 5; i++)
        c->kl_top_dims[i] = 300 - i;
    c->psi = 0.01;
    c->psi_method = CS("permutation");
    c->baseline_accuracy = 0.8;
    c->current_accuracy = 0.7;
    c->accuracy_delta = 0.1;
    c->combined_score = 1.0 / 3.0;
    c->kl_threshold = 0.1;
    c->psi_threshold = 0.2;
    c->accuracy_min = 0.75;
    c->alpha = 0.05;
    c->permutations = 200;
    c->kl_estimator = CS("excess");
    c->details = CS("{\"note\": \"it's \\\"quoted\\\"\", \"n\": [1, 2]}");
}

/* Issue 14 item 2: a check's kind is stored, read back and filtered on. */
Test(store, checks_kind_live_and_adhoc)
{
    dm_store_t *s = open_store(true);
    dm_store_check_t c, *list = NULL;
    int64_t id1 = 0, id2 = 0;
    size_t n = 0;
    char err[EB];

    fill_check(&c, T0, "warning", true); /* kind NULL: live */
    cr_assert(
        eq(int, dm_store_check_insert(s, &c, &id1, err, sizeof(err)), DM_OK),
        "%s", err);
    fill_check(&c, T0 + DM_MS_PER_HOUR, "none", false);
    c.kind = CS("adhoc");
    cr_assert(
        eq(int, dm_store_check_insert(s, &c, &id2, err, sizeof(err)), DM_OK),
        "%s", err);
    c.kind = CS("backfill");
    cr_assert(eq(int, dm_store_check_insert(s, &c, NULL, err, sizeof(err)),
                 DM_EINVAL));

    cr_assert(eq(int,
                 dm_store_check_list(s, 0, 0, 0, &list, &n, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(i64, list[0].id, id2));
    cr_assert(STREQ(list[0].kind, "adhoc"));
    cr_assert(STREQ(list[1].kind, "live"));
    dm_store_check_list_free(list, n);

    cr_assert(eq(int,
                 dm_store_check_list(s, 0, 0, DM_STORE_CHECK_LIVE_ONLY, &list,
                                     &n, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(i64, list[0].id, id1));
    dm_store_check_list_free(list, n);
    dm_store_free(s);
}

Test(store, checks_insert_list_summary_alert)
{
    dm_store_t *s = open_store(true);
    dm_store_check_t c, *list = NULL;
    int64_t id1 = 0, id2 = 0, id3 = 0;
    size_t n = 0;
    char err[EB];

    fill_check(&c, T0, "warning", true);
    cr_assert(
        eq(int, dm_store_check_insert(s, &c, &id1, err, sizeof(err)), DM_OK),
        "%s", err);
    fill_check(&c, T0 + DM_MS_PER_HOUR, "none", false);
    c.psi = (double)NAN;
    cr_assert(
        eq(int, dm_store_check_insert(s, &c, &id2, err, sizeof(err)), DM_OK));
    fill_check(&c, T0 + 2 * DM_MS_PER_HOUR, "none", false);
    c.status = CS("insufficient_data");
    cr_assert(
        eq(int, dm_store_check_insert(s, &c, &id3, err, sizeof(err)), DM_OK));
    c.status = CS("bogus");
    cr_assert(eq(int, dm_store_check_insert(s, &c, NULL, err, sizeof(err)),
                 DM_EINVAL));

    cr_assert(eq(int,
                 dm_store_check_list(s, 0, 0, DM_STORE_CHECK_DETAILS, &list, &n,
                                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(i64, list[0].id, id3));
    cr_assert(eq(i64, list[2].id, id1));
    {
        /* one check by id, whole, as the list has it */
        dm_store_check_t g;
        bool found = false;

        cr_assert(eq(int,
                     dm_store_check_get(s, id1, &g, &found, err, sizeof(err)),
                     DM_OK),
                  "%s", err);
        cr_assert(found);
        cr_assert(eq(i64, g.id, id1));
        cr_assert(STREQ(g.severity, list[2].severity));
        cr_assert(STREQ(g.details, list[2].details));
        cr_assert(eq(dbl, g.kl_divergence, list[2].kl_divergence));
        dm_store_check_cleanup(&g);
        cr_assert(eq(
            int, dm_store_check_get(s, id3 + 100, &g, &found, err, sizeof(err)),
            DM_OK));
        cr_assert(not(found));
    }
    cr_assert(STREQ(list[0].status, "insufficient_data"));
    const dm_store_check_t *o = &list[2];
    cr_assert(eq(i64, o->checked_at_ms, T0));
    cr_assert(eq(i64, o->baseline_start_ms, T0 - 14 * DM_MS_PER_DAY));
    cr_assert(eq(i64, o->current_sampled, 600));
    cr_assert(STREQ(o->model, "hashing:384"));
    cr_assert(eq(dbl, o->kl_divergence, 0.123456789012345678));
    cr_assert(eq(dbl, o->kl_p_value, 0.004975124378109453));
    cr_assert(eq(dbl, o->combined_score, 1.0 / 3.0));
    cr_assert(isnan(o->accuracy_p_value));
    cr_assert(isnan(list[1].psi));
    cr_assert(eq(sz, o->n_top_dims, 5));
    cr_assert(eq(int, o->kl_top_dims[0], 300));
    cr_assert(eq(int, o->kl_top_dims[4], 296));
    cr_assert(o->drift_detected && o->kl_fired && !o->psi_fired);
    cr_assert(STREQ(o->severity, "warning"));
    cr_assert(STREQ(o->kl_estimator, "excess"));
    cr_assert(eq(i64, o->permutations, 200));
    cr_assert(o->alert_status == NULL);
    cr_assert(o->details != NULL);
    cr_assert(strstr(o->details, "quoted") != NULL);
    dm_store_check_list_free(list, n);

    cr_assert(eq(
        int, dm_store_check_list(s, T0 + 1, 1, 0, &list, &n, err, sizeof(err)),
        DM_OK));
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(i64, list[0].id, id3));
    cr_assert(list[0].details == NULL); /* not asked for */
    dm_store_check_list_free(list, n);

    /* status "ok" only: two of the three */
    cr_assert(eq(int,
                 dm_store_check_list(s, 0, 0, DM_STORE_CHECK_OK_ONLY, &list, &n,
                                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 2));
    for (size_t i = 0; i < n; i++) {
        cr_assert(STREQ(list[i].status, "ok"));
        cr_assert(list[i].details == NULL);
    }
    dm_store_check_list_free(list, n);

    cr_assert(
        eq(int,
           dm_store_check_set_alert(s, id1, "sent", NULL, err, sizeof(err)),
           DM_OK),
        "%s", err);
    cr_assert(eq(
        int,
        dm_store_check_set_alert(s, id1 + 1000, "sent", NULL, err, sizeof(err)),
        DM_ENOTFOUND));

    dm_store_summary_t sum;
    cr_assert(
        eq(int, dm_store_check_summary(s, 0, &sum, err, sizeof(err)), DM_OK),
        "%s", err);
    cr_assert(eq(u64, sum.total, 3));
    cr_assert(eq(u64, sum.by_severity[0], 2));
    cr_assert(eq(u64, sum.by_severity[2], 1));
    cr_assert(eq(u64, sum.by_status[0], 2));
    cr_assert(eq(u64, sum.by_status[1], 1));
    cr_assert(eq(u64, sum.detected, 1));
    cr_assert(eq(dbl, sum.detection_rate, 0.5));
    cr_assert(sum.have_latest);
    cr_assert(eq(i64, sum.latest.id, id3));
    dm_store_summary_cleanup(&sum);

    cr_assert(eq(int,
                 dm_store_check_list(s, T0, 0, 0, &list, &n, err, sizeof(err)),
                 DM_OK));
    cr_assert(STREQ(list[2].alert_status, "sent"));
    dm_store_check_list_free(list, n);
    dm_store_free(s);
}

Test(store, triggers)
{
    dm_store_t *s = open_store(true);
    dm_store_trigger_t t = {0}, *list = NULL;
    bool found = true;
    int64_t ms = 0, id = 0;
    uint64_t cnt = 0;
    size_t n = 0;
    char err[EB];

    cr_assert(
        eq(int, dm_store_trigger_last_success(s, &ms, &found, err, sizeof(err)),
           DM_OK),
        "%s", err);
    cr_assert(found == false);
    t.triggered_at_ms = T0;
    t.status = CS("success");
    t.job_id = CS("job-1");
    t.metrics_json = CS("{\"combined_score\": 0.5}");
    t.forced = false;
    cr_assert(
        eq(int, dm_store_trigger_insert(s, &t, &id, err, sizeof(err)), DM_OK),
        "%s", err);
    t.triggered_at_ms = T0 + 1000;
    t.status = CS("failed");
    t.job_id = NULL;
    t.error = CS("HTTP 500");
    t.check_id = 0;
    t.forced = true;
    cr_assert(
        eq(int, dm_store_trigger_insert(s, &t, NULL, err, sizeof(err)), DM_OK));
    t.status = CS("maybe");
    cr_assert(eq(int, dm_store_trigger_insert(s, &t, NULL, err, sizeof(err)),
                 DM_EINVAL));
    cr_assert(
        eq(int, dm_store_trigger_last_success(s, &ms, &found, err, sizeof(err)),
           DM_OK));
    cr_assert(found);
    cr_assert(eq(i64, ms, T0));
    cr_assert(eq(int, dm_store_trigger_count(s, false, &cnt, err, sizeof(err)),
                 DM_OK));
    cr_assert(eq(u64, cnt, 2));
    cr_assert(eq(int, dm_store_trigger_count(s, true, &cnt, err, sizeof(err)),
                 DM_OK));
    cr_assert(eq(u64, cnt, 1));
    cr_assert(eq(int, dm_store_trigger_list(s, 0, &list, &n, err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(sz, n, 2));
    cr_assert(STREQ(list[0].status, "failed"));
    cr_assert(STREQ(list[0].error, "HTTP 500"));
    cr_assert(list[0].job_id == NULL);
    cr_assert(list[0].forced);
    cr_assert(STREQ(list[1].job_id, "job-1"));
    cr_assert(eq(i64, list[1].id, id));
    cr_assert(strstr(list[1].metrics_json, "combined_score") != NULL);
    dm_store_trigger_list_free(list, n);
    dm_store_free(s);
}

Test(store, lock_excludes_other_handles_and_processes)
{
    dm_store_t *a = open_store(true), *b = open_store(false);
    char err[EB];
    pid_t pid;
    int st = 0;

    cr_assert(
        eq(int, dm_store_lock_try(a, "drift-check", err, sizeof(err)), DM_OK),
        "%s", err);
    cr_assert(eq(int, dm_store_lock_try(a, "drift-check", err, sizeof(err)),
                 DM_EBUSY));
    cr_assert(eq(int, dm_store_lock_try(b, "drift-check", err, sizeof(err)),
                 DM_EBUSY));
    cr_assert(eq(int, dm_store_lock_try(b, "other", err, sizeof(err)), DM_OK));
    cr_assert(eq(int, dm_store_lock_try(b, "bad name!", err, sizeof(err)),
                 DM_EINVAL));
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dm_config_t *cfg = NULL;
        dm_store_t *c = NULL;
        char e[EB];
        if (dm_config_load(cfg_path, &cfg, e, sizeof(e)) != DM_OK ||
            dm_store_open(cfg, &c, e, sizeof(e)) != DM_OK)
            _exit(10);
        int rc = dm_store_lock_try(c, "drift-check", e, sizeof(e));
        dm_store_free(c);
        dm_config_free(cfg);
        _exit(rc == DM_EBUSY ? 0 : 11);
    }
    cr_assert(eq(int, waitpid(pid, &st, 0), pid));
    cr_assert(child_ok(st), "child process: lock was not busy (status %d)", st);
    cr_assert(eq(int, dm_store_lock_release(a, "drift-check", err, sizeof(err)),
                 DM_OK));
    cr_assert(eq(int, dm_store_lock_release(a, "drift-check", err, sizeof(err)),
                 DM_ENOTFOUND));
    cr_assert(
        eq(int, dm_store_lock_try(b, "drift-check", err, sizeof(err)), DM_OK));
    dm_store_free(b); /* closing releases */
    cr_assert(
        eq(int, dm_store_lock_try(a, "drift-check", err, sizeof(err)), DM_OK));
    dm_store_free(a);
}

Test(store, sql_injection_in_values_is_stored_verbatim)
{
    dm_store_t *s = open_store(true);
    const char *evil = "x'); DROP TABLE feedback; --";
    const char *evil2 = "\" OR 1=1; DELETE FROM drift_metrics; $1 ?1 \\";
    dm_feedback_row_t r = {evil, evil2, evil, evil2, true, T0};
    dm_store_sample_t smp;
    dm_store_window_t w;
    char err[EB];

    insert(s, &r, 1, 1);
    insert(s, &r, 1, 0);
    cr_assert(
        eq(int,
           dm_store_window_sample(s, T0, T0 + 1, 10, &smp, err, sizeof(err)),
           DM_OK),
        "%s", err);
    cr_assert(eq(sz, smp.n, 1));
    cr_assert(STREQ(smp.rows[0].id, CS(evil)));
    cr_assert(STREQ(smp.rows[0].query, CS(evil2)));
    cr_assert(STREQ(smp.rows[0].response, CS(evil)));
    dm_store_sample_cleanup(&smp);
    cr_assert(eq(int,
                 dm_store_window_aggregate(s, T0, T0 + 1, &w, err, sizeof(err)),
                 DM_OK));
    cr_assert(STREQ(w.intents[0].intent, CS(evil2)));
    dm_store_window_cleanup(&w);
    dm_store_check_t c;
    fill_check(&c, T0, "none", false);
    c.error = CS(evil);
    cr_assert(
        eq(int, dm_store_check_insert(s, &c, NULL, err, sizeof(err)), DM_OK),
        "%s", err);
    cr_assert(eq(u64, count_rows(s), 1));
    dm_store_free(s);
}

/* Each child inserts `per` rows with its own ids, in small transactions. */
static void concurrent_writers(int nproc, int per)
{
    pid_t pids[8];

    for (int p = 0; p < nproc; p++) {
        pids[p] = fork();
        cr_assert(pids[p] >= 0);
        if (pids[p] == 0) {
            dm_config_t *cfg = NULL;
            dm_store_t *s = NULL;
            char e[EB];
            static char ids[100][32];
            dm_feedback_row_t rows[100];
            if (dm_config_load(cfg_path, &cfg, e, sizeof(e)) != DM_OK ||
                dm_store_open(cfg, &s, e, sizeof(e)) != DM_OK)
                _exit(10);
            for (int done = 0; done < per; done += 100) {
                for (int i = 0; i < 100; i++) {
                    snprintf(ids[i], sizeof(ids[i]), "p%d-%d", p, done + i);
                    rows[i] = (dm_feedback_row_t){ids[i], "q",  "r",
                                                  "code", true, T0 + done + i};
                }
                if (dm_store_feedback_insert(s, rows, 100, NULL, e,
                                             sizeof(e)) != DM_OK) {
                    fprintf(stderr, "writer %d: %s\n", p, e);
                    _exit(11);
                }
            }
            dm_store_free(s);
            dm_config_free(cfg);
            _exit(0);
        }
    }
    for (int p = 0; p < nproc; p++) {
        int st = 0;
        cr_assert(eq(int, waitpid(pids[p], &st, 0), pids[p]));
        cr_assert(child_ok(st), "writer %d failed (status %d)", p, st);
    }
}

Test(store, concurrent_writer_processes)
{
    dm_store_t *s = open_store(true);

    concurrent_writers(3, 2000);
    cr_assert(eq(u64, count_rows(s), 6000));
    dm_store_free(s);
}

/*
 * Opens and migrates of a store nobody has created yet, all at once, from
 * threads of one process (the server's scheduler and its API) and from
 * processes (a CLI command started beside the server): each open must
 * wait for the others, never fail with "database is locked" (SQLite
 * switches a new file to WAL under an exclusive lock, and a reader racing
 * a writer's lock upgrade gets SQLITE_BUSY without its busy handler).
 */
enum { FRESH_ROUNDS = 6, FRESH_OPENERS = 4, FRESH_OPENS = 20 };

struct opener {
    const dm_config_t *cfg;
    char err[EB];
    int rc;
};

static void *open_and_migrate(void *arg)
{
    struct opener *o = arg;

    o->rc = DM_OK;
    for (int i = 0; i < FRESH_OPENS && o->rc == DM_OK; i++) {
        dm_store_t *s = NULL;
        int v = 0;
        o->rc = dm_store_open(o->cfg, &s, o->err, sizeof(o->err));
        if (o->rc == DM_OK)
            o->rc = dm_store_migrate(s, &v, o->err, sizeof(o->err));
        dm_store_free(s);
    }
    return NULL;
}

static void fresh_store_config(int round)
{
    char yaml[1024];

    if (is_pg)
        return; /* one database: concurrent migrations of it */
    snprintf(db_url, sizeof(db_url), "%s/fresh%d.db", dir, round);
    snprintf(yaml, sizeof(yaml),
             "database:\n  backend: sqlite\n  path: \"%s\"\n", db_url);
    tu_write_file(cfg_path, yaml);
}

Test(store, concurrent_first_opens_from_threads)
{
    for (int round = 0; round < FRESH_ROUNDS; round++) {
        pthread_t t[FRESH_OPENERS];
        struct opener o[FRESH_OPENERS];

        fresh_store_config(round);
        dm_config_t *cfg = load_cfg();
        for (int i = 0; i < FRESH_OPENERS; i++) {
            o[i].cfg = cfg;
            cr_assert(eq(
                int, pthread_create(&t[i], NULL, open_and_migrate, &o[i]), 0));
        }
        for (int i = 0; i < FRESH_OPENERS; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < FRESH_OPENERS; i++)
            cr_assert(eq(int, o[i].rc, DM_OK), "round %d thread %d: %s", round,
                      i, o[i].err);
        dm_config_free(cfg);
    }
}

/* ---- the connection pool ---- */

static dm_store_pool_t *pool_new(const dm_config_t *cfg, size_t max_idle)
{
    dm_store_pool_t *p = NULL;

    cr_assert(eq(int, dm_store_pool_new(cfg, max_idle, &p), DM_OK));
    return p;
}

static dm_store_t *pool_get(dm_store_pool_t *p)
{
    dm_store_t *s = NULL;
    char err[EB];
    int rc = dm_store_pool_get(p, &s, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "pool get: %s", err);
    cr_assert(not(eq(ptr, s, NULL)));
    return s;
}

static dm_store_pool_stats_t pool_stats(dm_store_pool_t *p)
{
    dm_store_pool_stats_t st;

    dm_store_pool_stats(p, &st);
    return st;
}

Test(store, pool_reuses_and_migrates_once)
{
    dm_config_t *cfg = load_cfg();
    dm_store_pool_t *p = pool_new(cfg, 4);
    dm_store_t *a = pool_get(p), *b;
    char err[EB];
    int v = 0;

    cr_assert(eq(int, dm_store_schema_version(a, &v, err, sizeof(err)), DM_OK),
              "%s", err);
    cr_assert(eq(int, v, DM_STORE_SCHEMA_VERSION));
    dm_store_pool_put(p, a, false);
    b = pool_get(p);
    cr_assert(eq(ptr, a, b), "the idle connection is reused");
    dm_store_pool_put(p, b, false);
    for (int i = 0; i < 3; i++)
        dm_store_pool_put(p, pool_get(p), false);
    cr_assert(eq(sz, pool_stats(p).opened, 1));
    cr_assert(eq(sz, pool_stats(p).migrations, 1));
    cr_assert(eq(sz, pool_stats(p).idle, 1));
    cr_assert(eq(sz, pool_stats(p).out, 0));
    dm_store_pool_free(p);
    dm_config_free(cfg);
}

Test(store, pool_broken_connection_is_not_reused)
{
    dm_config_t *cfg = load_cfg();
    dm_store_pool_t *p = pool_new(cfg, 4);

    dm_store_pool_put(p, pool_get(p), true);
    cr_assert(eq(sz, pool_stats(p).idle, 0), "a broken connection is closed");
    dm_store_pool_put(p, pool_get(p), false);
    cr_assert(eq(sz, pool_stats(p).opened, 2), "the next get opens anew");
    cr_assert(eq(sz, pool_stats(p).migrations, 1));
    cr_assert(eq(sz, pool_stats(p).idle, 1));
    dm_store_pool_put(p, NULL, true); /* ignored */
    dm_store_pool_free(p);
    dm_config_free(cfg);
}

Test(store, pool_keeps_at_most_max_idle)
{
    dm_config_t *cfg = load_cfg();
    dm_store_pool_t *p = pool_new(cfg, 2), *none = pool_new(cfg, 0);
    dm_store_t *s[3];

    for (int i = 0; i < 3; i++)
        s[i] = pool_get(p);
    cr_assert(eq(sz, pool_stats(p).out, 3));
    for (int i = 0; i < 3; i++)
        dm_store_pool_put(p, s[i], false);
    cr_assert(eq(sz, pool_stats(p).idle, 2));
    cr_assert(eq(sz, pool_stats(p).out, 0));
    cr_assert(eq(sz, pool_stats(p).opened, 3));
    /* max_idle 0: every put closes */
    dm_store_pool_put(none, pool_get(none), false);
    dm_store_pool_put(none, pool_get(none), false);
    cr_assert(eq(sz, pool_stats(none).idle, 0));
    cr_assert(eq(sz, pool_stats(none).opened, 2));
    cr_assert(eq(sz, pool_stats(none).migrations, 1));
    dm_store_pool_free(none);
    dm_store_pool_free(p);
    dm_config_free(cfg);
}

Test(store, pool_or_own_shares_the_given_pool)
{
    dm_config_t *cfg = load_cfg();
    dm_store_pool_t *given = pool_new(cfg, 1), *own = given;

    cr_assert(eq(ptr, dm_store_pool_or_own(cfg, given, &own), given));
    cr_assert(eq(ptr, own, NULL), "nothing of its own to free");
    cr_assert(eq(ptr, dm_store_pool_or_own(cfg, NULL, &own), own));
    cr_assert(not(eq(ptr, own, NULL)));
    dm_store_pool_put(own, pool_get(own), false);
    cr_assert(eq(sz, pool_stats(own).idle, 1));
    dm_store_pool_free(own);
    dm_store_pool_free(given);
    dm_config_free(cfg);
}

#define POOL_THREADS 4

struct pool_getter {
    dm_store_pool_t *p;
    pthread_barrier_t *go;
    char err[EB];
    int rc;
};

static void *pool_get_thread(void *arg)
{
    struct pool_getter *g = arg;
    dm_store_t *s = NULL;

    pthread_barrier_wait(g->go);
    g->rc = dm_store_pool_get(g->p, &s, g->err, sizeof(g->err));
    if (g->rc == DM_OK)
        g->rc = dm_store_ping(s, g->err, sizeof(g->err));
    /* hold it while the others get theirs: each opens its own */
    pthread_barrier_wait(g->go);
    dm_store_pool_put(g->p, s, g->rc != DM_OK);
    return NULL;
}

Test(store, pool_first_gets_from_threads_migrate_once)
{
    for (int round = 0; round < FRESH_ROUNDS; round++) {
        pthread_t t[POOL_THREADS];
        struct pool_getter g[POOL_THREADS];
        pthread_barrier_t go;
        dm_config_t *cfg;
        dm_store_pool_t *p;

        fresh_store_config(round);
        cfg = load_cfg();
        p = pool_new(cfg, POOL_THREADS);
        pthread_barrier_init(&go, NULL, POOL_THREADS);
        for (int i = 0; i < POOL_THREADS; i++) {
            g[i] = (struct pool_getter){.p = p, .go = &go};
            cr_assert(eq(
                int, pthread_create(&t[i], NULL, pool_get_thread, &g[i]), 0));
        }
        for (int i = 0; i < POOL_THREADS; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < POOL_THREADS; i++)
            cr_assert(eq(int, g[i].rc, DM_OK), "round %d thread %d: %s", round,
                      i, g[i].err);
        cr_assert(eq(sz, pool_stats(p).opened, POOL_THREADS));
        cr_assert(eq(sz, pool_stats(p).migrations, 1), "round %d", round);
        cr_assert(eq(sz, pool_stats(p).idle, POOL_THREADS));
        pthread_barrier_destroy(&go);
        dm_store_pool_free(p);
        dm_config_free(cfg);
        if (is_pg)
            break; /* one database */
    }
}

Test(store, pool_failed_migration_is_tried_again)
{
    dm_store_t *s = open_store(true);
    dm_config_t *cfg = load_cfg();
    dm_store_pool_t *p = pool_new(cfg, 4);
    dm_store_t *got = NULL;
    char err[EB] = "";

    /* a newer driftmon's schema: the migration refuses it */
    cr_assert(eq(int,
                 dm_store_test_exec(
                     s, "INSERT INTO schema_version (version) VALUES (999)",
                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    cr_assert(eq(int, dm_store_pool_get(p, &got, err, sizeof(err)), DM_ERANGE));
    cr_assert(eq(ptr, got, NULL));
    cr_assert(eq(sz, pool_stats(p).migrations, 0));
    cr_assert(eq(sz, pool_stats(p).out, 0));
    cr_assert(eq(int,
                 dm_store_test_exec(
                     s, "DELETE FROM schema_version WHERE version = 999", err,
                     sizeof(err)),
                 DM_OK),
              "%s", err);
    dm_store_pool_put(p, pool_get(p), false);
    cr_assert(eq(sz, pool_stats(p).migrations, 1), "the next get migrates");
    dm_store_pool_free(p);
    dm_config_free(cfg);
    dm_store_free(s);
}

/* Freeing the pool with a connection out leaves that connection to its
 * holder, who frees it (ASan checks both sides). */
Test(store, pool_free_with_a_connection_out)
{
    dm_config_t *cfg = load_cfg();
    dm_store_pool_t *p = pool_new(cfg, 4);
    dm_store_t *idle = pool_get(p), *out = pool_get(p);
    char err[EB];

    dm_store_pool_put(p, idle, false);
    dm_store_pool_free(p);
    cr_assert(eq(int, dm_store_ping(out, err, sizeof(err)), DM_OK), "%s", err);
    dm_store_free(out);
    dm_store_pool_free(NULL);
    dm_config_free(cfg);
}

Test(store, concurrent_first_opens_from_processes)
{
    for (int round = 0; round < FRESH_ROUNDS; round++) {
        pid_t pids[FRESH_OPENERS];

        fresh_store_config(round);
        for (int p = 0; p < FRESH_OPENERS; p++) {
            pids[p] = fork();
            cr_assert(pids[p] >= 0);
            if (pids[p] == 0) {
                struct opener o = {.cfg = NULL};
                dm_config_t *cfg = NULL;
                if (dm_config_load(cfg_path, &cfg, o.err, sizeof(o.err)) !=
                    DM_OK)
                    _exit(10);
                o.cfg = cfg;
                open_and_migrate(&o);
                if (o.rc != DM_OK)
                    fprintf(stderr, "round %d process %d: %s\n", round, p,
                            o.err);
                dm_config_free(cfg);
                _exit(o.rc == DM_OK ? 0 : 11);
            }
        }
        for (int p = 0; p < FRESH_OPENERS; p++) {
            int st = 0;
            cr_assert(eq(int, waitpid(pids[p], &st, 0), pids[p]));
            cr_assert(child_ok(st), "round %d: process %d failed (status %d)",
                      round, p, st);
        }
    }
}

/* ---- the ingest command, against this backend ------------------------ */

static int run_cli(const char *args, char *out, size_t outlen)
{
    char a[2048];

    snprintf(a, sizeof(a), "%s --config '%s'", args, cfg_path);
    return tu_run_binary(a, out, outlen, NULL, 0);
}

static const char good_jsonl[] =
    "{\"id\": \"j1\", \"query\": \"q1\", \"response\": \"r1\", \"intent\": "
    "\"code\", \"positive\": true, \"created_at\": \"2026-01-01T00:00:00Z\"}\n"
    "{\"id\": \"j2\", \"query\": \"q2\", \"response\": \"r2\", \"intent\": "
    "\"debug\", \"positive\": false, \"created_at\": "
    "\"2026-01-01T01:00:00+01:00\"}\n"
    "\n"
    "{\"id\": 3, \"query\": \"q3\", \"response\": \"r3\", \"positive\": 1, "
    "\"created_at\": \"2026-01-01 00:30:00.5Z\"}\n";

Test(store, ingest_jsonl_twice_does_not_duplicate)
{
    char p[600], out[8192];
    snprintf(p, sizeof(p), "%s/a.jsonl", dir);
    tu_write_file(p, good_jsonl);
    char args[700];
    snprintf(args, sizeof(args), "ingest '%s'", p);
    cr_assert(eq(int, run_cli(args, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "3 inserted") != NULL, "%s", out);
    cr_assert(eq(int, run_cli(args, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "0 inserted") != NULL, "%s", out);
    dm_store_t *s = open_store(false);
    cr_assert(eq(u64, count_rows(s), 3));
    dm_store_window_t w;
    char err[EB];
    cr_assert(
        eq(int,
           dm_store_window_aggregate(s, T0, T0 + 3600000, &w, err, sizeof(err)),
           DM_OK));
    /* j2 is 00:00Z (an offset), 3 is 00:30:00.5Z: all three in */
    cr_assert(eq(u64, w.total, 3));
    cr_assert(eq(u64, w.positives, 2));
    dm_store_window_cleanup(&w);
    dm_store_free(s);
}

Test(store, ingest_bad_file_writes_nothing_and_names_lines)
{
    char p[600], out[8192], args[700];
    snprintf(p, sizeof(p), "%s/bad.jsonl", dir);
    tu_write_file(
        p, "{\"query\": \"ok\", \"response\": \"r\", \"positive\": true, "
           "\"created_at\": \"2026-01-01T00:00:00Z\"}\n"
           "{\"query\": \"q\", \"response\": \"r\", \"positive\": "
           "\"yes\", \"created_at\": \"2026-01-01T00:00:00Z\"}\n"
           "{\"query\": \"ok\", \"response\": \"r\", \"positive\": true, "
           "\"created_at\": \"2026-01-01T00:00:00Z\"}\n"
           "{\"query\": \"q\", \"response\": \"r\", \"positive\": true, "
           "\"created_at\": \"yesterday\"}\n"
           "{not json}\n"
           "{\"query\": \"q\", \"response\": \"r\", \"positive\": true, "
           "\"created_at\": \"2026-01-01T00:00:00Z\", \"extra\": 1}\n"
           "{\"response\": \"r\", \"positive\": true, "
           "\"created_at\": \"2026-01-01T00:00:00Z\"}\n");
    snprintf(args, sizeof(args), "ingest '%s'", p);
    cr_assert(eq(int, run_cli(args, out, sizeof(out)), 2), "%s", out);
    cr_assert(strstr(out, "line 2: positive") != NULL, "%s", out);
    cr_assert(strstr(out, "line 4: created_at") != NULL, "%s", out);
    cr_assert(strstr(out, "line 5: invalid JSON") != NULL, "%s", out);
    cr_assert(strstr(out, "line 6: unknown field 'extra'") != NULL, "%s", out);
    cr_assert(strstr(out, "line 7: query: missing") != NULL, "%s", out);
    cr_assert(strstr(out, "nothing was written") != NULL, "%s", out);
    dm_store_t *s = open_store(true);
    cr_assert(eq(u64, count_rows(s), 0));
    dm_store_free(s);
    /* --skip-invalid writes the two good rows */
    snprintf(args, sizeof(args), "ingest '%s' --skip-invalid", p);
    cr_assert(eq(int, run_cli(args, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "line 2: positive") != NULL, "%s", out);
    s = open_store(false);
    cr_assert(eq(u64, count_rows(s), 2));
    dm_store_free(s);
}

Test(store, ingest_csv_edge_cases)
{
    char p[600], out[8192], args[700];
    snprintf(p, sizeof(p), "%s/a.csv", dir);
    tu_write_file(p, "\xef\xbb\xbf"
                     "created_at,positive,intent,response,query,id\r\n"
                     "2026-01-01T00:00:00Z,true,code,\"line1\r\nline2\",\"say "
                     "\"\"hi\"\", ok\",c1\r\n"
                     "\r\n"
                     "2026-01-01T00:00:01Z,0,,\"\",\"q'; DROP TABLE x;--\",c2\n"
                     "2026-01-01T00:00:02Z,YES,debug,r,q,\n");
    snprintf(args, sizeof(args), "ingest '%s'", p);
    cr_assert(eq(int, run_cli(args, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "3 inserted") != NULL, "%s", out);
    dm_store_t *s = open_store(false);
    dm_store_sample_t smp;
    char err[EB];
    cr_assert(
        eq(int,
           dm_store_window_sample(s, T0, T0 + 10000, 0, &smp, err, sizeof(err)),
           DM_OK));
    cr_assert(eq(sz, smp.n, 3));
    int seen = 0;
    for (size_t i = 0; i < smp.n; i++) {
        if (strcmp(smp.rows[i].id, "c1") == 0) {
            cr_assert(STREQ(smp.rows[i].query, "say \"hi\", ok"));
            cr_assert(STREQ(smp.rows[i].response, "line1\r\nline2"));
            seen++;
        } else if (strcmp(smp.rows[i].id, "c2") == 0) {
            cr_assert(STREQ(smp.rows[i].query, "q'; DROP TABLE x;--"));
            cr_assert(STREQ(smp.rows[i].response, ""));
            seen++;
        }
    }
    cr_assert(eq(int, seen, 2));
    dm_store_sample_cleanup(&smp);
    dm_store_window_t w;
    cr_assert(eq(
        int, dm_store_window_aggregate(s, T0, T0 + 10000, &w, err, sizeof(err)),
        DM_OK));
    cr_assert(eq(u64, w.positives, 2));
    dm_store_window_cleanup(&w);
    dm_store_free(s);

    /* a bad CSV: line numbers count physical lines (quoted newlines) */
    snprintf(p, sizeof(p), "%s/bad.csv", dir);
    tu_write_file(p, "query,response,positive,created_at\n"
                     "\"multi\nline\",r,true,2026-01-01T00:00:00Z\n"
                     "q,r,maybe,2026-01-01T00:00:00Z\n"
                     "q,r,true\n"
                     "q,\"r\"x,true,2026-01-01T00:00:00Z\n"
                     "q,r,true,2026-01-01T00:00:00Z\n"
                     "\"unterminated,r,true,2026-01-01T00:00:00Z\n");
    snprintf(args, sizeof(args), "ingest '%s'", p);
    cr_assert(eq(int, run_cli(args, out, sizeof(out)), 2), "%s", out);
    cr_assert(strstr(out, "line 4: positive") != NULL, "%s", out);
    cr_assert(strstr(out, "line 5: 3 fields, the header has 4") != NULL, "%s",
              out);
    cr_assert(strstr(out, "line 6: unexpected character") != NULL, "%s", out);
    cr_assert(strstr(out, "line 8: unterminated") != NULL, "%s", out);
    s = open_store(false);
    cr_assert(eq(u64, count_rows(s), 3)); /* unchanged */
    dm_store_free(s);
}

Test(store, concurrent_ingest_commands)
{
    char cmd[4096];
    char p1[600], p2[600];
    FILE *f1, *f2;

    snprintf(p1, sizeof(p1), "%s/one.jsonl", dir);
    snprintf(p2, sizeof(p2), "%s/two.jsonl", dir);
    f1 = fopen(p1, "w");
    f2 = fopen(p2, "w");
    cr_assert(f1 && f2);
    for (int i = 0; i < 5000; i++) {
        fprintf(f1,
                "{\"id\": \"one-%d\", \"query\": \"q\", \"response\": "
                "\"r\", \"positive\": true, \"created_at\": "
                "\"2026-01-01T00:00:00Z\"}\n",
                i);
        fprintf(f2,
                "{\"id\": \"two-%d\", \"query\": \"q\", \"response\": "
                "\"r\", \"positive\": false, \"created_at\": "
                "\"2026-01-01T00:00:00Z\"}\n",
                i);
    }
    fclose(f1);
    fclose(f2);
    dm_store_t *s = open_store(true);
    snprintf(cmd, sizeof(cmd),
             "B='%s'; C='%s'; \"$B\" ingest '%s' --config \"$C\" 2>/dev/null "
             "& a=$!; \"$B\" ingest '%s' --config \"$C\" --skip-invalid "
             "2>/dev/null & b=$!; wait $a || exit 1; wait $b || exit 2",
             getenv("DM_BINARY"), cfg_path, p1, p2);
    cr_assert(eq(int, system(cmd), 0));
    cr_assert(eq(u64, count_rows(s), 10000));
    dm_store_free(s);
}

/* ---- backend-specific failure modes ------------------------------------ */

Test(store, sqlite_read_only_and_full)
{
    char err[EB], yaml[1024];
    dm_feedback_row_t r = {"x", "q", "r", "code", true, T0};

    if (is_pg) {
        /* The PostgreSQL counterpart: a wrong password or an unreachable
         * server fails cleanly and the message carries no secret. */
        dm_config_t *cfg = NULL;
        dm_store_t *s = NULL;
        snprintf(yaml, sizeof(yaml),
                 "database:\n  backend: postgres\n  url: "
                 "\"postgresql://nobody:s3cretpw@127.0.0.1:1/x\"\n");
        tu_write_file(cfg_path, yaml);
        cr_assert(
            eq(int, dm_config_load(cfg_path, &cfg, err, sizeof(err)), DM_OK));
        cr_assert(eq(int, dm_store_open(cfg, &s, err, sizeof(err)), DM_ESTORE));
        cr_assert(s == NULL);
        cr_assert(strstr(err, "s3cretpw") == NULL, "%s", err);
        cr_assert(strstr(err, "postgres: cannot connect") != NULL, "%s", err);
        dm_config_free(cfg);
        return;
    }
    /* read-only: a database opened read-only refuses writes clearly */
    dm_store_t *s = open_store(true);
    dm_store_free(s);
    snprintf(yaml, sizeof(yaml),
             "database:\n  backend: sqlite\n  path: \"file:%s?mode=ro\"\n",
             db_url);
    tu_write_file(cfg_path, yaml);
    s = open_store(false);
    int rc = dm_store_feedback_insert(s, &r, 1, NULL, err, sizeof(err));
    cr_assert(eq(int, rc, DM_ESTORE));
    cr_assert(strstr(err, "read-only") != NULL, "%s", err);
    dm_store_free(s);
    /* a missing directory */
    snprintf(yaml, sizeof(yaml),
             "database:\n  backend: sqlite\n  path: \"%s/no/such/dir/x.db\"\n",
             dir);
    tu_write_file(cfg_path, yaml);
    {
        dm_config_t *cfg = load_cfg();
        cr_assert(eq(int, dm_store_open(cfg, &s, err, sizeof(err)), DM_ESTORE));
        cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
        dm_config_free(cfg);
    }
    /* full: cap the file with max_page_count, then write past it */
    snprintf(yaml, sizeof(yaml),
             "database:\n  backend: sqlite\n  path: \"%s\"\n", db_url);
    tu_write_file(cfg_path, yaml);
    s = open_store(true);
    cr_assert(eq(int,
                 dm_store_test_exec(s, "PRAGMA max_page_count = 40", err,
                                    sizeof(err)),
                 DM_OK),
              "%s", err);
    static char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    dm_feedback_row_t rows[200];
    static char ids[200][8];
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof(ids[i]), "f%d", i);
        rows[i] = (dm_feedback_row_t){ids[i], big, big, "code", true, T0};
    }
    rc = dm_store_feedback_insert(s, rows, 200, NULL, err, sizeof(err));
    cr_assert(eq(int, rc, DM_ESTORE));
    cr_assert(strstr(err, "full") != NULL, "%s", err);
    /* the failed call wrote nothing and the handle still works */
    cr_assert(eq(u64, count_rows(s), 0));
    insert(s, &r, 1, 1);
    dm_store_free(s);
}

/*
 * The read-only case of the child of sqlite_read_only_wal_directory:
 * 0 when every step holds, else writes what failed to fd and returns the
 * step's number.
 */
static int read_only_child(int fd)
{
    dm_feedback_row_t r = {"y", "q", "r", "code", true, T0};
    dm_config_t *cfg = NULL;
    dm_store_t *s = NULL;
    uint64_t n = 0;
    char err[EB] = "", why[EB] = "";
    int step = 0;

    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
        step = 1;
        snprintf(err, sizeof(err), "cannot drop root");
    } else if (dm_config_load(cfg_path, &cfg, err, sizeof(err)) != DM_OK) {
        step = 2;
    } else if (dm_store_open(cfg, &s, err, sizeof(err)) != DM_OK) {
        step = 3;
    } else if (dm_store_feedback_count(s, &n, err, sizeof(err)) != DM_OK ||
               n != 1) {
        step = 4;
        if (!err[0])
            snprintf(err, sizeof(err), "%" PRIu64 " rows, not 1", n);
    } else if (dm_store_feedback_insert(s, &r, 1, NULL, err, sizeof(err)) !=
                   DM_ESTORE ||
               strstr(err, "read-only") == NULL) {
        step = 5;
    } else if (dm_store_writable(s, why, sizeof(why)) ||
               strstr(why, "read-only") == NULL) {
        step = 6;
        snprintf(err, sizeof(err), "writable, or why = '%.400s'", why);
    }
    dm_store_free(s);
    dm_config_free(cfg);
    if (step && write(fd, err, strlen(err)) < 0)
        step += 100;
    return step;
}

Test(store, sqlite_read_only_wal_directory)
{
    char shm[600], msg[EB] = "";
    int fds[2], status = 0;
    pid_t pid;

    if (is_pg) {
        /* PostgreSQL cannot tell without writing: always "writable" */
        dm_store_t *s = open_store(true);
        cr_assert(dm_store_writable(s, msg, sizeof(msg)));
        cr_assert(msg[0] == '\0', "%s", msg);
        dm_store_free(s);
        return;
    }
    /* A WAL database closed cleanly has no -shm file; in a read-only
     * directory none can be created, and SQLite cannot even read it
     * without one (unless opened immutable).  Root ignores file modes:
     * the read-only part runs in a child without privileges. */
    dm_feedback_row_t r = {"x", "q", "r", "code", true, T0};
    dm_store_t *s = open_store(true);
    insert(s, &r, 1, 1);
    cr_assert(dm_store_writable(s, msg, sizeof(msg)), "%s", msg);
    dm_store_free(s);
    snprintf(shm, sizeof(shm), "%s-shm", db_url);
    cr_assert(access(shm, F_OK) != 0, "no -shm file after a clean close");
    cr_assert(eq(int, chmod(db_url, 0444), 0));
    cr_assert(eq(int, chmod(dir, 0555), 0));
    cr_assert(eq(int, pipe(fds), 0));
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(read_only_child(fds[1]));
    }
    close(fds[1]);
    ssize_t got = read(fds[0], msg, sizeof(msg) - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(fds[0]);
    cr_assert(eq(int, waitpid(pid, &status, 0), pid));
    cr_assert(eq(int, chmod(dir, 0700), 0));
    cr_assert(eq(int, chmod(db_url, 0644), 0));
    int step = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    cr_assert(step == 0, "read-only step %d failed: %s", step, msg);
}

/* Restarts the server: runs alone (its own meson test and server). */
TestSuite(store_restart, .init = setup, .fini = teardown,
          .timeout = 180 * DM_TEST_TIMEOUT_SCALE);

Test(store_restart, postgres_restart_reconnects)
{
    char err[EB];
    dm_feedback_row_t r = {"x", "q", "r", "code", true, T0};

    if (!is_pg) {
        /* SQLite counterpart: a second handle sees what the first wrote
         * after the first is closed and reopened. */
        dm_store_t *s = open_store(true);
        insert(s, &r, 1, 1);
        dm_store_free(s);
        s = open_store(true);
        cr_assert(eq(u64, count_rows(s), 1));
        dm_store_free(s);
        return;
    }
    dm_store_t *s = open_store(true);
    insert(s, &r, 1, 1);
    cr_assert(
        eq(int, dm_store_lock_try(s, "drift-check", err, sizeof(err)), DM_OK));
    const char *restart = getenv("DM_PG_RESTART");
    cr_assert(restart != NULL);
    cr_assert(eq(int, system(restart), 0));
    /* the first call notices the lost session and fails cleanly ... */
    int rc = dm_store_ping(s, err, sizeof(err));
    cr_assert(eq(int, rc, DM_ESTORE));
    cr_assert(strstr(err, "postgres") != NULL, "%s", err);
    /* ... the next reconnects and works; the data is still there */
    cr_assert(eq(int, dm_store_ping(s, err, sizeof(err)), DM_OK), "%s", err);
    cr_assert(eq(u64, count_rows(s), 1));
    /* the session lock died with the session; it can be taken again */
    cr_assert(
        eq(int, dm_store_lock_try(s, "drift-check", err, sizeof(err)), DM_OK),
        "%s", err);
    /* a restart inside a transaction: it fails, rollback, then works */
    cr_assert(eq(int, dm_store_tx_begin(s, err, sizeof(err)), DM_OK));
    cr_assert(eq(int, system(restart), 0));
    dm_feedback_row_t r2 = {"y", "q", "r", "code", true, T0};
    cr_assert(eq(int,
                 dm_store_feedback_insert(s, &r2, 1, NULL, err, sizeof(err)),
                 DM_ESTORE));
    cr_assert(eq(int,
                 dm_store_feedback_insert(s, &r2, 1, NULL, err, sizeof(err)),
                 DM_ESTORE));
    dm_store_tx_rollback(s);
    insert(s, &r2, 1, 1);
    cr_assert(eq(u64, count_rows(s), 2));
    dm_store_free(s);
}

/* A second handle on the test's store with extra database.feedback keys. */
static dm_store_t *open_with_feedback(const char *feedback_yaml)
{
    char path[600], yaml[4096], err[EB];
    dm_config_t *cfg = NULL;
    dm_store_t *s = NULL;
    FILE *f = fopen(cfg_path, "r");
    size_t n;
    int rc;

    cr_assert(f != NULL);
    n = fread(yaml, 1, sizeof(yaml) - 1, f);
    fclose(f);
    yaml[n] = '\0';
    snprintf(yaml + n, sizeof(yaml) - n, "  feedback:\n%s", feedback_yaml);
    snprintf(path, sizeof(path), "%s/positive.yaml", dir);
    tu_write_file(path, yaml);
    rc = dm_config_load(path, &cfg, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "config: %s", err);
    rc = dm_store_open(cfg, &s, err, sizeof(err));
    dm_config_free(cfg);
    cr_assert(eq(int, rc, DM_OK), "open: %s", err);
    return s;
}

/* Positives of [T0, T0 + 100), or the error (-1 and the message). */
static long positives_or_error(const char *feedback_yaml, char *err)
{
    dm_store_t *s = open_with_feedback(feedback_yaml);
    dm_store_window_t w;
    long got = -1;

    err[0] = '\0';
    if (dm_store_window_aggregate(s, T0, T0 + 100, &w, err, EB) == DM_OK) {
        got = (long)w.positives;
        cr_assert(eq(u64, w.total, 6));
        dm_store_window_cleanup(&w);
    }
    dm_store_free(s);
    return got;
}

Test(store, positive_column_mappings)
{
    dm_store_t *s = open_store(true);
    dm_feedback_row_t rows[6];
    char ids[6][4], err[EB];

    for (int i = 0; i < 6; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%d", i + 1);
        rows[i] =
            (dm_feedback_row_t){ids[i], "q", "r", "code", i % 2 == 0, T0 + i};
    }
    insert(s, rows, 6, 6);
    /* a 1-6 rating and a text label beside the boolean column */
    cr_assert(eq(int,
                 dm_store_test_exec(
                     s,
                     "ALTER TABLE feedback ADD COLUMN rating INTEGER;"
                     "ALTER TABLE feedback ADD COLUMN label TEXT;"
                     "UPDATE feedback SET rating = CAST(id AS INTEGER), "
                     "label = CASE WHEN id IN ('1', '2') THEN 'Thumbs_Up' "
                     "ELSE 'thumbs_down' END;",
                     err, sizeof(err)),
                 DM_OK),
              "%s", err);
    dm_store_free(s);

    /* the boolean column, as before */
    cr_assert(
        eq(long, positives_or_error("    positive_column: positive\n", err), 3),
        "%s", err);
    /* a rating read as a boolean: an error naming the keys to set */
    cr_assert(
        eq(long, positives_or_error("    positive_column: rating\n", err), -1));
    cr_assert(strstr(err, "positive_column 'rating': 5 rows") &&
                  strstr(err, "positive_threshold"),
              "%s", err);
    cr_assert(eq(long,
                 positives_or_error("    positive_column: rating\n"
                                    "    positive_threshold: 4\n",
                                    err),
                 3),
              "%s", err);
    /* text labels */
    cr_assert(eq(long,
                 positives_or_error("    positive_column: label\n"
                                    "    positive_values: [thumbs_up]\n",
                                    err),
                 2),
              "%s", err);
    cr_assert(
        eq(long, positives_or_error("    positive_column: label\n", err), -1));
    cr_assert(strstr(err, "positive_column 'label': 6 rows") &&
                  strstr(err, "positive_values"),
              "%s", err);
    /* text read as a rating: refused (SQLite: by type; PostgreSQL: the
       cast fails), naming the column */
    cr_assert(eq(long,
                 positives_or_error("    positive_column: label\n"
                                    "    positive_threshold: 4\n",
                                    err),
                 -1));
    cr_assert(strstr(err, "positive_column 'label'") != NULL, "%s", err);
}
