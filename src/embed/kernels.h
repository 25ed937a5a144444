/*
 * kernels.h - the encoder's element-wise and row-wise float kernels
 * (internal to src/embed/; nothing outside the module includes this).
 *
 * Each kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64 and
 * picked at load time (GCC target_clones), because the default build
 * targets baseline x86-64 while these loops are a visible share of the
 * encoder's time.  The matrix products themselves go through BLAS.
 * All functions are pure on their arguments and thread-safe.
 */
#ifndef DM_EMBED_KERNELS_H
#define DM_EMBED_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Floats per vector: row padding unit of dm_kern_softmax(). */
#define DM_KERN_VL 16

/* y[i] = x[i] rounded to bf16 (nearest, ties to even; NaN stays NaN). */
void dm_kern_to_bf16(const float *x, uint16_t *y, size_t n);

/* y[i] += x[i] for i < n: the residual. */
void dm_kern_add(float *y, const float *x, size_t n);

/*
 * out = LayerNorm(x) row-wise (width h), with gain g and bias b; out may
 * be x.
 */
void dm_kern_layernorm(const float *x, float *out, size_t rows, size_t h,
                       const float *g, const float *b, float eps);

/*
 * The exponential part of a row softmax of s (rows x cols): each row
 * becomes exp(s - max(row)) and inv_sum[r] gets 1 / sum of the row, so
 * the caller can normalise after the product with V (fewer elements).
 * The leading dimension ld must be at least cols rounded up to a
 * multiple of DM_KERN_VL: the padding columns are read and overwritten
 * with zeros, never used.
 */
void dm_kern_softmax_exp(float *s, size_t rows, size_t cols, size_t ld,
                         float *inv_sum);

/* y[r*ld + c] *= scale[r] for r < rows, c < cols. */
void dm_kern_scale_rows(float *y, size_t rows, size_t cols, size_t ld,
                        const float *scale);

/* Scalar reference version, for tests: exp as the kernels compute it. */
float dm_kern_exp(float x);

#endif
