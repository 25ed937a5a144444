/*
 * linear.h - the encoder's linear layers, y = x . W^T + b (optionally
 * followed by the exact GELU), as oneDNN matmuls (internal to src/embed/).
 *
 * A plan fixes a shape (in -> out features), the type of the input rows
 * (fp32, or bf16 with fp32 accumulation), the type of the output rows and
 * the post-op; the layers of one model that share a shape share a plan.
 * A layer holds its weights converted and packed once, at creation, into
 * the layout the plan's kernels read, and its fp32 bias.
 *
 * Rows are processed in tiles of DM_LINEAR_TILE rows; a remainder uses a
 * primitive made for a multiple of 16 rows and, when rows are left, one
 * more 16-row tile overlapping the rows before it (rows are independent,
 * so a row computed twice gets the same value), so a plan makes at most
 * 31 primitives whatever the row counts (a primitive of fixed shape is
 * 20-25% faster than one with a run-time row count; measured with oneDNN
 * 2.6).  Primitives are made on first use, under the plan's mutex.
 *
 * Threads: plans and layers are read-only once made and may be used by
 * several threads at once, each with its own context (a stream and the
 * scratch memory the kernels need).  oneDNN's own (OpenMP) threading is
 * limited to one thread in each thread that runs a layer: the encoder
 * spreads its work over its own threads.
 */
#ifndef DM_EMBED_LINEAR_H
#define DM_EMBED_LINEAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define DM_LINEAR_TILE 256

typedef enum dm_linear_type {
    DM_LINEAR_F32 = 0, /* float */
    DM_LINEAR_BF16     /* bfloat16 (uint16_t): the top half of a float */
} dm_linear_type_t;

typedef struct dm_linear_plan dm_linear_plan_t;
typedef struct dm_linear dm_linear_t;
typedef struct dm_linear_ctx dm_linear_ctx_t;

/*
 * A plan for in -> out features: input rows of type src (bf16 inputs
 * give bf16 weights, fp32 accumulation), output rows of type dst, GELU
 * applied to the output when gelu.  Errors: DM_EINVAL (zero size),
 * DM_EMODEL (oneDNN has no kernel for it on this CPU), DM_ENOMEM.
 */
int dm_linear_plan_new(size_t in, size_t out, dm_linear_type_t src,
                       dm_linear_type_t dst, bool gelu, dm_linear_plan_t **plan,
                       char *errbuf, size_t errlen) DM_MUSTCHECK;
void dm_linear_plan_free(dm_linear_plan_t *plan);

/*
 * A layer of plan (borrowed; must outlive the layer) with the weights w
 * ([out x in], row-major, as PyTorch stores them; copied, converted and
 * packed) and bias b ([out]; copied).  Errors: DM_EMODEL, DM_ENOMEM.
 */
int dm_linear_new(dm_linear_plan_t *plan, const float *w, const float *b,
                  dm_linear_t **layer, char *errbuf,
                  size_t errlen) DM_MUSTCHECK;
void dm_linear_free(dm_linear_t *layer);

/* A context for one thread.  Errors: DM_EMODEL, DM_ENOMEM. */
int dm_linear_ctx_new(dm_linear_ctx_t **ctx, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;
void dm_linear_ctx_free(dm_linear_ctx_t *ctx);

/*
 * dst[rows x out] = src[rows x in] . W^T + b (then GELU), both row-major
 * and dense, of the plan's types; rows >= 1.  Errors: DM_EMODEL (oneDNN
 * failed; the message says where), DM_ENOMEM.
 */
int dm_linear_run(const dm_linear_t *layer, dm_linear_ctx_t *ctx,
                  const void *src, size_t rows, void *dst, char *errbuf,
                  size_t errlen) DM_MUSTCHECK;

/* y[i] = x[i] rounded to bf16, to nearest, ties to even (NaN stays NaN). */
void dm_linear_to_bf16(const float *x, uint16_t *y, size_t n);

/* The float a bf16 value stands for. */
float dm_linear_from_bf16(uint16_t v);

/*
 * Whether the CPU (as oneDNN may use it: ONEDNN_MAX_CPU_ISA can lower
 * it) multiplies bf16 natively, with AVX512-BF16 or AMX.  Without, bf16
 * products are emulated and slower than fp32.
 */
bool dm_linear_bf16_native(void);

/* oneDNN's name for the instruction set it uses, e.g. "avx512_core_bf16". */
const char *dm_linear_isa_name(void);

#endif
