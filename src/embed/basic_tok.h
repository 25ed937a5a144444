/*
 * basic_tok.h - private to src/embed/: BERT's "basic" (pre-WordPiece)
 * tokenisation as a streaming word splitter, shared by the WordPiece
 * tokenizer (tokenizer.c) and the hashing embedder (hashing.c).
 *
 * The pipeline is Hugging Face's BertNormalizer + BertPreTokenizer:
 *   1. UTF-8 decoding; every byte that does not start a valid, shortest-form
 *      sequence of a scalar value (truncated sequences, overlongs,
 *      surrogates, > U+10FFFF, stray continuation bytes, 0xF8..0xFF)
 *      becomes one U+FFFD, which step 2 drops.
 *   2. clean text: NUL, U+FFFD and every code point of a C* category (Cc,
 *      Cf, Cn, Co, Cs) except \t \n \r are removed; \t \n \r and Z*
 *      (Zs, and U+2028/U+2029 which the reference splits on as well) are
 *      word boundaries.
 *   3. CJK ideographs (BERT's _is_chinese_char ranges) are words of their
 *      own.
 *   4. uncased only: canonical decomposition (NFD, with canonical
 *      reordering), removal of Mn, lower-casing per code point
 *      (utf8proc_tolower: Python's str.lower() without the final-sigma
 *      rule, which the reference does not apply either).
 *   5. every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, and
 *      Unicode P*) is a word of its own.
 * Optionally, literal special-token strings are matched in the raw bytes
 * before all of this (as Hugging Face does with its added tokens); they
 * split the text and are reported as special words.
 *
 * Work is linear in the text length with constant memory: no allocation
 * at all.  A word keeps its first DM_BASIC_WORD_MAX_CHARS code points and
 * counts the rest, so callers can treat longer words as unknown.
 */
#ifndef DM_EMBED_BASIC_TOK_H
#define DM_EMBED_BASIC_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* WordPiece's max_input_chars_per_word: longer words become [UNK]. */
#define DM_BASIC_WORD_MAX_CHARS 100

/* One word as the callback sees it; everything is borrowed for the call. */
typedef struct dm_basic_word {
    const char *bytes;   /* UTF-8 of the first nstored code points */
    const uint16_t *off; /* off[i]: byte offset of code point i; off[nstored]
                            is the byte length */
    size_t nstored;      /* code points kept (<= DM_BASIC_WORD_MAX_CHARS) */
    size_t nchars;       /* code points in the word (may exceed nstored) */
    int special;         /* >= 0: index of the special string matched (the
                            word is then empty); -1 otherwise */
    bool punct;          /* a single punctuation character */
} dm_basic_word_t;

/* Called once per word, in order; a nonzero return stops the run. */
typedef int (*dm_basic_word_cb)(const dm_basic_word_t *w, void *ctx);

/* A literal string matched in the raw text (e.g. "[SEP]"). */
typedef struct dm_basic_special {
    const char *str;
    size_t len; /* >= 1 */
} dm_basic_special_t;

/*
 * Splits len bytes of text (any bytes; need not be NUL-terminated) into
 * words, calling cb for each.  uncased selects step 4.  specials (may be
 * NULL when nspecials is 0) are tried, in order, at every raw byte
 * position; the first that matches wins.  Returns 1 if cb stopped the run,
 * 0 otherwise.  Thread-safe (all state is on the stack).
 */
int dm_basic_tok_run(const char *text, size_t len, bool uncased,
                     const dm_basic_special_t *specials, size_t nspecials,
                     dm_basic_word_cb cb, void *ctx);

/*
 * Decodes one code point from s[0..len-1] (len >= 1) into *cp and returns
 * the number of bytes consumed (1..4).  Invalid input gives U+FFFD and
 * consumes exactly one byte.  Never reads past s[len-1].
 */
size_t dm_basic_utf8_decode(const unsigned char *s, size_t len, int32_t *cp);

#endif
