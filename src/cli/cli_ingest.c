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
#include "common/alloc.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "store/store.h"

#define BATCH        1000
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

struct batch {
    dm_ingest_row_t rows[BATCH];
    dm_feedback_row_t frows[BATCH];
    size_t n;
};

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        dm_ingest_row_cleanup(&b->rows[i]);
    b->n = 0;
}

static int batch_flush(dm_store_t *st, struct batch *b, size_t *inserted,
                       char *err, size_t errlen)
{
    size_t k = 0;
    int rc;

    for (size_t i = 0; i < b->n; i++)
        b->frows[i] = b->rows[i].row;
    rc = dm_store_feedback_insert(st, b->frows, b->n, &k, err, errlen);
    *inserted += k;
    batch_clear(b);
    return rc;
}

int dm_cli_ingest(int argc, char **argv)
{
    const char *cfg_path = NULL, *path = NULL, *fmt_name = NULL;
    bool skip_invalid = false, progress = isatty(STDERR_FILENO) != 0;
    bool in_tx = false, stopped = false;
    dm_ingest_format_t fmt;
    dm_config_t *cfg = NULL;
    dm_store_t *st = NULL;
    dm_ingest_reader_t *rd = NULL;
    struct batch *b = NULL;
    size_t good = 0, bad = 0, inserted = 0, line = 0;
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
    if (rc == DM_OK && !skip_invalid) {
        rc = dm_store_tx_begin(st, err, sizeof(err));
        in_tx = rc == DM_OK;
    }
    if (rc != DM_OK)
        goto out;
    b = dm_calloc(1, sizeof(*b));
    for (;;) {
        char lerr[DM_ERRBUF_SIZE] = "";
        int r = dm_ingest_reader_next(rd, &b->rows[b->n], &line, lerr,
                                      sizeof(lerr));
        if (r == 0) {
            dm_ingest_row_cleanup(&b->rows[b->n]);
            break;
        }
        if (r < 0) {
            dm_ingest_row_cleanup(&b->rows[b->n]);
            bad++;
            if (bad <= MAX_REPORTED)
                fprintf(stderr, "driftmon: error: %s: %s\n", path, lerr);
            if (r == DM_EIO) {
                stopped = true; /* the rest of the input cannot be read */
                break;
            }
            continue;
        }
        good++;
        b->n++;
        if (b->n == BATCH) {
            if (bad > 0 && !skip_invalid) {
                batch_clear(b); /* nothing will be written: just validate */
            } else {
                rc = batch_flush(st, b, &inserted, err, sizeof(err));
                if (rc != DM_OK)
                    goto out;
            }
        }
        if (progress && good % 100000 == 0)
            fprintf(stderr, "\rdriftmon: ingest: %zu rows read", good);
    }
    if (progress && good >= 100000)
        fputc('\n', stderr);
    if (bad > MAX_REPORTED)
        fprintf(stderr, "driftmon: error: %s: %zu more bad lines not shown\n",
                path, bad - MAX_REPORTED);
    if (bad > 0 && !skip_invalid) {
        dm_store_tx_rollback(st);
        in_tx = false;
        fprintf(stderr,
                "driftmon: error: %s: %zu bad line%s; nothing was written "
                "(use --skip-invalid to write the good rows)\n",
                path, bad, bad == 1 ? "" : "s");
        ret = DM_EXIT_USAGE;
        goto out;
    }
    if (b->n > 0) {
        rc = batch_flush(st, b, &inserted, err, sizeof(err));
        if (rc != DM_OK)
            goto out;
    }
    if (in_tx) {
        rc = dm_store_tx_commit(st, err, sizeof(err));
        in_tx = false;
        if (rc != DM_OK)
            goto out;
    }
    fprintf(stderr,
            "driftmon: ingest: %s: %zu rows read, %zu inserted, %zu already "
            "present, %zu invalid skipped\n",
            path, good, inserted, good - inserted, bad);
    if (stopped) {
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
    if (in_tx)
        dm_store_tx_rollback(st);
    if (b) {
        batch_clear(b);
        free(b);
    }
    dm_ingest_reader_free(rd);
    dm_store_free(st);
    dm_config_free(cfg);
    return ret;
}
