/*
 * slack.c - Slack webhook payloads for drift checks, and the alert
 * suppression policy.
 *
 * A message is one legacy "attachment": Slack still renders attachments
 * from incoming webhooks with a coloured bar, which is what makes the
 * severity visible at a glance.  The metrics table goes into the
 * attachment text as a monospace block (aligned columns survive there,
 * and the same text reads well in e-mail forwarding and in tests); the
 * single figures (severity, score, samples, windows) are attachment
 * fields.  Everything the caller supplies is escaped for Slack's mrkdwn
 * (&, <, >), so only the mentions built here are live.
 *
 * The policy (dm_slack_policy_decide) is a pure function over what the
 * store knows; the table in slack.h is the specification and the tests
 * check every row.
 */
#include "notify/slack.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/time.h"

/* Caps on caller-supplied text and table size (Slack truncates anyway). */
#define TEXT_MAX       1000
#define TABLE_ROWS_MAX 32
#define NAME_WIDTH_MAX 40
#define TABLE_MAX      (16 * 1024)

static const char *const severity_colors[DM_SEVERITIES] = {
    DM_SLACK_COLOR_NEUTRAL, DM_SLACK_COLOR_INFO, DM_SLACK_COLOR_WARNING,
    DM_SLACK_COLOR_CRITICAL};

void dm_slack_alert_init(dm_slack_alert_t *a)
{
    memset(a, 0, sizeof(*a));
    a->combined_score = (double)NAN;
    a->current_samples = -1;
    a->baseline_samples = -1;
}

const char *dm_slack_alert_color(const dm_slack_alert_t *a)
{
    switch (a->kind) {
    case DM_SLACK_KIND_RESOLVED:
        return DM_SLACK_COLOR_INFO;
    case DM_SLACK_KIND_FINETUNE_STARTED:
        return DM_SLACK_COLOR_NEUTRAL;
    case DM_SLACK_KIND_DRIFT:
    default:
        if ((int)a->severity < 0 || (int)a->severity > 3)
            return DM_SLACK_COLOR_NEUTRAL;
        return severity_colors[a->severity];
    }
}

/* ---- text helpers ------------------------------------------------------ */

/*
 * Appends s escaped for Slack mrkdwn, cut at TEXT_MAX input bytes on a
 * UTF-8 boundary ("..." marks the cut).
 */
static int put_escaped(dm_buf_t *b, const char *s)
{
    size_t n = strlen(s), cut = n;
    int rc = DM_OK;

    if (n > TEXT_MAX) {
        cut = TEXT_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut && rc == DM_OK; i++) {
        switch (s[i]) {
        case '&':
            rc = dm_buf_puts(b, "&amp;");
            break;
        case '<':
            rc = dm_buf_puts(b, "&lt;");
            break;
        case '>':
            rc = dm_buf_puts(b, "&gt;");
            break;
        default:
            rc = dm_buf_append(b, s + i, 1);
        }
    }
    if (rc == DM_OK && cut < n)
        rc = dm_buf_puts(b, "...");
    return rc;
}

/* A new escaped copy of s (free()), or NULL when too long. */
static char *escaped(const char *s)
{
    dm_buf_t b;

    dm_buf_init(&b, TEXT_MAX * 5 + 8);
    if (put_escaped(&b, s ? s : "") != DM_OK) {
        dm_buf_cleanup(&b);
        return NULL;
    }
    return dm_buf_steal(&b);
}

static void fmt_value(double v, char *out, size_t n)
{
    double a = fabs(v);

    if (isnan(v))
        snprintf(out, n, "n/a");
    else if (a != 0.0 && (a < 1e-3 || a >= 1e5))
        snprintf(out, n, "%.3e", v);
    else
        snprintf(out, n, "%.4f", v);
}

static void fmt_pvalue(double p, char *out, size_t n)
{
    if (isnan(p))
        snprintf(out, n, "n/a");
    else if (p < 1e-3)
        snprintf(out, n, "%.1e", p);
    else
        snprintf(out, n, "%.3f", p);
}

static bool window_shown(int64_t start, int64_t end)
{
    return start != 0 || end != 0;
}

/* "2026-11-19T06:00:00Z .. 2026-11-26T06:00:00Z" */
static void fmt_window(int64_t start, int64_t end, char *out, size_t n)
{
    char s[DM_TIME_STRLEN], e[DM_TIME_STRLEN];

    snprintf(out, n, "%s .. %s", dm_time_format_s(start, s, sizeof(s)),
             dm_time_format_s(end, e, sizeof(e)));
}

/* The metrics table as a ``` block: signal, value, threshold, p, fired. */
static int table_build(const dm_slack_alert_t *a, dm_buf_t *b, char *errbuf,
                       size_t errlen)
{
    char **names = NULL;
    size_t width = strlen("signal");
    int rc = DM_OK;

    if (a->metrics_count == 0)
        return DM_OK;
    names = dm_calloc(a->metrics_count, sizeof(*names));
    for (size_t i = 0; i < a->metrics_count; i++) {
        const char *nm = a->metrics[i].name;

        if (!nm || !nm[0]) {
            rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                            "slack: metric %zu has no name", i);
            goto out;
        }
        names[i] = escaped(nm);
        if (!names[i] || strlen(names[i]) > NAME_WIDTH_MAX) {
            rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                            "slack: metric %zu: name longer than %d bytes", i,
                            NAME_WIDTH_MAX);
            goto out;
        }
        if (strlen(names[i]) > width)
            width = strlen(names[i]);
    }
    rc = dm_buf_printf(b, "```\n%-*s  %10s  %10s  %9s  %s\n", (int)width,
                       "signal", "value", "threshold", "p-value", "fired");
    for (size_t i = 0; i < a->metrics_count && rc == DM_OK; i++) {
        const dm_slack_metric_t *m = &a->metrics[i];
        char v[32], t[32], p[32];

        fmt_value(m->value, v, sizeof(v));
        fmt_value(m->threshold, t, sizeof(t));
        fmt_pvalue(m->p_value, p, sizeof(p));
        rc = dm_buf_printf(b, "%-*s  %10s  %10s  %9s  %s\n", (int)width,
                           names[i], v, t, p, m->fired ? "yes" : "no");
    }
    if (rc == DM_OK)
        rc = dm_buf_puts(b, "```");
    if (rc != DM_OK)
        dm_err_set(errbuf, errlen, rc, "slack: metrics table too large");
out:
    for (size_t i = 0; i < a->metrics_count; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ---- JSON -------------------------------------------------------------- */

/* Adds {"title", "value", "short"} to fields; sets *ok false on failure. */
static void field_add(json_t *fields, const char *title, const char *value,
                      bool is_short, bool *ok)
{
    json_t *f = json_pack("{s:s, s:s, s:b}", "title", title, "value", value,
                          "short", is_short);

    if (!f || json_array_append_new(fields, f) != 0)
        *ok = false;
}

static void set_new(json_t *o, const char *k, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, k, v) != 0)
        *ok = false;
}

static int mentions_build(const dm_slack_alert_t *a, dm_buf_t *b)
{
    int rc = DM_OK;

    if (a->kind != DM_SLACK_KIND_DRIFT || a->severity != DM_SEVERITY_CRITICAL)
        return DM_OK;
    for (size_t i = 0; i < a->mention_count && rc == DM_OK; i++) {
        const char *u = a->mention_users[i];

        if (!u)
            continue;
        if (u[0] == '@')
            u++;
        if (!u[0])
            continue;
        if (strcmp(u, "here") == 0 || strcmp(u, "channel") == 0 ||
            strcmp(u, "everyone") == 0) {
            rc = dm_buf_printf(b, "<!%s> ", u);
            continue;
        }
        rc = dm_buf_puts(b, "<@");
        if (rc == DM_OK)
            rc = put_escaped(b, u);
        if (rc == DM_OK)
            rc = dm_buf_puts(b, "> ");
    }
    return rc;
}

static int validate(const dm_slack_alert_t *a, char *errbuf, size_t errlen)
{
    if ((int)a->kind < 0 || (int)a->kind > 2)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "slack: unknown message kind %d", (int)a->kind);
    if ((int)a->severity < 0 || (int)a->severity > 3 ||
        (int)a->previous_severity < 0 || (int)a->previous_severity > 3)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "slack: severity out of range");
    if (a->kind == DM_SLACK_KIND_FINETUNE_STARTED &&
        (!a->job_id || !a->job_id[0]))
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "slack: fine-tuning message without a job id");
    if (a->metrics_count > TABLE_ROWS_MAX)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "slack: %zu metrics (at most %d)", a->metrics_count,
                          TABLE_ROWS_MAX);
    if (a->metrics_count && !a->metrics)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "slack: metrics_count without metrics");
    if (a->mention_count && !a->mention_users)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "slack: mention_count without mention_users");
    return DM_OK;
}

/* Title (escaped) and the plain summary used for "text" and "fallback". */
static int headline_build(const dm_slack_alert_t *a, dm_buf_t *title,
                          dm_buf_t *summary)
{
    char check[48] = "";
    int rc;

    if (a->check_id > 0)
        snprintf(check, sizeof(check), " (check #%" PRId64 ")", a->check_id);
    switch (a->kind) {
    case DM_SLACK_KIND_RESOLVED:
        rc = dm_buf_printf(summary, "Drift resolved%s", check);
        break;
    case DM_SLACK_KIND_FINETUNE_STARTED:
        rc = dm_buf_puts(summary, "Fine-tuning started: job ");
        if (rc == DM_OK)
            rc = put_escaped(summary, a->job_id);
        if (rc == DM_OK)
            rc = dm_buf_puts(summary, check);
        break;
    case DM_SLACK_KIND_DRIFT:
    default:
        rc = dm_buf_printf(summary, "Drift detected: %s%s",
                           dm_severity_name(a->severity), check);
        break;
    }
    if (rc != DM_OK)
        return rc;
    if (a->title && a->title[0])
        return put_escaped(title, a->title);
    return dm_buf_puts(title, dm_buf_str(summary));
}

static void fields_build(const dm_slack_alert_t *a, json_t *fields, bool *ok)
{
    char v[160];

    if (a->kind == DM_SLACK_KIND_FINETUNE_STARTED) {
        char *job = escaped(a->job_id);

        field_add(fields, "Job id", job ? job : "", true, ok);
        free(job);
        if (a->reason && a->reason[0]) {
            char *r = escaped(a->reason);

            field_add(fields, "Reason", r ? r : "", false, ok);
            free(r);
        }
    } else {
        field_add(fields, "Severity", dm_severity_name(a->severity), true, ok);
        if (a->kind == DM_SLACK_KIND_RESOLVED &&
            a->previous_severity != DM_SEVERITY_NONE)
            field_add(fields, "Previous alert",
                      dm_severity_name(a->previous_severity), true, ok);
    }
    if (!isnan(a->combined_score)) {
        fmt_value(a->combined_score, v, sizeof(v));
        field_add(fields, "Combined score", v, true, ok);
    }
    if (a->current_samples >= 0 || a->baseline_samples >= 0) {
        snprintf(v, sizeof(v), "current %" PRId64 ", baseline %" PRId64,
                 a->current_samples < 0 ? 0 : a->current_samples,
                 a->baseline_samples < 0 ? 0 : a->baseline_samples);
        field_add(fields, "Samples", v, true, ok);
    }
    if (a->kind == DM_SLACK_KIND_DRIFT && a->metrics_count) {
        dm_buf_t fired;

        dm_buf_init(&fired, TEXT_MAX * 5);
        for (size_t i = 0; i < a->metrics_count; i++) {
            if (!a->metrics[i].fired)
                continue;
            if ((fired.len && dm_buf_puts(&fired, ", ") != DM_OK) ||
                put_escaped(&fired, a->metrics[i].name) != DM_OK)
                *ok = false;
        }
        field_add(fields, "Fired", fired.len ? dm_buf_str(&fired) : "none",
                  true, ok);
        dm_buf_cleanup(&fired);
    }
    if (a->kind == DM_SLACK_KIND_DRIFT && a->changes && a->changes[0]) {
        char *c = escaped(a->changes);

        field_add(fields, "What changed", c ? c : "", false, ok);
        free(c);
    }
    if (window_shown(a->current_start_ms, a->current_end_ms)) {
        fmt_window(a->current_start_ms, a->current_end_ms, v, sizeof(v));
        field_add(fields, "Current window", v, false, ok);
    }
    if (window_shown(a->baseline_start_ms, a->baseline_end_ms)) {
        fmt_window(a->baseline_start_ms, a->baseline_end_ms, v, sizeof(v));
        field_add(fields, "Baseline window", v, false, ok);
    }
}

int dm_slack_alert_json(const dm_slack_alert_t *a, char **out, char *errbuf,
                        size_t errlen)
{
    dm_buf_t title, summary, text, table;
    json_t *root = NULL, *att = NULL, *fields = NULL;
    char footer[64];
    bool ok = true;
    int rc;

    *out = NULL;
    dm_buf_init(&title, TEXT_MAX * 5 + 64);
    dm_buf_init(&summary, TEXT_MAX * 5 + 64);
    dm_buf_init(&text, 64 * 1024);
    dm_buf_init(&table, TABLE_MAX);
    if (!a)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "slack: no message");
    if ((rc = validate(a, errbuf, errlen)) != DM_OK ||
        (rc = table_build(a, &table, errbuf, errlen)) != DM_OK)
        goto out;
    if ((rc = headline_build(a, &title, &summary)) != DM_OK ||
        (rc = mentions_build(a, &text)) != DM_OK ||
        (rc = dm_buf_puts(&text, dm_buf_str(&summary))) != DM_OK) {
        dm_err_set(errbuf, errlen, rc, "slack: message text too long");
        goto out;
    }

    root = json_object();
    att = json_object();
    fields = json_array();
    if (!root || !att || !fields) {
        rc = dm_err_set(errbuf, errlen, DM_ENOMEM, "slack: out of memory");
        goto out;
    }
    if (a->channel && a->channel[0])
        set_new(root, "channel", json_string(a->channel), &ok);
    set_new(root, "text", json_string(dm_buf_str(&text)), &ok);
    set_new(att, "color", json_string(dm_slack_alert_color(a)), &ok);
    set_new(att, "title", json_string(dm_buf_str(&title)), &ok);
    set_new(att, "fallback", json_string(dm_buf_str(&summary)), &ok);
    if (table.len) {
        set_new(att, "text", json_string(dm_buf_str(&table)), &ok);
        set_new(att, "mrkdwn_in", json_pack("[s]", "text"), &ok);
    }
    fields_build(a, fields, &ok);
    set_new(att, "fields", fields, &ok);
    fields = NULL;
    if (a->check_id > 0)
        snprintf(footer, sizeof(footer), "driftmon check #%" PRId64,
                 a->check_id);
    else
        snprintf(footer, sizeof(footer), "driftmon");
    set_new(att, "footer", json_string(footer), &ok);
    if (a->time_ms > 0)
        set_new(att, "ts", json_integer(a->time_ms / 1000), &ok);
    set_new(root, "attachments", json_pack("[O]", att), &ok);
    /* json_string() refuses invalid UTF-8: caller text is the usual cause */
    if (!ok) {
        rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                        "slack: cannot build the message (text that is not "
                        "valid UTF-8?)");
        goto out;
    }
    *out = json_dumps(root, JSON_COMPACT);
    if (!*out)
        rc = dm_err_set(errbuf, errlen, DM_ENOMEM, "slack: out of memory");
out:
    json_decref(fields);
    json_decref(att);
    json_decref(root);
    dm_buf_cleanup(&table);
    dm_buf_cleanup(&text);
    dm_buf_cleanup(&summary);
    dm_buf_cleanup(&title);
    return rc;
}

int dm_slack_alert_send(const char *webhook_url, const dm_slack_alert_t *a,
                        const dm_http_opts_t *opts, dm_http_result_t *res,
                        char *errbuf, size_t errlen)
{
    dm_http_opts_t o;
    char label[300], host[256];
    char *payload = NULL;
    int rc;

    dm_http_result_init(res);
    if (!opts)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "slack: no options");
    if ((rc = dm_slack_alert_json(a, &payload, errbuf, errlen)) != DM_OK)
        return rc;
    o = *opts;
    if (!o.label || !o.label[0]) {
        snprintf(label, sizeof(label), "slack webhook %s",
                 dm_http_url_label(webhook_url, host, sizeof(host)));
        o.label = label;
    }
    rc = dm_http_post_json(webhook_url, payload, strlen(payload), &o, res,
                           errbuf, errlen);
    free(payload);
    return rc;
}

/* ---- suppression policy ------------------------------------------------ */

const char *dm_slack_action_name(dm_slack_action_t a)
{
    static const char *const names[] = {"nothing", "send", "skip", "resolved"};

    if ((int)a < 0 || (int)a > 3)
        return "unknown";
    return names[a];
}

dm_slack_action_t dm_slack_policy_decide(const dm_slack_policy_input_t *in,
                                         const char **why)
{
    const char *w;
    dm_slack_action_t act;

    if (!in->drift) {
        if (!in->last_check_drift) {
            act = DM_SLACK_ACTION_NOTHING; /* row 1 */
            w = "no drift";
        } else if (!in->alert_sent) {
            act = DM_SLACK_ACTION_NOTHING; /* row 2 */
            w = "drift cleared; no alert had been sent";
        } else {
            act = DM_SLACK_ACTION_RESOLVED; /* row 3 */
            w = "drift cleared after an alert";
        }
    } else if (!in->last_check_drift) {
        act = DM_SLACK_ACTION_SEND; /* row 4 */
        w = "new drift";
    } else if (!in->alert_sent) {
        act = DM_SLACK_ACTION_SEND; /* row 5 */
        w = "drift not alerted yet";
    } else if (in->severity > in->alert_severity) {
        act = DM_SLACK_ACTION_SEND; /* row 6 */
        w = "escalation above the last alert's severity";
    } else {
        int64_t age = in->now_ms - in->alert_ms;
        double repeat_ms = in->repeat_hours * (double)DM_MS_PER_HOUR;

        if (age < 0)
            age = 0;
        if ((double)age < repeat_ms) {
            act = DM_SLACK_ACTION_SKIP; /* row 7 */
            w = "same or lower severity within repeat_hours";
        } else {
            act = DM_SLACK_ACTION_SEND; /* row 8 */
            w = "repeat: repeat_hours passed since the last alert";
        }
    }
    if (why)
        *why = w;
    return act;
}
