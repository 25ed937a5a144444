/*
 * cli_serve.c - `driftmon serve [--config F] [--no-monitor]`: the
 * long-running service.  Loads the config, starts the background monitor
 * (a check every monitoring.check_interval_hours; --no-monitor leaves it
 * off, for API-only replicas and tests) and the HTTP server on
 * api.host:api.port, then waits for SIGTERM or SIGINT and stops
 * gracefully: the server first (no new connections; requests in flight
 * finish), then the monitor (a running check gets its grace time).
 * Exit code 0 after a clean stop, 2 for bad arguments or config, 3 when
 * the service cannot start (port in use, bad api.host).
 *
 * DESIGN: SIGTERM, SIGINT and SIGHUP are blocked in the main thread before
 * any thread exists, so every thread inherits the mask and the main
 * thread alone receives them, synchronously, in sigwait().  No code runs
 * in a signal handler.  SIGPIPE is ignored (a client that goes away must
 * not kill the service), and so is SIGXFSZ: a file size limit
 * (RLIMIT_FSIZE, e.g. systemd's LimitFSIZE=) reached by the SQLite
 * database must fail that write (EFBIG, reported like a full disk), not
 * kill the service, which keeps serving reads.
 *
 * glibc gives each new thread that finds the existing malloc arenas busy
 * an arena of its own, up to 8 per core, and an arena keeps what it
 * freed.  The service's threads come and go (a check's workers, a job
 * thread per POST /drift/check), so its RSS crept up for many minutes
 * before levelling off (the soak test, tests/soak/soak.py, measured it).
 * serve caps the arenas at DM_SERVE_MALLOC_ARENAS unless
 * MALLOC_ARENA_MAX is set in the environment (glibc's own knob, which
 * then wins).
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/log.h"
#include "config/config.h"
#include "monitor/monitor.h"
#include "store/store.h"

/* malloc arenas of the service (see DESIGN above) */
#define DM_SERVE_MALLOC_ARENAS 4

#ifndef DM_VERSION
#define DM_VERSION "0.1.0"
#endif

static const char usage_text[] =
    "usage: driftmon serve [--config FILE] [--no-monitor]\n\n"
    "Runs the HTTP service (REST API, /metrics, dashboard at /) on\n"
    "api.host:api.port and the background monitor, which runs a\n"
    "drift check every monitoring.check_interval_hours.\n"
    "--no-monitor serves the API without background checks.\n"
    "Stops gracefully on SIGTERM or SIGINT (exit code 0).\n";

/* The signals of the process (see DESIGN above). */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
#ifdef M_ARENA_MAX
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, DM_SERVE_MALLOC_ARENAS);
#endif
}

/* Waits for SIGTERM or SIGINT (SIGHUP is logged and ignored). */
static int wait_for_stop(const sigset_t *set)
{
    int sig = 0;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            return sig;
        dm_log_info("SIGHUP ignored (restart to reload the config)");
    }
}

int dm_cli_serve(int argc, char **argv)
{
    const char *cfg_path = NULL;
    bool no_monitor = false;
    const dm_cli_opt_t opts[] = {DM_CLI_VALUE("--config", &cfg_path),
                                 DM_CLI_FLAG("--no-monitor", &no_monitor),
                                 DM_CLI_END};
    const dm_cli_cmd_t cmd = {"serve", usage_text, opts, NULL, NULL};
    dm_config_t *cfg = NULL;
    dm_store_pool_t *pool = NULL;
    dm_monitor_t *m = NULL;
    dm_api_t *api = NULL;
    dm_monitor_opts_t mo;
    dm_api_opts_t ao;
    sigset_t set;
    char err[DM_ERRBUF_SIZE] = "";
    int rc, sig = 0, ret;

    if ((ret = dm_cli_parse(&cmd, argc, argv)) != DM_CLI_GO_ON ||
        (ret = dm_cli_config(cfg_path, &cfg)) != DM_CLI_GO_ON)
        return ret;
    ret = DM_EXIT_FAILURE;
    dm_log_thread_name("main");
    /* serve accepts POST /feedback, so it may start a store; say so, in
       case the path was meant to name an existing one */
    if (dm_store_require_existing(cfg, err, sizeof(err)) != DM_OK)
        dm_log_warn("%s: starting a new empty store", err);
    err[0] = '\0';

    block_signals(&set); /* before any thread exists (see DESIGN above) */
    /* one store pool for the monitor and the API: the schema is migrated
     * once, idle connections serve both */
    rc = dm_store_pool_new(cfg, DM_STORE_POOL_IDLE, &pool);
    if (rc != DM_OK)
        goto out;
    dm_monitor_opts_init(&mo);
    mo.pool = pool;
    rc = dm_monitor_new(cfg, &mo, &m, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    dm_api_opts_init(&ao);
    ao.version = DM_VERSION;
    ao.pool = pool;
    rc = dm_api_new(cfg, m, &ao, &api, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    /* Load the model now, not at the first check: a model that cannot
     * load shows in /health at once.  Not fatal: the service still
     * serves, and each check tries again.  Before the API and the
     * scheduler start, so that neither finds the check lock taken and
     * /health never shows a monitor that is not started yet. */
    if (dm_monitor_embedder_open(m, err, sizeof(err)) != DM_OK)
        dm_log_error("%s; /health reports it, and checks fail in phase "
                     "embed until the model loads",
                     err);
    rc = dm_api_start(api, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    if (!no_monitor) {
        rc = dm_monitor_start(m, err, sizeof(err));
        if (rc != DM_OK)
            goto out;
    }
    dm_log_info("driftmon %s serving on %s:%u (store: %s, monitor: %s)",
                DM_VERSION, cfg->api.host, dm_api_port(api),
                cfg->database.backend, no_monitor ? "off" : "on");
    sig = wait_for_stop(&set);
    dm_log_info("%s received: shutting down",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    dm_api_stop(api);
    dm_monitor_stop(m);
    dm_log_info("stopped");
    ret = DM_EXIT_OK;
out:
    if (rc != DM_OK)
        fprintf(stderr, "driftmon: error: serve: %s\n",
                err[0] ? err : dm_strerror(rc));
    dm_api_free(api);
    dm_monitor_free(m);
    dm_store_pool_free(pool); /* after both users */
    dm_config_free(cfg);
    return ret;
}
