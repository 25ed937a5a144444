/*
 * ingest_run.c - dm_ingest_run(), the one ingest policy (see ingest.h),
 * and the three sources it reads: a JSONL/CSV reader (`driftmon
 * ingest`), the elements of a JSON array (POST /feedback) and rows
 * already in memory (the synthetic demo traffic).
 *
 * A run fills a batch of validated rows and hands it to
 * dm_store_feedback_insert() whole; the rows' strings live until the
 * batch is written, then the batch is cleared and refilled, so memory is
 * bounded by the batch size whatever the input's size.  Under
 * DM_INGEST_REPORT a bad row turns writing off but reading goes on, so
 * every bad row of a file is reported in one pass.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "ingest/ingest.h"

/* ---- sources -------------------------------------------------------- */

static int reader_next(dm_ingest_source_t *src, dm_ingest_row_t *out, char *eb,
                       size_t el)
{
    size_t line = 0; /* the reader's messages name it already */

    return dm_ingest_reader_next(src->ctx, out, &line, eb, el);
}

void dm_ingest_source_init_reader(dm_ingest_source_t *src,
                                  dm_ingest_reader_t *r)
{
    memset(src, 0, sizeof(*src));
    src->next = reader_next;
    src->ctx = r;
}

static int json_next(dm_ingest_source_t *src, dm_ingest_row_t *out, char *eb,
                     size_t el)
{
    const json_t *obj;
    size_t i = src->pos;
    int rc;

    memset(out, 0, sizeof(*out));
    if (i >= src->n)
        return 0;
    src->pos++;
    obj = json_array_get(src->items, i);
    if (!json_is_object(obj))
        return dm_err_set(eb, el, DM_EPARSE, "row %zu: must be a JSON object",
                          i);
    rc = dm_ingest_row_from_json(obj, out, eb, el);
    if (rc != DM_OK)
        return dm_err_prefix(eb, el, rc, "row %zu: ", i);
    return 1;
}

void dm_ingest_source_init_json(dm_ingest_source_t *src, const json_t *array)
{
    memset(src, 0, sizeof(*src));
    src->next = json_next;
    src->items = array;
    src->n = json_array_size(array);
}

static int rows_next(dm_ingest_source_t *src, dm_ingest_row_t *out, char *eb,
                     size_t el)
{
    const dm_feedback_row_t *rows = src->items;
    size_t i = src->pos;

    memset(out, 0, sizeof(*out));
    if (i >= src->n)
        return 0;
    src->pos++;
    if (rows[i].query == NULL || rows[i].response == NULL)
        return dm_err_set(eb, el, DM_EINVAL,
                          "row %zu: query and response are required", i);
    out->row = rows[i]; /* borrowed: the row's own strings stay NULL */
    return 1;
}

void dm_ingest_source_init_rows(dm_ingest_source_t *src,
                                const dm_feedback_row_t *rows, size_t n)
{
    memset(src, 0, sizeof(*src));
    src->next = rows_next;
    src->items = rows;
    src->n = n;
}

/* ---- the run -------------------------------------------------------- */

struct run {
    dm_store_t *st; /* NULL: validate only */
    const dm_ingest_policy_t *policy;
    dm_ingest_stats_t *stats;
    dm_ingest_row_t *rows;
    dm_feedback_row_t *frows;
    size_t n, cap;
    bool writing;  /* off once a bad row means nothing more is written */
    int first_bad; /* the code of the first bad row, DM_OK while none */
};

static void batch_clear(struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        dm_ingest_row_cleanup(&r->rows[i]);
    r->n = 0;
}

static int batch_flush(struct run *r, char *eb, size_t el)
{
    size_t k = 0;
    int rc = DM_OK;

    if (r->st && r->writing && r->n > 0) {
        for (size_t i = 0; i < r->n; i++)
            r->frows[i] = r->rows[i].row;
        rc = dm_store_feedback_insert(r->st, r->frows, r->n, &k, eb, el);
        r->stats->inserted += k;
        if (rc == DM_OK)
            r->stats->duplicates += r->n - k;
    }
    batch_clear(r);
    return rc;
}

/* Counts and reports a bad row; true when reading stops here. */
static bool take_bad(struct run *r, int got, const char *msg, char *eb,
                     size_t el)
{
    const dm_ingest_policy_t *p = r->policy;

    r->stats->rejected++;
    if (p->bad_cb)
        p->bad_cb(r->stats, got, msg, p->arg);
    if (r->first_bad == DM_OK) {
        r->first_bad = got;
        if (p->on_bad != DM_INGEST_SKIP) /* it will be the run's answer */
            dm_err_set(eb, el, got, "%s", msg);
    }
    if (got == DM_EIO) {
        r->stats->stopped = true; /* the rest cannot be read */
        return true;
    }
    r->writing = p->on_bad == DM_INGEST_SKIP;
    return p->on_bad == DM_INGEST_STOP;
}

/* Reads src to its end (or a stop), writing each batch as it fills. */
static int read_all(struct run *r, dm_ingest_source_t *src, char *eb, size_t el)
{
    char msg[DM_ERRBUF_SIZE] = "";
    int rc;

    for (;;) {
        int got = src->next(src, &r->rows[r->n], msg, sizeof(msg));

        if (got <= 0) {
            dm_ingest_row_cleanup(&r->rows[r->n]);
            if (got == 0 || take_bad(r, got, msg, eb, el))
                return DM_OK;
            continue;
        }
        r->stats->read++;
        if (++r->n < r->cap)
            continue;
        rc = batch_flush(r, eb, el);
        if (rc != DM_OK)
            return rc;
        if (r->policy->progress_cb)
            r->policy->progress_cb(r->stats, r->policy->arg);
    }
}

int dm_ingest_run(dm_store_t *st, dm_ingest_source_t *src,
                  const dm_ingest_policy_t *policy, dm_ingest_stats_t *stats,
                  char *errbuf, size_t errlen)
{
    dm_ingest_stats_t local;
    struct run r = {.st = st, .policy = policy, .writing = true};
    int rc = DM_OK;
    bool in_tx = false;

    r.stats = stats ? stats : &local;
    memset(r.stats, 0, sizeof(*r.stats));
    r.cap = policy->batch > 0 ? policy->batch : DM_INGEST_BATCH;
    r.rows = dm_calloc(r.cap, sizeof(*r.rows));
    r.frows = dm_calloc(r.cap, sizeof(*r.frows));
    if (st && policy->atomic) {
        rc = dm_store_tx_begin(st, errbuf, errlen);
        in_tx = rc == DM_OK;
    }
    if (rc == DM_OK)
        rc = read_all(&r, src, errbuf, errlen);
    if (rc == DM_OK && r.first_bad != DM_OK && policy->on_bad != DM_INGEST_SKIP)
        rc = r.first_bad; /* its message is in errbuf */
    if (rc == DM_OK)
        rc = batch_flush(&r, errbuf, errlen);
    if (rc == DM_OK && in_tx) {
        rc = dm_store_tx_commit(st, errbuf, errlen);
        in_tx = rc != DM_OK;
    }
    if (in_tx) {
        dm_store_tx_rollback(st);
        r.stats->inserted = 0;
        r.stats->duplicates = 0;
    }
    batch_clear(&r);
    free(r.rows);
    free(r.frows);
    return rc;
}
