/*
 * cli_check.c - `driftmon check`: one drift check against the configured
 * store (DESIGN.md section 3), with its alert and fine-tuning trigger, as
 * a readable report or (--json) one JSON object.  Exit code: 0 no drift
 * (or not enough data), 1 drift, 2 bad arguments or config, 3 the check
 * failed (it is then stored with status "failed" when the store allows).
 * Embedding progress goes to stderr when stderr is a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/time.h"
#include "config/config.h"
#include "monitor/monitor.h"
#include "store/store.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: driftmon check [--config FILE] [--window-days N] "
            "[--as-of TIME] [--json]\n\n"
            "Runs one drift check on the configured store: the last N days\n"
            "(monitoring.sliding_window_days) against the N days before,\n"
            "ending now or at --as-of (RFC 3339, not in the future).  Stores\n"
            "the result, alerts and triggers fine-tuning as configured.  A\n"
            "check with --as-of in the past or another --window-days is ad\n"
            "hoc: stored and listed as such, it never alerts, resolves,\n"
            "triggers fine-tuning or moves the live state.\n"
            "Exit code: 0 no drift, 1 drift, 2 usage or config error,\n"
            "3 the check failed.\n");
}

/* Progress on a terminal: "\rdriftmon: embedding 300/1400 rows". */
void dm_cli_progress(dm_monitor_phase_t phase, size_t done, size_t total,
                     void *arg)
{
    (void)arg;
    if (phase != DM_MONITOR_PHASE_EMBED || total < 500)
        return;
    fprintf(stderr, "\rdriftmon: embedding %zu/%zu rows", done, total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

int dm_cli_apply_log_level(const dm_config_t *cfg)
{
    dm_log_level_t lvl;

    if (cfg->logging.level &&
        dm_log_level_parse(cfg->logging.level, &lvl) == DM_OK)
        dm_log_set_level(lvl);
    return DM_OK;
}

static int parse_days(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 365 || s[0] == '-')
        return DM_EINVAL;
    *out = (uint32_t)v;
    return DM_OK;
}

int dm_cli_check(int argc, char **argv)
{
    const char *cfg_path = NULL;
    bool json = false;
    dm_monitor_check_opts_t co = {.manual = true};
    dm_monitor_opts_t mo;
    dm_config_t *cfg = NULL;
    dm_monitor_t *m = NULL;
    dm_monitor_result_t *r = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    int rc, ret = DM_EXIT_FAILURE;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return DM_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (i + 1 < argc && strcmp(a, "--config") == 0) {
            cfg_path = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--window-days") == 0) {
            if (parse_days(argv[++i], &co.window_days) != DM_OK) {
                fprintf(stderr, "driftmon: error: check: --window-days must "
                                "be a whole number from 1 to 365\n");
                return DM_EXIT_USAGE;
            }
        } else if (i + 1 < argc && strcmp(a, "--as-of") == 0) {
            if (dm_time_parse(argv[++i], &co.as_of_ms) != DM_OK) {
                fprintf(stderr,
                        "driftmon: error: check: --as-of must be an RFC 3339 "
                        "time such as 2026-11-26T06:00:00Z\n");
                return DM_EXIT_USAGE;
            }
            if (co.as_of_ms <= 0) { /* 0 means "now" to the monitor */
                fprintf(stderr,
                        "driftmon: error: check: --as-of '%s' is valid RFC "
                        "3339 but must be after 1970-01-01T00:00:00Z\n",
                        argv[i]);
                return DM_EXIT_USAGE;
            }
            if (co.as_of_ms > dm_time_now_ms() + DM_MONITOR_AS_OF_SLACK_MS) {
                fprintf(stderr,
                        "driftmon: error: check: --as-of %s is in the "
                        "future: a check can only look back\n",
                        argv[i]);
                return DM_EXIT_USAGE;
            }
        } else {
            static const char *const value_opts[] = {
                "--config", "--window-days", "--as-of", NULL};

            dm_cli_bad_arg("check", a, value_opts);
            usage(stderr);
            return DM_EXIT_USAGE;
        }
    }
    rc = cfg_path ? dm_config_load(cfg_path, &cfg, err, sizeof(err))
                  : dm_config_defaults(&cfg, err, sizeof(err));
    if (rc != DM_OK) {
        fprintf(stderr, "driftmon: error: %s\n", err);
        return DM_EXIT_USAGE;
    }
    dm_cli_apply_log_level(cfg);
    /* a check reads a store: it must not create an empty one */
    rc = dm_store_require_existing(cfg, err, sizeof(err));
    if (rc != DM_OK) {
        fprintf(stderr, "driftmon: error: check: %s\n", err);
        dm_config_free(cfg);
        return DM_EXIT_USAGE;
    }
    dm_monitor_opts_init(&mo);
    mo.lock_wait_ms = 120000; /* wait for a check running elsewhere */
    if (isatty(STDERR_FILENO))
        mo.progress = dm_cli_progress;
    rc = dm_monitor_new(cfg, &mo, &m, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        rc = DM_ENOMEM;
        goto out;
    }
    rc = dm_monitor_check(m, &co, r, err, sizeof(err));
    if (json && (rc == DM_OK || r->check_id != 0)) {
        json_t *o = NULL;
        char jerr[DM_ERRBUF_SIZE];

        if (dm_monitor_result_json(m, r, &o, jerr, sizeof(jerr)) == DM_OK) {
            json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
            fputc('\n', stdout);
        } else {
            fprintf(stderr, "driftmon check: %s\n", jerr);
        }
        json_decref(o);
    } else if (rc == DM_OK || r->check_id != 0) {
        dm_monitor_result_print(r, stdout);
    }
    if (rc == DM_OK)
        ret = r->have_analysis && r->analysis.verdict.drift_detected
                  ? DM_EXIT_DRIFT
                  : DM_EXIT_OK;
out:
    if (rc != DM_OK)
        fprintf(stderr, "driftmon: error: check: %s\n",
                err[0] ? err : dm_strerror(rc));
    free(r);
    dm_monitor_free(m);
    dm_config_free(cfg);
    return ret;
}
