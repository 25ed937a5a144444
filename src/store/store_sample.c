/*
 * store_sample.c - the deterministic sample of a time window: the
 * max_rows feedback rows with the smallest hash of their id, kept in a
 * bounded max-heap while the window's ids stream by, then filled with
 * their query and response text in batches.
 *
 * DESIGN: ids are hashed in C (dm_hash_bytes with SAMPLE_SEED), never in
 * SQL, so both backends pick the same rows, and a row stays in or out of
 * the sample whatever else is in the window.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rng.h"
#include "store/store_int.h"

#define D(s, lite, pg) ((s)->dialect == DM_DIALECT_PG ? (pg) : (lite))
#define SQL_MAX        (64 * 1024)
#define SAMPLE_SEED    UINT64_C(0x6472696674736d70) /* "driftsmp" */

uint64_t dm_store_sample_hash(const char *id)
{
    return dm_hash_bytes(id, strlen(id), SAMPLE_SEED);
}

void dm_store_sample_cleanup(dm_store_sample_t *smp)
{
    if (!smp)
        return;
    for (size_t i = 0; i < smp->n; i++) {
        free(smp->rows[i].id);
        free(smp->rows[i].query);
        free(smp->rows[i].response);
    }
    free(smp->rows);
    memset(smp, 0, sizeof(*smp));
}

/* Order of the sample: hash, then id. */
static int row_less(const dm_store_sample_row_t *a,
                    const dm_store_sample_row_t *b)
{
    if (a->hash != b->hash)
        return a->hash < b->hash;
    return strcmp(a->id, b->id) < 0;
}

static int cmp_rows(const void *a, const void *b)
{
    const dm_store_sample_row_t *x = a, *y = b;

    return row_less(x, y) ? -1 : row_less(y, x) ? 1 : 0;
}

static int cmp_rows_by_id(const void *a, const void *b)
{
    const dm_store_sample_row_t *x = a, *y = b;

    return strcmp(x->id, y->id);
}

/* Max-heap on (hash, id) of the max_rows smallest rows seen so far. */
static void heap_sift_down(dm_store_sample_row_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && row_less(&h[m], &h[l]))
            m = l;
        if (r < n && row_less(&h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        dm_store_sample_row_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_sift_up(dm_store_sample_row_t *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!row_less(&h[parent], &h[i]))
            return;
        dm_store_sample_row_t t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* Fetches query/response of the chosen rows (sorted by id) in chunks. */
static int sample_fill(dm_store_t *s, dm_store_sample_t *smp, char *errbuf,
                       size_t errlen)
{
    dm_buf_t sql;
    int rc;

    dm_buf_init(&sql, SQL_MAX);
    rc = dm_buf_printf(&sql,
                       D(s,
                         "SELECT CAST(%s AS TEXT), %s, %s, CASE WHEN %s THEN "
                         "1 ELSE 0 END FROM %s WHERE %s IN "
                         "(SELECT value FROM json_each($1))",
                         "SELECT %s::text, %s, %s, COALESCE(%s::int, 0) FROM "
                         "%s WHERE %s::text IN "
                         "(SELECT jsonb_array_elements_text($1::jsonb))"),
                       s->fb.id, s->fb.query, s->fb.response, s->fb.positive,
                       s->fb.table, s->fb.id);
    for (size_t done = 0; rc == DM_OK && done < smp->n;) {
        size_t k = smp->n - done < DM_STORE_LOOKUP_BATCH
                       ? smp->n - done
                       : DM_STORE_LOOKUP_BATCH;
        json_t *arr = json_array();
        char *js = NULL;
        dm_sres_t *r = NULL;

        for (size_t j = 0; j < k; j++)
            json_array_append_new(arr, json_string(smp->rows[done + j].id));
        js = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!js) {
            rc = dm_err_set(errbuf, errlen, DM_ENOMEM, "out of memory");
            break;
        }
        dm_sparam_t p = {.kind = DM_SP_TEXT, .s = js};
        rc = s->ops->query(s, dm_buf_str(&sql), &p, 1, &r, errbuf, errlen);
        while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
            dm_store_sample_row_t key = {
                .id = (char *)(uintptr_t)s->ops->col_text(r, 0)};
            dm_store_sample_row_t *hit;

            rc = DM_OK;
            if (!key.id)
                continue;
            hit =
                bsearch(&key, smp->rows + done, k, sizeof(key), cmp_rows_by_id);
            if (hit && !hit->query) {
                const char *q = s->ops->col_text(r, 1);
                const char *a = s->ops->col_text(r, 2);
                hit->query = dm_strdup(q ? q : "");
                hit->response = dm_strdup(a ? a : "");
                hit->positive = s->ops->col_int(r, 3) != 0;
            }
        }
        if (rc == 0)
            rc = DM_OK;
        if (r)
            s->ops->res_free(r);
        free(js);
        done += k;
    }
    dm_buf_cleanup(&sql);
    return rc;
}

int dm_store_window_sample(dm_store_t *s, int64_t start_ms, int64_t end_ms,
                           size_t max_rows, dm_store_sample_t *out,
                           char *errbuf, size_t errlen)
{
    dm_sparam_t p[2] = {{.kind = DM_SP_TS, .i = start_ms},
                        {.kind = DM_SP_TS, .i = end_ms}};
    dm_store_sample_row_t *h = NULL;
    size_t n = 0, cap = 0;
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    int rc;

    memset(out, 0, sizeof(*out));
    if (end_ms < start_ms)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "window end before its start");
    dm_buf_init(&sql, SQL_MAX);
    rc = dm_buf_printf(&sql,
                       D(s,
                         "SELECT CAST(%s AS TEXT) FROM %s WHERE %s >= $1 "
                         "AND %s < $2",
                         "SELECT %s::text FROM %s WHERE %s >= $1 AND %s < "
                         "$2"),
                       s->fb.id, s->fb.table, s->fb.ts, s->fb.ts);
    if (rc == DM_OK)
        rc = s->ops->query(s, dm_buf_str(&sql), p, 2, &r, errbuf, errlen);
    while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
        const char *id = s->ops->col_text(r, 0);
        dm_store_sample_row_t cand;

        rc = DM_OK;
        if (!id)
            continue;
        cand.hash = dm_store_sample_hash(id);
        cand.id = (char *)(uintptr_t)id; /* borrowed until kept */
        cand.query = cand.response = NULL;
        cand.positive = false;
        if (max_rows == 0 || n < max_rows) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                h = dm_reallocarray(h, cap, sizeof(*h));
            }
            cand.id = dm_strdup(id);
            h[n] = cand;
            heap_sift_up(h, n);
            n++;
        } else if (row_less(&cand, &h[0])) {
            free(h[0].id);
            cand.id = dm_strdup(id);
            h[0] = cand;
            heap_sift_down(h, n, 0);
        }
    }
    if (rc == 0)
        rc = DM_OK;
    if (r) {
        s->ops->res_free(r);
        r = NULL;
    }
    out->rows = h;
    out->n = n;
    h = NULL;
    if (rc != DM_OK)
        goto out;
    qsort(out->rows, out->n, sizeof(*out->rows), cmp_rows_by_id);
    rc = sample_fill(s, out, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    /* A row deleted between the two queries is dropped from the sample. */
    {
        size_t k = 0;
        for (size_t i = 0; i < out->n; i++) {
            if (out->rows[i].query)
                out->rows[k++] = out->rows[i];
            else
                free(out->rows[i].id);
        }
        out->n = k;
    }
    qsort(out->rows, out->n, sizeof(*out->rows), cmp_rows);
out:
    dm_buf_cleanup(&sql);
    if (rc != DM_OK)
        dm_store_sample_cleanup(out);
    return rc;
}
