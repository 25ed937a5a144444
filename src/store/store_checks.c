/*
 * store_checks.c - the drift_metrics and finetuning_triggers tables.
 *
 * Each table is described once by a const array of columns (SQL name,
 * kind, offset of the field in dm_store_check_t / dm_store_trigger_t);
 * INSERT statements, SELECT lists and the mapping of result rows back to
 * structs are all generated from those arrays, so a new column is one
 * line.  Timestamps are INTEGER ms on SQLite and TIMESTAMPTZ on
 * PostgreSQL (read back as epoch milliseconds); JSON is TEXT on SQLite
 * and JSONB on PostgreSQL (read back as text).
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/check_enums.h"
#include "common/json.h"
#include "common/time.h"
#include "store/store_int.h"

#define SQL_MAX (64 * 1024)

enum col_kind { C_TS, C_STR, C_INT, C_DBL, C_BOOL, C_JSON, C_TOPDIMS, C_REF };

struct col {
    const char *name; /* SQL column */
    const char *key;  /* JSON key (checks; NULL for triggers) */
    enum col_kind kind;
    size_t off;
    const char *gauge; /* Prometheus gauge of the newest ok check, or NULL */
    const char *help;  /* its HELP text */
};

/*
 * The check record, field by field: the one table behind the
 * drift_metrics columns (insert, select, read back) and the JSON of a
 * check (dm_store_check_to_json(): POST /drift/check, GET /drift/metrics,
 * GET /drift/checks/{id}, `driftmon check --json`), in the order the JSON
 * shows them, and the gauges of /metrics (dm_store_check_gauges()).  A
 * new figure is one line here (and one migration).
 */
#define CK(name, key, kind, field)                                             \
    {                                                                          \
        name, key, kind, offsetof(dm_store_check_t, field), NULL, NULL         \
    }
/* A field with a gauge of its own on /metrics (dm_store_check_gauges()). */
#define CKG(name, key, kind, field, gauge, help)                               \
    {                                                                          \
        name, key, kind, offsetof(dm_store_check_t, field), gauge, help        \
    }
static const struct col check_cols[] = {
    CK("kind", "kind", C_STR, kind), CK("status", "status", C_STR, status),
    CK("error", "error", C_STR, error),
    CK("failed_phase", "failed_phase", C_STR, failed_phase),
    CKG("\"timestamp\"", "checked_at", C_TS, checked_at_ms,
        "driftmon_latest_check_timestamp_seconds",
        "Time of the newest ok check (Unix seconds)."),
    CK("window_days", "window_days", C_INT, window_days),
    CK("baseline_start", "baseline_start", C_TS, baseline_start_ms),
    CK("baseline_end", "baseline_end", C_TS, baseline_end_ms),
    CK("current_start", "current_start", C_TS, current_start_ms),
    CK("current_end", "current_end", C_TS, current_end_ms),
    CK("baseline_count", "baseline_count", C_INT, baseline_count),
    CK("current_count", "current_count", C_INT, current_count),
    CK("baseline_sampled", "baseline_sampled", C_INT, baseline_sampled),
    CK("current_sampled", "current_sampled", C_INT, current_sampled),
    CK("embedded_now", "embedded_now", C_INT, embedded_now),
    CK("embedder", "embedder", C_STR, embedder),
    CK("model_fingerprint", "model_fingerprint", C_STR, model),
    CK("embedder_precision", "embedder_precision", C_STR, embedder_precision),
    /* semantic drift (schema 2) */
    CK("semantic_test", "semantic_test", C_STR, semantic_test),
    CKG("semantic_effect", "semantic_effect", C_DBL, semantic_effect,
        "driftmon_semantic_effect",
        "Effect of the semantic drift test: the share of current traffic "
        "unlike the baseline (mmd), or the KL effect (kl)."),
    CKG("semantic_p_value", "semantic_p_value", C_DBL, semantic_p_value,
        "driftmon_semantic_p_value",
        "p-value of the semantic drift test (before Holm)."),
    CK("semantic_threshold", "semantic_threshold", C_DBL, semantic_threshold),
    CK("semantic_fired", "semantic_fired", C_BOOL, semantic_fired),
    CKG("mmd", "mmd", C_DBL, mmd, "driftmon_mmd",
        "Unbiased MMD^2 of the embeddings (test mmd)."),
    CK("domain_auc", "domain_auc", C_DBL, domain_auc),
    CK("witness_auc", "witness_auc", C_DBL, witness_auc),
    /* the seed's KL */
    CKG("kl_divergence", "kl_divergence", C_DBL, kl_divergence,
        "driftmon_kl_divergence",
        "Mean per-dimension KL divergence of the embedding histograms."),
    CKG("kl_excess", "kl_excess", C_DBL, kl_excess, "driftmon_kl_excess",
        "KL divergence above the mean of its permutation null."),
    CKG("kl_p_value", "kl_p_value", C_DBL, kl_p_value, "driftmon_kl_p_value",
        "Permutation p-value of the KL divergence."),
    CK("kl_max", "kl_max", C_DBL, kl_max),
    CK("kl_top_dims", "kl_top_dims", C_TOPDIMS, kl_top_dims),
    CK("kl_fired", "kl_fired", C_BOOL, kl_fired),
    /* intent drift */
    CKG("psi", "psi", C_DBL, psi, "driftmon_psi",
        "Population Stability Index of the intent mix."),
    CKG("psi_excess", "psi_excess", C_DBL, psi_excess, "driftmon_psi_excess",
        "PSI above the mean of its permutation null (the decision's figure)."),
    CKG("psi_p_value", "psi_p_value", C_DBL, psi_p_value,
        "driftmon_psi_p_value", "p-value of the PSI."),
    CK("psi_method", "psi_test", C_STR, psi_method),
    CK("psi_fired", "psi_fired", C_BOOL, psi_fired),
    /* quality */
    CK("baseline_accuracy", "baseline_accuracy", C_DBL, baseline_accuracy),
    CK("current_accuracy", "current_accuracy", C_DBL, current_accuracy),
    CKG("accuracy_delta", "accuracy_delta", C_DBL, accuracy_delta,
        "driftmon_accuracy_delta",
        "Baseline minus current accuracy (positive = worse)."),
    CKG("accuracy_p_value", "accuracy_p_value", C_DBL, accuracy_p_value,
        "driftmon_accuracy_p_value",
        "Two-proportion test p-value of the accuracy drop."),
    CK("accuracy_fired", "accuracy_fired", C_BOOL, accuracy_fired),
    CKG("quality_below_floor", "quality_below_floor", C_BOOL,
        quality_below_floor, "driftmon_quality_below_floor",
        "1 when the current accuracy is significantly below accuracy_min (a "
        "quality alert, not drift)."),
    CKG("floor_p_value", "floor_p_value", C_DBL, floor_p_value,
        "driftmon_accuracy_floor_p_value",
        "Binomial test p-value of the current accuracy being below "
        "accuracy_min."),
    /* verdict */
    CKG("combined_score", "combined_score", C_DBL, combined_score,
        "driftmon_combined_score",
        "Mean of the fired signals' scores relative to their thresholds."),
    CK("severity", "severity", C_STR, severity),
    CKG("drift_detected", "drift_detected", C_BOOL, drift_detected,
        "driftmon_drift_detected",
        "1 when any drift signal fired in the newest ok check."),
    /* settings used */
    CK("kl_threshold", "kl_threshold", C_DBL, kl_threshold),
    CK("psi_threshold", "psi_threshold", C_DBL, psi_threshold),
    CK("accuracy_min", "accuracy_min", C_DBL, accuracy_min),
    CK("accuracy_min_drop", "accuracy_min_drop", C_DBL, accuracy_min_drop),
    CK("alpha", "alpha", C_DBL, alpha),
    CK("permutations", "permutations", C_INT, permutations),
    CK("kl_estimator", "kl_estimator", C_STR, kl_estimator),
    /* what followed: the alert and the fine-tuning trigger (schema 4) */
    CK("alert_status", "alert_status", C_STR, alert_status),
    CK("alert_error", "alert_error", C_STR, alert_error),
    CK("trigger_status", "trigger_status", C_STR, trigger_status),
    CK("trigger_job_id", "trigger_job_id", C_STR, trigger_job_id),
    CK("trigger_error", "trigger_error", C_STR, trigger_error),
    CK("trigger_id", "trigger_id", C_REF, trigger_id),
    CK("details", "details", C_JSON,
       details), /* last: lists may leave it out */
};
#define N_CHECK_COLS (sizeof(check_cols) / sizeof(check_cols[0]))

#define TK(name, kind, field)                                                  \
    {                                                                          \
        name, NULL, kind, offsetof(dm_store_trigger_t, field), NULL, NULL      \
    }
static const struct col trigger_cols[] = {
    TK("trigger_timestamp", C_TS, triggered_at_ms),
    TK("job_id", C_STR, job_id),
    TK("status", C_STR, status),
    TK("error", C_STR, error),
    TK("drift_metrics", C_JSON, metrics_json),
    TK("check_id", C_REF, check_id),
    TK("forced", C_BOOL, forced),
};
#define N_TRIGGER_COLS (sizeof(trigger_cols) / sizeof(trigger_cols[0]))

static int index_of(const char *const *list, size_t n, const char *v)
{
    for (size_t i = 0; v && i < n; i++)
        if (strcmp(list[i], v) == 0)
            return (int)i;
    return -1;
}

#define FIELD(base, c, type) ((type *)(void *)((char *)(base) + (c)->off))
#define CFIELD(base, c, type)                                                  \
    ((const type *)(const void *)((const char *)(base) + (c)->off))

/* "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id" */
static int build_insert(dm_buf_t *b, const char *table, const struct col *cols,
                        size_t n)
{
    int rc = dm_buf_printf(b, "INSERT INTO %s (", table);

    for (size_t i = 0; rc == DM_OK && i < n; i++)
        rc = dm_buf_printf(b, "%s%s", i ? ", " : "", cols[i].name);
    if (rc == DM_OK)
        rc = dm_buf_puts(b, ") VALUES (");
    for (size_t i = 0; rc == DM_OK && i < n; i++)
        rc = dm_buf_printf(b, "%s$%zu", i ? ", " : "", i + 1);
    if (rc == DM_OK)
        rc = dm_buf_puts(b, ") RETURNING id");
    return rc;
}

/* "SELECT id, a, b FROM t" with dialect conversions per column. */
static int build_select(dm_store_t *s, dm_buf_t *b, const char *table,
                        const struct col *cols, size_t n)
{
    int rc = dm_buf_puts(b, "SELECT id");

    for (size_t i = 0; rc == DM_OK && i < n; i++) {
        if (s->dialect == DM_DIALECT_PG && cols[i].kind == C_TS)
            rc = dm_buf_printf(b, ", (extract(epoch FROM %s) * 1000)::int8",
                               cols[i].name);
        else if (s->dialect == DM_DIALECT_PG && cols[i].kind == C_JSON)
            rc = dm_buf_printf(b, ", %s::text", cols[i].name);
        else
            rc = dm_buf_printf(b, ", %s", cols[i].name);
    }
    if (rc == DM_OK)
        rc = dm_buf_printf(b, " FROM %s", table);
    return rc;
}

/* Fills p[i] from the struct at base; topdims text goes into tbuf. */
static void bind_struct(const void *base, const struct col *cols, size_t n,
                        dm_sparam_t *p, char *tbuf, size_t tlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct col *c = &cols[i];

        memset(&p[i], 0, sizeof(p[i]));
        switch (c->kind) {
        case C_TS:
            p[i].kind = DM_SP_TS;
            p[i].i = *CFIELD(base, c, int64_t);
            break;
        case C_INT:
            p[i].kind = DM_SP_INT;
            p[i].i = *CFIELD(base, c, int64_t);
            break;
        case C_REF:
            p[i].i = *CFIELD(base, c, int64_t);
            p[i].kind = p[i].i > 0 ? DM_SP_INT : DM_SP_NULL;
            break;
        case C_DBL:
            p[i].kind = DM_SP_DOUBLE;
            p[i].d = *CFIELD(base, c, double);
            break;
        case C_BOOL:
            p[i].kind = DM_SP_BOOL;
            p[i].i = *CFIELD(base, c, bool);
            break;
        case C_STR:
        case C_JSON:
            p[i].s = *CFIELD(base, c, char *const);
            p[i].kind = p[i].s ? DM_SP_TEXT : DM_SP_NULL;
            break;
        case C_TOPDIMS: {
            const dm_store_check_t *ck = base;
            size_t used = 0;
            used += (size_t)snprintf(tbuf, tlen, "[");
            for (size_t k = 0; k < ck->n_top_dims && k < DM_STORE_TOP_DIMS; k++)
                used += (size_t)snprintf(tbuf + used, tlen - used, "%s%d",
                                         k ? "," : "", ck->kl_top_dims[k]);
            snprintf(tbuf + used, tlen - used, "]");
            p[i].kind = DM_SP_TEXT;
            p[i].s = tbuf;
            break;
        }
        }
    }
}

static void parse_topdims(const char *t, dm_store_check_t *ck)
{
    ck->n_top_dims = 0;
    if (!t || *t != '[')
        return;
    t++;
    while (*t && *t != ']' && ck->n_top_dims < DM_STORE_TOP_DIMS) {
        char *end;
        long v = strtol(t, &end, 10);
        if (end == t)
            return;
        ck->kl_top_dims[ck->n_top_dims++] = (int)v;
        t = end;
        while (*t == ',' || *t == ' ')
            t++;
    }
}

/* Reads the current row (column 0 = id) into the struct at base. */
static void read_struct(dm_store_t *s, dm_sres_t *r, void *base, int64_t *id,
                        const struct col *cols, size_t n)
{
    *id = s->ops->col_int(r, 0);
    for (size_t i = 0; i < n; i++) {
        const struct col *c = &cols[i];
        int col = (int)i + 1;

        switch (c->kind) {
        case C_TS:
        case C_INT:
        case C_REF:
            *FIELD(base, c, int64_t) = s->ops->col_int(r, col);
            break;
        case C_DBL:
            *FIELD(base, c, double) = s->ops->col_double(r, col);
            break;
        case C_BOOL:
            *FIELD(base, c, bool) = s->ops->col_bool(r, col);
            break;
        case C_STR:
        case C_JSON: {
            const char *t = s->ops->col_text(r, col);
            *FIELD(base, c, char *) = t ? dm_strdup(t) : NULL;
            break;
        }
        case C_TOPDIMS:
            parse_topdims(s->ops->col_text(r, col), base);
            break;
        }
    }
}

static int insert_struct(dm_store_t *s, const char *table,
                         const struct col *cols, size_t n, const void *base,
                         int64_t *id, char *eb, size_t el)
{
    dm_sparam_t p[64];
    char tbuf[128];
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    int rc;

    dm_buf_init(&sql, SQL_MAX);
    rc = build_insert(&sql, table, cols, n);
    if (rc != DM_OK)
        goto out;
    bind_struct(base, cols, n, p, tbuf, sizeof(tbuf));
    rc = s->ops->query(s, dm_buf_str(&sql), p, n, &r, eb, el);
    if (rc != DM_OK)
        goto out;
    rc = s->ops->next(r, eb, el);
    if (rc == 1) {
        int64_t new_id = s->ops->col_int(r, 0);

        /* Run the statement to its end: SQLite hands out the RETURNING
         * row before it commits, and a commit that fails (a full disk)
         * is only reported by the step that finishes the statement. */
        rc = s->ops->next(r, eb, el);
        if (rc == 1)
            rc = dm_err_set(eb, el, DM_ESTORE, "INSERT returned two ids");
        if (rc == DM_OK && id)
            *id = new_id;
    } else if (rc == 0) {
        rc = dm_err_set(eb, el, DM_ESTORE, "INSERT returned no id");
    }
out:
    if (r)
        s->ops->res_free(r);
    dm_buf_cleanup(&sql);
    return rc;
}

/* ---- drift_metrics ------------------------------------------------------- */

void dm_store_check_init(dm_store_check_t *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < N_CHECK_COLS; i++)
        if (check_cols[i].kind == C_DBL)
            *FIELD(c, &check_cols[i], double) = (double)NAN;
}

void dm_store_check_cleanup(dm_store_check_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_CHECK_COLS; i++)
        if (check_cols[i].kind == C_STR || check_cols[i].kind == C_JSON) {
            free(*FIELD(c, &check_cols[i], char *));
            *FIELD(c, &check_cols[i], char *) = NULL;
        }
}

int dm_store_check_insert(dm_store_t *s, const dm_store_check_t *c, int64_t *id,
                          char *errbuf, size_t errlen)
{
    dm_store_check_t tmp = *c;

    if (dm_check_status_parse(c->status, NULL) != DM_OK)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "bad check status");
    if (dm_severity_parse(c->severity, NULL) != DM_OK)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "bad check severity");
    if (tmp.kind == NULL)
        tmp.kind = (char *)(uintptr_t)dm_check_kind_name(DM_CHECK_LIVE);
    if (dm_check_kind_parse(tmp.kind, NULL) != DM_OK)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "bad check kind (live or adhoc)");
    if (tmp.checked_at_ms == 0)
        tmp.checked_at_ms = dm_time_now_ms();
    return insert_struct(s, "drift_metrics", check_cols, N_CHECK_COLS, &tmp, id,
                         errbuf, errlen);
}

void dm_store_check_list_free(dm_store_check_t *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        dm_store_check_cleanup(&list[i]);
    free(list);
}

int dm_store_check_list(dm_store_t *s, int64_t since_ms, size_t limit,
                        unsigned flags, dm_store_check_t **out, size_t *n,
                        char *errbuf, size_t errlen)
{
    size_t ncols =
        (flags & DM_STORE_CHECK_DETAILS) ? N_CHECK_COLS : N_CHECK_COLS - 1;
    dm_sparam_t p[2] = {
        {.kind = DM_SP_TS, .i = since_ms},
        {.kind = DM_SP_INT, .i = limit ? (int64_t)limit : INT64_MAX}};
    dm_store_check_t *list = NULL;
    size_t cnt = 0, cap = 0;
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    int rc;

    *out = NULL;
    *n = 0;
    dm_buf_init(&sql, SQL_MAX);
    rc = build_select(s, &sql, "drift_metrics", check_cols, ncols);
    if (rc == DM_OK)
        rc = dm_buf_printf(
            &sql,
            " WHERE \"timestamp\" >= $1%s%s ORDER BY "
            "\"timestamp\" DESC, id DESC LIMIT $2",
            (flags & DM_STORE_CHECK_OK_ONLY) ? " AND status = 'ok'" : "",
            (flags & DM_STORE_CHECK_LIVE_ONLY) ? " AND kind = 'live'" : "");
    if (rc == DM_OK)
        rc = s->ops->query(s, dm_buf_str(&sql), p, 2, &r, errbuf, errlen);
    while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
        rc = DM_OK;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            list = dm_reallocarray(list, cap, sizeof(*list));
        }
        dm_store_check_init(&list[cnt]);
        read_struct(s, r, &list[cnt], &list[cnt].id, check_cols, ncols);
        cnt++;
    }
    if (rc == 0)
        rc = DM_OK;
    if (r)
        s->ops->res_free(r);
    dm_buf_cleanup(&sql);
    if (rc != DM_OK) {
        dm_store_check_list_free(list, cnt);
        return rc;
    }
    *out = list;
    *n = cnt;
    return DM_OK;
}

int dm_store_check_get(dm_store_t *s, int64_t id, dm_store_check_t *out,
                       bool *found, char *errbuf, size_t errlen)
{
    dm_sparam_t p = {.kind = DM_SP_INT, .i = id};
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    int rc;

    *found = false;
    dm_store_check_init(out);
    dm_buf_init(&sql, SQL_MAX);
    rc = build_select(s, &sql, "drift_metrics", check_cols, N_CHECK_COLS);
    if (rc == DM_OK)
        rc = dm_buf_puts(&sql, " WHERE id = $1");
    if (rc == DM_OK)
        rc = s->ops->query(s, dm_buf_str(&sql), &p, 1, &r, errbuf, errlen);
    if (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
        read_struct(s, r, out, &out->id, check_cols, N_CHECK_COLS);
        *found = true;
    }
    if (rc == 0 || rc == 1)
        rc = DM_OK;
    if (r)
        s->ops->res_free(r);
    dm_buf_cleanup(&sql);
    return rc;
}

void dm_store_summary_cleanup(dm_store_summary_t *sum)
{
    if (!sum)
        return;
    if (sum->have_latest)
        dm_store_check_cleanup(&sum->latest);
    memset(sum, 0, sizeof(*sum));
}

int dm_store_check_summary(dm_store_t *s, int64_t since_ms,
                           dm_store_summary_t *out, char *errbuf, size_t errlen)
{
    static const char sql[] =
        "SELECT severity, status, count(*), COALESCE(SUM(CASE WHEN "
        "drift_detected THEN 1 ELSE 0 END), 0) FROM drift_metrics WHERE "
        "\"timestamp\" >= $1 GROUP BY severity, status";
    dm_sparam_t p = {.kind = DM_SP_TS, .i = since_ms};
    dm_store_check_t *latest = NULL;
    size_t nl = 0;
    dm_sres_t *r = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    dm_store_check_init(&out->latest);
    rc = s->ops->query(s, sql, &p, 1, &r, errbuf, errlen);
    while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
        dm_severity_t sev;
        dm_check_status_t st;
        bool have_sev =
            dm_severity_parse(s->ops->col_text(r, 0), &sev) == DM_OK;
        bool have_st =
            dm_check_status_parse(s->ops->col_text(r, 1), &st) == DM_OK;
        uint64_t cnt = (uint64_t)s->ops->col_int(r, 2);

        rc = DM_OK;
        out->total += cnt;
        if (have_sev)
            out->by_severity[sev] += cnt;
        if (have_st)
            out->by_status[st] += cnt;
        out->detected += (uint64_t)s->ops->col_int(r, 3);
    }
    if (rc == 0)
        rc = DM_OK;
    if (r)
        s->ops->res_free(r);
    if (rc == DM_OK)
        rc = dm_store_check_list(s, since_ms, 1, 0, &latest, &nl, errbuf,
                                 errlen);
    if (rc == DM_OK && nl == 1) {
        out->latest = latest[0];
        out->have_latest = true;
        free(latest);
    }
    out->detection_rate = (double)NAN;
    if (out->by_status[0])
        out->detection_rate = (double)out->detected / (double)out->by_status[0];
    if (rc != DM_OK)
        dm_store_summary_cleanup(out);
    return rc;
}

int dm_store_check_set_alert(dm_store_t *s, int64_t id, const char *status,
                             const char *error, char *errbuf, size_t errlen)
{
    dm_sparam_t p[3] = {{.kind = status ? DM_SP_TEXT : DM_SP_NULL, .s = status},
                        {.kind = error ? DM_SP_TEXT : DM_SP_NULL, .s = error},
                        {.kind = DM_SP_INT, .i = id}};
    int64_t changes = 0;
    int rc;

    rc = s->ops->exec(s,
                      "UPDATE drift_metrics SET alert_status = $1, "
                      "alert_error = $2 WHERE id = $3",
                      p, 3, &changes, errbuf, errlen);
    if (rc == DM_OK && changes == 0)
        rc = dm_err_set(errbuf, errlen, DM_ENOTFOUND,
                        "no drift check with id %" PRId64, id);
    return rc;
}

int dm_store_check_set_trigger(dm_store_t *s, int64_t id, const char *status,
                               const char *job_id, const char *error,
                               int64_t trigger_id, char *errbuf, size_t errlen)
{
    dm_sparam_t p[5] = {
        {.kind = status ? DM_SP_TEXT : DM_SP_NULL, .s = status},
        {.kind = job_id ? DM_SP_TEXT : DM_SP_NULL, .s = job_id},
        {.kind = error ? DM_SP_TEXT : DM_SP_NULL, .s = error},
        {.kind = trigger_id > 0 ? DM_SP_INT : DM_SP_NULL, .i = trigger_id},
        {.kind = DM_SP_INT, .i = id}};
    int64_t changes = 0;
    int rc;

    rc = s->ops->exec(s,
                      "UPDATE drift_metrics SET trigger_status = $1, "
                      "trigger_job_id = $2, trigger_error = $3, "
                      "trigger_id = $4 WHERE id = $5",
                      p, 5, &changes, errbuf, errlen);
    if (rc == DM_OK && changes == 0)
        rc = dm_err_set(errbuf, errlen, DM_ENOTFOUND,
                        "no drift check with id %" PRId64, id);
    return rc;
}

static json_t *ts_json(int64_t ms)
{
    char b[DM_TIME_STRLEN];

    return ms ? json_string(dm_time_format_s(ms, b, sizeof(b))) : json_null();
}

static json_t *col_json(const dm_store_check_t *ck, const struct col *c)
{
    switch (c->kind) {
    case C_TS:
        return ts_json(*CFIELD(ck, c, int64_t));
    case C_INT:
        return json_integer((json_int_t)*CFIELD(ck, c, int64_t));
    case C_REF: {
        int64_t v = *CFIELD(ck, c, int64_t);
        return v > 0 ? json_integer((json_int_t)v) : json_null();
    }
    case C_DBL:
        return dm_json_real(*CFIELD(ck, c, double));
    case C_BOOL:
        return json_boolean(*CFIELD(ck, c, bool));
    case C_STR: {
        const char *v = *CFIELD(ck, c, char *const);
        return v ? json_string(v) : json_null();
    }
    case C_JSON: {
        const char *v = *CFIELD(ck, c, char *const);
        json_t *o = v ? json_loads(v, 0, NULL) : NULL;
        return o ? o : json_null();
    }
    case C_TOPDIMS: {
        json_t *a = json_array();
        for (size_t k = 0; a && k < ck->n_top_dims; k++)
            json_array_append_new(a, json_integer(ck->kl_top_dims[k]));
        return a;
    }
    }
    return json_null();
}

void dm_store_check_gauges(const dm_store_check_t *c, dm_store_gauge_fn fn,
                           void *arg)
{
    for (size_t i = 0; i < N_CHECK_COLS; i++) {
        const struct col *k = &check_cols[i];
        double v;

        if (k->gauge == NULL)
            continue;
        switch (k->kind) {
        case C_TS:
            v = (double)*CFIELD(c, k, int64_t) / 1000.0;
            break;
        case C_INT:
        case C_REF:
            v = (double)*CFIELD(c, k, int64_t);
            break;
        case C_BOOL:
            v = *CFIELD(c, k, bool) ? 1 : 0;
            break;
        case C_DBL:
            v = *CFIELD(c, k, double);
            break;
        default:
            continue;
        }
        fn(k->gauge, k->help, v, arg);
    }
}

json_t *dm_store_check_to_json(const dm_store_check_t *c, bool details)
{
    json_t *o = json_object();
    int rc;

    if (o == NULL)
        return NULL;
    rc = json_object_set_new(o, "id",
                             c->id > 0 ? json_integer(c->id) : json_null());
    for (size_t i = 0; rc == 0 && i < N_CHECK_COLS; i++) {
        json_t *v;

        if (check_cols[i].kind == C_JSON && !details)
            continue;
        v = col_json(c, &check_cols[i]);
        rc = v ? json_object_set_new(o, check_cols[i].key, v) : -1;
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- finetuning_triggers ------------------------------------------------- */

void dm_store_trigger_cleanup(dm_store_trigger_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < N_TRIGGER_COLS; i++)
        if (trigger_cols[i].kind == C_STR || trigger_cols[i].kind == C_JSON) {
            free(*FIELD(t, &trigger_cols[i], char *));
            *FIELD(t, &trigger_cols[i], char *) = NULL;
        }
}

int dm_store_trigger_insert(dm_store_t *s, const dm_store_trigger_t *t,
                            int64_t *id, char *errbuf, size_t errlen)
{
    static const char *const st[] = {"success", "failed"};
    dm_store_trigger_t tmp = *t;

    if (index_of(st, 2, t->status) < 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "bad trigger status (success or failed)");
    if (tmp.triggered_at_ms == 0)
        tmp.triggered_at_ms = dm_time_now_ms();
    return insert_struct(s, "finetuning_triggers", trigger_cols, N_TRIGGER_COLS,
                         &tmp, id, errbuf, errlen);
}

int dm_store_trigger_last_success(dm_store_t *s, int64_t *ms, bool *found,
                                  char *errbuf, size_t errlen)
{
    const char *sql =
        s->dialect == DM_DIALECT_PG
            ? "SELECT (extract(epoch FROM max(trigger_timestamp)) * "
              "1000)::int8 FROM finetuning_triggers WHERE status = "
              "'success'"
            : "SELECT max(trigger_timestamp) FROM finetuning_triggers "
              "WHERE status = 'success'";
    dm_sres_t *r = NULL;
    int rc;

    *found = false;
    rc = s->ops->query(s, sql, NULL, 0, &r, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    rc = s->ops->next(r, errbuf, errlen);
    if (rc == 1) {
        rc = DM_OK;
        if (!s->ops->col_null(r, 0)) {
            *ms = s->ops->col_int(r, 0);
            *found = true;
        }
    } else if (rc == 0) {
        rc = DM_OK;
    }
    s->ops->res_free(r);
    return rc;
}

int dm_store_trigger_count(dm_store_t *s, bool only_success, uint64_t *count,
                           char *errbuf, size_t errlen)
{
    dm_sres_t *r = NULL;
    int rc;

    rc = s->ops->query(s,
                       only_success ? "SELECT count(*) FROM "
                                      "finetuning_triggers WHERE status = "
                                      "'success'"
                                    : "SELECT count(*) FROM "
                                      "finetuning_triggers",
                       NULL, 0, &r, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    rc = s->ops->next(r, errbuf, errlen);
    if (rc == 1) {
        *count = (uint64_t)s->ops->col_int(r, 0);
        rc = DM_OK;
    } else if (rc == 0) {
        rc = dm_err_set(errbuf, errlen, DM_ESTORE, "count returned no row");
    }
    s->ops->res_free(r);
    return rc;
}

void dm_store_trigger_list_free(dm_store_trigger_t *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        dm_store_trigger_cleanup(&list[i]);
    free(list);
}

int dm_store_trigger_list(dm_store_t *s, size_t limit, dm_store_trigger_t **out,
                          size_t *n, char *errbuf, size_t errlen)
{
    dm_sparam_t p = {.kind = DM_SP_INT,
                     .i = limit ? (int64_t)limit : INT64_MAX};
    dm_store_trigger_t *list = NULL;
    size_t cnt = 0, cap = 0;
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    int rc;

    *out = NULL;
    *n = 0;
    dm_buf_init(&sql, SQL_MAX);
    rc = build_select(s, &sql, "finetuning_triggers", trigger_cols,
                      N_TRIGGER_COLS);
    if (rc == DM_OK)
        rc = dm_buf_puts(&sql, " ORDER BY trigger_timestamp DESC, id DESC "
                               "LIMIT $1");
    if (rc == DM_OK)
        rc = s->ops->query(s, dm_buf_str(&sql), &p, 1, &r, errbuf, errlen);
    while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
        rc = DM_OK;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            list = dm_reallocarray(list, cap, sizeof(*list));
        }
        memset(&list[cnt], 0, sizeof(list[cnt]));
        read_struct(s, r, &list[cnt], &list[cnt].id, trigger_cols,
                    N_TRIGGER_COLS);
        cnt++;
    }
    if (rc == 0)
        rc = DM_OK;
    if (r)
        s->ops->res_free(r);
    dm_buf_cleanup(&sql);
    if (rc != DM_OK) {
        dm_store_trigger_list_free(list, cnt);
        return rc;
    }
    *out = list;
    *n = cnt;
    return DM_OK;
}
