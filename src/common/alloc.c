/*
 * alloc.c - allocation wrappers that abort on exhaustion or overflow.
 */
#include "common/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size)
{
    fprintf(stderr, "driftmon: fatal: out of memory allocating %zu bytes\n",
            size);
    abort();
}

void *dm_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *dm_calloc(size_t nmemb, size_t size)
{
    void *p;

    if (nmemb == 0 || size == 0)
        nmemb = size = 1;
    p = calloc(nmemb, size);
    if (p == NULL)
        oom(nmemb * size);
    return p;
}

void *dm_mallocarray(size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        oom(SIZE_MAX);
    return dm_malloc(nmemb * size);
}

void *dm_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *dm_reallocarray(void *ptr, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        oom(SIZE_MAX);
    return dm_realloc(ptr, nmemb * size);
}

char *dm_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return dm_strndup(s, strlen(s));
}

char *dm_strndup(const char *s, size_t n)
{
    char *p = dm_malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void dm_free(void *ptr)
{
    free(ptr);
}
