/*
 * hashing.h - the weight-free "hashing" embedder: signed feature hashing
 * of lower-cased word unigrams, bigrams and character trigrams into dim
 * buckets, L2-normalised.  Deterministic on every machine; needs no files.
 * Thread-safe (no state).
 */
#ifndef DM_EMBED_HASHING_H
#define DM_EMBED_HASHING_H

#include <stddef.h>

/*
 * Embeds len bytes of text into out[0..dim-1] (dim >= 1).  A text with no
 * features (empty, only spaces) gives the zero vector.
 */
void dm_hashing_embed(const char *text, size_t len, size_t dim, float *out);

#endif
