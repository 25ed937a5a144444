/*
 * kernels.c - vectorised float kernels of the encoder: the residual add,
 * LayerNorm and the row softmax of attention (the linear layers, with
 * their bias and GELU, are oneDNN's: linear.c).
 *
 * DESIGN
 * The matrix products run in oneDNN and OpenBLAS, which pick their own
 * SIMD kernels at run time; these loops do not, and the default build
 * targets baseline x86-64 (SSE2).  Softmax evaluates exp for every
 * element of every attention score matrix (hundreds of millions of calls
 * for a corpus of 2,000 sentences), so a scalar libm call would cost as
 * much as the matrix products.  Each
 * kernel is therefore written with GCC vector extensions on 16-float
 * vectors and compiled three times (AVX-512, AVX2+FMA, baseline) with
 * target_clones; the loader picks the best clone for the CPU.
 *
 * exp is Cephes' expf (range reduction by ln 2, degree-6 polynomial,
 * about 1 ulp).  Row tails that
 * do not fill a vector go through a zero-padded temporary vector, so every
 * element is computed by the same arithmetic whatever its position.
 * Reductions (LayerNorm mean and variance, softmax sum) use 16 partial
 * sums, which is also more accurate than one running float sum.
 */
#include "embed/kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* every function taking or returning a vector is inlined: no ABI issue */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

#define VL 16

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* FMA contraction is numerically harmless here and halves the work. */
#define DM_KERNEL                                                              \
    __attribute__((                                                            \
        target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),          \
        optimize("fp-contract=fast")))
#elif defined(__x86_64__) && defined(__clang__)
/*
 * clang rejects 64-byte vector values inside target_clones functions (an
 * ABI check made before inlining), so clang builds compile the kernels
 * for the baseline only; release builds use GCC.
 */
#define DM_KERNEL
#else
#define DM_KERNEL
#endif

#define INL static inline __attribute__((always_inline))

INL v16 splat(float s)
{
    v16 zero = {0.0f};

    return zero + s; /* one broadcast, unlike a 16-element initialiser */
}

INL v16 vload(const float *p)
{
    v16 v;

    memcpy(&v, p, sizeof(v));
    return v;
}

INL void vstore(float *p, v16 v)
{
    memcpy(p, &v, sizeof(v));
}

/* Loads n < VL floats, the other lanes set to pad. */
INL v16 vload_part(const float *p, size_t n, float pad)
{
    float tmp[VL];

    for (size_t i = 0; i < VL; i++)
        tmp[i] = i < n ? p[i] : pad;
    return vload(tmp);
}

INL v16 vsel(v16i mask, v16 a, v16 b)
{
    return (v16)((mask & (v16i)a) | (~mask & (v16i)b));
}

INL v16 vmax(v16 a, v16 b)
{
    return vsel(a > b, a, b);
}

INL v16 vmin(v16 a, v16 b)
{
    return vsel(a < b, a, b);
}

/*
 * Horizontal sum and max by rotation: every lane ends up with the result
 * (no broadcast needed) and the order of operations is the same in every
 * clone, so results do not depend on the CPU.
 */
#define ROT(v, k)                                                              \
    __builtin_shufflevector(                                                   \
        v, v, (k) % 16, (k + 1) % 16, (k + 2) % 16, (k + 3) % 16,              \
        (k + 4) % 16, (k + 5) % 16, (k + 6) % 16, (k + 7) % 16, (k + 8) % 16,  \
        (k + 9) % 16, (k + 10) % 16, (k + 11) % 16, (k + 12) % 16,             \
        (k + 13) % 16, (k + 14) % 16, (k + 15) % 16)

INL v16 vhsum(v16 v)
{
    v = v + ROT(v, 8);
    v = v + ROT(v, 4);
    v = v + ROT(v, 2);
    return v + ROT(v, 1);
}

INL v16 vhmax(v16 v)
{
    v = vmax(v, ROT(v, 8));
    v = vmax(v, ROT(v, 4));
    v = vmax(v, ROT(v, 2));
    return vmax(v, ROT(v, 1));
}

/* Cephes expf on 16 lanes; inputs clamped to [-87.3, 88]. */
INL v16 vexp(v16 x)
{
    const v16 magic = splat(12582912.0f); /* 1.5 * 2^23: round to int */
    v16 n, r, p;
    v16i ni;

    x = vmin(vmax(x, splat(-87.3f)), splat(88.0f));
    n = x * splat(1.44269504088896341f) + magic;
    ni = (v16i)n - (v16i)magic; /* the rounded integer, as int bits */
    n = n - magic;
    r = x - n * splat(0.693359375f);
    r = r - n * splat(-2.12194440e-4f);
    p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * (r * r) + r + splat(1.0f);
    return p * (v16)((ni + 127) << 23);
}

/* Branch-free so the compiler vectorises it (16 lanes in the AVX-512
 * clone). */
DM_KERNEL
void dm_kern_to_bf16(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u, r, q;

        memcpy(&u, &x[i], sizeof(u));
        r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        q = (u >> 16) | 0x0040u; /* a NaN stays a (quiet) NaN */
        y[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
    }
}

DM_KERNEL
void dm_kern_add(float *y, const float *x, size_t n)
{
    size_t i = 0;

    for (; i + VL <= n; i += VL)
        vstore(y + i, vload(y + i) + vload(x + i));
    for (; i < n; i++)
        y[i] += x[i];
}

/* Normalises one row t (width h) into out: (t - mean) / sd * g + b. */
INL void norm_row(const float *t, float *out, size_t h, const float *g,
                  const float *b, float eps)
{
    v16 acc = splat(0.0f), m, d;
    float mean, var, inv;
    size_t c = 0;

    for (; c + VL <= h; c += VL)
        acc += vload(t + c);
    if (c < h)
        acc += vload_part(t + c, h - c, 0.0f);
    m = vhsum(acc) / splat((float)h);
    mean = m[0];
    acc = splat(0.0f);
    for (c = 0; c + VL <= h; c += VL) {
        d = vload(t + c) - m;
        acc += d * d;
    }
    if (c < h) {
        d = vload_part(t + c, h - c, mean) - m;
        acc += d * d;
    }
    var = vhsum(acc)[0] / (float)h;
    inv = 1.0f / sqrtf(var + eps);
    for (c = 0; c + VL <= h; c += VL)
        vstore(out + c,
               (vload(t + c) - m) * splat(inv) * vload(g + c) + vload(b + c));
    for (; c < h; c++)
        out[c] = (t[c] - mean) * inv * g[c] + b[c];
}

DM_KERNEL
void dm_kern_layernorm(const float *x, float *out, size_t rows, size_t h,
                       const float *g, const float *b, float eps)
{
    for (size_t r = 0; r < rows; r++)
        norm_row(x + r * h, out + r * h, h, g, b, eps);
}

DM_KERNEL
void dm_kern_softmax_exp(float *s, size_t rows, size_t cols, size_t ld,
                         float *inv_sum)
{
    const size_t nvec = (cols + VL - 1) / VL, tail = cols - (nvec - 1) * VL;
    v16i live; /* lanes of the last vector that hold real columns */

    for (size_t i = 0; i < VL; i++)
        live[i] = i < tail ? -1 : 0;
    for (size_t r = 0; r < rows; r++) {
        float *row = s + r * ld;
        v16 acc = splat(-FLT_MAX), m, e;
        size_t k;

        /* the padding lanes of the last vector never take part */
        for (k = 0; k + 1 < nvec; k++)
            acc = vmax(acc, vload(row + k * VL));
        acc = vmax(acc, vsel(live, vload(row + k * VL), splat(-FLT_MAX)));
        m = vhmax(acc);
        acc = splat(0.0f);
        for (k = 0; k + 1 < nvec; k++) {
            e = vexp(vload(row + k * VL) - m);
            vstore(row + k * VL, e);
            acc += e;
        }
        e = vsel(live, vexp(vload(row + k * VL) - m), splat(0.0f));
        vstore(row + k * VL, e);
        acc += e;
        inv_sum[r] = 1.0f / vhsum(acc)[0];
    }
}

DM_KERNEL
void dm_kern_scale_rows(float *y, size_t rows, size_t cols, size_t ld,
                        const float *scale)
{
    for (size_t r = 0; r < rows; r++) {
        float *row = y + r * ld;
        size_t c = 0;

        for (; c + VL <= cols; c += VL)
            vstore(row + c, vload(row + c) * splat(scale[r]));
        for (; c < cols; c++)
            row[c] *= scale[r];
    }
}

float dm_kern_exp(float x)
{
    return vexp(splat(x))[0];
}
