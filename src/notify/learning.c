/*
 * learning.c - the Learning Engine client (POST /train).
 *
 * Three small pure steps - join the URL, build the body, read the job id
 * out of the answer - around one dm_http_post_json() call, so each step
 * is testable without a network and the retry and time-budget rules are
 * those of http.c.  Errors name the endpoint as "learning engine
 * scheme://host[:port]" and say what was wrong with the answer, because
 * the message is stored with the trigger row and read by an operator.
 */
#include "notify/learning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"

/* Longest learning_engine_url accepted, in bytes. */
#define URL_MAX 4096

int dm_learning_url_join(const char *base_url, const char *path, char **out,
                         char *errbuf, size_t errlen)
{
    dm_buf_t b;
    size_t n;
    int rc;

    *out = NULL;
    if (!base_url || !base_url[0])
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "learning engine URL is empty");
    if (strpbrk(base_url, "?#"))
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "learning engine URL must not have a query or "
                          "fragment");
    n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    if (n == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "learning engine URL is empty");
    path = path ? path : "";
    while (*path == '/')
        path++;
    dm_buf_init(&b, URL_MAX);
    rc = dm_buf_append(&b, base_url, n);
    if (rc == DM_OK)
        rc = dm_buf_printf(&b, "/%s", path);
    if (rc != DM_OK) {
        dm_buf_cleanup(&b);
        return dm_err_set(errbuf, errlen, rc,
                          "learning engine URL longer than %d bytes", URL_MAX);
    }
    *out = dm_buf_steal(&b);
    return DM_OK;
}

int dm_learning_train_body(const dm_learning_request_t *req, char **out,
                           char *errbuf, size_t errlen)
{
    json_t *root = NULL, *reason = NULL;
    int rc = DM_OK;

    *out = NULL;
    if (!req || req->days == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "learning engine: days must be > 0");
    if (req->reason && !json_is_object(req->reason))
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "learning engine: reason must be a JSON object");
    /* a deep copy: the caller's object is const and may be shared */
    reason = req->reason ? json_deep_copy(req->reason) : json_object();
    root = json_pack("{s:I, s:b, s:o}", "days", (json_int_t)req->days, "force",
                     req->force, "reason", reason);
    reason = NULL; /* "o" stole it, even on failure */
    if (!root || !(*out = json_dumps(root, JSON_COMPACT)))
        rc = dm_err_set(errbuf, errlen, DM_ENOMEM,
                        "learning engine: cannot build the request body");
    json_decref(root);
    return rc;
}

/* A job id must be printable text of bounded length. */
static int job_id_check(const char *id, char *errbuf, size_t errlen)
{
    size_t n = strlen(id);

    if (n == 0)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "response has an empty job_id");
    if (n > DM_LEARNING_JOB_ID_MAX)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "response job_id is longer than %d bytes",
                          DM_LEARNING_JOB_ID_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return dm_err_set(errbuf, errlen, DM_EPARSE,
                              "response job_id holds control characters");
    return DM_OK;
}

int dm_learning_job_id_parse(long status, const char *body, size_t len,
                             char **job_id, char *errbuf, size_t errlen)
{
    json_t *root = NULL, *id;
    json_error_t jerr;
    char num[32];
    int rc;

    *job_id = NULL;
    if (status < 200 || status >= 300)
        return dm_err_set(errbuf, errlen, DM_ENET, "HTTP %ld", status);
    if (!body || len == 0)
        return dm_err_set(errbuf, errlen, DM_EPARSE,
                          "empty response (expected {\"job_id\": ...})");
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "response is not JSON: %s (at byte %d)", jerr.text,
                        jerr.position);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "response is not a JSON object");
        goto out;
    }
    id = json_object_get(root, "job_id");
    if (!id || json_is_null(id)) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE, "response has no job_id");
        goto out;
    }
    if (json_is_string(id)) {
        if ((rc = job_id_check(json_string_value(id), errbuf, errlen)) != DM_OK)
            goto out;
        *job_id = dm_strdup(json_string_value(id));
    } else if (json_is_integer(id)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(id));
        *job_id = dm_strdup(num);
    } else {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "response job_id is neither a string nor an "
                        "integer");
        goto out;
    }
    rc = DM_OK;
out:
    json_decref(root);
    return rc;
}

int dm_learning_train(const char *base_url, const dm_learning_request_t *req,
                      const dm_http_opts_t *opts, char **job_id,
                      dm_http_result_t *res, char *errbuf, size_t errlen)
{
    dm_http_result_t own;
    dm_http_opts_t o;
    char *url = NULL, *body = NULL;
    char host[256], label[300];
    int rc;

    *job_id = NULL;
    if (!res)
        res = &own;
    dm_http_result_init(res);
    if (!opts) {
        rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                        "learning engine: no options");
        goto out;
    }
    if ((rc = dm_learning_url_join(base_url, "/train", &url, errbuf, errlen)) !=
            DM_OK ||
        (rc = dm_learning_train_body(req, &body, errbuf, errlen)) != DM_OK)
        goto out;
    o = *opts;
    if (!o.label || !o.label[0]) {
        snprintf(label, sizeof(label), "learning engine %s",
                 dm_http_url_label(base_url, host, sizeof(host)));
        o.label = label;
    }
    if ((rc = dm_http_post_json(url, body, strlen(body), &o, res, errbuf,
                                errlen)) != DM_OK)
        goto out;
    if (res->body_truncated) {
        rc = dm_err_set(errbuf, errlen, DM_EPARSE,
                        "response larger than %zu bytes", o.max_response);
        dm_err_prefix(errbuf, errlen, rc, "%s: ", o.label);
        goto out;
    }
    rc = dm_learning_job_id_parse(res->status, res->body, res->body_len, job_id,
                                  errbuf, errlen);
    if (rc != DM_OK)
        dm_err_prefix(errbuf, errlen, rc, "%s: ", o.label);
out:
    if (res == &own)
        dm_http_result_cleanup(&own);
    free(body);
    free(url);
    return rc;
}
