/*
 * ingest.h - feedback rows from outside: JSON objects (one per JSONL line,
 * or an element of a POST /feedback body) and CSV records, validated into
 * dm_feedback_row_t for dm_store_feedback_insert().
 *
 * Fields: "query" and "response" (strings, required), "intent" (string
 * or null, optional), "positive" (required: JSON true/false or 0/1; CSV
 * true/false/t/f/yes/no/1/0, case-insensitive), "created_at" (required,
 * RFC 3339, e.g. "2026-11-26T06:58:07Z"), "id" (optional string, or
 * integer in JSON; 1..DM_STORE_MAX_ID bytes, no control characters).
 * Unknown fields are rejected (a misspelt column must not be dropped
 * silently).  Text must be valid UTF-8 without NUL bytes; query and
 * response are capped at DM_STORE_MAX_TEXT bytes, intent at
 * DM_STORE_MAX_INTENT.  Every error message names the field.
 *
 * CSV is RFC 4180: a header line naming the fields (in any order),
 * fields separated by commas, optionally in double quotes, "" for a quote
 * inside quotes, line breaks allowed inside quotes, LF or CRLF line ends;
 * empty lines are skipped.  A record is capped at DM_INGEST_MAX_RECORD
 * bytes and DM_INGEST_MAX_FIELDS fields.
 *
 * dm_ingest_run() is the one ingest policy of the `ingest` command, of
 * POST /feedback and of the synthetic demo traffic: batching, what a bad
 * row does (stop, report, skip), the transaction and the counts.
 *
 * Not thread-safe per reader; readers are independent.
 */
#ifndef DM_INGEST_INGEST_H
#define DM_INGEST_INGEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "store/store.h"

#define DM_INGEST_MAX_RECORD (1024 * 1024)
#define DM_INGEST_MAX_FIELDS 64

/* A validated row and the storage its strings point into. */
typedef struct dm_ingest_row {
    dm_feedback_row_t row; /* strings point into the fields below */
    char *id, *query, *response, *intent;
} dm_ingest_row_t;

/* Frees the strings of a row (the struct itself is the caller's). */
void dm_ingest_row_cleanup(dm_ingest_row_t *r);

/*
 * Validates one JSON object (borrowed) into *out (overwritten; clean up
 * with dm_ingest_row_cleanup() also after an error).  Returns DM_OK or
 * DM_EINVAL with "field: reason" in errbuf.
 */
int dm_ingest_row_from_json(const json_t *obj, dm_ingest_row_t *out,
                            char *errbuf, size_t errlen) DM_MUSTCHECK;

typedef enum dm_ingest_format {
    DM_INGEST_JSONL = 0,
    DM_INGEST_CSV = 1
} dm_ingest_format_t;

/* Parses "jsonl" or "csv"; DM_EINVAL otherwise. */
int dm_ingest_format_parse(const char *s, dm_ingest_format_t *out) DM_MUSTCHECK;
/* The format a file name suggests: ".csv" (any case) is CSV, else JSONL. */
dm_ingest_format_t dm_ingest_format_guess(const char *path);

typedef struct dm_ingest_reader dm_ingest_reader_t;

/*
 * Opens path ("-" = standard input) in the given format; for CSV reads
 * and checks the header.  Returns DM_OK, DM_EIO (cannot open), or
 * DM_EPARSE for a bad CSV header (message names line 1 and the column).
 */
int dm_ingest_reader_open(const char *path, dm_ingest_format_t fmt,
                          dm_ingest_reader_t **out, char *errbuf,
                          size_t errlen) DM_MUSTCHECK;

/*
 * Reads the next row into *out (overwritten; clean up after every call).
 * *line receives the number of the line the record starts on.
 * Returns 1 for a valid row, 0 at end of input, DM_EINVAL / DM_EPARSE /
 * DM_ETOOBIG for a bad record (message "line N: reason"; a record over
 * DM_INGEST_MAX_RECORD bytes is read to its end and dropped; reading may
 * go on with the next record), or DM_EIO when the input cannot be read
 * further (reading must stop).
 */
int dm_ingest_reader_next(dm_ingest_reader_t *r, dm_ingest_row_t *out,
                          size_t *line, char *errbuf,
                          size_t errlen) DM_MUSTCHECK;

/* Closes the input. NULL-safe. */
void dm_ingest_reader_free(dm_ingest_reader_t *r);

/* ---- the run: one ingest policy for every way rows come in --------- */

/* Rows per dm_store_feedback_insert() call when the policy says 0. */
#define DM_INGEST_BATCH 1000

/*
 * Where rows come from.  next() fills *out (overwritten; the run cleans
 * it up after every call) and returns what dm_ingest_reader_next()
 * returns: 1 for a valid row, 0 at the end, a negative code with a
 * message naming the row for a bad one, DM_EIO when reading cannot go
 * on.  Set one up with a dm_ingest_source_init_*() function; the fields
 * are the functions' own.  A source is read once: set it up again to
 * read its input again (POST /feedback validates, then writes).
 */
typedef struct dm_ingest_source dm_ingest_source_t;
struct dm_ingest_source {
    int (*next)(dm_ingest_source_t *src, dm_ingest_row_t *out, char *errbuf,
                size_t errlen);
    void *ctx;         /* a reader (borrowed) */
    const void *items; /* a JSON array or a row array (borrowed) */
    size_t n, pos;
};

/* Rows from a reader (borrowed; messages "line N: reason"). */
void dm_ingest_source_init_reader(dm_ingest_source_t *src,
                                  dm_ingest_reader_t *r);
/*
 * Rows from the elements of a JSON array (borrowed), each validated with
 * dm_ingest_row_from_json(): an element that is not an object is
 * DM_EPARSE "row N: must be a JSON object", a bad object DM_EINVAL
 * "row N: reason" (N counts from 0).
 */
void dm_ingest_source_init_json(dm_ingest_source_t *src, const json_t *array);
/*
 * Rows already in memory (borrowed, strings too): a row without a query
 * or response is DM_EINVAL "row N: ...".
 */
void dm_ingest_source_init_rows(dm_ingest_source_t *src,
                                const dm_feedback_row_t *rows, size_t n);

/* What to do with a bad row. */
typedef enum dm_ingest_on_bad {
    DM_INGEST_STOP = 0, /* the first bad row ends the run */
    DM_INGEST_REPORT,   /* read on and report every bad row, but write no
                           row after the first bad one */
    DM_INGEST_SKIP      /* report and skip bad rows, write the good ones */
} dm_ingest_on_bad_t;

/* The counts of a run. */
typedef struct dm_ingest_stats {
    size_t read;       /* valid rows read */
    size_t rejected;   /* bad rows (including a read error) */
    size_t inserted;   /* rows new in the store */
    size_t duplicates; /* valid rows whose id was already stored */
    bool stopped;      /* the input could not be read to its end */
} dm_ingest_stats_t;

typedef struct dm_ingest_policy {
    dm_ingest_on_bad_t on_bad;
    /* true: one transaction around the run (the caller must not have one
       open), so nothing is written unless the run returns DM_OK; false:
       each batch is a transaction of its own, or joins the caller's. */
    bool atomic;
    size_t batch; /* rows per insert; 0 = DM_INGEST_BATCH */
    /* Called for each bad row with its code and message, and the counts
       so far (rejected includes this row); may be NULL. */
    void (*bad_cb)(const dm_ingest_stats_t *st, int rc, const char *msg,
                   void *arg);
    /* Called each time a batch of rows has been read; may be NULL. */
    void (*progress_cb)(const dm_ingest_stats_t *st, void *arg);
    void *arg;
} dm_ingest_policy_t;

/*
 * Reads every row of src and writes the valid ones into st in batches of
 * policy->batch rows with dm_store_feedback_insert() (rows whose id is
 * stored already count as duplicates).  st NULL validates only: nothing
 * is written.  *stats (may be NULL) receives the counts, also on error;
 * after a rollback inserted and duplicates are 0.
 *
 * Returns DM_OK when the valid rows are written.  With DM_INGEST_SKIP
 * that may be fewer than the input held: bad rows are skipped
 * (stats->rejected), and a read error ends the run early
 * (stats->stopped) with the rows before it written.  With
 * DM_INGEST_STOP or DM_INGEST_REPORT a bad row makes the run return that
 * first bad row's code and message (an atomic run then writes nothing).
 * A store error returns the store's code and message; an atomic run is
 * rolled back.  Not thread-safe per store.
 */
int dm_ingest_run(dm_store_t *st, dm_ingest_source_t *src,
                  const dm_ingest_policy_t *policy, dm_ingest_stats_t *stats,
                  char *errbuf, size_t errlen) DM_MUSTCHECK;

#endif
