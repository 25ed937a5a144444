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
#include "cli/cli_int.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "store/store.h"

#define MAX_REPORTED 100

static const char usage_text[] =
    "usage: driftmon ingest FILE [--config F] [--format jsonl|csv] "
    "[--skip-invalid]\n\n"
    "Writes feedback rows (JSONL, or CSV with a header; fields id,\n"
    "query, response, intent, positive, created_at) into the store.\n"
    "FILE '-' reads standard input.  The format follows the file\n"
    "name (.csv) unless --format is given.  Without --skip-invalid\n"
    "one bad line means nothing from the file is written.\n";

struct options {
    const char *path, *cfg_path, *fmt_name;
    bool skip_invalid;
    dm_ingest_format_t fmt;
};

/* Returns DM_CLI_GO_ON, or an exit code. */
static int parse_args(int argc, char **argv, struct options *o)
{
    const dm_cli_opt_t opts[] = {
        DM_CLI_FLAG("--skip-invalid", &o->skip_invalid),
        DM_CLI_VALUE("--config", &o->cfg_path),
        DM_CLI_VALUE("--format", &o->fmt_name),
        DM_CLI_END,
    };
    const dm_cli_cmd_t cmd = {"ingest", usage_text, opts, &o->path, NULL};
    int rc = dm_cli_parse(&cmd, argc, argv);

    if (rc != DM_CLI_GO_ON)
        return rc;
    if (o->path == NULL)
        return dm_cli_usage_error(&cmd, "FILE is required");
    o->fmt = dm_ingest_format_guess(o->path);
    if (o->fmt_name && dm_ingest_format_parse(o->fmt_name, &o->fmt) != DM_OK) {
        fprintf(stderr,
                "driftmon: error: ingest: --format must be jsonl or csv\n");
        return DM_EXIT_USAGE;
    }
    return DM_CLI_GO_ON;
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

/* Opens FILE: a missing file or a bad CSV header is bad input. */
static int open_input(const struct options *o, dm_ingest_reader_t **rd)
{
    char err[DM_ERRBUF_SIZE] = "";
    int rc = dm_ingest_reader_open(o->path, o->fmt, rd, err, sizeof(err));
    if (rc == DM_OK)
        return DM_CLI_GO_ON;
    /* as for compare and check-config, exit 2; DM_EIO messages name the
       file */
    if (rc != DM_EIO)
        dm_err_prefix(err, sizeof(err), rc, "%s: ", o->path);
    fprintf(stderr, "driftmon: error: %s\n", err);
    return DM_EXIT_USAGE;
}

/* What the run's outcome says on stderr, and the exit code. */
static int outcome(const struct options *o, int rc, const dm_ingest_stats_t *s,
                   const char *err)
{
    /* without --skip-invalid a failed run with bad lines is bad input;
       any other failure is the store's */
    bool bad_input = !o->skip_invalid && s->rejected > 0;

    if (rc != DM_OK && !bad_input) {
        fprintf(stderr, "driftmon: error: %s\n",
                err[0] ? err : dm_strerror(rc));
        return DM_EXIT_FAILURE;
    }
    if (s->rejected > MAX_REPORTED)
        fprintf(stderr, "driftmon: error: %s: %zu more bad lines not shown\n",
                o->path, s->rejected - MAX_REPORTED);
    if (bad_input) {
        fprintf(stderr,
                "driftmon: error: %s: %zu bad line%s; nothing was written "
                "(use --skip-invalid to write the good rows)\n",
                o->path, s->rejected, s->rejected == 1 ? "" : "s");
        return DM_EXIT_USAGE;
    }
    fprintf(stderr,
            "driftmon: ingest: %s: %zu rows read, %zu inserted, %zu already "
            "present, %zu invalid skipped\n",
            o->path, s->read, s->inserted, s->duplicates, s->rejected);
    if (s->stopped) {
        /* never a success when the end of the file was not reached */
        fprintf(stderr,
                "driftmon: error: %s: a read error stopped the ingest; the "
                "rest of the file was not read\n",
                o->path);
        return DM_EXIT_FAILURE;
    }
    return DM_EXIT_OK;
}

int dm_cli_ingest(int argc, char **argv)
{
    struct options o = {0};
    dm_config_t *cfg = NULL;
    dm_store_t *st = NULL;
    dm_ingest_reader_t *rd = NULL;
    dm_ingest_source_t src;
    dm_ingest_stats_t stats;
    struct report rep = {NULL, isatty(STDERR_FILENO) != 0};
    dm_ingest_policy_t policy = {
        .bad_cb = report_bad, .progress_cb = report_progress, .arg = &rep};
    char err[DM_ERRBUF_SIZE] = "";
    int rc, ret;

    if ((ret = parse_args(argc, argv, &o)) != DM_CLI_GO_ON ||
        (ret = dm_cli_config(o.cfg_path, &cfg)) != DM_CLI_GO_ON ||
        (ret = open_input(&o, &rd)) != DM_CLI_GO_ON)
        goto out;
    rc = dm_store_open_migrated(cfg, &st, NULL, err, sizeof(err));
    if (rc == DM_OK) {
        /* by default a file is all or nothing, every bad line reported */
        policy.on_bad = o.skip_invalid ? DM_INGEST_SKIP : DM_INGEST_REPORT;
        policy.atomic = !o.skip_invalid;
        rep.path = o.path;
        dm_ingest_source_init_reader(&src, rd);
        rc = dm_ingest_run(st, &src, &policy, &stats, err, sizeof(err));
        if (rep.progress && stats.read >= 100000)
            fputc('\n', stderr);
    } else {
        memset(&stats, 0, sizeof(stats)); /* a store error, reported so */
    }
    ret = outcome(&o, rc, &stats, err);
out:
    dm_ingest_reader_free(rd);
    dm_store_free(st);
    dm_config_free(cfg);
    return ret;
}
