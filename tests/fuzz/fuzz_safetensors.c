/*
 * fuzz_safetensors.c - libFuzzer target: the safetensors reader.  The
 * input is written to a scratch file and opened with dm_st_open() (which
 * reads it into an exact-size buffer, as the model loader does, so ASan
 * catches any read past its end); every tensor of a file that
 * opens is checked to lie inside the file, be findable by name, and
 * convert to float32 when its dtype is F32, F16 or BF16.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)dm_fuzz_tmpdir();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_st_file_t *f = NULL;
    char path[8192], err[512] = "";
    const unsigned char *bytes;
    size_t len;
    volatile float sink = 0;

    dm_fuzz_write(dm_fuzz_tmpdir(), "model.safetensors", data, size);
    snprintf(path, sizeof(path), "%s/model.safetensors", dm_fuzz_tmpdir());
    if (dm_st_open(path, &f, err, sizeof(err)) != DM_OK) {
        if (f != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    bytes = dm_st_bytes(f, &len);
    if (len != size || memcmp(bytes, data, size) != 0)
        abort();
    for (size_t i = 0; i < dm_st_count(f); i++) {
        const dm_st_tensor_t *t = dm_st_at(f, i);
        const float *v = NULL;
        float *owned = NULL;

        if (t == NULL || dm_st_find(f, t->name) != t)
            abort();
        if (t->end < t->begin ||
            t->end - t->begin != t->nelem * dm_st_dtype_size(t->dtype) ||
            t->data < bytes || t->data + (t->end - t->begin) > bytes + len)
            abort();
        if (t->dtype != DM_ST_F32 && t->dtype != DM_ST_F16 &&
            t->dtype != DM_ST_BF16)
            continue;
        if (dm_st_tensor_f32(f, t, &v, &owned, err, sizeof(err)) != DM_OK)
            abort();
        for (size_t j = 0; j < t->nelem; j++)
            sink += v[j];
        free(owned);
    }
    (void)sink;
    dm_st_close(f);
    return 0;
}
