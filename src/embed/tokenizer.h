/*
 * tokenizer.h - BERT uncased WordPiece tokenisation, exactly as Hugging
 * Face's BertTokenizer / BertTokenizerFast for all-MiniLM-L6-v2.
 *
 * Ownership: a dm_tokenizer_t owns its vocabulary; it is immutable after
 * loading, so one tokenizer may be used from several threads at once.
 */
#ifndef DM_EMBED_TOKENIZER_H
#define DM_EMBED_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct dm_tokenizer dm_tokenizer_t;

/*
 * Loads vocab.txt (one token per line, id = line number from 0).
 * lowercase selects the uncased pipeline (lower-case + strip accents).
 * Returns DM_OK, or DM_EIO / DM_EMODEL with "vocab.txt:LINE: reason" in
 * errbuf (missing [CLS]/[SEP]/[UNK]/[PAD], duplicate token, ...).
 */
int dm_tokenizer_load(const char *vocab_path, bool lowercase,
                      dm_tokenizer_t **out, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

/* NULL-safe. */
void dm_tokenizer_free(dm_tokenizer_t *tok);

/* Number of tokens in the vocabulary. */
size_t dm_tokenizer_vocab_size(const dm_tokenizer_t *tok);

/*
 * The token string of id (borrowed from tok, NUL-terminated), or NULL when
 * id is out of range.  Thread-safe.
 */
const char *dm_tokenizer_token(const dm_tokenizer_t *tok, int32_t id);

/* The id of the exact token string (no normalisation), or -1. */
int32_t dm_tokenizer_token_id(const dm_tokenizer_t *tok, const char *token);

/* The id of [PAD] (always present after a successful load). */
int32_t dm_tokenizer_pad_id(const dm_tokenizer_t *tok);

/*
 * Tokenises len bytes of text into ids: [CLS] wordpieces... [SEP],
 * truncated so the total is at most max_ids (>= 2).  Writes *n_out ids
 * into ids (room for max_ids).  Text need not be NUL-terminated and may
 * contain any bytes: invalid UTF-8 sequences are replaced by U+FFFD,
 * which the cleaning step then drops.  The exact strings [CLS], [SEP],
 * [PAD], [UNK] and [MASK] in the raw text become their ids, as in Hugging
 * Face.  Work is linear in len with no allocation, and stops once
 * max_ids - 2 pieces exist.  Returns DM_OK or DM_EINVAL (max_ids < 2;
 * nothing written, *n_out = 0).  Thread-safe.
 */
int dm_tokenizer_encode(const dm_tokenizer_t *tok, const char *text, size_t len,
                        int32_t *ids, size_t max_ids,
                        size_t *n_out) DM_MUSTCHECK;

#endif
