/*
 * safetensors.h - a validating reader of the safetensors format (Hugging
 * Face): an 8-byte little-endian header length, a JSON
 * header mapping tensor names to {dtype, shape, data_offsets}, then the
 * raw tensor bytes.
 *
 * Everything in the file is outside input: the file size is bounded
 * (DM_ST_MAX_FILE), the header length is bounded (DM_ST_MAX_HEADER) and
 * must lie inside the file, the header must be a
 * JSON object of well-formed entries, every byte range must lie inside
 * the data section, match its dtype and shape, and not overlap another
 * tensor.  A malformed file is an error naming the file and the tensor or
 * key, never a crash.
 *
 * Ownership: a dm_st_file_t owns a private copy of the whole file (read
 * into memory, not mapped) and its tensor table; the tensor data pointers
 * borrow from that copy and are valid until dm_st_close().  Later
 * changes to the file on disk (truncated, rewritten in place, replaced)
 * never affect an open file.  An open file is immutable, so it may be
 * read from several threads at once.
 */
#ifndef DM_EMBED_SAFETENSORS_H
#define DM_EMBED_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Upper bound on the file (all-MiniLM-L6-v2 in F32: 91 MB; BERT-large:
 * 1.3 GB); the whole file is held in memory. */
#define DM_ST_MAX_FILE ((uint64_t)8 * 1024 * 1024 * 1024)
/* Upper bound on the JSON header (the real all-MiniLM-L6-v2 has ~12 KiB). */
#define DM_ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024)
/* Upper bound on the number of dimensions of one tensor. */
#define DM_ST_MAX_DIMS 8

typedef enum dm_st_dtype {
    DM_ST_F32 = 0,
    DM_ST_F16,
    DM_ST_BF16,
    DM_ST_F64,
    DM_ST_I64,
    DM_ST_I32,
    DM_ST_I16,
    DM_ST_I8,
    DM_ST_U64,
    DM_ST_U32,
    DM_ST_U16,
    DM_ST_U8,
    DM_ST_BOOL,
    DM_ST_F8_E4M3,
    DM_ST_F8_E5M2
} dm_st_dtype_t;

typedef struct dm_st_tensor {
    char *name; /* owned by the file */
    dm_st_dtype_t dtype;
    size_t ndim;
    size_t shape[DM_ST_MAX_DIMS];
    size_t nelem;              /* product of shape (1 for a scalar) */
    size_t begin, end;         /* byte offsets in the data section */
    const unsigned char *data; /* borrowed: begin of the bytes */
} dm_st_tensor_t;

typedef struct dm_st_file dm_st_file_t;

/*
 * Reads the whole safetensors file at path into memory and validates it.
 * On success *out is a new file (free with dm_st_close()).  Errors:
 * DM_EIO (cannot open or read; the file changed size or times while it
 * was read), DM_ETOOBIG (over DM_ST_MAX_FILE), DM_ENOMEM (no memory for
 * the copy), DM_EPARSE (truncated file, bad header length, bad JSON, bad
 * entry, offsets outside the data or overlapping), each with a message
 * "PATH: ..." naming the tensor or key in errbuf.
 */
int dm_st_open(const char *path, dm_st_file_t **out, char *errbuf,
               size_t errlen) DM_MUSTCHECK;

/* Frees the file and its copy of the bytes.  NULL-safe. */
void dm_st_close(dm_st_file_t *f);

/* The tensor called name, or NULL.  Borrowed. */
const dm_st_tensor_t *dm_st_find(const dm_st_file_t *f, const char *name);

/* Number of tensors and the i-th (in header order).  Borrowed. */
size_t dm_st_count(const dm_st_file_t *f);
const dm_st_tensor_t *dm_st_at(const dm_st_file_t *f, size_t i);

/* The path given to dm_st_open() (borrowed). */
const char *dm_st_path(const dm_st_file_t *f);

/*
 * The whole file (header and data) as read, for fingerprinting.
 * Borrowed, valid until dm_st_close().
 */
const unsigned char *dm_st_bytes(const dm_st_file_t *f, size_t *len);

/* The dtype's name as written in the header ("F32", "BF16", ...). */
const char *dm_st_dtype_name(dm_st_dtype_t dtype);

/* Size in bytes of one element of dtype. */
size_t dm_st_dtype_size(dm_st_dtype_t dtype);

/*
 * Gives the tensor's values as float32.  An F32 tensor whose data is
 * 4-byte aligned is used in place: *values points into the file's copy and
 * *owned is NULL.  Otherwise (F16, BF16, unaligned F32) the values are
 * converted into a new buffer that the caller frees: *values == *owned.
 * Other dtypes: DM_EMODEL with "PATH: tensor 'NAME': dtype X not
 * supported (F32, F16 or BF16)".
 */
int dm_st_tensor_f32(const dm_st_file_t *f, const dm_st_tensor_t *t,
                     const float **values, float **owned, char *errbuf,
                     size_t errlen) DM_MUSTCHECK;

/* IEEE half and bfloat16 bit patterns to float (exact; NaN stays NaN). */
float dm_st_f16_to_f32(uint16_t h);
float dm_st_bf16_to_f32(uint16_t b);
/* float to IEEE half / bfloat16, rounding to nearest even. */
uint16_t dm_st_f32_to_f16(float f);
uint16_t dm_st_f32_to_bf16(float f);

#endif
