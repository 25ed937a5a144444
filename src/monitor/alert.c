/*
 * alert.c - the alert step of a check (DESIGN.md section 5): works out
 * the alert state from the checks already stored, asks the suppression
 * policy (dm_slack_policy_decide(), src/notify/slack.h) what to do, sends
 * the Slack message when there is one to send, and stores the outcome in
 * the check's alert_status / alert_error.
 *
 * The alert state is read from the store, not from memory, so it holds
 * across restarts and replicas (checks are serialised by the monitor's
 * lock).  Walking the stored checks newest first, skipping those that are
 * not "ok" (insufficient data and failures are not decisions):
 *   - the first one says whether the previous check was in drift;
 *   - while checks are in drift (the current episode), the newest one
 *     whose alert_status is "sent" is the last alert (its severity and
 *     time).  A failed, suppressed or disabled alert is not "sent".
 * Stored alert statuses: "sent" (drift alert delivered), "resolved"
 * ("resolved" message delivered), "suppressed" (repeat within
 * repeat_hours), "failed" (delivery failed; alert_error says why),
 * "disabled" (a message was due but alerts or Slack are off), "none"
 * (nothing to say).
 */
#include <math.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "monitor/monitor_int.h"

/* How many stored checks are read to find the current episode's alert. */
#define HISTORY_LIMIT 500

bool dm_monitor_slack_on(const dm_monitor_t *m)
{
    const dm_config_alerts_t *a = &m->cfg->alerts;

    return a->enabled && a->slack.enabled && a->slack.webhook_url &&
           a->slack.webhook_url[0];
}

void dm_monitor_http_opts(const dm_monitor_t *m, bool slack, dm_http_opts_t *o)
{
    const dm_config_t *cfg = m->cfg;
    double t = slack ? cfg->alerts.slack.timeout_seconds
                     : cfg->fine_tuning.timeout_seconds;

    dm_http_opts_init(o);
    o->timeout_ms = (long)(t * 1000.0);
    if (o->timeout_ms < 1)
        o->timeout_ms = 1;
    if (o->connect_timeout_ms > o->timeout_ms)
        o->connect_timeout_ms = o->timeout_ms;
    o->max_retries =
        slack ? cfg->alerts.slack.max_retries : cfg->fine_tuning.max_retries;
    o->budget_ms = m->opts.http_budget_ms;
}

void dm_monitor_slack_fill(const dm_monitor_t *m, const dm_monitor_result_t *r,
                           dm_slack_alert_t *a,
                           dm_slack_metric_t metrics[DM_MONITOR_SLACK_ROWS],
                           char *changes, size_t changes_len)
{
    const dm_config_t *cfg = m->cfg;
    const dm_analysis_t *an = &r->analysis;
    bool have = r->have_analysis;

    dm_slack_alert_init(a);
    a->check_id = r->check_id;
    a->current_start_ms = r->current_start_ms;
    a->current_end_ms = r->current_end_ms;
    a->baseline_start_ms = r->baseline_start_ms;
    a->baseline_end_ms = r->baseline_end_ms;
    a->current_samples = (int64_t)r->current_count;
    a->baseline_samples = (int64_t)r->baseline_count;
    a->time_ms = r->checked_at_ms;
    a->channel = cfg->alerts.slack.channel;
    a->mention_users = (const char *const *)cfg->alerts.slack.mention_users;
    a->mention_count = cfg->alerts.slack.mention_users_count;
    /* the p-values shown are the Holm-adjusted ones the decision used */
    metrics[0] = (dm_slack_metric_t){
        .name = cfg->embeddings.test == DM_SEMANTIC_TEST_MMD
                    ? "semantic_effect"
                    : (cfg->embeddings.kl_estimator == DM_KL_ESTIMATOR_RAW
                           ? "kl_divergence"
                           : "kl_excess"),
        .value = have && an->have_semantic ? an->semantic_effect : (double)NAN,
        .threshold = cfg->embeddings.test == DM_SEMANTIC_TEST_MMD
                         ? cfg->thresholds.semantic_threshold
                         : cfg->thresholds.kl_threshold,
        .p_value =
            have && an->have_semantic ? an->semantic_p_adjusted : (double)NAN,
        .fired = have && an->semantic_fired};
    metrics[1] = (dm_slack_metric_t){
        .name = "psi_excess",
        .value = have && an->have_psi ? an->psi.psi_excess : (double)NAN,
        .threshold = cfg->thresholds.psi_threshold,
        .p_value = have && an->have_psi ? an->psi_p_adjusted : (double)NAN,
        .fired = have && an->psi_fired};
    metrics[2] = (dm_slack_metric_t){
        .name = "accuracy_drop",
        .value =
            have && an->have_accuracy ? an->acc.accuracy_delta : (double)NAN,
        .threshold = cfg->thresholds.accuracy_min_drop,
        .p_value =
            have && an->have_accuracy ? an->accuracy_p_adjusted : (double)NAN,
        .fired = have && an->accuracy_drop_fired};
    metrics[3] = (dm_slack_metric_t){
        .name = "accuracy_floor",
        .value =
            have && an->have_accuracy ? an->acc.current_accuracy : (double)NAN,
        .threshold = cfg->thresholds.accuracy_min,
        .p_value =
            have && an->have_accuracy ? an->acc.floor_p_value : (double)NAN,
        .fired = have && an->below_floor};
    a->metrics = metrics;
    a->metrics_count = DM_MONITOR_SLACK_ROWS;
    if (have && changes_len > 0 &&
        dm_explanation_top(
            &an->explanation, an->alpha, DM_MONITOR_SLACK_CHANGES,
            cfg->alerts.include_examples, "", changes, changes_len) > 0)
        a->changes = changes;
    if (have) {
        a->severity = (dm_severity_t)an->verdict.severity;
        a->combined_score = an->verdict.combined_score;
        /* the floor alone is a quality alert, not drift */
        if (!an->verdict.drift_detected && an->below_floor)
            a->title = an->verdict.severity == DM_SEVERITY_CRITICAL
                           ? "Quality below floor: critical"
                           : "Quality below floor: warning";
    }
}

/* Reads the alert state from the checks stored before check `self`. */
static int read_state(dm_store_t *st, int64_t self, dm_slack_policy_input_t *in,
                      char *err, size_t n)
{
    dm_store_check_t *list = NULL;
    size_t cnt = 0;
    bool first = true;
    int rc;

    rc = dm_store_check_list(st, 0, HISTORY_LIMIT,
                             DM_STORE_CHECK_OK_ONLY | DM_STORE_CHECK_LIVE_ONLY,
                             &list, &cnt, err, n);
    if (rc != DM_OK)
        return rc;
    for (size_t i = 0; i < cnt; i++) {
        const dm_store_check_t *c = &list[i];

        if (c->id >= self || !c->status || strcmp(c->status, "ok") != 0)
            continue;
        if (first) {
            in->last_check_drift = c->drift_detected || c->quality_below_floor;
            first = false;
        }
        if (!c->drift_detected && !c->quality_below_floor)
            break; /* the episode started after this check */
        if (c->alert_status && strcmp(c->alert_status, "sent") == 0) {
            dm_severity_t sev = DM_SEVERITY_NONE;

            if (c->severity && dm_severity_parse(c->severity, &sev) != DM_OK)
                sev = DM_SEVERITY_NONE;
            in->alert_sent = true;
            in->alert_severity = (dm_severity_t)sev;
            in->alert_ms = c->checked_at_ms;
            break;
        }
    }
    dm_store_check_list_free(list, cnt);
    return DM_OK;
}

static void set_status(dm_monitor_result_t *r, const char *status,
                       const char *error)
{
    snprintf(r->alert_status, sizeof(r->alert_status), "%s", status);
    snprintf(r->alert_error, sizeof(r->alert_error), "%s", error ? error : "");
}

/* Sends a drift or resolved message; DM_OK when delivered. */
static int send_message(dm_monitor_t *m, const dm_monitor_result_t *r,
                        dm_slack_kind_t kind, dm_severity_t previous, char *err,
                        size_t n)
{
    dm_slack_alert_t a;
    dm_slack_metric_t metrics[DM_MONITOR_SLACK_ROWS];
    char changes[2048];
    dm_http_opts_t o;
    dm_http_result_t res;
    int rc;

    dm_monitor_slack_fill(m, r, &a, metrics, changes, sizeof(changes));
    a.kind = kind;
    if (kind == DM_SLACK_KIND_RESOLVED) {
        a.previous_severity = previous;
        a.severity = DM_SEVERITY_NONE;
    }
    dm_monitor_http_opts(m, true, &o);
    rc = dm_slack_alert_send(m->cfg->alerts.slack.webhook_url, &a, &o, &res,
                             err, n);
    if (rc == DM_OK)
        dm_log_info("slack: %s message delivered (%u attempt%s, %lld ms)",
                    kind == DM_SLACK_KIND_RESOLVED ? "resolved" : "drift",
                    res.attempts, res.attempts == 1 ? "" : "s",
                    (long long)res.elapsed_ms);
    else
        dm_log_warn("slack: %s", err);
    dm_http_result_cleanup(&res);
    return rc;
}

void dm_monitor_alert(dm_monitor_t *m, dm_store_t *st, dm_monitor_result_t *r)
{
    dm_slack_policy_input_t in = {0};
    dm_slack_action_t action;
    const char *why = "";
    char err[DM_ERRBUF_SIZE] = "";
    int rc;

    if (!r->have_analysis)
        return;
    rc = read_state(st, r->check_id, &in, err, sizeof(err));
    if (rc != DM_OK) {
        /* without the state a repeat cannot be told apart: do not send */
        set_status(r, "failed", err);
        dm_log_error("alert state unavailable: %s", err);
        goto store;
    }
    /* drift and the quality floor both alert (DESIGN.md section 2.3) */
    in.drift = r->analysis.verdict.drift_detected || r->analysis.below_floor;
    in.severity = (dm_severity_t)r->analysis.verdict.severity;
    in.now_ms = r->checked_at_ms;
    in.repeat_hours = m->cfg->alerts.repeat_hours;
    action = dm_slack_policy_decide(&in, &why);
    dm_log_debug("alert decision: %s (%s)", dm_slack_action_name(action), why);
    switch (action) {
    case DM_SLACK_ACTION_NOTHING:
        set_status(r, "none", NULL);
        break;
    case DM_SLACK_ACTION_SKIP:
        set_status(r, "suppressed", why);
        break;
    case DM_SLACK_ACTION_SEND:
    case DM_SLACK_ACTION_RESOLVED:
        if (!dm_monitor_slack_on(m)) {
            set_status(r, "disabled", NULL);
            break;
        }
        rc = send_message(m, r,
                          action == DM_SLACK_ACTION_SEND
                              ? DM_SLACK_KIND_DRIFT
                              : DM_SLACK_KIND_RESOLVED,
                          in.alert_severity, err, sizeof(err));
        if (rc == DM_OK)
            set_status(r, action == DM_SLACK_ACTION_SEND ? "sent" : "resolved",
                       NULL);
        else
            set_status(r, "failed", err);
        break;
    }
store:
    rc = dm_store_check_set_alert(st, r->check_id, r->alert_status,
                                  r->alert_error[0] ? r->alert_error : NULL,
                                  err, sizeof(err));
    if (rc != DM_OK)
        dm_log_error("alert outcome not stored: %s", err);
}
