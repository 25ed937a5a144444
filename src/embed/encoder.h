/*
 * encoder.h - the BERT encoder: token ids in, mean-pooled, L2-normalised
 * sentence embeddings out.
 *
 * Per sentence: word + position + token-type-0 embeddings and LayerNorm;
 * per layer, multi-head self-attention (scaled by 1/sqrt(head_dim), over
 * the sentence's own tokens only, so no padding is ever attended to),
 * output projection + residual + LayerNorm, exact-GELU feed-forward +
 * residual + LayerNorm; then the mean over the tokens and L2
 * normalisation.
 *
 * Sentences are sorted by length and cut into batches; the tokens of a
 * batch are packed into one [tokens x hidden] matrix, so every projection
 * is one oneDNN matmul (fp32, or bf16 inputs with fp32 accumulation)
 * with no padding; only attention is per sentence.  Batches are spread
 * over the encoder's threads (oneDNN and OpenBLAS run single-threaded
 * inside them: threading inside each product scales poorly on these
 * shapes).  Results are written in input order and do not depend on the
 * batch size or the number of threads beyond float rounding (< 1e-6).
 *
 * Ownership: the encoder borrows the model (which must outlive it) and
 * owns per-thread work buffers, grown on demand up to the largest chunk:
 * at most batch_size sentences and DM_ENCODER_CHUNK_TOKENS tokens (or one
 * sentence of up to max_position_embeddings tokens), about 44 MB per
 * thread for all-MiniLM-L6-v2.  One encoder runs one dm_encoder_encode() at a
 * time: callers that share an encoder between threads serialise calls
 * (dm_embedder does).  Several encoders may share a model.
 */
#ifndef DM_EMBED_ENCODER_H
#define DM_EMBED_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "embed/model.h"

#define DM_ENCODER_DEFAULT_BATCH 32
#define DM_ENCODER_MAX_BATCH     1024
#define DM_ENCODER_MAX_THREADS   64
/* Most tokens packed into one chunk (unless one sentence is longer). */
#define DM_ENCODER_CHUNK_TOKENS 4096

typedef struct dm_encoder_opts {
    size_t threads;    /* threads per encode call; 0 = 1 */
    size_t batch_size; /* sentences per batch; 0 = 32 */
    bool bf16;         /* bf16 inputs to the matrix products (else fp32) */
} dm_encoder_opts_t;

typedef struct dm_encoder dm_encoder_t;

/*
 * Creates an encoder over model (borrowed).  opts may be NULL for the
 * defaults.  Converts and packs the weights of the linear layers (in
 * bf16 when opts->bf16).  Errors: DM_EINVAL (threads or batch_size over
 * their maxima), DM_EMODEL (oneDNN has no kernel for the shape or
 * precision on this CPU), DM_ENOMEM, with a message.  Also sets OpenBLAS
 * to one thread (process-wide).
 */
int dm_encoder_new(const dm_model_t *model, const dm_encoder_opts_t *opts,
                   dm_encoder_t **out, char *errbuf,
                   size_t errlen) DM_MUSTCHECK;

/* Frees the encoder and its buffers (not the model).  NULL-safe. */
void dm_encoder_free(dm_encoder_t *enc);

/*
 * Encodes n sentences: ids[i] holds lens[i] token ids (already with
 * [CLS] and [SEP]; 1 <= lens[i] <= max_position_embeddings; each id <
 * vocab_size).  Writes n * hidden floats to out, row i = sentence i.
 * Errors: DM_EINVAL (bad length or id) with a message naming the
 * sentence; nothing is computed then.  DM_EMODEL or DM_ENOMEM when a
 * matrix product fails (out is then unspecified).  Not thread-safe per
 * encoder.
 */
int dm_encoder_encode(dm_encoder_t *enc, const int32_t *const *ids,
                      const size_t *lens, size_t n, float *out, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

/* Whether the encoder's matrix products take bf16 inputs. */
bool dm_encoder_bf16(const dm_encoder_t *enc);

/* Embedding dimension (the model's hidden size). */
size_t dm_encoder_dim(const dm_encoder_t *enc);

/*
 * The OpenBLAS core (kernel family) in use, e.g. "SkylakeX" or
 * "Prescott".  Static string.
 */
const char *dm_encoder_blas_core(void);

/*
 * True when OpenBLAS runs a generic kernel although the CPU has AVX2 or
 * AVX-512 (an OpenBLAS too old to know the CPU); matrix products are then
 * several times slower than they could be, and setting the environment
 * variable OPENBLAS_CORETYPE (e.g. to SkylakeX or Haswell) fixes it.
 * Writes the suggested core name into suggest (may be NULL).
 */
int dm_encoder_blas_core_is_generic(const char **suggest);

/*
 * Makes the process use OpenBLAS kernels the CPU supports when the
 * installed OpenBLAS is too old to recognise the CPU.  OpenBLAS picks its
 * kernels once, when the library is loaded, from OPENBLAS_CORETYPE or
 * its CPU detection, so the only way to correct it is before that: when
 * OPENBLAS_CORETYPE is unset, dm_encoder_blas_core_is_generic() is true,
 * and DRIFTMON_BLAS_AUTOTUNE is not "0", this sets OPENBLAS_CORETYPE to
 * the suggested core (chosen from the CPU's own feature flags) and
 * re-executes the program (/proc/self/exe) with the same argv.  It
 * returns only when nothing needed doing or the re-exec failed (then the
 * generic kernels stay, and embedding is slower but correct).  Call it
 * first thing in main(), before any thread exists.  An explicitly set
 * OPENBLAS_CORETYPE is never changed.
 */
void dm_encoder_blas_autotune(char **argv);

#endif
