/*
 * embed.h - one interface over driftmon's two sentence embedders:
 *
 *   "hashing"  the weight-free feature-hashing embedder (hashing.h); needs
 *              no files; named "hashing-<dim>", fingerprint
 *              "hashing:v1:<dim>".
 *   any other  a BERT sentence-transformer (all-MiniLM-L6-v2 or any BERT
 *   name       of the same layout) read from model_path: WordPiece
 *              tokenizer (tokenizer.h) + native encoder (encoder.h); named
 *              by the given name, fingerprint "minilm:<16 hex>" (a hash of
 *              every model file and of the effective max_seq_length),
 *              with ":bf16" appended when its products run in bf16 (a
 *              bf16 vector is not the fp32 one, so caches keep them
 *              apart).
 *
 * Ownership: dm_embedder_open() returns an embedder the caller frees with
 * dm_embedder_free(); it owns its model, tokenizer and encoder.  Strings
 * returned by the accessors are borrowed from the embedder.
 *
 * Thread-safety: dm_embedder_embed() may be called from several threads
 * on one embedder; BERT calls are serialised by an internal mutex (each
 * call already uses the configured number of threads), hashing calls run
 * concurrently.  The accessors are thread-safe.
 */
#ifndef DM_EMBED_EMBED_H
#define DM_EMBED_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define DM_EMBED_DEFAULT_MODEL       "sentence-transformers/all-MiniLM-L6-v2"
#define DM_EMBED_DEFAULT_PATH        "models/all-MiniLM-L6-v2"
#define DM_EMBED_DEFAULT_HASHING_DIM 384
#define DM_EMBED_MAX_HASHING_DIM     65536

/*
 * Precision of a BERT embedder's matrix products (embeddings.precision):
 * auto takes bf16 where the CPU multiplies bf16 natively (AVX512-BF16 or
 * AMX, as oneDNN sees it: ONEDNN_MAX_CPU_ISA lowers it) and fp32
 * elsewhere.  bf16 = bf16 inputs, fp32 accumulation; the rest of the
 * model runs in fp32 either way.
 */
typedef enum dm_embed_precision {
    DM_EMBED_PRECISION_AUTO = 0,
    DM_EMBED_PRECISION_FP32 = 1,
    DM_EMBED_PRECISION_BF16 = 2
} dm_embed_precision_t;

typedef struct dm_embedder_opts {
    const char *model;      /* "hashing" or a BERT name; NULL = default */
    const char *model_path; /* BERT model directory; NULL = default path */
    size_t dimension;       /* hashing only: 0 = 384 */
    size_t batch_size;      /* BERT sentences per batch: 0 = 32 */
    size_t threads;         /* BERT threads per call: 0 = 1 */
    size_t max_seq_length;  /* BERT: 0 = the model's; more is DM_EINVAL */
    bool check_dimension;   /* BERT: dimension (if > 0) must be the model's */
    dm_embed_precision_t precision; /* BERT: auto */
} dm_embedder_opts_t;

typedef struct dm_embedder dm_embedder_t;

/*
 * Opens the embedder that opts describe (opts NULL = all defaults).  On
 * success *out is a new embedder.  Errors: DM_EINVAL (bad options),
 * DM_EMODEL or DM_EIO (model directory missing or invalid: the message
 * names the file and the key or tensor).  Logs a warning when OpenBLAS
 * runs a generic kernel on a CPU that has AVX2 / AVX-512 (see
 * dm_encoder_blas_core_is_generic()).
 */
int dm_embedder_open(const dm_embedder_opts_t *opts, dm_embedder_t **out,
                     char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * The dimension the embedder opts describe would have, without loading
 * weights: hashing's dimension (0 = 384), or hidden_size from the BERT
 * model's config.json.  Errors as dm_embedder_open() for config.json (the
 * model is then not loadable).
 */
int dm_embedder_probe_dim(const dm_embedder_opts_t *opts, size_t *dim,
                          char *errbuf, size_t errlen) DM_MUSTCHECK;

/* Embedding dimension. */
size_t dm_embedder_dim(const dm_embedder_t *e);

/*
 * The precision the embedder computes in, "fp32" or "bf16" (hashing:
 * "fp32"), and why (e.g. "auto: the CPU has AVX512-BF16 (oneDNN
 * avx512_core_bf16)"; "hashing: no matrix products" for hashing).
 * Static / borrowed strings.
 */
const char *dm_embedder_precision(const dm_embedder_t *e);
const char *dm_embedder_precision_reason(const dm_embedder_t *e);

/* "auto", "fp32" or "bf16" ("?" for another value).  Static. */
const char *dm_embed_precision_name(dm_embed_precision_t p);

/* Honest name: "hashing-<dim>" or the model name given at open. */
const char *dm_embedder_name(const dm_embedder_t *e);

/*
 * Identity of the embedding function, for caches: equal fingerprints
 * give equal embeddings.  "hashing:v1:<dim>" or "minilm:<16 hex>".
 */
const char *dm_embedder_fingerprint(const dm_embedder_t *e);

/*
 * Embeds n texts (texts[i] has lens[i] bytes, need not be NUL-terminated,
 * any bytes) into out, n * dim floats row-major, row i = texts[i];
 * L2-normalised (a text with no features embeds as zeros with hashing).
 * Errors: DM_EINVAL (NULL arguments with n > 0) with a message; out is
 * then unspecified.  Thread-safe (see above).
 */
int dm_embedder_embed(dm_embedder_t *e, const char *const *texts,
                      const size_t *lens, size_t n, float *out, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

/*
 * Whether the files of a BERT embedder's model changed on disk since it
 * was opened (see dm_model_files_changed(): what gets "DIR/FILE: changed
 * in place (...)" and the like).  The embedder keeps computing with the
 * model it loaded, so its fingerprint stays true; the new files are only
 * read by a new embedder.  Always false for hashing.  One stat() per
 * model file.  Thread-safe.
 */
bool dm_embedder_files_changed(const dm_embedder_t *e, char *what, size_t len);

/* Frees the embedder.  NULL-safe. */
void dm_embedder_free(dm_embedder_t *e);

#endif
