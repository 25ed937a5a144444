/*
 * utf8.h - the one UTF-8 validity rule for text from outside (ingested
 * rows, texts given to `embed` and `tokenize`).
 */
#ifndef DM_COMMON_UTF8_H
#define DM_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether the n bytes at s are valid UTF-8: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence.  A NUL byte (U+0000) is refused unless allow_nul (stored
 * text never holds one; a tokenizer input may).  Thread-safe.
 */
bool dm_utf8_valid(const char *s, size_t n, bool allow_nul);

#endif
