/*
 * synth_emb.c - synthetic sentence-like embeddings (see synth_emb.h).
 */
#include "support/synth_emb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* scale of each component of a row before normalisation */
#define SHARED_W 0.65 /* common part of the topic centres */
#define STYLE_SD 0.25 /* per style direction */
#define NOISE_SD 0.75 /* isotropic noise, total norm */

static void normalise(double *v, size_t dim)
{
    double s = 0.0;

    for (size_t i = 0; i < dim; i++)
        s += v[i] * v[i];
    s = sqrt(s);
    if (s > 0.0)
        for (size_t i = 0; i < dim; i++)
            v[i] /= s;
}

void synth_space_init(synth_space_t *sp, size_t dim, size_t n_topics,
                      uint64_t seed)
{
    dm_rng_t rng;
    double *shared = malloc(dim * sizeof(*shared));

    dm_rng_seed(&rng, seed);
    sp->dim = dim;
    sp->n_topics = n_topics;
    sp->centres = malloc(n_topics * dim * sizeof(double));
    sp->basis = malloc(SYNTH_RANK * dim * sizeof(double));
    for (size_t i = 0; i < dim; i++)
        shared[i] = dm_rng_normal(&rng);
    normalise(shared, dim);
    for (size_t t = 0; t < n_topics; t++) {
        double *c = sp->centres + t * dim;

        for (size_t i = 0; i < dim; i++)
            c[i] = dm_rng_normal(&rng);
        normalise(c, dim);
        for (size_t i = 0; i < dim; i++)
            c[i] += SHARED_W * shared[i];
        normalise(c, dim);
    }
    for (size_t k = 0; k < SYNTH_RANK; k++) {
        double *b = sp->basis + k * dim;

        for (size_t i = 0; i < dim; i++)
            b[i] = dm_rng_normal(&rng);
        normalise(b, dim);
    }
    free(shared);
}

void synth_space_cleanup(synth_space_t *sp)
{
    free(sp->centres);
    free(sp->basis);
    memset(sp, 0, sizeof(*sp));
}

static size_t pick_topic(const double *w, size_t k, dm_rng_t *rng)
{
    double tot = 0.0, u;

    for (size_t i = 0; i < k; i++)
        tot += w[i];
    u = dm_rng_uniform(rng) * tot;
    for (size_t i = 0; i < k; i++) {
        if (u < w[i])
            return i;
        u -= w[i];
    }
    return k - 1;
}

void synth_draw(const synth_space_t *sp, const double *weights, size_t n,
                dm_rng_t *rng, double *out)
{
    size_t dim = sp->dim;
    double noise = NOISE_SD / sqrt((double)dim);

    for (size_t r = 0; r < n; r++) {
        double *x = out + r * dim;
        const double *c =
            sp->centres + pick_topic(weights, sp->n_topics, rng) * dim;

        for (size_t i = 0; i < dim; i++)
            x[i] = c[i] + noise * dm_rng_normal(rng);
        for (size_t k = 0; k < SYNTH_RANK; k++) {
            double a = STYLE_SD * dm_rng_normal(rng);
            const double *b = sp->basis + k * dim;

            for (size_t i = 0; i < dim; i++)
                x[i] += a * b[i];
        }
        normalise(x, dim);
    }
}

void synth_shift(double *x, size_t n, const double *ref, size_t n_ref,
                 size_t dim, size_t n_dims, double shift, dm_rng_t *rng)
{
    unsigned char *pick = calloc(dim, 1);

    for (size_t k = 0; k < n_dims && k < dim;) {
        size_t j = (size_t)dm_rng_below(rng, dim);

        if (pick[j])
            continue;
        pick[j] = 1;
        k++;
    }
    for (size_t j = 0; j < dim; j++) {
        double m = 0.0, v = 0.0, sd;

        if (!pick[j])
            continue;
        for (size_t r = 0; r < n_ref; r++)
            m += ref[r * dim + j];
        m /= (double)n_ref;
        for (size_t r = 0; r < n_ref; r++)
            v += (ref[r * dim + j] - m) * (ref[r * dim + j] - m);
        sd = sqrt(v / (double)(n_ref > 1 ? n_ref - 1 : 1));
        for (size_t r = 0; r < n; r++)
            x[r * dim + j] += shift * sd;
    }
    free(pick);
}
