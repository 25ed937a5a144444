/*
 * synth.c - the synthetic feedback generator (see synth.h).  Each topic
 * has its own vocabulary; queries and responses are sentences from a
 * shared set of templates filled with that vocabulary, so two rows of a
 * topic share words (and n-grams) and rows of different topics mostly do
 * not: a change of topic mix is a change of text distribution that any
 * sentence embedder sees, while a change of labels alone is not.
 */
#include "monitor/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rng.h"
#include "ingest/ingest.h"

#define WORDS 12

struct topic {
    const char *name;
    size_t intent;
    const char *words[WORDS];
};

static const char *const intents[DM_SYNTH_INTENTS] = {
    "code", "reasoning", "general", "debug", "documentation"};

static const struct topic topics[DM_SYNTH_TOPICS] = {
    {"python",
     0,
     {"python", "list", "dictionary", "pandas", "dataframe", "function",
      "decorator", "generator", "numpy", "pip", "virtualenv", "comprehension"}},
    {"javascript",
     0,
     {"javascript", "promise", "async", "react", "component", "npm", "closure",
      "typescript", "array", "fetch", "callback", "node"}},
    {"maths",
     1,
     {"integral", "derivative", "probability", "matrix", "eigenvalue", "proof",
      "theorem", "series", "limit", "equation", "prime", "vector"}},
    {"puzzles",
     1,
     {"puzzle", "riddle", "logic", "deduction", "liar", "chess", "strategy",
      "paradox", "syllogism", "knights", "boxes", "coins"}},
    {"cooking",
     2,
     {"recipe", "pasta", "oven", "garlic", "bread", "flour", "sauce", "roast",
      "vegetables", "spices", "dough", "butter"}},
    {"travel",
     2,
     {"flight", "hotel", "itinerary", "passport", "museum", "train", "luggage",
      "beach", "visa", "tickets", "budget", "airport"}},
    {"crashes",
     3,
     {"segfault", "exception", "stacktrace", "crash", "null", "pointer",
      "traceback", "core", "dump", "assertion", "panic", "overflow"}},
    {"performance",
     3,
     {"slow", "latency", "profiler", "memory", "leak", "cpu", "cache",
      "bottleneck", "timeout", "query", "index", "throughput"}},
    {"apidocs",
     4,
     {"endpoint", "parameter", "docstring", "reference", "schema", "openapi",
      "swagger", "authentication", "header", "payload", "version",
      "changelog"}},
    {"tutorials",
     4,
     {"readme", "tutorial", "guide", "markdown", "example", "installation",
      "chapter", "diagram", "glossary", "quickstart", "section", "wiki"}},
};

/* %s are topic words (five per template): feedback text is dense in
 * the words of its subject. */
static const char *const query_tpl[] = {
    "How do I use %s with %s and %s, given %s and %s?",
    "Why does my %s break the %s when I add %s to the %s %s?",
    "Explain %s, %s and %s; also %s versus %s",
    "Best way to combine %s and %s for %s with %s %s?",
    "Help: %s %s does not work with %s or %s %s",
    "Compare %s to %s for %s, %s and %s",
    "Example of %s using %s, %s, %s and %s please",
    "Stuck on %s %s: is %s related to %s or %s?",
};

static const char *const response_tpl[] = {
    "Start with the %s, then apply %s; check %s, %s and %s.",
    "The %s depends on %s, so configure %s, %s and %s first.",
    "Usually %s fails because of %s; change the %s, %s or %s.",
    "Short answer: %s works with %s when %s, %s and %s are set.",
    "Think of %s as %s, and use %s with %s to verify %s.",
    "First %s, then %s, and keep an eye on %s, %s and %s.",
};

#define N_QUERY    (sizeof(query_tpl) / sizeof(query_tpl[0]))
#define N_RESPONSE (sizeof(response_tpl) / sizeof(response_tpl[0]))

const char *dm_synth_topic_name(size_t i)
{
    return i < DM_SYNTH_TOPICS ? topics[i].name : NULL;
}

const char *dm_synth_intent_name(size_t i)
{
    return i < DM_SYNTH_INTENTS ? intents[i] : NULL;
}

size_t dm_synth_topic_intent(size_t i)
{
    return i < DM_SYNTH_TOPICS ? topics[i].intent : 0;
}

static int check_weights(const double *w, size_t n, const char *what, char *err,
                         size_t errlen)
{
    double sum = 0;

    if (w == NULL)
        return DM_OK;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(w[i]) || w[i] < 0)
            return dm_err_set(err, errlen, DM_EINVAL,
                              "%s weight %zu must be finite and >= 0", what, i);
        sum += w[i];
    }
    if (sum <= 0)
        return dm_err_set(err, errlen, DM_EINVAL, "%s weights are all zero",
                          what);
    return DM_OK;
}

/* Index drawn from weights w (n entries; NULL = uniform). */
static size_t draw(dm_rng_t *r, const double *w, size_t n)
{
    double sum = 0, x;

    if (w == NULL)
        return (size_t)dm_rng_below(r, n);
    for (size_t i = 0; i < n; i++)
        sum += w[i];
    x = dm_rng_uniform(r) * sum;
    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    for (size_t i = n; i > 0; i--)
        if (w[i - 1] > 0)
            return i - 1;
    return 0;
}

static char *sentence(dm_rng_t *r, const char *tpl, const struct topic *t)
{
    const char *w[5];
    char buf[512];

    for (int i = 0; i < 5; i++)
        w[i] = t->words[dm_rng_below(r, WORDS)];
    /* the templates are fixed strings of this file with five %s */
    snprintf(buf, sizeof(buf), tpl, w[0], w[1], w[2], w[3], w[4]);
    return dm_strdup(buf);
}

int dm_synth_generate(const dm_synth_opts_t *o, dm_synth_t **out, char *errbuf,
                      size_t errlen)
{
    dm_synth_t *s;
    dm_rng_t r;
    size_t *order, npos;
    int rc;

    *out = NULL;
    if (o->end_ms <= o->start_ms)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "synth: end must be after start");
    if (!(o->positive_rate >= 0 && o->positive_rate <= 1))
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "synth: positive_rate must be in 0..1");
    if ((rc = check_weights(o->topic_weights, DM_SYNTH_TOPICS, "topic", errbuf,
                            errlen)) != DM_OK ||
        (rc = check_weights(o->intent_weights, DM_SYNTH_INTENTS, "intent",
                            errbuf, errlen)) != DM_OK)
        return rc;
    s = dm_calloc(1, sizeof(*s));
    s->n = o->rows;
    s->rows = dm_calloc(o->rows ? o->rows : 1, sizeof(*s->rows));
    dm_rng_seed(&r, o->seed);
    for (size_t i = 0; i < o->rows; i++) {
        dm_feedback_row_t *row = &s->rows[i];
        size_t t = draw(&r, o->topic_weights, DM_SYNTH_TOPICS);
        size_t in = o->intent_weights
                        ? draw(&r, o->intent_weights, DM_SYNTH_INTENTS)
                        : topics[t].intent;
        char id[96];

        snprintf(id, sizeof(id), "%s-%zu",
                 o->id_prefix ? o->id_prefix : "synth", i);
        row->id = dm_strdup(id);
        row->query =
            sentence(&r, query_tpl[dm_rng_below(&r, N_QUERY)], &topics[t]);
        row->response = sentence(&r, response_tpl[dm_rng_below(&r, N_RESPONSE)],
                                 &topics[t]);
        row->intent = intents[in]; /* static */
        row->created_at_ms =
            o->start_ms +
            (int64_t)dm_rng_below(&r, (uint64_t)(o->end_ms - o->start_ms));
        s->topic_counts[t]++;
        s->intent_counts[in]++;
    }
    /* exactly round(rate * n) positives, at random rows */
    npos = (size_t)llround(o->positive_rate * (double)o->rows);
    order = dm_mallocarray(o->rows ? o->rows : 1, sizeof(size_t));
    for (size_t i = 0; i < o->rows; i++)
        order[i] = i;
    for (size_t i = 0; i < npos; i++) {
        size_t j = i + (size_t)dm_rng_below(&r, o->rows - i);
        size_t tmp = order[i];

        order[i] = order[j];
        order[j] = tmp;
        s->rows[order[i]].positive = true;
    }
    free(order);
    s->positives = npos;
    *out = s;
    return DM_OK;
}

void dm_synth_free(dm_synth_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free((char *)(uintptr_t)s->rows[i].id);
        free((char *)(uintptr_t)s->rows[i].query);
        free((char *)(uintptr_t)s->rows[i].response);
    }
    free(s->rows);
    free(s);
}

int dm_synth_ingest(dm_store_t *st, const dm_synth_opts_t *o, size_t *inserted,
                    char *errbuf, size_t errlen)
{
    /* joins the caller's transaction: the demo writes two sets in one */
    static const dm_ingest_policy_t policy = {.on_bad = DM_INGEST_STOP,
                                              .atomic = false};
    dm_synth_t *s = NULL;
    dm_ingest_source_t src;
    dm_ingest_stats_t stats = {0};
    int rc = dm_synth_generate(o, &s, errbuf, errlen);

    if (rc == DM_OK) {
        dm_ingest_source_init_rows(&src, s->rows, s->n);
        rc = dm_ingest_run(st, &src, &policy, &stats, errbuf, errlen);
    }
    if (inserted)
        *inserted = stats.inserted;
    dm_synth_free(s);
    return rc;
}
