/*
 * rng.h - a small seeded pseudo-random generator and a stable hash.
 *
 * dm_rng_t is xoshiro256** seeded through splitmix64: fast, good enough
 * for permutation tests and synthetic data, and identical on every
 * machine for a given seed, so every statistic driftmon reports can be
 * reproduced.  Not for cryptography.  A dm_rng_t is not shared between
 * threads; give each thread its own.
 */
#ifndef DM_COMMON_RNG_H
#define DM_COMMON_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct dm_rng {
    uint64_t s[4];
} dm_rng_t;

/* Seeds the generator; any seed (including 0) is fine. */
void dm_rng_seed(dm_rng_t *r, uint64_t seed);
/* Next 64 uniformly random bits. */
uint64_t dm_rng_next(dm_rng_t *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t dm_rng_below(dm_rng_t *r, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double dm_rng_uniform(dm_rng_t *r);
/* Standard normal deviate (Box-Muller; draws two uniforms per call). */
double dm_rng_normal(dm_rng_t *r);

/* splitmix64 finaliser: a bijective 64-bit mixer. */
uint64_t dm_hash_mix64(uint64_t x);
/* FNV-1a 64 of n bytes, then mixed: stable across machines and runs. */
uint64_t dm_hash_bytes(const void *p, size_t n, uint64_t seed);

#endif
