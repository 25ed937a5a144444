/*
 * dashboard.c - GET /: one self-contained HTML page, rendered on the
 * server, with no script and no external URL: trend charts (inline SVG)
 * of KL, PSI and accuracy over the stored checks of the last 90 days with
 * their thresholds drawn and each point coloured by severity, the latest
 * checks and fine-tuning triggers, and the monitor's state (next
 * scheduled check).
 *
 * Every string that comes from the store or the config goes through
 * html() (escapes & < > " '), so stored text (an error message, a job id)
 * cannot inject markup.  The page is served with a Content-Security-Policy
 * that allows nothing but its own inline styles and data: images.
 *
 * Each plotted point is <circle class="pt sev-LEVEL" data-check="ID"
 * data-value="V">, which the browser test counts.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"

#define PAGE_MAX      (8 * 1024 * 1024)
#define CHART_DAYS    90
#define CHART_MAX     1000
#define TABLE_CHECKS  20
#define TABLE_TRIGGER 10

/* Chart geometry (SVG user units). */
#define W  720.0
#define H  220.0
#define ML 56.0
#define MR 16.0
#define MT 14.0
#define MB 30.0

static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; "
                          "img-src data:; base-uri 'none'; form-action "
                          "'none'; frame-ancestors 'none'";

/* Appends; a failed append (page over its cap) is logged once. */
static void out(dm_buf_t *b, const char *fmt, ...) DM_PRINTF(2, 3);

static void out(dm_buf_t *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (dm_buf_append(b, tmp,
                      (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1) !=
        DM_OK)
        dm_log_warn("dashboard: page truncated");
}

/* Appends s HTML-escaped (NULL as an empty string). */
static void html(dm_buf_t *b, const char *s)
{
    for (; s && *s; s++) {
        const char *e = NULL;

        switch (*s) {
        case '&':
            e = "&amp;";
            break;
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        default:
            break;
        }
        if ((e ? dm_buf_puts(b, e) : dm_buf_append(b, s, 1)) != DM_OK)
            return;
    }
}

static void time_cell(dm_buf_t *b, int64_t ms)
{
    char t[DM_TIME_STRLEN];

    if (ms == 0) {
        out(b, "&mdash;");
        return;
    }
    dm_time_format_s(ms, t, sizeof(t));
    html(b, t);
}

static void num_cell(dm_buf_t *b, double v, const char *fmt)
{
    if (!isfinite(v))
        out(b, "<td class=\"na\">&mdash;</td>");
    else {
        out(b, "<td>");
        out(b, fmt, v);
        out(b, "</td>");
    }
}

static const char *sev_class(const char *s)
{
    dm_severity_t v;

    return dm_severity_name(
        dm_severity_parse(s, &v) == DM_OK ? v : DM_SEVERITY_NONE);
}

/* What a chart plots from a check: its value (NAN = no point) and the
 * threshold in force. */
typedef double (*value_fn)(const dm_store_check_t *c, double *thr);

/* The semantic test's effect; checks stored before statistics v2 have
 * none and show their KL effect against kl_threshold instead. */
static double semantic_value(const dm_store_check_t *c, double *thr)
{
    if (c->semantic_test != NULL) {
        *thr = c->semantic_threshold;
        return c->semantic_effect;
    }
    *thr = c->kl_threshold;
    if (c->kl_estimator && strcmp(c->kl_estimator, "raw") == 0)
        return c->kl_divergence;
    return c->kl_excess;
}

/* PSI above its null (older checks: the raw PSI they decided on). */
static double psi_value(const dm_store_check_t *c, double *thr)
{
    *thr = c->psi_threshold;
    return isnan(c->psi_excess) ? c->psi : c->psi_excess;
}

static double acc_value(const dm_store_check_t *c, double *thr)
{
    *thr = c->accuracy_min;
    return c->current_accuracy;
}

static bool plotted(const dm_store_check_t *c)
{
    return c->status && strcmp(c->status, "ok") == 0;
}

/* One chart over list (newest first). */
static void chart(dm_buf_t *b, const char *id, const char *title,
                  const dm_store_check_t *list, size_t n, value_fn fn,
                  double cfg_thr, bool unit_range)
{
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    double vmax = 0, thr = cfg_thr, y_thr;
    size_t points = 0;
    bool first = true;

    for (size_t i = 0; i < n; i++) {
        double th, v = plotted(&list[i]) ? fn(&list[i], &th) : (double)NAN;

        if (!isfinite(v))
            continue;
        if (points == 0 && isfinite(th))
            thr = th; /* the newest check's threshold */
        points++;
        if (list[i].checked_at_ms < t0)
            t0 = list[i].checked_at_ms;
        if (list[i].checked_at_ms > t1)
            t1 = list[i].checked_at_ms;
        if (v > vmax)
            vmax = v;
    }
    if (unit_range)
        vmax = 1.0;
    else {
        if (isfinite(thr) && thr * 1.25 > vmax)
            vmax = thr * 1.25;
        if (vmax <= 0)
            vmax = 1.0;
        vmax *= 1.05;
    }
    if (t1 <= t0) {
        t0 = (points ? t0 : dm_time_now_ms()) - DM_MS_PER_HOUR;
        t1 = t0 + 2 * DM_MS_PER_HOUR;
    }
#define X(t) (ML + (W - ML - MR) * ((double)((t)-t0) / (double)(t1 - t0)))
#define Y(v) (MT + (H - MT - MB) * (1.0 - (v) / vmax))
    out(b, "<section class=\"chart\"><h2>");
    html(b, title);
    out(b,
        "</h2>\n<svg id=\"%s\" class=\"trend\" viewBox=\"0 0 %.0f %.0f\" "
        "width=\"100%%\" role=\"img\" aria-label=\"",
        id, W, H);
    html(b, title);
    out(b, "\" data-points=\"%zu\">\n", points);
    /* axes, grid and labels */
    out(b,
        "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
        "y2=\"%.1f\"/><line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" "
        "x2=\"%.1f\" y2=\"%.1f\"/>\n",
        ML, MT, ML, H - MB, ML, H - MB, W - MR, H - MB);
    for (int k = 0; k <= 4; k++) {
        double v = vmax * k / 4.0;

        out(b,
            "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\"/><text class=\"lab\" x=\"%.1f\" y=\"%.1f\" "
            "text-anchor=\"end\">%.3g</text>\n",
            ML, Y(v), W - MR, Y(v), ML - 6, Y(v) + 4, v);
    }
    {
        char a[DM_TIME_STRLEN], z[DM_TIME_STRLEN];

        dm_time_format_s(t0, a, sizeof(a));
        dm_time_format_s(t1, z, sizeof(z));
        a[10] = z[10] = '\0'; /* dates only */
        out(b,
            "<text class=\"lab\" x=\"%.1f\" y=\"%.1f\">%s</text><text "
            "class=\"lab\" x=\"%.1f\" y=\"%.1f\" "
            "text-anchor=\"end\">%s</text>\n",
            ML, H - 8, a, W - MR, H - 8, z);
    }
    if (isfinite(thr) && thr <= vmax) {
        y_thr = Y(thr);
        out(b,
            "<line class=\"thr\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\" data-threshold=\"%.6g\"/><text class=\"thrlab\" "
            "x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">threshold %.3g</text>\n",
            ML, y_thr, W - MR, y_thr, thr, W - MR - 4, y_thr - 4, thr);
    }
    if (points == 0)
        out(b,
            "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" "
            "text-anchor=\"middle\">no checks with data yet</text>\n",
            W / 2, H / 2);
    /* the trend line, oldest to newest */
    if (points > 1) {
        out(b, "<polyline class=\"line\" points=\"");
        for (size_t i = n; i-- > 0;) {
            double th, v = plotted(&list[i]) ? fn(&list[i], &th) : (double)NAN;

            if (!isfinite(v))
                continue;
            out(b, "%s%.1f,%.1f", first ? "" : " ", X(list[i].checked_at_ms),
                Y(v < 0 ? 0 : v));
            first = false;
        }
        out(b, "\"/>\n");
    }
    for (size_t i = n; i-- > 0;) {
        double th, v = plotted(&list[i]) ? fn(&list[i], &th) : (double)NAN;
        char t[DM_TIME_STRLEN];

        if (!isfinite(v))
            continue;
        dm_time_format_s(list[i].checked_at_ms, t, sizeof(t));
        out(b,
            "<circle class=\"pt sev-%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" "
            "data-check=\"%lld\" data-value=\"%.6g\"><title>check %lld, %s: "
            "%.4g (%s)</title></circle>\n",
            sev_class(list[i].severity), X(list[i].checked_at_ms),
            Y(v < 0 ? 0 : v), list[i].drift_detected ? "4.5" : "3",
            (long long)list[i].id, v, (long long)list[i].id, t, v,
            sev_class(list[i].severity));
    }
#undef X
#undef Y
    out(b, "</svg></section>\n");
}

static void checks_table(dm_buf_t *b, const dm_store_check_t *list, size_t n)
{
    out(b, "<section><h2>Latest checks</h2>\n<table id=\"checks\"><thead><tr>"
           "<th>id</th><th>time</th><th>status</th><th>severity</th>"
           "<th>semantic</th><th>PSI excess</th><th>accuracy</th><th>score</th>"
           "<th>drift</th><th>alert</th><th>rows (base/cur)</th></tr>"
           "</thead><tbody>\n");
    if (n == 0)
        out(b, "<tr><td colspan=\"11\">no checks stored yet</td></tr>\n");
    for (size_t i = 0; i < n && i < TABLE_CHECKS; i++) {
        const dm_store_check_t *c = &list[i];
        double th;

        out(b, "<tr><td><a href=\"/checks/%lld\">%lld</a></td><td>",
            (long long)c->id, (long long)c->id);
        time_cell(b, c->checked_at_ms);
        out(b, "</td><td>");
        html(b, c->status);
        if (c->kind && strcmp(c->kind, "live") != 0) {
            out(b, " <small>(");
            html(b, c->kind);
            out(b, ")</small>");
        }
        if (c->error) {
            out(b, "<br><small>");
            html(b, c->error);
            out(b, "</small>");
        }
        out(b, "</td><td><span class=\"badge sev-%s\">%s</span></td>",
            sev_class(c->severity), sev_class(c->severity));
        num_cell(b, semantic_value(c, &th), "%.4f");
        num_cell(b, psi_value(c, &th), "%.4f");
        num_cell(b, c->current_accuracy, "%.3f");
        num_cell(b, c->combined_score, "%.3f");
        out(b, "<td>%s%s</td><td>", c->drift_detected ? "yes" : "no",
            c->quality_below_floor ? " (below floor)" : "");
        html(b, c->alert_status ? c->alert_status : "");
        out(b, "</td><td>%lld / %lld</td></tr>\n", (long long)c->baseline_count,
            (long long)c->current_count);
    }
    out(b, "</tbody></table></section>\n");
}

static void triggers_table(dm_buf_t *b, const dm_store_trigger_t *t, size_t n)
{
    out(b, "<section><h2>Latest fine-tuning triggers</h2>\n<table "
           "id=\"triggers\"><thead><tr><th>id</th><th>time</th><th>status"
           "</th><th>job</th><th>check</th><th>forced</th><th>error</th>"
           "</tr></thead><tbody>\n");
    if (n == 0)
        out(b, "<tr><td colspan=\"7\">no triggers yet</td></tr>\n");
    for (size_t i = 0; i < n; i++) {
        out(b, "<tr><td>%lld</td><td>", (long long)t[i].id);
        time_cell(b, t[i].triggered_at_ms);
        out(b, "</td><td>");
        html(b, t[i].status);
        out(b, "</td><td>");
        html(b, t[i].job_id);
        out(b, "</td><td>");
        if (t[i].check_id)
            out(b, "%lld", (long long)t[i].check_id);
        out(b, "</td><td>%s</td><td>", t[i].forced ? "yes" : "no");
        html(b, t[i].error);
        out(b, "</td></tr>\n");
    }
    out(b, "</tbody></table></section>\n");
}

static const char STYLE[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:980px;"
    "padding:16px;color:#222;background:#fafafa}"
    "h1{font-size:22px}h2{font-size:16px;margin:18px 0 6px}"
    ".state{display:flex;flex-wrap:wrap;gap:8px 24px}"
    ".state div{background:#fff;border:1px solid #ddd;padding:6px 10px}"
    "svg.trend{background:#fff;border:1px solid #ddd}"
    ".axis{stroke:#555}.grid{stroke:#eee}.lab{font-size:10px;fill:#555}"
    ".thr{stroke:#d00000;stroke-dasharray:6 4;stroke-width:1.5}"
    ".thrlab{font-size:10px;fill:#d00000}.empty{fill:#888}"
    ".line{fill:none;stroke:#4a6fa5;stroke-width:1.2}"
    ".pt{stroke:#fff;stroke-width:.8}"
    ".sev-none{fill:#8a9bb0;background:#8a9bb0}"
    ".sev-info{fill:#36a64f;background:#36a64f}"
    ".sev-warning{fill:#ff9900;background:#ff9900}"
    ".sev-critical{fill:#d00000;background:#d00000}"
    ".badge{color:#fff;padding:1px 6px;border-radius:3px}"
    "table{border-collapse:collapse;width:100%;background:#fff}"
    "th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;"
    "font-size:12px}td.na{color:#aaa}.legend span{margin-right:12px}";

void dm_api_h_dashboard(dm_api_req_t *req, dm_api_resp_t *resp)
{
    dm_api_t *api = req->api;
    const dm_config_t *cfg = api->cfg;
    dm_monitor_status_t ms;
    dm_store_t *st = NULL;
    dm_store_check_t *list = NULL, *live = NULL;
    dm_store_trigger_t *trig = NULL;
    size_t n = 0, nt = 0, nlive = 0, len;
    char err[DM_ERRBUF_SIZE] = "";
    dm_buf_t b;
    int rc;

    if (strcmp(req->path, "/") != 0) {
        dm_api_resp_error(resp, 404, "not_found", "no such endpoint");
        return;
    }
    dm_monitor_status(api->mon, &ms);
    rc = dm_api_store_get(api, &st, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_check_list(
            st, dm_time_now_ms() - (int64_t)CHART_DAYS * DM_MS_PER_DAY,
            CHART_MAX, 0, &list, &n, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_store_trigger_list(st, TABLE_TRIGGER, &trig, &nt, err,
                                   sizeof(err));
    if (rc == DM_OK)
        dm_api_last_check_read(st, &ms);
    dm_api_store_put(api, st, rc != DM_OK);
    dm_buf_init(&b, PAGE_MAX);
    out(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
            "charset=\"utf-8\"><meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\">"
            "<link rel=\"icon\" href=\"data:,\">"
            "<title>driftmon dashboard</title><style>");
    if (dm_buf_puts(&b, STYLE) != DM_OK)
        dm_log_warn("dashboard: page truncated");
    out(&b, "</style></head><body>\n<h1>driftmon</h1>\n<div class=\"state\">");
    out(&b, "<div>store: ");
    html(&b, cfg->database.backend);
    out(&b, " (%s)</div>", rc == DM_OK ? "reachable" : "unreachable");
    out(&b, "<div>embedder: ");
    html(&b, ms.embedder[0] ? ms.embedder : cfg->embeddings.model);
    out(&b, "</div><div>monitor: %s%s</div>",
        ms.running ? "running" : "stopped",
        ms.checking ? ", checking now" : "");
    out(&b, "<div>last check: ");
    if (ms.have_last) {
        time_cell(&b, ms.last_check_ms);
        out(&b, " (");
        html(&b, ms.last_status);
        out(&b, ")");
    } else {
        out(&b, "&mdash;");
    }
    out(&b, "</div><div id=\"next-check\">next check: ");
    time_cell(&b, ms.next_check_ms);
    out(&b, "</div><div>window: %u days, every %.3g h</div></div>\n",
        (unsigned)cfg->monitoring.sliding_window_days,
        cfg->monitoring.check_interval_hours);
    if (rc != DM_OK) {
        out(&b, "<p class=\"error\">The store is unavailable: ");
        html(&b, err);
        out(&b, "</p>\n");
    }
    out(&b,
        "<p class=\"legend\">Live checks of the last %d days (ad hoc checks "
        "are in the table only); dashed red line: "
        "threshold. Severity: <span class=\"badge sev-none\">none</span>"
        "<span class=\"badge sev-info\">info</span><span class=\"badge "
        "sev-warning\">warning</span><span class=\"badge "
        "sev-critical\">critical</span></p>\n",
        CHART_DAYS);
    /* the trends are of live checks: an ad hoc check (a backfill, another
     * window) is listed in the table only */
    live = dm_mallocarray(n ? n : 1, sizeof(*live));
    for (size_t i = 0; i < n; i++)
        if (list[i].kind == NULL || strcmp(list[i].kind, "live") == 0)
            live[nlive++] = list[i]; /* shallow: list owns the strings */
    chart(&b, "chart-semantic",
          cfg->embeddings.test == DM_SEMANTIC_TEST_KL
              ? "Semantic drift: KL effect (compared with the threshold)"
              : "Semantic drift: share of traffic unlike the baseline",
          live, nlive, semantic_value,
          cfg->embeddings.test == DM_SEMANTIC_TEST_KL
              ? cfg->thresholds.kl_threshold
              : cfg->thresholds.semantic_threshold,
          false);
    chart(&b, "chart-psi", "Intent drift: PSI above its null", live, nlive,
          psi_value, cfg->thresholds.psi_threshold, false);
    chart(&b, "chart-accuracy", "Accuracy (current window; floor dashed)", live,
          nlive, acc_value, cfg->thresholds.accuracy_min, true);
    free(live);
    checks_table(&b, list, n);
    triggers_table(&b, trig, nt);
    out(&b, "<p><small>driftmon ");
    html(&b, api->version);
    out(&b, " &middot; JSON: /drift/metrics, /drift/summary, /health; "
            "Prometheus: /metrics</small></p>\n</body></html>\n");
    dm_store_check_list_free(list, n);
    dm_store_trigger_list_free(trig, nt);
    len = b.len;
    resp->csp = CSP;
    resp->no_store = true;
    dm_api_resp_text(resp, rc == DM_OK ? 200 : 503, "text/html; charset=utf-8",
                     dm_buf_steal(&b), len);
}

/* ---- /checks/{id}: what changed in one check ------------------------- */

/* A number member of o, NAN when absent or not a number. */
static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_number(v) ? json_number_value(v) : (double)NAN;
}

#define BAR_W     420.0 /* width of a share of 1 */
#define BAR_LABEL 230.0 /* left column for the label */

/*
 * Baseline-vs-current bars, one pair per item of arr (the item's label
 * from label_fn), scaled to the largest share shown; values printed at
 * the bar ends.  data-* attributes carry the shares for tests.
 */
static void share_bars(dm_buf_t *b, const char *id, const json_t *arr,
                       void (*label_fn)(dm_buf_t *, const json_t *))
{
    size_t n = json_array_size(arr), i;
    double top = 0.05, h = 34.0;
    const json_t *it;

    json_array_foreach(arr, i, it)
    {
        double s0 = jnum(it, "baseline_share"), s1 = jnum(it, "current_share");

        if (isfinite(s0) && s0 > top)
            top = s0;
        if (isfinite(s1) && s1 > top)
            top = s1;
    }
    out(b,
        "<svg id=\"%s\" class=\"bars\" width=\"%.0f\" height=\"%.0f\" "
        "role=\"img\">\n",
        id, BAR_LABEL + BAR_W + 70, 16 + h * (double)(n ? n : 1));
    out(b,
        "<rect x=\"%.0f\" y=\"2\" width=\"10\" height=\"8\" "
        "class=\"b0\"/><text class=\"lab\" x=\"%.0f\" y=\"10\">baseline"
        "</text><rect x=\"%.0f\" y=\"2\" width=\"10\" height=\"8\" "
        "class=\"b1\"/><text class=\"lab\" x=\"%.0f\" y=\"10\">current"
        "</text>\n",
        BAR_LABEL, BAR_LABEL + 14, BAR_LABEL + 80, BAR_LABEL + 94);
    json_array_foreach(arr, i, it)
    {
        double y = 16 + h * (double)i;
        double s[2] = {jnum(it, "baseline_share"), jnum(it, "current_share")};

        out(b, "<g data-baseline=\"%.4f\" data-current=\"%.4f\">",
            isfinite(s[0]) ? s[0] : 0.0, isfinite(s[1]) ? s[1] : 0.0);
        out(b, "<text class=\"lab\" x=\"0\" y=\"%.1f\">", y + 18);
        label_fn(b, it);
        out(b, "</text>");
        for (int w = 0; w < 2; w++) {
            double v = isfinite(s[w]) ? s[w] : 0.0;
            double len = BAR_W * v / top;

            out(b,
                "<rect class=\"b%d\" x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"12\"/><text class=\"lab\" x=\"%.1f\" y=\"%.1f\">"
                "%.1f%%</text>",
                w, BAR_LABEL, y + 3 + 14 * w, len > 0.5 ? len : 0.5,
                BAR_LABEL + len + 4, y + 13 + 14 * w, 100 * v);
        }
        out(b, "</g>\n");
    }
    out(b, "</svg>\n");
}

static void topic_label(dm_buf_t *b, const json_t *t)
{
    const json_t *terms = json_object_get(t, "terms"), *w;
    size_t i;

    json_array_foreach(terms, i, w)
    {
        if (i >= 3)
            break;
        if (i)
            out(b, ", ");
        html(b, json_string_value(w));
    }
    if (json_array_size(terms) == 0)
        out(b, "(no terms)");
}

static void intent_label(dm_buf_t *b, const json_t *t)
{
    html(b, json_string_value(json_object_get(t, "intent")));
}

/* "0.85 -> 0.72" accuracy cells and the change's adjusted p-value. */
static void acc_cells(dm_buf_t *b, const json_t *it, const char *padj)
{
    num_cell(b, jnum(it, "baseline_accuracy"), "%.3f");
    num_cell(b, jnum(it, "current_accuracy"), "%.3f");
    num_cell(b, jnum(it, padj), "%.2g");
}

static void topics_section(dm_buf_t *b, const json_t *topics)
{
    const json_t *t, *ex;
    size_t i, j;

    out(b, "<section><h2>Topics: baseline vs current share</h2>\n");
    share_bars(b, "topic-bars", topics, topic_label);
    out(b, "<table id=\"topics\"><thead><tr><th>topic (top terms)</th>"
           "<th>baseline</th><th>current</th><th>change</th>"
           "<th>p (Holm)</th><th>accuracy baseline</th>"
           "<th>accuracy current</th><th>example queries</th></tr></thead>"
           "<tbody>\n");
    json_array_foreach(topics, i, t)
    {
        const json_t *terms = json_object_get(t, "terms"), *w;

        out(b, "<tr><td>");
        json_array_foreach(terms, j, w)
        {
            if (j)
                out(b, ", ");
            html(b, json_string_value(w));
        }
        out(b, "</td>");
        num_cell(b, 100 * jnum(t, "baseline_share"), "%.1f%%");
        num_cell(b, 100 * jnum(t, "current_share"), "%.1f%%");
        num_cell(b, 100 * jnum(t, "change"), "%+.1f pts");
        num_cell(b, jnum(t, "p_adjusted"), "%.2g");
        num_cell(b, jnum(t, "baseline_accuracy"), "%.3f");
        num_cell(b, jnum(t, "current_accuracy"), "%.3f");
        out(b, "<td><ul class=\"ex\">");
        json_array_foreach(json_object_get(t, "examples"), j, ex)
        {
            out(b, "<li>");
            html(b, json_string_value(ex));
            out(b, "</li>");
        }
        out(b, "</ul></td></tr>\n");
    }
    out(b, "</tbody></table></section>\n");
}

static void intents_section(dm_buf_t *b, const json_t *intents)
{
    const json_t *it;
    size_t i;

    out(b, "<section><h2>Intents: share and accuracy per window</h2>\n");
    share_bars(b, "intent-bars", intents, intent_label);
    out(b, "<table id=\"intents\"><thead><tr><th>intent</th><th>baseline "
           "rows</th><th>current rows</th><th>PSI term</th><th>accuracy "
           "baseline</th><th>accuracy current</th><th>p (Holm)</th></tr>"
           "</thead><tbody>\n");
    json_array_foreach(intents, i, it)
    {
        out(b, "<tr><td>");
        html(b, json_string_value(json_object_get(it, "intent")));
        out(b, "</td>");
        num_cell(b, jnum(it, "baseline_count"), "%.0f");
        num_cell(b, jnum(it, "current_count"), "%.0f");
        num_cell(b, jnum(it, "psi_term"), "%.4f");
        acc_cells(b, it, "accuracy_p_adjusted");
        out(b, "</tr>\n");
    }
    out(b, "</tbody></table></section>\n");
}

static void novel_section(dm_buf_t *b, const json_t *novel)
{
    const json_t *q;
    size_t i;

    out(b, "<section><h2>Novel queries (farthest from any baseline query)"
           "</h2>\n<table id=\"novel\"><thead><tr><th>query</th><th>cosine "
           "distance</th></tr></thead><tbody>\n");
    json_array_foreach(novel, i, q)
    {
        out(b, "<tr><td>");
        html(b, json_string_value(json_object_get(q, "query")));
        out(b, "</td>");
        num_cell(b, jnum(q, "distance"), "%.3f");
        out(b, "</tr>\n");
    }
    out(b, "</tbody></table></section>\n");
}

/* The signals of the check, as decided (docs/drift-math.md). */
static void signals_table(dm_buf_t *b, const dm_store_check_t *c)
{
    double th;

    out(b, "<table id=\"signals\"><thead><tr><th>signal</th><th>value</th>"
           "<th>threshold</th><th>fired</th></tr></thead><tbody>\n");
    out(b, "<tr><td>semantic (share of traffic unlike the baseline)</td>");
    num_cell(b, semantic_value(c, &th), "%.4f");
    num_cell(b, th, "%.4g");
    out(b, "<td>%s</td></tr>\n<tr><td>intent (PSI above its null)</td>",
        c->semantic_fired || c->kl_fired ? "yes" : "no");
    num_cell(b, psi_value(c, &th), "%.4f");
    num_cell(b, th, "%.4g");
    out(b, "<td>%s</td></tr>\n<tr><td>accuracy drop</td>",
        c->psi_fired ? "yes" : "no");
    num_cell(b, c->accuracy_delta, "%.4f");
    num_cell(b, c->accuracy_min_drop, "%.4g");
    out(b, "<td>%s</td></tr>\n<tr><td>accuracy vs floor (not drift)</td>",
        c->accuracy_fired ? "yes" : "no");
    num_cell(b, c->current_accuracy, "%.4f");
    num_cell(b, c->accuracy_min, "%.4g");
    out(b, "<td>%s</td></tr>\n</tbody></table>\n",
        c->quality_below_floor ? "below" : "no");
}

void dm_api_h_check_page(dm_api_req_t *req, dm_api_resp_t *resp)
{
    dm_store_check_t c;
    json_t *details = NULL, *ex;
    size_t len;
    dm_buf_t b;

    if (!dm_api_check_fetch(req, req->path + strlen("/checks/"), "check page",
                            &c, resp))
        return;
    details = c.details ? json_loads(c.details, 0, NULL) : NULL;
    ex = json_object_get(details, "explanation");
    dm_buf_init(&b, PAGE_MAX);
    out(&b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
        "charset=\"utf-8\"><meta name=\"viewport\" "
        "content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        "<title>driftmon check %lld</title><style>",
        (long long)c.id);
    if (dm_buf_puts(&b, STYLE) != DM_OK ||
        dm_buf_puts(&b,
                    ".b0{fill:#8a9bb0}.b1{fill:#4a6fa5}"
                    "svg.bars{background:#fff;border:1px solid #ddd;"
                    "margin:4px 0}ul.ex{margin:0;padding-left:16px}") != DM_OK)
        dm_log_warn("dashboard: page truncated");
    out(&b,
        "</style></head><body>\n<p><a href=\"/\">&larr; all checks</a>"
        "</p>\n<h1>Check %lld</h1>\n<div class=\"state\"><div>",
        (long long)c.id);
    time_cell(&b, c.checked_at_ms);
    out(&b, "</div><div>");
    html(&b, c.status);
    out(&b, " &middot; ");
    html(&b, c.kind ? c.kind : "live");
    out(&b,
        "</div><div><span class=\"badge sev-%s\">%s</span> drift %s%s"
        "</div><div>rows: baseline %lld, current %lld</div></div>\n",
        sev_class(c.severity), sev_class(c.severity),
        c.drift_detected ? "detected" : "not detected",
        c.quality_below_floor ? ", quality below floor" : "",
        (long long)c.baseline_count, (long long)c.current_count);
    out(&b, "<p>baseline ");
    time_cell(&b, c.baseline_start_ms);
    out(&b, " .. ");
    time_cell(&b, c.baseline_end_ms);
    out(&b, ", current ");
    time_cell(&b, c.current_start_ms);
    out(&b, " .. ");
    time_cell(&b, c.current_end_ms);
    out(&b, "</p>\n");
    if (c.error) {
        out(&b, "<p class=\"error\">");
        html(&b, c.error);
        out(&b, "</p>\n");
    }
    signals_table(&b, &c);
    if (json_is_object(ex)) {
        topics_section(&b, json_object_get(ex, "topics"));
        intents_section(&b, json_object_get(ex, "intents"));
        novel_section(&b, json_object_get(ex, "novel"));
    } else {
        out(&b, "<p id=\"no-explanation\">This check has no explanation "
                "(stored before explanations existed, or without enough "
                "rows).</p>\n");
    }
    out(&b, "<p><small>JSON: /drift/checks/%lld</small></p>\n</body></html>\n",
        (long long)c.id);
    json_decref(details);
    dm_store_check_cleanup(&c);
    len = b.len;
    resp->csp = CSP;
    resp->no_store = true;
    dm_api_resp_text(resp, 200, "text/html; charset=utf-8", dm_buf_steal(&b),
                     len);
}
