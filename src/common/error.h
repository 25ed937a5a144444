/*
 * error.h - the one error enum of driftmon and the error-buffer helpers.
 *
 * Every fallible function returns an int: DM_OK (0) on success or one of
 * the negative DM_E* codes below.  Functions that fail for data-dependent
 * reasons (a bad config line, a malformed request) also write a specific,
 * human-readable message into a caller-supplied buffer of at least
 * DM_ERRBUF_SIZE bytes ("line 12: thresholds.kl_threshold: must be > 0").
 */
#ifndef DM_COMMON_ERROR_H
#define DM_COMMON_ERROR_H

#include <stddef.h>

#define DM_ERRBUF_SIZE 512

#if defined(__GNUC__) || defined(__clang__)
#define DM_MUSTCHECK         __attribute__((warn_unused_result))
#define DM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define DM_MUSTCHECK
#define DM_PRINTF(fmt, args)
#endif

typedef enum dm_err {
    DM_OK = 0,
    DM_ENOMEM = -1,     /* allocation failed */
    DM_EINVAL = -2,     /* invalid argument or input */
    DM_EIO = -3,        /* file or socket I/O failed */
    DM_EPARSE = -4,     /* malformed input (JSON, YAML, CSV, model file) */
    DM_ERANGE = -5,     /* value out of bounds */
    DM_ENOTFOUND = -6,  /* missing file, key or row */
    DM_ETOOBIG = -7,    /* input larger than its cap */
    DM_ESTORE = -8,     /* database error */
    DM_ENET = -9,       /* network error */
    DM_EBUSY = -10,     /* resource locked by someone else */
    DM_EMODEL = -11,    /* embedding model invalid or unusable */
    DM_ECONFIG = -12,   /* configuration invalid */
    DM_EINTERNAL = -13, /* a bug: an invariant did not hold */
    DM_ECANCELED = -14  /* stopped on request (shutdown) before finishing */
} dm_err_t;

/*
 * Returns a static, constant description of an error code.  Unknown codes
 * give "unknown error".  Thread-safe.
 */
const char *dm_strerror(int err);

/*
 * Formats a message into errbuf (of size n, may be NULL or 0 to discard)
 * and returns err, so a failure path can read
 *     return dm_err_set(errbuf, n, DM_EINVAL, "line %d: ...", line);
 * The message is always NUL-terminated and truncated to fit.
 */
int dm_err_set(char *errbuf, size_t n, int err, const char *fmt, ...)
    DM_PRINTF(4, 5);

/*
 * Prefixes the message already in errbuf with a formatted context
 * ("file.yaml: " + old message).  Returns err unchanged.
 */
int dm_err_prefix(char *errbuf, size_t n, int err, const char *fmt, ...)
    DM_PRINTF(4, 5);

#endif
