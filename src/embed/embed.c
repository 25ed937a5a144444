/*
 * embed.c - the embedder interface (embed.h) over the hashing embedder
 * and the BERT pipeline (tokenizer + encoder).
 *
 * DESIGN
 * A BERT call tokenises and encodes the texts in groups of a bounded
 * number of texts (several batches per thread, so the encoder can still
 * sort by length and keep every thread busy), so the token buffer stays
 * bounded (group x max_seq_length ids) whatever n is.  The encoder's work
 * buffers are not shareable, so BERT calls hold the embedder's mutex;
 * the model and tokenizer are immutable.  Hashing has no state and takes
 * no lock.
 */
#include "embed/embed.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rng.h"
#include "embed/encoder.h"
#include "embed/hashing.h"
#include "embed/linear.h"
#include "embed/model.h"
#include "embed/tokenizer.h"

/* Texts per encoder call: batches per thread x threads x batch size. */
#define GROUP_BATCHES_PER_THREAD 16

struct dm_embedder {
    int hashing;
    size_t dim;
    char *name;
    char fingerprint[64];
    bool bf16;
    char precision_reason[128];
    /* BERT only */
    dm_model_t *model;
    dm_tokenizer_t *tok;
    dm_encoder_t *enc;
    size_t max_seq, group;
    int32_t *ids;      /* [group x max_seq] */
    int32_t **id_ptrs; /* [group] */
    size_t *id_lens;   /* [group] */
    pthread_mutex_t lock;
    int lock_init;
};

static int open_hashing(dm_embedder_t *e, const dm_embedder_opts_t *o,
                        char *errbuf, size_t errlen)
{
    char name[64];

    e->hashing = 1;
    e->dim = o->dimension ? o->dimension : DM_EMBED_DEFAULT_HASHING_DIM;
    if (e->dim > DM_EMBED_MAX_HASHING_DIM)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "hashing dimension %zu is more than %d", e->dim,
                          DM_EMBED_MAX_HASHING_DIM);
    snprintf(name, sizeof(name), "hashing-%zu", e->dim);
    e->name = dm_strdup(name);
    snprintf(e->fingerprint, sizeof(e->fingerprint), "hashing:v1:%zu", e->dim);
    /* opts.precision is for matrix products, and hashing has none */
    snprintf(e->precision_reason, sizeof(e->precision_reason),
             "hashing: no matrix products");
    return DM_OK;
}

static void warn_blas_core_once(void)
{
    const char *better = NULL;

    if (dm_encoder_blas_core_is_generic(&better))
        dm_log_warn("OpenBLAS uses its generic '%s' kernels on this CPU "
                    "(too old to recognise it): embedding is several times "
                    "slower than it could be; set OPENBLAS_CORETYPE=%s",
                    dm_encoder_blas_core(), better);
}

/* Once per process: every embedder shares the one OpenBLAS. */
static void warn_blas_core(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, warn_blas_core_once);
}

const char *dm_embed_precision_name(dm_embed_precision_t p)
{
    switch (p) {
    case DM_EMBED_PRECISION_AUTO:
        return "auto";
    case DM_EMBED_PRECISION_FP32:
        return "fp32";
    case DM_EMBED_PRECISION_BF16:
        return "bf16";
    }
    return "?";
}

/* Resolves auto into e->bf16 and says why in e->precision_reason. */
static int choose_precision(dm_embedder_t *e, dm_embed_precision_t p,
                            char *errbuf, size_t errlen)
{
    bool native = dm_linear_bf16_native();
    const char *isa = dm_linear_isa_name();

    switch (p) {
    case DM_EMBED_PRECISION_AUTO:
        e->bf16 = native;
        snprintf(e->precision_reason, sizeof(e->precision_reason),
                 native ? "auto: the CPU multiplies bf16 natively (oneDNN %s)"
                        : "auto: the CPU has no AVX512-BF16 or AMX (oneDNN "
                          "%s)",
                 isa);
        return DM_OK;
    case DM_EMBED_PRECISION_FP32:
        e->bf16 = false;
        snprintf(e->precision_reason, sizeof(e->precision_reason),
                 "set to fp32 (oneDNN %s)", isa);
        return DM_OK;
    case DM_EMBED_PRECISION_BF16:
        e->bf16 = true;
        snprintf(e->precision_reason, sizeof(e->precision_reason),
                 native ? "set to bf16 (oneDNN %s)"
                        : "set to bf16, emulated: the CPU has no "
                          "AVX512-BF16 or AMX (oneDNN %s)",
                 isa);
        return DM_OK;
    }
    return dm_err_set(errbuf, errlen, DM_EINVAL,
                      "precision: %d is not one of "
                      "auto, fp32, bf16",
                      (int)p);
}

static int open_bert(dm_embedder_t *e, const dm_embedder_opts_t *o,
                     char *errbuf, size_t errlen)
{
    const char *path = o->model_path && o->model_path[0]
                           ? o->model_path
                           : DM_EMBED_DEFAULT_PATH;
    dm_encoder_opts_t eo = {.threads = o->threads, .batch_size = o->batch_size};
    size_t threads, batch;
    uint64_t h;
    int rc;

    rc = choose_precision(e, o->precision, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    eo.bf16 = e->bf16;

    e->name =
        dm_strdup(o->model && o->model[0] ? o->model : DM_EMBED_DEFAULT_MODEL);
    rc = dm_model_load(path, &e->model, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    e->dim = e->model->cfg.hidden;
    if (o->check_dimension && o->dimension && o->dimension != e->dim)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "embeddings.dimension %zu does not match the "
                          "model in %s (hidden_size %zu)",
                          o->dimension, path, e->dim);
    e->max_seq = e->model->max_seq_length;
    if (o->max_seq_length) {
        if (o->max_seq_length < 2)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "max_seq_length must be at least 2");
        if (o->max_seq_length > e->max_seq)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "max_seq_length %zu is more than the model in "
                              "%s takes (max_seq_length %zu)",
                              o->max_seq_length, path, e->max_seq);
        if (o->max_seq_length < e->max_seq)
            e->max_seq = o->max_seq_length;
    }
    rc = dm_tokenizer_load(e->model->vocab_path, e->model->do_lower_case,
                           &e->tok, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    if (dm_tokenizer_vocab_size(e->tok) > e->model->cfg.vocab)
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: %zu tokens, more than config.json vocab_size "
                          "%zu",
                          e->model->vocab_path, dm_tokenizer_vocab_size(e->tok),
                          e->model->cfg.vocab);
    rc = dm_encoder_new(e->model, &eo, &e->enc, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    /* the effective sequence length is part of the embedding function */
    if (e->max_seq == e->model->max_seq_length) {
        snprintf(e->fingerprint, sizeof(e->fingerprint), "%s",
                 e->model->fingerprint);
    } else {
        h = dm_hash_bytes(e->model->fingerprint, strlen(e->model->fingerprint),
                          e->max_seq);
        snprintf(e->fingerprint, sizeof(e->fingerprint), "minilm:%016" PRIx64,
                 h);
    }
    if (e->bf16) /* fits: the fingerprints above are at most 23 bytes */
        strcat(e->fingerprint, ":bf16");
    threads = o->threads ? o->threads : 1;
    batch = o->batch_size ? o->batch_size : DM_ENCODER_DEFAULT_BATCH;
    e->group = batch * threads * GROUP_BATCHES_PER_THREAD;
    e->ids = dm_mallocarray(e->group, e->max_seq * sizeof(int32_t));
    e->id_ptrs = dm_mallocarray(e->group, sizeof(*e->id_ptrs));
    e->id_lens = dm_mallocarray(e->group, sizeof(*e->id_lens));
    for (size_t i = 0; i < e->group; i++)
        e->id_ptrs[i] = e->ids + i * e->max_seq;
    if (pthread_mutex_init(&e->lock, NULL) != 0)
        return dm_err_set(errbuf, errlen, DM_EINTERNAL,
                          "cannot create a mutex");
    e->lock_init = 1;
    warn_blas_core();
    return DM_OK;
}

int dm_embedder_probe_dim(const dm_embedder_opts_t *opts, size_t *dim,
                          char *errbuf, size_t errlen)
{
    dm_bert_config_t bc;
    int rc;

    if (opts->model && strcmp(opts->model, "hashing") == 0) {
        *dim = opts->dimension ? opts->dimension : DM_EMBED_DEFAULT_HASHING_DIM;
        return DM_OK;
    }
    rc = dm_model_read_config(opts->model_path && opts->model_path[0]
                                  ? opts->model_path
                                  : DM_EMBED_DEFAULT_PATH,
                              &bc, errbuf, errlen);
    *dim = rc == DM_OK ? bc.hidden : 0;
    return rc;
}

int dm_embedder_open(const dm_embedder_opts_t *opts, dm_embedder_t **out,
                     char *errbuf, size_t errlen)
{
    dm_embedder_opts_t o = {0};
    dm_embedder_t *e;
    int rc;

    *out = NULL;
    if (opts)
        o = *opts;
    e = dm_calloc(1, sizeof(*e));
    if (o.model && strcmp(o.model, "hashing") == 0)
        rc = open_hashing(e, &o, errbuf, errlen);
    else
        rc = open_bert(e, &o, errbuf, errlen);
    if (rc != DM_OK) {
        dm_embedder_free(e);
        return rc;
    }
    *out = e;
    return DM_OK;
}

size_t dm_embedder_dim(const dm_embedder_t *e)
{
    return e->dim;
}

const char *dm_embedder_name(const dm_embedder_t *e)
{
    return e->name;
}

const char *dm_embedder_fingerprint(const dm_embedder_t *e)
{
    return e->fingerprint;
}

const char *dm_embedder_precision(const dm_embedder_t *e)
{
    return e->bf16 ? "bf16" : "fp32";
}

const char *dm_embedder_precision_reason(const dm_embedder_t *e)
{
    return e->precision_reason;
}

static int embed_bert(dm_embedder_t *e, const char *const *texts,
                      const size_t *lens, size_t n, float *out, char *errbuf,
                      size_t errlen)
{
    int rc = DM_OK;

    for (size_t base = 0; base < n && rc == DM_OK; base += e->group) {
        size_t cnt = n - base < e->group ? n - base : e->group;

        for (size_t i = 0; i < cnt; i++) {
            const char *t = texts[base + i] ? texts[base + i] : "";

            rc = dm_tokenizer_encode(e->tok, t, lens[base + i], e->id_ptrs[i],
                                     e->max_seq, &e->id_lens[i]);
            if (rc != DM_OK)
                return dm_err_set(errbuf, errlen, rc,
                                  "text %zu: tokenizer failed: %s", base + i,
                                  dm_strerror(rc));
        }
        rc = dm_encoder_encode(e->enc, (const int32_t *const *)e->id_ptrs,
                               e->id_lens, cnt, out + base * e->dim, errbuf,
                               errlen);
    }
    return rc;
}

int dm_embedder_embed(dm_embedder_t *e, const char *const *texts,
                      const size_t *lens, size_t n, float *out, char *errbuf,
                      size_t errlen)
{
    int rc;

    if (n == 0)
        return DM_OK;
    if (e == NULL || texts == NULL || lens == NULL || out == NULL)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "dm_embedder_embed: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (texts[i] == NULL && lens[i] > 0)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "text %zu: NULL with length %zu", i, lens[i]);
    if (e->hashing) {
        for (size_t i = 0; i < n; i++)
            dm_hashing_embed(texts[i] ? texts[i] : "", lens[i], e->dim,
                             out + i * e->dim);
        return DM_OK;
    }
    pthread_mutex_lock(&e->lock);
    rc = embed_bert(e, texts, lens, n, out, errbuf, errlen);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

bool dm_embedder_files_changed(const dm_embedder_t *e, char *what, size_t len)
{
    if (len > 0)
        what[0] = '\0';
    return e->model != NULL && dm_model_files_changed(e->model, what, len);
}

void dm_embedder_free(dm_embedder_t *e)
{
    if (e == NULL)
        return;
    if (e->lock_init)
        pthread_mutex_destroy(&e->lock);
    dm_encoder_free(e->enc);
    dm_tokenizer_free(e->tok);
    dm_model_free(e->model);
    free(e->ids);
    free(e->id_ptrs);
    free(e->id_lens);
    free(e->name);
    free(e);
}
