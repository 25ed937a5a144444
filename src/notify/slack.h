/*
 * slack.h - Slack incoming-webhook messages for drift checks, and the
 * alert suppression policy.
 *
 * Three kinds of message, each one attachment coloured by severity:
 *   drift             a check fired: title, metrics table, sample counts,
 *                     windows, combined score; user mentions on critical
 *   resolved          drift cleared after an alert had been sent (green)
 *   finetune_started  the Learning Engine accepted a fine-tuning job
 * dm_slack_alert_json() builds the payload (no I/O, testable);
 * dm_slack_alert_send() builds it and POSTs it with dm_http_post_json().
 *
 * The notify module does not include stats/ or monitor/: the caller fills
 * the plain structs below.  dm_severity_t has the numeric values of
 * dm_severity_t (stats/stats.h), so a cast converts one into the other.
 *
 * Ownership: every pointer in these structs is borrowed for the duration
 * of the call.  All functions are thread-safe (no shared state).
 */
#ifndef DM_NOTIFY_SLACK_H
#define DM_NOTIFY_SLACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/check_enums.h"
#include "common/error.h"
#include "notify/http.h"

typedef enum dm_slack_kind {
    DM_SLACK_KIND_DRIFT = 0,
    DM_SLACK_KIND_RESOLVED = 1,
    DM_SLACK_KIND_FINETUNE_STARTED = 2
} dm_slack_kind_t;

/* Attachment colours. */
#define DM_SLACK_COLOR_INFO     "#36a64f" /* green; also "resolved" */
#define DM_SLACK_COLOR_WARNING  "#ff9900" /* orange */
#define DM_SLACK_COLOR_CRITICAL "#d00000" /* red */
#define DM_SLACK_COLOR_NEUTRAL  "#439fe0" /* blue: fine-tuning, no severity */

/* One row of the metrics table. */
typedef struct dm_slack_metric {
    const char *name; /* "kl_divergence", "psi", "accuracy", ... */
    double value;     /* NaN = not computed ("n/a") */
    double threshold; /* NaN = none */
    double p_value;   /* NaN = n/a */
    bool fired;
} dm_slack_metric_t;

/* What a message says.  Start from dm_slack_alert_init(). */
typedef struct dm_slack_alert {
    dm_slack_kind_t kind;
    dm_severity_t severity; /* drift: the check's severity */
    int64_t check_id;       /* 0 = not shown */
    const char *title;      /* NULL or "" = a generated title */
    /* windows, ms since the epoch; start = end = 0: not shown */
    int64_t current_start_ms, current_end_ms;
    int64_t baseline_start_ms, baseline_end_ms;
    int64_t current_samples, baseline_samples; /* < 0 = not shown */
    const dm_slack_metric_t *metrics;          /* table rows */
    size_t metrics_count;
    double combined_score; /* NaN = not shown */
    /* Slack user ids ("U012AB3CD", "@U012AB3CD", or "here"/"channel"),
     * mentioned on critical drift alerts only */
    const char *const *mention_users;
    size_t mention_count;
    const char *channel; /* NULL or "" = the webhook's own channel */
    /* resolved: the severity of the alert that is resolved (NONE = not
     * shown) */
    dm_severity_t previous_severity;
    const char *job_id; /* finetune_started: the Learning Engine job */
    const char *reason; /* finetune_started: one-line summary, optional */
    /* drift: what changed, one line per change (mrkdwn, escaped here);
     * NULL or "" = not shown */
    const char *changes;
    int64_t time_ms; /* attachment time stamp; 0 = none */
} dm_slack_alert_t;

/*
 * Zeroes a (kind drift, severity none, nothing shown) and sets the
 * "not shown" markers: NaN combined score, sample counts -1.
 */
void dm_slack_alert_init(dm_slack_alert_t *a);

/*
 * The attachment colour of a message: by severity for drift (none gives
 * the neutral blue), green for resolved, blue for fine-tuning.
 */
const char *dm_slack_alert_color(const dm_slack_alert_t *a);

/*
 * Builds the webhook payload for a into *out (a NUL-terminated compact
 * JSON string the caller frees with free()):
 *
 *   {"channel": "#drift-alerts",                  (only when set)
 *    "text": "<@U1> Drift detected: critical",    (mentions: critical only)
 *    "attachments": [{"color": "#d00000", "title": "...",
 *        "fallback": "...", "text": "```<metrics table>```",
 *        "mrkdwn_in": ["text"], "fields": [{"title","value","short"}...],
 *        "footer": "driftmon check #42", "ts": 1795676287}]}
 *
 * Text from the caller (title, metric names, job id, reason, user ids) is
 * escaped for Slack (&, <, >), so it cannot forge mentions or links.
 * Returns DM_OK, or DM_EINVAL (bad kind or severity, a metric without a
 * name, a fine-tuning message without a job id) with a message in errbuf.
 */
int dm_slack_alert_json(const dm_slack_alert_t *a, char **out, char *errbuf,
                        size_t errlen) DM_MUSTCHECK;

/*
 * Builds the payload of a and POSTs it to webhook_url (a secret: never
 * logged, never in errbuf) with the retries and time budget of opts
 * (see dm_http_post_json()).  res (required) receives the HTTP outcome
 * and is released by the caller with dm_http_result_cleanup().  Returns
 * DM_OK when Slack answered 2xx; DM_EINVAL for a bad message or URL,
 * DM_ENET for a failed delivery, with the reason in errbuf.
 */
int dm_slack_alert_send(const char *webhook_url, const dm_slack_alert_t *a,
                        const dm_http_opts_t *opts, dm_http_result_t *res,
                        char *errbuf, size_t errlen) DM_MUSTCHECK;

/* ---- suppression policy ------------------------------------------------ */

typedef enum dm_slack_action {
    DM_SLACK_ACTION_NOTHING = 0, /* no message */
    DM_SLACK_ACTION_SEND = 1,    /* send a drift alert */
    DM_SLACK_ACTION_SKIP = 2,    /* drift, but suppressed as a repeat */
    DM_SLACK_ACTION_RESOLVED = 3 /* send a "resolved" message */
} dm_slack_action_t;

/*
 * What the policy sees.  "The last alert" is the newest drift alert that
 * was delivered during the current drift episode: pass alert_sent = false
 * when none was, or when a "resolved" message was delivered after it.
 * Checks with insufficient data are not decisions: do not call the
 * policy for them (they would read as "drift cleared").
 */
typedef struct dm_slack_policy_input {
    bool alert_sent;              /* there is a last alert */
    dm_severity_t alert_severity; /* its severity */
    int64_t alert_ms;             /* when it was sent */
    bool last_check_drift;        /* previous check was in drift */
    bool drift;                   /* this check is in drift */
    dm_severity_t severity;       /* this check's severity */
    int64_t now_ms;
    double repeat_hours; /* alerts.repeat_hours */
} dm_slack_policy_input_t;

/*
 * Decides whether this check sends a message.  Pure: no I/O, no clock.
 *
 *  row  drift  last check  alert   condition                   action
 *       now    in drift    sent
 *   1   no     no          any     -                           NOTHING
 *   2   no     yes         no      -                           NOTHING
 *   3   no     yes         yes     -                           RESOLVED
 *   4   yes    no          any     new episode                 SEND
 *   5   yes    yes         no      never alerted (or failed)   SEND
 *   6   yes    yes         yes     severity > alert_severity   SEND
 *   7   yes    yes         yes     severity <= alert_severity,
 *                                  now - alert_ms < repeat     SKIP
 *   8   yes    yes         yes     severity <= alert_severity,
 *                                  now - alert_ms >= repeat    SEND
 *
 * An escalation (row 6) is sent whatever the time since the last alert.
 * A last alert time in the future (clock skew) counts as "just now".
 * repeat_hours <= 0 sends every drifting check.  If why is not NULL it
 * receives a static one-line reason naming the row, for logs (e.g.
 * "escalation above the last alert's severity").  Thread-safe.
 */
dm_slack_action_t dm_slack_policy_decide(const dm_slack_policy_input_t *in,
                                         const char **why);

/* "nothing", "send", "skip", "resolved". */
const char *dm_slack_action_name(dm_slack_action_t a);

#endif
