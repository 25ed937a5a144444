/*
 * bench_api_seed.c - fills a store for bench/bench_api.sh: N stored drift
 * checks spread evenly over the last D days (so GET /drift/metrics?days=D
 * returns all N), and synthetic feedback (R rows per 7-day window, the
 * current week drifted) so that a POST /drift/check has real work to do
 * while the load generator runs.
 *
 *   bench_api_seed --config FILE [--checks 1000] [--days 30] [--rows 5000]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"
#include "config/config.h"
#include "monitor/synth.h"
#include "store/store.h"

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_api_seed: %s: %s\n", what, err);
    exit(1);
}

static long arg_long(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || *end || v < 0)
        die("bad number", s);
    return v;
}

int main(int argc, char **argv)
{
    /* dm_store_check_t has char * fields (owned when read back); on
     * insert they are only read, so writable copies of the literals. */
    static char sev[4][10] = {"none", "info", "warning", "critical"};
    static char s_ok[] = "ok", s_model[] = "hashing-384",
                s_perm[] = "permutation", s_excess[] = "excess",
                s_supp[] = "suppressed", s_details[] = "{\"seeded\":true}";
    static const double base_topics[DM_SYNTH_TOPICS] = {4, 3, 1, 1, 1,
                                                        1, 2, 1, 1, 1};
    static const double cur_topics[DM_SYNTH_TOPICS] = {1, 1, 2, 2, 3,
                                                       3, 1, 1, 3, 3};
    const char *cfg_path = NULL;
    long n_checks = 1000, days = 30, rows = 5000;
    dm_config_t *cfg = NULL;
    dm_store_t *st = NULL;
    char err[DM_ERRBUF_SIZE];
    int64_t now = dm_time_now_ms();
    size_t ins = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--config") == 0)
            cfg_path = argv[i + 1];
        else if (strcmp(argv[i], "--checks") == 0)
            n_checks = arg_long(argv[i + 1]);
        else if (strcmp(argv[i], "--days") == 0)
            days = arg_long(argv[i + 1]);
        else if (strcmp(argv[i], "--rows") == 0)
            rows = arg_long(argv[i + 1]);
        else
            die("unknown option", argv[i]);
    }
    if (cfg_path == NULL || days < 1)
        die("usage", "bench_api_seed --config FILE [--checks N] [--days D] "
                     "[--rows R]");
    if (dm_config_load(cfg_path, &cfg, err, sizeof(err)) != DM_OK)
        die("config", err);
    if (dm_store_open(cfg, &st, err, sizeof(err)) != DM_OK ||
        dm_store_migrate(st, NULL, err, sizeof(err)) != DM_OK)
        die("store", err);
    if (dm_store_tx_begin(st, err, sizeof(err)) != DM_OK)
        die("begin", err);
    for (long i = 0; i < n_checks; i++) {
        dm_store_check_t c;
        /* newest a minute ago, oldest just inside the window */
        int64_t at = now - 60000 -
                     (int64_t)((double)i / (double)n_checks *
                               (double)((days * DM_MS_PER_DAY) - 120000));
        double phase = sin((double)i / 40.0);

        dm_store_check_init(&c);
        c.checked_at_ms = at;
        c.status = s_ok;
        c.current_end_ms = at;
        c.current_start_ms = at - 7 * DM_MS_PER_DAY;
        c.baseline_end_ms = c.current_start_ms;
        c.baseline_start_ms = at - 14 * DM_MS_PER_DAY;
        c.baseline_count = c.current_count = 5000;
        c.baseline_sampled = c.current_sampled = 5000;
        c.model = s_model;
        c.kl_divergence = 0.12 + 0.05 * phase;
        c.kl_excess = 0.06 + 0.05 * phase;
        c.kl_p_value = 0.01;
        c.kl_max = 0.4;
        c.n_top_dims = 5;
        for (int d = 0; d < 5; d++)
            c.kl_top_dims[d] = d * 7;
        c.psi = 0.15 + 0.1 * phase;
        c.psi_p_value = 0.02;
        c.psi_method = s_perm;
        c.baseline_accuracy = 0.86;
        c.current_accuracy = 0.8 - 0.05 * phase;
        c.accuracy_delta = c.baseline_accuracy - c.current_accuracy;
        c.accuracy_p_value = 0.04;
        c.combined_score = 0.5 + 0.3 * phase;
        c.severity = sev[(i / 7) % 4];
        c.drift_detected = (i / 7) % 4 != 0;
        c.kl_fired = c.drift_detected;
        c.kl_threshold = 0.1;
        c.psi_threshold = 0.2;
        c.accuracy_min = 0.75;
        c.alpha = 0.05;
        c.permutations = 200;
        c.kl_estimator = s_excess;
        c.alert_status = s_supp;
        c.details = s_details;
        if (dm_store_check_insert(st, &c, NULL, err, sizeof(err)) != DM_OK)
            die("check insert", err);
    }
    if (dm_store_tx_commit(st, err, sizeof(err)) != DM_OK)
        die("commit", err);
    if (rows > 0) {
        dm_synth_opts_t o = {.seed = 11,
                             .rows = (size_t)rows,
                             .start_ms = now - 14 * DM_MS_PER_DAY + 60000,
                             .end_ms = now - 7 * DM_MS_PER_DAY,
                             .topic_weights = base_topics,
                             .positive_rate = 0.88,
                             .id_prefix = "bench-base"};

        if (dm_synth_ingest(st, &o, &ins, err, sizeof(err)) != DM_OK)
            die("feedback", err);
        o.seed = 12;
        o.start_ms = now - 7 * DM_MS_PER_DAY + 60000;
        o.end_ms = now - 60000;
        o.topic_weights = cur_topics;
        o.positive_rate = 0.78;
        o.id_prefix = "bench-cur";
        if (dm_synth_ingest(st, &o, &ins, err, sizeof(err)) != DM_OK)
            die("feedback", err);
    }
    printf("seeded %ld checks over %ld days and %ld feedback rows per "
           "window\n",
           n_checks, days, rows);
    dm_store_free(st);
    dm_config_free(cfg);
    return 0;
}
