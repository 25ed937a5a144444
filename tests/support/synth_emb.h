/*
 * synth_emb.h - synthetic sentence-like embeddings for the statistics
 * simulations (tests and bench/): a mixture of topics, each a direction
 * in a shared subspace, plus a low-rank "style" component and isotropic
 * noise, L2-normalised like a sentence encoder's output.  Topic centres
 * share a common component, so they are correlated (cosine about 0.3)
 * as real topics are, not orthogonal.
 *
 * Test support only: not part of the driftmon library.
 */
#ifndef DM_TESTS_SYNTH_EMB_H
#define DM_TESTS_SYNTH_EMB_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"

#define SYNTH_MAX_TOPICS 32
#define SYNTH_RANK       16

typedef struct synth_space {
    size_t dim;
    size_t n_topics;
    double *centres; /* n_topics x dim, unit rows */
    double *basis;   /* SYNTH_RANK x dim, the style directions */
} synth_space_t;

/* A space of n_topics topic centres in dim dimensions, from seed. */
void synth_space_init(synth_space_t *sp, size_t dim, size_t n_topics,
                      uint64_t seed);
void synth_space_cleanup(synth_space_t *sp);

/*
 * Writes n rows (n x dim) to out; each row's topic drawn from weights
 * (n_topics non-negative weights, need not sum to 1).
 */
void synth_draw(const synth_space_t *sp, const double *weights, size_t n,
                dm_rng_t *rng, double *out);

/*
 * Adds shift (in units of each dimension's standard deviation, estimated
 * from ref: n_ref rows) to n_dims dimensions chosen by rng, in all n rows
 * of x.  No renormalisation.
 */
void synth_shift(double *x, size_t n, const double *ref, size_t n_ref,
                 size_t dim, size_t n_dims, double shift, dm_rng_t *rng);

#endif
