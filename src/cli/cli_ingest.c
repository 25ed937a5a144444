/*
 * cli_ingest.c - `driftmon ingest FILE`: feedback rows from a JSONL or
 * CSV file (fields in src/ingest/ingest.h) into the configured store.
 *
 * By default a file is written all or nothing: the rows go in batches of
 * 1000 inside one transaction, and any bad line (reported with its line
 * number and reason; every bad line is reported, up to a cap) rolls the
 * whole file back.  With --skip-invalid each batch is its own
 * transaction, good rows are written and bad ones reported.  Rows whose
 * id is already stored are skipped, so re-ingesting a file never
 * duplicates rows that carry ids; rows without an id get a random one.
 * Progress goes to stderr only when stderr is a terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "store/store.h"

#define MAX_REPORTED 100

static void usage(FILE *f)
{
    fprintf(f,
            "usage: driftmon ingest FILE [--config F] [--format jsonl|csv] "
            "[--skip-invalid]\n\n"
            "Writes feedback rows (JSONL, or CSV with a header; fields id,\n"
            "query, response, intent, positive, created_at) into the store.\n"
            "FILE '-' reads standard input.  The format follows the file\n"
            "name (.csv) unless --format is given.  Without --skip-invalid\n"
            "one bad line means nothing from the file is written.\n");
}

/* Where the run's reports go: stderr, the first MAX_REPORTED bad lines. */
struct report {
    const char *path;
    bool progress; /* stderr is a terminal */
};

static void report_bad(const dm_ingest_stats_t *s, int rc, const char *msg,
                       void *arg)
{
    const struct report *rep = arg;

    (void)rc;
    if (s->rejected <= MAX_REPORTED)
        fprintf(stderr, "driftmon: error: %s: %s\n", rep->path, msg);
}

static void report_progress(const dm_ingest_stats_t *s, void *arg)
{
    const struct report *rep = arg;

    if (rep->progress && s->read % 100000 == 0)
        fprintf(stderr, "\rdriftmon: ingest: %zu rows read", s->read);
}

int dm_cli_ingest(int argc, char **argv)
{
    const char *cfg_path = NULL, *path = NULL, *fmt_name = NULL;
    bool skip_invalid = false, bad_input;
    dm_ingest_format_t fmt;
    dm_config_t *cfg = NULL;
    dm_store_t *st = NULL;
    dm_ingest_reader_t *rd = NULL;
    dm_ingest_source_t src;
    dm_ingest_stats_t stats;
    struct report rep = {NULL, isatty(STDERR_FILENO) != 0};
    dm_ingest_policy_t policy = {
        .bad_cb = report_bad, .progress_cb = report_progress, .arg = &rep};
    char err[DM_ERRBUF_SIZE] = "";
    int rc = DM_OK, ret = DM_EXIT_FAILURE;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return DM_EXIT_OK;
        } else if (strcmp(a, "--skip-invalid") == 0) {
            skip_invalid = true;
        } else if (i + 1 < argc && strcmp(a, "--config") == 0) {
            cfg_path = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--format") == 0) {
            fmt_name = argv[++i];
        } else if (!path && (a[0] != '-' || strcmp(a, "-") == 0)) {
            path = a;
        } else {
            static const char *const value_opts[] = {"--config", "--format",
                                                     NULL};

            dm_cli_bad_arg("ingest", a, value_opts);
            usage(stderr);
            return DM_EXIT_USAGE;
        }
    }
    if (!path) {
        fprintf(stderr, "driftmon: error: ingest: FILE is required\n");
        usage(stderr);
        return DM_EXIT_USAGE;
    }
    /* by default a file is all or nothing, every bad line reported */
    policy.on_bad = skip_invalid ? DM_INGEST_SKIP : DM_INGEST_REPORT;
    policy.atomic = !skip_invalid;
    rep.path = path;
    fmt = dm_ingest_format_guess(path);
    if (fmt_name && dm_ingest_format_parse(fmt_name, &fmt) != DM_OK) {
        fprintf(stderr,
                "driftmon: error: ingest: --format must be jsonl or csv\n");
        return DM_EXIT_USAGE;
    }
    rc = cfg_path ? dm_config_load(cfg_path, &cfg, err, sizeof(err))
                  : dm_config_defaults(&cfg, err, sizeof(err));
    if (rc != DM_OK) {
        ret = DM_EXIT_USAGE;
        goto out;
    }
    rc = dm_ingest_reader_open(path, fmt, &rd, err, sizeof(err));
    if (rc != DM_OK) {
        /* a file that is missing or not a file is bad input (exit 2), as
           for compare and check-config; DM_EIO messages name the file */
        if (rc != DM_EIO)
            dm_err_prefix(err, sizeof(err), rc, "%s: ", path);
        ret = DM_EXIT_USAGE;
        goto out;
    }
    rc = dm_store_open_migrated(cfg, NULL, &st, NULL, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    dm_ingest_source_init_reader(&src, rd);
    rc = dm_ingest_run(st, &src, &policy, &stats, err, sizeof(err));
    if (rep.progress && stats.read >= 100000)
        fputc('\n', stderr);
    /* without --skip-invalid a failed run with bad lines is bad input;
       any other failure is the store's */
    bad_input = !skip_invalid && stats.rejected > 0;
    if (rc != DM_OK && !bad_input)
        goto out;
    rc = DM_OK;
    if (stats.rejected > MAX_REPORTED)
        fprintf(stderr, "driftmon: error: %s: %zu more bad lines not shown\n",
                path, stats.rejected - MAX_REPORTED);
    if (bad_input) {
        fprintf(stderr,
                "driftmon: error: %s: %zu bad line%s; nothing was written "
                "(use --skip-invalid to write the good rows)\n",
                path, stats.rejected, stats.rejected == 1 ? "" : "s");
        ret = DM_EXIT_USAGE;
        goto out;
    }
    fprintf(stderr,
            "driftmon: ingest: %s: %zu rows read, %zu inserted, %zu already "
            "present, %zu invalid skipped\n",
            path, stats.read, stats.inserted, stats.duplicates, stats.rejected);
    if (stats.stopped) {
        /* never a success when the end of the file was not reached */
        fprintf(stderr,
                "driftmon: error: %s: a read error stopped the ingest; the "
                "rest of the file was not read\n",
                path);
        goto out;
    }
    ret = DM_EXIT_OK;
out:
    if (rc != DM_OK)
        fprintf(stderr, "driftmon: error: %s\n",
                err[0] ? err : dm_strerror(rc));
    dm_ingest_reader_free(rd);
    dm_store_free(st);
    dm_config_free(cfg);
    return ret;
}
