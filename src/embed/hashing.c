/*
 * hashing.c - the weight-free "hashing" embedder: signed feature hashing
 * of word unigrams, word bigrams and character trigrams into dim buckets,
 * then L2 normalisation.
 *
 * Words are the basic tokenizer's words (basic_tok.c, uncased pipeline, no
 * special tokens): text cleaned, CJK ideographs split off, NFD, accents
 * (Mn) removed, lower-cased, split on whitespace and punctuation.
 * Punctuation words are dropped (so a bigram joins the words on either
 * side of a comma, and "Hello, World!" embeds like "hello world"); a word
 * longer than DM_BASIC_WORD_MAX_CHARS code points keeps only its first
 * ones.
 *
 * Features of each word w (in UTF-8 bytes), with seeds per kind so that
 * equal strings of different kinds do not collide systematically:
 *   - unigram     w                                       weight 1
 *   - bigram      previous word + ' ' + w                 weight 1
 *   - trigrams    every 3 consecutive code points of "<" w ">"
 *                 ('<' and '>' cannot occur inside a word: they are
 *                 punctuation)                            weight 1/sqrt(t),
 *                 t = number of trigrams of w, so each word's trigram set
 *                 carries about as much weight as its unigram.
 * A feature's 64-bit dm_hash_bytes() value h picks bucket
 * (h & (2^63 - 1)) mod dim and sign + if bit 63 is 0, - otherwise.
 * Everything is integer hashing and IEEE float arithmetic in a fixed
 * order, so the vector is bit-identical on every machine.  Work is linear
 * in the text length; nothing allocates.
 */
#include "embed/hashing.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/rng.h"
#include "embed/basic_tok.h"

#define SEED_UNIGRAM UINT64_C(0x756e6967)
#define SEED_BIGRAM  UINT64_C(0x62696772)
#define SEED_TRIGRAM UINT64_C(0x74726967)

#define WORD_BYTES (DM_BASIC_WORD_MAX_CHARS * 4)

typedef struct hash_ctx {
    float *out;
    size_t dim;
    char prev[WORD_BYTES]; /* previous word, for bigrams */
    size_t prev_len;       /* 0: no previous word */
    char pair[2 * WORD_BYTES + 1];
    char padded[WORD_BYTES + 2];
} hash_ctx_t;

static void add_feature(hash_ctx_t *c, const void *p, size_t n, uint64_t seed,
                        float weight)
{
    uint64_t h = dm_hash_bytes(p, n, seed);
    size_t bucket = (size_t)((h & (UINT64_MAX >> 1)) % c->dim);

    c->out[bucket] += (h >> 63) ? -weight : weight;
}

static int hash_word(const dm_basic_word_t *w, void *arg)
{
    hash_ctx_t *c = arg;
    size_t len = w->off[w->nstored];
    size_t ntri = w->nstored; /* (nstored + 2) - 2 */
    float tw;

    if (w->punct || w->nstored == 0)
        return 0;
    add_feature(c, w->bytes, len, SEED_UNIGRAM, 1.0f);

    if (c->prev_len > 0) {
        memcpy(c->pair, c->prev, c->prev_len);
        c->pair[c->prev_len] = ' ';
        memcpy(c->pair + c->prev_len + 1, w->bytes, len);
        add_feature(c, c->pair, c->prev_len + 1 + len, SEED_BIGRAM, 1.0f);
    }
    memcpy(c->prev, w->bytes, len);
    c->prev_len = len;

    /* trigram k of "<" w ">" covers padded code points k..k+2; padded
     * code point j is '<' (j = 0), w's code point j - 1, or '>' */
    c->padded[0] = '<';
    memcpy(c->padded + 1, w->bytes, len);
    c->padded[len + 1] = '>';
    tw = (float)(1.0 / sqrt((double)ntri));
    for (size_t k = 0; k < ntri; k++) {
        size_t from = k == 0 ? 0 : 1 + (size_t)w->off[k - 1];
        size_t to =
            k + 3 <= w->nstored + 1 ? 1 + (size_t)w->off[k + 2] : len + 2;
        add_feature(c, c->padded + from, to - from, SEED_TRIGRAM, tw);
    }
    return 0;
}

void dm_hashing_embed(const char *text, size_t len, size_t dim, float *out)
{
    hash_ctx_t c;
    double ss = 0.0;

    if (dim == 0)
        return;
    memset(out, 0, dim * sizeof(float));
    c.out = out;
    c.dim = dim;
    c.prev_len = 0;
    if (len > 0)
        (void)dm_basic_tok_run(text, len, true, NULL, 0, hash_word, &c);
    for (size_t i = 0; i < dim; i++)
        ss += (double)out[i] * (double)out[i];
    if (ss > 0.0) {
        float scale = (float)(1.0 / sqrt(ss));
        for (size_t i = 0; i < dim; i++)
            out[i] *= scale;
    }
}
