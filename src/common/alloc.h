/*
 * alloc.h - allocation wrappers.
 *
 * Like Redis' zmalloc, these never return NULL: an allocation failure
 * logs and aborts, because every input-driven size in driftmon is capped
 * before it reaches an allocator (request bodies, lines, tokenizer input,
 * model tensors), so running out of memory is an operational fault, not
 * a bad input.  Sizes are checked for multiplication overflow.
 * Memory from these functions is released with free() or dm_free().
 */
#ifndef DM_COMMON_ALLOC_H
#define DM_COMMON_ALLOC_H

#include <stddef.h>

void *dm_malloc(size_t size);
void *dm_calloc(size_t nmemb, size_t size);
/* Like dm_malloc(nmemb * size), aborting on overflow. */
void *dm_mallocarray(size_t nmemb, size_t size);
void *dm_realloc(void *ptr, size_t size);
void *dm_reallocarray(void *ptr, size_t nmemb, size_t size);
/* Copies a NUL-terminated string; NULL gives NULL. */
char *dm_strdup(const char *s);
/* Copies n bytes of s and appends a NUL. */
char *dm_strndup(const char *s, size_t n);
/* NULL-safe free. */
void dm_free(void *ptr);

#endif
