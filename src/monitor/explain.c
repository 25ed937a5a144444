/*
 * explain.c - the explanation of a check (DESIGN.md section 2.5) as the
 * monitor reports it: computed from the windows' sample (topics, novel
 * queries) and aggregates (intents) by src/stats/, the example texts
 * copied in so that the result is plain data, and shown three ways from
 * here only -- the "explanation" JSON object (check --json, the stored
 * details, the API), the top changes in plain words (the human output
 * and Slack).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/json.h"
#include "monitor/analyze.h"

/* Copies s into dst (cap bytes), cut at a UTF-8 character boundary. */
static void copy_text(char *dst, size_t cap, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n >= cap) {
        n = cap - 1;
        /* back off continuation bytes so no character is split */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    if (n > 0)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

static int topics(const dm_config_t *cfg, const dm_window_data_t *b,
                  const dm_window_data_t *c, size_t dim, dm_explanation_t *e,
                  char *err, size_t errlen)
{
    size_t nb = b->n_embeddings, nc = c->n_embeddings, n = nb + nc;
    const char **q = dm_mallocarray(n, sizeof(*q));
    unsigned char *pos = NULL;
    int rc;

    for (size_t i = 0; i < n; i++)
        q[i] = i < nb ? b->queries[i] : c->queries[i - nb];
    if (b->positive != NULL && c->positive != NULL) {
        pos = dm_malloc(n);
        memcpy(pos, b->positive, nb);
        memcpy(pos + nb, c->positive, nc);
    }
    rc = dm_stats_explain(b->embeddings, nb, c->embeddings, nc, dim, q, pos,
                          cfg->explain.topics, cfg->significance.seed,
                          &e->topics, err, errlen);
    if (rc == DM_OK) {
        for (size_t t = 0; t < e->topics.k; t++)
            for (size_t j = 0; j < e->topics.topics[t].n_examples; j++)
                copy_text(e->examples[t][j], DM_EXPLAIN_TEXT,
                          q[e->topics.topics[t].examples[j]]);
        for (size_t j = 0; j < e->topics.n_novel; j++)
            copy_text(e->novel[j], DM_EXPLAIN_TEXT, q[e->topics.novel[j].row]);
        e->have_topics = true;
    }
    free(pos);
    free(q);
    return rc;
}

int dm_explanation_compute(const dm_config_t *cfg, const dm_window_data_t *b,
                           const dm_window_data_t *c, size_t dim,
                           dm_explanation_t *e, char *err, size_t errlen)
{
    size_t k = dm_analyze_categories(cfg);
    int rc;

    memset(e, 0, sizeof(*e));
    if (b->n_embeddings > 0 && c->n_embeddings > 0 && b->queries != NULL &&
        c->queries != NULL) {
        rc = topics(cfg, b, c, dim, e, err, errlen);
        if (rc != DM_OK)
            return rc;
    }
    if (b->intent_counts != NULL && c->intent_counts != NULL &&
        b->intent_positives != NULL && c->intent_positives != NULL &&
        k <= DM_EXPLAIN_INTENTS) {
        uint64_t tb = 0, tc = 0;

        for (size_t i = 0; i < k; i++) {
            tb += b->intent_counts[i];
            tc += c->intent_counts[i];
        }
        if (tb == 0 || tc == 0)
            return DM_OK;
        rc = dm_stats_intents(b->intent_counts, b->intent_positives,
                              c->intent_counts, c->intent_positives, k, k - 1,
                              cfg->intents.min_samples_per_intent, e->intents,
                              err, errlen);
        if (rc != DM_OK)
            return rc;
        for (size_t i = 0; i < k; i++)
            copy_text(e->intent_names[i], DM_EXPLAIN_INTENT_NAME,
                      dm_analyze_category_name(cfg, i));
        e->n_intents = k;
        e->have_intents = true;
    }
    return DM_OK;
}

static json_t *topic_json(const dm_explanation_t *e, size_t t)
{
    const dm_stats_topic_t *tp = &e->topics.topics[t];
    json_t *terms = json_array(), *ex = json_array();

    for (size_t j = 0; j < tp->n_terms; j++)
        json_array_append_new(terms, json_string(tp->terms[j]));
    for (size_t j = 0; j < tp->n_examples; j++)
        json_array_append_new(ex, json_string(e->examples[t][j]));
    return json_pack(
        "{s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "terms",
        terms, "examples", ex, "baseline_count", (json_int_t)tp->baseline_count,
        "current_count", (json_int_t)tp->current_count, "baseline_share",
        dm_json_real(tp->baseline_share), "current_share",
        dm_json_real(tp->current_share), "change", dm_json_real(tp->change),
        "p_value", dm_json_real(tp->p_value), "p_adjusted",
        dm_json_real(tp->p_adjusted), "baseline_accuracy",
        dm_json_real(tp->baseline_accuracy), "current_accuracy",
        dm_json_real(tp->current_accuracy));
}

static json_t *intent_json(const dm_explanation_t *e, size_t i)
{
    const dm_stats_intent_t *it = &e->intents[i];

    return json_pack(
        "{s:s, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}",
        "intent", e->intent_names[i], "baseline_count",
        (json_int_t)it->baseline_count, "current_count",
        (json_int_t)it->current_count, "baseline_share",
        dm_json_real(it->baseline_share), "current_share",
        dm_json_real(it->current_share), "psi_term", dm_json_real(it->psi_term),
        "baseline_positives", (json_int_t)it->baseline_positives,
        "current_positives", (json_int_t)it->current_positives,
        "baseline_accuracy", dm_json_real(it->baseline_accuracy),
        "current_accuracy", dm_json_real(it->current_accuracy),
        "accuracy_p_value", dm_json_real(it->accuracy_p_value),
        "accuracy_p_adjusted", dm_json_real(it->accuracy_p_adjusted));
}

json_t *dm_explanation_to_json(const dm_explanation_t *e)
{
    json_t *o = json_object(), *t = NULL, *nv = NULL, *in = NULL;

    if (o == NULL)
        return NULL;
    if (e->have_topics) {
        t = json_array();
        nv = json_array();
        for (size_t i = 0; t && i < e->topics.k; i++)
            json_array_append_new(t, topic_json(e, i));
        for (size_t i = 0; nv && i < e->topics.n_novel; i++)
            json_array_append_new(
                nv, json_pack("{s:s, s:o}", "query", e->novel[i], "distance",
                              dm_json_real(e->topics.novel[i].distance)));
    }
    if (e->have_intents) {
        in = json_array();
        for (size_t i = 0; in && i < e->n_intents; i++)
            json_array_append_new(in, intent_json(e, i));
    }
    json_object_set_new(o, "topics", t ? t : json_null());
    json_object_set_new(o, "novel", nv ? nv : json_null());
    json_object_set_new(o, "intents", in ? in : json_null());
    if (e->have_topics) {
        json_object_set_new(o, "k", json_integer((json_int_t)e->topics.k));
        json_object_set_new(o, "kmeans_iterations",
                            json_integer((json_int_t)e->topics.iterations));
    }
    return o;
}

/* A change worth a line: significant (or untested) and a point or more. */
static bool notable(double change, double p_adjusted, double alpha)
{
    return fabs(change) >= 0.01 && (isnan(p_adjusted) || p_adjusted < alpha);
}

/* One candidate line: which kind, which entry, how big. */
typedef struct change {
    double size;
    bool topic;
    size_t idx;
} change_t;

static int cmp_change(const void *a, const void *b)
{
    const change_t *x = a, *y = b;

    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    if (x->topic != y->topic)
        return x->topic ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static double pct(double v)
{
    return 100.0 * v;
}

size_t dm_explanation_top(const dm_explanation_t *e, double alpha, size_t n,
                          bool examples, const char *prefix, char *out,
                          size_t outlen)
{
    change_t *c = dm_mallocarray(
        DM_STATS_EXPLAIN_TOPICS_MAX + DM_EXPLAIN_INTENTS, sizeof(*c));
    size_t m = 0, lines = 0, used = 0;

    if (outlen > 0)
        out[0] = '\0';
    for (size_t i = 0; e->have_topics && i < e->topics.k; i++) {
        const dm_stats_topic_t *t = &e->topics.topics[i];

        if (notable(t->change, t->p_adjusted, alpha))
            c[m++] = (change_t){fabs(t->change), true, i};
    }
    for (size_t i = 0; e->have_intents && i < e->n_intents; i++) {
        const dm_stats_intent_t *t = &e->intents[i];
        double d = t->current_accuracy - t->baseline_accuracy;

        if (!isnan(d) && notable(d, t->accuracy_p_adjusted, alpha))
            c[m++] = (change_t){fabs(d), false, i};
    }
    qsort(c, m, sizeof(*c), cmp_change);
    for (size_t j = 0; j < m && lines < n && used < outlen; j++) {
        char line[1024];
        int w;

        if (c[j].topic) {
            const dm_stats_topic_t *t = &e->topics.topics[c[j].idx];
            char terms[6 * DM_STATS_EXPLAIN_TERM_LEN] = "";

            for (size_t k = 0; k < t->n_terms && k < 3; k++)
                snprintf(terms + strlen(terms), sizeof(terms) - strlen(terms),
                         "%s%s", k ? ", " : "", t->terms[k]);
            w = snprintf(line, sizeof(line),
                         "%s%s topic *%s*: %.0f%% \u2192 %.0f%% of queries",
                         prefix, t->change > 0 ? "\u25b2" : "\u25bc", terms,
                         pct(t->baseline_share), pct(t->current_share));
            if (examples && t->n_examples > 0 && w > 0 &&
                (size_t)w < sizeof(line))
                snprintf(line + w, sizeof(line) - (size_t)w, " (e.g. \"%s\")",
                         e->examples[c[j].idx][0]);
        } else {
            const dm_stats_intent_t *t = &e->intents[c[j].idx];

            snprintf(line, sizeof(line),
                     "%s%s intent *%s*: accuracy %.0f%% \u2192 %.0f%% "
                     "(%.0f%% of queries)",
                     prefix,
                     t->current_accuracy > t->baseline_accuracy ? "\u25b2"
                                                                : "\u25bc",
                     e->intent_names[c[j].idx], pct(t->baseline_accuracy),
                     pct(t->current_accuracy), pct(t->current_share));
        }
        w = snprintf(out + used, outlen - used, "%s%s", lines ? "\n" : "",
                     line);
        if (w < 0 || (size_t)w >= outlen - used) {
            out[used] = '\0';
            break;
        }
        used += (size_t)w;
        lines++;
    }
    free(c);
    return lines;
}
