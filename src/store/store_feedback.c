/*
 * store_feedback.c - the configured feedback table: inserting rows (with
 * generated ids), counting them, and the aggregate of one time window
 * (rows, positives, unreadable ratings, counts per intent) that a check
 * compares with its baseline.
 *
 * The table's name and columns are the quoted identifiers of s->fb,
 * built once by dm_store_open (store.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "store/store_int.h"

#define SQL_MAX (64 * 1024)

/* A new unique row id: 128 random bits as 32 hex digits. */
static int gen_id(char out[33])
{
    unsigned char raw[16];
    static const char hex[] = "0123456789abcdef";
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t k = getrandom(raw + got, sizeof(raw) - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return DM_EIO;
        }
        got += (size_t)k;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return DM_OK;
}

int dm_store_feedback_insert(dm_store_t *s, const dm_feedback_row_t *rows,
                             size_t n, size_t *inserted, char *errbuf,
                             size_t errlen)
{
    dm_buf_t head, tail;
    dm_sparam_t *p = NULL;
    char(*ids)[33] = NULL;
    bool owned = false;
    int64_t total = 0;
    int rc;

    dm_buf_init(&head, SQL_MAX);
    dm_buf_init(&tail, SQL_MAX);
    if (inserted)
        *inserted = 0;
    for (size_t i = 0; i < n; i++)
        if (!rows[i].query || !rows[i].response)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "feedback row %zu: query and response are "
                              "required",
                              i);
    rc = dm_buf_printf(&head, "INSERT INTO %s (%s, %s, %s, %s, %s, %s)",
                       s->fb.table, s->fb.id, s->fb.query, s->fb.response,
                       s->fb.intent, s->fb.positive, s->fb.ts);
    if (rc == DM_OK)
        rc = dm_buf_printf(&tail, "ON CONFLICT (%s) DO NOTHING", s->fb.id);
    if (rc != DM_OK)
        goto out;
    p = dm_mallocarray(DM_STORE_INSERT_BATCH * 6, sizeof(*p));
    ids = dm_mallocarray(DM_STORE_INSERT_BATCH, sizeof(*ids));
    rc = dm_store_tx_auto_begin(s, &owned, errbuf, errlen);
    for (size_t done = 0; rc == DM_OK && done < n;) {
        size_t k =
            n - done < DM_STORE_INSERT_BATCH ? n - done : DM_STORE_INSERT_BATCH;
        int64_t changes = 0;

        memset(p, 0, k * 6 * sizeof(*p));
        for (size_t j = 0; j < k && rc == DM_OK; j++) {
            const dm_feedback_row_t *row = &rows[done + j];
            dm_sparam_t *q = &p[j * 6];

            if (row->id) {
                q[0].kind = DM_SP_TEXT;
                q[0].s = row->id;
            } else {
                rc = gen_id(ids[j]);
                if (rc != DM_OK) {
                    dm_err_set(errbuf, errlen, rc, "getrandom failed");
                    break;
                }
                q[0].kind = DM_SP_TEXT;
                q[0].s = ids[j];
            }
            q[1].kind = DM_SP_TEXT;
            q[1].s = row->query;
            q[2].kind = DM_SP_TEXT;
            q[2].s = row->response;
            q[3].kind = row->intent ? DM_SP_TEXT : DM_SP_NULL;
            q[3].s = row->intent;
            q[4].kind = DM_SP_BOOL;
            q[4].i = row->positive;
            q[5].kind = DM_SP_TS;
            q[5].i = row->created_at_ms;
        }
        if (rc == DM_OK)
            rc = s->ops->insert_rows(s, dm_buf_str(&head), dm_buf_str(&tail), 6,
                                     p, k, &changes, errbuf, errlen);
        total += changes;
        done += k;
    }
    rc = dm_store_tx_auto_end(s, owned, rc, errbuf, errlen);
    if (rc == DM_OK && inserted)
        *inserted = (size_t)total;
out:
    free(p);
    free(ids);
    dm_buf_cleanup(&head);
    dm_buf_cleanup(&tail);
    return rc;
}

int dm_store_feedback_count(dm_store_t *s, uint64_t *count, char *errbuf,
                            size_t errlen)
{
    dm_buf_t sql;
    int64_t v = 0;
    int rc;

    dm_buf_init(&sql, SQL_MAX);
    rc = dm_buf_printf(&sql, "SELECT count(*) FROM %s", s->fb.table);
    if (rc == DM_OK)
        rc = dm_store_query_int(s, dm_buf_str(&sql), NULL, 0, &v, errbuf,
                                errlen);
    if (rc == DM_OK)
        *count = (uint64_t)v;
    dm_buf_cleanup(&sql);
    return rc;
}

/* ---- window aggregates ----------------------------------------------------
 */

void dm_store_window_cleanup(dm_store_window_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_intents; i++)
        free(w->intents[i].intent);
    free(w->intents);
    memset(w, 0, sizeof(*w));
}

static int cmp_intent(const void *a, const void *b)
{
    const dm_store_intent_count_t *x = a, *y = b;

    if (!x->intent || !y->intent)
        return (x->intent == NULL) - (y->intent == NULL);
    return strcmp(x->intent, y->intent);
}

int dm_store_window_aggregate(dm_store_t *s, int64_t start_ms, int64_t end_ms,
                              dm_store_window_t *out, char *errbuf,
                              size_t errlen)
{
    dm_sparam_t p[2] = {{.kind = DM_SP_TS, .i = start_ms},
                        {.kind = DM_SP_TS, .i = end_ms}};
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    size_t cap = 0;
    uint64_t bad = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (end_ms < start_ms)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "window end before its start");
    dm_buf_init(&sql, SQL_MAX);
    /* The range predicate on the bare column keeps the timestamp index
     * usable (covering on both dialects for our own table). */
    rc = dm_buf_printf(&sql,
                       "SELECT %s, count(*), COALESCE(SUM(%s), 0), "
                       "COALESCE(SUM(%s), 0) FROM %s WHERE %s >= $1 AND "
                       "%s < $2 GROUP BY %s",
                       s->fb.intent, s->fb.pos_expr, s->fb.bad_expr,
                       s->fb.table, s->fb.ts, s->fb.ts, s->fb.intent);
    if (rc != DM_OK)
        goto out;
    rc = s->ops->query(s, dm_buf_str(&sql), p, 2, &r, errbuf, errlen);
    if (rc != DM_OK) {
        /* PostgreSQL refuses a cast the mapping needs: say which key */
        if (strstr(errbuf, "invalid input syntax") ||
            strstr(errbuf, "cannot cast") ||
            strstr(errbuf, "operator does not exist"))
            dm_err_prefix(errbuf, errlen, rc,
                          "database.feedback.positive_column '%s': its type "
                          "does not fit the configured mapping (boolean; "
                          "positive_threshold for numeric ratings; "
                          "positive_values for text labels): ",
                          s->fb.positive_col);
        goto out;
    }
    while ((rc = s->ops->next(r, errbuf, errlen)) == 1) {
        dm_store_intent_count_t *ic;
        const char *label = s->ops->col_text(r, 0);

        if (out->n_intents == cap) {
            cap = cap ? 2 * cap : 8;
            out->intents =
                dm_reallocarray(out->intents, cap, sizeof(*out->intents));
        }
        ic = &out->intents[out->n_intents++];
        ic->intent = label ? dm_strdup(label) : NULL;
        ic->count = (uint64_t)s->ops->col_int(r, 1);
        ic->positives = (uint64_t)s->ops->col_int(r, 2);
        bad += (uint64_t)s->ops->col_int(r, 3);
        out->total += ic->count;
        out->positives += ic->positives;
    }
    if (rc == 0 && bad > 0) {
        rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                        "database.feedback.positive_column '%s': %" PRIu64
                        " rows of the window hold values that are not %s; "
                        "set database.feedback.%s",
                        s->fb.positive_col, bad,
                        s->fb.pos_numeric ? "numbers"
                                          : "booleans (true/false, "
                                            "1/0, yes/no)",
                        s->fb.pos_numeric
                            ? "positive_values for text labels instead of "
                              "positive_threshold"
                            : "positive_threshold for numeric ratings (e.g. "
                              "4 for 1-5) or positive_values for text labels");
        goto out;
    }
    if (rc == 0) {
        rc = DM_OK;
        if (out->n_intents > 1)
            qsort(out->intents, out->n_intents, sizeof(*out->intents),
                  cmp_intent);
    }
out:
    if (r)
        s->ops->res_free(r);
    dm_buf_cleanup(&sql);
    if (rc != DM_OK)
        dm_store_window_cleanup(out);
    return rc;
}
