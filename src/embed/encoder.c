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
 * projection and the two feed-forward products are one linear layer
 * each (linear.h: oneDNN matmuls with the bias, and the GELU of the
 * first feed-forward product, fused) with no padding rows; attention
 * runs per sentence and head on [L x head_dim] slices of the packed
 * Q/K/V matrix, so the mask is implicit in the sentence's length, with
 * OpenBLAS (fp32 always: ~3% of the FLOPs).
 *
 * Precision: fp32, or bf16 inputs to the four linear layers (weights
 * converted once at creation) with fp32 accumulation; everything else
 * (attention, softmax, LayerNorm, residuals, pooling) is fp32 in both.
 * In bf16 the LayerNorm output is kept in fp32 (the residual) and
 * rounded to bf16 (the next product's input), the attention context is
 * rounded, and the first feed-forward product writes its GELU output in
 * bf16 directly.
 *
 * Threads: oneDNN and OpenBLAS run one thread inside each of ours, since
 * independent chunks per core scale almost linearly (measured: ~1.9x on
 * 2 cores) while threading inside these products does not.
 *
 * Memory: each worker owns buffers for the largest chunk it has seen:
 * x, a, b ([T x H]), big ([T x max(3H, I)]), in bf16 also xb, ab
 * ([T x H]) and bigb ([T x I]), and scores ([L x L], rows padded to
 * whole vectors); T is at most DM_ENCODER_CHUNK_TOKENS (or one
 * sentence's length when longer).  The packed weights are the
 * encoder's (shared, read-only); the embedding tables the model's.
 *
 * Concurrency: workers share only the read-only model, layers and
 * inputs, the atomic chunk counter and the job's error slot, and write
 * disjoint rows of out.  The linear plans make their kernels on first
 * use under their own mutex.
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
#include "embed/linear.h"

struct work {
    float *x, *a, *b, *big, *scores, *inv_sum;
    uint16_t *xb, *ab, *bigb; /* bf16 copies (bf16 only) */
    size_t cap_tokens, cap_scores;
    dm_linear_ctx_t *ctx;
};

/* The four linear layers of one transformer layer. */
struct layer_lin {
    dm_linear_t *qkv, *attn_out, *ffn_in, *ffn_out;
};

enum { PLAN_QKV, PLAN_ATTN_OUT, PLAN_FFN_IN, PLAN_FFN_OUT, N_PLANS };

struct dm_encoder {
    const dm_model_t *m;
    size_t threads, batch;
    bool bf16;
    dm_linear_plan_t *plan[N_PLANS]; /* shared by the layers */
    struct layer_lin *lin;           /* [layers] */
    struct work *work;               /* [threads] */
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
    atomic_int failed; /* first error wins the slot below */
    int rc;
    char err[256];
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

static void work_reserve(struct work *w, const dm_bert_config_t *c, bool bf16,
                         size_t tokens, size_t max_len)
{
    size_t wide =
        3 * c->hidden > c->intermediate ? 3 * c->hidden : c->intermediate;

    if (tokens > w->cap_tokens) {
        free(w->x);
        free(w->a);
        free(w->b);
        free(w->big);
        free(w->xb);
        free(w->ab);
        free(w->bigb);
        w->x = dm_mallocarray(tokens, c->hidden * sizeof(float));
        w->a = dm_mallocarray(tokens, c->hidden * sizeof(float));
        w->b = dm_mallocarray(tokens, c->hidden * sizeof(float));
        w->big = dm_mallocarray(tokens, wide * sizeof(float));
        w->xb = w->ab = w->bigb = NULL;
        if (bf16) {
            w->xb = dm_mallocarray(tokens, c->hidden * sizeof(uint16_t));
            w->ab = dm_mallocarray(tokens, c->hidden * sizeof(uint16_t));
            w->bigb =
                dm_mallocarray(tokens, c->intermediate * sizeof(uint16_t));
        }
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
    free(w->xb);
    free(w->ab);
    free(w->bigb);
    dm_linear_ctx_free(w->ctx);
    memset(w, 0, sizeof(*w));
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

/* y = LayerNorm(y + x) into x, and its bf16 rounding into xb (if any). */
static void residual_layernorm(float *y, float *x, uint16_t *xb, size_t T,
                               size_t H, const float *g, const float *b,
                               float eps)
{
    dm_kern_add(y, x, T * H);
    dm_kern_layernorm(y, x, T, H, g, b, eps);
    if (xb)
        dm_linear_to_bf16(x, xb, T * H);
}

static int run_layer(const dm_encoder_t *enc, size_t l, struct work *w,
                     const struct item *items, size_t cnt, size_t T,
                     char *errbuf, size_t errlen)
{
    const dm_model_t *m = enc->m;
    const dm_bert_layer_t *ly = &m->layers[l];
    const struct layer_lin *lin = &enc->lin[l];
    const size_t H = m->cfg.hidden;
    const float eps = m->cfg.layer_norm_eps;
    /* the products' inputs: bf16 copies, or the fp32 rows themselves */
    const void *x_in = enc->bf16 ? (const void *)w->xb : (const void *)w->x;
    const void *a_in = enc->bf16 ? (const void *)w->ab : (const void *)w->a;
    void *big_in = enc->bf16 ? (void *)w->bigb : (void *)w->big;
    size_t row = 0;
    int rc;

    rc = dm_linear_run(lin->qkv, w->ctx, x_in, T, w->big, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    for (size_t s = 0; s < cnt; s++) {
        attend(m, w->big + row * 3 * H, items[s].len, w->scores, w->inv_sum,
               w->a + row * H);
        row += items[s].len;
    }
    if (enc->bf16)
        dm_linear_to_bf16(w->a, w->ab, T * H);
    rc = dm_linear_run(lin->attn_out, w->ctx, a_in, T, w->b, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    residual_layernorm(w->b, w->x, w->xb, T, H, ly->attn_ln_g, ly->attn_ln_b,
                       eps);
    /* GELU(x . W^T + b), fused, straight into the next product's input */
    rc = dm_linear_run(lin->ffn_in, w->ctx, x_in, T, big_in, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    rc = dm_linear_run(lin->ffn_out, w->ctx, big_in, T, w->b, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    residual_layernorm(w->b, w->x, w->xb, T, H, ly->out_ln_g, ly->out_ln_b,
                       eps);
    return DM_OK;
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

static int encode_chunk(struct job *job, struct work *w,
                        const struct item *items, size_t cnt, char *errbuf,
                        size_t errlen)
{
    const dm_encoder_t *enc = job->enc;
    const dm_model_t *m = enc->m;
    const size_t H = m->cfg.hidden;
    size_t T = 0, max_len = 0, row = 0;
    int rc;

    for (size_t s = 0; s < cnt; s++) {
        T += items[s].len;
        if (items[s].len > max_len)
            max_len = items[s].len;
    }
    work_reserve(w, &m->cfg, enc->bf16, T, max_len);
    for (size_t s = 0; s < cnt; s++) {
        embed_tokens(m, job->ids[items[s].idx], items[s].len, w->x + row * H);
        row += items[s].len;
    }
    if (enc->bf16)
        dm_linear_to_bf16(w->x, w->xb, T * H);
    for (size_t l = 0; l < m->cfg.layers; l++) {
        rc = run_layer(enc, l, w, items, cnt, T, errbuf, errlen);
        if (rc != DM_OK)
            return rc;
    }
    row = 0;
    for (size_t s = 0; s < cnt; s++) {
        pool(w->x + row * H, items[s].len, H, job->out + items[s].idx * H);
        row += items[s].len;
    }
    return DM_OK;
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
        char err[sizeof(job->err)];
        int rc;

        if (c >= job->n_chunks || atomic_load(&job->failed))
            break;
        rc = encode_chunk(job, wk->w, job->order + job->chunk[c],
                          job->chunk[c + 1] - job->chunk[c], err, sizeof(err));
        if (rc != DM_OK) {
            int none = 0;

            if (atomic_compare_exchange_strong(&job->failed, &none, 1)) {
                job->rc = rc;
                snprintf(job->err, sizeof(job->err), "%s", err);
            }
            break;
        }
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

/*
 * The four plans (one per product shape, shared by the layers) and each
 * layer's packed weights.
 */
static int make_layers(dm_encoder_t *enc, char *errbuf, size_t errlen)
{
    const dm_bert_config_t *c = &enc->m->cfg;
    const dm_linear_type_t in = enc->bf16 ? DM_LINEAR_BF16 : DM_LINEAR_F32;
    const struct {
        size_t in, out;
        dm_linear_type_t dst;
        bool gelu;
    } shape[N_PLANS] = {
        [PLAN_QKV] = {c->hidden, 3 * c->hidden, DM_LINEAR_F32, false},
        [PLAN_ATTN_OUT] = {c->hidden, c->hidden, DM_LINEAR_F32, false},
        [PLAN_FFN_IN] = {c->hidden, c->intermediate, in, true},
        [PLAN_FFN_OUT] = {c->intermediate, c->hidden, DM_LINEAR_F32, false},
    };
    int rc = DM_OK;

    for (size_t i = 0; rc == DM_OK && i < N_PLANS; i++)
        rc = dm_linear_plan_new(shape[i].in, shape[i].out, in, shape[i].dst,
                                shape[i].gelu, &enc->plan[i], errbuf, errlen);
    for (size_t l = 0; rc == DM_OK && l < c->layers; l++) {
        const dm_bert_layer_t *ly = &enc->m->layers[l];
        struct layer_lin *lin = &enc->lin[l];

        rc = dm_linear_new(enc->plan[PLAN_QKV], ly->qkv_w, ly->qkv_b, &lin->qkv,
                           errbuf, errlen);
        if (rc == DM_OK)
            rc = dm_linear_new(enc->plan[PLAN_ATTN_OUT], ly->attn_out_w,
                               ly->attn_out_b, &lin->attn_out, errbuf, errlen);
        if (rc == DM_OK)
            rc = dm_linear_new(enc->plan[PLAN_FFN_IN], ly->ffn_in_w,
                               ly->ffn_in_b, &lin->ffn_in, errbuf, errlen);
        if (rc == DM_OK)
            rc = dm_linear_new(enc->plan[PLAN_FFN_OUT], ly->ffn_out_w,
                               ly->ffn_out_b, &lin->ffn_out, errbuf, errlen);
    }
    return rc;
}

int dm_encoder_new(const dm_model_t *model, const dm_encoder_opts_t *opts,
                   dm_encoder_t **out, char *errbuf, size_t errlen)
{
    dm_encoder_t *enc;
    int rc;
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
    enc->bf16 = opts && opts->bf16;
    enc->work = dm_calloc(threads, sizeof(*enc->work));
    enc->lin =
        dm_calloc(model->cfg.layers ? model->cfg.layers : 1, sizeof(*enc->lin));
    rc = make_layers(enc, errbuf, errlen);
    for (size_t t = 0; rc == DM_OK && t < threads; t++)
        rc = dm_linear_ctx_new(&enc->work[t].ctx, errbuf, errlen);
    if (rc != DM_OK) {
        dm_encoder_free(enc);
        return rc;
    }
    *out = enc;
    return DM_OK;
}

void dm_encoder_free(dm_encoder_t *enc)
{
    if (enc == NULL)
        return;
    for (size_t i = 0; i < enc->threads; i++)
        work_cleanup(&enc->work[i]);
    for (size_t l = 0; l < enc->m->cfg.layers; l++) {
        dm_linear_free(enc->lin[l].qkv);
        dm_linear_free(enc->lin[l].attn_out);
        dm_linear_free(enc->lin[l].ffn_in);
        dm_linear_free(enc->lin[l].ffn_out);
    }
    for (size_t i = 0; i < N_PLANS; i++)
        dm_linear_plan_free(enc->plan[i]);
    free(enc->lin);
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
    atomic_init(&job.failed, 0);
    job.rc = DM_OK;
    job.err[0] = '\0';
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
    if (atomic_load(&job.failed))
        return dm_err_set(errbuf, errlen, job.rc, "%s", job.err);
    return DM_OK;
}

bool dm_encoder_bf16(const dm_encoder_t *enc)
{
    return enc->bf16;
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
