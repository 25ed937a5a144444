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

#endif
