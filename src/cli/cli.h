/*
 * cli.h - the driftmon subcommands.  main.c dispatches to these from one
 * table; each takes the arguments after the subcommand name (argv[0] is
 * the subcommand) and returns a process exit code (enum dm_exit).
 */
#ifndef DM_CLI_CLI_H
#define DM_CLI_CLI_H

#include <stddef.h>

#include "config/config.h"
#include "monitor/monitor.h"

/* Exit codes of the driftmon binary (also listed in --help). */
enum dm_exit {
    DM_EXIT_OK = 0,     /* success; for check/compare: no drift */
    DM_EXIT_DRIFT = 1,  /* check/compare: drift detected */
    DM_EXIT_USAGE = 2,  /* bad arguments, bad config or bad input */
    DM_EXIT_FAILURE = 3 /* the work failed (I/O, store, model) */
};

int dm_cli_compare(int argc, char **argv);
int dm_cli_check_config(int argc, char **argv);
int dm_cli_tokenize(int argc, char **argv);
int dm_cli_embed(int argc, char **argv);
int dm_cli_ingest(int argc, char **argv);
int dm_cli_migrate(int argc, char **argv);
int dm_cli_check(int argc, char **argv);
int dm_cli_demo(int argc, char **argv);
int dm_cli_serve(int argc, char **argv);

/* Shared by check and demo: embedding progress on stderr (a
 * dm_monitor_progress_cb; cli_check.c), and logging.level from the config
 * (cli_opts.c; dm_cli_config() applies it too). */
void dm_cli_progress(dm_monitor_phase_t phase, size_t done, size_t total,
                     void *arg);
int dm_cli_apply_log_level(const dm_config_t *cfg);

/*
 * One manual check as check and demo run it (cli_check.c): a new monitor
 * over cfg (waiting up to lock_wait_ms for a check running elsewhere),
 * progress on stderr when it is a terminal.  *m and *r (the result) are
 * the caller's to free (dm_monitor_free(), free()), also on error; *r is
 * NULL when the monitor could not be made.  Returns dm_monitor_check()'s
 * code, with its message in err.
 */
int dm_cli_check_once(const dm_config_t *cfg, long lock_wait_ms,
                      const dm_monitor_check_opts_t *co, dm_monitor_t **m,
                      dm_monitor_result_t **r, char *err, size_t n);

#endif
