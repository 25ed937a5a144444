/*
 * encoder.c - BERT forward pass over packed batches of sentences.
 *
 * DESIGN
 * A call sorts the sentences by length (longest first) and cuts them into
 * chunks of at most batch_size sentences and DM_ENCODER_CHUNK_TOKENS
 * tokens (more, smaller chunks when there are fewer chunks than
 * threads).  Worker threads - the caller plus threads-1 started for the
 * call - take chunks from an atomic counter, so the longest chunks run
 * first and the tail of the run is made of the shortest ones.  A chunk's
 * tokens are packed back to back into one [T x H] matrix: the Q/K/V
 * projection (one fused [T x 3H] product), the attention output
 * projection and the two feed-forward products are one cblas_sgemm each
 * with no padding rows; attention runs per sentence and head on
 * [L x head_dim] slices of the packed Q/K/V matrix, so the mask is
 * implicit in the sentence's length.
 *
 * OpenBLAS is set to one thread: its own threading scales some of these
 * products well but not the [T x 1536] x [1536 x 384] one nor the small
 * per-head attention products, while independent chunks per core scale
 * almost linearly (measured: ~1.9x on 2 cores).  Biases (and residuals)
 * are written into the output first and the product accumulated with
 * beta = 1, as PyTorch's addmm does; that also spares OpenBLAS its
 * zeroing pass.
 *
 * Memory: each worker owns buffers for the largest chunk it has seen:
 * x, a, b ([T x H]), big ([T x max(3H, I)]) and scores ([L x L], rows
 * padded to whole vectors); T is at most DM_ENCODER_CHUNK_TOKENS (or one
 * sentence's length when longer).  The weights are the model's
 * (shared, read-only).
 *
 * Concurrency: workers share only the read-only model and inputs, the
 * atomic chunk counter, and write disjoint rows of out.  No locks.
 */
#include "embed/encoder.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "embed/kernels.h"

struct work {
    float *x, *a, *b, *big, *scores, *inv_sum;
    size_t cap_tokens, cap_scores;
};

struct dm_encoder {
    const dm_model_t *m;
    size_t threads, batch;
    struct work *work; /* [threads] */
};

struct item {
    size_t len, idx;
};

/* One encode call, shared by its workers. */
struct job {
    dm_encoder_t *enc;
    const int32_t *const *ids;
    const size_t *lens;
    const struct item *order; /* sorted, longest first */
    const size_t *chunk;      /* chunk c = order[chunk[c] .. chunk[c+1]) */
    size_t n_chunks;
    atomic_size_t next;
    float *out;
};

struct worker {
    struct job *job;
    struct work *w;
    size_t id;
};

/* Row stride of a len x len score matrix: whole vectors for softmax. */
static size_t score_ld(size_t len)
{
    return (len + DM_KERN_VL - 1) / DM_KERN_VL * DM_KERN_VL;
}

static void work_reserve(struct work *w, const dm_bert_config_t *c,
                         size_t tokens, size_t max_len)
{
    size_t wide =
        3 * c->hidden > c->intermediate ? 3 * c->hidden : c->intermediate;

    if (tokens > w->cap_tokens) {
        free(w->x);
        free(w->a);
        free(w->b);
        free(w->big);
        w->x = dm_mallocarray(tokens, c->hidden * sizeof(float));
        w->a = dm_mallocarray(tokens, c->hidden * sizeof(float));
        w->b = dm_mallocarray(tokens, c->hidden * sizeof(float));
        w->big = dm_mallocarray(tokens, wide * sizeof(float));
        w->cap_tokens = tokens;
    }
    if (max_len * score_ld(max_len) > w->cap_scores) {
        free(w->scores);
        free(w->inv_sum);
        w->cap_scores = max_len * score_ld(max_len);
        w->scores = dm_mallocarray(w->cap_scores, sizeof(float));
        w->inv_sum = dm_mallocarray(max_len, sizeof(float));
    }
}

static void work_cleanup(struct work *w)
{
    free(w->x);
    free(w->a);
    free(w->b);
    free(w->big);
    free(w->scores);
    free(w->inv_sum);
    memset(w, 0, sizeof(*w));
}

/*
 * y[T x out] += x[T x in] . w[out x in]^T: a PyTorch Linear whose bias
 * (and residual) the caller has already put in y.  beta = 1 also spares
 * OpenBLAS its zeroing pass over y.
 */
static void linear_acc(const float *x, size_t T, size_t in, const float *w,
                       size_t out, float *y)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)out,
                (int)in, 1.0f, x, (int)in, w, (int)in, 1.0f, y, (int)out);
}

/* Word + token type 0 + position embeddings, then LayerNorm. */
static void embed_tokens(const dm_model_t *m, const int32_t *ids, size_t len,
                         float *x)
{
    const size_t H = m->cfg.hidden;

    for (size_t t = 0; t < len; t++) {
        const float *we = m->word_emb + (size_t)ids[t] * H;
        const float *pe = m->pos_emb + t * H;
        const float *te = m->type_emb;
        float *row = x + t * H;

        for (size_t j = 0; j < H; j++)
            row[j] = (we[j] + te[j]) + pe[j];
    }
    dm_kern_layernorm(x, x, len, H, m->emb_ln_g, m->emb_ln_b,
                      m->cfg.layer_norm_eps);
}

/*
 * Self-attention of one sentence of len tokens whose packed Q|K|V rows
 * start at qkv (leading dimension 3H); the context goes to ctx (leading
 * dimension H).
 */
static void attend(const dm_model_t *m, const float *qkv, size_t len,
                   float *scores, float *inv_sum, float *ctx)
{
    const size_t H = m->cfg.hidden, nh = m->cfg.heads, dh = H / nh;
    const float scale = 1.0f / sqrtf((float)dh);
    const int L = (int)len, ld = (int)(3 * H), lds = (int)score_ld(len);

    for (size_t h = 0; h < nh; h++) {
        const float *q = qkv + h * dh;
        const float *k = qkv + H + h * dh;
        const float *v = qkv + 2 * H + h * dh;

        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, (int)dh,
                    scale, q, ld, k, ld, 0.0f, scores, lds);
        dm_kern_softmax_exp(scores, len, len, (size_t)lds, inv_sum);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, (int)dh, L,
                    1.0f, scores, lds, v, ld, 0.0f, ctx + h * dh, (int)H);
        dm_kern_scale_rows(ctx + h * dh, len, dh, H, inv_sum);
    }
}

static void run_layer(const dm_model_t *m, const dm_bert_layer_t *ly,
                      struct work *w, const struct item *items, size_t cnt,
                      size_t T)
{
    const size_t H = m->cfg.hidden, inter = m->cfg.intermediate;
    const float eps = m->cfg.layer_norm_eps;
    size_t row = 0;

    dm_kern_fill_rows(w->big, T, 3 * H, ly->qkv_b);
    linear_acc(w->x, T, H, ly->qkv_w, 3 * H, w->big);
    for (size_t s = 0; s < cnt; s++) {
        attend(m, w->big + row * 3 * H, items[s].len, w->scores, w->inv_sum,
               w->a + row * H);
        row += items[s].len;
    }
    /* LayerNorm(x + b + a . W^T): residual and bias go in first */
    dm_kern_add_rows(w->b, w->x, T, H, ly->attn_out_b);
    linear_acc(w->a, T, H, ly->attn_out_w, H, w->b);
    dm_kern_layernorm(w->b, w->x, T, H, ly->attn_ln_g, ly->attn_ln_b, eps);
    dm_kern_fill_rows(w->big, T, inter, ly->ffn_in_b);
    linear_acc(w->x, T, H, ly->ffn_in_w, inter, w->big);
    dm_kern_gelu(w->big, T * inter);
    dm_kern_add_rows(w->b, w->x, T, H, ly->ffn_out_b);
    linear_acc(w->big, T, inter, ly->ffn_out_w, H, w->b);
    dm_kern_layernorm(w->b, w->x, T, H, ly->out_ln_g, ly->out_ln_b, eps);
}

/* Mean over the sentence's rows, then L2 normalisation, into out. */
static void pool(const float *x, size_t len, size_t H, float *out)
{
    double norm = 0.0;

    for (size_t j = 0; j < H; j++) {
        double s = 0.0;

        for (size_t t = 0; t < len; t++)
            s += (double)x[t * H + j];
        out[j] = (float)(s / (double)len);
        norm += (double)out[j] * (double)out[j];
    }
    /* like torch.nn.functional.normalize: x / max(||x||, 1e-12) */
    norm = sqrt(norm);
    if (norm < 1e-12)
        norm = 1e-12;
    for (size_t j = 0; j < H; j++)
        out[j] = (float)((double)out[j] / norm);
}

static void encode_chunk(struct job *job, struct work *w,
                         const struct item *items, size_t cnt)
{
    const dm_model_t *m = job->enc->m;
    const size_t H = m->cfg.hidden;
    size_t T = 0, max_len = 0, row = 0;

    for (size_t s = 0; s < cnt; s++) {
        T += items[s].len;
        if (items[s].len > max_len)
            max_len = items[s].len;
    }
    work_reserve(w, &m->cfg, T, max_len);
    for (size_t s = 0; s < cnt; s++) {
        embed_tokens(m, job->ids[items[s].idx], items[s].len, w->x + row * H);
        row += items[s].len;
    }
    for (size_t l = 0; l < m->cfg.layers; l++)
        run_layer(m, &m->layers[l], w, items, cnt, T);
    row = 0;
    for (size_t s = 0; s < cnt; s++) {
        pool(w->x + row * H, items[s].len, H, job->out + items[s].idx * H);
        row += items[s].len;
    }
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct job *job = wk->job;
    char name[16];

    if (wk->id > 0) {
        snprintf(name, sizeof(name), "encoder-%u", (unsigned)(wk->id % 100));
        dm_log_thread_name(name);
    }
    for (;;) {
        size_t c = atomic_fetch_add(&job->next, 1);

        if (c >= job->n_chunks)
            break;
        encode_chunk(job, wk->w, job->order + job->chunk[c],
                     job->chunk[c + 1] - job->chunk[c]);
    }
    return NULL;
}

/*
 * Most tokens in one chunk: a batch of short sentences is never cut, a
 * batch of long ones is (the work buffers scale with it), and a single
 * sentence always fits.
 */
static size_t chunk_token_cap(const dm_model_t *m)
{
    size_t cap = DM_ENCODER_CHUNK_TOKENS;

    return cap > m->cfg.max_positions ? cap : m->cfg.max_positions;
}

/*
 * Cuts the sorted items into chunks of at most batch sentences and cap
 * tokens; then, while there are fewer chunks than threads, halves the
 * chunk with the most sentences so every thread gets work.  Writes the
 * n_chunks + 1 boundaries into chunk (room for n + 1) and returns
 * n_chunks.
 */
static size_t plan_chunks(const struct item *order, size_t n, size_t batch,
                          size_t cap, size_t threads, size_t *chunk)
{
    size_t nc = 0, count = 0, tokens = 0;

    chunk[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (count == batch || (count > 0 && tokens + order[i].len > cap)) {
            chunk[++nc] = i;
            count = 0;
            tokens = 0;
        }
        count++;
        tokens += order[i].len;
    }
    chunk[++nc] = n;
    while (nc < threads) {
        size_t best = 0;

        for (size_t c = 1; c < nc; c++)
            if (chunk[c + 1] - chunk[c] > chunk[best + 1] - chunk[best])
                best = c;
        if (chunk[best + 1] - chunk[best] < 2)
            break;
        memmove(&chunk[best + 2], &chunk[best + 1],
                (nc - best) * sizeof(*chunk));
        chunk[best + 1] = (chunk[best] + chunk[best + 2]) / 2;
        nc++;
    }
    return nc;
}

static int cmp_item(const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;

    if (a->len != b->len)
        return a->len > b->len ? -1 : 1; /* longest first */
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int dm_encoder_new(const dm_model_t *model, const dm_encoder_opts_t *opts,
                   dm_encoder_t **out, char *errbuf, size_t errlen)
{
    dm_encoder_t *enc;
    size_t threads = opts && opts->threads ? opts->threads : 1;
    size_t batch =
        opts && opts->batch_size ? opts->batch_size : DM_ENCODER_DEFAULT_BATCH;

    *out = NULL;
    if (threads > DM_ENCODER_MAX_THREADS)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "threads: %zu is more than %d", threads,
                          DM_ENCODER_MAX_THREADS);
    if (batch > DM_ENCODER_MAX_BATCH)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "batch size: %zu is more than %d", batch,
                          DM_ENCODER_MAX_BATCH);
    /* our threads split the work; nested BLAS threads only contend */
    openblas_set_num_threads(1);
    enc = dm_calloc(1, sizeof(*enc));
    enc->m = model;
    enc->threads = threads;
    enc->batch = batch;
    enc->work = dm_calloc(threads, sizeof(*enc->work));
    *out = enc;
    return DM_OK;
}

void dm_encoder_free(dm_encoder_t *enc)
{
    if (enc == NULL)
        return;
    for (size_t i = 0; i < enc->threads; i++)
        work_cleanup(&enc->work[i]);
    free(enc->work);
    free(enc);
}

size_t dm_encoder_dim(const dm_encoder_t *enc)
{
    return enc->m->cfg.hidden;
}

static int check_input(const dm_model_t *m, const int32_t *const *ids,
                       const size_t *lens, size_t n, char *errbuf,
                       size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (lens[i] < 1 || lens[i] > m->cfg.max_positions)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "sentence %zu: %zu tokens, must be 1 to %zu", i,
                              lens[i], m->cfg.max_positions);
        for (size_t t = 0; t < lens[i]; t++)
            if (ids[i][t] < 0 || (size_t)ids[i][t] >= m->cfg.vocab)
                return dm_err_set(errbuf, errlen, DM_EINVAL,
                                  "sentence %zu: token id %d at %zu outside "
                                  "the vocabulary (%zu)",
                                  i, (int)ids[i][t], t, m->cfg.vocab);
    }
    return DM_OK;
}

int dm_encoder_encode(dm_encoder_t *enc, const int32_t *const *ids,
                      const size_t *lens, size_t n, float *out, char *errbuf,
                      size_t errlen)
{
    struct item *order = NULL;
    size_t *chunk = NULL;
    struct worker wk[DM_ENCODER_MAX_THREADS];
    pthread_t tid[DM_ENCODER_MAX_THREADS];
    size_t n_chunks, n_threads, started = 0;
    struct job job;
    int rc;

    if (n == 0)
        return DM_OK;
    rc = check_input(enc->m, ids, lens, n, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    order = dm_mallocarray(n, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        order[i].len = lens[i];
        order[i].idx = i;
    }
    qsort(order, n, sizeof(*order), cmp_item);
    chunk = dm_mallocarray(n + 1, sizeof(*chunk));
    n_chunks = plan_chunks(order, n, enc->batch, chunk_token_cap(enc->m),
                           enc->threads, chunk);
    n_threads = enc->threads < n_chunks ? enc->threads : n_chunks;

    job.enc = enc;
    job.ids = ids;
    job.lens = lens;
    job.order = order;
    job.chunk = chunk;
    job.n_chunks = n_chunks;
    atomic_init(&job.next, 0);
    job.out = out;
    for (size_t t = 0; t < n_threads; t++) {
        wk[t].job = &job;
        wk[t].w = &enc->work[t];
        wk[t].id = t;
    }
    for (size_t t = 1; t < n_threads; t++) {
        if (pthread_create(&tid[t], NULL, worker_main, &wk[t]) != 0) {
            /* fewer threads is slower, not wrong */
            dm_log_warn("encoder: could not start thread %zu; continuing "
                        "with %zu",
                        t, t);
            break;
        }
        started = t;
    }
    worker_main(&wk[0]);
    for (size_t t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    free(chunk);
    free(order);
    return DM_OK;
}

const char *dm_encoder_blas_core(void)
{
    const char *s = openblas_get_corename();

    return s ? s : "unknown";
}

int dm_encoder_blas_core_is_generic(const char **suggest)
{
    static const char *const generic[] = {
        "Prescott", "Core2",      "Penryn",    "Dunnington", "Nehalem", "Atom",
        "Katmai",   "Coppermine", "Northwood", "Banias",     "Unknown"};
    const char *core = dm_encoder_blas_core();
    const char *better = NULL;
    int is_generic = 0;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        better = "SkylakeX";
    else if (__builtin_cpu_supports("avx2"))
        better = "Haswell";
#endif
    for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
        if (strcmp(core, generic[i]) == 0)
            is_generic = 1;
    if (suggest)
        *suggest = better;
    return is_generic && better != NULL;
}

void dm_encoder_blas_autotune(char **argv)
{
    const char *better = NULL;
    const char *opt = getenv("DRIFTMON_BLAS_AUTOTUNE");

    if (getenv("OPENBLAS_CORETYPE") != NULL || (opt && strcmp(opt, "0") == 0))
        return;
    if (!dm_encoder_blas_core_is_generic(&better) || better == NULL)
        return;
    /* the guard makes a second pass a no-op even if OpenBLAS ignored it */
    if (setenv("OPENBLAS_CORETYPE", better, 1) != 0 ||
        setenv("DRIFTMON_BLAS_AUTOTUNE", "0", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the generic kernels */
    unsetenv("OPENBLAS_CORETYPE");
}
