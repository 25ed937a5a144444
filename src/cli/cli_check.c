/*
 * cli_check.c - `driftmon check`: one drift check against the configured
 * store (DESIGN.md section 3), with its alert and fine-tuning trigger, as
 * a readable report or (--json) one JSON object.  Exit code: 0 no drift
 * (or not enough data), 1 drift, 2 bad arguments or config, 3 the check
 * failed (it is then stored with status "failed" when the store allows).
 * Embedding progress goes to stderr when stderr is a terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/alloc.h"
#include "common/time.h"
#include "config/config.h"
#include "monitor/monitor.h"
#include "store/store.h"

static const char usage_text[] =
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
    "3 the check failed.\n";

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

int dm_cli_check_once(const dm_config_t *cfg, long lock_wait_ms,
                      const dm_monitor_check_opts_t *co, dm_monitor_t **m,
                      dm_monitor_result_t **r, char *err, size_t n)
{
    dm_monitor_opts_t mo;
    int rc;

    *m = NULL;
    *r = NULL;
    dm_monitor_opts_init(&mo);
    mo.lock_wait_ms = lock_wait_ms;
    if (isatty(STDERR_FILENO))
        mo.progress = dm_cli_progress;
    rc = dm_monitor_new(cfg, &mo, m, err, n);
    if (rc != DM_OK)
        return rc;
    *r = dm_calloc(1, sizeof(**r));
    return dm_monitor_check(*m, co, *r, err, n);
}

/* --as-of: an RFC 3339 time after the epoch and not in the future. */
static bool parse_as_of(const dm_cli_cmd_t *cmd, const dm_cli_opt_t *opt,
                        const char *value)
{
    int64_t *ms = opt->dst;

    (void)cmd;
    if (dm_time_parse(value, ms) != DM_OK) {
        fprintf(stderr, "driftmon: error: check: --as-of must be an RFC 3339 "
                        "time such as 2026-11-26T06:00:00Z\n");
        return false;
    }
    if (*ms <= 0) { /* 0 means "now" to the monitor */
        fprintf(stderr,
                "driftmon: error: check: --as-of '%s' is valid RFC 3339 but "
                "must be after 1970-01-01T00:00:00Z\n",
                value);
        return false;
    }
    if (*ms > dm_time_now_ms() + DM_MONITOR_AS_OF_SLACK_MS) {
        fprintf(stderr,
                "driftmon: error: check: --as-of %s is in the future: a "
                "check can only look back\n",
                value);
        return false;
    }
    return true;
}

/* The report of a check that ran (or failed and was stored). */
static void print_result(dm_monitor_t *m, const dm_monitor_result_t *r,
                         bool json)
{
    json_t *o = NULL;
    char jerr[DM_ERRBUF_SIZE];

    if (!json) {
        dm_monitor_result_print(r, stdout);
        return;
    }
    if (dm_monitor_result_json(m, r, &o, jerr, sizeof(jerr)) == DM_OK) {
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
    } else {
        fprintf(stderr, "driftmon check: %s\n", jerr);
    }
    json_decref(o);
}

int dm_cli_check(int argc, char **argv)
{
    const char *cfg_path = NULL;
    bool json = false;
    size_t days = 0;
    dm_monitor_check_opts_t co = {.manual = true};
    const dm_cli_opt_t opts[] = {
        DM_CLI_FLAG("--json", &json),
        DM_CLI_VALUE("--config", &cfg_path),
        DM_CLI_PARSED("--window-days", &days, dm_cli_opt_whole, 1, 365),
        DM_CLI_PARSED("--as-of", &co.as_of_ms, parse_as_of, 0, 0),
        DM_CLI_END,
    };
    const dm_cli_cmd_t cmd = {"check", usage_text, opts, NULL, NULL};
    dm_config_t *cfg = NULL;
    dm_monitor_t *m = NULL;
    dm_monitor_result_t *r = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    int rc, ret;

    if ((ret = dm_cli_parse(&cmd, argc, argv)) != DM_CLI_GO_ON ||
        (ret = dm_cli_config(cfg_path, &cfg)) != DM_CLI_GO_ON)
        return ret;
    co.window_days = (uint32_t)days;
    /* a check reads a store: it must not create an empty one */
    rc = dm_store_require_existing(cfg, err, sizeof(err));
    if (rc != DM_OK) {
        fprintf(stderr, "driftmon: error: check: %s\n", err);
        dm_config_free(cfg);
        return DM_EXIT_USAGE;
    }
    /* wait for a check running elsewhere */
    rc = dm_cli_check_once(cfg, 120000, &co, &m, &r, err, sizeof(err));
    if (r && (rc == DM_OK || r->check_id != 0))
        print_result(m, r, json);
    ret = rc != DM_OK ? DM_EXIT_FAILURE
          : r->have_analysis && r->analysis.verdict.drift_detected
              ? DM_EXIT_DRIFT
              : DM_EXIT_OK;
    if (rc != DM_OK)
        fprintf(stderr, "driftmon: error: check: %s\n",
                err[0] ? err : dm_strerror(rc));
    free(r);
    dm_monitor_free(m);
    dm_config_free(cfg);
    return ret;
}
