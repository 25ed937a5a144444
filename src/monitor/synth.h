/*
 * synth.h - synthetic assistant feedback with known drift, for the demo,
 * the tests and the benchmarks.
 *
 * Rows look like real feedback: a query and a response composed from the
 * vocabulary of one of DM_SYNTH_TOPICS topics (Python, JavaScript, maths,
 * logic puzzles, cooking, travel, crashes, performance, API docs,
 * tutorials), an intent label and a rating.  Three knobs move the three
 * signals independently:
 *   topic_weights   the topic mix: moves the text, so the embedding KL;
 *   intent_weights  when given, labels are drawn from this mix whatever
 *                   the topic (so PSI moves without the text); when NULL
 *                   each row carries its topic's natural intent (so a
 *                   topic shift moves PSI too);
 *   positive_rate   the exact share of positive ratings (rounded to a
 *                   whole row), so accuracy is known to the row.
 * Output is a deterministic function of the options (seeded RNG).
 *
 * Ownership: dm_synth_generate() returns a set the caller frees with
 * dm_synth_free(); the rows' strings belong to the set.  Thread-safe on
 * distinct sets.
 */
#ifndef DM_MONITOR_SYNTH_H
#define DM_MONITOR_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "store/store.h"

#define DM_SYNTH_TOPICS  10
#define DM_SYNTH_INTENTS 5

typedef struct dm_synth_opts {
    uint64_t seed;
    size_t rows;
    int64_t start_ms, end_ms;     /* created_at uniform in [start, end) */
    const double *topic_weights;  /* DM_SYNTH_TOPICS weights; NULL = equal */
    const double *intent_weights; /* DM_SYNTH_INTENTS weights; NULL = the
                                     topic's own intent */
    double positive_rate;         /* 0..1 */
    const char *id_prefix;        /* ids "<prefix>-<n>"; NULL = "synth" */
} dm_synth_opts_t;

typedef struct dm_synth {
    dm_feedback_row_t *rows; /* strings owned by the set */
    size_t n;
    size_t positives;
    size_t topic_counts[DM_SYNTH_TOPICS];
    size_t intent_counts[DM_SYNTH_INTENTS];
} dm_synth_t;

/* Topic name i ("python", ...) and intent name i ("code", "reasoning",
 * "general", "debug", "documentation"); NULL out of range. */
const char *dm_synth_topic_name(size_t i);
const char *dm_synth_intent_name(size_t i);
/* The natural intent (index) of topic i. */
size_t dm_synth_topic_intent(size_t i);

/*
 * Generates o->rows rows.  Returns DM_OK, or DM_EINVAL (message in
 * errbuf) for end <= start, a rate outside 0..1, or weights that are
 * negative, not finite or all zero.
 */
int dm_synth_generate(const dm_synth_opts_t *o, dm_synth_t **out, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

void dm_synth_free(dm_synth_t *s);

/*
 * Generates rows and inserts them into st in batches (in the caller's
 * transaction if one is active).  *inserted (may be NULL) counts new rows.
 */
int dm_synth_ingest(dm_store_t *st, const dm_synth_opts_t *o, size_t *inserted,
                    char *errbuf, size_t errlen) DM_MUSTCHECK;

#endif
