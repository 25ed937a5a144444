/*
 * cli_compare.h - the row reader of `driftmon compare` (cli_compare.c),
 * exposed so the fuzz target tests/fuzz/fuzz_compare.c runs the exact
 * code that parses the command's input lines.  Private to src/cli/ and
 * tests/fuzz/.
 */
#ifndef DM_CLI_CLI_COMPARE_H
#define DM_CLI_CLI_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "config/config.h"

/* Widest embedding accepted. */
#define DM_CLI_COMPARE_MAX_DIM 65536

/*
 * One file's data, as it is read.  Zero it, set path and intents (an
 * array of dm_analyze_categories(cfg) counters, zeroed); the caller frees
 * emb and intents.
 */
typedef struct dm_cli_compare_side {
    const char *path; /* borrowed; names the file in messages */
    double *emb;      /* rows_emb x dim, owned (free()) */
    size_t rows_emb, cap_emb;
    uint64_t *intents; /* per category, caller's */
    bool any_intent;
    uint64_t positives, feedback;
    size_t rows;
    /* the explanation: per embedded row its "text" (or "query"; NULL
     * when none) and rating, and positives per category; owned, released
     * by dm_cli_compare_side_cleanup() */
    char **texts;
    unsigned char *rated; /* per embedded row: 1 positive, 0 not */
    size_t cap_text, n_text_rows, rated_rows;
    uint64_t *intent_pos;
    bool any_text;
} dm_cli_compare_side_t;

/* Frees what the reader allocated (emb, texts, ratings, intent_pos);
 * not intents, which are the caller's. */
void dm_cli_compare_side_cleanup(dm_cli_compare_side_t *s);

/*
 * Adds one input line (len bytes, need not be NUL-terminated; number
 * lineno, for messages) to s: a blank line (only spaces and tabs) is
 * skipped, anything else must be a JSON object with optional
 * "embedding" (array of finite numbers, as wide as *dim, which the first
 * embedding sets), "intent" (string), "positive" (true, false, 0 or 1)
 * and "text" or "query" (string; kept with an embedding, for the
 * explanation).  Returns DM_OK or DM_EPARSE with "PATH:LINE: reason" in err;
 * after an error s and *dim may be partly updated, so reading must stop.
 */
int dm_cli_compare_line(const dm_config_t *cfg, dm_cli_compare_side_t *s,
                        const char *line, size_t len, size_t lineno,
                        size_t *dim, char *err, size_t n) DM_MUSTCHECK;

#endif
