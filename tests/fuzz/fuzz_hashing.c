/*
 * fuzz_hashing.c - libFuzzer target: the weight-free hashing embedder on
 * arbitrary bytes.  The first input byte picks the dimension (1..256,
 * plus 384 for 0); the rest is the text.  Checks: every value is finite,
 * the vector's L2 norm is 0 (no features) or 1, and the output is
 * deterministic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "embed/hashing.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float out[384], again[384];
    size_t dim;
    double norm = 0;
    char *text;

    if (size < 1)
        return 0;
    dim = data[0] == 0 ? 384 : data[0];
    /* exact size: over-reads are caught */
    text = dm_malloc(size > 1 ? size - 1 : 1);
    memcpy(text, data + 1, size - 1);
    dm_hashing_embed(text, size - 1, dim, out);
    for (size_t i = 0; i < dim; i++) {
        if (!isfinite(out[i]))
            abort();
        norm += (double)out[i] * (double)out[i];
    }
    if (norm != 0 && fabs(sqrt(norm) - 1) > 1e-5)
        abort();
    dm_hashing_embed(text, size - 1, dim, again);
    if (memcmp(out, again, dim * sizeof(float)) != 0)
        abort();
    free(text);
    return 0;
}
