/*
 * bench_store.c - store throughput: JSONL ingest (parse + validate +
 * insert in batches of 1000 inside one transaction, as `driftmon ingest`
 * does) in rows/s, and the window aggregates (count, positives, per
 * intent) over a table of --rows feedback rows (default 1,000,000), best
 * and median of 5 runs.  Targets: >= 100k rows/s into SQLite; aggregates
 * < 300 ms on both backends.
 *
 *   bench_store [--backend sqlite|postgres] [--rows N] [--ingest-rows N]
 *
 * PostgreSQL uses DM_PG_URL (run under tests/pg/with-postgres).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rng.h"
#include "common/time.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "store/store.h"
#include "store/store_int.h" /* dm_store_test_exec: TRUNCATE, VACUUM */

#define T0    INT64_C(1767225600000)
#define BATCH 1000

static const char *intents[] = {"code",  "reasoning",     "general",
                                "debug", "documentation", "other"};

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, err);
    exit(1);
}

static dm_store_t *open_store(const char *backend, const char *dir,
                              const char *dbname)
{
    char path[512], yaml[1024], err[DM_ERRBUF_SIZE];
    dm_config_t *cfg = NULL;
    dm_store_t *s = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/bench.yaml", dir);
    if (strcmp(backend, "postgres") == 0) {
        const char *url = getenv("DM_PG_URL");
        if (!url)
            die("postgres", "DM_PG_URL not set (use tests/pg/with-postgres)");
        snprintf(yaml, sizeof(yaml),
                 "database:\n  backend: postgres\n  url: \"%s\"\n", url);
    } else {
        snprintf(yaml, sizeof(yaml),
                 "database:\n  backend: sqlite\n  path: \"%s/%s.db\"\n", dir,
                 dbname);
    }
    f = fopen(path, "w");
    if (!f)
        die("config", path);
    fputs(yaml, f);
    fclose(f);
    if (dm_config_load(path, &cfg, err, sizeof(err)) != DM_OK)
        die("config", err);
    if (dm_store_open(cfg, &s, err, sizeof(err)) != DM_OK)
        die("open", err);
    if (dm_store_migrate(s, NULL, err, sizeof(err)) != DM_OK)
        die("migrate", err);
    dm_config_free(cfg);
    return s;
}

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static void bench_ingest(dm_store_t *s, const char *dir, size_t n)
{
    static const dm_ingest_policy_t policy = {
        .on_bad = DM_INGEST_STOP, .atomic = true, .batch = BATCH};
    char path[512], err[DM_ERRBUF_SIZE];
    dm_ingest_reader_t *rd = NULL;
    dm_ingest_source_t src;
    dm_ingest_stats_t stats;
    dm_rng_t rng;
    size_t total;
    uint64_t t;
    FILE *f;

    snprintf(path, sizeof(path), "%s/ingest.jsonl", dir);
    f = fopen(path, "w");
    if (!f)
        die("write", path);
    dm_rng_seed(&rng, 1);
    for (size_t i = 0; i < n; i++) {
        char ts[DM_TIME_STRLEN];
        dm_time_format_ms(T0 + (int64_t)i * 1000, ts, sizeof(ts));
        fprintf(f,
                "{\"id\": \"ing-%zu\", \"query\": \"how do I sort a list "
                "in python %" PRIu64 "\", \"response\": \"use sorted() or "
                "list.sort()\", \"intent\": \"%s\", \"positive\": %s, "
                "\"created_at\": \"%s\"}\n",
                i, dm_rng_below(&rng, 1000), intents[i % 6],
                dm_rng_below(&rng, 4) ? "true" : "false", ts);
    }
    fclose(f);

    /* the path of `driftmon ingest FILE`: one policy, one transaction */
    t = dm_time_mono_ns();
    if (dm_ingest_reader_open(path, DM_INGEST_JSONL, &rd, err, sizeof(err)) !=
        DM_OK)
        die("reader", err);
    dm_ingest_source_init_reader(&src, rd);
    if (dm_ingest_run(s, &src, &policy, &stats, err, sizeof(err)) != DM_OK)
        die("ingest", err);
    total = stats.inserted;
    t = dm_time_mono_ns() - t;
    dm_ingest_reader_free(rd);
    unlink(path);
    printf("ingest   %-8s %zu rows (JSONL parse + insert) in %.3f s: "
           "%.0f rows/s\n",
           dm_store_backend(s), total, secs(t), (double)total / secs(t));
}

/* Fills the table with n rows over 14 days (pre-built, batched). */
static void fill(dm_store_t *s, size_t n)
{
    static char ids[BATCH][24];
    dm_feedback_row_t rows[BATCH];
    char err[DM_ERRBUF_SIZE];
    dm_rng_t rng;
    uint64_t t = dm_time_mono_ns();

    dm_rng_seed(&rng, 2);
    if (dm_store_tx_begin(s, err, sizeof(err)) != DM_OK)
        die("begin", err);
    for (size_t done = 0; done < n; done += BATCH) {
        size_t k = n - done < BATCH ? n - done : BATCH;
        for (size_t j = 0; j < k; j++) {
            snprintf(ids[j], sizeof(ids[j]), "agg-%zu", done + j);
            rows[j] = (dm_feedback_row_t){
                ids[j],
                "q",
                "r",
                intents[dm_rng_below(&rng, 6)],
                dm_rng_below(&rng, 5) != 0,
                T0 + (int64_t)dm_rng_below(&rng, 14 * DM_MS_PER_DAY)};
        }
        if (dm_store_feedback_insert(s, rows, k, NULL, err, sizeof(err)) !=
            DM_OK)
            die("fill", err);
    }
    if (dm_store_tx_commit(s, err, sizeof(err)) != DM_OK)
        die("commit", err);
    t = dm_time_mono_ns() - t;
    printf("fill     %-8s %zu rows in %.2f s (%.0f rows/s, pre-built "
           "rows)\n",
           dm_store_backend(s), n, secs(t), (double)n / secs(t));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void bench_aggregate(dm_store_t *s, int64_t start, int64_t end,
                            const char *label)
{
    char err[DM_ERRBUF_SIZE];
    uint64_t ns[5], total = 0;
    size_t n_intents = 0;
    dm_store_window_t w;

    for (int i = 0; i < 5; i++) {
        uint64_t t = dm_time_mono_ns();
        if (dm_store_window_aggregate(s, start, end, &w, err, sizeof(err)) !=
            DM_OK)
            die("aggregate", err);
        ns[i] = dm_time_mono_ns() - t;
        total = w.total;
        n_intents = w.n_intents;
        dm_store_window_cleanup(&w);
    }
    qsort(ns, 5, sizeof(ns[0]), cmp_u64);
    printf("window   %-8s %s: %" PRIu64 " rows, %zu intents: best %.1f ms, "
           "median %.1f ms (of 5)\n",
           dm_store_backend(s), label, total, n_intents, (double)ns[0] / 1e6,
           (double)ns[2] / 1e6);
}

int main(int argc, char **argv)
{
    const char *backend = "sqlite";
    size_t rows = 1000000, ingest_rows = 200000;
    char dir[] = "/tmp/dm-bench-store.XXXXXX", err[DM_ERRBUF_SIZE];
    dm_store_t *s;

    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--backend") == 0)
            backend = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--rows") == 0)
            rows = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--ingest-rows") == 0)
            ingest_rows = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_store [--backend sqlite|postgres] "
                            "[--rows N] [--ingest-rows N]\n");
            return 2;
        }
    }
    if (!mkdtemp(dir))
        die("mkdtemp", dir);
    s = open_store(backend, dir, "ingest");
    bench_ingest(s, dir, ingest_rows);
    dm_store_free(s);

    s = open_store(backend, dir, "agg");
    if (strcmp(backend, "postgres") == 0 &&
        dm_store_test_exec(s, "TRUNCATE feedback", err, sizeof(err)) != DM_OK)
        die("truncate", err);
    fill(s, rows);
    /* what autovacuum / a periodic ANALYZE would have done by then */
    if (dm_store_test_exec(s,
                           strcmp(backend, "postgres") == 0
                               ? "VACUUM ANALYZE feedback"
                               : "ANALYZE",
                           err, sizeof(err)) != DM_OK)
        die("analyze", err);
    bench_aggregate(s, T0 + 7 * DM_MS_PER_DAY, T0 + 14 * DM_MS_PER_DAY,
                    "7-day window (~half the rows)");
    bench_aggregate(s, T0, T0 + 14 * DM_MS_PER_DAY, "all rows");
    dm_store_free(s);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_store: cannot remove %s\n", dir);
    }
    return 0;
}
