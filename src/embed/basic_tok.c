/*
 * basic_tok.c - BERT's basic tokenisation (clean text, CJK spacing, NFD +
 * accent stripping + lower-casing, whitespace and punctuation splitting)
 * as a single streaming pass over UTF-8 bytes.  See basic_tok.h for the
 * exact pipeline and the treatment of invalid UTF-8.
 *
 * DESIGN
 * The reference normalises the whole text and then splits it.  Every step
 * but one works code point by code point, so the pass here decodes one
 * code point, normalises it and feeds the result to a word builder.  The
 * exception is the canonical reordering that NFD applies to runs of
 * combining characters (ccc != 0).  Nonspacing marks (Mn) are dropped
 * anyway, and a stable sort restricted to the kept characters gives the
 * same order as sorting the whole run, so only the kept combining
 * characters (spacing marks with ccc != 0, rare) wait in a small pending
 * array until the next starter and are then stably sorted by ccc.  A run
 * longer than the array makes its word longer than
 * DM_BASIC_WORD_MAX_CHARS, and such a word is [UNK] whatever its order.
 *
 * All state lives in a struct on the caller's stack; nothing allocates.
 * ASCII takes a fast path that never calls utf8proc.
 */
#include "embed/basic_tok.h"

#include <string.h>
#include <utf8proc.h>

/* Kept combining characters waiting for canonical reordering. */
#define PENDING_MAX (DM_BASIC_WORD_MAX_CHARS + 1)

enum ascii_class { C_WORD, C_SPACE, C_PUNCT, C_DROP };

typedef struct run {
    char bytes[DM_BASIC_WORD_MAX_CHARS * 4];
    uint16_t off[DM_BASIC_WORD_MAX_CHARS + 1];
    size_t nstored;
    size_t nchars;
    int32_t pending[PENDING_MAX];
    uint8_t pending_ccc[PENDING_MAX];
    size_t npending;
    bool uncased;
    dm_basic_word_cb cb;
    void *ctx;
    int stopped;
} run_t;

size_t dm_basic_utf8_decode(const unsigned char *s, size_t len, int32_t *cp)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;
    int32_t v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* Unicode Table 3-7, well-formed UTF-8 byte sequences */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90; /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *cp = 0xFFFD; /* continuation byte, C0, C1 or F5..FF */
        return 1;
    }
    if (len < need + 1) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t k = 1; k <= need; k++) {
        unsigned char b = s[k];
        if (b < lo || b > hi) {
            *cp = 0xFFFD;
            return 1;
        }
        lo = 0x80;
        hi = 0xBF;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return need + 1;
}

static enum ascii_class ascii_class(unsigned c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return C_SPACE;
    if (c < 32 || c == 127)
        return C_DROP;
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return C_PUNCT;
    return C_WORD;
}

/* BERT's _is_chinese_char ranges (CJK Unified Ideographs and extensions,
 * compatibility ideographs). */
static bool is_cjk(int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B820 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static bool is_punct(int32_t cp, int cat)
{
    if (cp < 128)
        return ascii_class((unsigned)cp) == C_PUNCT;
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

static void word_add(run_t *r, int32_t cp)
{
    size_t at;
    utf8proc_ssize_t n;

    r->nchars++;
    if (r->nstored == DM_BASIC_WORD_MAX_CHARS)
        return;
    at = r->off[r->nstored];
    n = utf8proc_encode_char(cp, (utf8proc_uint8_t *)r->bytes + at);
    r->off[++r->nstored] = (uint16_t)(at + (size_t)n);
}

static void word_reset(run_t *r)
{
    r->nstored = 0;
    r->nchars = 0;
    r->off[0] = 0;
}

static void emit(run_t *r, int special, bool punct)
{
    dm_basic_word_t w;

    w.bytes = r->bytes;
    w.off = r->off;
    w.nstored = r->nstored;
    w.nchars = r->nchars;
    w.special = special;
    w.punct = punct;
    if (r->cb(&w, r->ctx) != 0)
        r->stopped = 1;
}

/* Canonical reordering: stable insertion sort by combining class. */
static void pending_flush(run_t *r)
{
    for (size_t i = 1; i < r->npending; i++) {
        int32_t cp = r->pending[i];
        uint8_t ccc = r->pending_ccc[i];
        size_t j = i;
        while (j > 0 && r->pending_ccc[j - 1] > ccc) {
            r->pending[j] = r->pending[j - 1];
            r->pending_ccc[j] = r->pending_ccc[j - 1];
            j--;
        }
        r->pending[j] = cp;
        r->pending_ccc[j] = ccc;
    }
    for (size_t i = 0; i < r->npending; i++)
        word_add(r, r->pending[i]);
    r->npending = 0;
}

static void word_end(run_t *r)
{
    if (r->npending > 0)
        pending_flush(r);
    if (r->nchars > 0 && !r->stopped)
        emit(r, -1, false);
    word_reset(r);
}

static void single_word(run_t *r, int32_t cp, bool punct)
{
    word_end(r);
    if (r->stopped)
        return;
    word_add(r, cp);
    emit(r, -1, punct);
    word_reset(r);
}

/* A starter after normalisation: punctuation or part of the word. */
static void put_starter(run_t *r, int32_t cp, int cat)
{
    if (is_punct(cp, cat))
        single_word(r, cp, true);
    else
        word_add(r, cp);
}

/* One code point of the NFD of the cleaned text (uncased pipeline). */
static void put_decomposed(run_t *r, int32_t d)
{
    const utf8proc_property_t *p = utf8proc_get_property(d);
    uint8_t ccc = (uint8_t)p->combining_class;

    if (ccc == 0 && r->npending > 0)
        pending_flush(r);
    if (p->category == UTF8PROC_CATEGORY_MN)
        return;
    d = utf8proc_tolower(d);
    if (ccc != 0) {
        if (r->npending == PENDING_MAX)
            pending_flush(r);
        r->pending[r->npending] = d;
        r->pending_ccc[r->npending] = ccc;
        r->npending++;
        return;
    }
    put_starter(r, d, p->category);
}

/* One non-ASCII code point of the raw text. */
static void put_raw(run_t *r, int32_t cp)
{
    const utf8proc_property_t *p = utf8proc_get_property(cp);
    int cat = p->category;
    utf8proc_int32_t dec[8];
    utf8proc_ssize_t n;

    switch (cat) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
        return;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        word_end(r);
        return;
    default:
        break;
    }
    if (cp == 0xFFFD)
        return;
    if (!r->uncased) {
        if (is_cjk(cp))
            single_word(r, cp, false);
        else
            put_starter(r, cp, cat);
        return;
    }
    n = utf8proc_decompose_char(cp, dec, 8, UTF8PROC_DECOMPOSE, NULL);
    if (n < 1 || n > 8) {
        dec[0] = cp; /* cannot happen for a valid scalar value */
        n = 1;
    }
    if (is_cjk(cp)) {
        /* spaced before NFD, as the reference does; compatibility
         * ideographs decompose to a single unified ideograph */
        word_end(r);
        for (utf8proc_ssize_t k = 0; k < n; k++)
            put_decomposed(r, dec[k]);
        word_end(r);
        return;
    }
    for (utf8proc_ssize_t k = 0; k < n && !r->stopped; k++)
        put_decomposed(r, dec[k]);
}

/* Longest special string matching at s (bytes left: len), or -1. */
static int match_special(const unsigned char *s, size_t len,
                         const dm_basic_special_t *specials, size_t nspecials)
{
    int best = -1;
    size_t best_len = 0;

    for (size_t k = 0; k < nspecials; k++) {
        size_t l = specials[k].len;
        if (l > best_len && l <= len && memcmp(s, specials[k].str, l) == 0) {
            best = (int)k;
            best_len = l;
        }
    }
    return best;
}

int dm_basic_tok_run(const char *text, size_t len, bool uncased,
                     const dm_basic_special_t *specials, size_t nspecials,
                     dm_basic_word_cb cb, void *ctx)
{
    const unsigned char *s = (const unsigned char *)text;
    uint64_t first[4] = {0, 0, 0, 0};
    run_t r;
    size_t i = 0;

    r.npending = 0;
    r.uncased = uncased;
    r.cb = cb;
    r.ctx = ctx;
    r.stopped = 0;
    word_reset(&r);
    for (size_t k = 0; k < nspecials; k++) {
        unsigned char b = (unsigned char)specials[k].str[0];
        first[b >> 6] |= UINT64_C(1) << (b & 63);
    }

    while (i < len && !r.stopped) {
        unsigned char c = s[i];
        int32_t cp;

        if (first[c >> 6] & (UINT64_C(1) << (c & 63))) {
            int k = match_special(s + i, len - i, specials, nspecials);
            if (k >= 0) {
                word_end(&r);
                if (r.stopped)
                    break;
                emit(&r, k, false);
                i += specials[k].len;
                continue;
            }
        }
        if (c < 0x80) {
            i++;
            switch (ascii_class(c)) {
            case C_DROP:
                break;
            case C_SPACE:
                word_end(&r);
                break;
            case C_PUNCT:
                single_word(&r, c, true);
                break;
            case C_WORD:
                if (r.npending > 0)
                    pending_flush(&r);
                if (uncased && c >= 'A' && c <= 'Z')
                    c = (unsigned char)(c + ('a' - 'A'));
                word_add(&r, c);
                break;
            }
            continue;
        }
        i += dm_basic_utf8_decode(s + i, len - i, &cp);
        put_raw(&r, cp);
    }
    if (!r.stopped)
        word_end(&r);
    return r.stopped;
}
