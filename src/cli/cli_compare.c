/*
 * cli_compare.c - `driftmon compare`: an offline drift comparison of two
 * JSONL files, one object per line with any of "embedding" (array of
 * numbers), "intent" (string), "positive" (boolean) and "text" or
 * "query" (string: with embeddings, the topics of the explanation).  Every
 * signal both files carry is computed with the thresholds and significance
 * settings of the config, and printed as a table or, with --json, as one
 * JSON object.  Exit code: 0 no drift, 1 drift, 2 bad input.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "cli/cli_compare.h"
#include "common/alloc.h"
#include "common/lines.h"
#include "config/config.h"
#include "monitor/analyze.h"

#define MAX_LINE (8u << 20) /* 8 MiB: a 384-d embedding is ~8 KiB */
#define MAX_DIM  DM_CLI_COMPARE_MAX_DIM

static int line_error(char *err, size_t n, const dm_cli_compare_side_t *s,
                      size_t line, const char *what)
{
    return dm_err_set(err, n, DM_EPARSE, "%s:%zu: %s", s->path, line, what);
}

static int read_embedding(dm_cli_compare_side_t *s, json_t *arr, size_t line,
                          size_t *dim, char *err, size_t n)
{
    size_t len = json_array_size(arr);
    char msg[128];

    if (!json_is_array(arr) || len == 0)
        return line_error(err, n, s, line,
                          "embedding: must be a non-empty array of numbers");
    if (len > MAX_DIM)
        return line_error(err, n, s, line, "embedding: more than 65536 values");
    if (*dim == 0) {
        *dim = len;
    } else if (len != *dim) {
        snprintf(msg, sizeof(msg),
                 "embedding: has %zu values, earlier rows have %zu", len, *dim);
        return line_error(err, n, s, line, msg);
    }
    if (s->rows_emb == s->cap_emb) {
        s->cap_emb = s->cap_emb ? s->cap_emb * 2 : 256;
        s->emb = dm_reallocarray(s->emb, s->cap_emb * len, sizeof(double));
    }
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(arr, i);
        double x;

        if (!json_is_number(v)) {
            snprintf(msg, sizeof(msg), "embedding: element %zu is not a number",
                     i);
            return line_error(err, n, s, line, msg);
        }
        x = json_number_value(v);
        if (!isfinite(x)) {
            snprintf(msg, sizeof(msg),
                     "embedding: element %zu is not a finite number", i);
            return line_error(err, n, s, line, msg);
        }
        s->emb[s->rows_emb * len + i] = x;
    }
    s->rows_emb++;
    return DM_OK;
}

/*
 * The fields a row may have: the three compare reads, and the other
 * fields of a feedback row (src/ingest/ingest.h), accepted and unused so
 * that an ingest file can be compared.  Anything else is an error, as in
 * ingest: a misspelt "positiv" must not be dropped silently.
 */
static const char *const known_fields[] = {
    "embedding", "intent", "positive", "text",
    "id",        "query",  "response", "created_at",
};
void dm_cli_compare_side_cleanup(dm_cli_compare_side_t *s)
{
    for (size_t i = 0; i < s->n_text_rows; i++)
        free(s->texts[i]);
    free(s->texts);
    free(s->rated);
    free(s->intent_pos);
    free(s->emb);
    s->texts = NULL;
    s->rated = NULL;
    s->intent_pos = NULL;
    s->emb = NULL;
}

/* The text and rating of the embedded row just read. */
static int keep_text(dm_cli_compare_side_t *s, json_t *obj, size_t line,
                     char *err, size_t n)
{
    json_t *t = json_object_get(obj, "text");
    json_t *pos = json_object_get(obj, "positive");

    if (t == NULL || json_is_null(t))
        t = json_object_get(obj, "query");
    if (t != NULL && !json_is_null(t) && !json_is_string(t))
        return line_error(err, n, s, line, "text: must be a string");
    if (s->n_text_rows == s->cap_text) {
        s->cap_text = s->cap_text ? s->cap_text * 2 : 256;
        s->texts = dm_reallocarray(s->texts, s->cap_text, sizeof(char *));
        s->rated = dm_reallocarray(s->rated, s->cap_text, 1);
    }
    s->texts[s->n_text_rows] =
        json_is_string(t) ? dm_strdup(json_string_value(t)) : NULL;
    s->rated[s->n_text_rows] =
        json_is_true(pos) || (json_is_integer(pos) && json_integer_value(pos));
    s->n_text_rows++;
    return DM_OK;
}

static int read_row(const dm_config_t *cfg, dm_cli_compare_side_t *s,
                    json_t *obj, size_t line, size_t *dim, char *err, size_t n)
{
    json_t *emb = json_object_get(obj, "embedding");
    json_t *intent = json_object_get(obj, "intent");
    json_t *pos = json_object_get(obj, "positive");
    const char *label = NULL, *key;
    json_t *v;
    int rc;

    json_object_foreach(obj, key, v)
    {
        size_t k = 0, nk = sizeof(known_fields) / sizeof(known_fields[0]);
        char msg[160];

        while (k < nk && strcmp(key, known_fields[k]) != 0)
            k++;
        if (k == nk) {
            snprintf(msg, sizeof(msg),
                     "unknown field '%.64s' (compare reads embedding, "
                     "intent and positive)",
                     key);
            return line_error(err, n, s, line, msg);
        }
    }

    if (emb != NULL && !json_is_null(emb)) {
        rc = read_embedding(s, emb, line, dim, err, n);
        if (rc == DM_OK)
            rc = keep_text(s, obj, line, err, n);
        if (rc != DM_OK)
            return rc;
    }
    if (intent != NULL && !json_is_null(intent)) {
        if (!json_is_string(intent))
            return line_error(err, n, s, line, "intent: must be a string");
        label = json_string_value(intent);
        s->any_intent = true;
    }
    s->intents[dm_analyze_category_of(cfg, label)]++;
    if (pos != NULL && !json_is_null(pos)) {
        if (json_is_boolean(pos)) {
            s->positives += json_is_true(pos);
        } else if (json_is_integer(pos) && (json_integer_value(pos) == 0 ||
                                            json_integer_value(pos) == 1)) {
            s->positives += (uint64_t)json_integer_value(pos);
        } else {
            return line_error(err, n, s, line,
                              "positive: must be true, false, 0 or 1");
        }
        if (s->intent_pos == NULL)
            s->intent_pos =
                dm_calloc(dm_analyze_categories(cfg), sizeof(uint64_t));
        s->intent_pos[dm_analyze_category_of(cfg, label)] +=
            json_is_true(pos) ||
            (json_is_integer(pos) && json_integer_value(pos) == 1);
        s->feedback++;
        if (emb != NULL && !json_is_null(emb))
            s->rated_rows++;
    }
    s->rows++;
    return DM_OK;
}

int dm_cli_compare_line(const dm_config_t *cfg, dm_cli_compare_side_t *s,
                        const char *line, size_t len, size_t lineno,
                        size_t *dim, char *err, size_t n)
{
    json_error_t jerr;
    json_t *obj;
    char msg[DM_ERRBUF_SIZE];
    size_t blank = 0;
    int rc;

    while (blank < len && (line[blank] == ' ' || line[blank] == '\t'))
        blank++;
    if (blank == len)
        return DM_OK;
    obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        snprintf(msg, sizeof(msg), "invalid JSON at column %d: %s", jerr.column,
                 jerr.text);
        return line_error(err, n, s, lineno, msg);
    }
    if (!json_is_object(obj))
        rc = line_error(err, n, s, lineno, "not a JSON object");
    else
        rc = read_row(cfg, s, obj, lineno, dim, err, n);
    json_decref(obj);
    return rc;
}

static int read_side(const dm_config_t *cfg, dm_cli_compare_side_t *s,
                     size_t *dim, char *err, size_t n)
{
    dm_lines_t lr;
    const char *line;
    size_t len;
    int rc;

    rc = dm_lines_open(&lr, s->path, MAX_LINE, err, n);
    if (rc != DM_OK)
        return rc;
    while ((rc = dm_lines_next(&lr, &line, &len, err, n)) > 0) {
        rc = dm_cli_compare_line(cfg, s, line, len, lr.lineno, dim, err, n);
        if (rc != DM_OK)
            break;
    }
    dm_lines_close(&lr);
    if (rc < 0)
        return rc;
    if (s->rows == 0)
        return dm_err_set(err, n, DM_EINVAL, "%s: no rows", s->path);
    return DM_OK;
}

static const char usage_text[] =
    "usage: driftmon compare --baseline A.jsonl --current B.jsonl\n"
    "                        [--config FILE] [--json]\n\n"
    "Each line of A and B is a JSON object with any of\n"
    "  \"embedding\": [numbers], \"intent\": \"label\", "
    "\"positive\": true|false, \"text\": \"the query\"\n"
    "Every signal both files carry is computed.  Exit code: 0 no "
    "drift,\n1 drift, 2 bad arguments or input.\n";

static void print_text(const dm_analysis_t *a, const dm_cli_compare_side_t *b,
                       const dm_cli_compare_side_t *c)
{
    printf("driftmon compare: baseline %s (%zu rows), current %s (%zu "
           "rows)\n\n",
           b->path, b->rows, c->path, c->rows);
    dm_analysis_print(a, stdout);
}

static int print_json(const dm_analysis_t *a, const dm_cli_compare_side_t *b,
                      const dm_cli_compare_side_t *c)
{
    json_t *o = json_object();
    char *s;
    int rc;

    if (o == NULL)
        return DM_ENOMEM;
    rc = dm_analysis_to_json(a, o);
    if (rc == DM_OK &&
        (json_object_set_new(o, "status", json_string("ok")) ||
         json_object_set_new(o, "baseline_rows",
                             json_integer((json_int_t)b->rows)) ||
         json_object_set_new(o, "current_rows",
                             json_integer((json_int_t)c->rows))))
        rc = DM_ENOMEM;
    s = rc == DM_OK ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17))
                    : NULL;
    json_decref(o);
    if (s == NULL)
        return DM_ENOMEM;
    puts(s);
    free(s);
    return DM_OK;
}

/* The answer when a file has fewer than min_samples rows. */
static void print_insufficient(const dm_cli_compare_side_t *b,
                               const dm_cli_compare_side_t *c,
                               uint32_t min_samples, int json)
{
    if (json) {
        json_t *o = json_pack(
            "{s:s, s:b, s:s, s:I, s:I, s:I}", "status", "insufficient_data",
            "drift_detected", 0, "severity", "none", "baseline_rows",
            (json_int_t)b->rows, "current_rows", (json_int_t)c->rows,
            "min_samples", (json_int_t)min_samples);
        char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

        if (s != NULL)
            puts(s);
        free(s);
        json_decref(o);
        return;
    }
    printf("insufficient data: %zu baseline and %zu current rows; each file "
           "needs at least %u (monitoring.min_samples).  Nothing decided.\n",
           b->rows, c->rows, min_samples);
}

/* A signal one file carries and the other does not is an input error. */
static int signals_agree(const dm_cli_compare_side_t *b,
                         const dm_cli_compare_side_t *c, char *err, size_t n)
{
    const char *what = (b->rows_emb > 0) != (c->rows_emb > 0)   ? "embedding"
                       : b->any_intent != c->any_intent         ? "intent"
                       : (b->feedback > 0) != (c->feedback > 0) ? "positive"
                                                                : NULL;
    bool in_b = (b->rows_emb > 0) != (c->rows_emb > 0) ? b->rows_emb > 0
                : b->any_intent != c->any_intent       ? b->any_intent
                                                       : b->feedback > 0;

    if (what == NULL)
        return DM_OK;
    return dm_err_set(err, n, DM_EINVAL,
                      "%s has \"%s\" values and %s has none: both files "
                      "need a signal to compare it",
                      in_b ? b->path : c->path, what, in_b ? c->path : b->path);
}

/* The two windows of the analysis, over the sides' data (borrowed). */
static void fill_windows(dm_cli_compare_side_t *b, dm_cli_compare_side_t *c,
                         dm_window_data_t *wb, dm_window_data_t *wc)
{
    wb->embeddings = b->emb;
    wb->n_embeddings = b->rows_emb;
    wc->embeddings = c->emb;
    wc->n_embeddings = c->rows_emb;
    if (b->any_intent || c->any_intent) {
        wb->intent_counts = b->intents;
        wc->intent_counts = c->intents;
    }
    /* the explanation: topics with texts, accuracy where all are rated */
    for (size_t i = 0; i < b->n_text_rows && !b->any_text; i++)
        b->any_text = b->texts[i] != NULL;
    for (size_t i = 0; i < c->n_text_rows && !c->any_text; i++)
        c->any_text = c->texts[i] != NULL;
    if (b->any_text && c->any_text) {
        wb->queries = (const char *const *)b->texts;
        wc->queries = (const char *const *)c->texts;
        if (b->rated_rows == b->rows_emb && c->rated_rows == c->rows_emb) {
            wb->positive = b->rated;
            wc->positive = c->rated;
        }
    }
    if (b->feedback == b->rows && c->feedback == c->rows &&
        b->intent_pos != NULL && c->intent_pos != NULL) {
        wb->intent_positives = b->intent_pos;
        wc->intent_positives = c->intent_pos;
    }
    wb->positives = b->positives;
    wb->total_feedback = b->feedback;
    wc->positives = c->positives;
    wc->total_feedback = c->feedback;
}

int dm_cli_compare(int argc, char **argv)
{
    const char *cfg_path = NULL;
    bool json = false;
    dm_cli_compare_side_t b = {0}, c = {0};
    const dm_cli_opt_t opts[] = {
        DM_CLI_FLAG("--json", &json),
        DM_CLI_VALUE("--baseline", &b.path),
        DM_CLI_VALUE("--current", &c.path),
        DM_CLI_VALUE("--config", &cfg_path),
        DM_CLI_END,
    };
    const dm_cli_cmd_t cmd = {"compare", usage_text, opts, NULL, NULL};
    dm_config_t *cfg = NULL;
    dm_window_data_t wb = {0}, wc = {0};
    dm_analysis_t a;
    char err[DM_ERRBUF_SIZE] = "";
    size_t dim = 0, k;
    int rc, ret;

    if ((ret = dm_cli_parse(&cmd, argc, argv)) != DM_CLI_GO_ON)
        return ret;
    if (b.path == NULL || c.path == NULL)
        return dm_cli_usage_error(&cmd, "--baseline and --current are "
                                        "required");
    if ((ret = dm_cli_config(cfg_path, &cfg)) != DM_CLI_GO_ON)
        return ret;
    ret = DM_EXIT_USAGE;
    k = dm_analyze_categories(cfg);
    b.intents = dm_calloc(k, sizeof(uint64_t));
    c.intents = dm_calloc(k, sizeof(uint64_t));
    rc = read_side(cfg, &b, &dim, err, sizeof(err));
    if (rc == DM_OK)
        rc = read_side(cfg, &c, &dim, err, sizeof(err));
    if (rc == DM_OK)
        rc = signals_agree(&b, &c, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    /* as a check does: too few rows in either window decides nothing */
    if (b.rows < cfg->monitoring.min_samples ||
        c.rows < cfg->monitoring.min_samples) {
        print_insufficient(&b, &c, cfg->monitoring.min_samples, json);
        ret = DM_EXIT_OK;
        goto out;
    }
    fill_windows(&b, &c, &wb, &wc);
    rc = dm_analyze(cfg, &wb, &wc, dim, &a, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    if (!a.have_semantic && !a.have_psi && !a.have_accuracy) {
        rc = dm_err_set(err, sizeof(err), DM_EINVAL,
                        "no signal to compare: the files share none of "
                        "embedding, intent, positive");
        goto out;
    }
    if (json)
        rc = print_json(&a, &b, &c);
    else
        print_text(&a, &b, &c);
    if (rc == DM_OK)
        ret = a.verdict.drift_detected ? DM_EXIT_DRIFT : DM_EXIT_OK;
    else
        ret = DM_EXIT_FAILURE;
out:
    if (rc != DM_OK)
        fprintf(stderr, "driftmon: error: %s\n",
                err[0] ? err : dm_strerror(rc));
    dm_cli_compare_side_cleanup(&b);
    dm_cli_compare_side_cleanup(&c);
    free(b.intents);
    free(c.intents);
    dm_config_free(cfg);
    return ret;
}
