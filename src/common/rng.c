/*
 * rng.c - xoshiro256** (Blackman and Vigna, public domain algorithm)
 * seeded with splitmix64, plus stable hashing.
 */
#include "common/rng.h"

#include <math.h>

uint64_t dm_hash_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

void dm_rng_seed(dm_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15u;
        r->s[i] = dm_hash_mix64(seed);
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t dm_rng_next(dm_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t dm_rng_below(dm_rng_t *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection */
    uint64_t x = dm_rng_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;

    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = dm_rng_next(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double dm_rng_uniform(dm_rng_t *r)
{
    return (double)(dm_rng_next(r) >> 11) * 0x1.0p-53;
}

double dm_rng_normal(dm_rng_t *r)
{
    double u1, u2;

    do {
        u1 = dm_rng_uniform(r);
    } while (u1 <= 0.0);
    u2 = dm_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t dm_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325u ^ dm_hash_mix64(seed);

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3u;
    }
    return dm_hash_mix64(h);
}
