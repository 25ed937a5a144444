/*
 * store_cache.c - the embedding cache: vectors keyed by (model, row id),
 * fetched for many ids at once and written in batches, and the codec
 * that stores a vector as little-endian IEEE 754 float32 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/alloc.h"
#include "store/store_int.h"

#define D(s, lite, pg) ((s)->dialect == DM_DIALECT_PG ? (pg) : (lite))

/* ids sorted with their positions, to map result rows back. */
struct id_pos {
    const char *id;
    size_t pos;
};

static int cmp_id_pos(const void *a, const void *b)
{
    const struct id_pos *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* First entry of ix (n, sorted) whose id equals id, or n. */
static size_t id_lower_bound(const struct id_pos *ix, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void vec_decode(const unsigned char *b, size_t dim, float *out)
{
    for (size_t j = 0; j < dim; j++) {
        uint32_t u = (uint32_t)b[4 * j] | (uint32_t)b[4 * j + 1] << 8 |
                     (uint32_t)b[4 * j + 2] << 16 |
                     (uint32_t)b[4 * j + 3] << 24;
        memcpy(&out[j], &u, sizeof(u));
    }
}

static void vec_encode(const float *v, size_t dim, unsigned char *b)
{
    for (size_t j = 0; j < dim; j++) {
        uint32_t u;
        memcpy(&u, &v[j], sizeof(u));
        b[4 * j] = (unsigned char)u;
        b[4 * j + 1] = (unsigned char)(u >> 8);
        b[4 * j + 2] = (unsigned char)(u >> 16);
        b[4 * j + 3] = (unsigned char)(u >> 24);
    }
}

int dm_store_embed_get(dm_store_t *s, const char *model, const char *const *ids,
                       const uint64_t *text_hashes, size_t n, size_t dim,
                       float *vecs, bool *found, size_t *n_found, char *errbuf,
                       size_t errlen)
{
    struct id_pos *ix = NULL;
    const char *sql =
        D(s,
          "SELECT row_id, dim, vector, text_hash FROM embedding_cache WHERE "
          "model = $1 AND row_id IN (SELECT value FROM json_each($2))",
          "SELECT row_id, dim, vector, text_hash FROM embedding_cache WHERE "
          "model = $1 AND row_id IN (SELECT "
          "jsonb_array_elements_text($2::jsonb))");
    size_t nf = 0;
    int rc = DM_OK;

    for (size_t i = 0; i < n; i++)
        found[i] = false;
    if (n == 0)
        goto out;
    ix = dm_mallocarray(n, sizeof(*ix));
    for (size_t i = 0; i < n; i++) {
        ix[i].id = ids[i];
        ix[i].pos = i;
    }
    qsort(ix, n, sizeof(*ix), cmp_id_pos);
    for (size_t done = 0; rc == DM_OK && done < n;) {
        size_t k =
            n - done < DM_STORE_LOOKUP_BATCH ? n - done : DM_STORE_LOOKUP_BATCH;
        json_t *arr = json_array();
        dm_sres_t *r = NULL;
        char *js;

        for (size_t j = 0; j < k; j++)
            json_array_append_new(arr, json_string(ids[done + j]));
        js = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!js) {
            rc = dm_err_set(errbuf, errlen, DM_ENOMEM, "out of memory");
            break;
        }
        dm_sparam_t p[2] = {{.kind = DM_SP_TEXT, .s = model},
                            {.kind = DM_SP_TEXT, .s = js}};
        rc = s->ops->query(s, sql, p, 2, &r, errbuf, errlen);
        while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
            const char *id = s->ops->col_text(r, 0);
            int64_t d = s->ops->col_int(r, 1);
            size_t len = 0;
            const void *blob = s->ops->col_blob(r, 2, &len);
            uint64_t h = (uint64_t)s->ops->col_int(r, 3);

            rc = DM_OK;
            if (!id || !blob || d != (int64_t)dim || len != dim * 4)
                continue;
            for (size_t e = id_lower_bound(ix, n, id);
                 e < n && strcmp(ix[e].id, id) == 0; e++) {
                size_t i = ix[e].pos;
                /* the same row with another text (edited, or another
                 * feedback table) must be embedded again */
                if (!found[i] && text_hashes[i] == h) {
                    vec_decode(blob, dim, vecs + i * dim);
                    found[i] = true;
                    nf++;
                }
            }
        }
        if (rc == 0)
            rc = DM_OK;
        if (r)
            s->ops->res_free(r);
        free(js);
        done += k;
    }
    free(ix);
out:
    if (n_found)
        *n_found = nf;
    return rc;
}

int dm_store_embed_put(dm_store_t *s, const char *model, const char *const *ids,
                       const uint64_t *text_hashes, size_t n, size_t dim,
                       const float *vecs, char *errbuf, size_t errlen)
{
    static const char head[] =
        "INSERT INTO embedding_cache (row_id, model, dim, vector, text_hash)";
    static const char tail[] =
        "ON CONFLICT (model, row_id) DO UPDATE SET dim = excluded.dim, "
        "vector = excluded.vector, text_hash = excluded.text_hash";
    dm_sparam_t *p = NULL;
    unsigned char *bytes = NULL;
    bool owned = false;
    int rc;

    if (dim == 0 || dim > (1u << 20))
        return dm_err_set(errbuf, errlen, DM_EINVAL, "bad dimension %zu", dim);
    if (n == 0)
        return DM_OK;
    p = dm_mallocarray(DM_STORE_INSERT_BATCH * 5, sizeof(*p));
    bytes = dm_mallocarray(DM_STORE_INSERT_BATCH, dim * 4);
    rc = dm_store_tx_auto_begin(s, &owned, errbuf, errlen);
    for (size_t done = 0; rc == DM_OK && done < n;) {
        size_t k =
            n - done < DM_STORE_INSERT_BATCH ? n - done : DM_STORE_INSERT_BATCH;
        int64_t changes = 0;

        for (size_t j = 0; j < k; j++) {
            dm_sparam_t *q = &p[j * 5];
            memset(q, 0, 5 * sizeof(*q));
            vec_encode(vecs + (done + j) * dim, dim, bytes + j * dim * 4);
            q[0].kind = DM_SP_TEXT;
            q[0].s = ids[done + j];
            q[1].kind = DM_SP_TEXT;
            q[1].s = model;
            q[2].kind = DM_SP_INT;
            q[2].i = (int64_t)dim;
            q[3].kind = DM_SP_BLOB;
            q[3].blob = bytes + j * dim * 4;
            q[3].len = dim * 4;
            q[4].kind = DM_SP_INT;
            q[4].i = (int64_t)text_hashes[done + j];
        }
        rc = s->ops->insert_rows(s, head, tail, 5, p, k, &changes, errbuf,
                                 errlen);
        done += k;
    }
    rc = dm_store_tx_auto_end(s, owned, rc, errbuf, errlen);
    free(p);
    free(bytes);
    return rc;
}
