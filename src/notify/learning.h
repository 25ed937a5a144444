/*
 * learning.h - the Learning Engine client: ask for a fine-tuning job.
 *
 *   POST {learning_engine_url}/train
 *   {"days": <window_days>, "force": <bool>, "reason": {...}}
 *   -> 2xx {"job_id": "..."}            (a number is accepted too)
 *
 * Anything else - a non-2xx status, a body that is not a JSON object, a
 * missing, empty, over-long or non-printable job_id, a timeout - is an
 * error with a message meant to be stored with the trigger row.
 *
 * Ownership: request fields are borrowed; the job id returned belongs to
 * the caller (free()).  All functions are thread-safe.
 */
#ifndef DM_NOTIFY_LEARNING_H
#define DM_NOTIFY_LEARNING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "notify/http.h"

/* Longest job id accepted from the Learning Engine, in bytes. */
#define DM_LEARNING_JOB_ID_MAX 256

typedef struct dm_learning_request {
    uint32_t days;        /* training window, fine_tuning / window_days */
    bool force;           /* true for the manual endpoint */
    const json_t *reason; /* borrowed JSON object of metrics; NULL = {} */
} dm_learning_request_t;

/*
 * Joins base_url and path ("/train") with exactly one '/' between them,
 * whether or not base_url ends with '/' (any number of trailing slashes)
 * or path starts with one.  *out is a new string (free()).  Returns
 * DM_OK, or DM_EINVAL for an empty base URL or one with a query or
 * fragment.
 */
int dm_learning_url_join(const char *base_url, const char *path, char **out,
                         char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Builds the request body {"days":N,"force":B,"reason":{...}} into *out
 * (compact JSON, free()).  Returns DM_OK, or DM_EINVAL when reason is not
 * a JSON object or days is 0.
 */
int dm_learning_train_body(const dm_learning_request_t *req, char **out,
                           char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Reads the job id from a Learning Engine answer of HTTP status `status`
 * with len bytes of body (need not be NUL-terminated).  On success *job_id
 * is a new string (free()).  Returns DM_OK; DM_ENET for a non-2xx status;
 * DM_EPARSE for a body that is not a JSON object, or a job_id that is
 * missing, empty, not a string or an integer, longer than
 * DM_LEARNING_JOB_ID_MAX or holding control characters.  errbuf says which.
 */
int dm_learning_job_id_parse(long status, const char *body, size_t len,
                             char **job_id, char *errbuf,
                             size_t errlen) DM_MUSTCHECK;

/*
 * Sends req to {base_url}/train with the retries and budget of opts (see
 * dm_http_post_json(): network errors, 5xx and 429 are retried) and reads
 * the job id.  On DM_OK *job_id is a new string (free()); otherwise it is
 * NULL and errbuf holds a message such as
 * "learning engine http://learning-engine:8003: HTTP 500 after 4
 * attempts in 3012 ms: ..." or "learning engine ...: response has no
 * job_id".  res may be NULL; when given it receives the HTTP outcome and
 * the caller releases it with dm_http_result_cleanup().  Returns DM_OK,
 * DM_EINVAL (bad request or URL), DM_ENET (delivery failed or non-2xx) or
 * DM_EPARSE (unusable answer).
 */
int dm_learning_train(const char *base_url, const dm_learning_request_t *req,
                      const dm_http_opts_t *opts, char **job_id,
                      dm_http_result_t *res, char *errbuf,
                      size_t errlen) DM_MUSTCHECK;

#endif
