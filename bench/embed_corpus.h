/*
 * embed_corpus.h - a deterministic corpus of feedback-like texts (a user
 * query followed by an assistant response) for the embedding benchmark.
 * Words are whole-word tokens of a real WordPiece vocabulary, drawn with
 * a Zipf-like bias toward frequent words, plus punctuation, so token
 * counts are realistic: each text aims at a log-normal length (median
 * ~60 tokens) clamped to [10, 200].
 */
#ifndef DM_BENCH_EMBED_CORPUS_H
#define DM_BENCH_EMBED_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct dm_corpus {
    char **texts; /* n NUL-terminated texts (owned) */
    size_t *lens;
    size_t n;
} dm_corpus_t;

/*
 * Builds n texts from the words of vocab_path with seed.  Returns DM_OK,
 * or DM_EIO / DM_EINVAL (too few usable words) with a message.
 */
int dm_corpus_make(const char *vocab_path, size_t n, uint64_t seed,
                   dm_corpus_t *out, char *errbuf, size_t errlen);

/* Frees the texts. */
void dm_corpus_free(dm_corpus_t *c);

#endif
