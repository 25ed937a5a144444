/*
 * trigger.c - the fine-tuning trigger (DESIGN.md section 6).
 *
 * Automatic, after a stored "ok" check: when fine_tuning.auto_trigger is
 * on, drift was detected, combined_score >= min_drift_score and the last
 * *successful* trigger (read from the store, so the cooldown holds across
 * restarts and replicas) is at least cooldown_hours old, POST
 * {learning_engine_url}/train {"days", "force": false, "reason"}.
 * Manual (dm_monitor_trigger_manual()): the same call with "force": true,
 * whatever the score and the cooldown, with the newest "ok" check's
 * metrics as the reason.
 *
 * Every attempt is one finetuning_triggers row (job id or error, the
 * metrics sent, the check it came from, forced or not); a failed attempt
 * does not start the cooldown, since only successes are looked up.  A
 * success sends a "fine-tuning started" Slack message when Slack is
 * configured.  Both paths run under the monitor's locks, so two replicas
 * cannot both see an expired cooldown and both trigger.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/time.h"
#include "monitor/monitor_int.h"
#include "notify/learning.h"

/* The "reason" object sent to the Learning Engine, from a stored check. */
static json_t *reason_json(const dm_store_check_t *c, bool manual)
{
    char b0[DM_TIME_STRLEN], b1[DM_TIME_STRLEN], c0[DM_TIME_STRLEN],
        c1[DM_TIME_STRLEN];
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "source", json_string(manual ? "manual" : "drift"));
    if (c == NULL)
        return o;
    json_object_set_new(o, "check_id", json_integer((json_int_t)c->id));
    json_object_set_new(o, "severity",
                        json_string(c->severity ? c->severity : "none"));
    json_object_set_new(o, "drift_detected", json_boolean(c->drift_detected));
    json_object_set_new(o, "combined_score", dm_json_real(c->combined_score));
    json_object_set_new(o, "semantic_test",
                        c->semantic_test ? json_string(c->semantic_test)
                                         : json_null());
    json_object_set_new(o, "semantic_effect", dm_json_real(c->semantic_effect));
    json_object_set_new(o, "semantic_p_value",
                        dm_json_real(c->semantic_p_value));
    json_object_set_new(o, "psi_excess", dm_json_real(c->psi_excess));
    json_object_set_new(o, "kl_divergence", dm_json_real(c->kl_divergence));
    json_object_set_new(o, "kl_excess", dm_json_real(c->kl_excess));
    json_object_set_new(o, "kl_p_value", dm_json_real(c->kl_p_value));
    json_object_set_new(o, "psi", dm_json_real(c->psi));
    json_object_set_new(o, "psi_p_value", dm_json_real(c->psi_p_value));
    json_object_set_new(o, "baseline_accuracy",
                        dm_json_real(c->baseline_accuracy));
    json_object_set_new(o, "current_accuracy",
                        dm_json_real(c->current_accuracy));
    json_object_set_new(o, "accuracy_delta", dm_json_real(c->accuracy_delta));
    json_object_set_new(o, "semantic_fired", json_boolean(c->semantic_fired));
    json_object_set_new(o, "kl_fired", json_boolean(c->kl_fired));
    json_object_set_new(o, "psi_fired", json_boolean(c->psi_fired));
    json_object_set_new(o, "accuracy_fired", json_boolean(c->accuracy_fired));
    json_object_set_new(o, "quality_below_floor",
                        json_boolean(c->quality_below_floor));
    json_object_set_new(o, "baseline_count",
                        json_integer((json_int_t)c->baseline_count));
    json_object_set_new(o, "current_count",
                        json_integer((json_int_t)c->current_count));
    json_object_set_new(
        o, "baseline_window",
        json_pack("[s,s]",
                  dm_time_format_s(c->baseline_start_ms, b0, sizeof(b0)),
                  dm_time_format_s(c->baseline_end_ms, b1, sizeof(b1))));
    json_object_set_new(
        o, "current_window",
        json_pack("[s,s]",
                  dm_time_format_s(c->current_start_ms, c0, sizeof(c0)),
                  dm_time_format_s(c->current_end_ms, c1, sizeof(c1))));
    return o;
}

/* The "fine-tuning started" Slack message (best effort). */
static void notify_started(dm_monitor_t *m, const dm_store_check_t *c,
                           const char *job_id, bool manual)
{
    dm_slack_alert_t a;
    dm_http_opts_t o;
    dm_http_result_t res;
    char reason[160], err[DM_ERRBUF_SIZE];

    if (!dm_monitor_slack_on(m))
        return;
    dm_slack_alert_init(&a);
    a.kind = DM_SLACK_KIND_FINETUNE_STARTED;
    a.job_id = job_id;
    a.channel = m->cfg->alerts.slack.channel;
    a.time_ms = dm_time_now_ms();
    if (c) {
        a.check_id = c->id;
        a.combined_score = c->combined_score;
        a.current_start_ms = c->current_start_ms;
        a.current_end_ms = c->current_end_ms;
        a.baseline_start_ms = c->baseline_start_ms;
        a.baseline_end_ms = c->baseline_end_ms;
        a.current_samples = c->current_count;
        a.baseline_samples = c->baseline_count;
    }
    if (manual)
        snprintf(reason, sizeof(reason), "manual trigger");
    else
        snprintf(reason, sizeof(reason), "%s drift, combined score %.3f",
                 c && c->severity ? c->severity : "?",
                 c ? c->combined_score : (double)NAN);
    a.reason = reason;
    dm_monitor_http_opts(m, true, &o);
    if (dm_slack_alert_send(m->cfg->alerts.slack.webhook_url, &a, &o, &res, err,
                            sizeof(err)) != DM_OK)
        dm_log_warn("slack: fine-tuning notification: %s", err);
    dm_http_result_cleanup(&res);
}

/*
 * One attempt: the call, the trigger row, the Slack notification.
 * Returns DM_OK when the Learning Engine accepted the job.
 */
static int attempt(dm_monitor_t *m, dm_store_t *st, const dm_store_check_t *c,
                   uint32_t days, bool manual, char *job_out, size_t job_n,
                   int64_t *trigger_id, char *err, size_t n)
{
    dm_learning_request_t req = {.days = days, .force = manual};
    dm_store_trigger_t row = {0};
    dm_http_opts_t o;
    json_t *reason = reason_json(c, manual);
    char *job = NULL, *metrics = NULL, serr[DM_ERRBUF_SIZE];
    int rc, src;

    if (reason == NULL)
        return dm_err_set(err, n, DM_ENOMEM, "out of memory");
    req.reason = reason;
    dm_monitor_http_opts(m, false, &o);
    rc = dm_learning_train(m->cfg->fine_tuning.learning_engine_url, &req, &o,
                           &job, NULL, err, n);
    metrics = json_dumps(reason, JSON_COMPACT);
    row.triggered_at_ms = dm_time_now_ms();
    row.status = (char *)(uintptr_t)(rc == DM_OK ? "success" : "failed");
    row.job_id = job;
    row.error = rc == DM_OK ? NULL : err;
    row.metrics_json = metrics;
    row.check_id = manual || c == NULL ? 0 : c->id;
    row.forced = manual;
    src = dm_store_trigger_insert(st, &row, trigger_id, serr, sizeof(serr));
    if (src != DM_OK)
        dm_log_error("trigger attempt not stored: %s", serr);
    if (rc == DM_OK) {
        dm_log_info("fine-tuning job %s started (%s)", job,
                    manual ? "manual" : "drift");
        snprintf(job_out, job_n, "%s", job);
        notify_started(m, c, job, manual);
        if (src != DM_OK) {
            /* the job runs, but the cooldown would not see it */
            dm_err_set(err, n, src, "job %s started but not recorded: %s", job,
                       serr);
            rc = src;
        }
    } else {
        dm_log_warn("fine-tuning trigger failed: %s", err);
    }
    free(job);
    free(metrics);
    json_decref(reason);
    return rc;
}

static void set_trigger(dm_monitor_result_t *r, const char *status,
                        const char *error)
{
    snprintf(r->trigger_status, sizeof(r->trigger_status), "%s", status);
    snprintf(r->trigger_error, sizeof(r->trigger_error), "%s",
             error ? error : "");
}

/* The stored row of check id (newest checks first). */
static int stored_check(dm_store_t *st, int64_t id, bool want_ok,
                        dm_store_check_t *out, bool *found, char *err, size_t n)
{
    dm_store_check_t *list = NULL;
    size_t cnt = 0;
    int rc;

    *found = false;
    rc = dm_store_check_list(st, 0, want_ok ? 1 : 10,
                             DM_STORE_CHECK_LIVE_ONLY |
                                 (want_ok ? DM_STORE_CHECK_OK_ONLY : 0),
                             &list, &cnt, err, n);
    if (rc != DM_OK)
        return rc;
    for (size_t i = 0; i < cnt && !*found; i++) {
        if ((id != 0 && list[i].id == id) ||
            (id == 0 && list[i].status && strcmp(list[i].status, "ok") == 0)) {
            *out = list[i];
            memset(&list[i], 0, sizeof(list[i]));
            *found = true;
        }
    }
    dm_store_check_list_free(list, cnt);
    return DM_OK;
}

void dm_monitor_trigger_auto(dm_monitor_t *m, dm_store_t *st,
                             dm_monitor_result_t *r)
{
    const dm_config_fine_tuning_t *ft = &m->cfg->fine_tuning;
    dm_store_check_t c;
    int64_t last = 0, now = dm_time_now_ms();
    bool found = false;
    char err[DM_ERRBUF_SIZE] = "";
    int rc;

    if (!r->have_analysis || !r->analysis.verdict.drift_detected) {
        set_trigger(r, "no_drift", NULL);
        return;
    }
    if (!ft->auto_trigger) {
        set_trigger(r, "disabled", NULL);
        return;
    }
    if (r->analysis.verdict.combined_score < ft->min_drift_score) {
        set_trigger(r, "below_score", NULL);
        return;
    }
    rc = dm_store_trigger_last_success(st, &last, &found, err, sizeof(err));
    if (rc != DM_OK) {
        set_trigger(r, "failed", err);
        return;
    }
    if (found && (double)(now - last) < ft->cooldown_hours * 3600000.0) {
        char msg[128];

        snprintf(msg, sizeof(msg),
                 "last successful trigger %.1f h ago, cooldown %.1f h",
                 (double)(now - last) / 3600000.0, ft->cooldown_hours);
        set_trigger(r, "cooldown", msg);
        dm_log_info("fine-tuning not triggered: %s", msg);
        return;
    }
    rc = stored_check(st, r->check_id, false, &c, &found, err, sizeof(err));
    if (rc == DM_OK && !found)
        rc = dm_err_set(err, sizeof(err), DM_ENOTFOUND,
                        "check %lld is not stored", (long long)r->check_id);
    if (rc != DM_OK) {
        set_trigger(r, "failed", err);
        return;
    }
    rc = attempt(m, st, &c, r->window_days, false, r->trigger_job_id,
                 sizeof(r->trigger_job_id), &r->trigger_id, err, sizeof(err));
    set_trigger(r, rc == DM_OK ? "success" : "failed",
                rc == DM_OK ? NULL : err);
    dm_store_check_cleanup(&c);
}

int dm_monitor_trigger_manual(dm_monitor_t *m, dm_monitor_trigger_result_t *out,
                              char *errbuf, size_t errlen)
{
    dm_store_t *st = NULL;
    dm_store_check_t c;
    bool found = false, locked = false;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = dm_store_pool_get(m->pool, &st, out->error, sizeof(out->error));
    if (rc == DM_OK) {
        rc = dm_monitor_lock(m, st, m->opts.lock_wait_ms, out->error,
                             sizeof(out->error));
        locked = rc == DM_OK;
    }
    if (rc == DM_OK)
        rc = stored_check(st, 0, true, &c, &found, out->error,
                          sizeof(out->error));
    if (rc == DM_OK) {
        out->based_on_check = found ? c.id : 0;
        rc = attempt(m, st, found ? &c : NULL,
                     m->cfg->monitoring.sliding_window_days, true, out->job_id,
                     sizeof(out->job_id), &out->trigger_id, out->error,
                     sizeof(out->error));
        out->success = rc == DM_OK;
        if (found)
            dm_store_check_cleanup(&c);
    }
    if (locked)
        dm_monitor_unlock(m, st);
    dm_store_pool_put(m->pool, st, rc != DM_OK);
    if (rc != DM_OK)
        dm_err_set(errbuf, errlen, rc, "%s", out->error);
    return rc;
}

int dm_monitor_trigger_result_to_json(const dm_monitor_trigger_result_t *r,
                                      json_t **out)
{
    *out = json_pack(
        "{s:I, s:s, s:o, s:o, s:o}", "trigger_id", (json_int_t)r->trigger_id,
        "status", r->success ? "success" : "failed", "job_id",
        r->job_id[0] ? json_string(r->job_id) : json_null(), "error",
        r->error[0] ? json_string(r->error) : json_null(), "based_on_check",
        r->based_on_check ? json_integer(r->based_on_check) : json_null());
    return *out ? DM_OK : DM_ENOMEM;
}
