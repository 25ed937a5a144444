/*
 * bench_check.c - one full drift check (src/monitor/), cold and warm.
 *
 *     bench_check [--rows N] [--models hashing,tiny,minilm] [--threads N]
 *
 * For each embedder: a temporary SQLite store gets N rows per window
 * (default 5,000: the default max_samples_per_window) of synthetic
 * feedback whose current window drifts; then one check with nothing
 * cached (cold: every sampled row is embedded and cached) and one with
 * everything cached (warm), each with its wall time per phase.  Embedders:
 * "hashing" (384-d), "tiny" (the fixture BERT in
 * ../shared/fixtures/minilm-tiny) and "minilm" (a random-weight BERT of
 * exactly all-MiniLM-L6-v2's shape, written to a temporary directory; the
 * speed does not depend on the weights).  Target: warm < 1 s; cold is
 * bounded by embedding throughput (see bench_embed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/time.h"
#include "config/config.h"
#include "embed/encoder.h"
#include "support/randbert.h"
#include "monitor/monitor.h"
#include "monitor/synth.h"
#include "stats/stats.h"
#include "store/store.h"

#ifndef DM_FIXTURES
#define DM_FIXTURES "../shared/fixtures"
#endif

static const double base_topics[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                    1, 0, 0, 0, 0};
static const double cur_topics[DM_SYNTH_TOPICS] = {0.1, 0.1, 0, 0, 0,
                                                   0,   1,   1, 1, 1};

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_check: %s: %s\n", what, err);
    exit(1);
}

static void print_run(const char *label, const dm_monitor_result_t *r)
{
    printf("  %-5s total %8.1f ms | aggregate %6.1f  sample %6.1f  embed "
           "%9.1f  stats %7.1f (tests %6.1f, explanation %6.1f)  store "
           "%5.1f | embedded %zu of %zu",
           label, r->total_ms, r->phase_ms[DM_MONITOR_PHASE_AGGREGATE],
           r->phase_ms[DM_MONITOR_PHASE_SAMPLE],
           r->phase_ms[DM_MONITOR_PHASE_EMBED],
           r->phase_ms[DM_MONITOR_PHASE_STATS],
           r->phase_ms[DM_MONITOR_PHASE_STATS] - r->analysis.explain_ms,
           r->analysis.explain_ms, r->phase_ms[DM_MONITOR_PHASE_STORE],
           r->embedded_now, r->baseline_sampled + r->current_sampled);
    if (r->embedded_now > 0 && r->phase_ms[DM_MONITOR_PHASE_EMBED] > 0)
        printf(" (%.0f rows/s)",
               (double)r->embedded_now /
                   (r->phase_ms[DM_MONITOR_PHASE_EMBED] / 1000.0));
    printf("\n");
}

static void bench_one(const char *name, const char *model,
                      const char *model_path, size_t dim, size_t rows,
                      unsigned threads)
{
    char dir[] = "/tmp/dm-bench-check.XXXXXX", path[512], yaml[2048];
    char err[DM_ERRBUF_SIZE], cmd[600];
    dm_config_t *cfg = NULL;
    dm_store_t *st = NULL;
    dm_monitor_t *m = NULL;
    dm_monitor_result_t r;
    dm_monitor_check_opts_t co = {0};
    int64_t now = dm_time_now_ms();
    dm_synth_opts_t so = {0};
    FILE *f;

    if (mkdtemp(dir) == NULL)
        die("mkdtemp", strerror(errno));
    snprintf(path, sizeof(path), "%s/bench.yaml", dir);
    snprintf(yaml, sizeof(yaml),
             "embeddings:\n  model: \"%s\"\n  model_path: \"%s\"\n"
             "  threads: %u\n  dimension: %zu\n"
             "monitoring:\n  max_samples_per_window: 5000\n"
             "alerts:\n  enabled: false\nfine_tuning:\n  auto_trigger: false\n"
             "database:\n  backend: sqlite\n  path: \"%s/bench.db\"\n"
             "logging:\n  level: warn\n",
             model, model_path ? model_path : "", threads, dim, dir);
    f = fopen(path, "w");
    if (f == NULL || fputs(yaml, f) < 0 || fclose(f) != 0)
        die(path, strerror(errno));
    if (dm_config_load(path, &cfg, err, sizeof(err)) != DM_OK)
        die("config", err);
    if (dm_store_open(cfg, &st, err, sizeof(err)) != DM_OK ||
        dm_store_migrate(st, NULL, err, sizeof(err)) != DM_OK ||
        dm_store_tx_begin(st, err, sizeof(err)) != DM_OK)
        die("store", err);
    so.seed = 1;
    so.rows = rows;
    so.start_ms = now - 14 * DM_MS_PER_DAY;
    so.end_ms = now - 7 * DM_MS_PER_DAY;
    so.topic_weights = base_topics;
    so.positive_rate = 0.86;
    so.id_prefix = "b";
    if (dm_synth_ingest(st, &so, NULL, err, sizeof(err)) != DM_OK)
        die("ingest", err);
    so.seed = 2;
    so.start_ms = now - 7 * DM_MS_PER_DAY;
    so.end_ms = now;
    so.topic_weights = cur_topics;
    so.positive_rate = 0.7;
    so.id_prefix = "c";
    if (dm_synth_ingest(st, &so, NULL, err, sizeof(err)) != DM_OK ||
        dm_store_tx_commit(st, err, sizeof(err)) != DM_OK)
        die("ingest", err);
    dm_store_free(st);
    if (dm_monitor_new(cfg, NULL, &m, err, sizeof(err)) != DM_OK)
        die("monitor", err);
    co.as_of_ms = now + 1;
    printf("%s (%s), %zu + %zu rows, %u permutations, %u thread%s:\n", name,
           model, rows, rows, cfg->significance.permutations, threads,
           threads == 1 ? "" : "s");
    if (dm_monitor_check(m, &co, &r, err, sizeof(err)) != DM_OK)
        die("cold check", err);
    print_run("cold", &r);
    if (dm_monitor_check(m, &co, &r, err, sizeof(err)) != DM_OK)
        die("warm check", err);
    print_run("warm", &r);
    printf("        drift %s, severity %s, embedder %s\n\n",
           r.analysis.verdict.drift_detected ? "detected" : "not detected",
           r.have_analysis ? dm_severity_name(r.analysis.verdict.severity)
                           : "-",
           r.embedder);
    dm_monitor_free(m);
    dm_config_free(cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_check: cannot remove %s\n", dir);
}

int main(int argc, char **argv)
{
    size_t rows = 5000;
    const char *models = "hashing,tiny,minilm";
    unsigned threads = 2;
    char err[DM_ERRBUF_SIZE], tmp[] = "/tmp/dm-bench-minilm.XXXXXX";
    bool made_minilm = false;

    dm_encoder_blas_autotune(argv);
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rows") == 0) {
            rows = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--models") == 0) {
            models = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) {
            threads = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_check [--rows N] [--models "
                            "hashing,tiny,minilm] [--threads N]\n");
            return 2;
        }
    }
    if (rows < 100 || threads == 0) {
        fprintf(stderr, "bench_check: --rows must be >= 100, --threads >= 1\n");
        return 2;
    }
    printf("OpenBLAS core: %s\n\n", dm_encoder_blas_core());
    if (strstr(models, "hashing"))
        bench_one("hashing", "hashing", NULL, 384, rows, threads);
    if (strstr(models, "tiny"))
        bench_one("tiny fixture BERT", "minilm-tiny",
                  DM_FIXTURES "/minilm-tiny", 32, rows, threads);
    if (strstr(models, "minilm")) {
        dm_randbert_opts_t ro;

        dm_randbert_opts_minilm(&ro);
        ro.vocab_path = DM_FIXTURES "/minilm-tiny/vocab.txt";
        ro.vocab_size = 0;
        if (mkdtemp(tmp) == NULL)
            die("mkdtemp", strerror(errno));
        if (dm_randbert_write(&ro, tmp, err, sizeof(err)) != DM_OK)
            die("random model", err);
        made_minilm = true;
        bench_one("random all-MiniLM-L6-v2-shaped BERT",
                  "sentence-transformers/all-MiniLM-L6-v2", tmp, ro.hidden,
                  rows, threads);
    }
    if (made_minilm)
        dm_randbert_remove(tmp);
    return 0;
}
