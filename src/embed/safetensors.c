/*
 * safetensors.c - validating safetensors reader.
 *
 * The whole file is read once into memory the reader owns; the JSON
 * header is parsed with jansson into a table of tensors whose data
 * pointers borrow from that copy.  The file is read rather than
 * memory-mapped because a running service keeps its model for the life
 * of the process: with a mapping, truncating the file on disk made the
 * next access raise SIGBUS (the service died), and rewriting it in place
 * silently changed the weights under a fingerprint that still named the
 * old ones.  A private copy is immune to both; it costs the same resident
 * memory as the mapping did once touched (the fingerprint reads every
 * byte), as anonymous instead of file pages.  The read checks that the
 * file kept the size and times it had when opened, so a copy taken while
 * someone wrote the file is an error, not a mix of two files.
 *
 * Validation happens entirely in dm_st_open(), so a file that opened is
 * internally consistent: every tensor's bytes lie inside the
 * data section, have exactly the size that dtype x shape requires, and do
 * not overlap another tensor's bytes.  Holes between tensors are allowed
 * (the format does not forbid padding); tensors may appear in any order
 * in the header (it is sorted by name, the data usually by dtype).
 *
 * Conversion of F16 / BF16 to float32 is done here too, so the model
 * loader only ever sees float arrays.
 */
#include "embed/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"

struct dm_st_file {
    char *path;
    unsigned char *bytes; /* the whole file, owned (malloc) */
    size_t len;
    const unsigned char *data; /* data section = bytes + 8 + header length */
    size_t data_len;
    dm_st_tensor_t *tensors;
    size_t n;
};

static const struct {
    const char *name;
    dm_st_dtype_t dtype;
    size_t size;
} dtypes[] = {
    {"F32", DM_ST_F32, 4},         {"F16", DM_ST_F16, 2},
    {"BF16", DM_ST_BF16, 2},       {"F64", DM_ST_F64, 8},
    {"I64", DM_ST_I64, 8},         {"I32", DM_ST_I32, 4},
    {"I16", DM_ST_I16, 2},         {"I8", DM_ST_I8, 1},
    {"U64", DM_ST_U64, 8},         {"U32", DM_ST_U32, 4},
    {"U16", DM_ST_U16, 2},         {"U8", DM_ST_U8, 1},
    {"BOOL", DM_ST_BOOL, 1},       {"F8_E4M3", DM_ST_F8_E4M3, 1},
    {"F8_E5M2", DM_ST_F8_E5M2, 1},
};
#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

const char *dm_st_dtype_name(dm_st_dtype_t dtype)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].name;
    return "?";
}

size_t dm_st_dtype_size(dm_st_dtype_t dtype)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].size;
    return 0;
}

static int dtype_parse(const char *s, dm_st_dtype_t *out)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(dtypes[i].name, s) == 0) {
            *out = dtypes[i].dtype;
            return 0;
        }
    return -1;
}

/* A JSON integer >= 0 that fits size_t; -1 otherwise. */
static int json_size(const json_t *j, size_t *out)
{
    json_int_t v;

    if (!json_is_integer(j))
        return -1;
    v = json_integer_value(j);
    if (v < 0 || (unsigned long long)v > (unsigned long long)SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Parses one header entry into t (name already set). */
static int entry_parse(dm_st_file_t *f, const char *key, const json_t *e,
                       dm_st_tensor_t *t, char *errbuf, size_t errlen)
{
    const json_t *dt, *shape, *offs, *v;
    size_t i, esize, nbytes;

    if (!json_is_object(e))
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': entry is not an object", f->path,
                          key);
    dt = json_object_get(e, "dtype");
    shape = json_object_get(e, "shape");
    offs = json_object_get(e, "data_offsets");
    if (!json_is_string(dt))
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': missing or non-string 'dtype'",
                          f->path, key);
    if (dtype_parse(json_string_value(dt), &t->dtype) != 0)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': unknown dtype '%.32s'", f->path,
                          key, json_string_value(dt));
    if (!json_is_array(shape) || json_array_size(shape) > DM_ST_MAX_DIMS)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': 'shape' must be an array of at "
                          "most %d integers",
                          f->path, key, DM_ST_MAX_DIMS);
    t->ndim = json_array_size(shape);
    t->nelem = 1;
    json_array_foreach(shape, i, v)
    {
        if (json_size(v, &t->shape[i]) != 0)
            return dm_err_set(errbuf, errlen, DM_EPARSE,
                              "%s: tensor '%s': shape[%zu] is not a "
                              "non-negative integer",
                              f->path, key, i);
        if (t->shape[i] != 0 && t->nelem > SIZE_MAX / t->shape[i])
            return dm_err_set(errbuf, errlen, DM_EPARSE,
                              "%s: tensor '%s': shape too large", f->path, key);
        t->nelem *= t->shape[i];
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        json_size(json_array_get(offs, 0), &t->begin) != 0 ||
        json_size(json_array_get(offs, 1), &t->end) != 0)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': 'data_offsets' must be two "
                          "non-negative integers",
                          f->path, key);
    if (t->begin > t->end || t->end > f->data_len)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': data_offsets [%zu, %zu] outside "
                          "the data section (%zu bytes)",
                          f->path, key, t->begin, t->end, f->data_len);
    esize = dm_st_dtype_size(t->dtype);
    if (t->nelem > SIZE_MAX / esize)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': shape too large", f->path, key);
    nbytes = t->nelem * esize;
    if (t->end - t->begin != nbytes)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "%s: tensor '%s': %zu data bytes, but dtype %s and "
                          "its shape need %zu",
                          f->path, key, t->end - t->begin,
                          dm_st_dtype_name(t->dtype), nbytes);
    t->data = f->data + t->begin;
    return DM_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const dm_st_tensor_t *x = *(dm_st_tensor_t *const *)a;
    const dm_st_tensor_t *y = *(dm_st_tensor_t *const *)b;

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Every tensor's bytes are disjoint from every other's. */
static int check_overlap(dm_st_file_t *f, char *errbuf, size_t errlen)
{
    dm_st_tensor_t **order = NULL;
    int rc = DM_OK;

    if (f->n < 2)
        return DM_OK;
    order = dm_mallocarray(f->n, sizeof(*order));
    for (size_t i = 0; i < f->n; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->n, sizeof(*order), cmp_begin);
    for (size_t i = 1; i < f->n; i++) {
        /* empty tensors occupy no bytes and cannot overlap anything */
        if (order[i]->begin == order[i]->end)
            continue;
        for (size_t j = i; j-- > 0;) {
            if (order[j]->begin == order[j]->end)
                continue;
            if (order[i]->begin < order[j]->end)
                rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                                "%s: tensor '%s': data_offsets [%zu, %zu] "
                                "overlap tensor '%s' [%zu, %zu]",
                                f->path, order[i]->name, order[i]->begin,
                                order[i]->end, order[j]->name, order[j]->begin,
                                order[j]->end);
            break;
        }
        if (rc != DM_OK)
            break;
    }
    free(order);
    return rc;
}

static int header_parse(dm_st_file_t *f, const char *hdr, size_t hlen,
                        char *errbuf, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *key;
    size_t cap;
    int rc = DM_OK;

    root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "%s: header is not valid JSON: %s (offset %d)", f->path,
                        jerr.text, jerr.position);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "%s: header is not a JSON object", f->path);
        goto out;
    }
    cap = json_object_size(root);
    f->tensors = dm_calloc(cap ? cap : 1, sizeof(*f->tensors));
    json_object_foreach(root, key, v)
    {
        dm_st_tensor_t *t;

        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                                "%s: '__metadata__' is not an object", f->path);
                goto out;
            }
            continue;
        }
        t = &f->tensors[f->n++];
        t->name = dm_strdup(key);
        rc = entry_parse(f, key, v, t, errbuf, errlen);
        if (rc != DM_OK)
            goto out;
    }
    rc = check_overlap(f, errbuf, errlen);
out:
    json_decref(root);
    return rc;
}

/* The file's identity, size and times are the same in a and b. */
static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Reads exactly len bytes of fd (whose fstat() was *st) into buf, and
 * checks that the file neither grew nor shrank nor was written meanwhile.
 */
static int read_exact(int fd, const char *path, const struct stat *st,
                      unsigned char *buf, size_t len, char *errbuf,
                      size_t errlen)
{
    struct stat after;
    size_t got = 0;
    unsigned char extra;
    ssize_t n;

    while (got < len) {
        n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot read: %s",
                              path, strerror(errno));
        if (n == 0)
            return dm_err_set(errbuf, errlen, DM_EIO,
                              "%s: shrank while being read (%zu of %zu "
                              "bytes)",
                              path, got, len);
        got += (size_t)n;
    }
    do
        n = read(fd, &extra, 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot read: %s", path,
                          strerror(errno));
    if (n > 0 || fstat(fd, &after) != 0 || !same_file(st, &after))
        return dm_err_set(errbuf, errlen, DM_EIO,
                          "%s: changed while being read (is it being "
                          "written?)",
                          path);
    return DM_OK;
}

int dm_st_open(const char *path, dm_st_file_t **out, char *errbuf,
               size_t errlen)
{
    dm_st_file_t *f = NULL;
    struct stat st;
    uint64_t hlen = 0;
    int fd = -1, rc = DM_OK;

    *out = NULL;
    f = dm_calloc(1, sizeof(*f));
    f->path = dm_strdup(path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot open: %s", path,
                        strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size < 8) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "%s: truncated: %lld bytes, no header length", path,
                        (long long)st.st_size);
        goto out;
    }
    if ((unsigned long long)st.st_size > DM_ST_MAX_FILE) {
        rc = dm_err_set(errbuf, errlen, DM_ETOOBIG,
                        "%s: %lld bytes, more than the %llu byte limit", path,
                        (long long)st.st_size,
                        (unsigned long long)DM_ST_MAX_FILE);
        goto out;
    }
    f->len = (size_t)st.st_size;
    /* plain malloc: a model too big for memory fails the load (and the
     * check that wanted it), it does not abort the service */
    f->bytes = malloc(f->len);
    if (f->bytes == NULL) {
        rc = dm_err_set(errbuf, errlen, DM_ENOMEM,
                        "%s: cannot allocate %zu bytes to load it", path,
                        f->len);
        goto out;
    }
    rc = read_exact(fd, path, &st, f->bytes, f->len, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | f->bytes[i];
    if (hlen > DM_ST_MAX_HEADER) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "%s: header length %llu exceeds the %llu byte limit",
                        path, (unsigned long long)hlen,
                        (unsigned long long)DM_ST_MAX_HEADER);
        goto out;
    }
    if (hlen > f->len - 8) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "%s: truncated: header length %llu but only %zu "
                        "bytes follow",
                        path, (unsigned long long)hlen, f->len - 8);
        goto out;
    }
    f->data = f->bytes + 8 + hlen;
    f->data_len = f->len - 8 - (size_t)hlen;
    rc = header_parse(f, (const char *)f->bytes + 8, (size_t)hlen, errbuf,
                      errlen);
    if (rc != DM_OK)
        goto out;
    *out = f;
    f = NULL;
out:
    if (fd >= 0)
        close(fd);
    dm_st_close(f);
    return rc;
}

void dm_st_close(dm_st_file_t *f)
{
    if (f == NULL)
        return;
    free(f->bytes);
    for (size_t i = 0; i < f->n; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    free(f);
}

const dm_st_tensor_t *dm_st_find(const dm_st_file_t *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

size_t dm_st_count(const dm_st_file_t *f)
{
    return f->n;
}

const dm_st_tensor_t *dm_st_at(const dm_st_file_t *f, size_t i)
{
    return i < f->n ? &f->tensors[i] : NULL;
}

const char *dm_st_path(const dm_st_file_t *f)
{
    return f->path;
}

const unsigned char *dm_st_bytes(const dm_st_file_t *f, size_t *len)
{
    *len = f->len;
    return f->bytes;
}

float dm_st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    float out;

    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf or NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign; /* signed zero */
    } else {
        /* subnormal half: normalise the mantissa */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while ((man & 0x400u) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    memcpy(&out, &bits, sizeof(out));
    return out;
}

float dm_st_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float out;

    memcpy(&out, &bits, sizeof(out));
    return out;
}

uint16_t dm_st_f32_to_bf16(float f)
{
    uint32_t bits;

    memcpy(&bits, &f, sizeof(bits));
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((bits >> 16) | 0x40u); /* quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

uint16_t dm_st_f32_to_f16(float f)
{
    uint32_t bits, sign, man;
    int exp;

    memcpy(&bits, &f, sizeof(bits));
    sign = (bits >> 16) & 0x8000u;
    exp = (int)((bits >> 23) & 0xffu);
    man = bits & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0u));
    exp = exp - 127 + 15;
    if (exp >= 0x1f)
        return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
    if (exp <= 0) {
        /* subnormal or zero half: shift the full mantissa into place */
        uint32_t m, shift, half, rem, res;

        if (exp < -10)
            return (uint16_t)sign;
        m = man | 0x800000u;
        shift = (uint32_t)(14 - exp);
        res = m >> shift;
        rem = m & ((1u << shift) - 1u);
        half = 1u << (shift - 1);
        if (rem > half || (rem == half && (res & 1u)))
            res++;
        return (uint16_t)(sign | res);
    }
    {
        uint32_t res = ((uint32_t)exp << 10) | (man >> 13);
        uint32_t rem = man & 0x1fffu;

        /* a carry out of the mantissa correctly bumps the exponent */
        if (rem > 0x1000u || (rem == 0x1000u && (res & 1u)))
            res++;
        return (uint16_t)(sign | res);
    }
}

int dm_st_tensor_f32(const dm_st_file_t *f, const dm_st_tensor_t *t,
                     const float **values, float **owned, char *errbuf,
                     size_t errlen)
{
    float *buf;

    *values = NULL;
    *owned = NULL;
    switch (t->dtype) {
    case DM_ST_F32:
        if (((uintptr_t)t->data & (sizeof(float) - 1)) == 0) {
            *values = (const float *)(const void *)t->data;
            return DM_OK;
        }
        buf = dm_mallocarray(t->nelem ? t->nelem : 1, sizeof(float));
        memcpy(buf, t->data, t->nelem * sizeof(float));
        break;
    case DM_ST_F16:
    case DM_ST_BF16:
        buf = dm_mallocarray(t->nelem ? t->nelem : 1, sizeof(float));
        for (size_t i = 0; i < t->nelem; i++) {
            uint16_t h = (uint16_t)(t->data[2 * i] |
                                    ((unsigned)t->data[2 * i + 1] << 8));
            buf[i] = t->dtype == DM_ST_F16 ? dm_st_f16_to_f32(h)
                                           : dm_st_bf16_to_f32(h);
        }
        break;
    default:
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: tensor '%s': dtype %s not supported (F32, F16 "
                          "or BF16)",
                          f->path, t->name, dm_st_dtype_name(t->dtype));
    }
    *values = buf;
    *owned = buf;
    return DM_OK;
}
